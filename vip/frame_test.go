package vip

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
)

// Captures of keepalived 2.2.7 (see ../vrrp/testdata/keepalived/NOTES.md): one whole
// Ethernet frame per line, "<capture> <hex>".
const (
	keepalivedGARPs = "../vrrp/testdata/keepalived/garps.txt"
	keepalivedNAs   = "../vrrp/testdata/keepalived/nas.txt"
)

func readFrames(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("keepalived capture: %v", err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			continue
		}
		b, err := hex.DecodeString(fields[1])
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, b)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no frames", path)
	}
	return out
}

// garp is a gratuitous ARP frame taken apart field by field.
type garp struct {
	Len            int
	EthDst, EthSrc net.HardwareAddr
	EtherType      uint16
	HType, PType   uint16
	HLen, PLen     uint8
	Op             uint16
	SHA, THA       net.HardwareAddr
	SPA, TPA       netip.Addr
}

func parseGARP(b []byte) (garp, bool) {
	if len(b) < garpFrameLen {
		return garp{}, false
	}
	g := garp{
		Len:       len(b),
		EthDst:    net.HardwareAddr(b[0:6]),
		EthSrc:    net.HardwareAddr(b[6:12]),
		EtherType: binary.BigEndian.Uint16(b[12:14]),
		HType:     binary.BigEndian.Uint16(b[14:16]),
		PType:     binary.BigEndian.Uint16(b[16:18]),
		HLen:      b[18],
		PLen:      b[19],
		Op:        binary.BigEndian.Uint16(b[20:22]),
		SHA:       net.HardwareAddr(b[22:28]),
		SPA:       netip.AddrFrom4([4]byte(b[28:32])),
		THA:       net.HardwareAddr(b[32:38]),
		TPA:       netip.AddrFrom4([4]byte(b[38:42])),
	}
	return g, g.EtherType == etherTypeARP
}

// na is an unsolicited neighbour advertisement frame taken apart field by field.
type na struct {
	Len                   int
	EthDst, EthSrc        net.HardwareAddr
	EtherType             uint16
	Version, TrafficClass uint8
	FlowLabel             uint32
	PayloadLen            uint16
	NextHeader, HopLimit  uint8
	Src, Dst              netip.Addr
	Type, Code            uint8
	Checksum              uint16
	Flags                 uint8 // R S O and 5 reserved bits
	Reserved              [3]byte
	Target                netip.Addr
	OptType, OptLen       uint8
	OptLLA                net.HardwareAddr
	ChecksumOK            bool
}

func parseNA(b []byte) (na, bool) {
	if len(b) < naFrameLen || binary.BigEndian.Uint16(b[12:14]) != etherTypeIPv6 || b[20] != protoICMPv6 || b[54] != 136 {
		return na{}, false
	}
	vtf := binary.BigEndian.Uint32(b[14:18])
	n := na{
		Len:          len(b),
		EthDst:       net.HardwareAddr(b[0:6]),
		EthSrc:       net.HardwareAddr(b[6:12]),
		EtherType:    etherTypeIPv6,
		Version:      uint8(vtf >> 28),
		TrafficClass: uint8(vtf >> 20),
		FlowLabel:    vtf & 0xfffff,
		PayloadLen:   binary.BigEndian.Uint16(b[18:20]),
		NextHeader:   b[20],
		HopLimit:     b[21],
		Src:          netip.AddrFrom16([16]byte(b[22:38])),
		Dst:          netip.AddrFrom16([16]byte(b[38:54])),
		Type:         b[54],
		Code:         b[55],
		Checksum:     binary.BigEndian.Uint16(b[56:58]),
		Flags:        b[58],
		Reserved:     [3]byte(b[59:62]),
		Target:       netip.AddrFrom16([16]byte(b[62:78])),
		OptType:      b[78],
		OptLen:       b[79],
		OptLLA:       net.HardwareAddr(b[80:86]),
	}
	n.ChecksumOK = icmpv6Checksum(n.Src, n.Dst, b[54:54+int(n.PayloadLen)]) == 0
	return n, true
}

