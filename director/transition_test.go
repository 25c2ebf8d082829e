package director

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hadirector/hadirector/vrrp"
)

const oneInstance = `
[global]
router_id = "t"
status_socket = ""

[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
priority = 100
advert_int = "1s"
virtual_ipaddress = ["192.0.2.100/24"]

[[virtual_server]]
address = "192.0.2.100:80"
  [[virtual_server.real_server]]
  address = "192.0.2.11:80"
`

// masterDown is the master-down interval of a backup of priority 100 at 1 s.
const masterDown = 3*time.Second + 156*time.Second/256

var (
	peer = netip.MustParseAddr("192.0.2.2")
	vip1 = netip.MustParsePrefix("192.0.2.100/24")
)

// becomeMaster starts h and runs its master-down timer out.
func (h *harness) becomeMaster(name string) int {
	h.t.Helper()
	h.start()
	m := h.log.mark()
	h.clock.Advance(masterDown)
	if st := h.state(name); st != vrrp.Master {
		h.t.Fatalf("%s is %v after the master-down interval, want MASTER", name, st)
	}
	return m
}

// TestBecomeMaster: a backup whose master-down timer runs out sends its first advert at
// once, then programs IPVS, then adds the VIPs, then sends the GARP burst, then runs the
// hooks; adverts follow every interval.
func TestBecomeMaster(t *testing.T) {
	h := newHarness(t, oneInstance)
	h.start()
	if st := h.state("VI_1"); st != vrrp.Backup {
		t.Fatalf("after start %v, want BACKUP", st)
	}
	start := h.log.since(0, false)
	inOrder(t, start, "ipvs open", "vip cleanup eth0 [192.0.2.100/24]", "listen eth0", "announcer eth0", "notify INSTANCE VI_1 BACKUP")
	if sends := matching(start, "send"); len(sends) != 0 {
		t.Errorf("a backup sent adverts: %q", sends)
	}
	m := h.log.mark()
	h.clock.Advance(masterDown - time.Millisecond)
	if got := h.log.since(m, false); len(got) != 0 {
		t.Errorf("before the master-down interval: %q", got)
	}
	h.clock.Advance(time.Millisecond)
	got := h.log.since(m, false)
	inOrder(t, got, "send eth0 vrid=51 prio=100 dst=224.0.0.18", "sysctl", "ipvs add service tcp 192.0.2.100:80", "ipvs add destination tcp 192.0.2.100:80 -> 192.0.2.11:80",
		"vip add eth0 [192.0.2.100/24]", "garp eth0 [192.0.2.100]", "notify INSTANCE VI_1 MASTER")
	if got[0] != "send eth0 vrid=51 prio=100 dst=224.0.0.18" {
		t.Errorf("first call as master %q, want the advert", got[0])
	}
	if v := h.os.vips("eth0"); !slices.Equal(v, []netip.Prefix{vip1}) {
		t.Errorf("VIPs on eth0 %v", v)
	}
	m = h.log.mark()
	h.clock.Advance(3 * time.Second)
	if n := len(matching(h.log.since(m, false), "send eth0 vrid=51 prio=100")); n != 3 {
		t.Errorf("%d adverts in 3 s as master, want 3", n)
	}
}

// leftMaster checks what leaving master did, from mark on: first (the last advert), then
// no advert, the VIPs removed, then IPVS withdrawn, then the hook.
func (h *harness) leftMaster(mark int, first, state string) {
	h.t.Helper()
	got := h.log.since(mark, false)
	inOrder(h.t, got, first, "vip remove eth0 [192.0.2.100/24]", "ipvs delete service tcp 192.0.2.100:80",
		"notify INSTANCE VI_1 "+state)
	if i := slices.IndexFunc(got, func(e string) bool { return strings.HasPrefix(e, first) }); i >= 0 {
		if sends := matching(got[i+1:], "send"); len(sends) > 0 {
			h.t.Errorf("adverts after leaving master: %q", sends)
		}
	}
	if v := h.os.vips("eth0"); len(v) != 0 {
		h.t.Errorf("VIPs left on eth0: %v", v)
	}
}

