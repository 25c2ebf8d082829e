package healthcheck

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/netip"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"time"
)

// ID names a checked backend: the service it serves and its address. The same real server
// in two services is two targets, checked separately, as in keepalived.
type ID struct {
	Service string
	Backend netip.AddrPort
	// Check tells apart the checks of one backend that has several (0 for the first).
	Check int
}

func (id ID) String() string {
	if id.Check != 0 {
		return fmt.Sprintf("%s %s check %d", id.Service, id.Backend, id.Check)
	}
	return id.Service + " " + id.Backend.String()
}

// Target is one backend to check periodically.
type Target struct {
	ID
	Checker Checker
	// Interval is the time between the starts of two checks; it must be positive.
	Interval time.Duration
	// Timeout bounds each check; 0 means Interval.
	Timeout time.Duration
	// Rise and Fall are the consecutive successes and failures that change the state;
	// values below 1 count as 1.
	Rise, Fall int
	// RetryInterval (keepalived's delay_before_retry), when positive, is the time from a
	// failed check of an up target to an extra check, as long as the failures have not
	// reached Fall and the extra check falls before the next regular slot; the regular
	// slots stay where they are.
	RetryInterval time.Duration
	// StartDown makes a new target start down and need Rise successes before it is up
	// (keepalived's alpha). The default, like keepalived's, is to start up: a director that
	// starts (or reloads) keeps serving through the backends it was given, and a dead one
	// is removed after Fall failed checks.
	StartDown bool
	// Warmup, when positive, is the span the first check's offset is spread over instead of
	// the interval (keepalived's warmup: a new target is checked sooner).
	Warmup time.Duration
	// Spec identifies the check's configuration, e.g. a rendering of its CheckSpec
	// (TargetFromSpec fills it). Set keeps all the state of a target whose ID, Spec and
	// timing are unchanged. When Spec is empty the Checker values are compared instead.
	Spec string
}

// Transition is a change of a target's state.
type Transition struct {
	Target ID
	Up     bool
	// Err is the failed check's error for a transition to down, nil for up.
	Err error
	At  time.Time
	// Weight is, for a transition to up, the weight the passing check said (the zero
	// Weight, the configured one, for checkers that are not WeightCheckers).
	Weight Weight
}

// Result is the outcome of one check, for observers (Options.OnResult).
type Result struct {
	Target    ID
	Scheduled time.Time // the slot the check belonged to
	Started   time.Time // Started - Scheduled is the check's lateness
	Duration  time.Duration
	Err       error
}

// Stats is the state and history of one target, a consistent snapshot.
type Stats struct {
	Target  ID
	Up      bool
	Pending int       // consecutive results toward the next transition (Rise or Fall)
	Since   time.Time // the last transition; zero when the target never changed state
	// Checks and Failures count completed checks.
	Checks, Failures uint64
	Transitions      uint64
	// Overruns counts slots skipped because the previous check was still running; Missed
	// counts slots skipped because the scheduler could not start the check before the
	// next slot (concurrency limit reached, or the process was stalled).
	Overruns, Missed uint64
	// The last completed check; LastStart is zero before the first.
	LastOK       bool
	LastErr      error
	LastStart    time.Time
	LastDuration time.Duration
	LastLateness time.Duration
	// Consecutive counts the last results equal to LastOK.
	Consecutive int
	// Weight is what the last passing check said of the weight (WeightChecker); it is in
	// effect while Up.
	Weight Weight
	// WeightChanges counts the changes reported to Options.OnWeight.
	WeightChanges uint64
}

// Counters are the Monitor's totals.
type Counters struct {
	Targets, Up int
	// InFlight counts the checks running now; Limit is how many may run at once, between
	// a floor and MaxConcurrent (see Options.MaxConcurrent).
	InFlight, Limit               int
	Checks, Failures, Transitions uint64
	Overruns, Missed              uint64
	WeightChanges                 uint64
}

// DefaultMaxConcurrent bounds the checks in flight when Options.MaxConcurrent is 0. Each
// holds a socket (or a process) until it ends; at 10 000 backends every second on a LAN a
// few dozen are in flight, but backends that time out hold theirs for the whole timeout.
const DefaultMaxConcurrent = 2048

