package healthcheck

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

func TestLimiterBlocksAtLimit(t *testing.T) {
	l := newLimiter(2)
	ctx := context.Background()
	for range 2 {
		if err := l.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan error, 1)
	go func() { got <- l.acquire(ctx) }()
	select {
	case <-got:
		t.Fatal("a third check was let in at limit 2")
	case <-time.After(20 * time.Millisecond):
	}
	l.release(epoch, 0)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.acquire(cctx); err == nil {
		t.Error("acquire at the limit ignored a cancelled context")
	}
}

// TestLimiterAdapts: checks that wait for CPU once dispatched cut the limit (down to the
// floor, at most every adaptEvery); prompt checks held back by the limit let it grow back
// to the maximum.
func TestLimiterAdapts(t *testing.T) {
	l := newLimiter(1000)
	now := epoch.Add(time.Hour)
	busy := func(delay time.Duration) {
		l.acquire(context.Background())
		l.release(now, delay)
	}
	busy(50 * time.Millisecond)
	if _, lim := l.state(); lim != 750 {
		t.Fatalf("limit %d after a late start, want 750", lim)
	}
	busy(50 * time.Millisecond) // within adaptEvery: no second cut
	if _, lim := l.state(); lim != 750 {
		t.Fatalf("limit %d, want 750 (one change per %v)", lim, adaptEvery)
	}
	for range 100 {
		now = now.Add(adaptEvery)
		busy(time.Second)
	}
	if _, lim := l.state(); lim != l.floor {
		t.Fatalf("limit %d after sustained overload, want the floor %d", lim, l.floor)
	}
	// Prompt starts alone do not grow it: only when the limit held checks back.
	now = now.Add(adaptEvery)
	busy(0)
	if _, lim := l.state(); lim != l.floor {
		t.Fatalf("limit grew to %d without demand", lim)
	}
	for range 200 {
		now = now.Add(adaptEvery)
		l.mu.Lock()
		l.held = true
		l.mu.Unlock()
		busy(time.Millisecond)
	}
	if _, lim := l.state(); lim != 1000 {
		t.Fatalf("limit %d after recovery, want the maximum 1000", lim)
	}
}

// TestMonitorOverloadControl: with a checker that makes checks wait for CPU, the Monitor
// lowers its concurrency instead of piling up checks.
func TestMonitorOverloadControl(t *testing.T) {
	l := newLimiter(64)
	l.floor = 4
	m := NewMonitor(Options{MaxConcurrent: 64})
	m.lim = l
	var targets []Target
	// A CPU-bound check: busy for 2 ms, on as many targets as make the process fall behind.
	spin := CheckerFunc(func(context.Context) error {
		for end := time.Now().Add(2 * time.Millisecond); time.Now().Before(end); {
		}
		return nil
	})
	for i := range 400 {
		x := ID{Service: "s", Backend: netip.AddrPortFrom(netip.MustParseAddr("198.51.100.1"), uint16(1000+i))}
		targets = append(targets, Target{ID: x, Checker: spin, Interval: 100 * time.Millisecond})
	}
	if err := m.Set(targets); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	m.Run(ctx)
	c := m.Counters()
	t.Logf("counters %+v", c)
	if c.Limit >= 64 {
		t.Errorf("limit %d: not lowered under overload", c.Limit)
	}
	if c.Checks == 0 || c.Failures != 0 {
		t.Errorf("counters %+v", c)
	}
}
