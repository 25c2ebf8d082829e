package vip

import (
	"net"
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
}

// MAC is the spec's virtual MAC.
func (s VMACSpec) MAC() net.HardwareAddr { return VirtualMAC(s.VRID, s.IPv6) }
