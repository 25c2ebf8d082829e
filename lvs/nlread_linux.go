package lvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The read path's dumps, on the same blocking sockets as the writes: one request
// and usually one receive per dump, attributes decoded in place, and the kernel's
// 64-bit counters (the *_STATS64 attributes, which moby/ipvs v1.1.0 does not
// read). Not moby/ipvs's reads: its poller-driven socket and per-request
// getsockname cost more than the dumps themselves (README.md has the figures).

const (
	ipvsCmdGetService = 4
	ipvsCmdGetDest    = 8

	ipvsSvcAttrStats   = 10
	ipvsSvcAttrStats64 = 12

	ipvsDestAttrActiveConns = 7
	ipvsDestAttrInactConns  = 8
	ipvsDestAttrStats       = 10
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
)

// dump sends one dump request (cmd, with the key of svc when svc is not nil) and
// calls fn with the attributes of each answer, until the kernel says done.
func (w *nlConn) dump(cmd uint8, svc *Service, fn func(attrs []byte) error) error {
	return w.roundTrip(cmd, unix.NLM_F_DUMP, svc, true, fn)
}

// request sends a plain request without attributes (GET_INFO) and calls fn with
// the attributes of the answer.
func (w *nlConn) request(cmd uint8, fn func(attrs []byte) error) error {
	return w.roundTrip(cmd, unix.NLM_F_ACK, nil, false, fn)
}

func (w *nlConn) roundTrip(cmd uint8, flags uint16, svc *Service, withService bool, fn func(attrs []byte) error) error {
	var a []byte
	if withService {
		a = attrHeader(a, ipvsCmdAttrService)
		if svc != nil {
			a = appendServiceKey(a, *svc)
		}
		a = endNest(a, 0)
	}
	return w.exchange(cmd, flags, a, fn)
}

// exchange sends one request cmd carrying the attributes a and calls fn (if set) with
// the attributes of each answer, until the kernel's ACK or end of dump.
func (w *nlConn) exchange(cmd uint8, flags uint16, a []byte, fn func(attrs []byte) error) error {
	w.seq++
	seq := w.seq
	b := w.buf[:0]
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = binary.NativeEndian.AppendUint16(b, w.family)
	b = binary.NativeEndian.AppendUint16(b, unix.NLM_F_REQUEST|flags)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = append(b, cmd, ipvsGenlVersion, 0, 0)
	b = append(b, a...)
	binary.NativeEndian.PutUint32(b, uint32(len(b)))
	w.buf = b
	if err := unix.Sendto(w.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	for {
		n, _, flags, _, err := unix.Recvmsg(w.fd, w.rbuf, nil, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if err == unix.EAGAIN {
				err = errors.New("no answer within 30s")
			}
			return fmt.Errorf("netlink receive: %w", err)
		}
		if flags&unix.MSG_TRUNC != 0 {
			// The kernel sizes dump datagrams to at most 32 KiB when the reader
			// offers more, which the 64 KiB buffer does.
			return errors.New("netlink datagram cut: larger than the receive buffer")
		}
		msgs, err := syscall.ParseNetlinkMessage(w.rbuf[:n])
		if err != nil {
			return fmt.Errorf("netlink parse: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if code := int32(binary.NativeEndian.Uint32(m.Data[:4])); code != 0 {
						return syscall.Errno(-code)
					}
				}
				return nil
			}
			if len(m.Data) < 4 || fn == nil {
				continue
			}
			if err := fn(m.Data[4:]); err != nil {
				return err
			}
		}
	}
}

// appendServiceKey writes the attributes that name a service.
func appendServiceKey(b []byte, svc Service) []byte {
	b = attrU16(b, ipvsSvcAttrAF, afOf(svc.Family))
	if svc.IsFWMark() {
		return attrU32(b, ipvsSvcAttrFWMark, svc.FWMark)
	}
	b = attrU16(b, ipvsSvcAttrProtocol, uint16(svc.Protocol))
	b = attrAddr(b, ipvsSvcAttrAddr, svc.Addr.Addr().As16(), svc.Family)
	return attr(b, ipvsSvcAttrPort, binary.BigEndian.AppendUint16(nil, svc.Addr.Port()))
}

