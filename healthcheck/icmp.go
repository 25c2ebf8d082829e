package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// ICMP sends one echo request to Addr and passes when the echo reply to it arrives within
// Timeout (keepalived's PING_CHECK). All ICMP checks of a Pinger share one socket per
// address family.
type ICMP struct {
	Addr netip.Addr
	// Timeout bounds the wait for the reply; 0 leaves it to the context.
	Timeout time.Duration
	// Pinger sends and receives; nil means the package's own, shared by all such checks.
	Pinger *Pinger
}

// defaultPinger is the Pinger of ICMP checks that name none.
var defaultPinger = &Pinger{}

// Check pings once.
func (c *ICMP) Check(ctx context.Context) error {
	ctx, cancel := withTimeout(ctx, c.Timeout)
	defer cancel()
	p := c.Pinger
	if p == nil {
		p = defaultPinger
	}
	if err := p.ping(ctx, c.Addr); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return err
		}
		return fail("icmp", c.Addr.String(), "echo", err, c.Timeout)
	}
	return nil
}

func (c *ICMP) String() string { return "icmp " + c.Addr.String() }

// A Pinger owns one ICMP socket per address family, shared by every echo request in
// flight, and one goroutine per open socket that reads the replies and hands each to the
// request it answers: same source, the socket's identifier, the request's sequence number.
// A socket is opened by the first request and closed by the last one in flight, so an
// idle Pinger holds nothing.
//
// The socket is an unprivileged ping socket (udp4/udp6 "ping", the kernel filters replies
// by identifier) when net.ipv4.ping_group_range admits the process's group, else a raw
// socket (root or CAP_NET_RAW; replies of other programs are filtered by identifier here).
type Pinger struct {
	// enter, when set, runs the opening of a socket (and the reading of the sysctl), so a
	// test can open them in a network namespace.
	enter func(func() error) error

	mu    sync.Mutex
	socks [2]*pingSocket // IPv4, IPv6
}

type pingKey struct {
	from netip.Addr
	seq  uint16
}

type pingSocket struct {
	conn  *icmp.PacketConn
	raw   bool
	v6    bool
	id    uint16
	users int
	seq   uint16
	wait  map[pingKey]chan struct{}
	done  chan struct{} // closed when the reader has returned
}

// pingPayload is keepalived's: 128 bytes of "keepalived check - " repeated.
var pingPayload = []byte(strings.Repeat("keepalived check - ", 7)[:128])

func (p *Pinger) ping(ctx context.Context, addr netip.Addr) error {
	addr = addr.Unmap()
	if !addr.IsValid() {
		return errors.New("no address")
	}
	s, err := p.acquire(addr.Is6())
	if err != nil {
		return err
	}
	defer p.release(s)

	p.mu.Lock()
	s.seq++
	key := pingKey{addr, s.seq}
	got := make(chan struct{}, 1)
	s.wait[key] = got
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(s.wait, key)
		p.mu.Unlock()
	}()

	msg := icmp.Message{Body: &icmp.Echo{ID: int(s.id), Seq: int(key.seq), Data: pingPayload}}
	msg.Type = ipv4.ICMPTypeEcho
	if s.v6 {
		msg.Type = ipv6.ICMPTypeEchoRequest // the kernel computes ICMPv6 checksums
	}
	b, err := msg.Marshal(nil)
	if err != nil {
		return err
	}
	var dst net.Addr = &net.IPAddr{IP: addr.AsSlice(), Zone: addr.Zone()}
	if !s.raw {
		dst = &net.UDPAddr{IP: addr.AsSlice(), Zone: addr.Zone()}
	}
	if _, err := s.conn.WriteTo(b, dst); err != nil {
		return err
	}
	select {
	case <-got:
		return nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return &Error{Check: "icmp", Target: addr.String(), Step: "echo", Reason: ReasonTimeout, Detail: "no echo reply in time", Err: ctx.Err()}
		}
		return ctx.Err()
	}
}

