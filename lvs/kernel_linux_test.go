package lvs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/moby/ipvs"
	"golang.org/x/sys/unix"
)

// On a kernel without IPVS (this development machine's), OpenIPVS says so in one
// error and never reaches moby/ipvs.
func TestOpenIPVSWithoutIPVS(t *testing.T) {
	if HasIPVS() {
		t.Skip("this kernel has IPVS; the VM tests cover OpenIPVS")
	}
	start := time.Now()
	k, err := OpenIPVS(IPVSOptions{})
	if err != ErrNoIPVS {
		if k != nil {
			k.Close()
		}
		t.Fatalf("err %v, want exactly ErrNoIPVS", err)
	}
	if err.Error() != "kernel has no IPVS: load ip_vs" {
		t.Fatalf("message %q", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("detection took %v", d)
	}
}

// The conversions to and from moby/ipvs are inverse, including the netmask's byte
// order and the HASHED flag the kernel adds. (toMoby* exist for the tests, which
// use them to act behind lvs's back with the raw moby API.)
func TestMobyConversionsRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		k := randKey(r, r.IntN(2) == 0)
		svc := randService(r, k, genOptions{})
		m := toMobyService(svc)
		m.Flags |= uint32(FlagHashed)
		back, err := fromMobyService(m)
		if err != nil || back != svc {
			t.Fatalf("%+v -> %+v -> %+v (%v)", svc, m, back, err)
		}
		d := randDest(r, k.Family)
		bd, err := fromMobyDest(toMobyDest(d))
		if err != nil || bd != d {
			t.Fatalf("%+v -> %+v (%v)", d, bd, err)
		}
	}
}

// The moby/ipvs decoding, kept as an independent reader: the VM tests read every
// table through it too, and the benchmark compares the two.

func addrFromIP(ip net.IP) (netip.Addr, error) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}, fmt.Errorf("bad address %v", ip)
	}
	return a.Unmap(), nil
}

func fromMobyService(s *ipvs.Service) (Service, error) {
	fam, err := familyFromAF(s.AddressFamily)
	if err != nil {
		return Service{}, err
	}
	var svc Service
	if s.FWMark != 0 {
		svc.Key = MarkKey(fam, s.FWMark)
	} else {
		a, err := addrFromIP(s.Address)
		if err != nil {
			return Service{}, err
		}
		svc.Key = AddrKey(Protocol(s.Protocol), netip.AddrPortFrom(a, s.Port))
	}
	svc.Scheduler = s.SchedName
	svc.Flags = Flags(s.Flags) &^ FlagHashed
	svc.Timeout = time.Duration(s.Timeout) * time.Second
	if fam == IPv4 {
		// moby/ipvs reads the network-order mask as a host-order u32.
		var b [4]byte
		binary.NativeEndian.PutUint32(b[:], s.Netmask)
		svc.Netmask = bits.LeadingZeros32(^binary.BigEndian.Uint32(b[:]))
	} else {
		svc.Netmask = int(s.Netmask)
	}
	return svc.Normalize(), nil
}

func fromMobyDest(d *ipvs.Destination) (Destination, error) {
	a, err := addrFromIP(d.Address)
	if err != nil {
		return Destination{}, err
	}
	fwd := map[uint32]Forwarding{ipvs.ConnFwdMasq: ForwardNAT, ipvs.ConnFwdLocalNode: ForwardLocal, ipvs.ConnFwdTunnel: ForwardTunnel,
		ipvs.ConnFwdDirectRoute: ForwardDR, ipvs.ConnFwdBypass: ForwardBypass}[d.ConnectionFlags&ipvs.ConnFwdMask]
	return Destination{Addr: netip.AddrPortFrom(a, d.Port), Forwarding: fwd, Weight: d.Weight,
		UpperThreshold: d.UpperThreshold, LowerThreshold: d.LowerThreshold}, nil
}

