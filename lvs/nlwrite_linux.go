package lvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The write path. moby/ipvs v1.1.0 sends one request per send/receive pair, cannot
// batch, and never sends a destination's address family (so no cross-family
// tunnels). Writes therefore go through this small encoder on a plain blocking
// generic-netlink socket: up to batchOps requests in one sendmsg, each acknowledged
// on its own, which the kernel processes in order. Reads stay with moby/ipvs.

// IPVS generic-netlink commands and attributes (include/uapi/linux/ip_vs.h).
const (
	ipvsGenlVersion = 1

	ipvsCmdNewService = 1
	ipvsCmdSetService = 2
	ipvsCmdDelService = 3
	ipvsCmdNewDest    = 5
	ipvsCmdSetDest    = 6
	ipvsCmdDelDest    = 7

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

	ipvsDestAttrAddr      = 1
	ipvsDestAttrPort      = 2
	ipvsDestAttrFwdMethod = 3
	ipvsDestAttrWeight    = 4
	ipvsDestAttrUThresh   = 5
	ipvsDestAttrLThresh   = 6
	ipvsDestAttrAF        = 11

	// IP_VS_CONN_F_* forwarding methods.
	connFwdMasq   = 0
	connFwdLocal  = 1
	connFwdTunnel = 2
	connFwdDR     = 3
	connFwdBypass = 4
)

// batchOps bounds one sendmsg. Each success ACK costs the socket's receive buffer
// well under 1 KiB; writers ask for a 4 MiB buffer (2 × rmem_max without
// CAP_NET_ADMIN, still > 400 KiB), so 256 ACKs always fit.
const batchOps = 256

// nlConn is one generic-netlink socket in the target namespace.
type nlConn struct {
	fd     int
	pid    uint32
	seq    uint32
	family uint16
	buf    []byte
	rbuf   []byte
}

func newNLConn(nsPath string, family uint16) (*nlConn, error) {
	fd, err := socketIn(nsPath)
	if err != nil {
		return nil, err
	}
	w := &nlConn{fd: fd, family: family, rbuf: make([]byte, 64<<10), seq: uint32(time.Now().UnixNano())}
	fail := func(err error) (*nlConn, error) {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20); err != nil {
			return fail(err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20); err != nil {
		return fail(err)
	}
	// Error ACKs without a copy of the request: smaller, and nothing to parse.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	tv := unix.NsecToTimeval(int64(30 * time.Second))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fail(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fail(err)
	}
	nsa, ok := sa.(*unix.SockaddrNetlink)
	if !ok {
		return fail(errors.New("netlink socket has no netlink address"))
	}
	w.pid = nsa.Pid
	return w, nil
}

// socketIn opens a generic-netlink socket in the namespace at nsPath ("" = ours).
// A socket belongs to the namespace it was created in, so the thread enters the
// namespace only for the socket call.
func socketIn(nsPath string) (int, error) {
	open := func() (int, error) {
		return unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	}
	if nsPath == "" {
		return open()
	}
	target, err := netns.GetFromPath(nsPath)
	if err != nil {
		return -1, err
	}
	defer target.Close()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return -1, err
	}
	defer orig.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return -1, err
	}
	fd, serr := open()
	if err := netns.Set(orig); err != nil {
		// The thread is stuck in the other namespace: leave it locked so that it
		// dies with this goroutine instead of serving others.
		if serr == nil {
			unix.Close(fd)
		}
		return -1, fmt.Errorf("return from namespace %s: %w", nsPath, err)
	}
	runtime.UnlockOSThread()
	return fd, serr
}

func (w *nlConn) close() { unix.Close(w.fd) }

// apply sends ops in batches and returns one result per op: nil, or the errno the
// kernel answered.
func (w *nlConn) apply(ops []Op) []error {
	errs := make([]error, len(ops))
	for start := 0; start < len(ops); start += batchOps {
		end := min(start+batchOps, len(ops))
		w.batch(ops[start:end], errs[start:end])
	}
	return errs
}

