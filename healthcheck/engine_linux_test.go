package healthcheck

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
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
	e, err := newConnEngine()
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
	e, err := newConnEngine()
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
	e, err := newConnEngine()
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
