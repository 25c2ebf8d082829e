package lvs

import (
	"errors"
	"fmt"
	"os"
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

// nlTimeout bounds the wait for the answers to one request or batch.
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
	cfg := &netlink.Config{
		// One recvmsg per datagram into a buffer larger than any (the kernel fills
		// dump datagrams up to 32 KiB for a reader that offers more), instead of a
		// peek to size each one.
		MessageBufferSize: 64 << 10,
	}
	if nsPath != "" {
		// A socket belongs to the namespace it was created in: netlink enters
		// this one on a locked thread for the socket call only.
		f, err := os.Open(nsPath)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		cfg.NetNS = int(f.Fd())
	}
	c, err := netlink.Dial(unix.NETLINK_GENERIC, cfg)
	if err != nil {
		return nil, err
	}
	if err := c.SetReadBuffer(4 << 20); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.SetWriteBuffer(1 << 20); err != nil {
		c.Close()
		return nil, err
	}
	// Error ACKs without a copy of the request: smaller, and nothing to parse.
	_ = c.SetOption(netlink.CapAcknowledge, true)
	return &nlConn{c: c, family: family}, nil
}

func (c *nlConn) close() { c.c.Close() }

// message is the request cmd of the family carrying the attributes attrs.
func (c *nlConn) message(cmd uint8, flags netlink.HeaderFlags, attrs []byte) netlink.Message {
	b, _ := genetlink.Message{Header: genetlink.Header{Command: cmd, Version: ipvsGenlVersion}, Data: attrs}.MarshalBinary() // never fails
	return netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(c.family), Flags: netlink.Request | flags}, Data: b}
}

// apply sends ops in batches and returns one result per op: nil, or the error
// that kept it from being sent, or the errno the kernel answered.
func (c *nlConn) apply(ops []Op) []error {
	errs := make([]error, len(ops))
	msgs := make([]netlink.Message, 0, min(len(ops), batchOps))
	at := make([]int, 0, cap(msgs)) // msgs[j] is the request of ops[at[j]]
	flush := func() {
		for j, err := range c.batch(msgs) {
			errs[at[j]] = err
		}
		msgs, at = msgs[:0], at[:0]
	}
	for i, op := range ops {
		cmd, attrs, err := encodeOp(op)
		if err != nil {
			// Not sendable: nothing goes out for it and nothing is awaited.
			errs[i] = err
			continue
		}
		msgs = append(msgs, c.message(cmd, 0, attrs))
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
// failure before it has been reported, and a success costs no datagram, no
// receive and no wake-up at all.
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
	at := make(map[uint32]int, len(sent))
	for i, m := range sent {
		at[m.Header.Sequence] = i
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
	if err := c.c.SetReadDeadline(time.Now().Add(nlTimeout)); err != nil {
		return fail(err)
	}
	for {
		// The kernel sends every ACK in a datagram of its own, so an error ACK,
		// which Receive returns as an error, hides no other answer.
		answers, err := c.c.Receive()
		if seq, errno, ok := nlErrno(err); ok {
			if i, mine := at[seq]; mine {
				errs[i] = errno
			}
			if seq == last {
				return errs
			}
			continue
		}
		if err != nil {
			return fail(receiveError(err))
		}
		for _, m := range answers {
			if m.Header.Type == netlink.Error && m.Header.Sequence == last {
				return errs
			}
		}
	}
}

// exchange sends one request and calls fn, if set, with the attributes of each
// message of its answer: a reply, or a dump up to its end. An ACK (asked for with
// netlink.Acknowledge) or the errno the kernel answered with ends it too.
// Answers to earlier requests, late after a timeout, are skipped.
func (c *nlConn) exchange(cmd uint8, flags netlink.HeaderFlags, attrs []byte, fn func(attrs []byte) error) error {
	req, err := c.c.Send(c.message(cmd, flags, attrs))
	if err != nil {
		return err
	}
	seq := req.Header.Sequence
	if err := c.c.SetReadDeadline(time.Now().Add(nlTimeout)); err != nil {
		return err
	}
	for {
		// One Receive returns a whole dump, up to the DONE it drops.
		answers, err := c.c.Receive()
		if got, errno, ok := nlErrno(err); ok {
			if got == seq {
				return errno
			}
			continue
		}
		if err != nil {
			return receiveError(err)
		}
		if len(answers) == 0 {
			return nil // an empty dump: nothing but its DONE
		}
		mine := false
		for _, m := range answers {
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
		if mine {
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

func receiveError(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("netlink receive: no answer within %v", nlTimeout)
	}
	return err
}