// Options configure a Monitor. The zero value works: system clock, no logging, no callbacks.
type Options struct {
	Clock Clock
	// Log receives one record per transition (keys service, backend, state, from, reason).
	Log *slog.Logger
	// MaxConcurrent bounds the checks in flight; 0 means DefaultMaxConcurrent. Within it,
	// the bound adapts: when checks wait for CPU once dispatched, the process is
	// overloaded and fewer run at once, so that a checker short of CPU stretches its
	// schedule (counted as late and missed checks) instead of timing out healthy backends.
	// Due checks beyond the bound wait.
	MaxConcurrent int
	// OnTransition is called for every transition, one at a time and in the order they
	// happened, from a goroutine of the Monitor's; it should not block for long.
	OnTransition func(Transition)
	// OnWeight is called when a check of an up target changes its weight
	// (WeightChecker), in order with the transitions and from the same goroutine. A target
	// that comes up carries its weight in the Transition instead.
	OnWeight func(WeightChange)
	// OnResult, if set, is called after every check, from the goroutine that ran it (for
	// TCP checks, the one goroutine that completes them all): it must be fast.
	OnResult func(Result)
}

// Monitor checks many targets, each on its own fixed schedule, and reports the transitions
// that rise/fall produce.
//
// Scheduling: a target's first check falls at a fixed offset into its first interval,
// derived from a hash of its ID, so thousands of targets added at once are spread evenly
// and the same target always gets the same phase. After that, slot n+1 = slot n +
// Interval, never now + Interval, so the schedule does not drift. A target has at most one
// check in flight; if a check is still running at its next slot, that slot is skipped
// (counted in Overruns). If the scheduler itself falls behind by a whole interval, the
// missed slots are skipped (Missed), never run in a burst.
type Monitor struct {
	clock        Clock
	log          *slog.Logger
	onTransition func(Transition)
	onWeight     func(WeightChange)
	onResult     func(Result)
	lim          *limiter
	wake         chan struct{} // Set → scheduler
	notify       chan struct{} // apply → emitter

	mu          sync.Mutex
	entries     map[ID]*entry
	heap        minHeap[*entry] // by the next slot
	running     bool
	started     bool // Run has anchored the schedule at least once
	wakePending bool
	inflight    int
	queue       []event // transitions and weight changes, in order
	delivering  bool
	c           Counters
}

type entry struct {
	t        Target
	phase    time.Duration
	due      time.Time // the next slot
	retryAt  time.Time // an extra check before due (RetryInterval); zero: none
	anchored bool      // due is meaningful (set once Run has started)
	index    int       // in the heap; -1 when not in it
	removed  bool
	inFlight bool
	tracker  *Tracker
	st       Stats
}

