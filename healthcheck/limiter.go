package healthcheck

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// Overload control. A check costs the checker CPU only at its start and end (socket,
// connect, close; a process for exec); in between it waits on the network for free. So the
// checks in flight may be many — thousands when backends time out — but the checks wanting
// CPU must not be: when the process is short of CPU, every extra check in flight lengthens
// all of them, until they time out and healthy backends are marked down by a checker that
// was merely slow (README.md, "Design notes", has the measurement).
//
// The limiter therefore adapts the number of checks in flight between a floor and
// MaxConcurrent, AIMD-style, on the one signal that means "short of CPU": the time between
// dispatching a check and its goroutine running. Above queueDelayHigh the limit is cut by a
// quarter; while the limit holds checks back and they start promptly, it grows by an
// eighth. Each change waits adaptEvery. Slow or dead backends never lower it.
const (
	queueDelayHigh = 10 * time.Millisecond
	adaptEvery     = 50 * time.Millisecond
)

type limiter struct {
	mu         sync.Mutex
	max, floor int
	limit      int
	inflight   int
	held       bool // a check waited for the limit since the last change
	lastChange time.Time
	wake       chan struct{}
}

func newLimiter(most int) *limiter {
	return &limiter{
		max:   most,
		floor: min(most, max(8, 4*runtime.GOMAXPROCS(0))),
		limit: most,
		wake:  make(chan struct{}, 1),
	}
}

// tryAcquire takes room for one more check if there is some.
func (l *limiter) tryAcquire() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inflight < l.limit {
		l.inflight++
		return true
	}
	l.held = true
	return false
}

// acquire waits for room for one more check.
func (l *limiter) acquire(ctx context.Context) error {
	for !l.tryAcquire() {
		select {
		case <-l.wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// release ends a check that waited queueDelay between dispatch and start.
func (l *limiter) release(now time.Time, queueDelay time.Duration) {
	l.mu.Lock()
	l.inflight--
	if now.Sub(l.lastChange) >= adaptEvery {
		switch {
		case queueDelay > queueDelayHigh && l.limit > l.floor:
			l.limit = max(l.floor, l.limit*3/4)
			l.lastChange, l.held = now, false
		case queueDelay <= queueDelayHigh && l.held && l.limit < l.max:
			l.limit = min(l.max, l.limit+l.limit/8+1)
			l.lastChange, l.held = now, false
		}
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *limiter) state() (inflight, limit int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inflight, l.limit
}