func (w *nlConn) batch(ops []Op, errs []error) {
	w.buf = w.buf[:0]
	first := w.seq + 1
	for i, op := range ops {
		var err error
		w.buf, err = appendOp(w.buf, w.family, first+uint32(i), op)
		if err != nil {
			// Not sendable: nothing goes out for it and nothing is awaited.
			errs[i] = err
		}
	}
	w.seq += uint32(len(ops))
	pending := 0
	for _, e := range errs {
		if e == nil {
			pending++
		}
	}
	answered := make([]bool, len(ops))
	for i, e := range errs {
		answered[i] = e != nil
	}
	if pending == 0 {
		return
	}
	if err := unix.Sendto(w.fd, w.buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		for i := range errs {
			if !answered[i] {
				errs[i] = fmt.Errorf("netlink send: %w", err)
			}
		}
		return
	}
	for pending > 0 {
		n, _, err := unix.Recvfrom(w.fd, w.rbuf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if err == unix.EAGAIN {
				err = errors.New("no acknowledgement within 30s")
			}
			for i := range errs {
				if !answered[i] {
					errs[i] = fmt.Errorf("netlink receive: %w", err)
				}
			}
			return
		}
		msgs, err := syscall.ParseNetlinkMessage(w.rbuf[:n])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			i := int(m.Header.Seq - first)
			if m.Header.Type != unix.NLMSG_ERROR || i < 0 || i >= len(ops) || answered[i] || len(m.Data) < 4 {
				continue
			}
			if code := int32(binary.NativeEndian.Uint32(m.Data[:4])); code != 0 {
				errs[i] = syscall.Errno(-code)
			}
			answered[i] = true
			pending--
		}
	}
}