// attrs iterates over the netlink attributes in b.
func attrs(b []byte, fn func(typ uint16, v []byte)) {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		typ := binary.NativeEndian.Uint16(b[2:]) & 0x3fff // without NLA_F_NESTED / NET_BYTEORDER
		if l < 4 || l > len(b) {
			return
		}
		fn(typ, b[4:l])
		b = b[min((l+3)&^3, len(b)):]
	}
}

// nested returns the payload of the first attribute typ in b.
func nested(b []byte, typ uint16) []byte {
	var out []byte
	attrs(b, func(t uint16, v []byte) {
		if t == typ && out == nil {
			out = v
		}
	})
	return out
}

func u16(v []byte) uint16 {
	if len(v) < 2 {
		return 0
	}
	return binary.NativeEndian.Uint16(v)
}

func u32(v []byte) uint32 {
	if len(v) < 4 {
		return 0
	}
	return binary.NativeEndian.Uint32(v)
}

func u64(v []byte) uint64 {
	switch {
	case len(v) >= 8:
		return binary.NativeEndian.Uint64(v)
	case len(v) >= 4:
		return uint64(binary.NativeEndian.Uint32(v))
	}
	return 0
}

// parseStats reads a STATS or STATS64 nest: the same attributes, u32 or u64.
func parseStats(b []byte) Counters {
	var c Counters
	attrs(b, func(t uint16, v []byte) {
		x := u64(v)
		switch t {
		case ipvsStatsConns:
			c.Conns = x
		case ipvsStatsInPkts:
			c.PacketsIn = x
		case ipvsStatsOutPkts:
			c.PacketsOut = x
		case ipvsStatsInBytes:
			c.BytesIn = x
		case ipvsStatsOutBytes:
			c.BytesOut = x
		case ipvsStatsCPS:
			c.CPS = x
		case ipvsStatsInPPS:
			c.PPSIn = x
		case ipvsStatsOutPPS:
			c.PPSOut = x
		case ipvsStatsInBPS:
			c.BPSIn = x
		case ipvsStatsOutBPS:
			c.BPSOut = x
		}
	})
	return c
}

func addrAttr(v []byte, f Family) (netip.Addr, error) {
	switch {
	case f == IPv4 && len(v) >= 4:
		return netip.AddrFrom4([4]byte(v[:4])), nil
	case f == IPv6 && len(v) >= 16:
		return netip.AddrFrom16([16]byte(v[:16])), nil
	}
	return netip.Addr{}, fmt.Errorf("lvs: bad %s address attribute of %d bytes", f, len(v))
}

// parseService decodes a service answer (the attributes after the genl header).
func parseService(msg []byte) (Service, Counters, error) {
	b := nested(msg, ipvsCmdAttrService)
	var (
		svc      Service
		af       uint16
		proto    uint16
		addr     []byte
		port     uint16
		mark     uint32
		netmask  []byte
		st, st64 []byte
	)
	attrs(b, func(t uint16, v []byte) {
		switch t {
		case ipvsSvcAttrAF:
			af = u16(v)
		case ipvsSvcAttrProtocol:
			proto = u16(v)
		case ipvsSvcAttrAddr:
			addr = v
		case ipvsSvcAttrPort:
			if len(v) >= 2 {
				port = binary.BigEndian.Uint16(v)
			}
		case ipvsSvcAttrFWMark:
			mark = u32(v)
		case ipvsSvcAttrSchedName:
			for i, c := range v {
				if c == 0 {
					v = v[:i]
					break
				}
			}
			svc.Scheduler = string(v)
		case ipvsSvcAttrFlags:
			svc.Flags = Flags(u32(v)) &^ FlagHashed
		case ipvsSvcAttrTimeout:
			svc.Timeout = time.Duration(u32(v)) * time.Second
		case ipvsSvcAttrNetmask:
			netmask = v
		case ipvsSvcAttrStats:
			st = v
		case ipvsSvcAttrStats64:
			st64 = v
		}
	})
	fam, err := familyFromAF(af)
	if err != nil {
		return Service{}, Counters{}, err
	}
	if mark != 0 {
		svc.Key = MarkKey(fam, mark)
	} else {
		a, err := addrAttr(addr, fam)
		if err != nil {
			return Service{}, Counters{}, err
		}
		svc.Key = AddrKey(Protocol(proto), netip.AddrPortFrom(a, port))
	}
	if len(netmask) >= 4 {
		if fam == IPv4 {
			svc.Netmask = bits.LeadingZeros32(^binary.BigEndian.Uint32(netmask))
		} else {
			svc.Netmask = int(binary.NativeEndian.Uint32(netmask))
		}
	}
	c := parseStats(st)
	if st64 != nil {
		c = parseStats(st64)
	}
	return svc.Normalize(), c, nil
}