// toMobyService is s as moby/ipvs would send it.
func toMobyService(s Service) *ipvs.Service {
	s = s.Normalize()
	m := &ipvs.Service{
		AddressFamily: afOf(s.Family),
		FWMark:        s.FWMark,
		SchedName:     s.Scheduler,
		Flags:         uint32(s.Flags),
		Timeout:       uint32(s.Timeout / time.Second),
		Netmask:       binary.NativeEndian.Uint32(appendNetmask(nil, s)),
	}
	if !s.IsFWMark() {
		m.Protocol = uint16(s.Protocol)
		m.Address = net.IP(s.Addr.Addr().AsSlice())
		m.Port = s.Addr.Port()
	}
	return m
}

func toMobyDest(d Destination) *ipvs.Destination {
	fwd := map[Forwarding]uint32{ForwardDR: ipvs.ConnFwdDirectRoute, ForwardNAT: ipvs.ConnFwdMasq, ForwardTunnel: ipvs.ConnFwdTunnel,
		ForwardLocal: ipvs.ConnFwdLocalNode, ForwardBypass: ipvs.ConnFwdBypass}[d.Forwarding]
	a := d.Addr.Addr().Unmap()
	return &ipvs.Destination{Address: net.IP(a.AsSlice()), Port: d.Addr.Port(), AddressFamily: afOf(FamilyOf(a)),
		ConnectionFlags: fwd, Weight: d.Weight, UpperThreshold: d.UpperThreshold, LowerThreshold: d.LowerThreshold}
}

func TestNetmaskBytes(t *testing.T) {
	// The kernel keeps an IPv4 mask in network byte order.
	if b := appendNetmask(nil, Service{Key: vip80, Flags: FlagPersistent, Netmask: 24}); !bytes.Equal(b, []byte{0xff, 0xff, 0xff, 0}) {
		t.Fatalf("netmask bytes % x", b)
	}
	// A non-persistent service still sends the full mask, as ipvsadm does (a zero
	// IPv4 mask would be kept by the kernel).
	if b := appendNetmask(nil, Service{Key: vip80}.Normalize()); !bytes.Equal(b, []byte{0xff, 0xff, 0xff, 0xff}) {
		t.Fatalf("default netmask % x", b)
	}
	v6 := Service{Key: AddrKey(TCP, netip.MustParseAddrPort("[2001:db8::1]:80"))}.Normalize()
	if n := binary.NativeEndian.Uint32(appendNetmask(nil, v6)); n != 128 {
		t.Fatalf("IPv6 netmask %d", n)
	}
}

