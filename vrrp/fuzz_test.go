package vrrp

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false,
	"rewrite the named seeds in testdata/fuzz from testdata/keepalived/adverts.txt and the hand-made list")

// addrFromBytes turns the fuzzer's 4 or 16 bytes into an address; any other length is the
// zero Addr, which stands for "the transport gave no IP header".
func addrFromBytes(b []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(b)
	return a
}

var decodeErrors = []error{ErrTooShort, ErrVersion, ErrType, ErrChecksum, ErrNoPseudoHeader, ErrFamily, ErrAuthType}

// canonical is the message b as our encoder sends it: identical except that the v3
// reserved bits, ignored on receipt, are sent as zero, with the checksum fixed to match.
func canonical(b []byte, a *Advert) []byte {
	if b[0]>>4 != 3 || b[4]&0xf0 == 0 {
		return b
	}
	c := bytes.Clone(b)
	c[4] &= 0x0f
	dst := a.Dst
	if a.OldUnicastChecksum {
		dst = GroupV4
	}
	return sealV3(c, a.Src, dst)
}

func FuzzAdvertUnmarshal(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzAdvertUnmarshal (every keepalived capture, hand-made cases).
	f.Fuzz(func(t *testing.T, data, src, dst []byte) {
		in := bytes.Clone(data)
		a := Advert{Src: addrFromBytes(src), Dst: addrFromBytes(dst)}
		err := a.UnmarshalBinary(data)
		if !bytes.Equal(in, data) {
			t.Fatalf("UnmarshalBinary modified its input")
		}
		if a.Src != addrFromBytes(src) || a.Dst != addrFromBytes(dst) {
			t.Fatalf("UnmarshalBinary changed Src/Dst to %v>%v", a.Src, a.Dst)
		}
		if err != nil {
			if !isOneOf(err, decodeErrors) {
				t.Fatalf("error %q wraps no decode sentinel", err)
			}
			return
		}
		n := a.Len()
		if n > len(data) {
			t.Fatalf("decoded %d-byte message from %d bytes", n, len(data))
		}
		b := a
		out, err := b.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded %+v from %x, but it does not re-encode: %v", a, data, err)
		}
		if want := canonical(data[:n], &a); !bytes.Equal(out, want) {
			t.Fatalf("encode(decode(b)) != b\n got %x\nwant %x\n(%+v)", out, want, a)
		}
		c := Advert{Src: a.Src, Dst: a.Dst}
		if err := c.UnmarshalBinary(out); err != nil || !reflect.DeepEqual(c, b) {
			t.Fatalf("decode(encode(x)) != x: %v\n got %+v\nwant %+v", err, c, b)
		}
	})
}

