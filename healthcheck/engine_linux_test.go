package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fullListener returns the address of a listener whose accept queue is full, so that a
// connect to it can only time out; ok is false if the kernel would not fill it.
func fullListener(t *testing.T) (netip.AddrPort, bool) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := netip.AddrPortFrom(netip.AddrFrom4(sa.(*syscall.SockaddrInet4).Addr), uint16(sa.(*syscall.SockaddrInet4).Port))
	for range 8 {
		c, err := net.DialTimeout("tcp", addr.String(), 200*time.Millisecond)
		if err != nil {
			return addr, true
		}
		t.Cleanup(func() { c.Close() })
	}
	return addr, false
}

func TestConnEngine(t *testing.T) {
	e, err := newConnEngine(SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	up := newTCPServer(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := addrPort(t, ln.Addr())
	ln.Close()
	full, ok := fullListener(t)

	type result struct {
		name string
		err  error
		took time.Duration
	}
	results := make(chan result, 1100)
	run := func(name string, addr netip.AddrPort, bind netip.Addr, timeout time.Duration) {
		start := time.Now()
		e.start(addr, bind, start.Add(timeout), func(err error, end time.Time) { results <- result{name, err, end.Sub(start)} })
	}
	for range 1000 {
		run("up", up.addr(t), netip.Addr{}, time.Second)
	}
	run("refused", refused, netip.Addr{}, time.Second)
	run("bind", up.addr(t), netip.MustParseAddr("127.0.0.5"), time.Second)
	run("bad bind", up.addr(t), netip.MustParseAddr("192.0.2.1"), time.Second)
	n := 1003
	if ok {
		run("timeout", full, netip.Addr{}, 150*time.Millisecond)
		n++
	}
	counts := map[string]int{}
	for range n {
		select {
		case r := <-results:
			counts[r.name]++
			switch r.name {
			case "up", "bind":
				if r.err != nil {
					t.Errorf("%s: %v", r.name, r.err)
				}
			case "refused":
				if ReasonOf(r.err) != ReasonRefused {
					t.Errorf("refused: %v", r.err)
				}
			case "bad bind":
				if r.err == nil {
					t.Error("bind to a foreign address passed")
				}
			case "timeout":
				if ReasonOf(r.err) != ReasonTimeout || r.took < 150*time.Millisecond || r.took > time.Second {
					t.Errorf("timeout: %v after %v", r.err, r.took)
				}
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("only %v reported", counts)
		}
	}
	if counts["up"] != 1000 {
		t.Errorf("reports %v", counts)
	}
}

// TestConnEngineLastLook: a connection established before the deadline but looked at after
// it is a success.
func TestConnEngineLastLook(t *testing.T) {
	e, err := newConnEngine(SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	up := newTCPServer(t)
	got := make(chan error, 1)
	e.start(up.addr(t), netip.Addr{}, time.Now().Add(-time.Second), func(err error, _ time.Time) { got <- err })
	if err := <-got; err != nil {
		t.Fatalf("a connected socket past its deadline: %v", err)
	}
}

// TestMonitorEngineStop: Run returns at once when cancelled with connects in flight; their
// results are dropped.
func TestMonitorEngineStop(t *testing.T) {
	full, ok := fullListener(t)
	if !ok {
		t.Skip("the kernel kept accepting on a backlog-0 listener")
	}
	m := NewMonitor(Options{})
	a := ID{Service: "s", Backend: full}
	if err := m.Set([]Target{{ID: a, Checker: &TCP{Addr: full}, Interval: time.Millisecond, Timeout: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	waitFor(t, 2*time.Second, func() bool { return m.Counters().InFlight == 1 })
	start := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("Run did not return within 10 s of its cancel (%v) with a connect in flight", time.Since(start))
	}
	if c := m.Counters(); c.Checks != 0 || c.InFlight != 0 {
		t.Errorf("counters after stop %+v (want no check completed)", c)
	}
}

// TestMonitorEngineBurst: more TCP checks fall due at once than the concurrency limit lets
// run. The scheduler gathers due connects into batches; it must start the batch gathered so
// far before it waits for room (a regression: it waited first, for checks it had not
// started, and no check ever ran). With the interval far shorter than the checks of 300
// targets take, the scheduler is also always behind, and must still stop when cancelled.
func TestMonitorEngineBurst(t *testing.T) {
	up := newTCPServer(t)
	addr := up.addr(t)
	m := NewMonitor(Options{MaxConcurrent: 4})
	var targets []Target
	for i := range 300 {
		id := ID{Service: fmt.Sprintf("s%d", i), Backend: addr}
		targets = append(targets, Target{ID: id, Checker: &TCP{Addr: addr}, Interval: 20 * time.Millisecond, Timeout: 5 * time.Second})
	}
	if err := m.Set(targets); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	waitFor(t, 10*time.Second, func() bool { return m.Counters().Checks >= 900 })
	start := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return when cancelled behind schedule")
	}
	t.Logf("stopped in %v", time.Since(start))
	if c := m.Counters(); c.Failures != 0 || c.InFlight != 0 {
		t.Errorf("counters after stop %+v (want no failure, nothing in flight)", c)
	}
}

// TestConnEngineIPv6: the raw sockaddr_in6 path connects, and a refused port fails.
func TestConnEngineIPv6(t *testing.T) {
	srv, err := listenTCPServer(t, "tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	e, err := newConnEngine(SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	up := srv.addr(t)
	closed, _ := net.Listen("tcp6", "[::1]:0")
	down := closed.Addr().(*net.TCPAddr).AddrPort()
	closed.Close()
	for _, c := range []struct {
		addr netip.AddrPort
		ok   bool
	}{{up, true}, {down, false}} {
		got := make(chan error, 1)
		e.start(c.addr, netip.MustParseAddr("::1"), time.Now().Add(2*time.Second), func(err error, _ time.Time) { got <- err })
		if err := <-got; (err == nil) != c.ok {
			t.Errorf("%s from ::1: %v, want success %v", c.addr, err, c.ok)
		}
	}
}

// TestConnEngineFakeClock: the engine keeps the time of its clock. A connect that can only
// time out ends when the clock reaches its deadline, however little real time passed, and
// outcomes carry the clock's time.
func TestConnEngineFakeClock(t *testing.T) {
	full, ok := fullListener(t)
	if !ok {
		t.Skip("the kernel kept accepting on a backlog-0 listener")
	}
	clk := newFakeClock()
	e, err := newConnEngine(clk)
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	type outcome struct {
		err error
		end time.Time
	}
	timedOut := make(chan outcome, 1)
	e.start(full, netip.Addr{}, epoch.Add(time.Hour), func(err error, end time.Time) { timedOut <- outcome{err, end} })
	up := newTCPServer(t)
	connected := make(chan outcome, 1)
	e.start(up.addr(t), netip.Addr{}, epoch.Add(2*time.Hour), func(err error, end time.Time) { connected <- outcome{err, end} })
	select {
	case o := <-connected:
		if o.err != nil || !o.end.Equal(epoch) {
			t.Errorf("connect to a listener: %v at %v, want success at %v", o.err, o.end, epoch)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("connect to a listener not reported")
	}
	select {
	case o := <-timedOut:
		t.Fatalf("reported before the clock moved: %v at %v", o.err, o.end)
	default:
	}
	waitFor(t, 5*time.Second, func() bool { ok, next, _ := clk.waiting(); return ok && next.Equal(epoch.Add(time.Hour)) })
	clk.Advance(time.Hour)
	select {
	case o := <-timedOut:
		if !errors.Is(o.err, os.ErrDeadlineExceeded) || !o.end.Equal(epoch.Add(time.Hour)) {
			t.Errorf("got %v at %v, want a timeout at %v", o.err, o.end, epoch.Add(time.Hour))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no timeout 10 s after the fake clock passed the deadline")
	}
}

// TestMonitorEngineFakeClock: under a test's clock the Monitor runs TCP checks on the
// engine, as in production: a check of a backend that never answers times out when the
// fake clock passes its hour-long timeout, with no real wait.
func TestMonitorEngineFakeClock(t *testing.T) {
	full, ok := fullListener(t)
	if !ok {
		t.Skip("the kernel kept accepting on a backlog-0 listener")
	}
	h := newHarness(t, Options{})
	a := ID{Service: "192.0.2.100:80/tcp", Backend: full}
	if err := h.m.Set([]Target{{ID: a, Checker: &TCP{Addr: full}, Interval: 2 * time.Hour, Timeout: time.Hour, Fall: 1}}); err != nil {
		t.Fatal(err)
	}
	h.run()
	slot := h.start.Add(Phase(a, 2*time.Hour))
	h.clk.Set(slot)
	// The check is in flight and the engine waits for its deadline: the earliest timer.
	waitFor(t, 5*time.Second, func() bool {
		ok, next, _ := h.clk.waiting()
		return ok && next.Equal(slot.Add(time.Hour)) && h.m.Counters().InFlight == 1
	})
	h.clk.Set(slot.Add(time.Hour))
	waitFor(t, 10*time.Second, func() bool { return len(h.resultsFor(a)) == 1 })
	r := h.resultsFor(a)[0]
	if ReasonOf(r.Err) != ReasonTimeout || !r.Started.Equal(slot) || r.Duration != time.Hour {
		t.Errorf("result %+v (err %v), want a timeout started at %v after 1h", r, r.Err, slot)
	}
	h.quiet()
	if tr := h.transitions(); len(tr) != 1 || tr[0].Up {
		t.Errorf("transitions %+v, want one down", tr)
	}
}

// BenchmarkConnEngine measures one TCP check on the engine, as the Monitor runs them,
// against a loopback listener in the same process (the CPU per op covers both ends).
func BenchmarkConnEngine(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	addr, err := netipAddrPort(ln.Addr())
	if err != nil {
		b.Fatal(err)
	}
	clk := SystemClock{}
	e, err := newConnEngine(clk)
	if err != nil {
		b.Fatal(err)
	}
	defer e.close()
	done := make(chan error, 1)
	report := func(err error, _ time.Time) { done <- err }
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		e.start(addr, netip.Addr{}, clk.Now().Add(time.Second), report)
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkUDPEngine measures one UDP check with a required reply on the engine, as the
// Monitor runs them, against a loopback echo server in the same process (the CPU per op
// covers both ends).
func BenchmarkUDPEngine(b *testing.B) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			conn.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	clk := SystemClock{}
	e, err := newConnEngine(clk)
	if err != nil {
		b.Fatal(err)
	}
	defer e.close()
	c := &UDP{Addr: conn.LocalAddr().(*net.UDPAddr).AddrPort(), RequireReply: true}
	done := make(chan error, 1)
	report := func(err error, _ time.Time) { done <- err }
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		e.exchange(c.Addr, netip.Addr{}, c, clk.Now().Add(time.Second), report)
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkDNSEngine measures one DNS check (type A) on the engine, as the Monitor runs
// them, against a loopback server in the same process that answers each query with one A
// record, the query's ID patched into a reply packed once (the CPU per op covers both ends).
func BenchmarkDNSEngine(b *testing.B) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	c := &DNS{Addr: conn.LocalAddr().(*net.UDPAddr).AddrPort(), Type: dns.TypeA, Name: "bench.test"}
	var q dns.Msg
	if err := q.Unpack(newDNSExchange(c, 0).msg); err != nil {
		b.Fatal(err)
	}
	answer := answerA(&q, 0, true)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if n >= 2 {
				copy(answer, buf[:2])
				conn.WriteToUDPAddrPort(answer, from)
			}
		}
	}()
	clk := SystemClock{}
	e, err := newConnEngine(clk)
	if err != nil {
		b.Fatal(err)
	}
	defer e.close()
	done := make(chan error, 1)
	report := func(err error, _ time.Time) { done <- err }
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		p := c.probe()
		e.exchange(p.addr, p.bindTo, p.x, clk.Now().Add(time.Second), report)
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