// TestLeaveMasterHigherPriority: a master that hears a higher priority yields at once:
// one last advert (so that the winner re-announces), then adverts stop, the VIPs go,
// then IPVS, then the hook.
func TestLeaveMasterHigherPriority(t *testing.T) {
	h := newHarness(t, oneInstance)
	h.becomeMaster("VI_1")
	m := h.log.mark()
	h.os.conn(t, "eth0", false).deliver(t, vrrp.Advert{VRID: 51, Priority: 200, Src: peer, Addrs: []netip.Addr{vip1.Addr()}})
	quiesce(t)
	if st := h.state("VI_1"); st != vrrp.Backup {
		t.Fatalf("after a higher priority %v, want BACKUP", st)
	}
	h.leftMaster(m, "send eth0 vrid=51 prio=100", "BACKUP")
	// The backup stays one, silent, while the master keeps advertising.
	m = h.log.mark()
	for range 5 {
		h.os.conn(t, "eth0", false).deliver(t, vrrp.Advert{VRID: 51, Priority: 200, Src: peer, Addrs: []netip.Addr{vip1.Addr()}})
		h.clock.Advance(time.Second)
	}
	if st := h.state("VI_1"); st != vrrp.Backup {
		t.Errorf("with the master advertising %v, want BACKUP", st)
	}
	if got := h.log.since(m, false); len(got) != 0 {
		t.Errorf("a backup hearing its master: %q", got)
	}
}

// TestLeaveMasterLinkDown: the interface losing its link is a fault: the master sends
// priority 0 (the backup takes over at once), stops advertising, and withdraws.
func TestLeaveMasterLinkDown(t *testing.T) {
	h := newHarness(t, oneInstance)
	h.becomeMaster("VI_1")
	m := h.log.mark()
	h.os.setLink("eth0", false)
	quiesce(t)
	if st := h.state("VI_1"); st != vrrp.Fault {
		t.Fatalf("after link down %v, want FAULT", st)
	}
	h.leftMaster(m, "send eth0 vrid=51 prio=0", "FAULT")
	m2 := h.log.mark()
	h.clock.Advance(5 * time.Second)
	if got := h.log.since(m2, false); len(got) != 0 {
		t.Errorf("in FAULT: %q", got)
	}
	// Link back: BACKUP, and master again after the master-down interval.
	m = h.log.mark()
	h.os.setLink("eth0", true)
	quiesce(t)
	if st := h.state("VI_1"); st != vrrp.Backup {
		t.Fatalf("after link up %v, want BACKUP", st)
	}
	h.clock.Advance(masterDown)
	inOrder(t, h.log.since(m, false), "notify INSTANCE VI_1 BACKUP", "send eth0 vrid=51 prio=100", "vip add", "notify INSTANCE VI_1 MASTER")
}

// TestShutdownAsMaster: at SIGTERM a master sends priority 0 first, removes its VIPs,
// withdraws IPVS and runs the stop hook, and waits for the hooks.
func TestShutdownAsMaster(t *testing.T) {
	h := newHarness(t, oneInstance)
	h.becomeMaster("VI_1")
	m := h.log.mark()
	h.shutdown()
	got := h.log.since(m, false)
	inOrder(t, got, "send eth0 vrid=51 prio=0", "vip remove eth0 [192.0.2.100/24]", "ipvs delete service tcp 192.0.2.100:80",
		"notify INSTANCE VI_1 STOP", "notify drain", "close socket eth0", "announcer close eth0", "ipvs close", "vip close")
	if n := len(matching(got, "send")); n != 1 {
		t.Errorf("%d adverts at shutdown, want the one with priority 0", n)
	}
	if v := h.os.vips("eth0"); len(v) != 0 {
		t.Errorf("VIPs left on eth0: %v", v)
	}
	if tb, _ := h.os.kernel.Fake.Services(); len(tb) != 0 {
		t.Errorf("IPVS services left: %v", tb)
	}
}
