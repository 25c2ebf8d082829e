package lvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The IPVS generic-netlink messages: requests encoded with netlink.MarshalAttributes
// (see opEncoder), the kernel's answers decoded with netlink.AttributeDecoder. The
// semantics are those of net/netfilter/ipvs/ip_vs_ctl.c.

// IPVS generic-netlink commands and attributes (include/uapi/linux/ip_vs.h).
const (
	ipvsGenlVersion = 1

	ipvsCmdNewService = 1
	ipvsCmdSetService = 2
	ipvsCmdDelService = 3
	ipvsCmdGetService = 4
	ipvsCmdNewDest    = 5
	ipvsCmdSetDest    = 6
	ipvsCmdDelDest    = 7
	ipvsCmdGetDest    = 8
	ipvsCmdGetInfo    = 15

	ipvsCmdAttrService = 1
	ipvsCmdAttrDest    = 2

	ipvsSvcAttrAF        = 1
	ipvsSvcAttrProtocol  = 2
	ipvsSvcAttrAddr      = 3
	ipvsSvcAttrPort      = 4
	ipvsSvcAttrFWMark    = 5
	ipvsSvcAttrSchedName = 6
	ipvsSvcAttrFlags     = 7
	ipvsSvcAttrTimeout   = 8
	ipvsSvcAttrNetmask   = 9
	ipvsSvcAttrStats     = 10
	ipvsSvcAttrStats64   = 12

	ipvsDestAttrAddr        = 1
	ipvsDestAttrPort        = 2
	ipvsDestAttrFwdMethod   = 3
	ipvsDestAttrWeight      = 4
	ipvsDestAttrUThresh     = 5
	ipvsDestAttrLThresh     = 6
	ipvsDestAttrActiveConns = 7
	ipvsDestAttrInactConns  = 8
	ipvsDestAttrStats       = 10
	ipvsDestAttrAF          = 11
	ipvsDestAttrStats64     = 12

	ipvsStatsConns    = 1
	ipvsStatsInPkts   = 2
	ipvsStatsOutPkts  = 3
	ipvsStatsInBytes  = 4
	ipvsStatsOutBytes = 5
	ipvsStatsCPS      = 6
	ipvsStatsInPPS    = 7
	ipvsStatsOutPPS   = 8
	ipvsStatsInBPS    = 9
	ipvsStatsOutBPS   = 10

	ipvsInfoAttrVersion     = 1
	ipvsInfoAttrConnTabSize = 2

	// IP_VS_CONN_F_* forwarding methods.
	connFwdMasq   = 0
	connFwdLocal  = 1
	connFwdTunnel = 2
	connFwdDR     = 3
	connFwdBypass = 4
)

var opCommands = map[OpKind]uint8{
	AddService: ipvsCmdNewService, UpdateService: ipvsCmdSetService, DeleteService: ipvsCmdDelService,
	AddDest: ipvsCmdNewDest, UpdateDest: ipvsCmdSetDest, DeleteDest: ipvsCmdDelDest,
}

var fwdMethods = map[Forwarding]uint32{
	ForwardDR: connFwdDR, ForwardNAT: connFwdMasq, ForwardTunnel: connFwdTunnel,
	ForwardLocal: connFwdLocal, ForwardBypass: connFwdBypass,
}

// forwardings is fwdMethods the other way round, for the decoder.
var forwardings = func() map[uint32]Forwarding {
	m := make(map[uint32]Forwarding, len(fwdMethods))
	for f, v := range fwdMethods {
		m[v] = f
	}
	return m
}()

// encodeOp returns the command and attributes of the request that performs op.
func encodeOp(op Op) (uint8, []byte, error) {
	var e opEncoder
	return e.encode(op)
}

// opEncoder encodes ops, reusing the service attributes of the previous op when
// the service is the same: the ops of a service come one after the other, and its
// attributes are the larger half of a destination op.
//
// It builds its attributes with netlink.MarshalAttributes over a list and a data
// buffer it reuses, not with a netlink.AttributeEncoder: that allocates for every
// attribute and nest, and a full sync encodes ten destinations for each service
// (README.md has what it cost).
type opEncoder struct {
	svc      Service
	svcAttrs []byte // the attributes inside svc's nest
	attrs    attrList
}

// attrList collects attributes for netlink.MarshalAttributes, their data in one
// buffer; reset makes both reusable once the attributes are marshalled.
type attrList struct {
	attrs []netlink.Attribute
	data  []byte
}

