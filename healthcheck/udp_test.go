package healthcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// freeUDPPort returns a loopback UDP port that was free a moment ago, for a server started
// later. It lies below the kernel's ephemeral range (32768 and up by default), so the
// sockets of checks running meanwhile cannot take it.
func freeUDPPort(t *testing.T) netip.AddrPort {
	t.Helper()
	for range 100 {
		addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(20000+rand.IntN(12000)))
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr))
		if err == nil {
			c.Close()
			return addr
		}
	}
	t.Fatal("no free UDP port in 20000-31999 after 100 tries")
	return netip.AddrPort{}
}

// startDaemon runs argv until the test ends; it fails the test when the program is missing
// (scripts/deps.sh installs it).
func startDaemon(t *testing.T, argv ...string) *exec.Cmd {
	t.Helper()
	if _, err := exec.LookPath(argv[0]); err != nil {
		t.Fatalf("%s is not installed (bash scripts/deps.sh installs it): %v", argv[0], err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// waitUDPListening waits until something listens on addr: a datagram sent there is no longer
// refused.
func waitUDPListening(t *testing.T, addr netip.AddrPort) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("ping"))
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, err = c.Read(make([]byte, 64))
		c.Close()
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s after 10 s", addr)
}

// socatEcho starts socat echoing every datagram on a loopback port.
func socatEcho(t *testing.T) netip.AddrPort {
	addr := freeUDPPort(t)
	startDaemon(t, "socat", fmt.Sprintf("UDP4-RECVFROM:%d,bind=127.0.0.1,fork", addr.Port()), "PIPE")
	waitUDPListening(t, addr)
	return addr
}

// socatSilent starts socat receiving datagrams on a loopback port and never answering.
func socatSilent(t *testing.T) netip.AddrPort {
	addr := freeUDPPort(t)
	startDaemon(t, "socat", "-u", fmt.Sprintf("UDP4-RECV:%d,bind=127.0.0.1", addr.Port()), "OPEN:/dev/null")
	waitUDPListening(t, addr)
	return addr
}

// udpRunners run a UDP-based check on its own (Check) and on a connection engine, as the
// Monitor does.
func udpRunners(t *testing.T) map[string]func(Checker) error {
	t.Helper()
	runners := map[string]func(Checker) error{
		"Check": func(c Checker) error { return c.Check(context.Background()) },
	}
	e, err := newConnEngine(SystemClock{})
	if errors.Is(err, errors.ErrUnsupported) {
		return runners // no engine on this system
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.close)
	runners["engine"] = func(c Checker) error {
		p := c.(prober).probe()
		got := make(chan error, 1)
		e.exchange(p.addr, p.bindTo, p.x, time.Now().Add(p.timeout), func(err error, _ time.Time) { got <- p.failure(err, p.timeout) })
		return <-got
	}
	return runners
}

func TestUDPEcho(t *testing.T) {
	echo := socatEcho(t)
	for name, run := range udpRunners(t) {
		t.Run(name, func(t *testing.T) {
			c := &UDP{Addr: echo, Payload: []byte("hello"), RequireReply: true, Timeout: 5 * time.Second}
			if err := run(c); err != nil {
				t.Errorf("any reply: %v", err)
			}
			c.Reply = []byte("hel")
			if err := run(c); err != nil {
				t.Errorf("reply with the expected prefix: %v", err)
			}
			c.Reply, c.ReplyMask = []byte("hexlo"), []byte{0, 0, 0xff, 0, 0}
			if err := run(c); err != nil {
				t.Errorf("reply matching under a mask: %v", err)
			}
			c.Reply, c.ReplyMask = []byte("help"), nil
			wantReason(t, run(c), ReasonBody, "udp "+echo.String(), "reply byte 3 is 0x6c, want 0x70")
			c.Reply, c.MinReply = []byte("hello"), 6
			wantReason(t, run(c), ReasonBody, "reply of 5 bytes, want 6 to 255")
			// keepalived's default payload, echoed.
			c = &UDP{Addr: echo, RequireReply: true, Reply: []byte("keepalived check - keepalived ch"), MinReply: 32, MaxReply: 32, Timeout: 5 * time.Second}
			if err := run(c); err != nil {
				t.Errorf("default payload: %v", err)
			}
		})
	}
}

func TestUDPSilentPort(t *testing.T) {
	silent := socatSilent(t)
	for name, run := range udpRunners(t) {
		t.Run(name, func(t *testing.T) {
			if err := run(&UDP{Addr: silent, Timeout: 200 * time.Millisecond}); err != nil {
				t.Errorf("no reply required: %v", err)
			}
			wantReason(t, run(&UDP{Addr: silent, RequireReply: true, Timeout: 200 * time.Millisecond}), ReasonTimeout, "no reply in time")
		})
	}
}

// TestUDPIPv6: the engine's sockaddr_in6 path and the standalone path over ::1.
func TestUDPIPv6(t *testing.T) {
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatalf("no IPv6 loopback: %v", err)
	}
	defer c.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	echo := c.LocalAddr().(*net.UDPAddr).AddrPort()
	for name, run := range udpRunners(t) {
		t.Run(name, func(t *testing.T) {
			if err := run(&UDP{Addr: echo, BindTo: netip.MustParseAddr("::1"), Payload: []byte("v6"), RequireReply: true, Reply: []byte("v6"), Timeout: 5 * time.Second}); err != nil {
				t.Error(err)
			}
			// An IPv4 source for an IPv6 server cannot work.
			wantReason(t, run(&UDP{Addr: echo, BindTo: netip.MustParseAddr("127.0.0.1"), Timeout: 5 * time.Second}), ReasonOther)
		})
	}
}

