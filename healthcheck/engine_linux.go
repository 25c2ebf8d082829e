package healthcheck

import (
	"errors"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// connEngine runs the TCP checks of one Monitor the way keepalived does, without a
// goroutine per check: the scheduler opens each connection (socket, connect, and an
// epoll_ctl on the engine's own epoll instance) and one goroutine collects them all: it
// reads each outcome (the event itself; SO_ERROR for the reason of a failure), closes the
// socket and reports: fewer system calls than net.Dialer, no goroutine per check, and no
// poller wake-ups per check (README.md, "Design notes"). The engine's epoll instance is
// itself waited on through the Go runtime's poller, so the engine never blocks a thread in
// a system call: a thread blocked in one keeps the runtime's monitor thread polling every
// 20 µs, and on a slow CPU that costs more than the checks.
//
// Time is the Monitor's Clock: deadlines are its times, every reading is its Now, and the
// earliest deadline is one of its timers, which a small goroutine turns into a wake-up of
// the loop (a read deadline in the past). So a test's fake clock times TCP checks out
// through this same code. Under the system clock that costs one goroutine hop per timer
// firing, about once per timeout, not per check.
//
// A check that reaches its deadline takes a last look at its socket (getpeername) before it
// is called a timeout: a connection established in time but noticed late, by a process
// short of CPU, is a success.
type connEngine struct {
	epfd  int
	file  *os.File // epfd, for the runtime poller
	raw   syscall.RawConn
	clock Clock

	mu     sync.Mutex
	ops    map[int]*connOp  // by socket
	queue  minHeap[*connOp] // by deadline
	timer  Timer            // armed for wakeAt
	wakeAt time.Time        // when the loop wakes for deadlines; zero: never
	stop   bool
	done   chan struct{} // closed when the loop has returned
	quit   chan struct{} // closed by close: the waker returns
	woken  chan struct{} // closed when the waker has returned
}

// opKind is what an op waits for.
type opKind uint8

const (
	// opConnect: a TCP connect; writable means established.
	opConnect opKind = iota
	// opExchange: a datagram sent on a connected UDP socket; readable means a reply (or a
	// reported ICMP error), which the op's exchange judges.
	opExchange
)

type connOp struct {
	kind     opKind
	fd       int
	deadline time.Time
	index    int
	x        exchange // opExchange only
	report   func(err error, end time.Time)
}

// newConnEngine starts an engine that keeps clk's time.
func newConnEngine(clk Clock) (*connEngine, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// Non-blocking, so that os.NewFile hands it to the runtime poller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	f := os.NewFile(uintptr(epfd), "healthcheck-epoll")
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	e := &connEngine{epfd: epfd, file: f, raw: raw, clock: clk, ops: map[int]*connOp{},
		done: make(chan struct{}), quit: make(chan struct{}), woken: make(chan struct{})}
	e.queue = newMinHeap(
		func(a, b *connOp) bool { return a.deadline.Before(b.deadline) },
		func(op *connOp, i int) { op.index = i })
	e.timer = clk.NewTimer(time.Hour)
	e.timer.Stop()
	go e.waker()
	go e.loop()
	return e, nil
}

// waker wakes the loop whenever the timer fires. A firing that the loop has already seen
// past (it re-armed meanwhile) only costs the loop a look.
func (e *connEngine) waker() {
	defer close(e.woken)
	for {
		select {
		case <-e.timer.C():
			e.file.SetReadDeadline(time.Unix(1, 0))
		case <-e.quit:
			return
		}
	}
}

// arm makes the loop wake at t (zero: only for events). e.mu is held.
func (e *connEngine) arm(t time.Time) {
	e.wakeAt = t
	if t.IsZero() {
		e.timer.Stop()
		return
	}
	e.timer.Reset(t.Sub(e.clock.Now()))
}

// supports reports whether the engine can check addr from bindTo.
func (e *connEngine) supports(addr netip.AddrPort, bindTo netip.Addr) bool {
	return e != nil && addr.Addr().Zone() == "" && bindTo.Zone() == ""
}

// start begins a connect check. report is called exactly once, with nil when the
// connection was established and the time the outcome was seen, from the engine's
// goroutine or, when the outcome is known at once, from start itself.
func (e *connEngine) start(addr netip.AddrPort, bindTo netip.Addr, deadline time.Time, report func(err error, end time.Time)) {
	fd, err := openConnect(addr, bindTo)
	if fd < 0 {
		report(err, e.clock.Now())
		return
	}
	e.add(&connOp{kind: opConnect, fd: fd, deadline: deadline, report: report}, unix.EPOLLOUT)
}

// exchange begins a UDP check: it sends x's request from a socket connected to addr and
// reports, exactly once as start does, x's judgement of the first answer, the error the
// socket reports (an ICMP port unreachable is ECONNREFUSED), or x's silence at the deadline.
func (e *connEngine) exchange(addr netip.AddrPort, bindTo netip.Addr, x exchange, deadline time.Time, report func(err error, end time.Time)) {
	req, err := x.request()
	fd := -1
	if err == nil {
		fd, err = openExchange(addr, bindTo, req)
	}
	if fd < 0 {
		report(err, e.clock.Now())
		return
	}
	e.add(&connOp{kind: opExchange, fd: fd, deadline: deadline, x: x, report: report}, unix.EPOLLIN)
}

// add registers op's socket for events and its deadline.
func (e *connEngine) add(op *connOp, events uint32) {
	fd, deadline, report := op.fd, op.deadline, op.report
	e.mu.Lock()
	if e.stop {
		e.mu.Unlock()
		rawClose(fd)
		report(errEngineStopped, e.clock.Now())
		return
	}
	// Registered under the lock, so the loop cannot see the socket's event (or let the
	// socket time out and be closed, and its number reused) before the op is recorded.
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	if err := rawEpollCtl(e.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		e.mu.Unlock()
		rawClose(fd)
		report(os.NewSyscallError("epoll_ctl", err), e.clock.Now())
		return
	}
	e.ops[fd] = op
	e.queue.Push(op)
	if e.wakeAt.IsZero() || deadline.Before(e.wakeAt) {
		// The loop would sleep past this deadline (usually not: timeouts are alike and
		// checks start in order).
		e.arm(deadline)
	}
	e.mu.Unlock()
}

var errEngineStopped = os.NewSyscallError("connect", unix.ECANCELED)

func (e *connEngine) loop() {
	defer close(e.done)
	events := make([]unix.EpollEvent, 256)
	c := collector{e: e, buf: make([]byte, maxDatagram)}
	var now time.Time // of the last wake-up for deadlines
	for {
		e.mu.Lock()
		if e.stop {
			e.mu.Unlock()
			return
		}
		// Waking before the earliest deadline is harmless (the loop looks and sleeps
		// again); re-arming the timer costs a clock read and timer work. So the timer
		// moves only when it has fired or a check needs an earlier one: about once per
		// timeout under steady load, not once per wake-up.
		switch {
		case e.queue.Len() == 0:
			if !e.wakeAt.IsZero() && !e.wakeAt.After(now) {
				e.arm(time.Time{})
			}
		case e.wakeAt.IsZero() || e.queue.Min().deadline.Before(e.wakeAt) || !e.wakeAt.After(now):
			e.arm(e.queue.Min().deadline)
		}
		e.mu.Unlock()

		// One Read serves every event until the next wake-up for deadlines: within a Read
		// the poller keeps the epoll instance's readiness between calls of the func, so
		// the func polls until the set is drained, ends what it found and waits for the
		// next edge without another poll. A new Read forgets that readiness, so it begins
		// with a poll; it costs one per wake-up for deadlines, not one per event
		// (README.md, "Design notes").
		err := e.raw.Read(func(fd uintptr) bool {
			for {
				n, _ := rawEpollPoll(int(fd), events)
				if n <= 0 {
					return false
				}
				c.collect(events[:n], e.clock.Now())
				if n < len(events) {
					return false
				}
			}
		})
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return // the file was closed
		}
		// The waker's wake-up (or close's). It is cleared before the clock is read, so
		// that a firing after the clear wakes the loop again and one before it is seen
		// in now.
		e.file.SetReadDeadline(time.Time{})
		now = e.clock.Now()
		c.collect(nil, now)
	}
}

