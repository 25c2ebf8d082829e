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

// benchName is the name the DNS checks ask for.
const benchName = "bench.test"

// backendAddr is the address of backend i: perAddr ports on each of 127.1.a.b, so N
// backends use ceil(N/perAddr) loopback addresses (bounded: at most 250×250 addresses).
func backendAddr(i, perAddr, basePort int) netip.AddrPort {
	k := i / perAddr
	a := netip.AddrFrom4([4]byte{127, 1, byte(k / 250), byte(k%250 + 1)})
	return netip.AddrPortFrom(a, uint16(basePort+i%perAddr))
}

// listenMain is the child process that holds the backends: N TCP listeners that accept
// and close (kind tcp), or N UDP sockets that echo each datagram (udp) or answer each DNS
// query with one A record (dns). It prints "ready" once every socket is open, then answers
// each line on stdin with the total of connections accepted (datagrams received) so far,
// and exits when stdin closes.
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
	kind := fs.String("kind", "tcp", "tcp, udp or dns")
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
	open, serve := listenTCP, acceptClose
	switch *kind {
	case "udp":
		open, serve = listenUDP, echo
	case "dns":
		open, serve = listenUDP, answerDNS
	}
	for i := range *n {
		addr := backendAddr(i, *perAddr, *basePort)
		fd, err := open(addr)
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
	buf := make([]byte, 1500)
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
				if serve(int(ev.Fd), buf) {
					accepted.Add(1)
				}
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

// acceptClose serves one connection of a TCP listener: one per event, since the set is
// level-triggered and a listener with more waiting is reported again.
func acceptClose(fd int, _ []byte) bool {
	c, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
	if err != nil {
		if err == unix.EMFILE || err == unix.ENFILE {
			time.Sleep(time.Millisecond) // the backlog holds the rest
		}
		return false
	}
	unix.Close(c)
	return true
}

// echo sends one datagram back (UDP_CHECK with require_reply passes on any reply).
func echo(fd int, buf []byte) bool {
	k, from, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
	if err != nil {
		return false
	}
	unix.Sendto(fd, buf[:k], unix.MSG_DONTWAIT, from)
	return true
}

// answerDNS answers one query with dnsAnswer; a datagram that is no query is dropped.
func answerDNS(fd int, buf []byte) bool {
	k, from, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
	if err != nil {
		return false
	}
	if n := dnsAnswer(buf, k); n > 0 {
		unix.Sendto(fd, buf[:n], unix.MSG_DONTWAIT, from)
	}
	return true
}

// dnsAnswer turns the query in buf[:k] into its answer in place and returns the answer's
// length, or 0 when buf[:k] is no query of one question (or the answer would not fit in
// buf): the question and one A record, 192.0.2.10, with QR and RA set and counts 1/1/0/0;
// anything after the question (EDNS) is dropped.
func dnsAnswer(buf []byte, k int) int {
	if k < 12 || k > len(buf) || buf[2]&0x80 != 0 || buf[4] != 0 || buf[5] != 1 {
		return 0
	}
	end := 12
	for end < k && buf[end] != 0 {
		if buf[end]&0xc0 != 0 {
			return 0 // a compression pointer or reserved label type: not in a question
		}
		end += int(buf[end]) + 1
	}
	end += 5 // the root label, QTYPE, QCLASS
	rr := [...]byte{0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 10}
	if end > k || end+len(rr) > len(buf) {
		return 0
	}
	buf[2] |= 0x80
	buf[3] = 0x80
	buf[6], buf[7], buf[8], buf[9], buf[10], buf[11] = 0, 1, 0, 0, 0, 0
	return end + copy(buf[end:], rr[:])
}

// listenUDP opens a non-blocking UDP socket bound to addr.
func listenUDP(addr netip.AddrPort) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: addr.Addr().As4(), Port: int(addr.Port())}); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("bind", err)
	}
	return fd, nil
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

func startListener(self, kind string, n, perAddr, basePort int) (*listener, error) {
	p, err := startChild(self, "listen", "-kind", kind, "-n", fmt.Sprint(n), "-per-addr", fmt.Sprint(perAddr), "-base-port", fmt.Sprint(basePort))
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
