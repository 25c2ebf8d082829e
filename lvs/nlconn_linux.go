package lvs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"os"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The transport: generic-netlink sockets (mdlayher/netlink) in the target
// namespace. Writes go out batched, up to batchOps requests in one sendmsg, which
// the kernel processes in order; reads are one dump request each. moby/ipvs v1.1.0
// has neither the batching nor the 64-bit counters (README.md has what its
// one-request-per-round-trip costs).

// batchOps bounds one sendmsg. Only failures are answered (see batch), each with an
// error ACK well under 1 KiB; the sockets ask for a 4 MiB receive buffer (2 ×
// rmem_max without CAP_NET_ADMIN, still > 400 KiB), so the answers to 256 requests
// always fit.
const batchOps = 256

// nlTimeout bounds the wait for each answer.
const nlTimeout = 30 * time.Second

// nlConn is one generic-netlink socket in the target namespace, used by one
// goroutine at a time.
type nlConn struct {
	c      *netlink.Conn
	family uint16
}

// dialNL opens a socket in the namespace at nsPath ("" = ours) that talks to the
// generic-netlink family.
func dialNL(nsPath string, family uint16) (*nlConn, error) {
	fd, err := socketIn(nsPath)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*nlConn, error) {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20); err != nil {
			return fail(os.NewSyscallError("setsockopt", err))
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20); err != nil {
		return fail(os.NewSyscallError("setsockopt", err))
	}
	// Error ACKs without a copy of the request: smaller, and nothing to parse.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	tv := unix.NsecToTimeval(int64(nlTimeout))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail(os.NewSyscallError("setsockopt", err))
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fail(os.NewSyscallError("bind", err))
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fail(os.NewSyscallError("getsockname", err))
	}
	nsa, ok := sa.(*unix.SockaddrNetlink)
	if !ok {
		return fail(errors.New("netlink socket has no netlink address"))
	}
	sock := &blockingSocket{fd: fd, buf: make([]byte, 64<<10)}
	return &nlConn{c: netlink.NewConn(sock, nsa.Pid), family: family}, nil
}

// socketIn opens a generic-netlink socket in the namespace at nsPath ("" = ours).
// A socket belongs to the namespace it was created in, so a thread of its own
// enters the namespace for the socket call only; if it cannot return, it stays
// locked and ends with its goroutine.
func socketIn(nsPath string) (int, error) {
	open := func() (int, error) {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
		return fd, os.NewSyscallError("socket", err)
	}
	if nsPath == "" {
		return open()
	}
	target, err := os.Open(nsPath)
	if err != nil {
		return -1, err
	}
	defer target.Close()
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{-1, err}
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{-1, fmt.Errorf("enter namespace %s: %w", nsPath, err)}
			return
		}
		fd, err := open()
		if rerr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); rerr != nil {
			if err == nil {
				unix.Close(fd)
			}
			done <- result{-1, fmt.Errorf("return from namespace %s: %w", nsPath, rerr)}
			return
		}
		runtime.UnlockOSThread()
		done <- result{fd, err}
	}()
	r := <-done
	return r.fd, r.err
}

// blockingSocket is the I/O of a netlink.Conn on a plain blocking socket.
// netlink.Dial's sockets are driven by the runtime's network poller, and reading
// the benchmark table through one takes longer (README.md has the figures). The
// kernel answers IPVS requests inside the sendmsg that carries them, so a receive
// never has to wait for a poller.
//
// It reuses its buffers: a sendmsg's bytes, and the datagram it last received,
// whose messages it yields without a copy. They hold until the next datagram is
// read, so an nlConn takes answers only through netlink.Conn.ReceiveIter, which
// hands each message on before it reads on (see nlConn.receive), never through
// netlink.Conn.Receive, which collects a dump of many datagrams.
type blockingSocket struct {
	fd   int
	buf  []byte // the datagram received
	sbuf []byte // the datagram sent
}

func (s *blockingSocket) Close() error { return unix.Close(s.fd) }

func (s *blockingSocket) Send(m netlink.Message) error {
	return s.SendMessages([]netlink.Message{m})
}

