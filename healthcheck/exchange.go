package healthcheck

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"time"
)

// exchange is one request and the judgement of its replies, for a UDP check on the engine
// (UDP, DNS) and on its own (runExchange). Its methods are called from one goroutine at a
// time.
type exchange interface {
	// request is the datagram to send, or why there is none (a query that cannot be
	// encoded).
	request() ([]byte, error)
	// reply judges a datagram received; done false means it was not an answer to this
	// request (a stray or late datagram) and the check goes on waiting. The buffer is
	// reused afterwards.
	reply(b []byte) (done bool, err error)
	// silence is the outcome when no answer came by the deadline.
	silence() error
}

// prober is a checker that the Monitor can run on its connection engine, without a
// goroutine: a TCP connect or a UDP exchange.
type prober interface {
	Checker
	probe() probe
}

// probe is what the engine needs for one check.
type probe struct {
	check   string // for errors: "tcp", "udp", "dns"
	addr    netip.AddrPort
	bindTo  netip.Addr
	timeout time.Duration // the checker's own; 0: the target's
	x       exchange      // nil: a TCP connect
}

// failure turns an outcome of the engine into the checker's error: the I/O errors of the
// socket get the check's name and step; an exchange's judgements already have them.
func (p probe) failure(err error, timeout time.Duration) error {
	var e *Error
	if err == nil || errors.As(err, &e) {
		return err
	}
	step := "connect"
	if p.x != nil {
		step = "exchange"
	}
	return fail(p.check, p.addr.String(), step, err, timeout)
}

// runExchange is a UDP check run on its own (hadirector check, other systems, IPv6 zones):
// the same exchange as on the engine, through the Go runtime's poller. It returns the
// error as the engine reports it, for probe.failure.
func runExchange(ctx context.Context, addr netip.AddrPort, bindTo netip.Addr, x exchange) error {
	d := net.Dialer{Control: recvErr(addr)}
	if bindTo.IsValid() {
		d.LocalAddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(bindTo, 0))
	}
	conn, err := d.DialContext(ctx, "udp", addr.String())
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req, err := x.request()
	if err != nil {
		return err
	}
	if _, err := conn.Write(req); err != nil {
		return err
	}
	buf := make([]byte, maxDatagram)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if errors.Is(ctx.Err(), context.Canceled) {
					return ctx.Err()
				}
				return x.silence()
			}
			return err
		}
		if done, err := x.reply(buf[:n]); done {
			return err
		}
	}
}

// maxDatagram is the largest UDP payload (over IPv4); a reply is read whole.
const maxDatagram = 65507
