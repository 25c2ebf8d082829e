package vip

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"

	"github.com/hadirector/hadirector/internal/sysctl"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ErrNotVMAC is returned when an interface of the requested name exists but is not a
// macvlan on the requested parent, so it is not ours to change or delete.
var ErrNotVMAC = errors.New("vip: interface exists and is not our macvlan")

// vmacSysctls are the IPv4 settings keepalived gives a VMAC interface and its parent
// (keepalived/vrrp/vrrp_if_config.c), with its reasons.
var (
	vmacSysctls = []setting{
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
	parentSysctls = []setting{
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

type setting struct{ key, value string }

// addrGenModeNone is IN6_ADDR_GEN_MODE_NONE (linux/if_link.h): no link-local address of
// the kernel's making.
const addrGenModeNone = 1

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
//
// An IPv6 VMAC gets no address of the kernel's making (IPv6 address generation mode
// none, as keepalived sets it): the EUI-64 link-local address of the virtual MAC is the
// virtual router's own link-local address (fe80::200:5eff:fe00:2XX, RFC 5798 §7.4),
// which the director adds as a VIP on the master only. One left by the kernel on a VMAC
// made by an older release is removed here. Instead the VMAC carries s.LinkLocal, the
// adverts' source (see VMACSource), which the kernel accepts only from an address of the
// sending interface.
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
	// Before up: a backup's VMAC must stay silent, or the switch moves the virtual MAC
	// to the backup's port until the master's next advert. Up with the kernel's IPv6
	// defaults it at once sends duplicate address detection, router solicitations and
	// listener reports from the virtual MAC (seen with tcpdump).
	if s.IPv6 {
		// The kernel's EUI-64 address is the virtual router's own (see above).
		if err := netlink.LinkSetIP6AddrGenMode(l, addrGenModeNone); err != nil {
			return fail(fmt.Errorf("IPv6 address generation mode: %w", err))
		}
		// No router solicitations, and no addresses from router advertisements: with
		// the virtual MAC every node would configure the same one. And IPv6 on, which
		// a new interface would not have with net.ipv6.conf.default.disable_ipv6=1.
		for _, c := range []setting{{"accept_ra", "0"}, {"disable_ipv6", "0"}} {
			if err := writeIPv6Sysctl(name, c); err != nil {
				return fail(err)
			}
		}
	} else if err := writeIPv6Sysctl(name, setting{"disable_ipv6", "1"}); err != nil && !errors.Is(err, fs.ErrNotExist) {
		// An IPv4 VMAC needs no IPv6 at all (keepalived disables it too). A kernel
		// without IPv6 has no such setting, and nothing to silence.
		return fail(err)
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
	if s.IPv6 {
		if err := vmacLinkLocal(l, s, log); err != nil {
			return fail(err)
		}
	}
	ifi, err := net.InterfaceByIndex(l.Attrs().Index)
	if err != nil {
		return fail(err)
	}
	return ifi, nil
}

// vmacLinkLocal removes the kernel's own EUI-64 link-local address from an IPv6 VMAC and
// makes sure it carries s.LinkLocal (when that is a link-local address).
func vmacLinkLocal(l netlink.Link, s VMACSpec, log *slog.Logger) error {
	own := eui64LinkLocal(s.MAC())
	addrs, err := netlink.AddrList(l, unix.AF_INET6)
	if err != nil {
		return err
	}
	have := false
	for _, a := range addrs {
		ip, _ := netip.AddrFromSlice(a.IP)
		switch ip {
		case own:
			if err := netlink.AddrDel(l, &a); err != nil {
				return fmt.Errorf("remove the kernel's link-local address %s: %w", ip, err)
			}
			log.Info("removed the kernel's link-local address from the vmac: it is the virtual router's own, held by the master only", "interface", s.Name, "address", ip)
		case s.LinkLocal:
			have = true
		}
	}
	if have || !s.LinkLocal.IsLinkLocalUnicast() || !s.LinkLocal.Is6() {
		return nil
	}
	// NODAD: with DAD the address would be tentative, and no advert could leave from
	// it, for a second or more; VMACSource's 64 hashed bits do not collide.
	a := &netlink.Addr{IPNet: &net.IPNet{IP: s.LinkLocal.AsSlice(), Mask: net.CIDRMask(64, 128)}, Flags: unix.IFA_F_NODAD, Scope: unix.RT_SCOPE_LINK}
	if err := netlink.AddrAdd(l, a); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add the advert source %s: %w", s.LinkLocal, err)
	}
	return nil
}

// eui64LinkLocal is the link-local address the kernel derives from mac (RFC 4291 App. A).
func eui64LinkLocal(mac net.HardwareAddr) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfe, 0x80, 8: mac[0] ^ 0x02, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]})
}

