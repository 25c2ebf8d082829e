package vip

import (
	"crypto/sha256"
	"net"
	"net/netip"
)

// VirtualMAC is the VRRP virtual router MAC address of RFC 5798 §7.3:
// 00-00-5E-00-01-{VRID} for IPv4 and 00-00-5E-00-02-{VRID} for IPv6.
func VirtualMAC(vrid uint8, ipv6 bool) net.HardwareAddr {
	family := byte(0x01)
	if ipv6 {
		family = 0x02
	}
	return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, family, vrid}
}

// VMACSpec is one use_vmac interface: a macvlan called Name on Parent with the virtual
// MAC of VRID and the family.
type VMACSpec struct {
	Parent string
	Name   string
	VRID   uint8
	IPv6   bool
	// LinkLocal is, for IPv6, the link-local address the VMAC sends adverts from
	// (VMACSource, or a link-local unicast_src_ip), which EnsureVMAC adds to the VMAC.
	// Ignored unless link-local.
	LinkLocal netip.Addr
}

// MAC is the spec's virtual MAC.
func (s VMACSpec) MAC() net.HardwareAddr { return VirtualMAC(s.VRID, s.IPv6) }

// VMACSource is the link-local address an IPv6 VMAC sends its adverts from, derived from
// the parent's link-local address and the VRID: fe80::/64 with an interface identifier
// hashed from both (RFC 7217's idea, u/l bit clear, so never one of the RFC 5453 reserved
// identifiers nor an EUI-64 of a universal MAC). It is stable across restarts and
// different on every node, as the parent's address is.
//
// The kernel sends an advert only from an address of the sending interface, so the VMAC
// needs a link-local address; the kernel's own (EUI-64 of the virtual MAC) is the virtual
// router's address, which only the master holds. keepalived puts the parent's link-local
// address on the VMAC instead, and so the VMAC of every node, backups included, answers
// neighbour solicitations for its parent's address with the virtual MAC: the asking
// host's entry for the director's own address then points at whichever node is master,
// and the switch moves the virtual MAC to a backup's port until the master's next advert.
// Nobody solicits an address that only ever appears as an advert's source.
func VMACSource(parent netip.Addr, vrid uint8) netip.Addr {
	p := parent.As16()
	sum := sha256.Sum256(append([]byte("hadirector vmac source\x00"), append(p[:], vrid)...))
	var a [16]byte
	a[0], a[1] = 0xfe, 0x80
	copy(a[8:], sum[:8])
	a[8] &^= 0x02 // u/l bit: locally assigned
	return netip.AddrFrom16(a)
}
