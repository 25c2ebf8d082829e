package vip

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
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

// EnsureVMAC makes sure a macvlan interface called s.Name exists on s.Parent with the
// VRRP virtual MAC (VirtualMAC), in private mode like keepalived's (macvlans on one parent
// do not talk to each other), and is up; and sets the IPv4 sysctls keepalived sets (see
// vmacSysctls, parentSysctls) on both, in the calling thread's network namespace. It is
// idempotent: an existing macvlan of that name on the parent is corrected in place (MAC,
// mode, up) rather than recreated, so its ifindex and any socket bound to it survive.
//
// Another macvlan on the parent that carries the same virtual MAC under another name (a
// vmac of an older release, called vrrp.<VRID>, or one renamed by vmac_name) is deleted
// first, with a warning: the kernel would refuse to bring ours up beside it (two
// macvlans of one parent cannot share a MAC), and it is a leftover of this virtual router.
//
// The parent's previous arp_ignore/arp_filter values are not restored by RemoveVMAC
// (keepalived restores them when its last VMAC on the parent goes): other VMACs may still
// share the parent, and the values are correct for a director whatever its state.
// For IPv6 VMACs keepalived also manages the VMAC's link-local address; here the director
// adds the virtual router's link-local address as a VIP.
func EnsureVMAC(s VMACSpec, log *slog.Logger) (*net.Interface, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	parent, name, mac := s.Parent, s.Name, s.MAC()
	fail := func(err error) (*net.Interface, error) {
		return nil, fmt.Errorf("vip: vmac %s on %s: %w", name, parent, err)
	}
	pl, err := netlink.LinkByName(parent)
	if err != nil {
		return fail(err)
	}
	if err := removeLeftovers(pl, name, mac, log); err != nil {
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

// removeLeftovers deletes the macvlans of parent other than name that carry mac.
func removeLeftovers(parent netlink.Link, name string, mac net.HardwareAddr, log *slog.Logger) error {
	links, err := netlink.LinkList()
	if err != nil {
		return err
	}
	for _, l := range links {
		a := l.Attrs()
		if _, ok := l.(*netlink.Macvlan); !ok || a.Name == name || a.ParentIndex != parent.Attrs().Index || !bytes.Equal(a.HardwareAddr, mac) {
			continue
		}
		if err := netlink.LinkDel(l); err != nil {
			return fmt.Errorf("delete %s, which has the same virtual MAC: %w", a.Name, err)
		}
		log.Warn("deleted a leftover vmac with the same virtual MAC", "interface", a.Name, "parent", parent.Attrs().Name, "vmac", name, "mac", mac.String())
	}
	return nil
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
