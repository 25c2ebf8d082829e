package director

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hadirector/hadirector/vrrp"
)

func (h *harness) masterAdvert(prio uint8) {
	h.t.Helper()
	h.os.conn(h.t, "eth0", false).deliver(h.t, vrrp.Advert{VRID: 51, Priority: prio, Src: peer, Addrs: []netip.Addr{vip1.Addr()}})
	quiesce(h.t)
}

// TestStallCatchUp: after a stall (the process did not run past its deadline) a backup
// first takes the adverts that waited in the sockets: the master's advert that arrives
// while it catches up keeps it a backup; without one it takes over once caught up.
func TestStallCatchUp(t *testing.T) {
	for _, heard := range []bool{true, false} {
		t.Run(fmt.Sprintf("advert=%v", heard), func(t *testing.T) {
			h := newHarness(t, vrrpConfig(51, "192.0.2.100/24"))
			h.start()
			h.masterAdvert(200)
			m := h.log.mark()
			h.clock.Jump(masterDown + time.Second) // the loop's timer fires 1 s late: catching up
			if got := h.log.since(m, false); len(got) != 0 {
				t.Fatalf("while catching up: %q", got)
			}
			if heard {
				h.masterAdvert(200)
			}
			h.clock.Advance(catchUpQuiet)
			want := vrrp.Backup
			if !heard {
				want = vrrp.Master
			}
			if st := h.state("VI_1"); st != want {
				t.Errorf("after the stall %v, want %v", st, want)
			}
		})
	}
}