// acquire returns the family's socket, opening it if no request is in flight.
func (p *Pinger) acquire(v6 bool) (*pingSocket, error) {
	i := 0
	if v6 {
		i = 1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.socks[i]; s != nil {
		s.users++
		return s, nil
	}
	var s *pingSocket
	open := func() (err error) { s, err = openPingSocket(v6); return err }
	var err error
	if p.enter != nil {
		err = p.enter(open)
	} else {
		err = open()
	}
	if err != nil {
		return nil, err
	}
	s.users = 1
	p.socks[i] = s
	go p.read(s)
	return s, nil
}

// release ends a request; the last one in flight closes the socket and waits for its
// reader.
func (p *Pinger) release(s *pingSocket) {
	p.mu.Lock()
	s.users--
	last := s.users == 0
	if last {
		i := 0
		if s.v6 {
			i = 1
		}
		p.socks[i] = nil
	}
	p.mu.Unlock()
	if last {
		s.conn.Close()
		<-s.done
	}
}

// read hands the replies received on s to their requests until s is closed.
func (p *Pinger) read(s *pingSocket) {
	defer close(s.done)
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a transient error (an ICMP error queued on the socket): read on
		}
		var src netip.Addr
		switch a := from.(type) {
		case *net.IPAddr:
			src, _ = netip.AddrFromSlice(a.IP)
		case *net.UDPAddr:
			src, _ = netip.AddrFromSlice(a.IP)
		}
		p.deliver(s, src.Unmap(), buf[:n])
	}
}

// deliver wakes the request that b, received from src, answers, if any.
func (p *Pinger) deliver(s *pingSocket, src netip.Addr, b []byte) {
	proto, want := 1, icmp.Type(ipv4.ICMPTypeEchoReply)
	if s.v6 {
		proto, want = 58, ipv6.ICMPTypeEchoReply
	}
	m, err := icmp.ParseMessage(proto, b)
	if err != nil || m.Type != want {
		return
	}
	echo, ok := m.Body.(*icmp.Echo)
	// A ping socket's replies carry the identifier the kernel chose, and the kernel
	// delivers only those; a raw socket sees every echo reply to the host.
	if !ok || (s.raw && echo.ID != int(s.id)) {
		return
	}
	p.mu.Lock()
	ch := s.wait[pingKey{src, uint16(echo.Seq)}]
	p.mu.Unlock()
	if ch != nil {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// openPingSocket opens the family's socket: a ping socket when the sysctl admits the
// process's group, else a raw one.
func openPingSocket(v6 bool) (*pingSocket, error) {
	network, address, raw := "udp4", "0.0.0.0", "ip4:icmp"
	if v6 {
		network, address, raw = "udp6", "::", "ip6:ipv6-icmp"
	}
	s := &pingSocket{v6: v6, wait: map[pingKey]chan struct{}{}, done: make(chan struct{})}
	var err error
	if pingAllowed() {
		s.conn, err = icmp.ListenPacket(network, address)
		if err == nil {
			s.id = uint16(s.conn.LocalAddr().(*net.UDPAddr).Port)
			return s, nil
		}
	}
	s.conn, err = icmp.ListenPacket(raw, address)
	if err != nil {
		return nil, fmt.Errorf("open an ICMP socket (no ping socket for group %d per net.ipv4.ping_group_range, and no raw socket): %w", os.Getegid(), err)
	}
	s.raw, s.id = true, uint16(rand.Uint32())
	// Only echo replies are worth waking the reader for.
	if v6 {
		var f ipv6.ICMPFilter
		f.SetAll(true)
		f.Accept(ipv6.ICMPTypeEchoReply)
		s.conn.IPv6PacketConn().SetICMPFilter(&f)
	} else {
		var f ipv4.ICMPFilter
		f.SetAll(true)
		f.Accept(ipv4.ICMPTypeEchoReply)
		s.conn.IPv4PacketConn().SetICMPFilter(&f)
	}
	return s, nil
}

// pingAllowed reports whether net.ipv4.ping_group_range (which governs IPv6 ping sockets
// too) admits the process's effective group or one of its supplementary groups.
func pingAllowed() bool {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return false
	}
	lo, err1 := strconv.ParseUint(f[0], 10, 32)
	hi, err2 := strconv.ParseUint(f[1], 10, 32)
	if err1 != nil || err2 != nil {
		return false
	}
	groups, _ := os.Getgroups()
	for _, g := range append(groups, os.Getegid()) {
		if uint64(g) >= lo && uint64(g) <= hi {
			return true
		}
	}
	return false
}