// The encoder's requests, parsed back with mdlayher/netlink's plain attribute
// parser (not ours).
func TestEncodeOp(t *testing.T) {
	svc := Service{Key: AddrKey(UDP, netip.MustParseAddrPort("192.0.2.100:53")), Scheduler: "sh",
		Flags: FlagPersistent | FlagSHPort | FlagHashed, Timeout: 300 * time.Second, Netmask: 24}
	d := Destination{Addr: netip.MustParseAddrPort("[2001:db8:1::5]:5353"), Forwarding: ForwardTunnel, Weight: 7, UpperThreshold: 9, LowerThreshold: 3}
	cmd, b, err := encodeOp(Op{Kind: UpdateDest, Service: svc, Dest: d})
	if err != nil {
		t.Fatal(err)
	}
	if cmd != ipvsCmdSetDest {
		t.Fatalf("command %d", cmd)
	}
	top := mustAttrs(t, b)
	if len(top) != 2 || top[0].Type != netlink.Nested|ipvsCmdAttrService || top[1].Type != netlink.Nested|ipvsCmdAttrDest {
		t.Fatalf("top-level attributes %+v", top)
	}
	sa, da := mustAttrs(t, top[0].Data), mustAttrs(t, top[1].Data)
	get := func(as []netlink.Attribute, typ uint16) []byte {
		for _, a := range as {
			if a.Type == typ {
				return a.Data
			}
		}
		t.Fatalf("attribute %d missing", typ)
		return nil
	}
	for _, c := range []struct {
		name      string
		got, want []byte
	}{
		{"af", get(sa, ipvsSvcAttrAF), binary.NativeEndian.AppendUint16(nil, unix.AF_INET)},
		{"protocol", get(sa, ipvsSvcAttrProtocol), binary.NativeEndian.AppendUint16(nil, unix.IPPROTO_UDP)},
		{"addr", get(sa, ipvsSvcAttrAddr), []byte{192, 0, 2, 100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"port", get(sa, ipvsSvcAttrPort), []byte{0, 53}},
		{"sched", get(sa, ipvsSvcAttrSchedName), []byte("sh\x00")},
		{"flags", get(sa, ipvsSvcAttrFlags), append(binary.NativeEndian.AppendUint32(nil, 0x11), 0xff, 0xff, 0xff, 0xff)},
		{"timeout", get(sa, ipvsSvcAttrTimeout), binary.NativeEndian.AppendUint32(nil, 300)},
		{"netmask", get(sa, ipvsSvcAttrNetmask), []byte{0xff, 0xff, 0xff, 0}},
		{"dest addr", get(da, ipvsDestAttrAddr), netip.MustParseAddr("2001:db8:1::5").AsSlice()},
		{"dest port", get(da, ipvsDestAttrPort), []byte{0x14, 0xe9}},
		{"fwd", get(da, ipvsDestAttrFwdMethod), binary.NativeEndian.AppendUint32(nil, connFwdTunnel)},
		{"weight", get(da, ipvsDestAttrWeight), binary.NativeEndian.AppendUint32(nil, 7)},
		{"uthresh", get(da, ipvsDestAttrUThresh), binary.NativeEndian.AppendUint32(nil, 9)},
		{"lthresh", get(da, ipvsDestAttrLThresh), binary.NativeEndian.AppendUint32(nil, 3)},
		{"dest af", get(da, ipvsDestAttrAF), binary.NativeEndian.AppendUint16(nil, unix.AF_INET6)},
	} {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("%s: % x, want % x", c.name, c.got, c.want)
		}
	}
	// A fwmark service carries its mark, no protocol, address or port.
	cmd, b, _ = encodeOp(Op{Kind: DeleteService, Service: Service{Key: MarkKey(IPv6, 7)}})
	top = mustAttrs(t, b)
	sa = mustAttrs(t, top[0].Data)
	if cmd != ipvsCmdDelService || len(top) != 1 || !bytes.Equal(get(sa, ipvsSvcAttrFWMark), binary.NativeEndian.AppendUint32(nil, 7)) ||
		!bytes.Equal(get(sa, ipvsSvcAttrNetmask), binary.NativeEndian.AppendUint32(nil, 128)) {
		t.Fatalf("fwmark service attrs %+v", sa)
	}
	for _, a := range sa {
		if a.Type == ipvsSvcAttrProtocol || a.Type == ipvsSvcAttrAddr || a.Type == ipvsSvcAttrPort {
			t.Errorf("fwmark service has attribute %d", a.Type)
		}
	}
	for _, bad := range []Op{
		{Kind: AddDest, Service: svc, Dest: Destination{Addr: d.Addr, Weight: 70000}},
		{Kind: AddDest, Service: svc, Dest: Destination{Addr: d.Addr, Forwarding: 9}},
		{Kind: 99, Service: svc},
		{Kind: AddService, Service: Service{Key: Key{Family: IPv6, Protocol: TCP, Addr: vip80.Addr}}},
	} {
		if _, b, err := encodeOp(bad); err == nil || b != nil {
			t.Errorf("%+v encoded (%d bytes, err %v), want an error and nothing", bad, len(b), err)
		}
	}
}