// NewMonitor returns a Monitor with no targets.
func NewMonitor(o Options) *Monitor {
	m := &Monitor{
		clock:        o.Clock,
		log:          o.Log,
		onTransition: o.OnTransition,
		onWeight:     o.OnWeight,
		onResult:     o.OnResult,
		wake:         make(chan struct{}, 1),
		notify:       make(chan struct{}, 1),
		entries:      map[ID]*entry{},
		heap: newMinHeap(
			func(a, b *entry) bool { return a.wake().Before(b.wake()) },
			func(e *entry, i int) { e.index = i }),
	}
	if m.clock == nil {
		m.clock = SystemClock{}
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	n := o.MaxConcurrent
	if n <= 0 {
		n = DefaultMaxConcurrent
	}
	m.lim = newLimiter(n)
	return m
}

// Set replaces the targets, as on a configuration reload, and may be called before or
// while Run runs. For each target:
//   - same ID and same check (Spec, Checker, Interval, Timeout, Rise, Fall): everything is
//     kept — state, counters and the place in the schedule;
//   - same ID, changed check: the up/down state is kept, without a transition (a new path
//     or fall count must not flap a backend that carries traffic), but the rise/fall
//     progress and the counters start again and the new check gets a new schedule;
//   - new ID: the start-up state (up unless StartDown), no transition.
//
// Targets not listed any more are dropped; a check of theirs in flight is ignored. On error
// (a target without a Checker or Interval, a duplicate ID) nothing changes.
func (m *Monitor) Set(targets []Target) error {
	seen := make(map[ID]bool, len(targets))
	for _, t := range targets {
		switch {
		case t.Checker == nil:
			return fmt.Errorf("healthcheck: target %s: no checker", t.ID)
		case t.Interval <= 0:
			return fmt.Errorf("healthcheck: target %s: interval must be positive", t.ID)
		case seen[t.ID]:
			return fmt.Errorf("healthcheck: target %s listed twice", t.ID)
		}
		seen[t.ID] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now()
	next := make(map[ID]*entry, len(targets))
	for _, t := range targets {
		t = normalize(t)
		old := m.entries[t.ID]
		switch {
		case old != nil && sameCheck(old.t, t):
			old.t = t
			next[t.ID] = old
		case old != nil:
			e := m.add(t, now, old.tracker.Up())
			e.st.Since, e.st.Weight = old.st.Since, old.st.Weight
			m.drop(old)
			next[t.ID] = e
		default:
			next[t.ID] = m.add(t, now, !t.StartDown)
		}
	}
	for id, e := range m.entries {
		if next[id] == nil {
			m.drop(e)
		}
	}
	m.entries = next
	m.c.Targets = len(next)
	m.wakePending = true
	select {
	case m.wake <- struct{}{}:
	default:
	}
	return nil
}

func normalize(t Target) Target {
	if t.Timeout <= 0 {
		t.Timeout = t.Interval
	}
	t.Rise, t.Fall = max(t.Rise, 1), max(t.Fall, 1)
	return t
}

func sameCheck(a, b Target) bool {
	if a.Interval != b.Interval || a.Timeout != b.Timeout || a.Rise != b.Rise || a.Fall != b.Fall || a.RetryInterval != b.RetryInterval || a.Warmup != b.Warmup {
		return false
	}
	if a.Spec != "" || b.Spec != "" {
		return a.Spec == b.Spec
	}
	return reflect.DeepEqual(a.Checker, b.Checker)
}

// add makes an entry in the given state and schedules it. m.mu is held.
func (m *Monitor) add(t Target, now time.Time, up bool) *entry {
	span := t.Interval
	if t.Warmup > 0 && t.Warmup < span {
		span = t.Warmup
	}
	e := &entry{t: t, phase: Phase(t.ID, span), tracker: NewTracker(t.Rise, t.Fall, up)}
	e.st.Target, e.st.Up = t.ID, up
	if m.started {
		e.due, e.anchored = now.Add(e.phase), true
	}
	m.heap.Push(e)
	return e
}

// wake is when the entry's next check is due: its slot or an earlier retry.
func (e *entry) wake() time.Time {
	if !e.retryAt.IsZero() && e.retryAt.Before(e.due) {
		return e.retryAt
	}
	return e.due
}

// drop removes an entry from the schedule. m.mu is held.
func (m *Monitor) drop(e *entry) {
	e.removed = true
	if e.index >= 0 {
		m.heap.Remove(e.index)
	}
}

// Phase is the offset of a target's first check into its first interval: a hash of the
// ID, so that targets are spread evenly and deterministically.
func Phase(id ID, interval time.Duration) time.Duration {
	if interval <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(id.Service))
	h.Write([]byte{0})
	b, _ := id.Backend.MarshalBinary()
	h.Write(b)
	if id.Check != 0 {
		h.Write([]byte{byte(id.Check), byte(id.Check >> 8)})
	}
	// FNV's low bits are weak for inputs that differ only in their last bytes (consecutive
	// addresses); a splitmix64 finaliser spreads them.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return time.Duration(x % uint64(interval))
}

// coalesce is the shortest sleep of the scheduler under the real clock: a check may start
// up to this much after its slot, and the scheduler wakes at most 1/coalesce times a second
// however many targets there are.
const coalesce = 2 * time.Millisecond

type job struct {
	e       *entry
	id      ID
	checker Checker
	timeout time.Duration
	slot    time.Time
	// dispatched is when the scheduler started the check's goroutine; the delay until it
	// runs tells the limiter whether the process is short of CPU.
	dispatched time.Time
	// probe is the check to run on the connection engine, if it runs there.
	probe probe
}

// openEngine is newConnEngine; a test replaces it to make it fail.
var openEngine = newConnEngine

// Run checks the targets until ctx is cancelled, then waits for the checks in flight to
// end, delivers the transitions still queued and returns nil. It must not be called twice
// at once.
func (m *Monitor) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return errors.New("healthcheck: Monitor is already running")
	}
	m.running, m.started = true, true
	now := m.clock.Now()
	for _, e := range m.heap.Items() {
		if !e.anchored {
			e.due, e.anchored = now.Add(e.phase), true
		}
	}
	m.heap.Init()
	m.mu.Unlock()

	emitDone := make(chan struct{})
	go func() {
		defer close(emitDone)
		for {
			select {
			case <-ctx.Done():
				return
			case <-m.notify:
				m.deliver()
			}
		}
	}()

	// TCP and UDP checks go through the connection engine where it exists, on the
	// Monitor's clock. Without one they run on goroutines, as on other systems.
	eng, err := openEngine(m.clock)
	if err != nil && !errors.Is(err, errors.ErrUnsupported) {
		m.log.Warn("TCP and UDP checks run on goroutines: no connection engine", "err", err)
	}
	var wg sync.WaitGroup
	var starters *connStarters
	if eng != nil {
		starters = m.newConnStarters(ctx, eng, &wg)
	}
	// Stopped until the first wait: a timer armed an hour ahead would tell a test's
	// harness, looking between the first checks and that wait, that the scheduler sleeps
	// for an hour.
	timer := m.clock.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var conns []job