func (l *attrList) reset() { l.attrs, l.data = l.attrs[:0], l.data[:0] }

// put adds the attribute typ with the bytes that b, an append to l.data, added.
// Should the append have moved the data, the earlier attributes keep the old array,
// which holds their bytes still.
func (l *attrList) put(typ uint16, b []byte) {
	l.attrs = append(l.attrs, netlink.Attribute{Type: typ, Data: b[len(l.data):]})
	l.data = b
}

func (l *attrList) marshal() ([]byte, error) { return netlink.MarshalAttributes(l.attrs) }

func (e *opEncoder) encode(op Op) (uint8, []byte, error) {
	cmd, ok := opCommands[op.Kind]
	if !ok {
		return 0, nil, fmt.Errorf("unknown op kind %d", op.Kind)
	}
	svc := op.Service.Normalize()
	if !svc.IsFWMark() && FamilyOf(svc.Addr.Addr()) != svc.Family {
		return 0, nil, fmt.Errorf("service address %s is not %s", svc.Addr.Addr(), svc.Family)
	}
	fwd, ok := fwdMethods[op.Dest.Forwarding]
	if !ok {
		return 0, nil, fmt.Errorf("unknown forwarding %d", op.Dest.Forwarding)
	}
	if op.Dest.Weight < 0 || op.Dest.Weight > 65535 {
		return 0, nil, fmt.Errorf("weight %d is out of range 0..65535", op.Dest.Weight)
	}
	l := &e.attrs
	if e.svcAttrs == nil || svc != e.svc {
		l.reset()
		putServiceKey(l, svc)
		l.put(ipvsSvcAttrSchedName, append(append(l.data, svc.Scheduler...), 0))
		// struct ip_vs_flags: the flags, and the mask of those to set.
		flags := binary.NativeEndian.AppendUint32(l.data, uint32(svc.Flags&^FlagHashed))
		l.put(ipvsSvcAttrFlags, binary.NativeEndian.AppendUint32(flags, 0xffffffff))
		l.put(ipvsSvcAttrTimeout, binary.NativeEndian.AppendUint32(l.data, uint32(svc.Timeout/time.Second)))
		l.put(ipvsSvcAttrNetmask, appendNetmask(l.data, svc))
		b, err := l.marshal()
		if err != nil {
			return 0, nil, err
		}
		e.svc, e.svcAttrs = svc, b
	}
	nests := [2]netlink.Attribute{{Type: netlink.Nested | ipvsCmdAttrService, Data: e.svcAttrs}}
	switch op.Kind {
	case AddDest, UpdateDest, DeleteDest:
	default:
		b, err := netlink.MarshalAttributes(nests[:1])
		return cmd, b, err
	}
	a := op.Dest.Addr.Addr().Unmap()
	fam := FamilyOf(a)
	l.reset()
	l.put(ipvsDestAttrAddr, appendAddr(l.data, a, fam))
	l.put(ipvsDestAttrPort, binary.BigEndian.AppendUint16(l.data, op.Dest.Addr.Port()))
	l.put(ipvsDestAttrFwdMethod, binary.NativeEndian.AppendUint32(l.data, fwd))
	l.put(ipvsDestAttrWeight, binary.NativeEndian.AppendUint32(l.data, uint32(op.Dest.Weight)))
	l.put(ipvsDestAttrUThresh, binary.NativeEndian.AppendUint32(l.data, op.Dest.UpperThreshold))
	l.put(ipvsDestAttrLThresh, binary.NativeEndian.AppendUint32(l.data, op.Dest.LowerThreshold))
	// The destination's own family: the kernel accepts one that differs from the
	// service's for tunnels.
	l.put(ipvsDestAttrAF, binary.NativeEndian.AppendUint16(l.data, afOf(fam)))
	dest, err := l.marshal()
	if err != nil {
		return 0, nil, err
	}
	nests[1] = netlink.Attribute{Type: netlink.Nested | ipvsCmdAttrDest, Data: dest}
	b, err := netlink.MarshalAttributes(nests[:])
	if err != nil {
		return 0, nil, err
	}
	return cmd, b, nil
}

