package director

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hadirector/hadirector/vrrp"
)

// fakeCheck is a track script whose result the test sets; every run is logged.
type fakeCheck struct {
	log  *callLog
	name string
	fail atomic.Bool
}

func (c *fakeCheck) Check(context.Context) error {
	c.log.add("script %s", c.name)
	if c.fail.Load() {
		return errors.New("exit status 1")
	}
	return nil
}

// trackingConfig tracks eth1 (-20), the script chk (-30) and the file tf (× 1).
func trackingConfig(file string) string {
	return fmt.Sprintf(`
[global]
router_id = "t"
status_socket = ""

[[vrrp_script]]
name = "chk"
script = "/bin/true"
interval = "2s"
weight = -30
rise = 1
fall = 1

[[vrrp_track_file]]
name = "tf"
file = %q
weight = 1

[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
priority = 100
advert_int = "1s"
virtual_ipaddress = ["192.0.2.100/24"]
track_interface = [{ name = "eth1", weight = -20 }]
track_script = ["chk"]
track_file = ["tf"]
`, file)
}

// advertPriority is the priority of the last advert sent in the next second (a change of
// priority is also sent at once).
func (h *harness) advertPriority() string {
	h.t.Helper()
	m := h.log.mark()
	h.clock.Advance(time.Second)
	sends := matching(h.log.since(m, false), "send eth0 vrid=51")
	if len(sends) == 0 {
		h.t.Fatal("no advert in a second")
	}
	_, p, _ := strings.Cut(sends[len(sends)-1], "prio=")
	p, _, _ = strings.Cut(p, " ")
	return p
}

