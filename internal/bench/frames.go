package bench

import (
	"encoding/binary"
	"net"
	"net/netip"
	"time"
)

// Advert is a captured VRRP advertisement, taken apart field by field.
type Advert struct {
	Time           time.Time
	EthDst, EthSrc net.HardwareAddr
	IPv6           bool
	Src, Dst       netip.Addr
	TTL            uint8 // IPv6: hop limit
	TOS            uint8 // IPv6: traffic class
	Protocol       uint8 // IPv6: next header
	// IPv4 only.
	IHL              int // header length in bytes
	ID               uint16
	DF, MF           bool
	FragOff          uint16
	HeaderChecksumOK bool
	// IPv6 only.
	FlowLabel uint32

	VRRP     []byte // the VRRP message: IP payload up to the IP length
	Version  uint8
	VRID     uint8
	Priority uint8
}

// ParseAdvert decodes f if it is an IPv4 or IPv6 packet of protocol 112.
func ParseAdvert(f Frame) (Advert, bool) {
	b := f.Data
	if len(b) < 14 {
		return Advert{}, false
	}
	a := Advert{Time: f.Time, EthDst: net.HardwareAddr(b[0:6]), EthSrc: net.HardwareAddr(b[6:12])}
	ip := b[14:]
	switch binary.BigEndian.Uint16(b[12:14]) {
	case 0x0800:
		if len(ip) < 20 || ip[0]>>4 != 4 {
			return Advert{}, false
		}
		a.IHL = int(ip[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(ip[2:4]))
		if a.IHL < 20 || total < a.IHL || total > len(ip) {
			return Advert{}, false
		}
		a.TOS = ip[1]
		a.ID = binary.BigEndian.Uint16(ip[4:6])
		frag := binary.BigEndian.Uint16(ip[6:8])
		a.DF, a.MF, a.FragOff = frag&0x4000 != 0, frag&0x2000 != 0, frag&0x1fff
		a.TTL, a.Protocol = ip[8], ip[9]
		a.HeaderChecksumOK = Checksum(ip[:a.IHL]) == 0
		a.Src = netip.AddrFrom4([4]byte(ip[12:16]))
		a.Dst = netip.AddrFrom4([4]byte(ip[16:20]))
		a.VRRP = ip[a.IHL:total]
	case 0x86dd:
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return Advert{}, false
		}
		a.IPv6 = true
		vtf := binary.BigEndian.Uint32(ip[0:4])
		a.TOS, a.FlowLabel = uint8(vtf>>20), vtf&0xfffff
		plen := int(binary.BigEndian.Uint16(ip[4:6]))
		if 40+plen > len(ip) {
			return Advert{}, false
		}
		a.Protocol, a.TTL = ip[6], ip[7]
		a.Src = netip.AddrFrom16([16]byte(ip[8:24]))
		a.Dst = netip.AddrFrom16([16]byte(ip[24:40]))
		a.VRRP = ip[40 : 40+plen]
	default:
		return Advert{}, false
	}
	if a.Protocol != 112 || len(a.VRRP) < 8 {
		return Advert{}, false
	}
	a.Version, a.VRID, a.Priority = a.VRRP[0]>>4, a.VRRP[1], a.VRRP[2]
	return a, true
}

// ARP is a captured ARP frame, taken apart field by field.
type ARP struct {
	Time           time.Time
	Len            int // frame length
	EthDst, EthSrc net.HardwareAddr
	HType, PType   uint16
	HLen, PLen     uint8
	Op             uint16
	SHA, THA       net.HardwareAddr
	SPA, TPA       netip.Addr
}

// ParseARP decodes f if it is an Ethernet/IPv4 ARP frame.
func ParseARP(f Frame) (ARP, bool) {
	b := f.Data
	if len(b) < 42 || binary.BigEndian.Uint16(b[12:14]) != 0x0806 {
		return ARP{}, false
	}
	a := ARP{
		Time: f.Time, Len: len(b),
		EthDst: net.HardwareAddr(b[0:6]), EthSrc: net.HardwareAddr(b[6:12]),
		HType: binary.BigEndian.Uint16(b[14:16]), PType: binary.BigEndian.Uint16(b[16:18]),
		HLen: b[18], PLen: b[19], Op: binary.BigEndian.Uint16(b[20:22]),
		SHA: net.HardwareAddr(b[22:28]), SPA: netip.AddrFrom4([4]byte(b[28:32])),
		THA: net.HardwareAddr(b[32:38]), TPA: netip.AddrFrom4([4]byte(b[38:42])),
	}
	if a.HLen != 6 || a.PLen != 4 || a.PType != 0x0800 {
		return ARP{}, false
	}
	return a, true
}

// Gratuitous reports whether the ARP announces its sender (sender IP = target IP).
func (a ARP) Gratuitous() bool { return a.SPA == a.TPA }

// Checksum is the Internet checksum (RFC 1071) of b; over data that includes a correct
// checksum field it is 0.
func Checksum(b ...[]byte) uint16 {
	var s uint32
	var odd bool
	var carry byte
	for _, p := range b {
		for _, c := range p {
			if odd {
				s += uint32(carry)<<8 | uint32(c)
			} else {
				carry = c
			}
			odd = !odd
		}
	}
	if odd {
		s += uint32(carry) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
