package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hadirector/hadirector/director"
	"github.com/hadirector/hadirector/internal/lab"
)

// The tracking tests run the pair of failover_test.go with what moves a master without
// stopping it: another interface of the master going down (track_interface), a check
// script failing (track_script), a member of a sync group losing its interface. Each
// asserts where the VIPs are, the states and priorities the daemons report on their status
// sockets, and the priority the peer hears in the adverts (its status's master_priority).

// writeTracking writes n's configuration: a status socket, n.globalExtra, top
// (vrrp_script and vrrp_sync_group tables) and the instances.
func (n *node) writeTracking(t *testing.T, top string, instances ...string) {
	t.Helper()
	body := fmt.Sprintf(`[global]
status_socket = %q
log_format = "json"
garp_master_delay = "0s"
realtime_priority = 10
lock_memory = true
%s

%s
`, filepath.Join(n.dir, "s.sock"), n.globalExtra, top)
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

// priorities lists the priorities of src's adverts the tap has seen, from index from on.
func (tap *advertTap) priorities(src netip.Addr, from int) []uint8 {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	if from >= len(tap.prio[src]) {
		return nil
	}
	return slices.Clone(tap.prio[src][from:])
}

// TestTrackInterface: a's eth1 (not the VRRP interface) is tracked with weight -60, so
// without it a's priority is 90, below b's 100. eth1 going down — administratively, then
// by losing carrier — moves the VIP to b; eth1 coming back restores 150 and a preempts.
// The client on the LAN sees the priorities in the adverts: a re-advertises at 90 at once,
// then b advertises at 100; after the return a advertises at 150 again.
func TestTrackInterface(t *testing.T) {
	p := newPair(t, 150, 100, "", "")
	eth1 := p.a.h.AddNIC("eth1", "lan1", "198.51.100.1/24")
	p.a.globalExtra = `metrics_listen = "127.0.0.1:9650"`
	p.a.writeTracking(t, "", instanceTOML("VI_1", "eth0", 51, 150, "192.0.2.100/24",
		`track_interface = [{ name = "eth1", weight = -60 }]`))
	p.b.writeTracking(t, "", instanceTOML("VI_1", "eth0", 51, 100, "192.0.2.100/24", ""))
	tap := tapAdverts(t, p.client, 51)
	p.elect()
	ipA, ipB := p.a.h.Addr(), p.b.h.Addr()
	aMaster := func() bool {
		a, b := p.a.instance(t, "VI_1"), p.b.instance(t, "VI_1")
		seen := tap.priorities(ipA, 0)
		return p.a.hasVIP() && !p.b.hasVIP() && holds(a, "MASTER", 150) && holds(b, "BACKUP", 100) && hears(b, p.a, 150) &&
			len(seen) > 0 && seen[len(seen)-1] == 150
	}
	eventually(t, p.a.mdi()+slack, "a master at 150, b backup hearing 150", aMaster)
	// The metrics say what the status says.
	effective := func() float64 {
		return metricValue(p.a.metrics(t), `hadirector_vrrp_effective_priority{vrrp_instance="VI_1"}`)
	}
	if got := effective(); got != 150 {
		t.Errorf("a's hadirector_vrrp_effective_priority %v, want 150", got)
	}

	for _, fail := range []struct {
		how        string
		down, back func()
	}{
		{"link down", eth1.LinkDown, eth1.LinkUp},
		{"cable pulled", eth1.CablePull, eth1.CablePlug},
	} {
		fromA, fromB := len(tap.priorities(ipA, 0)), len(tap.priorities(ipB, 0))
		fail.down()
		eventually(t, p.b.mdi()+slack, fail.how+": b takes over, a backup at 90 hearing b at 100", func() bool {
			a, b := p.a.instance(t, "VI_1"), p.b.instance(t, "VI_1")
			seenB := tap.priorities(ipB, fromB)
			return p.b.hasVIP() && !p.a.hasVIP() && holds(a, "BACKUP", 90) && hears(a, p.b, 100) && holds(b, "MASTER", 100) &&
				len(seenB) > 0 && seenB[len(seenB)-1] == 100
		})
		if seenA := tap.priorities(ipA, fromA); !slices.Contains(seenA, 90) || slices.Contains(seenA, 0) {
			t.Errorf("%s: a's adverts since then carried %v; want it to re-advertise at 90 (and never 0: it did not stop)", fail.how, seenA)
		}
		if got := effective(); got != 90 {
			t.Errorf("%s: a's hadirector_vrrp_effective_priority %v, want 90", fail.how, got)
		}
		stable(t, 3*p.a.mdi(), fail.how+": b stays master while a's eth1 is down", func() bool { return p.b.hasVIP() && !p.a.hasVIP() })
		fail.back()
		eventually(t, p.a.mdi()+slack, fail.how+": eth1 back, a preempts at 150", aMaster)
		if got := effective(); got != 150 {
			t.Errorf("%s, then back: a's hadirector_vrrp_effective_priority %v, want 150", fail.how, got)
		}
	}
}

// TestTrackInterfaceNopreempt: with nopreempt on a, eth1 going down still hands the VIP
// to b (b preempts the master at 90), but eth1 coming back does not take it back: a at
// 150 stays backup under b at 100.
func TestTrackInterfaceNopreempt(t *testing.T) {
	p := newPair(t, 150, 100, "", "")
	eth1 := p.a.h.AddNIC("eth1", "lan1", "198.51.100.1/24")
	p.a.writeTracking(t, "", instanceTOML("VI_1", "eth0", 51, 150, "192.0.2.100/24",
		"nopreempt = true\n"+`track_interface = [{ name = "eth1", weight = -60 }]`))
	p.b.writeTracking(t, "", instanceTOML("VI_1", "eth0", 51, 100, "192.0.2.100/24", ""))
	// a first: with nopreempt, whichever is master first stays master.
	p.a.start()
	eventually(t, p.a.mdi()+slack+time.Second, "a master alone", p.a.hasVIP)
	p.b.start()
	eventually(t, p.b.mdi()+slack+time.Second, "b backup, hearing a at 150", func() bool {
		return p.b.state() == "BACKUP" && hears(p.b.instance(t, "VI_1"), p.a, 150)
	})
	eth1.LinkDown()
	eventually(t, p.b.mdi()+slack, "b takes over, a backup at 90", func() bool {
		return p.b.hasVIP() && !p.a.hasVIP() && holds(p.a.instance(t, "VI_1"), "BACKUP", 90)
	})
	eth1.LinkUp()
	eventually(t, time.Second, "a back at 150", func() bool { return p.a.instance(t, "VI_1").EffectivePriority == 150 })
	stable(t, 5*p.a.mdi(), "b keeps the VIP, a stays backup at 150 (nopreempt)", func() bool {
		a, b := p.a.instance(t, "VI_1"), p.b.instance(t, "VI_1")
		return p.b.hasVIP() && !p.a.hasVIP() && holds(a, "BACKUP", 150) && hears(a, p.b, 100) && b.State == "MASTER"
	})
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

var vip2 = netip.MustParseAddr("198.51.100.100")

// syncPair is the pair of failover_test.go with a second LAN on eth1 and two instances in
// one sync group: VI_1 on eth0 (VIP 192.0.2.100) and VI_2 on eth1 (VIP 198.51.100.100).
// extra1 and extra2 are appended to a's VI_1 and VI_2. It returns a's eth1.
func syncPair(t *testing.T, extra1, extra2 string) (*pair, *lab.NIC) {
	t.Helper()
	p := newPair(t, 150, 100, "", "")
	eth1 := p.a.h.AddNIC("eth1", "lan1", "198.51.100.1/24")
	p.b.h.AddNIC("eth1", "lan1", "198.51.100.2/24")
	group := `[[vrrp_sync_group]]
name = "VG_1"
group = ["VI_1", "VI_2"]
`
	p.a.writeTracking(t, group,
		instanceTOML("VI_1", "eth0", 51, 150, "192.0.2.100/24", extra1),
		instanceTOML("VI_2", "eth1", 52, 150, "198.51.100.100/24", extra2))
	p.b.writeTracking(t, group,
		instanceTOML("VI_1", "eth0", 51, 100, "192.0.2.100/24", ""),
		instanceTOML("VI_2", "eth1", 52, 100, "198.51.100.100/24", ""))
	return p, eth1
}

// groupHolds reports whether both of n's instances and its group are in state, and n holds
// both VIPs exactly when that state is MASTER.
func (n *node) groupHolds(t *testing.T, state string) bool {
	if n.state() == "INIT" {
		return false // not up yet: no status socket
	}
	s := n.status(t)
	if len(s.Groups) != 1 || s.Groups[0].State != state || len(s.Instances) != 2 {
		return false
	}
	for _, in := range s.Instances {
		if in.State != state {
			return false
		}
	}
	master := state == "MASTER"
	return n.hasVIP() == master && n.h.HasAddr("eth1", vip2) == master
}

// electGroup starts both and waits for a to be master of both instances, b backup of both.
func (p *pair) electGroup(t *testing.T) {
	p.a.start()
	p.b.start()
	eventually(t, p.a.mdi()+slack+time.Second, "a master of both, b backup of both", func() bool {
		return p.a.groupHolds(t, "MASTER") && p.b.groupHolds(t, "BACKUP")
	})
}

// TestSyncGroup: VI_1 and VI_2 move together. One member's interface failing (a's eth1
// losing carrier, a's eth0 set down) puts every member of a's group in FAULT and both VIPs
// on b; the interface coming back brings both back to a (preempt).
func TestSyncGroup(t *testing.T) {
	p, eth1 := syncPair(t, "", "")
	p.electGroup(t)
	for _, fail := range []struct {
		how        string
		down, back func()
	}{
		{"a's eth1 (VI_2) cable pulled", eth1.CablePull, eth1.CablePlug},
		{"a's eth0 (VI_1) link down", p.a.h.LinkDown, p.a.h.LinkUp},
	} {
		fail.down()
		eventually(t, p.b.mdi()+slack, fail.how+": a in FAULT, b master of both", func() bool {
			return p.a.groupHolds(t, "FAULT") && p.b.groupHolds(t, "MASTER")
		})
		stable(t, 3*p.a.mdi(), fail.how+": b stays master of both", func() bool {
			return p.b.hasVIP() && p.b.h.HasAddr("eth1", vip2) && !p.a.hasVIP() && !p.a.h.HasAddr("eth1", vip2)
		})
		fail.back()
		eventually(t, p.a.mdi()+slack, fail.how+", then back: a master of both again", func() bool {
			return p.a.groupHolds(t, "MASTER") && p.b.groupHolds(t, "BACKUP")
		})
	}
}

// TestSyncGroupPriority: weighted tracking in a sync group. When every member of a's group
// tracks eth2 with weight -60 (as keepalived's sync_group_tracking_weight asks), eth2 going
// down drops the group to 90 and both instances move to b; eth2 back, both return. When
// only VI_2 tracks it, VI_2 alone drops to 90 while VI_1 stays at 150: a group moves only
// when every member would, so b's VI_1 (hearing 150) holds b back and a keeps both — and
// nothing flaps (before the fix a's VI_1 went master on its down timer, which took VI_2
// along, and b's VI_2 preempted again, once per Master_Down_Interval).
func TestSyncGroupPriority(t *testing.T) {
	const track = `track_interface = [{ name = "eth2", weight = -60 }]`
	t.Run("every_member", func(t *testing.T) {
		p, _ := syncPair(t, track, track)
		eth2 := p.a.h.AddNIC("eth2", "lan2", "203.0.113.1/24")
		p.electGroup(t)
		eth2.LinkDown()
		bMaster := func() bool {
			if !p.a.groupHolds(t, "BACKUP") || !p.b.groupHolds(t, "MASTER") {
				return false
			}
			// a's backups hear b's adverts at 100, each on its own LAN.
			peer := map[string]netip.Addr{"VI_1": p.b.h.Addr(), "VI_2": netip.MustParseAddr("198.51.100.2")}
			for _, in := range p.a.status(t).Instances {
				if in.EffectivePriority != 90 || in.Master != peer[in.Name] || in.MasterPriority != 100 {
					return false
				}
			}
			return true
		}
		eventually(t, p.b.mdi()+slack, "b master of both, a backup of both at 90", bMaster)
		stable(t, 5*p.a.mdi(), "b stays master of both while a's eth2 is down", func() bool {
			return p.b.hasVIP() && p.b.h.HasAddr("eth1", vip2) && !p.a.hasVIP() && !p.a.h.HasAddr("eth1", vip2)
		})
		eth2.LinkUp()
		eventually(t, p.a.mdi()+slack, "a master of both again", func() bool {
			return p.a.groupHolds(t, "MASTER") && p.b.groupHolds(t, "BACKUP")
		})
	})
	t.Run("one_member", func(t *testing.T) {
		p, _ := syncPair(t, "", track)
		eth2 := p.a.h.AddNIC("eth2", "lan2", "203.0.113.1/24")
		p.electGroup(t)
		trA, trB := len(p.a.transitions()), len(p.b.transitions())
		eth2.LinkDown()
		eventually(t, time.Second, "a's VI_2 at 90", func() bool { return p.a.instance(t, "VI_2").EffectivePriority == 90 })
		stable(t, 5*p.b.mdi(), "a keeps both, b backup of both", func() bool {
			return p.a.groupHolds(t, "MASTER") && p.b.groupHolds(t, "BACKUP")
		})
		if a, b := len(p.a.transitions()), len(p.b.transitions()); a != trA || b != trB {
			t.Errorf("transitions while a's VI_2 was at 90: a %d→%d, b %d→%d", trA, a, trB, b)
		}
	})
}
