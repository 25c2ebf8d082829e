package healthcheck

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock whose time moves only when the test says so. Timers fire when the
// clock reaches them; Stop and Reset discard a value not yet received, like time.Timer
// since Go 1.23.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	gen    uint64 // bumped whenever a timer changes state
	timers []*fakeTimer
}

type fakeTimer struct {
	clk   *fakeClock
	ch    chan time.Time
	when  time.Time
	armed bool
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newFakeClock() *fakeClock { return &fakeClock{now: epoch} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{clk: c, ch: make(chan time.Time, 1)}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	t.Reset(d)
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	was := t.armed
	t.armed = false
	t.clk.gen++
	select {
	case <-t.ch:
	default:
	}
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	c := t.clk
	c.mu.Lock()
	defer c.mu.Unlock()
	was := t.armed
	select {
	case <-t.ch:
	default:
	}
	t.when, t.armed = c.now.Add(d), true
	c.gen++
	c.fireLocked()
	return was
}

func (c *fakeClock) fireLocked() {
	for _, t := range c.timers {
		if t.armed && !t.when.After(c.now) {
			t.armed = false
			c.gen++
			select {
			case t.ch <- c.now:
			default:
			}
		}
	}
}

// Set moves the clock to to (never backwards) and fires the timers it reaches.
func (c *fakeClock) Set(to time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if to.After(c.now) {
		c.now = to
	}
	c.fireLocked()
}

// Advance moves the clock forward by d.
func (c *fakeClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// waiting reports whether some timer is armed in the future (the scheduler is waiting),
// the earliest such deadline, and the state generation.
func (c *fakeClock) waiting() (bool, time.Time, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var next time.Time
	ok := false
	for _, t := range c.timers {
		if t.armed && t.when.After(c.now) && (!ok || t.when.Before(next)) {
			next, ok = t.when, true
		}
	}
	return ok, next, c.gen
}

func TestFakeClock(t *testing.T) {
	c := newFakeClock()
	tm := c.NewTimer(time.Second)
	c.Advance(999 * time.Millisecond)
	select {
	case <-tm.C():
		t.Fatal("fired early")
	default:
	}
	c.Advance(time.Millisecond)
	select {
	case at := <-tm.C():
		if !at.Equal(epoch.Add(time.Second)) {
			t.Errorf("fired at %v", at)
		}
	default:
		t.Fatal("did not fire")
	}
	tm.Reset(time.Second)
	c.Advance(2 * time.Second)
	tm.Reset(time.Second) // discards the unreceived value
	select {
	case <-tm.C():
		t.Fatal("stale value after Reset")
	default:
	}
	if !tm.Stop() {
		t.Error("Stop of an armed timer reported false")
	}
}