// TestTracking: a master's advertised priority follows its tracked interface (link
// updates), track script (its rise/fall result at each interval) and track file (polled),
// without a transition; a fault through link loss withdraws it.
func TestTracking(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tf")
	h := newHarness(t, trackingConfig(file))
	chk := &fakeCheck{log: h.log, name: "chk"}
	h.d.scripts[0].check = chk
	h.becomeMaster("VI_1")
	if p := h.advertPriority(); p != "100" {
		t.Fatalf("priority %s with everything fine, want 100", p)
	}
	m := h.log.mark()

	h.os.setLink("eth1", false)
	quiesce(t)
	if p := h.advertPriority(); p != "80" {
		t.Errorf("priority %s with eth1 down, want 80", p)
	}
	h.os.setLink("eth1", true)
	quiesce(t)
	if p := h.advertPriority(); p != "100" {
		t.Errorf("priority %s with eth1 up again, want 100", p)
	}

	chk.fail.Store(true)
	h.clock.Advance(time.Second) // the script runs every 2 s from start
	if p := h.advertPriority(); p != "70" {
		t.Errorf("priority %s with the script failing, want 70", p)
	}
	chk.fail.Store(false)
	h.clock.Advance(time.Second)
	if p := h.advertPriority(); p != "100" {
		t.Errorf("priority %s with the script passing again, want 100", p)
	}

	if err := os.WriteFile(file, []byte("-15\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(trackFilePoll)
	if p := h.advertPriority(); p != "85" {
		t.Errorf("priority %s with the track file at -15, want 85", p)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(trackFilePoll)
	if p := h.advertPriority(); p != "100" {
		t.Errorf("priority %s with the track file gone, want 100", p)
	}
	got := h.log.since(m, false)
	if n := len(matching(got, "notify")) + len(matching(got, "vip")); n != 0 {
		t.Errorf("priority changes moved VIPs or ran hooks: %q", got)
	}
	if n := len(matching(got, "script chk")); n < 4 {
		t.Errorf("the script ran %d times in 10 s at a 2 s interval", n)
	}
	if st := h.state("VI_1"); st != vrrp.Master {
		t.Errorf("state %v, want MASTER", st)
	}
}

// TestTrackingFault: a track file of weight 0 that holds a non-zero number, or a failing
// script of weight 0, puts the instance in FAULT; clearing it brings it back.
func TestTrackingFault(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tf")
	src := strings.NewReplacer("weight = 1\n", "weight = 0\n", "weight = -30", "weight = 0").Replace(trackingConfig(file))
	h := newHarness(t, src)
	chk := &fakeCheck{log: h.log, name: "chk"}
	h.d.scripts[0].check = chk
	h.becomeMaster("VI_1")
	m := h.log.mark()
	if err := os.WriteFile(file, []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(trackFilePoll)
	if st := h.state("VI_1"); st != vrrp.Fault {
		t.Fatalf("with the track file at 1 %v, want FAULT", st)
	}
	inOrder(t, h.log.since(m, false), "send eth0 vrid=51 prio=0", "vip remove", "notify INSTANCE VI_1 FAULT")
	if err := os.WriteFile(file, []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(trackFilePoll)
	if st := h.state("VI_1"); st != vrrp.Backup {
		t.Fatalf("with the track file at 0 %v, want BACKUP", st)
	}
	chk.fail.Store(true)
	h.clock.Advance(2 * time.Second)
	if st := h.state("VI_1"); st != vrrp.Fault {
		t.Fatalf("with the script failing %v, want FAULT", st)
	}
	s := h.status()
	if len(s.Instances) != 1 || s.Instances[0].State != "FAULT" {
		t.Errorf("status %+v", s.Instances)
	}
}

// TestTrackingReverse: "weight -20 reverse" on a tracked interface adds 20 while the link
// is down, as keepalived does (the weight negated under the same condition); with weight 0
// and reverse the link coming up is FAULT.
func TestTrackingReverse(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tf")
	src := strings.Replace(trackingConfig(file), `weight = -20 }`, `weight = -20, reverse = true }`, 1)
	h := newHarness(t, src)
	h.d.scripts[0].check = &fakeCheck{log: h.log, name: "chk"}
	h.becomeMaster("VI_1")
	if p := h.advertPriority(); p != "100" {
		t.Fatalf("priority %s with eth1 up and reverse, want 100", p)
	}
	h.os.setLink("eth1", false)
	quiesce(t)
	if p := h.advertPriority(); p != "120" {
		t.Errorf("priority %s with eth1 down and weight -20 reverse, want 120", p)
	}

	h = newHarness(t, strings.Replace(src, `weight = -20, reverse`, `weight = 0, reverse`, 1))
	h.d.scripts[0].check = &fakeCheck{log: h.log, name: "chk"}
	h.os.setLink("eth1", false)
	h.becomeMaster("VI_1")
	h.os.setLink("eth1", true)
	quiesce(t)
	if st := h.state("VI_1"); st != vrrp.Fault {
		t.Errorf("with eth1 up, weight 0 and reverse %v, want FAULT", st)
	}
}

// TestTrackingInitFail: a script with init_fail counts as failing from the start, before
// it has run, and its weight lifts once it has passed rise times.
func TestTrackingInitFail(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tf")
	src := strings.Replace(trackingConfig(file), "fall = 1\n", "fall = 1\ninit_fail = true\n", 1)
	h := newHarness(t, src)
	chk := &fakeCheck{log: h.log, name: "chk"}
	chk.fail.Store(true)
	h.d.scripts[0].check = chk
	h.becomeMasterAt("VI_1")
	if p := h.advertPriority(); p != "70" {
		t.Fatalf("priority %s with init_fail before the script passed, want 70", p)
	}
	chk.fail.Store(false)
	h.clock.Advance(2 * time.Second)
	if p := h.advertPriority(); p != "100" {
		t.Errorf("priority %s once the script passed, want 100", p)
	}
}

// becomeMasterAt is becomeMaster for an instance whose tracking lowered its priority, so
// that its master-down interval (3 × advert_int + skew) is longer than masterDown's.
func (h *harness) becomeMasterAt(name string) {
	h.t.Helper()
	h.start()
	h.clock.Advance(masterDown + time.Second)
	if st := h.state(name); st != vrrp.Master {
		h.t.Fatalf("%s is %v after the master-down interval, want MASTER", name, st)
	}
}

// TestTrackingOverrides: an instance's own weight and reverse on track_script and
// track_file replace the script's and file's (keepalived's "NAME weight N [reverse]").
func TestTrackingOverrides(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tf")
	src := strings.NewReplacer(`track_script = ["chk"]`, `track_script = [{ name = "chk", weight = 25, reverse = true }]`,
		`track_file = ["tf"]`, `track_file = [{ name = "tf", weight = -2 }]`).Replace(trackingConfig(file))
	h := newHarness(t, src)
	chk := &fakeCheck{log: h.log, name: "chk"}
	h.d.scripts[0].check = chk
	h.start()
	h.clock.Advance(masterDown + time.Second)
	if p := h.advertPriority(); p != "75" {
		t.Fatalf("priority %s with the script passing (weight 25 reverse: -25), want 75", p)
	}
	chk.fail.Store(true)
	h.clock.Advance(2 * time.Second)
	if p := h.advertPriority(); p != "100" {
		t.Errorf("priority %s with the script failing (a positive weight counts only while it passes), want 100", p)
	}
	if err := os.WriteFile(file, []byte("5"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(trackFilePoll)
	if p := h.advertPriority(); p != "90" {
		t.Errorf("priority %s with the track file at 5 and the instance's weight -2, want 90", p)
	}
}

// TestTrackingSyncGroup: a sync group's tracker moves every member: a weighted track file
// lowers both instances' priority, and a tracked interface of weight 0 going down puts
// both in FAULT.
func TestTrackingSyncGroup(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tf")
	src := groupConfig + fmt.Sprintf(`track_interface = [{ name = "eth2", weight = 0 }]
track_file = [{ name = "tf", weight = -3 }]

[[vrrp_track_file]]
name = "tf"
file = %q
`, file)
	h := newHarness(t, src)
	h.start()
	if st := h.state("VI_2"); st != vrrp.Fault {
		t.Fatalf("VI_2 is %v with the group's tracked eth2 unknown (down), want FAULT", st)
	}
	h.os.setLink("eth2", true)
	quiesce(t)
	h.clock.Advance(masterDown + time.Second)
	if st := h.state("VI_1"); st != vrrp.Master {
		t.Fatalf("VI_1 is %v with eth2 up, want MASTER: %+v", st, h.status().Instances)
	}
	if err := os.WriteFile(file, []byte("5"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(trackFilePoll)
	quiesce(t)
	for _, in := range h.status().Instances {
		if in.EffectivePriority != 85 {
			t.Errorf("%s priority %d with the group's track file at 5 × -3, want 85", in.Name, in.EffectivePriority)
		}
	}
	h.os.setLink("eth2", false)
	quiesce(t)
	for _, name := range []string{"VI_1", "VI_2"} {
		if st := h.state(name); st != vrrp.Fault {
			t.Errorf("%s is %v with the group's tracked eth2 down, want FAULT", name, st)
		}
	}
}