// SendMessages sends msgs in one sendmsg.
func (s *blockingSocket) SendMessages(msgs []netlink.Message) error {
	b := s.sbuf[:0]
	for _, m := range msgs {
		mb, err := m.MarshalBinary()
		if err != nil {
			return err
		}
		b = append(b, mb...)
	}
	s.sbuf = b
	return os.NewSyscallError("sendto", unix.Sendto(s.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}))
}

// Receive returns the messages of one datagram, copied: they outlive the next.
func (s *blockingSocket) Receive() ([]netlink.Message, error) {
	var msgs []netlink.Message
	for m, err := range s.ReceiveIter() {
		if err != nil {
			return nil, err
		}
		m.Data = bytes.Clone(m.Data)
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// ReceiveIter yields the messages of one datagram, which hold until the next
// datagram is read.
func (s *blockingSocket) ReceiveIter() iter.Seq2[netlink.Message, error] {
	return func(yield func(netlink.Message, error) bool) {
		n, err := s.recv()
		if err != nil {
			yield(netlink.Message{}, err)
			return
		}
		// Whole 4-byte units, as netlink.Message.UnmarshalBinary wants; the kernel
		// pads every message, so this changes nothing in a well-formed datagram.
		b := s.buf[:min((n+3)&^3, len(s.buf))]
		for len(b) >= unix.NLMSG_HDRLEN {
			l := (int(binary.NativeEndian.Uint32(b)) + 3) &^ 3
			var m netlink.Message
			if l > len(b) {
				yield(m, errors.New("netlink: message longer than its datagram"))
				return
			}
			if err := m.UnmarshalBinary(b[:l]); err != nil {
				yield(m, err)
				return
			}
			if !yield(m, nil) {
				return
			}
			b = b[l:]
		}
	}
}

func (s *blockingSocket) recv() (int, error) {
	for {
		n, _, flags, _, err := unix.Recvmsg(s.fd, s.buf, nil, 0)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, fmt.Errorf("no answer within %v", nlTimeout) // SO_RCVTIMEO
		case err != nil:
			// Never a bare errno, which nlErrno takes for the kernel's answer.
			return 0, os.NewSyscallError("recvmsg", err)
		case flags&unix.MSG_TRUNC != 0:
			// The kernel sizes dump datagrams to at most 32 KiB when the reader
			// offers more, which the 64 KiB buffer does.
			return 0, errors.New("netlink datagram cut: larger than the receive buffer")
		}
		return n, nil
	}
}

func (c *nlConn) close() { c.c.Close() }

// message is the request cmd of the family carrying the attributes attrs.
func (c *nlConn) message(cmd uint8, flags netlink.HeaderFlags, attrs []byte) netlink.Message {
	_, m := c.appendMessage(nil, cmd, flags, attrs)
	return m
}

// appendMessage is message with its data appended to buf, returned too: a batch
// keeps the data of its requests in one buffer, reused by the next batch. Should
// an append move buf, the earlier messages keep the old array, which holds their
// data still.
func (c *nlConn) appendMessage(buf []byte, cmd uint8, flags netlink.HeaderFlags, attrs []byte) ([]byte, netlink.Message) {
	// The genl header alone and attrs after it: genetlink.Message.MarshalBinary
	// with the attributes would allocate twice, for the header and for the whole.
	h, _ := genetlink.Message{Header: genetlink.Header{Command: cmd, Version: ipvsGenlVersion}}.MarshalBinary() // never fails
	n := len(buf)
	buf = append(append(buf, h...), attrs...)
	return buf, netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(c.family), Flags: netlink.Request | flags}, Data: buf[n:len(buf):len(buf)]}
}