// collector ends the checks of the engine's loop: those whose socket has an event and
// those past their deadline.
type collector struct {
	e   *connEngine
	buf []byte
	out []outcome
}

type outcome struct {
	op  *connOp
	err error
}

// collect ends the checks with the events evs and those whose deadline is not after now,
// and reports them at now.
func (c *collector) collect(evs []unix.EpollEvent, now time.Time) {
	e := c.e
	e.mu.Lock()
	for _, ev := range evs {
		op := e.ops[int(ev.Fd)]
		if op == nil {
			continue
		}
		var res error
		if op.kind == opExchange {
			done, err := readReplies(op, c.buf)
			if !done {
				continue // a stray datagram: wait on
			}
			res = err
		} else if ev.Events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			// EPOLLOUT alone means established; only a failure needs SO_ERROR for its reason.
			res = os.NewSyscallError("connect", unix.ECONNRESET)
			if v, err := rawGetsockoptInt(op.fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil {
				res = os.NewSyscallError("getsockopt", err)
			} else if v != 0 {
				res = os.NewSyscallError("connect", unix.Errno(v))
			}
		}
		e.remove(op)
		c.out = append(c.out, outcome{op, res})
	}
	for e.queue.Len() > 0 && !e.queue.Min().deadline.After(now) {
		op := e.queue.Min()
		var res error
		switch op.kind {
		case opExchange:
			// The last look: an answer that came in time but was not read yet counts.
			if done, err := readReplies(op, c.buf); done {
				res = err
			} else {
				res = op.x.silence()
			}
		default:
			if !rawConnected(op.fd) {
				res = os.ErrDeadlineExceeded
			}
		}
		e.remove(op)
		c.out = append(c.out, outcome{op, res})
	}
	e.mu.Unlock()
	for i, o := range c.out {
		o.op.report(o.err, now)
		c.out[i] = outcome{}
	}
	c.out = c.out[:0]
}

