package healthcheck

import (
	"context"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/hadirector/hadirector/internal/leakcheck"
)

// TestMonitorJoinsGoroutines: once Run has returned, nothing the Monitor started still
// runs — the TCP engine's loop and the connect helpers, the checks of the other kinds, the
// Pinger's reader, the transition emitter — with checks that pass, checks that fail, and a
// connect, a UDP exchange and a ping in flight at the cancel.
func TestMonitorJoinsGoroutines(t *testing.T) {
	up := newTCPServer(t).addr(t)
	web := newHTTPServer(t, func(w http.ResponseWriter, _ *http.Request) {}, nil)
	full, haveFull := fullListener(t)
	down := netip.MustParseAddrPort("127.0.0.1:1") // refused
	silent := newUDPToggle(t).addr()               // never answers
	loopback := netip.MustParseAddr("127.0.0.1")
	base := leakcheck.Take()

	m := NewMonitor(Options{})
	targets := []Target{
		{ID: ID{Service: "tcp", Backend: up}, Checker: &TCP{Addr: up}, Interval: 5 * time.Millisecond, Timeout: time.Second},
		{ID: ID{Service: "tcp", Backend: down}, Checker: &TCP{Addr: down}, Interval: 5 * time.Millisecond, Timeout: time.Second},
		{ID: ID{Service: "http", Backend: web.addr(t)}, Checker: &HTTP{Addr: web.addr(t)}, Interval: 5 * time.Millisecond, Timeout: time.Second},
		{ID: ID{Service: "udp", Backend: silent}, Checker: &UDP{Addr: silent, RequireReply: true}, Interval: time.Millisecond, Timeout: time.Hour},
		{ID: ID{Service: "icmp", Backend: netip.AddrPortFrom(loopback, 0)}, Checker: &ICMP{Addr: loopback}, Interval: 5 * time.Millisecond, Timeout: time.Second},
		{ID: ID{Service: "icmp-none", Backend: netip.MustParseAddrPort("192.0.2.99:0")}, Checker: &ICMP{Addr: netip.MustParseAddr("192.0.2.99")}, Interval: time.Millisecond, Timeout: time.Hour},
	}
	if haveFull {
		targets = append(targets, Target{ID: ID{Service: "tcp", Backend: full}, Checker: &TCP{Addr: full}, Interval: time.Millisecond, Timeout: time.Hour})
	}
	if err := m.Set(targets); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	waitFor(t, 10*time.Second, func() bool { return m.Counters().Checks >= 30 && m.Counters().Failures > 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	base.Verify(t)
}