// icmpv6Checksum sums the pseudo-header and msg (checksum field included): 0 when valid.
func icmpv6Checksum(src, dst netip.Addr, msg []byte) uint16 {
	var ph []byte
	ph = append(ph, src.AsSlice()...)
	ph = append(ph, dst.AsSlice()...)
	ph = binary.BigEndian.AppendUint32(ph, uint32(len(msg)))
	ph = append(ph, 0, 0, 0, protoICMPv6)
	var sum uint32
	for _, b := range [][]byte{ph, msg} {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// checkGARPShape asserts that got is a gratuitous ARP for vip from mac with every other
// field equal to keepalived's frame ref, and that the addresses relate as in ref
// (Ethernet source = sender MAC; sender IP = target IP).
func checkGARPShape(t testing.TB, ref, got []byte, mac net.HardwareAddr, vip netip.Addr) {
	t.Helper()
	r, ok := parseGARP(ref)
	if !ok {
		t.Fatalf("keepalived frame is not ARP: %x", ref)
	}
	g, ok := parseGARP(got)
	if !ok {
		t.Fatalf("not an ARP frame: %x", got)
	}
	same := func(field string, a, b any) {
		t.Helper()
		if !equal(a, b) {
			t.Errorf("GARP %s = %v, keepalived sends %v", field, b, a)
		}
	}
	same("length", r.Len, g.Len)
	same("Ethernet destination", r.EthDst, g.EthDst)
	same("EtherType", r.EtherType, g.EtherType)
	same("hardware type", r.HType, g.HType)
	same("protocol type", r.PType, g.PType)
	same("hardware length", r.HLen, g.HLen)
	same("protocol length", r.PLen, g.PLen)
	same("operation", r.Op, g.Op)
	same("target MAC", r.THA, g.THA)
	same("relation Ethernet source = sender MAC", bytes.Equal(r.EthSrc, r.SHA), bytes.Equal(g.EthSrc, g.SHA))
	same("relation sender IP = target IP", r.SPA == r.TPA, g.SPA == g.TPA)
	same("our sender MAC", mac, g.SHA)
	same("our sender IP", vip, g.SPA)
}

// checkNAShape is checkGARPShape for neighbour advertisements.
func checkNAShape(t testing.TB, ref, got []byte, mac net.HardwareAddr, vip netip.Addr) {
	t.Helper()
	r, ok := parseNA(ref)
	if !ok {
		t.Fatalf("keepalived frame is not a neighbour advertisement: %x", ref)
	}
	g, ok := parseNA(got)
	if !ok {
		t.Fatalf("not a neighbour advertisement: %x", got)
	}
	same := func(field string, a, b any) {
		t.Helper()
		if !equal(a, b) {
			t.Errorf("NA %s = %v, keepalived sends %v", field, b, a)
		}
	}
	same("length", r.Len, g.Len)
	same("Ethernet destination", r.EthDst, g.EthDst)
	same("IP version", r.Version, g.Version)
	same("traffic class", r.TrafficClass, g.TrafficClass)
	same("flow label", r.FlowLabel, g.FlowLabel)
	same("payload length", r.PayloadLen, g.PayloadLen)
	same("next header", r.NextHeader, g.NextHeader)
	same("hop limit", r.HopLimit, g.HopLimit)
	same("IP destination", r.Dst, g.Dst)
	same("ICMPv6 type", r.Type, g.Type)
	same("ICMPv6 code", r.Code, g.Code)
	same("flags (R S O)", r.Flags, g.Flags)
	same("reserved", r.Reserved, g.Reserved)
	same("option type", r.OptType, g.OptType)
	same("option length", r.OptLen, g.OptLen)
	same("checksum valid", r.ChecksumOK, g.ChecksumOK)
	same("relation IP source = target", r.Src == r.Target, g.Src == g.Target)
	same("relation Ethernet source = option MAC", bytes.Equal(r.EthSrc, r.OptLLA), bytes.Equal(g.EthSrc, g.OptLLA))
	same("our target", vip, g.Target)
	same("our MAC", mac, g.OptLLA)
}

func equal(a, b any) bool {
	if x, ok := a.(net.HardwareAddr); ok {
		return bytes.Equal(x, b.(net.HardwareAddr))
	}
	return a == b
}

// With keepalived's own MAC and VIPs, our frames must be keepalived's byte for byte:
// every field, the checksum, the length (no padding).
func TestFramesMatchKeepalivedBytes(t *testing.T) {
	for _, file := range []string{keepalivedGARPs, keepalivedNAs} {
		for i, ref := range readFrames(t, file) {
			mac := net.HardwareAddr(ref[6:12])
			var vip netip.Addr
			if g, ok := parseGARP(ref); ok {
				vip = g.SPA
			} else if n, ok := parseNA(ref); ok {
				vip = n.Target
			} else {
				t.Fatalf("%s frame %d: neither GARP nor NA", file, i)
			}
			got, err := announceFrame(mac, vip, false)
			if err != nil {
				t.Fatalf("%s frame %d (%s): %v", file, i, vip, err)
			}
			if !bytes.Equal(got, ref) {
				t.Errorf("%s frame %d (%s):\n ours       %x\n keepalived %x", file, i, vip, got, ref)
			}
		}
	}
}

// Other MACs and VIPs keep keepalived's shape.
func TestFramesKeepalivedShape(t *testing.T) {
	garps, nas := readFrames(t, keepalivedGARPs), readFrames(t, keepalivedNAs)
	mac := net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x01, 0x33}
	for _, s := range []string{"198.51.100.7", "203.0.113.255", "10.1.2.3"} {
		vip := netip.MustParseAddr(s)
		f, err := announceFrame(mac, vip, false)
		if err != nil {
			t.Fatal(err)
		}
		checkGARPShape(t, garps[0], f, mac, vip)
	}
	for _, s := range []string{"2001:db8:1::1", "fe80::1", "fe80::1%eth0", "2001:db8::ffff"} {
		vip := netip.MustParseAddr(s)
		f, err := announceFrame(mac, vip, false)
		if err != nil {
			t.Fatal(err)
		}
		checkNAShape(t, nas[0], f, mac, vip.WithZone(""))
	}
	// An IPv4-mapped IPv6 address is the IPv4 VIP.
	f, err := announceFrame(mac, netip.MustParseAddr("::ffff:198.51.100.7"), false)
	if err != nil {
		t.Fatal(err)
	}
	checkGARPShape(t, garps[0], f, mac, netip.MustParseAddr("198.51.100.7"))
}

func TestAnnounceFrameRejects(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	for _, s := range []string{"0.0.0.0", "::", "224.0.0.18", "ff02::1", "255.255.255.255"} {
		if _, err := announceFrame(mac, netip.MustParseAddr(s), false); !errors.Is(err, ErrBadVIP) {
			t.Errorf("%s: err = %v, want ErrBadVIP", s, err)
		}
	}
	if _, err := announceFrame(mac, netip.Addr{}, false); !errors.Is(err, ErrBadVIP) {
		t.Errorf("zero Addr: err = %v, want ErrBadVIP", err)
	}
	for _, m := range []net.HardwareAddr{nil, {1, 2, 3}, make(net.HardwareAddr, 8)} {
		if _, err := announceFrame(m, netip.MustParseAddr("192.0.2.1"), false); !errors.Is(err, ErrBadMAC) {
			t.Errorf("MAC %q: err = %v, want ErrBadMAC", m, err)
		}
	}
}

func TestVirtualMAC(t *testing.T) {
	for _, c := range []struct {
		vrid uint8
		six  bool
		want string
	}{
		{51, false, "00:00:5e:00:01:33"},
		{51, true, "00:00:5e:00:02:33"},
		{1, false, "00:00:5e:00:01:01"},
		{255, true, "00:00:5e:00:02:ff"},
	} {
		if got := VirtualMAC(c.vrid, c.six).String(); got != c.want {
			t.Errorf("VirtualMAC(%d, %v) = %s, want %s", c.vrid, c.six, got, c.want)
		}
	}
}

func TestVMACSource(t *testing.T) {
	a := netip.MustParseAddr("fe80::ff:fe00:1")
	b := netip.MustParseAddr("fe80::ff:fe00:2")
	src := VMACSource(a, 51)
	if !src.IsLinkLocalUnicast() || !src.Is6() || src.As16()[8]&0x02 != 0 {
		t.Errorf("VMACSource = %s: want link-local with the u/l bit clear", src)
	}
	if VMACSource(a, 51) != src {
		t.Error("VMACSource is not deterministic")
	}
	for _, other := range []netip.Addr{VMACSource(b, 51), VMACSource(a, 52), a, netip.MustParseAddr("fe80::200:5eff:fe00:233")} {
		if other == src {
			t.Errorf("VMACSource(%s, 51) = %s collides", a, src)
		}
	}
	if src.As16()[2] != 0 || src.As16()[7] != 0 {
		t.Errorf("VMACSource = %s: not in fe80::/64", src)
	}
}

// The Router flag (RFC 5798 §6.4.2, RFC 4861 §4.4): keepalived's frame with R set is the
// same frame but for the flags byte (O → R|O) and the checksum, which stays valid. A GARP
// has no such flag and does not change.
func TestNARouterFlag(t *testing.T) {
	ref := readFrames(t, keepalivedNAs)[0]
	mac := net.HardwareAddr(ref[6:12])
	n, _ := parseNA(ref)
	if n.Flags != 0x20 {
		t.Fatalf("keepalived's capture has flags %#x, want O only (0x20)", n.Flags)
	}
	off, err := announceFrame(mac, n.Target, false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(off, ref) {
		t.Errorf("router off:\n ours       %x\n keepalived %x", off, ref)
	}
	on, err := announceFrame(mac, n.Target, true)
	if err != nil {
		t.Fatal(err)
	}
	g, ok := parseNA(on)
	if !ok || g.Flags != 0xa0 || !g.ChecksumOK {
		t.Fatalf("router on: flags %#x (want R|O = 0xa0), checksum valid %v: %x", g.Flags, g.ChecksumOK, on)
	}
	var diff []int
	for i := range on {
		if on[i] != ref[i] {
			diff = append(diff, i)
		}
	}
	// Byte 58 is the flags; 56-57 the ICMPv6 checksum.
	for _, i := range diff {
		if i != 56 && i != 57 && i != 58 {
			t.Errorf("router on changes byte %d: %x → %x", i, ref[i], on[i])
		}
	}
	g4 := netip.MustParseAddr("192.0.2.100")
	a, _ := announceFrame(mac, g4, false)
	b, _ := announceFrame(mac, g4, true)
	if !bytes.Equal(a, b) {
		t.Errorf("the router flag changed a GARP:\n%x\n%x", a, b)
	}
}
