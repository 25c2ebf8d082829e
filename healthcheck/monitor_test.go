package healthcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// harness runs a Monitor on a fake clock and records what it reports.
type harness struct {
	t      *testing.T
	clk    *fakeClock
	m      *Monitor
	cancel context.CancelFunc
	done   chan error
	start  time.Time

	mu      sync.Mutex
	trans   []Transition
	results []Result
	events  []string // transitions and weight changes, in delivery order
}

func newHarness(t *testing.T, o Options) *harness {
	t.Helper()
	h := &harness{t: t, clk: newFakeClock()}
	o.Clock = h.clk
	o.OnTransition = func(tr Transition) {
		h.mu.Lock()
		h.trans = append(h.trans, tr)
		ev := "down"
		if tr.Up {
			ev = "up " + tr.Weight.String()
		}
		h.events = append(h.events, ev)
		h.mu.Unlock()
	}
	o.OnWeight = func(w WeightChange) {
		h.mu.Lock()
		h.events = append(h.events, "weight "+w.From.String()+" -> "+w.To.String())
		h.mu.Unlock()
	}
	o.OnResult = func(r Result) {
		h.mu.Lock()
		h.results = append(h.results, r)
		h.mu.Unlock()
	}
	h.m = NewMonitor(o)
	return h
}

// run starts Run and waits until the scheduler is idle.
func (h *harness) run() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done, h.start = cancel, make(chan error, 1), h.clk.Now()
	go func() { h.done <- h.m.Run(ctx) }()
	h.t.Cleanup(h.stop)
	h.quiet()
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		h.t.Error("Run did not return after cancel")
	}
}

// quiet waits until the Monitor has nothing left to do at the current fake time: no check
// in flight, no transition undelivered, no Set unseen, and its timer armed in the future.
func (h *harness) quiet() {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		w1, _, g1 := h.clk.waiting()
		h.m.mu.Lock()
		busy := !h.m.running || h.m.wakePending || h.m.inflight > 0 || len(h.m.queue) > 0 || h.m.delivering
		h.m.mu.Unlock()
		w2, _, g2 := h.clk.waiting()
		if w1 && w2 && g1 == g2 && !busy {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("monitor not idle after 5s (busy=%v waiting=%v)", busy, w2)
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// step advances the clock to the scheduler's next deadline and waits for the checks due
// then; it returns the new time.
func (h *harness) step() time.Time {
	h.t.Helper()
	h.quiet()
	_, next, _ := h.clk.waiting()
	h.clk.Set(next)
	h.quiet()
	return next
}

// stepUntil steps through every deadline up to and including t.
func (h *harness) stepUntil(t time.Time) {
	h.t.Helper()
	for {
		h.quiet()
		_, next, _ := h.clk.waiting()
		if next.After(t) {
			h.clk.Set(t)
			h.quiet()
			return
		}
		h.step()
	}
}

func (h *harness) transitions() []Transition {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Transition(nil), h.trans...)
}

func (h *harness) resultsFor(id ID) []Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Result
	for _, r := range h.results {
		if r.Target == id {
			out = append(out, r)
		}
	}
	return out
}

func (h *harness) stats(id ID) Stats {
	h.t.Helper()
	s, ok := h.m.Stats(id)
	if !ok {
		h.t.Fatalf("no stats for %v", id)
	}
	return s
}

// script is a checker that returns scripted results (true = pass), repeating the last.
type script struct {
	mu      sync.Mutex
	results []bool
	n       int
}

func newScript(pattern string) *script {
	s := &script{}
	for _, c := range pattern {
		switch c {
		case 'T':
			s.results = append(s.results, true)
		case 'F':
			s.results = append(s.results, false)
		}
	}
	return s
}

func (s *script) Check(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := min(s.n, len(s.results)-1)
	s.n++
	if s.results[i] {
		return nil
	}
	return fmt.Errorf("scripted failure (check %d)", s.n)
}

func id(n int) ID {
	return ID{Service: "192.0.2.100:80/tcp", Backend: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(n)}), 80)}
}