loop:
	for {
		jobs, next := m.due()
		for i, j := range jobs {
			if !m.lim.tryAcquire() {
				// The checks gathered so far must run before any can end and make room.
				if len(conns) > 0 {
					starters.start(conns)
					conns = conns[:0]
				}
				if m.lim.acquire(ctx) != nil {
					for _, j := range jobs[i:] {
						m.abandon(j.e)
					}
					break loop
				}
			}
			if pc, ok := j.checker.(prober); ok && eng != nil {
				if p := pc.probe(); eng.supports(p.addr, p.bindTo) {
					j.probe = p
					conns = append(conns, j)
					continue
				}
			}
			j.dispatched = m.clock.Now()
			wg.Add(1)
			go func() {
				defer wg.Done()
				m.check(ctx, j)
			}()
		}
		if len(conns) > 0 {
			starters.start(conns)
			conns = conns[:0]
		}
		d := time.Hour
		if !next.IsZero() {
			d = next.Sub(m.clock.Now())
			// Only under the real clock: a test's clock moves when the test says, and its
			// checks start on their slots exactly.
			if _, real := m.clock.(SystemClock); real && eng != nil {
				if d <= 0 {
					// Behind schedule: more checks are due already, and sleeping would
					// idle the CPU the checker is short of. Let the other goroutines
					// (the engine's, which ends checks) run, then start them.
					runtime.Gosched()
					if ctx.Err() != nil {
						break loop
					}
					continue
				}
				// Slots of thousands of targets are spread a fraction of a millisecond
				// apart: waking for each would cost more than the checks. Under the real
				// clock the scheduler wakes at most every coalesce and starts what is due.
				d = max(d, coalesce)
			}
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
			break loop
		case <-timer.C():
		case <-m.wake:
			timer.Stop()
		}
	}
	if eng != nil {
		starters.close()
		eng.close()
	}
	wg.Wait()
	<-emitDone
	m.deliver()
	m.mu.Lock()
	m.running = false
	m.mu.Unlock()
	return nil
}

// due takes the checks whose slot has come and returns them with the time of the next
// slot (zero when there are no targets).
func (m *Monitor) due() ([]job, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.wakePending = false
	now := m.clock.Now()
	var jobs []job
	for m.heap.Len() > 0 && !m.heap.Min().wake().After(now) {
		e := m.heap.Min()
		if r := e.retryAt; !r.IsZero() {
			e.retryAt = time.Time{}
			if r.Before(e.due) {
				// A retry: the regular slot stays.
				m.heap.Fix(0)
				if e.inFlight {
					continue
				}
				e.inFlight = true
				m.inflight++
				jobs = append(jobs, job{e: e, id: e.t.ID, checker: e.t.Checker, timeout: e.t.Timeout, slot: r})
				continue
			}
			// The regular slot comes first and serves as the retry.
		}
		slot, iv := e.due, e.t.Interval
		if late := now.Sub(slot); late >= iv {
			k := late / iv
			slot = slot.Add(k * iv)
			e.st.Missed += uint64(k)
			m.c.Missed += uint64(k)
		}
		e.due = slot.Add(iv)
		m.heap.Fix(0)
		if e.inFlight {
			e.st.Overruns++
			m.c.Overruns++
			continue
		}
		e.inFlight = true
		m.inflight++
		jobs = append(jobs, job{e: e, id: e.t.ID, checker: e.t.Checker, timeout: e.t.Timeout, slot: slot})
	}
	var next time.Time
	if m.heap.Len() > 0 {
		next = m.heap.Min().wake()
	}
	return jobs, next
}

