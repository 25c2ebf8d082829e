package healthcheck

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// TCP checks that a TCP connection to Addr can be established within Timeout, then closes
// it (keepalived's TCP_CHECK). Nothing is sent.
type TCP struct {
	Addr netip.AddrPort
	// BindTo, when valid, is the source address of the connection (bind_to).
	BindTo netip.Addr
	// Timeout bounds the connect; 0 leaves it to the context.
	Timeout time.Duration
}

// Check connects once.
func (c *TCP) Check(ctx context.Context) error {
	ctx, cancel := withTimeout(ctx, c.Timeout)
	defer cancel()
	if ok, err := connectCheck(ctx, c.Addr, c.BindTo); ok {
		if err != nil {
			return fail("tcp", c.Addr.String(), "connect", err, c.Timeout)
		}
		return nil
	}
	conn, err := dial(ctx, c.Addr, c.BindTo)
	if err != nil {
		return fail("tcp", c.Addr.String(), "connect", err, c.Timeout)
	}
	// A plain close (FIN), as keepalived and any client do: a RST would make some servers
	// log an error for every check.
	conn.Close()
	return nil
}

func (c *TCP) String() string { return "tcp " + c.Addr.String() }

func (c *TCP) probe() probe {
	return probe{check: "tcp", addr: c.Addr, bindTo: c.BindTo, timeout: c.Timeout}
}

// dial opens a fresh TCP connection to addr, from bindTo when it is valid. It never reuses
// a connection: a check must see the server as a new client would.
func dial(ctx context.Context, addr netip.AddrPort, bindTo netip.Addr) (net.Conn, error) {
	// No TCP keepalive: a check's connection lives milliseconds, and the four setsockopt
	// calls that enable it are a third of the system calls of a TCP check.
	d := net.Dialer{KeepAlive: -1}
	if bindTo.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(bindTo, 0))
	}
	return d.DialContext(ctx, "tcp", addr.String())
}