func TestMonitorRiseFall(t *testing.T) {
	h := newHarness(t, Options{})
	a := id(1)
	//                      1 2 3 4 5 6 7 8 9 10 11 12
	sc := newScript("T T F F F F T T T F  T  T")
	if err := h.m.Set([]Target{{ID: a, Checker: sc, Interval: time.Second, Rise: 2, Fall: 3}}); err != nil {
		t.Fatal(err)
	}
	if up, known := h.m.Up(a); !up || !known {
		t.Fatalf("before the first check Up = %v, %v; want up (the default start-up state)", up, known)
	}
	h.run()
	first := h.start.Add(Phase(a, time.Second))
	h.stepUntil(first.Add(11 * time.Second))

	slot := func(k int) time.Time { return first.Add(time.Duration(k-1) * time.Second) }
	want := []Transition{
		{Target: a, Up: false, At: slot(5)}, // the third consecutive failure
		{Target: a, Up: true, At: slot(8)},  // the second consecutive success
	}
	got := h.transitions()
	if len(got) != len(want) {
		t.Fatalf("transitions %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Target != want[i].Target || got[i].Up != want[i].Up || !got[i].At.Equal(want[i].At) {
			t.Errorf("transition %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if got[0].Err == nil || !strings.Contains(got[0].Err.Error(), "check 5") {
		t.Errorf("down transition's error %v, want the fifth check's", got[0].Err)
	}
	if got[1].Err != nil {
		t.Errorf("up transition carries error %v", got[1].Err)
	}
	s := h.stats(a)
	if s.Checks != 12 || s.Failures != 5 || s.Transitions != 2 || !s.Up || !s.LastOK || s.Consecutive != 2 ||
		s.LastErr != nil || !s.Since.Equal(slot(8)) || !s.LastStart.Equal(slot(12)) || s.Pending != 0 {
		t.Errorf("stats %+v", s)
	}
	// Every check ran exactly on its slot.
	for k, r := range h.resultsFor(a) {
		if !r.Scheduled.Equal(slot(k+1)) || !r.Started.Equal(r.Scheduled) {
			t.Errorf("check %d scheduled %v started %v, want %v", k+1, r.Scheduled, r.Started, slot(k+1))
		}
	}
	c := h.m.Counters()
	if c.Targets != 1 || c.Up != 1 || c.Checks != 12 || c.Failures != 5 || c.Transitions != 2 || c.InFlight != 0 {
		t.Errorf("counters %+v", c)
	}
}

func TestMonitorStartDown(t *testing.T) {
	h := newHarness(t, Options{})
	a := id(1)
	if err := h.m.Set([]Target{{ID: a, Checker: newScript("T"), Interval: time.Second, Rise: 3, Fall: 1, StartDown: true}}); err != nil {
		t.Fatal(err)
	}
	if up, known := h.m.Up(a); up || !known {
		t.Fatalf("Up = %v, %v before the first check; want down", up, known)
	}
	h.run()
	first := h.start.Add(Phase(a, time.Second))
	h.stepUntil(first.Add(time.Second))
	if s := h.stats(a); s.Up || s.Checks != 2 || s.Pending != 2 || len(h.transitions()) != 0 {
		t.Fatalf("after 2 successes with rise 3: %+v, transitions %v", s, h.transitions())
	}
	h.stepUntil(first.Add(2 * time.Second))
	tr := h.transitions()
	if len(tr) != 1 || !tr[0].Up || !tr[0].At.Equal(first.Add(2*time.Second)) {
		t.Fatalf("transitions %+v, want one up at the third check", tr)
	}
}

func TestPhaseSpread(t *testing.T) {
	const n, buckets = 10000, 10
	var count [buckets]int
	for i := range n {
		id := ID{Service: "192.0.2.100:80/tcp", Backend: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 1, byte(i / 250), byte(i%250 + 1)}), 8000)}
		p := Phase(id, time.Second)
		if p < 0 || p >= time.Second {
			t.Fatalf("phase %v out of [0, 1s)", p)
		}
		if p != Phase(id, time.Second) {
			t.Fatal("Phase is not deterministic")
		}
		count[p*buckets/time.Second]++
	}
	for i, c := range count {
		if c < n/buckets*85/100 || c > n/buckets*115/100 {
			t.Errorf("bucket %d has %d of %d first checks, want about %d: %v", i, c, n, n/buckets, count)
		}
	}
}