// apply sends ops in batches and returns one result per op: nil, or the error
// that kept it from being sent, or the errno the kernel answered.
func (c *nlConn) apply(ops []Op) []error {
	errs := make([]error, len(ops))
	msgs := make([]netlink.Message, 0, min(len(ops), batchOps))
	at := make([]int, 0, cap(msgs)) // msgs[j] is the request of ops[at[j]]
	var data []byte                 // the data of msgs (see appendMessage)
	flush := func() {
		for j, err := range c.batch(msgs) {
			errs[at[j]] = err
		}
		msgs, at, data = msgs[:0], at[:0], data[:0]
	}
	var enc opEncoder
	for i, op := range ops {
		cmd, attrs, err := enc.encode(op)
		if err != nil {
			// Not sendable: nothing goes out for it and nothing is awaited.
			errs[i] = err
			continue
		}
		var m netlink.Message
		data, m = c.appendMessage(data, cmd, 0, attrs)
		msgs = append(msgs, m)
		at = append(at, i)
		if len(msgs) == batchOps {
			flush()
		}
	}
	if len(msgs) > 0 {
		flush()
	}
	return errs
}

// batch sends msgs in one sendmsg and returns one result per request: nil, or the
// errno the kernel answered it with, or why the answers never came.
//
// Only the last request asks for an ACK. The kernel answers the others only when
// they fail, and handles the requests of one sendmsg in order, answering each
// before it takes the next: once the last one's ACK (or error) is in, every
// failure before it has been reported, and a success costs no datagram and no
// receive at all.
func (c *nlConn) batch(msgs []netlink.Message) []error {
	errs := make([]error, len(msgs))
	if len(msgs) == 0 {
		return errs
	}
	msgs[len(msgs)-1].Header.Flags |= netlink.Acknowledge
	sent, err := c.c.SendMessages(msgs)
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	last := sent[len(sent)-1].Header.Sequence
	fail := func(err error) []error {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return errs
	}
	for {
		// The kernel sends every ACK in a datagram of its own, so an error ACK,
		// which ends the iteration as an error, hides no other answer.
		for m, err := range c.receive() {
			if seq, errno, ok := nlErrno(err); ok {
				// Failures are few: a scan costs less than an index of every batch.
				if i := slices.IndexFunc(sent, func(m netlink.Message) bool { return m.Header.Sequence == seq }); i >= 0 {
					errs[i] = errno
				}
				if seq == last {
					return errs
				}
				continue
			}
			if err != nil {
				return fail(err)
			}
			if m.Header.Type == netlink.Error && m.Header.Sequence == last {
				return errs
			}
		}
	}
}

// receive yields the messages of one answer: a datagram, or a dump up to the DONE
// it drops. Each holds only until the iteration goes on (see blockingSocket).
func (c *nlConn) receive() iter.Seq2[netlink.Message, error] { return c.c.ReceiveIter() }

// exchange sends one request and calls fn, if set, with the attributes of each
// message of its answer: a reply, or a dump up to its end. An ACK (asked for with
// netlink.Acknowledge) or the errno the kernel answered with ends it too.
// Answers to earlier requests, late after a timeout, are skipped. The attributes
// hold only during the call of fn.
func (c *nlConn) exchange(cmd uint8, flags netlink.HeaderFlags, attrs []byte, fn func(attrs []byte) error) error {
	req, err := c.c.Send(c.message(cmd, flags, attrs))
	if err != nil {
		return err
	}
	seq := req.Header.Sequence
	for {
		n, mine := 0, false
		for m, err := range c.receive() {
			n++
			if got, errno, ok := nlErrno(err); ok {
				if got == seq {
					return errno
				}
				continue
			}
			if err != nil {
				return err
			}
			if m.Header.Sequence != seq {
				continue
			}
			mine = true
			if m.Header.Type == netlink.Error || fn == nil {
				continue
			}
			var gm genetlink.Message
			if err := gm.UnmarshalBinary(m.Data); err != nil {
				return err
			}
			if err := fn(gm.Data); err != nil {
				return err
			}
		}
		if mine || n == 0 { // n == 0: an empty dump, nothing but its DONE
			return nil
		}
	}
}

// nlErrno reports the sequence number and errno of a netlink error answer, which
// netlink.Conn.Receive returns as an *netlink.OpError holding a bare errno (socket
// failures hold an *os.SyscallError).
func nlErrno(err error) (uint32, syscall.Errno, bool) {
	var oe *netlink.OpError
	if !errors.As(err, &oe) {
		return 0, 0, false
	}
	errno, ok := oe.Err.(syscall.Errno)
	return oe.Sequence, errno, ok
}
