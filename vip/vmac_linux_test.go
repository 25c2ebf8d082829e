package vip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

func (l *lab) sysctl(ifname, key string) string {
	l.t.Helper()
	return inNS(l, l.nodeNS, func() (string, error) {
		b, err := os.ReadFile(filepath.Join("/proc/sys/net/ipv4/conf", ifname, key))
		return strings.TrimSpace(string(b)), err
	})
}

type vmacInfo struct {
	mac    net.HardwareAddr
	mode   netlink.MacvlanMode
	parent int
	up     bool
	index  int
}

func (l *lab) vmacInfo(name string) vmacInfo {
	l.t.Helper()
	return inNS(l, l.nodeNS, func() (vmacInfo, error) {
		lk, err := netlink.LinkByName(name)
		if err != nil {
			return vmacInfo{}, err
		}
		mv, ok := lk.(*netlink.Macvlan)
		if !ok {
			return vmacInfo{}, fmt.Errorf("%s is a %s, not a macvlan", name, lk.Type())
		}
		a := lk.Attrs()
		return vmacInfo{a.HardwareAddr, mv.Mode, a.ParentIndex, a.Flags&net.FlagUp != 0, a.Index}, nil
	})
}

func TestVMAC(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	parent := inNS(l, l.nodeNS, func() (*net.Interface, error) { return net.InterfaceByName("veth0") })
	ensure := func(name string, vrid uint8, six bool) *net.Interface {
		t.Helper()
		return inNS(l, l.nodeNS, func() (*net.Interface, error) {
			return EnsureVMAC(VMACSpec{Parent: "veth0", Name: name, VRID: vrid, IPv6: six}, nil)
		})
	}

	ifi := ensure("vrrp.51", 51, false)
	want := VirtualMAC(51, false)
	if !bytes.Equal(ifi.HardwareAddr, want) || ifi.Name != "vrrp.51" {
		t.Errorf("EnsureVMAC = %s %s, want vrrp.51 %s", ifi.Name, ifi.HardwareAddr, want)
	}
	info := l.vmacInfo("vrrp.51")
	if !bytes.Equal(info.mac, want) || info.mode != netlink.MACVLAN_MODE_PRIVATE || info.parent != parent.Index || !info.up {
		t.Errorf("vrrp.51 = %+v; want MAC %s, private mode, parent %d, up", info, want, parent.Index)
	}
	for _, c := range []struct{ ifname, key, want string }{
		{"veth0", "arp_ignore", "1"},
		{"veth0", "arp_filter", "1"},
		{"veth0", "arp_announce", "2"},
		{"vrrp.51", "arp_ignore", "1"},
		{"vrrp.51", "accept_local", "1"},
		{"vrrp.51", "rp_filter", "0"},
		{"vrrp.51", "promote_secondaries", "1"},
	} {
		if got := l.sysctl(c.ifname, c.key); got != c.want {
			t.Errorf("net.ipv4.conf.%s.%s = %s, want %s", c.ifname, c.key, got, c.want)
		}
	}

	// Idempotent, and it repairs rather than recreates (the ifindex survives).
	l.run("-n", l.node, "link", "set", "vrrp.51", "down")
	l.run("-n", l.node, "link", "set", "vrrp.51", "address", "02:00:00:00:00:77")
	l.run("-n", l.node, "link", "set", "vrrp.51", "type", "macvlan", "mode", "bridge")
	again := ensure("vrrp.51", 51, false)
	if again.Index != ifi.Index {
		t.Errorf("second EnsureVMAC recreated the interface: index %d, was %d", again.Index, ifi.Index)
	}
	if info := l.vmacInfo("vrrp.51"); !bytes.Equal(info.mac, want) || info.mode != netlink.MACVLAN_MODE_PRIVATE || !info.up {
		t.Errorf("after repair vrrp.51 = %+v", info)
	}

	six := ensure("vrrp6.51", 51, true)
	if want := VirtualMAC(51, true); !bytes.Equal(six.HardwareAddr, want) {
		t.Errorf("IPv6 VMAC MAC %s, want %s", six.HardwareAddr, want)
	}

	// GARPs from the VMAC carry the virtual MAC, and the neighbour learns it. No waiting
	// for the link: a macvlan takes its carrier from its parent when it is created, so
	// it transmits as soon as EnsureVMAC returns.
	m := l.newManager(t.TempDir() + "/vips.json")
	if _, err := m.Add("vrrp.51", pfx("192.0.2.100/24"), "vrrp.51"); err != nil {
		t.Fatal(err)
	}
	l.primeNeigh("192.0.2.100")
	c := l.capture()
	a := l.announcer("vrrp.51", nil)
	vip := netip.MustParseAddr("192.0.2.100")
	if sent, err := a.Burst([]netip.Addr{vip}, 5); sent != 5 || err != nil {
		t.Fatalf("Burst = %d, %v", sent, err)
	}
	ref := readFrames(t, keepalivedGARPs)[0]
	for _, f := range c.frames(5, isGARPFrom(want)) {
		checkGARPShape(t, ref, f, want, vip)
	}
	l.waitNeighMAC("192.0.2.100", want)
	a.Close()

	// Not ours: refused, not touched.
	ensureErr := func(parent, name string) error {
		return inNS(l, l.nodeNS, func() (error, error) {
			_, err := EnsureVMAC(VMACSpec{Parent: parent, Name: name, VRID: 51}, nil)
			return err, nil
		})
	}
	check := func(parent, name string) error {
		return inNS(l, l.nodeNS, func() (error, error) { return CheckVMAC(parent, name), nil })
	}
	for _, c := range []struct {
		parent, name string
		notVMAC      bool
	}{{"veth0", "veth0", true}, {"lo", "vrrp6.51", true}, {"veth0", "vrrp6.51", false}, {"veth0", "vr9.veth0", false}} {
		if err := check(c.parent, c.name); errors.Is(err, ErrNotVMAC) != c.notVMAC || (err != nil && !c.notVMAC) {
			t.Errorf("CheckVMAC(%s, %s) = %v, want ErrNotVMAC %v", c.parent, c.name, err, c.notVMAC)
		}
	}
	if err := ensureErr("veth0", "veth0"); !errors.Is(err, ErrNotVMAC) {
		t.Errorf("EnsureVMAC over a veth: %v, want ErrNotVMAC", err)
	}
	if err := ensureErr("lo", "vrrp6.51"); !errors.Is(err, ErrNotVMAC) {
		t.Errorf("EnsureVMAC over a macvlan of another parent: %v, want ErrNotVMAC", err)
	}
	if !strings.Contains(l.run("-n", l.node, "-o", "link", "show", "dev", "vrrp6.51"), "vrrp6.51@veth0") {
		t.Error("vrrp6.51 was changed")
	}
	err := inNS(l, l.nodeNS, func() (error, error) { return RemoveVMAC("veth0"), nil })
	if !errors.Is(err, ErrNotVMAC) {
		t.Errorf("RemoveVMAC(veth0) = %v, want ErrNotVMAC", err)
	}

	for range 2 { // idempotent
		if err := inNS(l, l.nodeNS, func() (error, error) { return RemoveVMAC("vrrp.51"), nil }); err != nil {
			t.Errorf("RemoveVMAC: %v", err)
		}
	}
	if out := l.run("-n", l.node, "-o", "link", "show"); strings.Contains(out, "vrrp.51") {
		t.Errorf("vrrp.51 still there:\n%s", out)
	}
}