// TestMonitorSpreadAndNoDrift: first checks land at start + Phase, spread over the first
// interval, and every later one exactly one interval after the previous slot.
func TestMonitorSpreadAndNoDrift(t *testing.T) {
	h := newHarness(t, Options{})
	var targets []Target
	for i := range 50 {
		targets = append(targets, Target{ID: id(i + 1), Checker: newScript("T"), Interval: time.Second, Fall: 1})
	}
	if err := h.m.Set(targets); err != nil {
		t.Fatal(err)
	}
	h.run()
	h.stepUntil(h.start.Add(3*time.Second - 1))
	distinct := map[time.Duration]bool{}
	for _, tg := range targets {
		rs := h.resultsFor(tg.ID)
		if len(rs) != 3 {
			t.Fatalf("%v: %d checks in 3 intervals, want 3", tg.ID, len(rs))
		}
		p := Phase(tg.ID, time.Second)
		distinct[p] = true
		for k, r := range rs {
			want := h.start.Add(p + time.Duration(k)*time.Second)
			if !r.Scheduled.Equal(want) || !r.Started.Equal(want) {
				t.Errorf("%v check %d at %v (scheduled %v), want %v", tg.ID, k, r.Started, r.Scheduled, want)
			}
		}
	}
	if len(distinct) < 45 {
		t.Errorf("only %d distinct first-check offsets for 50 targets", len(distinct))
	}
}

// gate is a checker that blocks until released, counting checks in flight.
type gate struct {
	release  chan struct{}
	started  chan struct{}
	cur, max atomic.Int64
}

func newGate() *gate { return &gate{release: make(chan struct{}), started: make(chan struct{}, 100)} }

