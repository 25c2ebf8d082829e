package vrrp

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"time"
)

// DropReason says why a received packet was ignored. Every way a packet can be ignored has
// its own value so it can be counted and logged; DropNone means the packet was accepted.
type DropReason uint8

const (
	DropNone         DropReason = iota
	DropTTL                     // TTL / hop limit not 255 (RFC 5798 §7.1): it crossed a router
	DropMalformed               // shorter than a header
	DropVersion                 // version is not the instance's (2 or 3)
	DropType                    // type is not Advertisement
	DropChecksum                // checksum wrong
	DropOldChecksum             // v3 checksum in keepalived's old_unicast_checksum form, not accepted here
	DropLength                  // shorter than the address count implies
	DropFamily                  // address family does not fit the version or the instance
	DropVRID                    // no instance for this VRID on this interface
	DropNoAddrs                 // address count 0 (RFC 9568 §7.1)
	DropZeroInterval            // v3 Max Adver Int 0 (RFC 9568 §7.1)
	DropInterval                // v2 interval differs from ours (RFC 3768 §7.1: MUST discard)
	DropAuthType                // v2 authentication type differs from ours, or is AH
	DropAuth                    // v2 password differs from ours
	DropInterface               // arrived on another interface (raw sockets see every interface)
	DropUnknownPeer             // unicast mode: sender is not a configured peer
	DropOwn                     // our own advertisement looped back
	dropReasonCount
)

var dropNames = [...]string{
	DropNone:         "none",
	DropTTL:          "ttl",
	DropMalformed:    "malformed",
	DropVersion:      "version",
	DropType:         "type",
	DropChecksum:     "checksum",
	DropOldChecksum:  "old_unicast_checksum",
	DropLength:       "length",
	DropFamily:       "family",
	DropVRID:         "vrid",
	DropNoAddrs:      "no_addresses",
	DropZeroInterval: "zero_interval",
	DropInterval:     "interval_mismatch",
	DropAuthType:     "auth_type",
	DropAuth:         "auth",
	DropInterface:    "interface",
	DropUnknownPeer:  "unknown_peer",
	DropOwn:          "own_packet",
}

func (r DropReason) String() string {
	if int(r) < len(dropNames) {
		return dropNames[r]
	}
	return "unknown"
}

// DropReasons lists every reason except DropNone, for metrics that pre-register labels.
func DropReasons() []DropReason {
	rs := make([]DropReason, 0, dropReasonCount-1)
	for r := DropNone + 1; r < dropReasonCount; r++ {
		rs = append(rs, r)
	}
	return rs
}

// Packet is what the transport hands to the validator: the VRRP message and the facts
// from the IP header and control messages.
type Packet struct {
	Src, Dst netip.Addr
	TTL      int // TTL or hop limit
	Payload  []byte
}

// Expect is what one configured instance requires of the adverts it accepts.
type Expect struct {
	Version  uint8
	VRID     uint8
	IPv6     bool
	Interval time.Duration // v2: received interval must equal it
	AuthType AuthType      // v2
	AuthData [8]byte       // v2, AuthSimple only
	Addrs    []netip.Addr  // the configured VIPs, for the mismatch counter
	// AcceptOldUnicastChecksum accepts keepalived's old_unicast_checksum form from peers.
	AcceptOldUnicastChecksum bool
}

// Result of validating one packet.
type Result struct {
	Advert Advert
	Drop   DropReason
	// AddrMismatch is set on an accepted advert whose address list differs from ours. It is
	// counted and logged, not dropped: RFC 5798 §7.1 asks only that it be logged, and a
	// peer in the middle of a reload legitimately differs for a moment.
	AddrMismatch bool
}

// Validate applies the receive checks of RFC 5798 §7.1 / RFC 3768 §7.1 to one packet.
// lookup finds the instance for a VRID (nil: not configured). Validation is pure: a
// dropped packet has no effect anywhere, which is what lets the caller skip the state
// machine entirely for it.
func Validate(p Packet, lookup func(vrid uint8) *Expect) Result {
	var r Result
	if p.TTL != 255 {
		r.Drop = DropTTL
		return r
	}
	if len(p.Payload) < headerLen {
		r.Drop = DropMalformed
		return r
	}
	a := &r.Advert
	a.Src, a.Dst = p.Src, p.Dst
	err := a.UnmarshalBinary(p.Payload)
	switch {
	case err == nil:
	case errors.Is(err, ErrVersion):
		r.Drop = DropVersion
	case errors.Is(err, ErrType):
		r.Drop = DropType
	case errors.Is(err, ErrTooShort):
		r.Drop = DropLength
	case errors.Is(err, ErrChecksum):
		r.Drop = DropChecksum
	case errors.Is(err, ErrFamily), errors.Is(err, ErrNoPseudoHeader):
		r.Drop = DropFamily
	case errors.Is(err, ErrAuthType):
		r.Drop = DropAuthType
	default:
		r.Drop = DropMalformed
	}
	if r.Drop != DropNone {
		return r
	}
	e := lookup(a.VRID)
	if e == nil {
		r.Drop = DropVRID
		return r
	}
	switch {
	case a.Version != e.Version:
		r.Drop = DropVersion
	case a.IsIPv6() != e.IPv6:
		r.Drop = DropFamily
	case a.OldUnicastChecksum && !e.AcceptOldUnicastChecksum:
		r.Drop = DropOldChecksum
	case len(a.Addrs) == 0:
		r.Drop = DropNoAddrs
	case a.Version == 3 && a.Interval == 0:
		r.Drop = DropZeroInterval
	case a.Version == 2 && a.Interval != e.Interval:
		r.Drop = DropInterval
	case a.Version == 2 && a.AuthType != e.AuthType:
		r.Drop = DropAuthType
	case a.Version == 2 && a.AuthType == AuthSimple && !bytes.Equal(a.AuthData[:], e.AuthData[:]):
		r.Drop = DropAuth
	}
	if r.Drop != DropNone {
		return r
	}
	r.AddrMismatch = !sameAddrSet(a.Addrs, e.Addrs)
	return r
}

func sameAddrSet(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.SortFunc(x, netip.Addr.Compare)
	slices.SortFunc(y, netip.Addr.Compare)
	return slices.Equal(x, y)
}
