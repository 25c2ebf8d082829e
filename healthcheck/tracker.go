// Package healthcheck owns the checkers (TCP connect, UDP, DNS, ICMP echo, SMTP,
// HTTP/HTTPS, exec, file), the Tracker that turns their raw results into up/down
// transitions with rise and fall, and the Monitor that runs thousands of checks on fixed,
// spread, non-drifting schedules and reports the transitions and weight changes. Checkers know nothing about IPVS or VRRP: the director decides what a
// transition means. See README.md for the behaviour and the keepalived equivalents.
package healthcheck

// Tracker applies rise/fall to raw results: Rise consecutive successes make a down target
// up, Fall consecutive failures make an up target down. The zero value is not usable; use
// NewTracker.
type Tracker struct {
	rise, fall int
	up         bool
	run        int // consecutive results disagreeing with the current state
}

// NewTracker returns a tracker in the given start-up state. rise and fall below 1 count as 1.
func NewTracker(rise, fall int, up bool) *Tracker {
	return &Tracker{rise: max(rise, 1), fall: max(fall, 1), up: up}
}

// Up reports the current state.
func (t *Tracker) Up() bool { return t.up }

// Observe records one result and reports whether the state changed.
func (t *Tracker) Observe(ok bool) (changed bool) {
	if ok == t.up {
		t.run = 0
		return false
	}
	t.run++
	need := t.fall
	if ok {
		need = t.rise
	}
	if t.run < need {
		return false
	}
	t.up, t.run = ok, 0
	return true
}

// Pending reports how many consecutive results disagree with the current state: progress
// toward the next transition (which happens at Rise or Fall).
func (t *Tracker) Pending() int { return t.run }