func (g *gate) Check(ctx context.Context) error {
	n := g.cur.Add(1)
	defer g.cur.Add(-1)
	for {
		m := g.max.Load()
		if n <= m || g.max.CompareAndSwap(m, n) {
			break
		}
	}
	g.started <- struct{}{}
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func waitArmed(t *testing.T, clk *fakeClock) time.Time {
	t.Helper()
	var next time.Time
	waitFor(t, 5*time.Second, func() bool {
		ok, n, _ := clk.waiting()
		next = n
		return ok
	})
	return next
}

func TestMonitorOverrun(t *testing.T) {
	h := newHarness(t, Options{})
	a := id(1)
	g := newGate()
	if err := h.m.Set([]Target{{ID: a, Checker: g, Interval: time.Second, Timeout: time.Hour, Fall: 1}}); err != nil {
		t.Fatal(err)
	}
	h.run()
	first := h.start.Add(Phase(a, time.Second))
	h.clk.Set(first)
	<-g.started
	// The check is still running at the next two slots: both are skipped.
	h.clk.Set(first.Add(time.Second))
	waitFor(t, 5*time.Second, func() bool { return h.stats(a).Overruns == 1 })
	waitArmed(t, h.clk)
	h.clk.Set(first.Add(2 * time.Second))
	waitFor(t, 5*time.Second, func() bool { return h.stats(a).Overruns == 2 })
	close(g.release)
	h.quiet()
	if s := h.stats(a); s.Checks != 1 || s.Missed != 0 {
		t.Fatalf("after the slow check: %+v", s)
	}
	// The schedule is unchanged: the next check is at its slot.
	h.step()
	<-g.started
	rs := h.resultsFor(a)
	if len(rs) != 2 || !rs[1].Scheduled.Equal(first.Add(3*time.Second)) {
		t.Fatalf("results %+v, want the second check at %v", rs, first.Add(3*time.Second))
	}
	if g.max.Load() != 1 {
		t.Errorf("%d checks of one target ran at once", g.max.Load())
	}
	if c := h.m.Counters(); c.Overruns != 2 {
		t.Errorf("counters %+v", c)
	}
}

func TestMonitorMissedSlots(t *testing.T) {
	h := newHarness(t, Options{})
	a := id(1)
	if err := h.m.Set([]Target{{ID: a, Checker: newScript("T"), Interval: time.Second}}); err != nil {
		t.Fatal(err)
	}
	h.run()
	first := h.start.Add(Phase(a, time.Second))
	h.stepUntil(first)
	// The process stalls for 5.5 s: one check runs, for the latest slot, and the four slots
	// before it are counted as missed, not run in a burst.
	h.clk.Set(first.Add(5500 * time.Millisecond))
	h.quiet()
	rs := h.resultsFor(a)
	if len(rs) != 2 || !rs[1].Scheduled.Equal(first.Add(5*time.Second)) || rs[1].Started.Sub(rs[1].Scheduled) != 500*time.Millisecond {
		t.Fatalf("results %+v", rs)
	}
	if s := h.stats(a); s.Missed != 4 || s.LastLateness != 500*time.Millisecond {
		t.Errorf("stats %+v, want 4 missed slots and 500ms lateness", s)
	}
	// Back on the grid.
	if next := h.step(); !next.Equal(first.Add(6 * time.Second)) {
		t.Errorf("next check at %v, want %v", next, first.Add(6*time.Second))
	}
}

func TestMonitorConcurrencyLimit(t *testing.T) {
	h := newHarness(t, Options{MaxConcurrent: 3})
	g := newGate()
	var targets []Target
	for i := range 20 {
		targets = append(targets, Target{ID: id(i + 1), Checker: g, Interval: time.Second, Timeout: time.Hour})
	}
	if err := h.m.Set(targets); err != nil {
		t.Fatal(err)
	}
	h.run()
	h.clk.Set(h.start.Add(time.Second - 1)) // every first check is due
	for range 3 {
		<-g.started
	}
	time.Sleep(20 * time.Millisecond) // would a fourth start? (it must not)
	if n := g.cur.Load(); n != 3 {
		t.Fatalf("%d checks in flight, want the limit of 3", n)
	}
	if c := h.m.Counters(); c.InFlight != 3 {
		t.Errorf("counters %+v", c)
	}
	close(g.release)
	h.quiet()
	if c := h.m.Counters(); c.Checks != 20 || g.max.Load() != 3 {
		t.Errorf("counters %+v, max in flight %d", c, g.max.Load())
	}
}

func TestMonitorSetKeepsState(t *testing.T) {
	h := newHarness(t, Options{})
	a, b, c, d := id(1), id(2), id(3), id(4)
	mk := func(x ID, spec string) Target {
		return Target{ID: x, Checker: newScript("F"), Interval: time.Second, Fall: 1, Spec: spec}
	}
	if err := h.m.Set([]Target{mk(a, "v1"), mk(b, "v1"), mk(c, "v1")}); err != nil {
		t.Fatal(err)
	}
	h.run()
	h.stepUntil(h.start.Add(time.Second - 1))
	if n := len(h.transitions()); n != 3 {
		t.Fatalf("%d transitions, want 3 (every target down)", n)
	}
	before := h.stats(a)
	sinceB := h.stats(b).Since

	// Reload: a unchanged, b's check changed, c gone, d new.
	bt := mk(b, "v2")
	dt := Target{ID: d, Checker: newScript("T"), Interval: time.Second, Fall: 1}
	if err := h.m.Set([]Target{mk(a, "v1"), bt, dt}); err != nil {
		t.Fatal(err)
	}
	h.quiet()
	if after := h.stats(a); after.Checks != before.Checks || after.Up || !after.LastStart.Equal(before.LastStart) || after.Transitions != 1 {
		t.Errorf("unchanged target lost its state: %+v, was %+v", after, before)
	}
	if sb := h.stats(b); sb.Up || sb.Checks != 0 || sb.Transitions != 0 || !sb.Since.Equal(sinceB) {
		t.Errorf("changed target: %+v; want still down (no flap), counters restarted", sb)
	}
	if _, known := h.m.Up(c); known {
		t.Error("removed target still known")
	}
	if up, _ := h.m.Up(d); !up {
		t.Error("new target not in its start-up state (up)")
	}
	if n := len(h.transitions()); n != 3 {
		t.Errorf("Set caused transitions: %+v", h.transitions())
	}
	// a keeps its slot on the grid.
	h.stepUntil(h.start.Add(2*time.Second - 1))
	ra := h.resultsFor(a)
	if want := h.start.Add(Phase(a, time.Second) + time.Second); len(ra) != 2 || !ra[1].Scheduled.Equal(want) {
		t.Errorf("unchanged target's results %+v, want its second check at %v", ra, want)
	}
	if rc := h.resultsFor(c); len(rc) != 1 {
		t.Errorf("removed target checked again: %+v", rc)
	}
	if h.m.Counters().Targets != 3 || len(h.m.All()) != 3 {
		t.Errorf("counters %+v", h.m.Counters())
	}

	// A changed interval is a changed check too.
	at := mk(a, "v1")
	at.Interval = 2 * time.Second
	if err := h.m.Set([]Target{at}); err != nil {
		t.Fatal(err)
	}
	if s := h.stats(a); s.Checks != 0 || s.Up {
		t.Errorf("after an interval change: %+v", s)
	}
}

// TestMonitorSetRemovesInFlight: a result for a target removed while its check ran is
// dropped.
func TestMonitorSetRemovesInFlight(t *testing.T) {
	h := newHarness(t, Options{})
	a := id(1)
	g := newGate()
	if err := h.m.Set([]Target{{ID: a, Checker: g, Interval: time.Second, Timeout: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	h.run()
	h.clk.Set(h.start.Add(Phase(a, time.Second)))
	<-g.started
	if err := h.m.Set(nil); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	h.quiet()
	if c := h.m.Counters(); c.Checks != 0 || c.Targets != 0 || c.InFlight != 0 {
		t.Errorf("counters %+v", c)
	}
}

func TestMonitorFlapping(t *testing.T) {
	for _, tc := range []struct {
		name, pattern string
		rise, fall    int
		want          string // U/D per transition
		final         bool
	}{
		{"rise1 fall1", "T F T F T F T F T F", 1, 1, "DUDUDUDUD", false},
		{"hysteresis absorbs single flips", "T F T F T F T F T F", 2, 2, "", true},
		{"pairs", "F F T T F F T T F F", 2, 2, "DUDUD", false},
		{"ends up", "F F F T F T T T", 2, 3, "DU", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			a := id(1)
			n := len(strings.ReplaceAll(tc.pattern, " ", ""))
			if err := h.m.Set([]Target{{ID: a, Checker: newScript(tc.pattern), Interval: time.Second, Rise: tc.rise, Fall: tc.fall}}); err != nil {
				t.Fatal(err)
			}
			h.run()
			h.stepUntil(h.start.Add(Phase(a, time.Second) + time.Duration(n-1)*time.Second))
			var got strings.Builder
			for _, tr := range h.transitions() {
				got.WriteString(map[bool]string{true: "U", false: "D"}[tr.Up])
			}
			if got.String() != tc.want {
				t.Errorf("transitions %q, want %q", got.String(), tc.want)
			}
			s := h.stats(a)
			if s.Checks != uint64(n) || s.Up != tc.final || s.Transitions != uint64(len(tc.want)) {
				t.Errorf("stats %+v, want %d checks, up=%v", s, n, tc.final)
			}
		})
	}
}

// TestMonitorFlappingRealClock flaps a target as fast as the scheduler goes and checks that
// every transition is delivered, in order, including the last one after Run returns.
func TestMonitorFlappingRealClock(t *testing.T) {
	var flip atomic.Int64
	var mu sync.Mutex
	var got []Transition
	m := NewMonitor(Options{OnTransition: func(tr Transition) {
		mu.Lock()
		got = append(got, tr)
		mu.Unlock()
	}})
	a := id(1)
	chk := CheckerFunc(func(context.Context) error {
		if flip.Add(1)%3 == 0 {
			return errors.New("down")
		}
		return nil
	})
	if err := m.Set([]Target{{ID: a, Checker: chk, Interval: 2 * time.Millisecond, Rise: 1, Fall: 1}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// Read the stats concurrently, as a status page would.
	go func() {
		for ctx.Err() == nil {
			m.All()
			m.Counters()
			time.Sleep(time.Millisecond)
		}
	}()
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	s, _ := m.Stats(a)
	mu.Lock()
	defer mu.Unlock()
	if len(got) < 20 || uint64(len(got)) != s.Transitions {
		t.Fatalf("%d transitions delivered, stats say %d", len(got), s.Transitions)
	}
	for i, tr := range got {
		if tr.Up != (i%2 == 1) {
			t.Fatalf("transition %d is up=%v: not alternating", i, tr.Up)
		}
	}
	if got[len(got)-1].Up != s.Up {
		t.Errorf("last delivered state up=%v, final state up=%v", got[len(got)-1].Up, s.Up)
	}
}

func TestMonitorLogsTransitionsOnce(t *testing.T) {
	var buf bytes.Buffer
	var bmu sync.Mutex
	log := slog.New(slog.NewJSONHandler(lockedWriter{&bmu, &buf}, nil))
	h := newHarness(t, Options{Log: log})
	a := id(7)
	if err := h.m.Set([]Target{{ID: a, Checker: newScript("T F T F"), Interval: time.Second, Rise: 1, Fall: 1}}); err != nil {
		t.Fatal(err)
	}
	h.run()
	h.stepUntil(h.start.Add(Phase(a, time.Second) + 3*time.Second))
	bmu.Lock()
	defer bmu.Unlock()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d log records for 3 transitions:\n%s", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["msg"] != "backend down" || rec["service"] != a.Service || rec["backend"] != a.Backend.String() ||
		rec["state"] != "down" || rec["from"] != "up" || rec["level"] != "WARN" ||
		!strings.Contains(rec["reason"].(string), "scripted failure") {
		t.Errorf("log record %v", rec)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestMonitorSetErrors(t *testing.T) {
	m := NewMonitor(Options{})
	ok := Target{ID: id(1), Checker: newScript("T"), Interval: time.Second}
	for _, tc := range []struct {
		name    string
		targets []Target
	}{
		{"no checker", []Target{{ID: id(1), Interval: time.Second}}},
		{"no interval", []Target{{ID: id(1), Checker: newScript("T")}}},
		{"duplicate", []Target{ok, ok}},
	} {
		if err := m.Set(tc.targets); err == nil {
			t.Errorf("%s: Set accepted it", tc.name)
		}
	}
	if err := m.Set([]Target{ok}); err != nil {
		t.Fatal(err)
	}
	if err := m.Set([]Target{ok, ok}); err == nil {
		t.Error("duplicate accepted")
	}
	if _, known := m.Up(id(1)); !known {
		t.Error("a failed Set changed the targets")
	}
}

func TestMonitorRunTwice(t *testing.T) {
	h := newHarness(t, Options{})
	h.run()
	if err := h.m.Run(context.Background()); err == nil {
		t.Error("second Run accepted")
	}
	h.stop()
	// Run may be called again after it returned.
	h.run()
}

func TestMonitorDefaults(t *testing.T) {
	h := newHarness(t, Options{})
	a := id(1)
	var gotTimeout time.Duration
	chk := CheckerFunc(func(ctx context.Context) error {
		dl, _ := ctx.Deadline()
		gotTimeout = time.Until(dl)
		return nil
	})
	// Timeout 0 means Interval; Rise and Fall 0 mean 1.
	if err := h.m.Set([]Target{{ID: a, Checker: chk, Interval: 10 * time.Second, StartDown: true}}); err != nil {
		t.Fatal(err)
	}
	h.run()
	h.stepUntil(h.start.Add(10 * time.Second))
	if up, _ := h.m.Up(a); !up {
		t.Error("rise 0 did not act as rise 1")
	}
	if gotTimeout < 9*time.Second || gotTimeout > 10*time.Second {
		t.Errorf("check deadline %v away, want the 10s interval", gotTimeout)
	}
}

// TestMonitorLogsEngineError: when the TCP connection engine cannot be made, Run says so
// in the log (and TCP checks still run, on goroutines).
func TestMonitorLogsEngineError(t *testing.T) {
	failing := func(Clock) (*connEngine, error) { return nil, errors.New("epoll_create1: too many open files") }
	defer func(f func(Clock) (*connEngine, error)) { openEngine = f }(openEngine)
	openEngine = failing
	var buf bytes.Buffer
	var bmu sync.Mutex
	log := slog.New(slog.NewJSONHandler(lockedWriter{&bmu, &buf}, nil))
	h := newHarness(t, Options{Log: log})
	if err := h.m.Set([]Target{{ID: id(1), Checker: newScript("T"), Interval: time.Second}}); err != nil {
		t.Fatal(err)
	}
	h.run()
	h.stop()
	bmu.Lock()
	defer bmu.Unlock()
	var rec map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &rec); err != nil {
		t.Fatalf("log %q: %v", buf.String(), err)
	}
	if rec["level"] != "WARN" || !strings.Contains(rec["msg"].(string), "no connection engine") ||
		rec["err"] != "epoll_create1: too many open files" {
		t.Errorf("log record %v", rec)
	}
}

// TestMonitorRetryInterval: keepalived's delay_before_retry. After a failure of an up
// target, extra checks come RetryInterval apart until fall is reached, while the regular
// slots stay on their grid; a retry that would come after the next regular slot is left
// to that slot, and a down target is not retried.
func TestMonitorRetryInterval(t *testing.T) {
	h := newHarness(t, Options{})
	a, b := id(1), id(2)
	if err := h.m.Set([]Target{
		{ID: a, Checker: newScript("T F F F T"), Interval: 10 * time.Second, RetryInterval: 2 * time.Second, Fall: 3},
		{ID: b, Checker: newScript("T F F F"), Interval: 3 * time.Second, RetryInterval: 2 * time.Second, Fall: 3},
	}); err != nil {
		t.Fatal(err)
	}
	h.run()
	h.stepUntil(h.start.Add(30 * time.Second))
	offsets := func(id ID, iv time.Duration, n int) []time.Duration {
		first := h.start.Add(Phase(id, iv))
		var out []time.Duration
		for _, r := range h.resultsFor(id)[:n] {
			out = append(out, r.Scheduled.Sub(first))
		}
		return out
	}
	// a: regular 0 s, failure at 10 s, retries at 12 s and 14 s (down), regular again at 20 s.
	if got, want := fmt.Sprint(offsets(a, 10*time.Second, 5)), "[0s 10s 12s 14s 20s]"; got != want {
		t.Errorf("a's checks at %s, want %s", got, want)
	}
	// b: failure at 3 s, retry at 5 s; the next would be 7 s, after the regular 6 s.
	if got, want := fmt.Sprint(offsets(b, 3*time.Second, 5)), "[0s 3s 5s 6s 9s]"; got != want {
		t.Errorf("b's checks at %s, want %s", got, want)
	}
	firstA, firstB := h.start.Add(Phase(a, 10*time.Second)), h.start.Add(Phase(b, 3*time.Second))
	for _, tr := range h.transitions() {
		switch {
		case tr.Target == a && !tr.Up && tr.At.Equal(firstA.Add(14*time.Second)),
			tr.Target == a && tr.Up && tr.At.Equal(firstA.Add(20*time.Second)),
			tr.Target == b && !tr.Up && tr.At.Equal(firstB.Add(6*time.Second)):
		default:
			t.Errorf("unexpected transition %+v", tr)
		}
	}
	if n := len(h.transitions()); n != 3 {
		t.Errorf("%d transitions, want 3", n)
	}
}

// TestMonitorWarmup: with Warmup the first check falls within it, not within the whole
// interval (keepalived's warmup), and the slots after it keep the interval; the checks of
// one backend (ID.Check) get their own phases.
func TestMonitorWarmup(t *testing.T) {
	h := newHarness(t, Options{})
	a := id(1)
	b := a
	b.Check = 1
	if Phase(a, time.Hour) == Phase(b, time.Hour) {
		t.Errorf("two checks of one backend share the phase %v", Phase(a, time.Hour))
	}
	sc := newScript("T T T")
	if err := h.m.Set([]Target{{ID: a, Checker: sc, Interval: time.Hour, Warmup: time.Second}}); err != nil {
		t.Fatal(err)
	}
	h.run()
	first := h.start.Add(Phase(a, time.Second))
	h.stepUntil(first.Add(time.Hour))
	rs := h.resultsFor(a)
	if len(rs) != 2 || !rs[0].Scheduled.Equal(first) || !rs[1].Scheduled.Equal(first.Add(time.Hour)) {
		t.Fatalf("checks %+v, want at %v and an hour later", rs, first)
	}
}