// putServiceKey adds the attributes that name a service.
func putServiceKey(l *attrList, svc Service) {
	l.put(ipvsSvcAttrAF, binary.NativeEndian.AppendUint16(l.data, afOf(svc.Family)))
	if svc.IsFWMark() {
		l.put(ipvsSvcAttrFWMark, binary.NativeEndian.AppendUint32(l.data, svc.FWMark))
		return
	}
	l.put(ipvsSvcAttrProtocol, binary.NativeEndian.AppendUint16(l.data, uint16(svc.Protocol)))
	l.put(ipvsSvcAttrAddr, appendAddr(l.data, svc.Addr.Addr(), svc.Family))
	l.put(ipvsSvcAttrPort, binary.BigEndian.AppendUint16(l.data, svc.Addr.Port()))
}

// encodeServiceNest is the IPVS_CMD_ATTR_SERVICE nest naming svc, the argument of
// a destination dump.
func encodeServiceNest(svc Service) ([]byte, error) {
	// Sized for the key, which a table read sends for every service.
	var attrs [4]netlink.Attribute
	var data [24]byte
	l := attrList{attrs: attrs[:0], data: data[:0]}
	putServiceKey(&l, svc)
	key, err := l.marshal()
	if err != nil {
		return nil, err
	}
	return netlink.MarshalAttributes([]netlink.Attribute{{Type: netlink.Nested | ipvsCmdAttrService, Data: key}})
}

// appendNetmask appends the service's netmask as the kernel keeps it: an IPv4 mask in
// network byte order, an IPv6 prefix length as a host-order u32. The kernel keeps an
// IPv4 mask as sent — a zero mask would put every client in one persistence
// template — and rejects an IPv6 length outside 1..128, so both are always set.
func appendNetmask(b []byte, s Service) []byte {
	if s.Family == IPv6 {
		return binary.NativeEndian.AppendUint32(b, uint32(s.Netmask))
	}
	return binary.BigEndian.AppendUint32(b, ^uint32(0)<<(32-s.Netmask))
}

// appendAddr appends an address the way ipvsadm sends it: the whole 16-byte union
// nf_inet_addr, IPv4 in its first four bytes.
func appendAddr(b []byte, a netip.Addr, f Family) []byte {
	u := a.As16()
	if f == IPv4 {
		var v4 [16]byte
		copy(v4[:4], u[12:])
		u = v4
	}
	return append(b, u[:]...)
}

