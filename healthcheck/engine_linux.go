package healthcheck

import (
	"container/heap"
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
// socket and reports. That is four system calls per passing check plus a shared epoll_wait, against about nine, a goroutine start and two poller
// wake-ups through net.Dialer. The engine's epoll instance is itself waited on through the
// Go runtime's poller, and its timeouts are runtime timers (the file's read deadline), so
// the engine never blocks a thread in a system call: that would keep the runtime's
// monitor thread polling every 20 µs, which under emulation (the VM benchmark) cost more
// than the checks.
//
// A check that reaches its deadline takes a last look at its socket (getpeername) before it
// is called a timeout: a connection established in time but noticed late, by a process
// short of CPU, is a success.
type connEngine struct {
	epfd int
	file *os.File // epfd, for the runtime poller
	raw  syscall.RawConn

	mu     sync.Mutex
	ops    map[int]*connOp // by socket
	queue  opHeap          // by deadline
	wakeAt time.Time       // the read deadline the loop waits with; zero: none
	stop   bool
	done   chan struct{}
}

type connOp struct {
	fd       int
	deadline time.Time
	index    int
	report   func(error)
}

func newConnEngine() (*connEngine, error) {
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
	e := &connEngine{epfd: epfd, file: f, raw: raw, ops: map[int]*connOp{}, done: make(chan struct{})}
	go e.loop()
	return e, nil
}

// supports reports whether the engine can check addr from bindTo.
func (e *connEngine) supports(addr netip.AddrPort, bindTo netip.Addr) bool {
	return e != nil && addr.Addr().Zone() == "" && bindTo.Zone() == ""
}

// start begins a connect check. report is called exactly once, with nil when the
// connection was established, from the engine's goroutine or, when the outcome is known at
// once, from start itself.
func (e *connEngine) start(addr netip.AddrPort, bindTo netip.Addr, deadline time.Time, report func(error)) {
	fd, err := openConnect(addr, bindTo)
	if fd < 0 {
		report(err)
		return
	}
	op := &connOp{fd: fd, deadline: deadline, report: report}
	e.mu.Lock()
	if e.stop {
		e.mu.Unlock()
		unix.Close(fd)
		report(errEngineStopped)
		return
	}
	// Registered under the lock, so the loop cannot see the socket's event (or let the
	// socket time out and be closed, and its number reused) before the op is recorded.
	ev := unix.EpollEvent{Events: unix.EPOLLOUT, Fd: int32(fd)}
	if err := unix.EpollCtl(e.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		e.mu.Unlock()
		unix.Close(fd)
		report(os.NewSyscallError("epoll_ctl", err))
		return
	}
	e.ops[fd] = op
	heap.Push(&e.queue, op)
	if e.wakeAt.IsZero() || deadline.Before(e.wakeAt) {
		// The loop would sleep past this deadline (usually not: timeouts are alike and
		// checks start in order).
		e.wakeAt = deadline
		e.file.SetReadDeadline(deadline)
	}
	e.mu.Unlock()
}

var errEngineStopped = os.NewSyscallError("connect", unix.ECANCELED)

func (e *connEngine) loop() {
	defer close(e.done)
	events := make([]unix.EpollEvent, 256)
	type outcome struct {
		op  *connOp
		err error
	}
	var out []outcome
	for {
		e.mu.Lock()
		if e.stop {
			e.mu.Unlock()
			return
		}
		var next time.Time
		if len(e.queue) > 0 {
			next = e.queue[0].deadline
		}
		if !next.Equal(e.wakeAt) {
			e.wakeAt = next
			e.file.SetReadDeadline(next)
		}
		e.mu.Unlock()

		n := 0
		err := e.raw.Read(func(fd uintptr) bool {
			n, _ = unix.EpollWait(int(fd), events, 0)
			return n > 0
		})
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return // the file was closed
		}
		now := time.Now()
		e.mu.Lock()
		for _, ev := range events[:max(n, 0)] {
			op := e.ops[int(ev.Fd)]
			if op == nil {
				continue
			}
			// EPOLLOUT alone means established; only a failure needs SO_ERROR for its reason.
			var res error
			if ev.Events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
				res = os.NewSyscallError("connect", unix.ECONNRESET)
				if v, err := unix.GetsockoptInt(op.fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil {
					res = os.NewSyscallError("getsockopt", err)
				} else if v != 0 {
					res = os.NewSyscallError("connect", unix.Errno(v))
				}
			}
			e.remove(op)
			out = append(out, outcome{op, res})
		}
		for len(e.queue) > 0 && !e.queue[0].deadline.After(now) {
			op := e.queue[0]
			var res error
			if _, err := unix.Getpeername(op.fd); err != nil {
				res = os.ErrDeadlineExceeded
			}
			e.remove(op)
			out = append(out, outcome{op, res})
		}
		e.mu.Unlock()
		for i, o := range out {
			o.op.report(o.err)
			out[i] = outcome{}
		}
		out = out[:0]
	}
}

// remove forgets op and closes its socket (which also takes it out of the epoll set).
// e.mu is held.
func (e *connEngine) remove(op *connOp) {
	delete(e.ops, op.fd)
	heap.Remove(&e.queue, op.index)
	unix.Close(op.fd)
}

// close stops the engine; the checks still in flight are reported as cancelled.
func (e *connEngine) close() {
	e.mu.Lock()
	e.stop = true
	e.file.SetReadDeadline(time.Unix(1, 0))
	e.mu.Unlock()
	<-e.done
	e.mu.Lock()
	ops := e.queue
	e.queue, e.ops = nil, map[int]*connOp{}
	for _, op := range ops {
		unix.Close(op.fd)
	}
	e.mu.Unlock()
	for _, op := range ops {
		op.report(errEngineStopped)
	}
	e.file.Close()
}

// openConnect creates a non-blocking TCP socket, binds it to bindTo when valid and starts
// connecting it to addr. It returns the socket while the connect is in progress, or -1
// and the outcome (nil: connected at once) when it is already known.
func openConnect(addr netip.AddrPort, bindTo netip.Addr) (int, error) {
	ip := addr.Addr().Unmap()
	family := unix.AF_INET6
	if ip.Is4() {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if bindTo.IsValid() {
		// Choose the source port at connect time, per destination, rather than at bind
		// time from the one range every destination shares.
		unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		if err := unix.Bind(fd, sockaddr(bindTo.Unmap(), 0, family)); err != nil {
			unix.Close(fd)
			return -1, os.NewSyscallError("bind", err)
		}
	}
	switch err := unix.Connect(fd, sockaddr(ip, addr.Port(), family)); err {
	case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
		return fd, nil
	case nil:
		unix.Close(fd)
		return -1, nil
	default:
		unix.Close(fd)
		return -1, os.NewSyscallError("connect", err)
	}
}

func sockaddr(ip netip.Addr, port uint16, family int) unix.Sockaddr {
	if family == unix.AF_INET {
		return &unix.SockaddrInet4{Addr: ip.As4(), Port: int(port)}
	}
	return &unix.SockaddrInet6{Addr: ip.As16(), Port: int(port)}
}

type opHeap []*connOp

func (h opHeap) Len() int           { return len(h) }
func (h opHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h opHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *opHeap) Push(x any) {
	op := x.(*connOp)
	op.index = len(*h)
	*h = append(*h, op)
}
func (h *opHeap) Pop() any {
	old := *h
	op := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return op
}