func (m *Monitor) check(ctx context.Context, j job) {
	start := m.clock.Now()
	cctx, cancel := context.WithTimeout(ctx, j.timeout)
	var w Weight
	var err error
	if wc, ok := j.checker.(WeightChecker); ok {
		w, err = wc.CheckWeight(cctx)
	} else {
		err = j.checker.Check(cctx)
	}
	cancel()
	m.finish(ctx, j, start, m.clock.Now(), err, w, start.Sub(j.dispatched))
}

// connStarters open the connections of the TCP checks due at once on up to GOMAXPROCS
// threads. Opening a connection is most of a TCP check's CPU (on a LAN or loopback the
// kernel does the handshake's work inside connect), so one goroutine opening them all
// caps the checker at one CPU whatever the machine has. The scheduler keeps a share of each
// batch and hands equal shares to the helpers; each helper queues at most one share (a
// channel of one), so a helper whose last share is still queued is skipped and its share
// stays with the scheduler: at most one share waits behind a helper that is busy.
type connStarters struct {
	m       *Monitor
	ctx     context.Context
	eng     *connEngine
	helpers []chan []job
}

// minShare is the smallest batch worth handing to a helper: waking one costs about as much
// as opening a few connections.
const minShare = 4

func (m *Monitor) newConnStarters(ctx context.Context, eng *connEngine, wg *sync.WaitGroup) *connStarters {
	s := &connStarters{m: m, ctx: ctx, eng: eng}
	for range runtime.GOMAXPROCS(0) - 1 {
		ch := make(chan []job, 1)
		s.helpers = append(s.helpers, ch)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range ch {
				s.run(batch)
			}
		}()
	}
	return s
}

// start opens the connections of jobs. Helpers get copies of their shares, so the caller
// may reuse jobs once start returns.
func (s *connStarters) start(jobs []job) {
	share := max(len(jobs)/(len(s.helpers)+1), minShare)
	for _, ch := range s.helpers {
		if len(jobs) < 2*share {
			break
		}
		select {
		case ch <- slices.Clone(jobs[len(jobs)-share:]):
			jobs = jobs[:len(jobs)-share]
		default: // it still has a share waiting: keep this one
		}
	}
	s.run(jobs)
}

func (s *connStarters) run(jobs []job) {
	// One full reading of the clock per batch: later ones need only the monotonic clock,
	// and under emulation, where the clock is a device, each reading is a system call.
	base := s.m.clock.Now()
	for _, j := range jobs {
		s.m.connect(s.ctx, s.eng, j, since(s.m.clock, base))
	}
}

func (s *connStarters) close() {
	for _, ch := range s.helpers {
		close(ch)
	}
}

// connect runs a TCP or UDP check on the engine, starting at start: what the checker's
// Check does, without a goroutine.
func (m *Monitor) connect(ctx context.Context, eng *connEngine, j job, start time.Time) {
	p := j.probe
	timeout := j.timeout
	if p.timeout > 0 {
		timeout = min(timeout, p.timeout)
	}
	report := func(err error, end time.Time) {
		// The engine's loop is where such a check waits for CPU; its lateness shows in
		// the schedule, not as a queue.
		m.finish(ctx, j, start, end, p.failure(err, timeout), Weight{}, 0)
	}
	if p.x != nil {
		eng.exchange(p.addr, p.bindTo, p.x, start.Add(timeout), report)
		return
	}
	eng.start(p.addr, p.bindTo, start.Add(timeout), report)
}

// finish records the outcome, known at end, of a check that started at start and waited
// queueDelay for CPU once dispatched; w is the weight a passing check said.
func (m *Monitor) finish(ctx context.Context, j job, start, end time.Time, err error, w Weight, queueDelay time.Duration) {
	dur := end.Sub(start)
	m.lim.release(end, queueDelay)
	if ctx.Err() != nil {
		// The result may be the cancellation itself: it says nothing about the backend.
		m.abandon(j.e)
		return
	}
	m.apply(j, start, dur, err, w)
	if m.onResult != nil {
		m.onResult(Result{Target: j.id, Scheduled: j.slot, Started: start, Duration: dur, Err: err})
	}
	m.mu.Lock()
	m.inflight--
	m.mu.Unlock()
}

func (m *Monitor) abandon(e *entry) {
	m.mu.Lock()
	e.inFlight = false
	m.inflight--
	m.mu.Unlock()
}

// event is a Transition or a WeightChange, queued for delivery in order.
type event struct {
	tr *Transition
	wc *WeightChange
}

