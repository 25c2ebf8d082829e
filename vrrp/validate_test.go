package vrrp

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

// testExpects are the instances of the keepalived captures (testdata/keepalived/*.conf),
// so captured adverts validate against them.
var testExpects = map[uint8]Expect{
	51: {Version: 2, VRID: 51, Interval: time.Second, Addrs: []netip.Addr{vip1}},
	52: {Version: 2, VRID: 52, Interval: time.Second, AuthType: AuthSimple, AuthData: authData("secret12"), Addrs: []netip.Addr{vip1}},
	53: {Version: 3, VRID: 53, Addrs: []netip.Addr{vip1, vip2}},
	54: {Version: 3, VRID: 54, Addrs: []netip.Addr{vip1}},
	55: {Version: 3, VRID: 55, Addrs: []netip.Addr{vip1}, AcceptOldUnicastChecksum: true},
	56: {Version: 3, VRID: 56, IPv6: true, Addrs: []netip.Addr{vip6, gv6}},
	57: {Version: 2, VRID: 57, Interval: time.Second, Addrs: []netip.Addr{vip1}},
}

// testLookup hands out copies, so nothing a test or Validate does can change the table.
func testLookup(vrid uint8) *Expect {
	e, ok := testExpects[vrid]
	if !ok {
		return nil
	}
	return &e
}

// transportDrops are decided by the transport (interface, peer list, own address), which
// knows things Validate does not; Validate never returns them.
var transportDrops = map[DropReason]bool{DropInterface: true, DropUnknownPeer: true, DropOwn: true}

func pkt2(vrid, prio byte, auth AuthType, secs byte, pass string, addrs ...netip.Addr) Packet {
	return Packet{Src: src4, Dst: GroupV4, TTL: 255, Payload: v2Msg(vrid, prio, auth, secs, pass, addrs...)}
}

func pkt3(vrid byte, centis uint16, src, dst netip.Addr, addrs ...netip.Addr) Packet {
	return Packet{Src: src, Dst: dst, TTL: 255, Payload: v3Msg(vrid, 100, centis, src, dst, addrs...)}
}