func mustAttrs(t *testing.T, b []byte) []netlink.Attribute {
	t.Helper()
	as, err := netlink.UnmarshalAttributes(b)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

func TestOpErrorMapping(t *testing.T) {
	add := Op{Kind: AddService, Service: Service{Key: vip80, Scheduler: "twos"}}
	if err := opError(add, errnoENOENT); !errors.Is(err, ErrNoScheduler) {
		t.Errorf("add ENOENT: %v", err)
	}
	if err := opError(Op{Kind: UpdateService, Service: Service{Key: vip80}}, errnoESRCH); !errors.Is(err, ErrNotFound) {
		t.Errorf("update ESRCH: %v", err)
	}
	if err := opError(Op{Kind: DeleteService, Service: Service{Key: vip80}}, errnoESRCH); err != nil {
		t.Errorf("delete of a missing service: %v", err)
	}
	if err := opError(Op{Kind: DeleteDest, Service: Service{Key: vip80}}, errnoENOENT); err != nil {
		t.Errorf("delete of a missing destination: %v", err)
	}
	if err := opError(Op{Kind: AddDest, Service: Service{Key: vip80}}, errnoEEXIST); !errors.Is(err, ErrExists) || !errors.Is(err, errnoEEXIST) {
		t.Errorf("add dest EEXIST: %v", err)
	}
}

var (
	errnoENOENT error = unix.ENOENT
	errnoESRCH  error = unix.ESRCH
	errnoEEXIST error = unix.EEXIST
)

// The reader decodes what the writer encodes (the kernel answers with the same
// nests, plus counters): parse(encode(x)) == x for random services and
// destinations.
func TestParseAnswersRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		k := randKey(r, r.IntN(2) == 0)
		svc := randService(r, k, genOptions{})
		d := randDest(r, k.Family)
		if r.IntN(4) == 0 && d.Forwarding == ForwardTunnel { // cross-family tunnel
			other := IPv6
			if k.Family == IPv6 {
				other = IPv4
			}
			d.Addr = randDest(r, other).Addr
		}
		_, msg, err := encodeOp(Op{Kind: AddDest, Service: svc, Dest: d})
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseService(msg, nil)
		if err != nil || got != svc {
			t.Fatalf("service %+v -> %+v (%v)", svc, got, err)
		}
		gd, err := parseDest(msg, k.Family, nil)
		if err != nil || gd != d {
			t.Fatalf("destination %+v -> %+v (%v)", d, gd, err)
		}
	}
}

