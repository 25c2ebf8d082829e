package e2e

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hadirector/hadirector/internal/bench"
	"github.com/hadirector/hadirector/internal/lab"
	"github.com/hadirector/hadirector/vip"
)

// TestUnicast: adverts go only to the configured peer, and a stranger's adverts are
// dropped and counted instead of winning the election.
func TestUnicast(t *testing.T) {
	p := newPair(t, 150, 100,
		`unicast_src_ip = "192.0.2.1"
unicast_peer = ["192.0.2.2"]`,
		`unicast_src_ip = "192.0.2.2"
unicast_peer = ["192.0.2.1"]`)
	p.elect()
	p.a.proc.Kill()
	eventually(t, p.b.mdi()+slack, "b takes over", p.b.hasVIP)

	// A stranger with priority 254 sends unicast adverts to b: b must ignore it.
	stranger := &node{t: t, h: p.l.Host("stranger", "192.0.2.9/24"), bin: p.a.bin, dir: t.TempDir()}
	stranger.writeConfig(254, `unicast_peer = ["192.0.2.2"]`)
	stranger.start()
	eventually(t, stranger.mdi()+slack, "the stranger thinks it is master", stranger.hasVIP)
	stable(t, 5*interval, "b ignores the stranger", p.b.hasVIP)
	if _, err := p.b.proc.WaitForLine(`"reason":"unknown_peer"`, time.Second); err != nil {
		t.Errorf("no unknown_peer drop logged by b: %v", err)
	}
}

