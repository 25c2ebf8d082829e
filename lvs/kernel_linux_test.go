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
	"syscall"
	"testing"
	"time"

	"github.com/moby/ipvs"
	"github.com/vishvananda/netlink/nl"

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
		Netmask:       binary.NativeEndian.Uint32(netmaskBytes(s)),
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
	if b := netmaskBytes(Service{Key: vip80, Flags: FlagPersistent, Netmask: 24}); !bytes.Equal(b, []byte{0xff, 0xff, 0xff, 0}) {
		t.Fatalf("netmask bytes % x", b)
	}
	// A non-persistent service still sends the full mask, as ipvsadm does (a zero
	// IPv4 mask would be kept by the kernel).
	if b := netmaskBytes(Service{Key: vip80}.Normalize()); !bytes.Equal(b, []byte{0xff, 0xff, 0xff, 0xff}) {
		t.Fatalf("default netmask % x", b)
	}
	v6 := Service{Key: AddrKey(TCP, netip.MustParseAddrPort("[2001:db8::1]:80"))}.Normalize()
	if n := binary.NativeEndian.Uint32(netmaskBytes(v6)); n != 128 {
		t.Fatalf("IPv6 netmask %d", n)
	}
}

// The encoder's messages, parsed back with the netlink attribute parser.
func TestAppendOpEncoding(t *testing.T) {
	svc := Service{Key: AddrKey(UDP, netip.MustParseAddrPort("192.0.2.100:53")), Scheduler: "sh",
		Flags: FlagPersistent | FlagSHPort | FlagHashed, Timeout: 300 * time.Second, Netmask: 24}
	d := Destination{Addr: netip.MustParseAddrPort("[2001:db8:1::5]:5353"), Forwarding: ForwardTunnel, Weight: 7, UpperThreshold: 9, LowerThreshold: 3}
	b, err := appendOp([]byte{0xaa}, 0x1234, 77, Op{Kind: UpdateDest, Service: svc, Dest: d})
	if err != nil {
		t.Fatal(err)
	}
	b = b[1:]
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%v %d", err, len(msgs))
	}
	m := msgs[0]
	if m.Header.Type != 0x1234 || m.Header.Seq != 77 || m.Header.Flags != unix.NLM_F_REQUEST|unix.NLM_F_ACK || int(m.Header.Len) != len(b) {
		t.Fatalf("header %+v", m.Header)
	}
	if m.Data[0] != ipvsCmdSetDest || m.Data[1] != ipvsGenlVersion {
		t.Fatalf("genl header % x", m.Data[:4])
	}
	top, err := nl.ParseRouteAttr(m.Data[4:])
	if err != nil || len(top) != 2 {
		t.Fatalf("%v %d", err, len(top))
	}
	sa, _ := nl.ParseRouteAttr(top[0].Value)
	da, _ := nl.ParseRouteAttr(top[1].Value)
	get := func(as []syscall.NetlinkRouteAttr, typ uint16) []byte {
		for _, a := range as {
			if a.Attr.Type == typ {
				return a.Value
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
	b, _ = appendOp(nil, 1, 1, Op{Kind: DeleteService, Service: Service{Key: MarkKey(IPv6, 7)}})
	msgs, _ = syscall.ParseNetlinkMessage(b)
	top, _ = nl.ParseRouteAttr(msgs[0].Data[4:])
	sa, _ = nl.ParseRouteAttr(top[0].Value)
	if len(top) != 1 || !bytes.Equal(get(sa, ipvsSvcAttrFWMark), binary.NativeEndian.AppendUint32(nil, 7)) ||
		!bytes.Equal(get(sa, ipvsSvcAttrNetmask), binary.NativeEndian.AppendUint32(nil, 128)) {
		t.Fatalf("fwmark service attrs %v", sa)
	}
	for _, a := range sa {
		if a.Attr.Type == ipvsSvcAttrProtocol || a.Attr.Type == ipvsSvcAttrAddr || a.Attr.Type == ipvsSvcAttrPort {
			t.Errorf("fwmark service has attribute %d", a.Attr.Type)
		}
	}
	if _, err := appendOp(nil, 1, 1, Op{Kind: AddDest, Service: svc, Dest: Destination{Addr: d.Addr, Weight: 70000}}); err == nil {
		t.Error("weight 70000 encoded")
	}
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
		b, err := appendOp(nil, 1, 1, Op{Kind: AddDest, Service: svc, Dest: d})
		if err != nil {
			t.Fatal(err)
		}
		msg := b[unix.NLMSG_HDRLEN+4:]
		got, _, err := parseService(msg)
		if err != nil || got != svc {
			t.Fatalf("service %+v -> %+v (%v)", svc, got, err)
		}
		gd, _, err := parseDest(msg, k.Family)
		if err != nil || gd != d {
			t.Fatalf("destination %+v -> %+v (%v)", d, gd, err)
		}
	}
}

func TestParseStats(t *testing.T) {
	var st, st64 []byte
	for i, v := range []uint64{7, 1 << 33, 3, 1 << 40, 5} {
		st = attrU32(st, uint16(i+1), uint32(v))
		st64 = attr(st64, uint16(i+1), binary.NativeEndian.AppendUint64(nil, v))
	}
	if c := parseStats(st); c.Conns != 7 || c.PacketsIn != 0 || c.PacketsOut != 3 {
		t.Fatalf("32-bit %+v", c)
	}
	if c := parseStats(st64); c.Conns != 7 || c.PacketsIn != 1<<33 || c.BytesIn != 1<<40 || c.BytesOut != 5 {
		t.Fatalf("64-bit %+v", c)
	}
}

// FuzzParseAnswer: the netlink answer decoders never panic.
func FuzzParseAnswer(f *testing.F) {
	b, _ := appendOp(nil, 1, 1, Op{Kind: AddDest, Service: seedTable()[vip80].Service, Dest: Destination{Addr: rs11, Weight: 1}})
	f.Add(b[unix.NLMSG_HDRLEN+4:])
	b, _ = appendOp(nil, 1, 1, Op{Kind: DeleteService, Service: Service{Key: MarkKey(IPv6, 9)}})
	f.Add(b[unix.NLMSG_HDRLEN+4:])
	f.Fuzz(func(t *testing.T, msg []byte) {
		_, _, _ = parseService(msg)
		_, _, _ = parseDest(msg, IPv4)
		_, _, _ = parseDest(msg, IPv6)
		_ = parseStats(msg)
	})
}