func TestUDPRefused(t *testing.T) {
	closed := freeUDPPort(t)
	for name, run := range udpRunners(t) {
		t.Run(name, func(t *testing.T) {
			wantReason(t, run(&UDP{Addr: closed, Timeout: 5 * time.Second}), ReasonRefused, "udp "+closed.String(), "connection refused")
			wantReason(t, run(&UDP{Addr: closed, RequireReply: true, Timeout: 5 * time.Second}), ReasonRefused)
			wantReason(t, run(&UDP{Addr: closed, BindTo: netip.MustParseAddr("192.0.2.1"), Timeout: 5 * time.Second}), ReasonOther, "bind")
		})
	}
}

// udpToggle answers datagrams on loopback while echo is set and ignores them otherwise.
type udpToggle struct {
	conn *net.UDPConn
	echo atomic.Bool
}

func newUDPToggle(t *testing.T) *udpToggle {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := &udpToggle{conn: c}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if s.echo.Load() {
				c.WriteToUDPAddrPort(bytes.Clone(buf[:n]), from)
			}
		}
	}()
	return s
}

func (s *udpToggle) addr() netip.AddrPort { return s.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// TestMonitorUDPFakeClock: UDP checks run on the engine under the Monitor's fake clock: a
// server that stops answering is marked down after fall timeouts, each ending when the fake
// clock passes its deadline, and up again after rise answers.
func TestMonitorUDPFakeClock(t *testing.T) {
	srv := newUDPToggle(t)
	h := newHarness(t, Options{})
	a := ID{Service: "192.0.2.100:53/udp", Backend: srv.addr()}
	const iv, timeout = 10 * time.Minute, 5 * time.Minute
	if err := h.m.Set([]Target{{ID: a, Checker: &UDP{Addr: srv.addr(), RequireReply: true}, Interval: iv, Timeout: timeout, Rise: 2, Fall: 2}}); err != nil {
		t.Fatal(err)
	}
	h.run()
	slot := h.start.Add(Phase(a, iv))
	// One slot: the check starts; a silent server's check stays in flight until the fake
	// clock reaches its deadline.
	checkAt := func(slot time.Time, answer bool) {
		t.Helper()
		n := len(h.resultsFor(a))
		srv.echo.Store(answer)
		h.clk.Set(slot)
		if !answer {
			waitFor(t, 5*time.Second, func() bool {
				ok, next, _ := h.clk.waiting()
				return ok && next.Equal(slot.Add(timeout)) && h.m.Counters().InFlight == 1
			})
			h.clk.Set(slot.Add(timeout))
		}
		waitFor(t, 10*time.Second, func() bool { return len(h.resultsFor(a)) == n+1 })
		h.quiet()
	}
	for i, answer := range []bool{false, false, true, true} {
		checkAt(slot.Add(time.Duration(i)*iv), answer)
	}
	rs := h.resultsFor(a)
	for i, r := range rs {
		if wantOK := i >= 2; (r.Err == nil) != wantOK {
			t.Errorf("result %d: %v, want success %v", i, r.Err, wantOK)
		}
	}
	wantReason(t, rs[0].Err, ReasonTimeout, "no reply in time")
	if rs[0].Duration != timeout {
		t.Errorf("a silent server's check took %v on the fake clock, want the timeout %v", rs[0].Duration, timeout)
	}
	tr := h.transitions()
	if len(tr) != 2 || tr[0].Up || !tr[0].At.Equal(slot.Add(iv+timeout)) || !tr[1].Up || !tr[1].At.Equal(slot.Add(3*iv)) {
		t.Errorf("transitions %+v, want down at %v and up at %v", tr, slot.Add(iv+timeout), slot.Add(3*iv))
	}
}

// FuzzUDPReply: the judgement of a reply, untrusted bytes, against require_reply's bytes
// and mask never panics (a mask shorter or longer than the bytes, a reply of any length),
// and passes exactly when keepalived's check_udp_reply would.
func FuzzUDPReply(f *testing.F) {
	f.Fuzz(func(t *testing.T, reply, want, mask []byte, minLen, maxLen uint8) {
		if len(want) == 0 {
			want = nil // no reply bytes: any reply passes
		}
		c := &UDP{Addr: netip.MustParseAddrPort("192.0.2.1:514"), RequireReply: true, Reply: want, ReplyMask: mask, MinReply: int(minLen), MaxReply: int(maxLen)}
		done, err := c.reply(reply)
		if !done {
			t.Fatal("a UDP reply left the check waiting")
		}
		pass := true
		if want != nil {
			hi := int(maxLen)
			if hi == 0 {
				hi = 255
			}
			pass = len(reply) >= int(minLen) && len(reply) <= hi
			for i := 0; pass && i < len(reply) && i < len(want); i++ {
				var m byte
				if i < len(mask) {
					m = mask[i]
				}
				pass = (reply[i]^want[i])&^m == 0
			}
		}
		if (err == nil) != pass {
			t.Fatalf("reply %x against %x/%x [%d, %d]: %v, want pass %v", reply, want, mask, minLen, maxLen, err, pass)
		}
	})
}