// kernelAnswer is a service and destination answer as ip_vs_ctl.c builds them:
// the request's attributes, the 32-bit STATS nest (u32 counters, u64 bytes), the
// STATS64 nest when c64 is set, and the connection counts.
func kernelAnswer(t testing.TB, svc Service, d Destination, c32, c64 []uint64) []byte {
	t.Helper()
	_, req, err := encodeOp(Op{Kind: AddDest, Service: svc, Dest: d})
	if err != nil {
		t.Fatal(err)
	}
	top, err := netlink.UnmarshalAttributes(req)
	if err != nil {
		t.Fatal(err)
	}
	stats := func(typ uint16, c []uint64, wide func(i int) bool) netlink.Attribute {
		ae := netlink.NewAttributeEncoder()
		for i, v := range c {
			if wide(i) {
				ae.Uint64(uint16(i+1), v)
			} else {
				ae.Uint32(uint16(i+1), uint32(v))
			}
		}
		b, err := ae.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return netlink.Attribute{Type: typ, Data: b}
	}
	bytesAttr := func(i int) bool { return i+1 == ipvsStatsInBytes || i+1 == ipvsStatsOutBytes }
	all := func(int) bool { return true }
	var out []netlink.Attribute
	for i, a := range top {
		inner, err := netlink.UnmarshalAttributes(a.Data)
		if err != nil {
			t.Fatal(err)
		}
		typ := uint16(ipvsSvcAttrStats)
		if i == 1 {
			typ = ipvsDestAttrStats
			inner = append(inner, netlink.Attribute{Type: ipvsDestAttrActiveConns, Data: binary.NativeEndian.AppendUint32(nil, 5)},
				netlink.Attribute{Type: ipvsDestAttrInactConns, Data: binary.NativeEndian.AppendUint32(nil, 6)})
		}
		inner = append(inner, stats(typ, c32, bytesAttr))
		if c64 != nil {
			inner = append(inner, stats(typ+2, c64, all))
		}
		b, err := netlink.MarshalAttributes(inner)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, netlink.Attribute{Type: a.Type &^ netlink.Nested, Data: b})
	}
	b, err := netlink.MarshalAttributes(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseStats(t *testing.T) {
	svc, d := seedTable()[vip80].Service.Normalize(), Destination{Addr: rs11, Weight: 1}
	c32 := []uint64{7, 1 << 33, 3, 1 << 40, 5, 6, 7, 8, 9, 10}
	c64 := []uint64{7, 1 << 33, 3, 1 << 40, 5, 6, 7, 8, 9, 1 << 50}
	want32 := Counters{Conns: 7, PacketsIn: 0, PacketsOut: 3, BytesIn: 1 << 40, BytesOut: 5, CPS: 6, PPSIn: 7, PPSOut: 8, BPSIn: 9, BPSOut: 10}
	want64 := Counters{Conns: 7, PacketsIn: 1 << 33, PacketsOut: 3, BytesIn: 1 << 40, BytesOut: 5, CPS: 6, PPSIn: 7, PPSOut: 8, BPSIn: 9, BPSOut: 1 << 50}
	for _, c := range []struct {
		c64  []uint64
		want Counters
	}{{nil, want32}, {c64, want64}} {
		msg := kernelAnswer(t, svc, d, c32, c.c64)
		var sc Counters
		gs, err := parseService(msg, &sc)
		if err != nil || gs != svc || sc != c.want {
			t.Errorf("service %+v %+v (%v), want %+v", gs, sc, err, c.want)
		}
		var ds DestStats
		gd, err := parseDest(msg, IPv4, &ds)
		if err != nil || gd != d || ds != (DestStats{Counters: c.want, ActiveConns: 5, InactiveConns: 6}) {
			t.Errorf("destination %+v %+v (%v), want %+v", gd, ds, err, c.want)
		}
	}
}

// FuzzParseAnswer: the decoders of the kernel's answers never panic, and what they
// decode encodes to a request that decodes the same. The corpus
// (testdata/fuzz/FuzzParseAnswer) holds answers of a 6.1 kernel.
func FuzzParseAnswer(f *testing.F) {
	c := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	f.Add(kernelAnswer(f, seedTable()[vip80].Service, Destination{Addr: rs11, Weight: 1}, c, c))
	_, b, _ := encodeOp(Op{Kind: DeleteService, Service: Service{Key: MarkKey(IPv6, 9)}})
	f.Add(b)
	b, _ = encodeDaemon(SyncDaemon{Role: SyncBackup, Interface: "eth1", SyncID: 1, Group: netip.MustParseAddr("ff02::8"), Port: 9000, TTL: 3})
	f.Add(b)
	f.Fuzz(func(t *testing.T, msg []byte) {
		var c Counters
		if s, err := parseService(msg, &c); err == nil {
			if _, b, err := encodeOp(Op{Kind: AddService, Service: s}); err == nil {
				if again, err := parseService(b, nil); err != nil || again != s {
					t.Errorf("service %+v re-encoded decodes to %+v (%v)", s, again, err)
				}
			}
		}
		for _, fam := range []Family{IPv4, IPv6} {
			var ds DestStats
			d, err := parseDest(msg, fam, &ds)
			if err != nil {
				continue
			}
			_, b, err := encodeOp(Op{Kind: AddDest, Service: Service{Key: MarkKey(fam, 1)}, Dest: d})
			if err != nil {
				continue
			}
			if again, err := parseDest(b, fam, nil); err != nil || again != d {
				t.Errorf("destination %+v re-encoded decodes to %+v (%v)", d, again, err)
			}
		}
		if s, err := parseDaemon(msg); err == nil {
			if b, err := encodeDaemon(s); err == nil {
				if again, err := parseDaemon(b); err != nil || again != s {
					t.Errorf("daemon %+v re-encoded decodes to %+v (%v)", s, again, err)
				}
			}
		}
		_, _ = parseInfo(msg)
	})
}

// kernelCapture is an answer of a 6.1 kernel from the fuzz corpus (captured by
// TestVMRawAnswers).
func kernelCapture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata/fuzz/FuzzParseAnswer", name))
	if err != nil {
		t.Fatal(err)
	}
	lit, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "go test fuzz v1\n[]byte(")
	s, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
	if !ok || err != nil {
		t.Fatalf("%s: not a corpus file (%v)", name, err)
	}
	return []byte(s)
}

