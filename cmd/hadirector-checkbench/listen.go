//go:build linux

package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"
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
	var accepted atomic.Uint64
	for i := range *n {
		addr := backendAddr(i, *perAddr, *basePort)
		ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(addr))
		if err != nil {
			return fmt.Errorf("listen %s: %w", addr, err)
		}
		go func() {
			for {
				c, err := ln.AcceptTCP()
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if err != nil { // EMFILE and the like: back off, the backlog holds the rest
					time.Sleep(time.Millisecond)
					continue
				}
				accepted.Add(1)
				c.Close()
			}
		}()
	}
	fmt.Println("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		fmt.Println(accepted.Load())
	}
	return nil
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