// remove forgets op and closes its socket (which also takes it out of the epoll set).
// e.mu is held.
func (e *connEngine) remove(op *connOp) {
	delete(e.ops, op.fd)
	e.queue.Remove(op.index)
	rawClose(op.fd)
}

// close stops the engine; the checks still in flight are reported as cancelled.
func (e *connEngine) close() {
	e.mu.Lock()
	e.stop = true
	e.file.SetReadDeadline(time.Unix(1, 0))
	e.mu.Unlock()
	<-e.done
	close(e.quit)
	<-e.woken
	e.mu.Lock()
	e.timer.Stop()
	ops := e.queue.Clear()
	e.ops = map[int]*connOp{}
	for _, op := range ops {
		unix.Close(op.fd)
	}
	e.mu.Unlock()
	now := e.clock.Now()
	for _, op := range ops {
		op.report(errEngineStopped, now)
	}
	e.file.Close()
}

// readReplies reads op's socket until op's exchange has an answer, an error is reported
// (done, with the error), or nothing is left to read (not done).
func readReplies(op *connOp, buf []byte) (done bool, err error) {
	for {
		n, err := rawRecv(op.fd, buf)
		switch {
		case err == unix.EAGAIN || err == unix.EINTR:
			return false, nil
		case err != nil:
			return true, os.NewSyscallError("recv", err)
		}
		if done, err := op.x.reply(buf[:n]); done {
			return true, err
		}
	}
}

// openExchange creates a non-blocking UDP socket, binds it to bindTo when valid, connects
// it to addr (so that the kernel drops datagrams from anyone else and reports ICMP errors
// for addr on the socket) and sends req. It returns the socket, or -1 and the error.
func openExchange(addr netip.AddrPort, bindTo netip.Addr, req []byte) (int, error) {
	sa := makeSockaddr(addr.Addr(), addr.Port())
	fd, err := rawSocket(sa.family(), unix.SOCK_DGRAM, unix.IPPROTO_UDP)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if bindTo.IsValid() {
		local := makeSockaddr(bindTo, 0)
		if local.four != sa.four {
			rawClose(fd)
			return -1, os.NewSyscallError("bind", unix.EAFNOSUPPORT)
		}
		if err := rawBind(fd, local); err != nil {
			rawClose(fd)
			return -1, os.NewSyscallError("bind", err)
		}
	}
	// As keepalived: every ICMP error about addr (host unreachable too, not only the
	// "hard" port unreachable) is reported on the socket.
	level, opt := unix.IPPROTO_IP, unix.IP_RECVERR
	if !sa.four {
		level, opt = unix.IPPROTO_IPV6, unix.IPV6_RECVERR
	}
	rawSetsockoptInt(fd, level, opt, 1)
	if err := rawConnect(fd, sa); err != nil {
		rawClose(fd)
		return -1, os.NewSyscallError("connect", err)
	}
	if err := rawSend(fd, req); err != nil {
		rawClose(fd)
		return -1, os.NewSyscallError("send", err)
	}
	return fd, nil
}

// openConnect creates a non-blocking TCP socket, binds it to bindTo when valid and starts
// connecting it to addr. It returns the socket while the connect is in progress, or -1
// and the outcome (nil: connected at once) when it is already known.
func openConnect(addr netip.AddrPort, bindTo netip.Addr) (int, error) {
	sa := makeSockaddr(addr.Addr(), addr.Port())
	fd, err := rawSocket(sa.family(), unix.SOCK_STREAM, unix.IPPROTO_TCP)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if bindTo.IsValid() {
		// Choose the source port at connect time, per destination, rather than at bind
		// time from the one range every destination shares.
		rawSetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		local := makeSockaddr(bindTo, 0)
		if local.four != sa.four {
			rawClose(fd)
			return -1, os.NewSyscallError("bind", unix.EAFNOSUPPORT)
		}
		if err := rawBind(fd, local); err != nil {
			rawClose(fd)
			return -1, os.NewSyscallError("bind", err)
		}
	}
	switch err := rawConnect(fd, sa); err {
	case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
		return fd, nil
	case nil:
		rawClose(fd)
		return -1, nil
	default:
		rawClose(fd)
		return -1, os.NewSyscallError("connect", err)
	}
}