// appendOp appends the request for op with sequence number seq. On error nothing
// is appended.
func appendOp(b []byte, family uint16, seq uint32, op Op) ([]byte, error) {
	var cmd uint8
	switch op.Kind {
	case AddService:
		cmd = ipvsCmdNewService
	case UpdateService:
		cmd = ipvsCmdSetService
	case DeleteService:
		cmd = ipvsCmdDelService
	case AddDest:
		cmd = ipvsCmdNewDest
	case UpdateDest:
		cmd = ipvsCmdSetDest
	case DeleteDest:
		cmd = ipvsCmdDelDest
	default:
		return b, fmt.Errorf("unknown op kind %d", op.Kind)
	}
	svc := op.Service.Normalize()
	if !svc.IsFWMark() && FamilyOf(svc.Addr.Addr()) != svc.Family {
		return b, fmt.Errorf("service address %s is not %s", svc.Addr.Addr(), svc.Family)
	}
	var fwd uint32
	switch op.Dest.Forwarding {
	case ForwardDR:
		fwd = connFwdDR
	case ForwardNAT:
		fwd = connFwdMasq
	case ForwardTunnel:
		fwd = connFwdTunnel
	case ForwardLocal:
		fwd = connFwdLocal
	case ForwardBypass:
		fwd = connFwdBypass
	default:
		return b, fmt.Errorf("unknown forwarding %d", op.Dest.Forwarding)
	}
	if op.Dest.Weight < 0 || op.Dest.Weight > 65535 {
		return b, fmt.Errorf("weight %d is out of range 0..65535", op.Dest.Weight)
	}

	start := len(b)
	b = binary.NativeEndian.AppendUint32(b, 0) // nlmsg_len, set below
	b = binary.NativeEndian.AppendUint16(b, family)
	b = binary.NativeEndian.AppendUint16(b, unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0) // pid: the kernel's is 0
	b = append(b, cmd, ipvsGenlVersion, 0, 0)

	nest := len(b)
	b = attrHeader(b, ipvsCmdAttrService)
	b = attrU16(b, ipvsSvcAttrAF, afOf(svc.Family))
	if svc.IsFWMark() {
		b = attrU32(b, ipvsSvcAttrFWMark, svc.FWMark)
	} else {
		b = attrU16(b, ipvsSvcAttrProtocol, uint16(svc.Protocol))
		b = attrAddr(b, ipvsSvcAttrAddr, svc.Addr.Addr().As16(), svc.Family)
		b = attr(b, ipvsSvcAttrPort, binary.BigEndian.AppendUint16(nil, svc.Addr.Port()))
	}
	b = attr(b, ipvsSvcAttrSchedName, append([]byte(svc.Scheduler), 0))
	flags := binary.NativeEndian.AppendUint32(nil, uint32(svc.Flags&^FlagHashed))
	b = attr(b, ipvsSvcAttrFlags, binary.NativeEndian.AppendUint32(flags, 0xffffffff))
	b = attrU32(b, ipvsSvcAttrTimeout, uint32(svc.Timeout/time.Second))
	b = attr(b, ipvsSvcAttrNetmask, netmaskBytes(svc))
	b = endNest(b, nest)

	switch op.Kind {
	case AddDest, UpdateDest, DeleteDest:
		a := op.Dest.Addr.Addr().Unmap()
		fam := FamilyOf(a)
		nest := len(b)
		b = attrHeader(b, ipvsCmdAttrDest)
		b = attrAddr(b, ipvsDestAttrAddr, a.As16(), fam)
		b = attr(b, ipvsDestAttrPort, binary.BigEndian.AppendUint16(nil, op.Dest.Addr.Port()))
		b = attrU32(b, ipvsDestAttrFwdMethod, fwd)
		b = attrU32(b, ipvsDestAttrWeight, uint32(op.Dest.Weight))
		b = attrU32(b, ipvsDestAttrUThresh, op.Dest.UpperThreshold)
		b = attrU32(b, ipvsDestAttrLThresh, op.Dest.LowerThreshold)
		// The destination's own family: the kernel accepts one that differs from
		// the service's for tunnels.
		b = attrU16(b, ipvsDestAttrAF, afOf(fam))
		b = endNest(b, nest)
	}
	binary.NativeEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b, nil
}

// netmaskBytes is the service's netmask as the kernel keeps it: an IPv4 mask in
// network byte order, an IPv6 prefix length as a host-order u32. The kernel keeps an
// IPv4 mask as sent — a zero mask would put every client in one persistence
// template — and rejects an IPv6 length outside 1..128, so both are always set.
func netmaskBytes(s Service) []byte {
	if s.Family == IPv6 {
		return binary.NativeEndian.AppendUint32(nil, uint32(s.Netmask))
	}
	return binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-s.Netmask))
}

func afOf(f Family) uint16 {
	if f == IPv6 {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

func attrHeader(b []byte, typ uint16) []byte {
	b = binary.NativeEndian.AppendUint16(b, 0)
	return binary.NativeEndian.AppendUint16(b, typ)
}

func endNest(b []byte, at int) []byte {
	binary.NativeEndian.PutUint16(b[at:], uint16(len(b)-at))
	return b
}

func attr(b []byte, typ uint16, v []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(v)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, v...)
	return append(b, make([]byte, (4-len(v)%4)%4)...)
}

func attrU16(b []byte, typ, v uint16) []byte {
	return attr(b, typ, binary.NativeEndian.AppendUint16(nil, v))
}

func attrU32(b []byte, typ uint16, v uint32) []byte {
	return attr(b, typ, binary.NativeEndian.AppendUint32(nil, v))
}

// attrAddr writes an address the way ipvsadm does: the whole 16-byte union, IPv4 in
// its first four bytes.
func attrAddr(b []byte, typ uint16, a16 [16]byte, f Family) []byte {
	var u [16]byte
	if f == IPv4 {
		copy(u[:4], a16[12:])
	} else {
		u = a16
	}
	return attr(b, typ, u[:])
}