func afOf(f Family) uint16 {
	if f == IPv6 {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

func familyFromAF(af uint16) (Family, error) {
	switch af {
	case unix.AF_INET:
		return IPv4, nil
	case unix.AF_INET6:
		return IPv6, nil
	}
	return 0, fmt.Errorf("lvs: unknown address family %d", af)
}

// errNoNest is a kernel answer without the nest its command answers with.
var errNoNest = errors.New("lvs: netlink answer without its attribute nest")

// decodeNest calls fn with a decoder of the nest typ among the attributes msg.
func decodeNest(msg []byte, typ uint16, fn func(*netlink.AttributeDecoder) error) error {
	ad, err := netlink.NewAttributeDecoder(msg)
	if err != nil {
		return err
	}
	found := false
	for !found && ad.Next() {
		if ad.Type() == typ {
			found = true
			ad.Nested(fn)
		}
	}
	if err := ad.Err(); err != nil {
		return err
	}
	if !found {
		return errNoNest
	}
	return nil
}

// addrAttr holds an address attribute, a 16-byte nf_inet_addr with IPv4 in its
// first four bytes, until the family is known.
type addrAttr struct {
	b [16]byte
	n int
}

func (a *addrAttr) decode(ad *netlink.AttributeDecoder) {
	ad.Do(func(b []byte) error {
		a.n = copy(a.b[:], b)
		return nil
	})
}

func (a *addrAttr) addr(f Family) (netip.Addr, error) {
	switch {
	case f == IPv4 && a.n >= 4:
		return netip.AddrFrom4([4]byte(a.b[:4])), nil
	case f == IPv6 && a.n >= 16:
		return netip.AddrFrom16(a.b), nil
	}
	return netip.Addr{}, fmt.Errorf("lvs: bad %s address attribute of %d bytes", f, a.n)
}

// bePort decodes the current attribute, a __be16.
func bePort(ad *netlink.AttributeDecoder) uint16 {
	var p uint16
	ad.Do(func(b []byte) error {
		if len(b) != 2 {
			return fmt.Errorf("lvs: port attribute of %d bytes", len(b))
		}
		p = binary.BigEndian.Uint16(b)
		return nil
	})
	return p
}

// parseService decodes a service answer (the attributes after the genl header),
// and its counters into c when c is not nil: they are most of the answer, and a
// resync has no use for them.
func parseService(msg []byte, c *Counters) (Service, error) {
	var (
		svc        Service
		af, proto  uint16
		addr       addrAttr
		sport      uint16
		mark       uint32
		netmask    [4]byte
		hasNetmask bool
		c32, c64   Counters
		has64      bool
	)
	err := decodeNest(msg, ipvsCmdAttrService, func(ad *netlink.AttributeDecoder) error {
		for ad.Next() {
			switch ad.Type() {
			case ipvsSvcAttrAF:
				af = ad.Uint16()
			case ipvsSvcAttrProtocol:
				proto = ad.Uint16()
			case ipvsSvcAttrAddr:
				addr.decode(ad)
			case ipvsSvcAttrPort:
				sport = bePort(ad)
			case ipvsSvcAttrFWMark:
				mark = ad.Uint32()
			case ipvsSvcAttrSchedName:
				svc.Scheduler = ad.String()
			case ipvsSvcAttrFlags:
				// struct ip_vs_flags: the flags, then a mask.
				ad.Do(func(b []byte) error {
					if len(b) < 4 {
						return fmt.Errorf("lvs: flags attribute of %d bytes", len(b))
					}
					svc.Flags = Flags(binary.NativeEndian.Uint32(b)) &^ FlagHashed
					return nil
				})
			case ipvsSvcAttrTimeout:
				svc.Timeout = time.Duration(ad.Uint32()) * time.Second
			case ipvsSvcAttrNetmask:
				// Its byte order depends on the family, which may come later.
				ad.Do(func(b []byte) error {
					if len(b) != 4 {
						return fmt.Errorf("lvs: netmask attribute of %d bytes", len(b))
					}
					netmask, hasNetmask = [4]byte(b), true
					return nil
				})
			case ipvsSvcAttrStats:
				if c != nil {
					ad.Nested(c32.decode)
				}
			case ipvsSvcAttrStats64:
				if c != nil {
					ad.Nested(c64.decode)
					has64 = true
				}
			}
		}
		return nil
	})
	if err != nil {
		return Service{}, err
	}
	fam, err := familyFromAF(af)
	if err != nil {
		return Service{}, err
	}
	if mark != 0 {
		svc.Key = MarkKey(fam, mark)
	} else {
		a, err := addr.addr(fam)
		if err != nil {
			return Service{}, err
		}
		svc.Key = AddrKey(Protocol(proto), netip.AddrPortFrom(a, sport))
	}
	switch {
	case !hasNetmask:
	case fam == IPv4:
		svc.Netmask = bits.LeadingZeros32(^binary.BigEndian.Uint32(netmask[:]))
	default:
		svc.Netmask = int(binary.NativeEndian.Uint32(netmask[:]))
	}
	if c != nil {
		*c = pick64(c32, c64, has64)
	}
	return svc.Normalize(), nil
}

// pick64 is the 64-bit counters when the kernel sent them (4.1 and later).
func pick64(c32, c64 Counters, has64 bool) Counters {
	if has64 {
		return c64
	}
	return c32
}

// parseDest decodes a destination answer of a service of family f, and its
// counters into ds when ds is not nil.
func parseDest(msg []byte, f Family, ds *DestStats) (Destination, error) {
	var (
		d        Destination
		af       uint16
		addr     addrAttr
		dport    uint16
		active   uint32
		inactive uint32
		c32, c64 Counters
		has64    bool
	)
	err := decodeNest(msg, ipvsCmdAttrDest, func(ad *netlink.AttributeDecoder) error {
		for ad.Next() {
			switch ad.Type() {
			case ipvsDestAttrAddr:
				addr.decode(ad)
			case ipvsDestAttrPort:
				dport = bePort(ad)
			case ipvsDestAttrFwdMethod:
				d.Forwarding = forwardings[ad.Uint32()&7]
			case ipvsDestAttrWeight:
				d.Weight = int(int32(ad.Uint32()))
			case ipvsDestAttrUThresh:
				d.UpperThreshold = ad.Uint32()
			case ipvsDestAttrLThresh:
				d.LowerThreshold = ad.Uint32()
			case ipvsDestAttrActiveConns:
				active = ad.Uint32()
			case ipvsDestAttrInactConns:
				inactive = ad.Uint32()
			case ipvsDestAttrStats:
				if ds != nil {
					ad.Nested(c32.decode)
				}
			case ipvsDestAttrAF:
				af = ad.Uint16()
			case ipvsDestAttrStats64:
				if ds != nil {
					ad.Nested(c64.decode)
					has64 = true
				}
			}
		}
		return nil
	})
	if err != nil {
		return Destination{}, err
	}
	fam := f
	if af != 0 { // kernels before 3.18 leave it out: the service's family
		if fam, err = familyFromAF(af); err != nil {
			return Destination{}, err
		}
	}
	a, err := addr.addr(fam)
	if err != nil {
		return Destination{}, err
	}
	d.Addr = netip.AddrPortFrom(a, dport)
	if ds != nil {
		*ds = DestStats{Counters: pick64(c32, c64, has64), ActiveConns: uint64(active), InactiveConns: uint64(inactive)}
	}
	return d, nil
}

// decode reads a STATS or STATS64 nest: the same attributes, in STATS a mix of u32
// and u64, in STATS64 all u64.
func (c *Counters) decode(ad *netlink.AttributeDecoder) error {
	for ad.Next() {
		var p *uint64
		switch ad.Type() {
		case ipvsStatsConns:
			p = &c.Conns
		case ipvsStatsInPkts:
			p = &c.PacketsIn
		case ipvsStatsOutPkts:
			p = &c.PacketsOut
		case ipvsStatsInBytes:
			p = &c.BytesIn
		case ipvsStatsOutBytes:
			p = &c.BytesOut
		case ipvsStatsCPS:
			p = &c.CPS
		case ipvsStatsInPPS:
			p = &c.PPSIn
		case ipvsStatsOutPPS:
			p = &c.PPSOut
		case ipvsStatsInBPS:
			p = &c.BPSIn
		case ipvsStatsOutBPS:
			p = &c.BPSOut
		default:
			continue
		}
		ad.Do(func(b []byte) error {
			switch len(b) {
			case 4:
				*p = uint64(binary.NativeEndian.Uint32(b))
			case 8:
				*p = binary.NativeEndian.Uint64(b)
			default:
				return fmt.Errorf("lvs: counter attribute of %d bytes", len(b))
			}
			return nil
		})
	}
	return nil
}

// parseInfo decodes the answer to GET_INFO.
func parseInfo(msg []byte) (Info, error) {
	ad, err := netlink.NewAttributeDecoder(msg)
	if err != nil {
		return Info{}, err
	}
	var info Info
	for ad.Next() {
		switch ad.Type() {
		case ipvsInfoAttrVersion:
			x := ad.Uint32()
			info.Version = fmt.Sprintf("%d.%d.%d", x>>16&0xff, x>>8&0xff, x&0xff)
		case ipvsInfoAttrConnTabSize:
			info.ConnTableSize = int(ad.Uint32())
		}
	}
	return info, ad.Err()
}

// services dumps the service list, with the counters when withStats.
func (c *nlConn) services(withStats bool) ([]Service, []Counters, error) {
	var svcs []Service
	var cs []Counters
	err := c.exchange(ipvsCmdGetService, netlink.Dump, nil, func(msg []byte) error {
		var sc Counters
		s, err := parseService(msg, statsIf(withStats, &sc))
		if err != nil {
			return err
		}
		svcs = append(svcs, s)
		cs = append(cs, sc)
		return nil
	})
	return svcs, cs, err
}

// dests dumps the destinations of svc, with their counters when withStats (the
// map of counters is nil otherwise).
func (c *nlConn) dests(svc Service, withStats bool) (map[netip.AddrPort]Destination, map[netip.AddrPort]DestStats, error) {
	key, err := encodeServiceNest(svc)
	if err != nil {
		return nil, nil, err
	}
	ds := map[netip.AddrPort]Destination{}
	var ss map[netip.AddrPort]DestStats
	if withStats {
		ss = map[netip.AddrPort]DestStats{}
	}
	err = c.exchange(ipvsCmdGetDest, netlink.Dump, key, func(msg []byte) error {
		var st DestStats
		d, err := parseDest(msg, svc.Family, statsIf(withStats, &st))
		if err != nil {
			return err
		}
		ds[d.Addr] = d
		if withStats {
			ss[d.Addr] = st
		}
		return nil
	})
	return ds, ss, err
}

// statsIf is p when withStats, else nil.
func statsIf[T any](withStats bool, p *T) *T {
	if withStats {
		return p
	}
	return nil
}
