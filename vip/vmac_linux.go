package vip

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
)

// ErrNotVMAC is returned when an interface of the requested name exists but is not a
// macvlan on the requested parent, so it is not ours to change or delete.
var ErrNotVMAC = errors.New("vip: interface exists and is not our macvlan")

// vmacSysctls are the IPv4 settings keepalived gives a VMAC interface and its parent
// (keepalived/vrrp/vrrp_if_config.c), with its reasons.
var (
	vmacSysctls = []sysctl{
		// Answer ARP on the VMAC only for addresses configured on the VMAC itself, so the
		// virtual MAC never answers for the parent's own addresses.
		{"arp_ignore", "1"},
		// Accept packets whose source is one of this host's addresses: keepalived's reason
		// is hearing another instance's adverts on the same host.
		{"accept_local", "1"},
		// Receive on the VMAC while it has no address (it gets one only as master).
		{"rp_filter", "0"},
		// As on any interface with VIPs: deleting one address must not take the others.
		{"promote_secondaries", "1"},
	}
	parentSysctls = []sysctl{
		// The parent must not answer ARP for a VIP (which lives on the VMAC) with its
		// physical MAC: arp_ignore=1 answers only for addresses on the receiving
		// interface, arp_filter=1 only when the route back leaves through it.
		{"arp_ignore", "1"},
		{"arp_filter", "1"},
		// And its own ARP requests must not carry a VIP as the sender address: replies to
		// traffic for the VIP are routed out of the parent, and with the default
		// arp_announce=0 the kernel would resolve the client with sender IP = VIP and the
		// physical MAC, moving the client's entry for the VIP off the virtual MAC.
		{"arp_announce", "2"},
	}
)

type sysctl struct{ key, value string }

// EnsureVMAC makes sure a macvlan interface called name exists on parent with the VRRP
// virtual MAC for vrid (VirtualMAC), in private mode like keepalived's (macvlans on one
// parent do not talk to each other), and is up; and sets the IPv4 sysctls keepalived sets
// (see vmacSysctls, parentSysctls) on both, in the calling thread's network namespace. It
// is idempotent: an existing macvlan of that name on parent is corrected in place (MAC,
// mode, up) rather than recreated, so its ifindex and any socket bound to it survive.
//
// The parent's previous arp_ignore/arp_filter values are not restored by RemoveVMAC
// (keepalived restores them when its last VMAC on the parent goes): other VMACs may still
// share the parent, and the values are correct for a director whatever its state.
// For IPv6 VMACs keepalived also manages the VMAC's link-local address; here the director
// adds the virtual router's link-local address as a VIP.
func EnsureVMAC(parent string, name string, vrid uint8, ipv6 bool) (*net.Interface, error) {
	mac := VirtualMAC(vrid, ipv6)
	fail := func(err error) (*net.Interface, error) {
		return nil, fmt.Errorf("vip: vmac %s on %s: %w", name, parent, err)
	}
	pl, err := netlink.LinkByName(parent)
	if err != nil {
		return fail(err)
	}
	l, err := netlink.LinkByName(name)
	if _, ok := errors.AsType[netlink.LinkNotFoundError](err); ok {
		mv := &netlink.Macvlan{
			LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: pl.Attrs().Index, HardwareAddr: mac},
			Mode:      netlink.MACVLAN_MODE_PRIVATE,
		}
		if err := netlink.LinkAdd(mv); err != nil {
			return fail(err)
		}
		if l, err = netlink.LinkByName(name); err != nil {
			return fail(err)
		}
	} else if err != nil {
		return fail(err)
	}
	mv, ok := l.(*netlink.Macvlan)
	if !ok || l.Attrs().ParentIndex != pl.Attrs().Index {
		return fail(fmt.Errorf("%w: type %s, parent index %d", ErrNotVMAC, l.Type(), l.Attrs().ParentIndex))
	}
	if mv.Mode != netlink.MACVLAN_MODE_PRIVATE {
		if err := netlink.LinkSetMacvlanMode(l, netlink.MACVLAN_MODE_PRIVATE); err != nil {
			return fail(err)
		}
	}
	if !bytes.Equal(l.Attrs().HardwareAddr, mac) {
		if err := netlink.LinkSetHardwareAddr(l, mac); err != nil {
			return fail(err)
		}
	}
	// The sysctls before up: the VMAC must never be up and answering ARP the wrong way.
	for _, s := range vmacSysctls {
		if err := writeSysctl(name, s); err != nil {
			return fail(err)
		}
	}
	for _, s := range parentSysctls {
		if err := writeSysctl(parent, s); err != nil {
			return fail(err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fail(err)
	}
	ifi, err := net.InterfaceByIndex(l.Attrs().Index)
	if err != nil {
		return fail(err)
	}
	return ifi, nil
}

// RemoveVMAC deletes the macvlan called name. An interface that does not exist is not an
// error; one that exists but is not a macvlan is refused (ErrNotVMAC) rather than deleted.
func RemoveVMAC(name string) error {
	l, err := netlink.LinkByName(name)
	if _, ok := errors.AsType[netlink.LinkNotFoundError](err); ok {
		return nil
	}
	if err != nil {
		return fmt.Errorf("vip: remove vmac %s: %w", name, err)
	}
	if _, ok := l.(*netlink.Macvlan); !ok {
		return fmt.Errorf("vip: remove vmac %s: %w: type %s", name, ErrNotVMAC, l.Type())
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("vip: remove vmac %s: %w", name, err)
	}
	return nil
}

// writeSysctl writes net.ipv4.conf.<ifname>.<key>. /proc/sys/net resolves to the network
// namespace of the thread that opens it.
func writeSysctl(ifname string, s sysctl) error {
	if strings.ContainsAny(ifname, "/") || ifname == "." || ifname == ".." {
		return fmt.Errorf("bad interface name %q", ifname)
	}
	p := filepath.Join("/proc/sys/net/ipv4/conf", ifname, s.key)
	if err := os.WriteFile(p, []byte(s.value+"\n"), 0o644); err != nil {
		return fmt.Errorf("sysctl %s: %w", p, err)
	}
	return nil
}
