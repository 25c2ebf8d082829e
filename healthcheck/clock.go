package healthcheck

import "time"

// Clock is the Monitor's source of time, injected so that tests drive the schedule
// without sleeping.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer the Monitor uses.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
	Reset(d time.Duration) bool
}

// SystemClock is the real clock. Its times carry the monotonic reading, so schedules are
// immune to wall-clock steps.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer returns a time.Timer.
func (SystemClock) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

// since returns c's time now, given an earlier reading base. The system clock reads only
// its monotonic part (time.Since), half the cost of a full reading.
func since(c Clock, base time.Time) time.Time {
	if _, ok := c.(SystemClock); ok {
		return base.Add(time.Since(base))
	}
	return c.Now()
}

type sysTimer struct{ t *time.Timer }

func (t sysTimer) C() <-chan time.Time        { return t.t.C }
func (t sysTimer) Stop() bool                 { return t.t.Stop() }
func (t sysTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }
