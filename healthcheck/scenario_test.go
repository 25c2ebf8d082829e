package healthcheck

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// backend is an HTTP server on a fixed loopback address that can be stopped and started
// again, like the web server on a real server.
type backend struct {
	t      *testing.T
	addr   netip.AddrPort
	status atomic.Int64
	heads  atomic.Int64
	srv    *http.Server
}

func newBackend(t *testing.T) *backend {
	b := &backend{t: t}
	b.status.Store(200)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.addr = addrPort(t, ln.Addr())
	b.serve(ln)
	t.Cleanup(b.stop)
	return b
}

func (b *backend) serve(ln net.Listener) {
	b.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodHead {
				b.heads.Add(1)
			}
			w.WriteHeader(int(b.status.Load()))
		}),
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go b.srv.Serve(ln)
}

func (b *backend) stop() {
	if b.srv != nil {
		b.srv.Close()
		b.srv = nil
	}
}

func (b *backend) start() {
	var ln net.Listener
	var err error
	for range 100 {
		if ln, err = net.Listen("tcp", b.addr.String()); !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		b.t.Fatal(err)
	}
	b.serve(ln)
}

// TestLVSCheckScenario is the loop hadirector replaces (lvscheck.sh: `curl -I` the real
// server every interval, remove it when it fails, add it back when it answers 200) run
// against a real listener with a TCP check beside it: a 500 takes the HTTP target down
// but not the TCP one; a stopped server takes both down within fall × interval (+ the
// timeout); a restarted one brings them back within rise × interval.
func TestLVSCheckScenario(t *testing.T) {
	const (
		interval = 200 * time.Millisecond
		timeout  = 200 * time.Millisecond
		rise     = 2
		fall     = 3
		// grace absorbs the lateness of checks on a loaded machine (the race detector, other
		// tests); the deciding check's slot is asserted exactly below.
		grace = 100 * time.Millisecond
	)
	b := newBackend(t)
	httpID := ID{Service: "192.0.2.100:80/tcp", Backend: b.addr}
	tcpID := ID{Service: "192.0.2.100:81/tcp", Backend: b.addr}
	trans := make(chan Transition, 64)
	var rmu sync.Mutex
	var results []Result
	m := NewMonitor(Options{
		OnTransition: func(tr Transition) { trans <- tr },
		OnResult: func(r Result) {
			rmu.Lock()
			results = append(results, r)
			rmu.Unlock()
		},
	})
	// deciding returns the check that caused tr (OnResult may run just after the transition
	// is delivered) and the checks of its target that started since.
	deciding := func(tr Transition, since time.Time) (Result, []Result) {
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			rmu.Lock()
			var d *Result
			var after []Result
			for _, r := range results {
				if r.Target != tr.Target {
					continue
				}
				if !r.Started.Before(since) {
					after = append(after, r)
				}
				if r.Started.Add(r.Duration).Equal(tr.At) {
					d = &r
				}
			}
			rmu.Unlock()
			if d != nil {
				return *d, after
			}
		}
		t.Fatalf("no result for transition %+v", tr)
		return Result{}, nil
	}
	skipped := func(id ID) uint64 { s, _ := m.Stats(id); return s.Missed + s.Overruns }
	err := m.Set([]Target{
		{ID: httpID, Checker: &HTTP{Addr: b.addr, Method: "HEAD", Timeout: timeout}, Interval: interval, Timeout: timeout, Rise: rise, Fall: fall},
		{ID: tcpID, Checker: &TCP{Addr: b.addr, Timeout: timeout}, Interval: interval, Timeout: timeout, Rise: rise, Fall: fall},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	defer func() { cancel(); <-done }()

	checks := func(id ID) uint64 { s, _ := m.Stats(id); return s.Checks }
	waitFor(t, 2*time.Second, func() bool { return checks(httpID) >= 2 && checks(tcpID) >= 2 })
	if b.heads.Load() == 0 {
		t.Error("the HTTP check did not use HEAD")
	}

	// expect waits for transitions of the given targets to the given state. The deciding
	// check must be at most the n-th to start after the change (the n-1-th when a check in
	// flight saw it), and it must come within n intervals, plus the timeout and some grace
	// for a loaded machine, plus one interval per slot the Monitor had to skip meanwhile
	// (counted: a process starved of CPU skips slots rather than bunching checks).
	expect := func(what string, up bool, since time.Time, n int, ids ...ID) {
		t.Helper()
		want := map[ID]bool{}
		skipped0 := map[ID]uint64{}
		for _, id := range ids {
			want[id] = true
			skipped0[id] = skipped(id)
		}
		deadline := time.After(time.Duration(n+10)*interval + timeout + 2*time.Second)
		for len(want) > 0 {
			select {
			case tr := <-trans:
				if !want[tr.Target] || tr.Up != up {
					t.Fatalf("%s: unexpected transition %+v", what, tr)
				}
				delete(want, tr.Target)
				d, after := deciding(tr, since)
				k := 0
				for _, r := range after {
					if !r.Started.After(d.Started) {
						k++
					}
				}
				sk := skipped(tr.Target) - skipped0[tr.Target]
				bound := time.Duration(n+int(sk))*interval + timeout + grace
				took := tr.At.Sub(since)
				t.Logf("%s: %s %v after %v (bound %v), at check %d after the change, %d slots skipped",
					what, tr.Target.Service, map[bool]string{true: "up", false: "down"}[up], took.Round(time.Millisecond), bound, k, sk)
				if k > n || k < n-1 {
					t.Errorf("%s: %v changed at check %d after the change, want %d", what, tr.Target, k, n)
				}
				if took > bound {
					t.Errorf("%s: %v took %v, more than %v", what, tr.Target, took, bound)
				}
				if t.Failed() {
					for _, r := range after {
						t.Logf("  check slot %v started %v took %v: %v", r.Scheduled.Sub(since), r.Started.Sub(since), r.Duration, r.Err)
					}
				}
			case <-deadline:
				t.Fatalf("%s: no transition for %v", what, want)
			}
		}
	}
	noMore := func(what string) {
		t.Helper()
		select {
		case tr := <-trans:
			t.Fatalf("%s: unexpected transition %+v", what, tr)
		default:
		}
	}
	noMore("start-up")

	b.status.Store(500)
	at := time.Now()
	expect("status 500", false, at, fall, httpID)
	if s, _ := m.Stats(httpID); ReasonOf(s.LastErr) != ReasonStatus {
		t.Errorf("last error %v, want a status failure", s.LastErr)
	}
	b.status.Store(200)
	at = time.Now()
	expect("status 200 again", true, at, rise, httpID)
	noMore("after the 500")

	b.stop()
	at = time.Now()
	expect("server stopped", false, at, fall, httpID, tcpID)
	if s, _ := m.Stats(tcpID); ReasonOf(s.LastErr) != ReasonRefused {
		t.Errorf("last error %v, want refused", s.LastErr)
	}
	b.start()
	at = time.Now()
	expect("server started", true, at, rise, httpID, tcpID)

	time.Sleep(3 * interval)
	noMore("steady")
	for _, id := range []ID{httpID, tcpID} {
		if s, _ := m.Stats(id); !s.Up || s.Transitions == 0 {
			t.Errorf("%v: %+v", id, s)
		}
	}
}

// TestMonitorTimeoutBackend: a backend that accepts but never answers goes down through
// timeouts, and a timeout longer than the interval skips slots instead of piling checks up.
func TestMonitorTimeoutBackend(t *testing.T) {
	addr := silentServer(t, "")
	a := ID{Service: "192.0.2.100:80/tcp", Backend: addr}
	trans := make(chan Transition, 4)
	m := NewMonitor(Options{OnTransition: func(tr Transition) { trans <- tr }})
	if err := m.Set([]Target{{ID: a, Checker: &HTTP{Addr: addr}, Interval: 50 * time.Millisecond, Timeout: 120 * time.Millisecond, Fall: 2}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case tr := <-trans:
		if tr.Up || ReasonOf(tr.Err) != ReasonTimeout {
			t.Fatalf("transition %+v, want down by timeout", tr)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no transition")
	}
	s, _ := m.Stats(a)
	if s.Overruns == 0 {
		t.Errorf("no overruns counted with a timeout longer than the interval: %+v", s)
	}
	if s.LastDuration < 120*time.Millisecond {
		t.Errorf("last duration %v, want the timeout", s.LastDuration)
	}
}