func TestValidate(t *testing.T) {
	with := func(p Packet, f func(*Packet)) Packet {
		p.Payload = bytes.Clone(p.Payload)
		f(&p)
		return p
	}
	good2 := pkt2(51, 150, AuthNone, 1, "", vip1)
	good3 := pkt3(53, 100, src4, GroupV4, vip1, vip2)
	good6 := pkt3(56, 100, src6, GroupV6, vip6, gv6)
	oldForm := func(vrid byte) Packet {
		m := vrrpMsg(0x31, vrid, 100, 1, 0, 100, []netip.Addr{vip1}, nil)
		return Packet{Src: src4, Dst: peer, TTL: 255, Payload: sealV3(m, src4, GroupV4)}
	}
	reseal3 := func(p *Packet) { sealV3(p.Payload, p.Src, p.Dst) }
	reseal2 := func(p *Packet) { seal(p.Payload, nil) }

	cases := []struct {
		name     string
		p        Packet
		want     DropReason
		mismatch bool
	}{
		{"v2 accepted", good2, DropNone, false},
		{"v3 ipv4 accepted", good3, DropNone, false},
		{"v3 ipv6 accepted", good6, DropNone, false},
		{"v3 unicast accepted", pkt3(54, 100, src4, peer, vip1), DropNone, false},
		{"v2 simple auth accepted", pkt2(52, 150, AuthSimple, 1, "secret12", vip1), DropNone, false},
		{"priority 0 accepted", pkt2(51, 0, AuthNone, 1, "", vip1), DropNone, false},
		{"trailing bytes accepted", with(good3, func(p *Packet) { p.Payload = append(p.Payload, 1, 2, 3) }), DropNone, false},

		{"ttl 254", with(good2, func(p *Packet) { p.TTL = 254 }), DropTTL, false},
		{"ttl 1", with(good3, func(p *Packet) { p.TTL = 1 }), DropTTL, false},
		{"ttl 0", with(good3, func(p *Packet) { p.TTL = 0 }), DropTTL, false},
		{"hop limit 64", with(good6, func(p *Packet) { p.TTL = 64 }), DropTTL, false},
		{"ttl checked before anything", Packet{TTL: 254}, DropTTL, false},

		{"malformed 7 bytes", with(good2, func(p *Packet) { p.Payload = p.Payload[:7] }), DropMalformed, false},
		{"malformed empty", with(good2, func(p *Packet) { p.Payload = nil }), DropMalformed, false},

		{"version 4", with(good3, func(p *Packet) { p.Payload[0] = 0x41; reseal3(p) }), DropVersion, false},
		{"version 1", with(good2, func(p *Packet) { p.Payload[0] = 0x11; reseal2(p) }), DropVersion, false},
		{"v2 advert to v3 instance", pkt2(53, 150, AuthNone, 1, "", vip1, vip2), DropVersion, false},
		{"v3 advert to v2 instance", pkt3(51, 100, src4, GroupV4, vip1), DropVersion, false},

		{"type 2", with(good3, func(p *Packet) { p.Payload[0] = 0x32; reseal3(p) }), DropType, false},
		{"type 0", with(good2, func(p *Packet) { p.Payload[0] = 0x20; reseal2(p) }), DropType, false},

		{"checksum", with(good2, func(p *Packet) { p.Payload[7] ^= 0x10 }), DropChecksum, false},
		{"v3 checksum without pseudo-header", with(good3, func(p *Packet) { seal(p.Payload, nil) }), DropChecksum, false},
		{"v3 from another source", with(good3, func(p *Packet) { p.Src = ip("192.0.2.9") }), DropChecksum, false},

		{"old checksum not accepted", oldForm(54), DropOldChecksum, false},
		{"old checksum accepted", oldForm(55), DropNone, false},

		{"length: count beyond packet", with(good3, func(p *Packet) { p.Payload[3] = 3; reseal3(p) }), DropLength, false},
		{"length: v2 without auth data", with(good2, func(p *Packet) { p.Payload = p.Payload[:12] }), DropLength, false},

		{"family: v4 instance gets v6 advert", pkt3(53, 100, src6, GroupV6, gv6), DropFamily, false},
		{"family: v6 instance gets v4 advert", pkt3(56, 100, src4, GroupV4, vip1), DropFamily, false},
		{"family: v2 over ipv6", with(good2, func(p *Packet) { p.Src, p.Dst = src6, GroupV6 }), DropFamily, false},
		{"family: v3 without ip header", with(good3, func(p *Packet) { p.Src, p.Dst = netip.Addr{}, netip.Addr{} }), DropFamily, false},

		{"vrid not configured", pkt3(99, 100, src4, GroupV4, vip1), DropVRID, false},
		{"vrid 0 not configured", pkt2(0, 150, AuthNone, 1, "", vip1), DropVRID, false},

		{"no addrs v3", pkt3(53, 100, src4, GroupV4), DropNoAddrs, false},
		{"no addrs v2", pkt2(51, 150, AuthNone, 1, ""), DropNoAddrs, false},

		{"zero interval v3", pkt3(53, 0, src4, GroupV4, vip1, vip2), DropZeroInterval, false},
		{"zero interval v3 with reserved bits", with(good3, func(p *Packet) { p.Payload[4], p.Payload[5] = 0xf0, 0; reseal3(p) }), DropZeroInterval, false},

		{"v2 interval mismatch", pkt2(51, 150, AuthNone, 2, "", vip1), DropInterval, false},
		{"v2 interval 0", pkt2(51, 150, AuthNone, 0, "", vip1), DropInterval, false},

		{"auth type mismatch: none to simple", pkt2(52, 150, AuthNone, 1, "", vip1), DropAuthType, false},
		{"auth type mismatch: simple to none", pkt2(51, 150, AuthSimple, 1, "secret12", vip1), DropAuthType, false},
		{"auth AH", pkt2(52, 150, AuthAH, 1, "secret12", vip1), DropAuthType, false},

		{"auth password mismatch", pkt2(52, 150, AuthSimple, 1, "secret13", vip1), DropAuth, false},
		{"auth password prefix", pkt2(52, 150, AuthSimple, 1, "secret", vip1), DropAuth, false},

		{"addr mismatch: fewer", pkt3(53, 100, src4, GroupV4, vip1), DropNone, true},
		{"addr mismatch: more", pkt3(53, 100, src4, GroupV4, vip1, vip2, ip("192.0.2.102")), DropNone, true},
		{"addr mismatch: other", pkt3(53, 100, src4, GroupV4, vip1, ip("192.0.2.102")), DropNone, true},
		{"addr mismatch: duplicate", pkt3(53, 100, src4, GroupV4, vip1, vip1), DropNone, true},
		{"addr exact, other order", pkt3(53, 100, src4, GroupV4, vip2, vip1), DropNone, false},
		{"addr exact, other order v6", pkt3(56, 100, src6, GroupV6, gv6, vip6), DropNone, false},
	}

	seen := map[DropReason]bool{}
	for _, c := range cases {
		payload := bytes.Clone(c.p.Payload)
		r := Validate(c.p, testLookup)
		seen[r.Drop] = true
		if r.Drop != c.want {
			t.Errorf("%s: Drop = %v, want %v", c.name, r.Drop, c.want)
			continue
		}
		if r.AddrMismatch != c.mismatch {
			t.Errorf("%s: AddrMismatch = %v, want %v", c.name, r.AddrMismatch, c.mismatch)
		}
		if !bytes.Equal(payload, c.p.Payload) {
			t.Errorf("%s: Validate modified the payload", c.name)
		}
		if r.Drop != DropNone {
			if r.AddrMismatch {
				t.Errorf("%s: AddrMismatch set on a dropped packet", c.name)
			}
			continue
		}
		a := r.Advert
		if a.Src != c.p.Src || a.Dst != c.p.Dst || a.VRID != c.p.Payload[1] || a.Priority != c.p.Payload[2] {
			t.Errorf("%s: accepted advert %v does not describe the packet", c.name, &a)
		}
		if want := c.name == "old checksum accepted"; a.OldUnicastChecksum != want {
			t.Errorf("%s: OldUnicastChecksum = %v, want %v", c.name, a.OldUnicastChecksum, want)
		}
	}
	for _, r := range DropReasons() {
		if !seen[r] && !transportDrops[r] {
			t.Errorf("no case produces %v", r)
		}
	}
}

func TestDropReasonStrings(t *testing.T) {
	names := map[string]DropReason{DropNone.String(): DropNone}
	if DropNone.String() != "none" {
		t.Errorf("DropNone.String() = %q", DropNone.String())
	}
	for _, r := range DropReasons() {
		s := r.String()
		if r == DropNone {
			t.Errorf("DropReasons() includes DropNone")
		}
		if s == "" || s == "unknown" {
			t.Errorf("DropReason(%d).String() = %q", r, s)
		}
		if prev, dup := names[s]; dup {
			t.Errorf("DropReason(%d) and DropReason(%d) are both %q", prev, r, s)
		}
		names[s] = r
	}
	if got, want := len(DropReasons()), int(dropReasonCount)-1; got != want {
		t.Errorf("DropReasons() has %d entries, want %d", got, want)
	}
	if s := dropReasonCount.String(); s != "unknown" {
		t.Errorf("out-of-range reason String() = %q, want unknown", s)
	}
}
