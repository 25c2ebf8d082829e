//go:build linux

package main

import (
	"bufio"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// backendAddr is the address of backend i: perAddr ports on each of 127.1.a.b, so N
// backends use ceil(N/perAddr) loopback addresses (bounded: at most 250×250 addresses).
func backendAddr(i, perAddr, basePort int) netip.AddrPort {
	k := i / perAddr
	a := netip.AddrFrom4([4]byte{127, 1, byte(k / 250), byte(k%250 + 1)})
	return netip.AddrPortFrom(a, uint16(basePort+i%perAddr))
}

// listenMain is the child process that holds the backends: N TCP listeners that accept
// and close. It prints "ready" once every listener is open, then answers each line on
// stdin with the total of connections accepted so far, and exits when stdin closes.
//
// The backends stand in for real servers on other machines, whose work is no part of a
// checker's cost; here they share the machine with the checker measured, so they are made
// as cheap as a server can be: one goroutine waits on one epoll set holding every
// listener, and each connection costs an accept4 and a close, without the Go runtime's
// per-connection poller registration and goroutine hand-offs of net.Listener.
func listenMain(args []string) error {
	fs := flag.NewFlagSet("listen", flag.ContinueOnError)
	n := fs.Int("n", 10000, "backends")
	perAddr := fs.Int("per-addr", 100, "listeners per loopback address")
	basePort := fs.Int("base-port", 20000, "first port on each address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := raiseNoFile(uint64(*n)+64, uint64(*n)*2+1024); err != nil {
		return err
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	for i := range *n {
		addr := backendAddr(i, *perAddr, *basePort)
		fd, err := listenTCP(addr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", addr, err)
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return os.NewSyscallError("epoll_ctl", err)
		}
	}
	// Waited on through the runtime poller, so no thread blocks in epoll_wait.
	if err := unix.SetNonblock(epfd, true); err != nil {
		return os.NewSyscallError("fcntl", err)
	}
	ep := os.NewFile(uintptr(epfd), "listen-epoll")
	raw, err := ep.SyscallConn()
	if err != nil {
		return err
	}
	var accepted atomic.Uint64
	go func() {
		events := make([]unix.EpollEvent, 512)
		for {
			k := 0
			if err := raw.Read(func(fd uintptr) bool {
				k, _ = unix.EpollWait(int(fd), events, 0)
				return k > 0
			}); err != nil {
				return
			}
			for _, ev := range events[:k] {
				// One connection per event: the set is level-triggered, so a listener
				// with more waiting is reported again.
				c, _, err := unix.Accept4(int(ev.Fd), unix.SOCK_CLOEXEC)
				if err != nil {
					if err == unix.EMFILE || err == unix.ENFILE {
						time.Sleep(time.Millisecond) // the backlog holds the rest
					}
					continue
				}
				unix.Close(c)
				accepted.Add(1)
			}
		}
	}()
	fmt.Println("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		fmt.Println(accepted.Load())
	}
	return nil
}

// listenTCP opens a non-blocking listening socket on addr with the kernel's largest
// backlog (net.core.somaxconn caps it).
func listenTCP(addr netip.AddrPort) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: addr.Addr().As4(), Port: int(addr.Port())}); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(fd, 65535); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("listen", err)
	}
	return fd, nil
}

// listener is the parent's handle on the listener child.
type listener struct {
	proc *child
	out  *bufio.Scanner
}

func startListener(self string, n, perAddr, basePort int) (*listener, error) {
	p, err := startChild(self, "listen", "-n", fmt.Sprint(n), "-per-addr", fmt.Sprint(perAddr), "-base-port", fmt.Sprint(basePort))
	if err != nil {
		return nil, err
	}
	l := &listener{proc: p, out: bufio.NewScanner(p.stdout)}
	if !l.out.Scan() || l.out.Text() != "ready" {
		p.stop()
		return nil, fmt.Errorf("listener child did not start: %q %v", l.out.Text(), l.out.Err())
	}
	return l, nil
}

// accepted asks the child for its count of accepted connections.
func (l *listener) accepted() (uint64, error) {
	if _, err := fmt.Fprintln(l.proc.stdin); err != nil {
		return 0, err
	}
	if !l.out.Scan() {
		return 0, fmt.Errorf("listener child: %v", l.out.Err())
	}
	var v uint64
	_, err := fmt.Sscan(l.out.Text(), &v)
	return v, err
}

func (l *listener) stop() { l.proc.stop() }
