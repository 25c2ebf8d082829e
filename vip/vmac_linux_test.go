package vip

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
		return inNS(l, l.nodeNS, func() (*net.Interface, error) { return EnsureVMAC("veth0", name, vrid, six) })
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
			_, err := EnsureVMAC(parent, name, 51, false)
			return err, nil
		})
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