// TestVRRPv2WithAuth: v2 with 1 s adverts and a password; a peer with another password is
// not heard (auth drop), so it cannot take over.
func TestVRRPv2WithAuth(t *testing.T) {
	v2 := func(pass string) string {
		return fmt.Sprintf("auth_pass = %q", pass)
	}
	p := newPair(t, 150, 100, v2("secret12"), v2("secret12"))
	for _, n := range []*node{p.a, p.b} {
		b, _ := os.ReadFile(n.cfg)
		s := strings.Replace(string(b), "version = 3", "version = 2", 1)
		s = strings.Replace(s, fmt.Sprintf("advert_int = %q", interval), `advert_int = "1s"`, 1)
		if err := os.WriteFile(n.cfg, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.a.start()
	p.b.start()
	mdi := 3*time.Second + time.Duration(256-150)*time.Second/256
	eventually(t, mdi+slack+time.Second, "a master, b backup", func() bool {
		return p.a.hasVIP() && !p.b.hasVIP() && p.b.state() == "BACKUP"
	})
	stable(t, 3*time.Second, "b stays backup (it hears a's v2 adverts)", func() bool { return !p.b.hasVIP() })
}

// TestIPv6 runs VRRPv3 over IPv6: link-local sources, ff02::12, and the link-local VIP
// hadirector adds first when the configuration lists none.
func TestIPv6(t *testing.T) {
	l := lab.New(t)
	bin := lab.Build(t, "./cmd/hadirector")
	vip6 := netip.MustParseAddr("2001:db8::100")
	ll := netip.MustParseAddr("fe80::200:5eff:fe00:233") // VRID 51 = 0x33
	mk := func(name, addr string, prio uint8) *node {
		n := &node{t: t, h: l.Host(name, addr), bin: bin, dir: t.TempDir(), prio: prio}
		n.cfg = n.dir + "/hadirector.toml"
		body := fmt.Sprintf(`[global]
status_socket = ""
log_format = "json"
[[vrrp_instance]]
name = "VI_6"
interface = "eth0"
virtual_router_id = 51
priority = %d
advert_int = "%s"
virtual_ipaddress = ["2001:db8::100/64"]
`, prio, interval)
		if err := os.WriteFile(n.cfg, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return n
	}
	a, b := mk("a", "2001:db8::1/64", 150), mk("b", "2001:db8::2/64", 100)
	client := l.Host("client", "2001:db8::50/64")
	a.start()
	b.start()
	has := func(n *node, ip netip.Addr) bool { return n.h.HasAddr("eth0", ip) }
	eventually(t, a.mdi()+slack+time.Second, "a holds the IPv6 VIP and the link-local VIP", func() bool {
		return has(a, vip6) && has(a, ll) && !has(b, vip6) && b.state() == "BACKUP"
	})
	if err := client.Ping(vip6, time.Second); err != nil {
		t.Fatal(err)
	}
	a.proc.Kill()
	a.h.CablePull()
	eventually(t, b.mdi()+slack, "b takes over over IPv6", func() bool { return has(b, vip6) && has(b, ll) })
	eventually(t, slack, "client's neighbor entry points at b (unsolicited NA)", func() bool {
		mac, _, ok := client.Neighbor(vip6)
		return ok && mac.String() == b.h.MAC().String()
	})
	if err := client.Ping(vip6, time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestLinkDownFault: the master's link going down puts it in FAULT (the backup takes
// over); link up returns it to the election, and it preempts again.
func TestLinkDownFault(t *testing.T) {
	p := newPair(t, 150, 100, "", "")
	p.elect()
	p.a.h.CablePull()
	eventually(t, time.Second, "a in FAULT", func() bool { return p.a.state() == "FAULT" })
	eventually(t, p.b.mdi()+slack, "b takes over", p.b.hasVIP)
	if p.a.hasVIP() {
		t.Error("a kept the VIP in FAULT")
	}
	p.a.h.CablePlug()
	eventually(t, 2*time.Second+p.a.mdi(), "a back and master", func() bool { return p.a.hasVIP() && !p.b.hasVIP() })
}

// TestVMAC: use_vmac puts the VIP on a macvlan with the virtual MAC, and the client
// reaches the VIP through that MAC — so a failover needs no ARP change at all.
func TestVMAC(t *testing.T) {
	p := newPair(t, 150, 100, "use_vmac = true", "use_vmac = true")
	p.a.start()
	p.b.start()
	vmac := "00:00:5e:00:01:33"
	onVMAC := func(n *node) bool { return n.h.HasAddr("vr51.eth0", vipAddr) }
	eventually(t, p.a.mdi()+slack+time.Second, "a holds the VIP on vr51.eth0", func() bool { return onVMAC(p.a) && !onVMAC(p.b) })
	if err := p.client.Ping(vipAddr, time.Second); err != nil {
		t.Fatal(err)
	}
	if mac, _, ok := p.client.Neighbor(vipAddr); !ok || mac.String() != vmac {
		t.Fatalf("client resolves the VIP to %v, want the virtual MAC %s", mac, vmac)
	}
	p.a.proc.Kill()
	p.a.h.CablePull()
	eventually(t, p.b.mdi()+slack, "b takes over on its vr51.eth0", func() bool { return onVMAC(p.b) })
	if err := p.client.Ping(vipAddr, time.Second); err != nil {
		t.Fatalf("client cannot reach the VIP after failover: %v", err)
	}
	if mac, _, _ := p.client.Neighbor(vipAddr); mac.String() != vmac {
		t.Errorf("client's entry changed to %v; with use_vmac it stays %s", mac, vmac)
	}
}

// TestVMACSameVRIDTwoLANs: two instances with the same VRID on two LANs (legal: a VRID is
// per LAN), both with use_vmac, side by side in one daemon: each gets its own macvlan
// (vr51.eth0, vr51.eth1), each elects on its own LAN, both VIPs answer through the
// virtual MAC, and both fail over. With one name per VRID the second instance could not
// start (its name was the first one's macvlan, on another parent: ErrNotVMAC).
func TestVMACSameVRIDTwoLANs(t *testing.T) {
	vip2 := netip.MustParseAddr("198.51.100.100")
	second := func(prio int) string {
		return fmt.Sprintf(`use_vmac = true

[[vrrp_instance]]
name = "VI_2"
interface = "eth1"
virtual_router_id = 51
priority = %d
advert_int = "%s"
use_vmac = true
virtual_ipaddress = ["198.51.100.100/24"]
`, prio, interval)
	}
	p := newPair(t, 150, 100, second(150), second(100))
	lan2 := lab.New(t)
	lan2.Plug(p.a.h, "eth1", "198.51.100.1/24")
	lan2.Plug(p.b.h, "eth1", "198.51.100.2/24")
	client2 := lan2.Host("client2", "198.51.100.50/24")
	p.a.start()
	p.b.start()

	on := func(n *node, dev string, ip netip.Addr) bool { return n.h.HasAddr(dev, ip) }
	eventually(t, p.a.mdi()+slack+time.Second, "a holds both VIPs, each on its own vmac, and b neither", func() bool {
		return on(p.a, "vr51.eth0", vipAddr) && on(p.a, "vr51.eth1", vip2) && !on(p.b, "vr51.eth0", vipAddr) && !on(p.b, "vr51.eth1", vip2)
	})
	// b hears a's adverts on both LANs: it stays backup for both.
	stable(t, 5*interval, "b stays backup on both LANs", func() bool { return !on(p.b, "vr51.eth0", vipAddr) && !on(p.b, "vr51.eth1", vip2) })
	for _, c := range []struct {
		h   *lab.Host
		vip netip.Addr
		mac string
	}{{p.client, vipAddr, "00:00:5e:00:01:33"}, {client2, vip2, "00:00:5e:00:01:33"}} {
		if err := c.h.Ping(c.vip, time.Second); err != nil {
			t.Fatalf("%s cannot reach %s: %v", c.h.Name, c.vip, err)
		}
		if mac, _, ok := c.h.Neighbor(c.vip); !ok || mac.String() != c.mac {
			t.Errorf("%s resolves %s to %v, want the virtual MAC %s", c.h.Name, c.vip, mac, c.mac)
		}
	}
	for _, dev := range []string{"vr51.eth0", "vr51.eth1"} {
		out := p.a.h.MustRun(t, "ip", "-o", "link", "show", "dev", dev)
		parent := strings.TrimPrefix(dev, "vr51.")
		if !strings.Contains(out, dev+"@"+parent) || !strings.Contains(out, "00:00:5e:00:01:33") {
			t.Errorf("%s is not a macvlan on %s with the virtual MAC: %s", dev, parent, out)
		}
	}

	p.a.proc.Kill()
	p.a.h.CablePull()
	eventually(t, p.b.mdi()+slack, "b takes over both VIPs on its vmacs", func() bool {
		return on(p.b, "vr51.eth0", vipAddr) && on(p.b, "vr51.eth1", vip2)
	})
	if err := p.client.Ping(vipAddr, time.Second); err != nil {
		t.Errorf("client cannot reach %s after failover: %v", vipAddr, err)
	}
	if err := client2.Ping(vip2, time.Second); err != nil {
		t.Errorf("client2 cannot reach %s after failover: %v", vip2, err)
	}
}

// TestIPv6VMAC runs a VRRPv3 pair over IPv6 with use_vmac: an election, adverts on the
// wire from the virtual MAC 00:00:5e:00:02:33 with a link-local source that is the vmac's
// own (vip.VMACSource: the kernel's EUI-64 address of the vmac would be the virtual
// router's link-local VIP itself, held by the master only, and the parent's would make
// the vmac answer for it), a failover, and neighbour advertisements from the virtual MAC
// with the Router flag (the parent forwards; na_router = "auto"). Before the fix start-up removed the kernel's address as a stale VIP and
// every advert failed (sendmsg: invalid argument) while both nodes believed they were
// master.
func TestIPv6VMAC(t *testing.T) {
	l := lab.New(t)
	bin := lab.Build(t, "./cmd/hadirector")
	vip6 := netip.MustParseAddr("2001:db8::100")
	ll := netip.MustParseAddr("fe80::200:5eff:fe00:233") // VRID 51 = 0x33
	vmac := "00:00:5e:00:02:33"
	mk := func(name, addr string, prio uint8) *node {
		n := &node{t: t, h: l.Host(name, addr), bin: bin, dir: t.TempDir(), prio: prio}
		n.cfg = n.dir + "/hadirector.toml"
		body := fmt.Sprintf(`[global]
status_socket = ""
log_format = "json"
[[vrrp_instance]]
name = "VI_6"
interface = "eth0"
virtual_router_id = 51
priority = %d
advert_int = "%s"
use_vmac = true
virtual_ipaddress = ["2001:db8::100/64"]
`, prio, interval)
		if err := os.WriteFile(n.cfg, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return n
	}
	a, b := mk("a", "2001:db8::1/64", 150), mk("b", "2001:db8::2/64", 100)
	// The directors route for the LAN (LVS-NAT: the VIP is the real servers' gateway):
	// their NAs for the VIPs must carry the Router flag (RFC 5798 §6.4.2), ours and the
	// kernel's answers from the vmac alike. Only eth0 forwards; the vmac follows it.
	for _, n := range []*node{a, b} {
		if err := n.h.SetSysctl("net.ipv6.conf.eth0.forwarding", "1"); err != nil {
			t.Fatal(err)
		}
	}
	client := l.Host("client", "2001:db8::50/64")
	capture := bench.StartCapture(t, client, "eth0")
	a.start()
	b.start()
	const dev = "vr6.51.eth0"
	has := func(n *node, ip netip.Addr) bool { return n.h.HasAddr(dev, ip) }
	eventually(t, a.mdi()+slack+time.Second, "a holds the IPv6 VIP and the link-local VIP on its vmac, b neither", func() bool {
		return has(a, vip6) && has(a, ll) && !has(b, vip6) && !has(b, ll) && b.state() == "BACKUP"
	})
	stable(t, 5*interval, "b stays backup (it hears a's adverts)", func() bool { return !has(b, vip6) && b.state() == "BACKUP" })

	// Adverts reach the client from the virtual MAC, with a link-local source that is
	// a's vmac's own address.
	aSrc := vip.VMACSource(linkLocal(t, a.h, "eth0"), 51)
	eventually(t, time.Second, "adverts from the virtual MAC with a's vmac's link-local source", func() bool {
		return len(v6Adverts(capture.Frames(0), vmac, aSrc)) >= 3
	})
	for _, n := range []*node{a, b} {
		src := vip.VMACSource(linkLocal(t, n.h, "eth0"), 51)
		if !has(n, src) {
			t.Errorf("%s's vmac lacks its advert source %s", n.h.Name, src)
		}
		if has(n, linkLocal(t, n.h, "eth0")) {
			t.Errorf("%s's vmac has the parent's link-local address: it would answer for it with the virtual MAC", n.h.Name)
		}
		if out := n.h.MustRun(t, "ip", "-6", "-o", "addr", "show", "dev", dev); strings.Contains(out, "tentative") || strings.Contains(out, "dadfailed") {
			t.Errorf("%s: %s has an unusable address: %s", n.h.Name, dev, out)
		}
	}
	// The backup's vmac must not answer for its parent's address: a host that solicits
	// b's own link-local address learns b's MAC, not the virtual MAC (which would send
	// its traffic to the master, and move the virtual MAC to b's switch port).
	bLL := linkLocal(t, b.h, "eth0")
	mark := capture.Len()
	if err := client.Ping(bLL.WithZone("eth0"), time.Second); err != nil {
		t.Fatal(err)
	}
	if mac, _, ok := client.Neighbor(bLL); !ok || mac.String() != b.h.MAC().String() {
		t.Errorf("client resolves b's link-local address %s to %v, want b's MAC %s", bLL, mac, b.h.MAC())
	}
	if nas := nasFor(capture.Frames(mark), vmac, bLL); len(nas) > 0 {
		t.Errorf("b's vmac answered for b's own address with the virtual MAC: %x", nas[0].Data)
	}
	if err := client.Ping(vip6, time.Second); err != nil {
		t.Fatal(err)
	}
	if mac, _, ok := client.Neighbor(vip6); !ok || mac.String() != vmac {
		t.Errorf("client resolves %s to %v, want the virtual MAC %s", vip6, mac, vmac)
	}
	checkRouter(t, "a's unsolicited NAs", nasFor(capture.Frames(0), vmac, vip6), false)
	checkRouter(t, "a's answer to the client's solicitation", nasFor(capture.Frames(0), vmac, vip6), true)
	if out := a.proc.Output(); strings.Contains(out, "send advert") || strings.Contains(out, "stale VIP") {
		t.Errorf("a logged send errors or removed a \"stale\" VIP:\n%s", lastLines(out, 10))
	}

	// Failover: b sends from the virtual MAC with its own link-local source, and
	// announces the VIPs with unsolicited NAs from the virtual MAC.
	mark = capture.Len()
	a.proc.Kill()
	a.h.CablePull()
	eventually(t, b.mdi()+slack, "b takes over on its vmac", func() bool { return has(b, vip6) && has(b, ll) })
	bSrc := vip.VMACSource(bLL, 51)
	eventually(t, time.Second, "b's adverts and NAs from the virtual MAC", func() bool {
		f := capture.Frames(mark)
		return len(v6Adverts(f, vmac, bSrc)) >= 3 && len(nasFor(f, vmac, vip6)) > 0 && len(nasFor(f, vmac, ll)) > 0
	})
	if err := client.Ping(vip6, time.Second); err != nil {
		t.Fatalf("client cannot reach %s after failover: %v", vip6, err)
	}
	checkRouter(t, "b's unsolicited NAs", nasFor(capture.Frames(mark), vmac, vip6), false)
	checkRouter(t, "b's unsolicited NAs of the link-local VIP", nasFor(capture.Frames(mark), vmac, ll), false)
	if out := b.proc.Output(); strings.Contains(out, "send advert") {
		t.Errorf("b logged send errors:\n%s", lastLines(out, 10))
	}
}

// checkRouter asserts that the neighbour advertisements among nas that are solicited
// (S set) or not, as asked, exist and all carry the Router flag.
func checkRouter(t *testing.T, what string, nas []bench.Frame, solicited bool) {
	t.Helper()
	n := 0
	for _, f := range nas {
		flags := f.Data[58]
		if (flags&0x40 != 0) != solicited {
			continue
		}
		n++
		if flags&0x80 == 0 {
			t.Errorf("%s: flags %#x, no Router flag: %x", what, flags, f.Data)
			return
		}
	}
	if n == 0 {
		t.Errorf("%s: none captured", what)
	}
}

// linkLocal is dev's IPv6 link-local address in h.
func linkLocal(t *testing.T, h *lab.Host, dev string) netip.Addr {
	t.Helper()
	addrs, err := h.Addrs(dev)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range addrs {
		if p.Addr().IsLinkLocalUnicast() && p.Addr().Is6() {
			return p.Addr()
		}
	}
	t.Fatalf("%s: %s has no link-local address: %v", h.Name, dev, addrs)
	return netip.Addr{}
}

// v6Adverts are the IPv6 VRRP adverts in frames sent from mac with source src.
func v6Adverts(frames []bench.Frame, mac string, src netip.Addr) []bench.Frame {
	var out []bench.Frame
	for _, f := range frames {
		b := f.Data
		if len(b) < 54+8 || binary.BigEndian.Uint16(b[12:14]) != 0x86dd || b[20] != 112 {
			continue
		}
		if net.HardwareAddr(b[6:12]).String() == mac && netip.AddrFrom16([16]byte(b[22:38])) == src {
			out = append(out, f)
		}
	}
	return out
}

// nasFor are the neighbour advertisements in frames sent from mac for target.
func nasFor(frames []bench.Frame, mac string, target netip.Addr) []bench.Frame {
	var out []bench.Frame
	for _, f := range frames {
		b := f.Data
		if len(b) < 78 || binary.BigEndian.Uint16(b[12:14]) != 0x86dd || b[20] != 58 || b[54] != 136 {
			continue
		}
		if net.HardwareAddr(b[6:12]).String() == mac && netip.AddrFrom16([16]byte(b[62:78])) == target {
			out = append(out, f)
		}
	}
	return out
}

// TestVMACCleanupOldName: `hadirector cleanup` on a node that crashed under an older
// release removes that release's vmac (vrrp.51, same parent and virtual MAC) and so its
// VIP, which would otherwise keep answering ARP; a run then starts cleanly beside
// nothing of it.
func TestVMACCleanupOldName(t *testing.T) {
	p := newPair(t, 150, 100, "use_vmac = true", "use_vmac = true")
	h := p.a.h
	h.MustRun(t, "ip", "link", "add", "link", "eth0", "name", "vrrp.51", "address", "00:00:5e:00:01:33", "type", "macvlan", "mode", "private")
	h.MustRun(t, "ip", "addr", "add", "192.0.2.100/24", "dev", "vrrp.51")
	h.MustRun(t, "ip", "link", "set", "vrrp.51", "up")
	h.MustRun(t, p.a.bin, "cleanup", "-c", p.a.cfg, "-state-dir", p.a.dir)
	if out := h.MustRun(t, "ip", "-o", "link", "show"); strings.Contains(out, "vrrp.51") {
		t.Errorf("cleanup left the old vmac:\n%s", out)
	}
	if h.HasAddr("vrrp.51", vipAddr) {
		t.Error("the VIP is still on the old vmac")
	}
}

// TestVMACUnicast: use_vmac with unicast peers. The peer's unicast adverts are addressed
// to this node's own address and so arrive on its interface, not its vmac: a socket on
// the vmac never heard them, and both nodes became master. Adverts now use the interface
// (keepalived requires vmac_xmit_base for this), the VIP still lives on the vmac.
func TestVMACUnicast(t *testing.T) {
	p := newPair(t, 150, 100,
		`use_vmac = true
unicast_src_ip = "192.0.2.1"
unicast_peer = ["192.0.2.2"]`,
		`use_vmac = true
unicast_src_ip = "192.0.2.2"
unicast_peer = ["192.0.2.1"]`)
	p.a.start()
	p.b.start()
	onVMAC := func(n *node) bool { return n.h.HasAddr("vr51.eth0", vipAddr) }
	eventually(t, p.a.mdi()+slack+time.Second, "a holds the VIP on its vmac, b not", func() bool { return onVMAC(p.a) && !onVMAC(p.b) })
	stable(t, 10*interval, "b stays backup (it hears a)", func() bool { return !onVMAC(p.b) && p.b.state() == "BACKUP" })
	if err := p.client.Ping(vipAddr, time.Second); err != nil {
		t.Fatal(err)
	}
	if mac, _, ok := p.client.Neighbor(vipAddr); !ok || mac.String() != "00:00:5e:00:01:33" {
		t.Errorf("client resolves the VIP to %v, want the virtual MAC", mac)
	}
	p.a.proc.Kill()
	eventually(t, p.b.mdi()+slack, "b takes over", func() bool { return onVMAC(p.b) })
}