// CheckVMAC reports whether EnsureVMAC could make name a VMAC on parent without
// touching anything else: nil when no interface is called name or when it is already a
// macvlan on parent, an ErrNotVMAC otherwise (for check --host).
func CheckVMAC(parent, name string) error {
	l, err := netlink.LinkByName(name)
	if _, ok := errors.AsType[netlink.LinkNotFoundError](err); ok {
		return nil
	}
	if err != nil {
		return fmt.Errorf("vip: vmac %s: %w", name, err)
	}
	pl, err := netlink.LinkByName(parent)
	if err != nil {
		return fmt.Errorf("vip: vmac %s on %s: %w", name, parent, err)
	}
	if _, ok := l.(*netlink.Macvlan); !ok || l.Attrs().ParentIndex != pl.Attrs().Index {
		return fmt.Errorf("vip: vmac %s on %s: %w: type %s, parent index %d", name, parent, ErrNotVMAC, l.Type(), l.Attrs().ParentIndex)
	}
	return nil
}

// RemoveVMACsOf deletes every macvlan of parent that carries mac (the VMAC of a virtual
// router, whatever its name) and returns their names. A parent that does not exist is not
// an error: there is nothing on it.
func RemoveVMACsOf(parent string, mac net.HardwareAddr) ([]string, error) {
	pl, err := netlink.LinkByName(parent)
	if _, ok := errors.AsType[netlink.LinkNotFoundError](err); ok {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("vip: remove vmacs of %s: %w", parent, err)
	}
	var gone []string
	err = eachVMAC(pl, mac, func(l netlink.Link) error {
		if err := netlink.LinkDel(l); err != nil {
			return err
		}
		gone = append(gone, l.Attrs().Name)
		return nil
	})
	if err != nil {
		return gone, fmt.Errorf("vip: remove vmacs of %s: %w", parent, err)
	}
	return gone, nil
}

// eachVMAC calls fn for every macvlan of parent that carries mac.
func eachVMAC(parent netlink.Link, mac net.HardwareAddr, fn func(netlink.Link) error) error {
	links, err := netlink.LinkList()
	if err != nil {
		return err
	}
	for _, l := range links {
		a := l.Attrs()
		if _, ok := l.(*netlink.Macvlan); !ok || a.ParentIndex != parent.Attrs().Index || !bytes.Equal(a.HardwareAddr, mac) {
			continue
		}
		if err := fn(l); err != nil {
			return err
		}
	}
	return nil
}

// removeLeftovers deletes the macvlans of parent other than name that carry mac.
func removeLeftovers(parent netlink.Link, name string, mac net.HardwareAddr, log *slog.Logger) error {
	return eachVMAC(parent, mac, func(l netlink.Link) error {
		a := l.Attrs()
		if a.Name == name {
			return nil
		}
		if err := netlink.LinkDel(l); err != nil {
			return fmt.Errorf("delete %s, which has the same virtual MAC: %w", a.Name, err)
		}
		log.Warn("deleted a leftover vmac with the same virtual MAC", "interface", a.Name, "parent", parent.Attrs().Name, "vmac", name, "mac", mac.String())
		return nil
	})
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

// IPv6Forwarding reports net.ipv6.conf.<ifname>.forwarding: whether the interface acts
// as a router (the kernel then sets the Router flag of its neighbour advertisements).
func IPv6Forwarding(ifname string) (bool, error) {
	v, err := sysctl.Get(sysctl.Conf("ipv6", ifname, "forwarding"))
	if err != nil {
		return false, fmt.Errorf("vip: %w", err)
	}
	return v != "0", nil
}

// SetIPv6Forwarding writes net.ipv6.conf.<ifname>.forwarding.
func SetIPv6Forwarding(ifname string, on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	if err := sysctl.Set(sysctl.Conf("ipv6", ifname, "forwarding"), v); err != nil {
		return fmt.Errorf("vip: %w", err)
	}
	return nil
}

// writeIPv6Sysctl writes net.ipv6.conf.<ifname>.<key>.
func writeIPv6Sysctl(ifname string, s setting) error {
	return sysctl.Set(sysctl.Conf("ipv6", ifname, s.key), s.value)
}

// writeSysctl writes net.ipv4.conf.<ifname>.<key>. /proc/sys/net resolves to the network
// namespace of the thread that opens it.
func writeSysctl(ifname string, s setting) error {
	return sysctl.Set(sysctl.Conf("ipv4", ifname, s.key), s.value)
}