// TestReceiveDrops: what the receivers refuse — our own adverts, another VRID, a TTL
// other than 255, a packet of another interface — is dropped and counted by reason, and
// logged once per reason however many come.
func TestReceiveDrops(t *testing.T) {
	h := newHarness(t, vrrpConfig(51, "192.0.2.100/24"))
	h.start()
	c := h.os.conn(t, "eth0", false)
	for range 3 {
		c.deliver(t, vrrp.Advert{VRID: 51, Priority: 100, Src: netip.MustParseAddr("192.0.2.1"), Addrs: []netip.Addr{vip1.Addr()}})
		c.deliver(t, vrrp.Advert{VRID: 52, Priority: 100, Src: peer})
		c.deliverTTL(t, vrrp.Advert{VRID: 51, Priority: 100, Src: peer, Addrs: []netip.Addr{vip1.Addr()}}, 1)
		c.in <- fakeRead{p: vrrp.Packet{Src: peer}, err: vrrp.ErrOtherInterface}
	}
	quiesce(t)
	drops := h.status().Drops
	for _, r := range []vrrp.DropReason{vrrp.DropOwn, vrrp.DropTTL, vrrp.DropInterface} {
		if drops[r.String()] != 3 {
			t.Errorf("drops %v, want 3 of %s", drops, r)
		}
	}
	var n uint64
	for _, v := range drops {
		n += v
	}
	if n != 12 {
		t.Errorf("drops %v, want 12 in all", drops)
	}
	if lines := h.out.lines("advert dropped"); len(lines) != 4 {
		t.Errorf("%d log lines for 12 drops of 4 reasons, want 4:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	if st := h.state("VI_1"); st != vrrp.Backup {
		t.Errorf("state %v, want BACKUP", st)
	}
	if s := h.status(); s.Instances[0].AdvertsReceived != 0 {
		t.Errorf("%d adverts received, want 0", s.Instances[0].AdvertsReceived)
	}
}

// TestUnicastPeers: a unicast instance sends to each peer and hears only them.
func TestUnicastPeers(t *testing.T) {
	src := strings.Replace(vrrpConfig(51, "192.0.2.100/24"), `advert_int = "1s"`,
		"advert_int = \"1s\"\nunicast_src_ip = \"192.0.2.1\"\nunicast_peer = [\"192.0.2.2\", \"192.0.2.3\"]", 1)
	h := newHarness(t, src)
	h.start()
	c := h.os.conn(t, "eth0", false)
	c.deliver(t, vrrp.Advert{VRID: 51, Priority: 200, Src: netip.MustParseAddr("192.0.2.9"), Dst: netip.MustParseAddr("192.0.2.1"), Addrs: []netip.Addr{vip1.Addr()}})
	quiesce(t)
	if d := h.status().Drops; d[vrrp.DropUnknownPeer.String()] != 1 {
		t.Errorf("drops %v, want one from an unknown peer", d)
	}
	m := h.log.mark()
	h.clock.Advance(masterDown)
	got := h.log.since(m, false)
	inOrder(t, got, "send eth0 vrid=51 prio=100 dst=192.0.2.2", "send eth0 vrid=51 prio=100 dst=192.0.2.3", "vip add")
	m = h.log.mark()
	c.deliver(t, vrrp.Advert{VRID: 51, Priority: 200, Src: netip.MustParseAddr("192.0.2.3"), Dst: netip.MustParseAddr("192.0.2.1"), Addrs: []netip.Addr{vip1.Addr()}})
	quiesce(t)
	if st := h.state("VI_1"); st != vrrp.Backup {
		t.Errorf("after a peer's higher priority %v, want BACKUP", st)
	}
	inOrder(t, h.log.since(m, false), "vip remove eth0", "notify INSTANCE VI_1 BACKUP")
}

// TestLowerMaster: a master hearing a lower-priority master answers at once and
// re-announces its VIPs now and one advert interval later; status shows the split brain.
func TestLowerMaster(t *testing.T) {
	h := newHarness(t, vrrpConfig(51, "192.0.2.100/24"))
	h.becomeMaster("VI_1")
	h.clock.Advance(500 * time.Millisecond)
	m := h.log.mark()
	h.masterAdvert(50)
	inOrder(t, h.log.since(m, false), "send eth0 vrid=51 prio=100", "garp eth0 [192.0.2.100]")
	s := h.status().Instances[0]
	if s.LowerMastersSeen != 1 || !s.SplitBrain || s.State != "MASTER" {
		t.Errorf("status %+v, want a split brain seen", s)
	}
	m = h.log.mark()
	h.clock.Advance(time.Second)
	if n := len(matching(h.log.since(m, false), "garp")); n != 1 {
		t.Errorf("%d bursts in the interval after, want the re-announcement", n)
	}
	h.clock.Advance(masterDown)
	if s := h.status().Instances[0]; s.SplitBrain {
		t.Errorf("split brain still reported a master-down interval later")
	}
}

// TestGARPRepeat: a new master repeats its burst after garp_master_delay and then every
// garp_master_refresh, until it leaves master.
func TestGARPRepeat(t *testing.T) {
	src := strings.Replace(vrrpConfig(51, "192.0.2.100/24"), `status_socket = ""`,
		"status_socket = \"\"\ngarp_master_delay = \"5s\"\ngarp_master_refresh = \"20s\"", 1)
	h := newHarness(t, src)
	m := h.becomeMaster("VI_1")
	count := func() int { return len(matching(h.log.since(m, false), "garp")) }
	for _, c := range []struct {
		advance time.Duration
		want    int
	}{{0, 1}, {5*time.Second - time.Millisecond, 1}, {time.Millisecond, 2}, {20 * time.Second, 3}, {20 * time.Second, 4}} {
		h.clock.Advance(c.advance)
		if n := count(); n != c.want {
			t.Fatalf("%d bursts at %v, want %d", n, h.clock.Now(), c.want)
		}
	}
	m = h.log.mark()
	for range 60 { // a minute of a higher master's adverts
		h.masterAdvert(200)
		h.clock.Advance(time.Second)
	}
	if n := len(matching(h.log.since(m, true), "garp")); n != 0 {
		t.Errorf("%d bursts after leaving master", n)
	}
}

// TestIPv6VMAC: an IPv6 instance with use_vmac: the vmac is made first, the socket is
// on it, the adverts come from its link-local address, and the NAs' Router flag follows
// the interface's forwarding (na_router auto), copied to the vmac.
func TestIPv6VMAC(t *testing.T) {
	h := newHarness(t, `
[global]
router_id = "t"
status_socket = ""

[[vrrp_instance]]
name = "VI_6"
interface = "eth0"
virtual_router_id = 51
priority = 100
advert_int = "1s"
use_vmac = true
virtual_ipaddress = ["2001:db8::100/64"]
`)
	h.os.forward["eth0"] = true
	h.start()
	start := h.log.since(0, false)
	inOrder(t, start, "vmac vr6.51.eth0 on eth0", "vip cleanup vr6.51.eth0", "listen vr6.51.eth0 ipv6=true", "announcer vr6.51.eth0 mac=00:00:5e:00:02:33",
		"forwarding vr6.51.eth0=true", "na router vr6.51.eth0 true")
	m := h.log.mark()
	h.clock.Advance(masterDown)
	got := h.log.since(m, false)
	inOrder(t, got, "send vr6.51.eth0 vrid=51 prio=100 dst=ff02::12", "vip add vr6.51.eth0 [fe80::200:5eff:fe00:233/64 2001:db8::100/64]",
		"na router vr6.51.eth0 true", "garp vr6.51.eth0 [fe80::200:5eff:fe00:233 2001:db8::100]", "notify INSTANCE VI_6 MASTER")
}

// TestAddressOwner: the owner of the addresses (priority 255) is master from the start,
// and its addresses are its own: never cleaned up as stale, never removed.
func TestAddressOwner(t *testing.T) {
	h := newHarness(t, strings.Replace(vrrpConfig(51, "192.0.2.100/24"), "priority = 100", "priority = 255", 1))
	h.os.present["eth0"] = []netip.Prefix{vip1}
	h.start()
	inOrder(t, h.log.since(0, false), "send eth0 vrid=51 prio=255", "vip add eth0", "notify INSTANCE VI_1 MASTER")
	m := h.log.mark()
	h.shutdown()
	got := h.log.since(m, false)
	if rm := matching(got, "vip remove"); len(rm) != 0 {
		t.Errorf("the owner's addresses were removed: %q", rm)
	}
	inOrder(t, got, "send eth0 vrid=51 prio=0", "notify INSTANCE VI_1 STOP")
	if v := h.os.vips("eth0"); len(v) != 1 {
		t.Errorf("VIPs on eth0 after the owner stopped: %v", v)
	}
}
