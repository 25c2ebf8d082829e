package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hadirector/hadirector/director"
)

// The tracking tests run the pair of failover_test.go with what moves a master without
// stopping it: another interface of the master going down (track_interface), a check
// script failing (track_script), a member of a sync group losing its interface. Each
// asserts where the VIPs are, the states and priorities the daemons report on their status
// sockets, and the priority the peer hears in the adverts (its status's master_priority).

// writeTracking writes n's configuration: a status socket, top (vrrp_script and
// vrrp_sync_group tables) and the instances.
func (n *node) writeTracking(t *testing.T, top string, instances ...string) {
	t.Helper()
	body := fmt.Sprintf(`[global]
status_socket = %q
log_format = "json"
garp_master_delay = "0s"
realtime_priority = 10
lock_memory = true

%s
`, filepath.Join(n.dir, "s.sock"), top)
	for _, in := range instances {
		body += "\n" + in
	}
	if err := os.WriteFile(n.cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// instanceTOML is one vrrp_instance with the suite's advert interval; extra is appended.
func instanceTOML(name, dev string, vrid, prio int, vip, extra string) string {
	return fmt.Sprintf(`[[vrrp_instance]]
name = %q
interface = %q
virtual_router_id = %d
version = 3
priority = %d
advert_int = "%s"
virtual_ipaddress = [%q]
%s
`, name, dev, vrid, prio, interval, vip, extra)
}

// instance is the named instance in n's status (it fails t if there is none).
func (n *node) instance(t *testing.T, name string) director.InstanceStatus {
	t.Helper()
	for _, in := range n.status(t).Instances {
		if in.Name == name {
			return in
		}
	}
	t.Fatalf("%s's status has no instance %s", n.h.Name, name)
	return director.InstanceStatus{}
}

// holds reports whether in is in state with effective priority prio.
func holds(in director.InstanceStatus, state string, prio int) bool {
	return in.State == state && in.EffectivePriority == prio
}

// hears reports whether in last heard master's adverts carrying priority prio.
func hears(in director.InstanceStatus, master *node, prio int) bool {
	return in.Master == master.h.Addr() && in.MasterPriority == prio
}

// TestTrackInterface: a's eth1 (not the VRRP interface) is tracked with weight -60, so
// without it a's priority is 90, below b's 100. eth1 going down — administratively, then
// by losing carrier — moves the VIP to b; eth1 coming back restores 150 and a preempts.
func TestTrackInterface(t *testing.T) {
	p := newPair(t, 150, 100, "", "")
	eth1 := p.a.h.AddNIC("eth1", "lan1", "198.51.100.1/24")
	p.a.writeTracking(t, "", instanceTOML("VI_1", "eth0", 51, 150, "192.0.2.100/24",
		`track_interface = [{ name = "eth1", weight = -60 }]`))
	p.b.writeTracking(t, "", instanceTOML("VI_1", "eth0", 51, 100, "192.0.2.100/24", ""))
	p.elect()
	aMaster := func() bool {
		a, b := p.a.instance(t, "VI_1"), p.b.instance(t, "VI_1")
		return p.a.hasVIP() && !p.b.hasVIP() && holds(a, "MASTER", 150) && holds(b, "BACKUP", 100) && hears(b, p.a, 150)
	}
	eventually(t, p.a.mdi()+slack, "a master at 150, b backup hearing 150", aMaster)

	for _, fail := range []struct {
		how        string
		down, back func()
	}{
		{"link down", eth1.LinkDown, eth1.LinkUp},
		{"cable pulled", eth1.CablePull, eth1.CablePlug},
	} {
		fail.down()
		eventually(t, p.b.mdi()+slack, fail.how+": b takes over, a backup at 90 hearing b at 100", func() bool {
			a, b := p.a.instance(t, "VI_1"), p.b.instance(t, "VI_1")
			return p.b.hasVIP() && !p.a.hasVIP() && holds(a, "BACKUP", 90) && hears(a, p.b, 100) && holds(b, "MASTER", 100)
		})
		stable(t, 3*p.a.mdi(), fail.how+": b stays master while a's eth1 is down", func() bool { return p.b.hasVIP() && !p.a.hasVIP() })
		fail.back()
		eventually(t, p.a.mdi()+slack, fail.how+": eth1 back, a preempts at 150", aMaster)
	}
}

// TestTrackScript: a vrrp_script that tests for a file, tracked by a. Removing the file
// makes it fail (after fall runs) and the VIP moves to b; putting it back makes it pass
// (after rise runs) and a takes the VIP back. Weighted both ways — a negative weight taken
// off while failing, a positive one added while passing — and weight 0, where failing means
// FAULT.
func TestTrackScript(t *testing.T) {
	for _, tc := range []struct {
		name         string
		prioA, prioB int
		weight       int
		up, down     int    // a's effective priority while the script passes, fails
		downState    string // a's state while the script fails
		hearsPeer    bool   // while failing, a records b's adverts (a backup does; FAULT ignores them)
	}{
		{"negative_weight", 150, 100, -60, 150, 90, "BACKUP", true},
		{"positive_weight", 100, 120, 60, 160, 100, "BACKUP", true},
		{"weight_0_fault", 150, 100, 0, 150, 150, "FAULT", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := hookDir(t)
			healthy, script := filepath.Join(dir, "healthy"), filepath.Join(dir, "check.sh")
			writeScript(t, script, fmt.Sprintf("test -f %s\n", healthy))
			if err := os.WriteFile(healthy, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			p := newPair(t, uint8(tc.prioA), uint8(tc.prioB), "", "")
			p.a.writeTracking(t, fmt.Sprintf(`[[vrrp_script]]
name = "chk"
script = %q
interval = "200ms"
timeout = "1s"
weight = %d
rise = 2
fall = 2
`, script, tc.weight), instanceTOML("VI_1", "eth0", 51, tc.prioA, "192.0.2.100/24", `track_script = ["chk"]`))
			p.b.writeTracking(t, "", instanceTOML("VI_1", "eth0", 51, tc.prioB, "192.0.2.100/24", ""))
			p.elect()
			aMaster := func() bool {
				a, b := p.a.instance(t, "VI_1"), p.b.instance(t, "VI_1")
				return p.a.hasVIP() && !p.b.hasVIP() && holds(a, "MASTER", tc.up) && holds(b, "BACKUP", tc.prioB) && hears(b, p.a, tc.up)
			}
			eventually(t, p.a.mdi()+slack, fmt.Sprintf("a master at %d, b backup hearing it", tc.up), aMaster)
			// Two rounds: the second proves the first recovery left the script's state sound.
			for round := range 2 {
				if err := os.Remove(healthy); err != nil {
					t.Fatal(err)
				}
				eventually(t, 3*200*time.Millisecond+p.b.mdi()+slack, fmt.Sprintf("round %d: script fails, b takes over, a %s at %d", round, tc.downState, tc.down), func() bool {
					a, b := p.a.instance(t, "VI_1"), p.b.instance(t, "VI_1")
					return p.b.hasVIP() && !p.a.hasVIP() && holds(a, tc.downState, tc.down) && holds(b, "MASTER", tc.prioB) &&
						(!tc.hearsPeer || hears(a, p.b, tc.prioB))
				})
				stable(t, 3*p.a.mdi(), "b stays master while the script fails", func() bool { return p.b.hasVIP() && !p.a.hasVIP() })
				if err := os.WriteFile(healthy, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				eventually(t, 3*200*time.Millisecond+p.a.mdi()+slack, fmt.Sprintf("round %d: script passes, a preempts at %d", round, tc.up), aMaster)
			}
		})
	}
}