// A macvlan of the same parent with the same virtual MAC under another name (the
// vrrp.<VRID> of an older release, or a vmac renamed by vmac_name) would keep ours from
// coming up: EnsureVMAC deletes it. Another parent's, or another MAC, stays.
func TestVMACLeftover(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	l.run("-n", l.node, "link", "add", "dummy1", "type", "veth", "peer", "name", "dummy2")
	for _, c := range [][]string{
		{"vrrp.51", "veth0", "00:00:5e:00:01:33"},   // leftover: same parent, same MAC
		{"other.51", "dummy1", "00:00:5e:00:01:33"}, // another parent
		{"vrrp.52", "veth0", "00:00:5e:00:01:34"},   // another VRID
	} {
		l.run("-n", l.node, "link", "add", "link", c[1], "name", c[0], "address", c[2], "type", "macvlan", "mode", "private")
		l.run("-n", l.node, "link", "set", c[0], "up")
	}
	ifi := inNS(l, l.nodeNS, func() (*net.Interface, error) {
		return EnsureVMAC(VMACSpec{Parent: "veth0", Name: "vr51.veth0", VRID: 51}, nil)
	})
	if ifi.Flags&net.FlagUp == 0 {
		t.Errorf("vr51.veth0 is not up: %v", ifi.Flags)
	}
	out := l.run("-n", l.node, "-o", "link", "show")
	if strings.Contains(out, "vrrp.51@") {
		t.Errorf("the leftover vrrp.51 is still there:\n%s", out)
	}
	for _, keep := range []string{"other.51@dummy1", "vrrp.52@veth0", "vr51.veth0@veth0"} {
		if !strings.Contains(out, keep) {
			t.Errorf("%s is gone:\n%s", keep, out)
		}
	}
}