// apply records a result and queues the transition or weight change it causes, if any.
func (m *Monitor) apply(j job, start time.Time, dur time.Duration, err error, w Weight) {
	ok := err == nil
	m.mu.Lock()
	defer m.mu.Unlock()
	e := j.e
	e.inFlight = false
	if e.removed {
		return
	}
	s := &e.st
	if s.Checks > 0 && s.LastOK == ok {
		s.Consecutive++
	} else {
		s.Consecutive = 1
	}
	s.Checks++
	m.c.Checks++
	if !ok {
		s.Failures++
		m.c.Failures++
	}
	s.LastOK, s.LastErr, s.LastStart, s.LastDuration = ok, err, start, dur
	s.LastLateness = start.Sub(j.slot)
	from := s.Weight
	if ok {
		s.Weight = w
	}
	var ev event
	switch {
	case e.tracker.Observe(ok):
		s.Up = e.tracker.Up()
		s.Since = start.Add(dur)
		s.Transitions++
		m.c.Transitions++
		tr := Transition{Target: j.id, Up: s.Up, Err: err, At: s.Since}
		if s.Up {
			tr.Weight = s.Weight
		}
		ev.tr = &tr
	case ok && s.Up && w != from:
		s.WeightChanges++
		m.c.WeightChanges++
		ev.wc = &WeightChange{Target: j.id, From: from, To: w, At: start.Add(dur)}
	}
	s.Pending = e.tracker.Pending()
	if r := j.slot.Add(e.t.RetryInterval); !ok && s.Up && s.Pending > 0 && e.t.RetryInterval > 0 && r.Before(e.due) && e.index >= 0 {
		e.retryAt = r
		m.heap.Fix(e.index)
		m.wakePending = true
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
	if ev != (event{}) {
		m.queue = append(m.queue, ev)
		select {
		case m.notify <- struct{}{}:
		default:
		}
	}
}

// deliver logs and hands out the queued transitions in order. Only one goroutine delivers
// at a time (the emitter while Run runs, Run itself after the emitter ended).
func (m *Monitor) deliver() {
	for {
		m.mu.Lock()
		q := m.queue
		m.queue = nil
		m.delivering = len(q) > 0
		m.mu.Unlock()
		if len(q) == 0 {
			return
		}
		for _, ev := range q {
			if ev.wc != nil {
				m.logWeight(*ev.wc)
				if m.onWeight != nil {
					m.onWeight(*ev.wc)
				}
				continue
			}
			m.logTransition(*ev.tr)
			if m.onTransition != nil {
				m.onTransition(*ev.tr)
			}
		}
	}
}

func (m *Monitor) logTransition(t Transition) {
	state, from, level, reason := "up", "down", slog.LevelInfo, "rise reached"
	if !t.Up {
		state, from, level = "down", "up", slog.LevelWarn
		reason = "fall reached"
		if t.Err != nil {
			reason = t.Err.Error()
		}
	}
	m.log.LogAttrs(context.Background(), level, "backend "+state,
		slog.String("service", t.Target.Service),
		slog.String("backend", t.Target.Backend.String()),
		slog.Int("check", t.Target.Check),
		slog.String("state", state),
		slog.String("from", from),
		slog.String("reason", reason))
}

func (m *Monitor) logWeight(w WeightChange) {
	m.log.LogAttrs(context.Background(), slog.LevelInfo, "backend weight",
		slog.String("service", w.Target.Service),
		slog.String("backend", w.Target.Backend.String()),
		slog.Int("check", w.Target.Check),
		slog.String("weight", w.To.String()),
		slog.String("from", w.From.String()))
}

// Up reports a target's state; known is false for a target the Monitor does not have.
func (m *Monitor) Up(id ID) (up, known bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[id]
	if e == nil {
		return false, false
	}
	return e.st.Up, true
}

// Stats returns a snapshot of one target.
func (m *Monitor) Stats(id ID) (Stats, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[id]
	if e == nil {
		return Stats{}, false
	}
	return e.st, true
}

// All returns a snapshot of every target, ordered by service and backend.
func (m *Monitor) All() []Stats {
	m.mu.Lock()
	out := make([]Stats, 0, len(m.entries))
	for _, e := range m.entries {
		out = append(out, e.st)
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b Stats) int {
		return cmp.Or(cmp.Compare(a.Target.Service, b.Target.Service), a.Target.Backend.Compare(b.Target.Backend))
	})
	return out
}

// Counters returns the Monitor's totals.
func (m *Monitor) Counters() Counters {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.c
	c.InFlight, c.Limit = m.lim.state()
	for _, e := range m.entries {
		if e.st.Up {
			c.Up++
		}
	}
	return c
}
