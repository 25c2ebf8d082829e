package vip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
)

// The frames below are what keepalived 2.2.7 puts on the wire, byte for byte (checked
// against ../vrrp/testdata/keepalived/garps.txt and nas.txt, see frame_test.go).
//
// Gratuitous ARP, 42 bytes:
//
//	Ethernet  dst ff:ff:ff:ff:ff:ff  src MAC  type 0x0806
//	ARP       htype 1  ptype 0x0800  hlen 6  plen 4  op 1 (request)
//	          sender MAC, sender IP = VIP, target ff:ff:ff:ff:ff:ff, target IP = VIP
//
// The target hardware address is the broadcast address, as keepalived and arping -U send
// it, not the 00:00:00:00:00:00 of RFC 5227 probes. There is no padding to the 60-byte
// Ethernet minimum: like keepalived we hand the kernel 42 bytes and a real NIC pads on the
// wire (a veth peer sees 42). This is why Announcer does not use arp.Client.WriteTo, whose
// Ethernet framing always pads to 60 bytes.
//
// Unsolicited neighbour advertisement, 86 bytes:
//
//	Ethernet  dst 33:33:00:00:00:01  src MAC  type 0x86dd
//	IPv6      traffic class 0, flow label 0, payload 32, next header 58, hop limit 255,
//	          src = VIP (not the interface's link-local address), dst ff02::1
//	ICMPv6    type 136 code 0, flags R S=0 O=1, target = VIP,
//	          option 2 (target link-layer address) = MAC
//
// R (Router) is set when the sender acts as a router on the link, as RFC 5798 §6.4.2 asks
// of a VRRP master and as the kernel does in its own NAs when the interface forwards
// (net.ipv6.conf.IF.forwarding=1): a host that sees R=0 from its router drops it from its
// default router list (RFC 4861 §7.2.5). keepalived sets it the same way; its capture
// (R=0) was made on an interface that did not forward.
//
// keepalived builds the IPv6 header itself on a packet socket, so the source is the VIP and
// the flow label is 0; an ICMPv6 socket (ndp.Conn) would let the kernel choose both, and
// could not send from the virtual MAC on the parent interface. We do the same as keepalived
// and use mdlayher/ndp only to marshal the message and its checksum.

const (
	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd

	ethHeaderLen  = 14
	garpFrameLen  = ethHeaderLen + 28
	ipv6HeaderLen = 40
	naLen         = 32 // ICMPv6 header 4 + flags 4 + target 16 + one link-layer option 8
	naFrameLen    = ethHeaderLen + ipv6HeaderLen + naLen
	protoICMPv6   = 58
	ndpHopLimit   = 255 // RFC 4861 §7.1.2: receivers drop neighbour discovery with any other
)

var (
	ethBroadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	// allNodes is ff02::1 and allNodesMAC its Ethernet multicast address (RFC 2464 §7).
	allNodes    = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x01})
	allNodesMAC = net.HardwareAddr{0x33, 0x33, 0x00, 0x00, 0x00, 0x01}
)

// ErrBadVIP is returned for an address that cannot be a VIP: invalid, unspecified,
// multicast, or 255.255.255.255.
var ErrBadVIP = errors.New("vip: not a unicast address")

// ErrBadMAC is returned for a hardware address that is not a 6-byte Ethernet address.
var ErrBadMAC = errors.New("vip: not an Ethernet MAC address")

// checkVIP returns the address in its canonical form (4in6 unmapped, zone dropped: a VIP
// is an address on one interface, the zone adds nothing on the wire).
func checkVIP(v netip.Addr) (netip.Addr, error) {
	v = v.Unmap().WithZone("")
	if !v.IsValid() || v.IsUnspecified() || v.IsMulticast() || v == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return netip.Addr{}, fmt.Errorf("%w: %s", ErrBadVIP, v)
	}
	return v, nil
}

// announceFrame returns the whole Ethernet frame announcing vip from mac: a gratuitous ARP
// for IPv4, an unsolicited neighbour advertisement for IPv6 (with the Router flag if
// router).
func announceFrame(mac net.HardwareAddr, vip netip.Addr, router bool) ([]byte, error) {
	if len(mac) != 6 {
		return nil, fmt.Errorf("%w: %q", ErrBadMAC, mac)
	}
	vip, err := checkVIP(vip)
	if err != nil {
		return nil, err
	}
	if vip.Is4() {
		return garpFrame(mac, vip)
	}
	return naFrame(mac, vip, router)
}

func garpFrame(mac net.HardwareAddr, vip netip.Addr) ([]byte, error) {
	p, err := arp.NewPacket(arp.OperationRequest, mac, vip, ethBroadcast, vip)
	if err != nil {
		return nil, err
	}
	body, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, garpFrameLen)
	b = append(b, ethBroadcast...)
	b = append(b, mac...)
	b = binary.BigEndian.AppendUint16(b, etherTypeARP)
	return append(b, body...), nil
}

func naFrame(mac net.HardwareAddr, vip netip.Addr, router bool) ([]byte, error) {
	na := &ndp.NeighborAdvertisement{
		Router:        router,
		Override:      true, // the VIP moved: replace whatever MAC the neighbour has cached
		TargetAddress: vip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: mac}},
	}
	icmp, err := ndp.MarshalMessageChecksum(na, vip, allNodes)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, ethHeaderLen+ipv6HeaderLen+len(icmp))
	b = append(b, allNodesMAC...)
	b = append(b, mac...)
	b = binary.BigEndian.AppendUint16(b, etherTypeIPv6)
	b = append(b, 0x60, 0, 0, 0) // version 6, traffic class 0, flow label 0
	b = binary.BigEndian.AppendUint16(b, uint16(len(icmp)))
	b = append(b, protoICMPv6, ndpHopLimit)
	b = append(b, vip.AsSlice()...)
	b = append(b, allNodes.AsSlice()...)
	return append(b, icmp...), nil
}