// The kernel's own bytes decode to what was written (TestVMRawAnswers has the
// table).
func TestParseKernelAnswers(t *testing.T) {
	var c Counters
	svc, err := parseService(kernelCapture(t, "kernel-6.1-service-tcp4"), &c)
	want := Service{Key: AddrKey(TCP, netip.MustParseAddrPort("192.0.2.100:80")), Scheduler: "wrr", Flags: FlagPersistent, Timeout: 300 * time.Second, Netmask: 24}
	if err != nil || svc != want || c != (Counters{}) {
		t.Errorf("service %+v %+v (%v), want %+v", svc, c, err, want)
	}
	svc, err = parseService(kernelCapture(t, "kernel-6.1-service-fwmark6"), nil)
	if want := (Service{Key: MarkKey(IPv6, 7), Scheduler: "sh", Flags: FlagSched1}.Normalize()); err != nil || svc != want {
		t.Errorf("service %+v (%v), want %+v", svc, err, want)
	}
	for name, want := range map[string]Destination{
		"kernel-6.1-dest-tunnel6-of-4": {Addr: netip.MustParseAddrPort("[2001:db8:1::13]:80"), Forwarding: ForwardTunnel, Weight: 3, UpperThreshold: 100, LowerThreshold: 10},
		"kernel-6.1-dest-dr4":          {Addr: netip.MustParseAddrPort("198.51.100.11:80"), Forwarding: ForwardDR, Weight: 1},
		"kernel-6.1-dest-nat6":         {Addr: netip.MustParseAddrPort("[2001:db8:1::11]:443"), Forwarding: ForwardNAT, Weight: 5},
	} {
		var ds DestStats
		if d, err := parseDest(kernelCapture(t, name), IPv4, &ds); err != nil || d != want || ds != (DestStats{}) {
			t.Errorf("%s: %+v %+v (%v), want %+v", name, d, ds, err, want)
		}
	}
	d, err := parseDaemon(kernelCapture(t, "kernel-6.1-daemon-master"))
	if want := (SyncDaemon{Role: SyncMaster, Interface: "eth0", SyncID: 51, MaxLen: 1200, Group: netip.MustParseAddr("239.0.0.81"), Port: 9848, TTL: 2}); err != nil || d != want {
		t.Errorf("daemon %+v (%v), want %+v", d, err, want)
	}
	if info, err := parseInfo(kernelCapture(t, "kernel-6.1-info")); err != nil || info != (Info{Version: "1.2.1", ConnTableSize: 4096}) {
		t.Errorf("info %+v (%v)", info, err)
	}
}

// An opEncoder, which reuses the previous op's service nest, encodes every op of a
// random run exactly as encodeOp does alone.
func TestOpEncoderReusesOnlyTheSameService(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var enc opEncoder
	for range 2000 {
		k := randKey(r, false)
		svc := randService(r, k, genOptions{})
		for _, kind := range []OpKind{AddService, AddDest, UpdateDest, DeleteDest, UpdateService, DeleteService}[:1+r.IntN(6)] {
			op := Op{Kind: kind, Service: svc, Dest: randDest(r, k.Family)}
			cmd, b, err := enc.encode(op)
			wcmd, want, werr := encodeOp(op)
			if cmd != wcmd || !bytes.Equal(b, want) || (err == nil) != (werr == nil) {
				t.Fatalf("%v: % x (%v), alone % x (%v)", op, b, err, want, werr)
			}
		}
	}
}

// The cost of the encoding of a full sync's requests (ten destinations per
// service), as nlConn.apply frames them in batches, and of decoding a destination
// answer of the kernel; `-benchmem` shows the allocation (README.md).
func BenchmarkEncodeOps(b *testing.B) {
	svc := seedTable()[vip80].Service.Normalize()
	var enc opEncoder
	c := &nlConn{family: 1}
	var data []byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		op := Op{Kind: AddDest, Service: svc, Dest: Destination{Addr: rs11, Weight: i % 100}}
		if i%11 == 0 {
			op = Op{Kind: AddService, Service: svc}
		}
		cmd, attrs, err := enc.encode(op)
		if err != nil {
			b.Fatal(err)
		}
		if i%batchOps == 0 {
			data = data[:0]
		}
		data, _ = c.appendMessage(data, cmd, 0, attrs)
	}
}

func BenchmarkParseDest(b *testing.B) {
	msg := kernelCapture(b, "kernel-6.1-dest-dr4")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseDest(msg, IPv4, nil); err != nil {
			b.Fatal(err)
		}
	}
}
