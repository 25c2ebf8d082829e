// Package vrrp owns everything RFC 5798 (as updated by RFC 9568) and RFC 3768: the
// advertisement codec, receive validation with a drop reason for every way a packet is
// ignored, the pure per-instance state machine, sync groups, and (on Linux) the raw-socket
// transport.
package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Protocol is the IP protocol number of VRRP.
const Protocol = 112

// TypeAdvertisement is the only VRRP packet type (RFC 5798 §5.2.2).
const TypeAdvertisement = 1

// AuthType is the VRRPv2 authentication type (RFC 3768 §5.3.6). VRRPv3 has no authentication.
type AuthType uint8

const (
	AuthNone   AuthType = 0
	AuthSimple AuthType = 1 // plain-text password; interop only, it protects nothing
	AuthAH     AuthType = 2 // IP Authentication Header; rejected (obsolete, never interoperable)
)

// Multicast destinations (RFC 5798 §5.1.1.2, §5.1.2.2).
var (
	GroupV4 = netip.MustParseAddr("224.0.0.18")
	GroupV6 = netip.MustParseAddr("ff02::12")
)

const (
	headerLen   = 8
	authDataLen = 8
	// MaxV3Interval is the largest VRRPv3 advertisement interval: 12 bits of centiseconds.
	MaxV3Interval = 4095 * 10 * time.Millisecond
	// MaxV2Interval is the largest VRRPv2 advertisement interval: 8 bits of seconds.
	MaxV2Interval = 255 * time.Second
)

// Sentinel decode errors. Each maps to one DropReason so the receive path can count it.
var (
	ErrTooShort        = errors.New("vrrp: packet shorter than its header or address count implies")
	ErrVersion         = errors.New("vrrp: unsupported version")
	ErrType            = errors.New("vrrp: unknown packet type")
	ErrChecksum        = errors.New("vrrp: bad checksum")
	ErrNoPseudoHeader  = errors.New("vrrp: v3 checksum needs the IP source and destination")
	ErrFamily          = errors.New("vrrp: address family does not fit the version or the IP header")
	ErrAuthType        = errors.New("vrrp: unsupported authentication type")
	ErrInterval        = errors.New("vrrp: advertisement interval not representable in this version")
	ErrTooManyAddrs    = errors.New("vrrp: more than 255 addresses")
	ErrMixedFamilyAddr = errors.New("vrrp: addresses of both families in one advertisement")
)

// Advert is one VRRP advertisement, version 2 or 3, carrying IPv4 or IPv6 addresses.
//
// Src and Dst are not part of the VRRP message: they are the addresses of the IP header,
// which the VRRPv3 checksum covers through the pseudo-header (RFC 5798 §5.2.8). Set them
// before MarshalBinary and before UnmarshalBinary of a v3 packet.
type Advert struct {
	Version  uint8 // 2 or 3
	Type     uint8 // TypeAdvertisement
	VRID     uint8
	Priority uint8
	// Interval is the advertisement interval: whole seconds in v2, centiseconds in v3
	// (the 12-bit Max Adver Int).
	Interval time.Duration
	Addrs    []netip.Addr

	AuthType AuthType // v2 only
	AuthData [authDataLen]byte

	// Checksum is the value on the wire: filled in by MarshalBinary, kept by UnmarshalBinary.
	Checksum uint16
	// OldUnicastChecksum marks a v3 IPv4 unicast advert whose checksum was computed as if it
	// were sent to 224.0.0.18 — keepalived's old_unicast_checksum bug. On decode it is set
	// when only that form matches; on encode it selects that form.
	OldUnicastChecksum bool

	Src, Dst netip.Addr
}

// Len is the length of the encoded VRRP message.
func (a *Advert) Len() int {
	n := headerLen
	for _, ip := range a.Addrs {
		n += ip.BitLen() / 8
	}
	if a.Version == 2 {
		n += authDataLen
	}
	return n
}

// IsIPv6 reports whether the advert belongs to an IPv6 instance.
func (a *Advert) IsIPv6() bool {
	if a.Src.IsValid() {
		return a.Src.Is6() && !a.Src.Is4In6()
	}
	return len(a.Addrs) > 0 && a.Addrs[0].Is6()
}

// MarshalBinary encodes the advertisement and its checksum.
func (a *Advert) MarshalBinary() ([]byte, error) {
	b := make([]byte, a.Len())
	if err := a.encode(b); err != nil {
		return nil, err
	}
	return b, nil
}