// parseDest decodes a destination answer of a service of family f.
func parseDest(msg []byte, f Family) (Destination, DestStats, error) {
	b := nested(msg, ipvsCmdAttrDest)
	var (
		d        Destination
		ds       DestStats
		af       uint16
		addr     []byte
		st, st64 []byte
	)
	attrs(b, func(t uint16, v []byte) {
		switch t {
		case ipvsDestAttrAddr:
			addr = v
		case ipvsDestAttrPort:
			if len(v) >= 2 {
				d.Addr = netip.AddrPortFrom(netip.Addr{}, binary.BigEndian.Uint16(v))
			}
		case ipvsDestAttrFwdMethod:
			switch u32(v) & 7 {
			case connFwdMasq:
				d.Forwarding = ForwardNAT
			case connFwdLocal:
				d.Forwarding = ForwardLocal
			case connFwdTunnel:
				d.Forwarding = ForwardTunnel
			case connFwdDR:
				d.Forwarding = ForwardDR
			case connFwdBypass:
				d.Forwarding = ForwardBypass
			}
		case ipvsDestAttrWeight:
			d.Weight = int(int32(u32(v)))
		case ipvsDestAttrUThresh:
			d.UpperThreshold = u32(v)
		case ipvsDestAttrLThresh:
			d.LowerThreshold = u32(v)
		case ipvsDestAttrActiveConns:
			ds.ActiveConns = uint64(u32(v))
		case ipvsDestAttrInactConns:
			ds.InactiveConns = uint64(u32(v))
		case ipvsDestAttrStats:
			st = v
		case ipvsDestAttrAF:
			af = u16(v)
		case ipvsDestAttrStats64:
			st64 = v
		}
	})
	fam := f
	if af != 0 { // kernels before 3.18 leave it out: the service's family
		var err error
		if fam, err = familyFromAF(af); err != nil {
			return Destination{}, DestStats{}, err
		}
	}
	a, err := addrAttr(addr, fam)
	if err != nil {
		return Destination{}, DestStats{}, err
	}
	d.Addr = netip.AddrPortFrom(a, d.Addr.Port())
	ds.Counters = parseStats(st)
	if st64 != nil {
		ds.Counters = parseStats(st64)
	}
	return d, ds, nil
}

// services dumps the service list.
func (w *nlConn) services() ([]Service, []Counters, error) {
	var svcs []Service
	var cs []Counters
	err := w.dump(ipvsCmdGetService, nil, func(msg []byte) error {
		s, c, err := parseService(msg)
		if err != nil {
			return err
		}
		svcs = append(svcs, s)
		cs = append(cs, c)
		return nil
	})
	return svcs, cs, err
}

// dests dumps the destinations of svc.
func (w *nlConn) dests(svc Service) (map[netip.AddrPort]Destination, map[netip.AddrPort]DestStats, error) {
	ds := map[netip.AddrPort]Destination{}
	ss := map[netip.AddrPort]DestStats{}
	err := w.dump(ipvsCmdGetDest, &svc, func(msg []byte) error {
		d, s, err := parseDest(msg, svc.Family)
		if err != nil {
			return err
		}
		ds[d.Addr], ss[d.Addr] = d, s
		return nil
	})
	return ds, ss, err
}