func isOneOf(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// FuzzValidate runs against a fixed configuration, testLookup: the instances of the
// keepalived captures, so captured seeds reach the checks after the lookup.
func FuzzValidate(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzValidate (every keepalived capture, hand-made cases).
	f.Fuzz(func(t *testing.T, ttl uint8, payload, src, dst []byte) {
		in := bytes.Clone(payload)
		p := Packet{Src: addrFromBytes(src), Dst: addrFromBytes(dst), TTL: int(ttl), Payload: payload}
		r := Validate(p, testLookup)
		if !bytes.Equal(in, payload) {
			t.Fatalf("Validate modified the payload")
		}
		if r.Drop >= dropReasonCount || transportDrops[r.Drop] {
			t.Fatalf("Validate returned %v (%d)", r.Drop, r.Drop)
		}
		if (ttl != 255) != (r.Drop == DropTTL) {
			t.Fatalf("TTL %d gave %v", ttl, r.Drop)
		}
		if r.Drop != DropNone {
			if r.AddrMismatch {
				t.Fatalf("AddrMismatch on a packet dropped for %v", r.Drop)
			}
			return
		}
		a := r.Advert
		e := testLookup(a.VRID)
		if e == nil || a.Version != e.Version || a.IsIPv6() != e.IPv6 || len(a.Addrs) == 0 {
			t.Fatalf("accepted %v that instance %+v should not accept", &a, e)
		}
		if r.AddrMismatch != !sameAddrSet(a.Addrs, e.Addrs) {
			t.Fatalf("AddrMismatch %v for %v", r.AddrMismatch, a.Addrs)
		}
		if _, err := a.MarshalBinary(); err != nil {
			t.Fatalf("accepted %v does not re-encode: %v", &a, err)
		}
	})
}

// seed is one named corpus entry.
type seed struct {
	name     string
	ttl      uint8
	payload  []byte
	src, dst netip.Addr
}

// handSeeds are valid and invalid packets made by hand, beyond the keepalived captures.
func handSeeds(t testing.TB) []seed {
	var s []seed
	for _, g := range golden {
		name := "golden-" + strings.ReplaceAll(g.name, " ", "-")
		s = append(s, seed{name: name, ttl: 255, payload: mustHex(t, g.hex), src: g.adv.Src, dst: g.adv.Dst})
	}
	v2 := mustHex(t, golden[1].hex)
	v3 := mustHex(t, golden[2].hex)
	v6 := mustHex(t, golden[5].hex)
	set := func(b []byte, i int, v byte) []byte { b = bytes.Clone(b); b[i] = v; return b }
	many6 := make([]netip.Addr, 255)
	for i := range many6 {
		many6[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)})
	}
	s = append(s,
		seed{"v2-no-ip-header", 255, v2, netip.Addr{}, netip.Addr{}},
		seed{"v3-no-ip-header", 255, v3, netip.Addr{}, netip.Addr{}},
		seed{"v3-ttl-254", 254, v3, src4, GroupV4},
		seed{"v3-ttl-1", 1, v3, src4, GroupV4},
		seed{"empty", 255, nil, src4, GroupV4},
		seed{"header-only", 255, v3[:8], src4, GroupV4},
		seed{"v2-truncated-auth", 255, v2[:15], src4, GroupV4},
		seed{"v2-over-ipv6", 255, v2, src6, GroupV6},
		seed{"v3-v6-header-v4-dst", 255, v6, src6, GroupV4},
		seed{"v3-trailing", 255, append(bytes.Clone(v3), 0xde, 0xad, 0xbe), src4, GroupV4},
		seed{"v3-reserved-bits", 255, sealV3(set(v3, 4, 0xf0), src4, GroupV4), src4, GroupV4},
		seed{"v3-zero-interval", 255, v3Msg(53, 150, 0, src4, GroupV4, vip1, vip2), src4, GroupV4},
		seed{"v3-no-addrs", 255, v3Msg(53, 150, 100, src4, GroupV4), src4, GroupV4},
		seed{"v3-255-ipv6-addrs", 255, v3Msg(56, 150, 100, src6, GroupV6, many6...), src6, GroupV6},
		seed{"v3-no-pseudo-header", 255, seal(bytes.Clone(v3), nil), src4, GroupV4},
		seed{"v3-bad-checksum", 255, set(v3, 7, v3[7]^0xff), src4, GroupV4},
		seed{"version-4", 255, sealV3(set(v3, 0, 0x41), src4, GroupV4), src4, GroupV4},
		seed{"type-2", 255, sealV3(set(v3, 0, 0x32), src4, GroupV4), src4, GroupV4},
		seed{"v2-auth-ah", 255, seal(set(v2, 4, 2), nil), src4, GroupV4},
		seed{"v2-wrong-password", 255, v2Msg(52, 150, AuthSimple, 1, "secret13", vip1), src4, GroupV4},
		seed{"v2-interval-mismatch", 255, v2Msg(51, 150, AuthNone, 3, "", vip1), src4, GroupV4},
		seed{"v2-priority-0", 255, v2Msg(51, 0, AuthNone, 1, "", vip1), src4, GroupV4},
		seed{"v3-vrid-unknown", 255, v3Msg(200, 150, 100, src4, GroupV4, vip1), src4, GroupV4},
		seed{"v3-addr-mismatch", 255, v3Msg(53, 150, 100, src4, GroupV4, vip2), src4, GroupV4},
		seed{"v3-4in6-src", 255, v3, netip.AddrFrom16(src4.As16()), netip.AddrFrom16(GroupV4.As16())},
		// Found by the fuzzer (also kept under their hash names): a v2 interval of 0 decoded
		// but did not re-encode; an IPv4-mapped address in an IPv6 advert likewise.
		seed{"v2-interval-0", 255, v2Msg(51, 150, AuthNone, 0, "", vip1), src4, GroupV4},
		seed{"v3-ipv6-mapped-addr", 255, v3Msg(56, 150, 100, src6, GroupV6, ip("::ffff:192.0.2.100"), gv6), src6, GroupV6},
	)
	return s
}

// captureSeeds has one seed for every line of the keepalived captures.
func captureSeeds(t testing.TB) []seed {
	var s []seed
	for _, c := range readCaptures(t) {
		s = append(s, seed{
			name:    fmt.Sprintf("keepalived-%s-%03d", c.name, c.line),
			ttl:     uint8(c.ttl),
			payload: c.payload,
			src:     c.src,
			dst:     c.dst,
		})
	}
	return s
}

// corpusFile renders values in the "go test fuzz v1" format.
func corpusFile(vals ...any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, v := range vals {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case uint8:
			fmt.Fprintf(&b, "byte(%q)\n", rune(v))
		default:
			panic(fmt.Sprintf("corpusFile: %T", v))
		}
	}
	return b.Bytes()
}

// wantCorpus maps every generated corpus path to its content.
func wantCorpus(t testing.TB) map[string][]byte {
	files := map[string][]byte{}
	for _, s := range append(captureSeeds(t), handSeeds(t)...) {
		src, dst := s.src.AsSlice(), s.dst.AsSlice()
		files[filepath.Join("testdata", "fuzz", "FuzzAdvertUnmarshal", s.name)] = corpusFile(s.payload, src, dst)
		files[filepath.Join("testdata", "fuzz", "FuzzValidate", s.name)] = corpusFile(s.ttl, s.payload, src, dst)
	}
	return files
}

// generated reports whether a corpus file is one TestWriteCorpus owns. The others are
// inputs the fuzzer found, named by the first 16 hex digits of their SHA-256, kept as
// regression tests.
func generated(name string) bool {
	return !isHashName(name)
}

func isHashName(name string) bool {
	if len(name) != 16 {
		return false
	}
	for _, c := range name {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// TestWriteCorpus regenerates the named seeds: go test ./vrrp -run TestWriteCorpus -update-corpus
func TestWriteCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	want := wantCorpus(t)
	for _, target := range []string{"FuzzAdvertUnmarshal", "FuzzValidate"} {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			if _, keep := want[p]; !keep && generated(e.Name()) {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for p, b := range want {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The checked-in corpus holds every captured packet; a new capture needs -update-corpus.
func TestCorpusUpToDate(t *testing.T) {
	for p, want := range wantCorpus(t) {
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is missing or stale (%v): go test ./vrrp -run TestWriteCorpus -update-corpus", p, err)
		}
	}
}