func (a *Advert) encode(b []byte) error {
	if len(a.Addrs) > 255 {
		return ErrTooManyAddrs
	}
	if a.Type != TypeAdvertisement {
		return fmt.Errorf("%w: %d", ErrType, a.Type)
	}
	six := a.IsIPv6()
	for _, ip := range a.Addrs {
		if !ip.IsValid() {
			// It would encode as zero bytes under a count that promises four or sixteen.
			return fmt.Errorf("%w: invalid address in Addrs", ErrFamily)
		}
		// An IPv4-mapped address is 16 bytes like any other in an IPv6 advert (and the
		// decoder returns it): only the family has to match.
		if ip.Is6() != six {
			return ErrMixedFamilyAddr
		}
	}
	b[0] = a.Version<<4 | a.Type
	b[1] = a.VRID
	b[2] = a.Priority
	b[3] = uint8(len(a.Addrs))
	switch a.Version {
	case 2:
		if six {
			return fmt.Errorf("%w: VRRPv2 carries IPv4 only", ErrFamily)
		}
		// 0 is representable and decodes; refusing it here would break the round trip.
		// Validate drops it (it never equals a configured interval).
		if a.Interval < 0 || a.Interval > MaxV2Interval || a.Interval%time.Second != 0 {
			return fmt.Errorf("%w: v2 needs whole seconds 0..255, got %v", ErrInterval, a.Interval)
		}
		if a.AuthType > AuthSimple {
			return fmt.Errorf("%w: %d", ErrAuthType, a.AuthType)
		}
		b[4] = uint8(a.AuthType)
		b[5] = uint8(a.Interval / time.Second)
	case 3:
		if a.Interval < 0 || a.Interval > MaxV3Interval || a.Interval%(10*time.Millisecond) != 0 {
			return fmt.Errorf("%w: v3 needs centiseconds 0..40.95s, got %v", ErrInterval, a.Interval)
		}
		binary.BigEndian.PutUint16(b[4:], uint16(a.Interval/(10*time.Millisecond)))
	default:
		return fmt.Errorf("%w: %d", ErrVersion, a.Version)
	}
	off := headerLen
	for _, ip := range a.Addrs {
		off += copy(b[off:], ip.AsSlice())
	}
	if a.Version == 2 {
		copy(b[off:], a.AuthData[:])
	}
	b[6], b[7] = 0, 0
	sum, err := a.checksum(b, a.OldUnicastChecksum)
	if err != nil {
		return err
	}
	a.Checksum = sum
	binary.BigEndian.PutUint16(b[6:], sum)
	return nil
}

// checksum computes the checksum of the encoded message b (whose checksum field may hold
// anything: it is skipped).
func (a *Advert) checksum(b []byte, oldUnicast bool) (uint16, error) {
	var s uint32
	if a.Version == 3 {
		if !a.Src.IsValid() || !a.Dst.IsValid() || a.Src.Is4() != a.Dst.Is4() {
			return 0, ErrNoPseudoHeader
		}
		dst := a.Dst
		if oldUnicast && dst.Is4() {
			dst = GroupV4
		}
		s = sumBytes(s, a.Src.AsSlice())
		s = sumBytes(s, dst.AsSlice())
		// IPv4: zero, protocol, 16-bit length. IPv6: 32-bit length, 3 zero bytes, next header.
		// Both sum to the same 16-bit words for lengths below 65536.
		s += Protocol + uint32(len(b))
	}
	s = sumBytes(s, b[:6])
	s = sumBytes(s, b[8:])
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s), nil
}

func sumBytes(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

// UnmarshalBinary decodes a VRRP message and verifies its checksum. For v3 the receiver's
// Src and Dst must already hold the IP header's addresses (they select the address family
// and feed the pseudo-header); for v2 they are optional. Bytes beyond the message (after the
// addresses, and after the authentication data in v2) are ignored, as RFC 5798 §7.1 asks
// only that the packet contain the complete message.
func (a *Advert) UnmarshalBinary(b []byte) error {
	src, dst := a.Src, a.Dst
	*a = Advert{Src: src, Dst: dst}
	if len(b) < headerLen {
		return ErrTooShort
	}
	a.Version = b[0] >> 4
	a.Type = b[0] & 0x0f
	if a.Version != 2 && a.Version != 3 {
		return fmt.Errorf("%w: %d", ErrVersion, a.Version)
	}
	if a.Type != TypeAdvertisement {
		return fmt.Errorf("%w: %d", ErrType, a.Type)
	}
	a.VRID = b[1]
	a.Priority = b[2]
	count := int(b[3])
	six := src.IsValid() && src.Is6() && !src.Is4In6()
	if a.Version == 2 {
		if six {
			return fmt.Errorf("%w: VRRPv2 over IPv6", ErrFamily)
		}
		a.AuthType = AuthType(b[4])
		a.Interval = time.Duration(b[5]) * time.Second
	} else {
		if !src.IsValid() || !dst.IsValid() {
			return ErrNoPseudoHeader
		}
		// The top 4 bits are reserved: ignored on receipt (RFC 5798 §5.2.6).
		a.Interval = time.Duration(binary.BigEndian.Uint16(b[4:])&0x0fff) * 10 * time.Millisecond
	}
	alen := 4
	if six {
		alen = 16
	}
	need := headerLen + count*alen
	if a.Version == 2 {
		need += authDataLen
	}
	if len(b) < need {
		return ErrTooShort
	}
	a.Checksum = binary.BigEndian.Uint16(b[6:])
	if count > 0 {
		a.Addrs = make([]netip.Addr, count)
	}
	off := headerLen
	for i := range a.Addrs {
		if six {
			a.Addrs[i] = netip.AddrFrom16([16]byte(b[off : off+16]))
		} else {
			a.Addrs[i] = netip.AddrFrom4([4]byte(b[off : off+4]))
		}
		off += alen
	}
	if a.Version == 2 {
		copy(a.AuthData[:], b[off:off+authDataLen])
		// Only the message itself is checksummed, not trailing bytes.
		if sum, _ := a.checksum(b[:need], false); sum != a.Checksum {
			return ErrChecksum
		}
		if a.AuthType > AuthSimple {
			return fmt.Errorf("%w: %d", ErrAuthType, a.AuthType)
		}
		return nil
	}
	sum, err := a.checksum(b[:need], false)
	if err != nil {
		return err
	}
	if sum == a.Checksum {
		return nil
	}
	if dst.Is4() && dst != GroupV4 {
		if old, _ := a.checksum(b[:need], true); old == a.Checksum {
			a.OldUnicastChecksum = true
			return nil
		}
	}
	return ErrChecksum
}

// String renders the advert the way tcpdump users read it.
func (a *Advert) String() string {
	return fmt.Sprintf("VRRPv%d vrid %d prio %d intvl %v addrs %v %v>%v", a.Version, a.VRID, a.Priority, a.Interval, a.Addrs, a.Src, a.Dst)
}