// An IPv6 VMAC carries the advert source it is given and no address of the kernel's
// making: the kernel's EUI-64 address of the virtual MAC is the virtual router's own
// link-local address (held by the master only, as a VIP). One that a VMAC of an older
// release still has is removed; the source survives a second EnsureVMAC.
func TestVMACIPv6LinkLocal(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	src := VMACSource(netip.MustParseAddr("fe80::1"), 51)
	kernels := netip.MustParseAddr("fe80::200:5eff:fe00:233")
	addrs := func(name string) []netip.Addr {
		t.Helper()
		return inNS(l, l.nodeNS, func() ([]netip.Addr, error) {
			lk, err := netlink.LinkByName(name)
			if err != nil {
				return nil, err
			}
			as, err := netlink.AddrList(lk, netlink.FAMILY_V6)
			var out []netip.Addr
			for _, a := range as {
				ip, _ := netip.AddrFromSlice(a.IP)
				out = append(out, ip)
			}
			return out, err
		})
	}
	ensure := func(name string) {
		t.Helper()
		inNS(l, l.nodeNS, func() (*net.Interface, error) {
			return EnsureVMAC(VMACSpec{Parent: "veth0", Name: name, VRID: 51, IPv6: true, LinkLocal: src}, nil)
		})
	}
	ensure("vr6.51.veth0")
	ensure("vr6.51.veth0")
	if got := addrs("vr6.51.veth0"); len(got) != 1 || got[0] != src {
		t.Errorf("new vmac's IPv6 addresses %v, want only the advert source %s", got, src)
	}

	// An older release's vmac: made with the kernel's defaults, so it has the EUI-64
	// address (DAD is off in the lab: it is there at once).
	l.run("-n", l.node, "link", "del", "vr6.51.veth0")
	l.run("-n", l.node, "link", "add", "link", "veth0", "name", "vr6.51.veth0", "address", "00:00:5e:00:02:33", "type", "macvlan", "mode", "private")
	l.run("-n", l.node, "link", "set", "vr6.51.veth0", "up")
	if got := addrs("vr6.51.veth0"); !slices.Contains(got, kernels) {
		t.Fatalf("the kernel gave a plain macvlan %v, not %s: the test's premise is wrong", got, kernels)
	}
	ensure("vr6.51.veth0")
	if got := addrs("vr6.51.veth0"); len(got) != 1 || got[0] != src {
		t.Errorf("old vmac's IPv6 addresses %v, want only the advert source %s", got, src)
	}
	// And the kernel adds none when the link goes down and up again.
	l.run("-n", l.node, "link", "set", "vr6.51.veth0", "down")
	l.run("-n", l.node, "link", "set", "vr6.51.veth0", "up")
	ensure("vr6.51.veth0")
	if got := addrs("vr6.51.veth0"); slices.Contains(got, kernels) {
		t.Errorf("after down/up the vmac has the kernel's %s again: %v", kernels, got)
	}
}

// A VMAC that holds no VIP (a backup's) sends nothing from the virtual MAC when it comes
// up: every such frame moves the virtual MAC to the backup's switch port. With the kernel's
// IPv6 defaults an IPv4 VMAC sent duplicate address detection, router solicitations and
// listener reports, and an IPv6 VMAC router solicitations. (An IPv6 VMAC still reports
// its multicast groups, as keepalived's does unless its firewall rules move the reports.)
func TestVMACQuiet(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	c := l.capture()
	// A host that keeps IPv6 off by default: new interfaces have it off.
	inNS(l, l.nodeNS, func() (struct{}, error) {
		return struct{}{}, os.WriteFile("/proc/sys/net/ipv6/conf/default/disable_ipv6", []byte("1\n"), 0o644)
	})
	inNS(l, l.nodeNS, func() (*net.Interface, error) {
		return EnsureVMAC(VMACSpec{Parent: "veth0", Name: "vr51.veth0", VRID: 51}, nil)
	})
	inNS(l, l.nodeNS, func() (*net.Interface, error) {
		return EnsureVMAC(VMACSpec{Parent: "veth0", Name: "vr6.51.veth0", VRID: 51, IPv6: true,
			LinkLocal: VMACSource(netip.MustParseAddr("fe80::1"), 51)}, nil)
	})
	v4, v6 := VirtualMAC(51, false), VirtualMAC(51, true)
	buf := make([]byte, 2048)
	// The kernel sends these at once on up (the first solicitation after DAD, here none).
	c.conn.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
	for {
		k, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			break
		}
		f := buf[:k]
		if k < 55 || binary.BigEndian.Uint16(f[12:14]) != 0x86dd {
			continue
		}
		src := net.HardwareAddr(f[6:12])
		icmp := f[20] == 58
		switch {
		case bytes.Equal(src, v4):
			t.Errorf("the IPv4 VMAC sent IPv6: %x", f)
		case bytes.Equal(src, v6) && icmp && (f[54] == 133 || f[54] == 135):
			t.Errorf("the IPv6 VMAC sent ICMPv6 type %d: %x", f[54], f)
		}
	}
	for _, c := range []struct{ ifname, key, want string }{
		{"vr51.veth0", "disable_ipv6", "1"},
		{"vr6.51.veth0", "accept_ra", "0"},
		{"vr6.51.veth0", "disable_ipv6", "0"},
	} {
		got := inNS(l, l.nodeNS, func() (string, error) {
			b, err := os.ReadFile(filepath.Join("/proc/sys/net/ipv6/conf", c.ifname, c.key))
			return strings.TrimSpace(string(b)), err
		})
		if got != c.want {
			t.Errorf("net.ipv6.conf.%s.%s = %s, want %s", c.ifname, c.key, got, c.want)
		}
	}
}
