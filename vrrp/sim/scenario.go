package sim

import (
	"fmt"
	"time"

	"github.com/hadirector/hadirector/vrrp"
)

// Scenario runs one seeded random scenario and checks the RFC invariants:
//   - a backup never sends adverts (checked on every send);
//   - after chaos (crashes, restarts, graceful stops, partitions, one-way cuts, loss,
//     priority changes, faults) and once the network has been whole and quiet for
//     Master_Down_Interval + one advert interval (+ the longest delivery), exactly one
//     master; with preempt everywhere it is the highest-priority live router (ties: the
//     highest address), and it stays master;
//   - after a master crash, the takeover happens within [Master_Down_Interval,
//     Master_Down_Interval + the longest delivery] of its last advert;
//   - after a master's priority-0 advert, the takeover happens within Skew_Time (+ the
//     delivery delay).
//
// It returns the network, whose Violations are empty when every invariant held.
func Scenario(seed uint64, trace bool) *Net {
	n := New(seed, 0, 0, nil)
	n.Trace = trace
	rng := n.Rand()

	version := uint8(3)
	interval := []time.Duration{10 * time.Millisecond, 30 * time.Millisecond, 100 * time.Millisecond, time.Second, 1230 * time.Millisecond}[rng.IntN(5)]
	if rng.IntN(3) == 0 {
		version, interval = 2, time.Duration(1+rng.IntN(3))*time.Second
	}
	count := 2 + rng.IntN(3)
	allPreempt := rng.IntN(5) != 0
	prios := []uint8{100, 100, 150, 200, 254, 1 + uint8(rng.IntN(254))}
	var cfgs []RouterConfig
	owner := rng.IntN(8) == 0
	for i := 0; i < count; i++ {
		c := RouterConfig{Priority: prios[rng.IntN(len(prios))], Preempt: allPreempt || rng.IntN(2) == 0}
		if owner && i == 0 {
			c.Priority = vrrp.PriorityOwner
		}
		if rng.IntN(6) == 0 {
			c.PreemptDelay = time.Duration(rng.IntN(8)) * interval
		}
		cfgs = append(cfgs, c)
	}
	*n = *New(seed, version, interval, cfgs)
	n.Trace, n.rng = trace, rng
	n.MinDelay = time.Duration(rng.Int64N(int64(interval/100) + 1))
	n.Jitter = time.Duration(rng.Int64N(int64(interval/20) + 1))
	n.tracef("seed %d: %s", seed, n.Describe())

	start := func(i int) {
		if !n.Routers[i].Up {
			n.Start(i)
		}
	}
	for i := range n.Routers {
		n.Run(time.Duration(rng.Int64N(int64(2 * interval))))
		start(i)
	}

	// Chaos.
	faults := 3 + rng.IntN(10)
	for f := 0; f < faults; f++ {
		n.Run(time.Duration(rng.Int64N(int64(6 * interval))))
		i := rng.IntN(count)
		switch rng.IntN(10) {
		case 0:
			n.Crash(i)
		case 1:
			start(i)
		case 2:
			n.Shutdown(i)
		case 3:
			var a, b []int
			for j := range n.Routers {
				if rng.IntN(2) == 0 {
					a = append(a, j)
				} else {
					b = append(b, j)
				}
			}
			n.Partition(a, b)
		case 4:
			if j := rng.IntN(count); j != i {
				n.CutOneWay(i, j)
			}
		case 5:
			n.Heal()
		case 6:
			n.Loss = rng.Float64() / 2
		case 7:
			n.SetPriority(i, 1+uint8(rng.IntN(254)))
		case 8:
			n.SetFault(i, rng.IntN(2) == 0)
		case 9:
			n.Run(time.Duration(rng.Int64N(int64(20 * interval))))
		}
	}

	// Quiet: heal, bring everybody back, clear faults; then it must converge.
	n.Heal()
	for i := range n.Routers {
		start(i)
		n.SetFault(i, false)
	}
	settle := func(what string) {
		// preempt_delay runs from the first lower master heard — which may itself take
		// over only after a Master_Down_Interval (a crash) — and the takeover comes
		// Master_Down_Interval after the last advert followed.
		wait := n.maxMDI() + interval + n.MaxDelay()
		for _, r := range n.Routers {
			if until := wait + interval + n.MaxDelay() + r.Cfg.PreemptDelay + n.maxMDI(); r.Up && r.Cfg.PreemptDelay > 0 && until > wait {
				wait = until
			}
		}
		n.Run(wait)
		n.checkConverged(what, allPreempt)
		// And it stays converged: nobody changes state while nothing happens.
		mark := len(n.Transitions)
		n.Run(5 * interval)
		for _, tr := range n.Transitions[mark:] {
			n.violate("%s: converged network changed: r%d %v -> %v (%s)", what, tr.Router, tr.From, tr.To, tr.Reason)
		}
		n.checkConverged(what+", later", allPreempt)
	}
	settle("after chaos")
	if len(n.Violations) > 0 {
		return n
	}

	// Measured crash, at a random moment relative to the advert timer.
	n.Run(time.Duration(rng.Int64N(int64(interval))))
	if ms := n.Masters(); len(ms) == 1 && n.liveCount() > 1 {
		m := ms[0]
		last := n.Routers[m].LastTx
		minMDI := n.minBackup(func(r *Router) time.Duration { return r.M.MasterDownInterval() }, m)
		crashAt := n.Now()
		n.Crash(m)
		n.Run(0) // nothing happens in zero time
		settle("after master crash")
		if tr, ok := n.FirstTransitionTo(vrrp.Master, crashAt); !ok {
			n.violate("no takeover after crash of r%d", m)
		} else if d := tr.At.Sub(last); d < minMDI+n.MinDelay || d > minMDI+n.MaxDelay() {
			n.violate("takeover by r%d %v after the last advert of r%d; want within [%v, %v]", tr.Router, d, m, minMDI+n.MinDelay, minMDI+n.MaxDelay())
		}
		start(m)
		settle("after restart")
	}

	// Measured graceful stop.
	n.Run(time.Duration(rng.Int64N(int64(interval))))
	if ms := n.Masters(); len(ms) == 1 && n.liveCount() > 1 {
		m := ms[0]
		minSkew := n.minBackup(func(r *Router) time.Duration { return r.M.SkewTime() }, m)
		stopAt := n.Now()
		n.Shutdown(m)
		settle("after graceful stop")
		if tr, ok := n.FirstTransitionTo(vrrp.Master, stopAt); !ok {
			n.violate("no takeover after graceful stop of r%d", m)
		} else if d := tr.At.Sub(stopAt); d < minSkew+n.MinDelay || d > minSkew+n.MaxDelay() {
			n.violate("takeover by r%d %v after the priority-0 advert of r%d; want within [%v, %v]", tr.Router, d, m, minSkew+n.MinDelay, minSkew+n.MaxDelay())
		}
		start(m)
		settle("after the graceful stop's restart")
	}
	n.lowerMaster(interval)
	return n
}

// lowerMaster measures preempt_delay after a lower-priority master: a preempting backup
// with a delay is raised above everybody, so the master it follows becomes a lower one.
// keepalived's rule: the first lower advert it hears starts the delay, and it takes over
// Master_Down_Interval after the last advert it followed — never before the delay has
// passed since the raise, never later than one advert interval (the first lower advert
// reaching it), the delay and its Master_Down_Interval after it.
func (n *Net) lowerMaster(interval time.Duration) {
	ms := n.Masters()
	if len(ms) != 1 {
		return
	}
	b := -1
	for i, r := range n.Routers {
		if !r.Up || i == ms[0] {
			continue
		}
		if r.M.Priority() >= vrrp.PriorityOwner-1 {
			return // nobody can be raised above it
		}
		if r.M.State() == vrrp.Backup && r.Cfg.Preempt && r.Cfg.PreemptDelay > 0 && b < 0 {
			b = i
		}
	}
	if b < 0 || n.Routers[ms[0]].M.Priority() >= vrrp.PriorityOwner-1 {
		return
	}
	delay := n.Routers[b].Cfg.PreemptDelay
	raisedAt := n.Now()
	n.SetPriority(b, vrrp.PriorityOwner-1)
	mdi := n.Routers[b].M.MasterDownInterval()
	latest := interval + n.MaxDelay() + delay + mdi
	n.Run(latest + interval)
	tr, ok := n.FirstTransitionTo(vrrp.Master, raisedAt)
	switch {
	case !ok || tr.Router != b:
		n.violate("preempt_delay %v: r%d raised above master r%d did not take over (first MASTER after: %+v %v)", delay, b, ms[0], tr, ok)
	case tr.At.Before(raisedAt.Add(delay)):
		n.violate("preempt_delay %v: r%d took over %v after it was raised above master r%d, before the delay", delay, b, tr.At.Sub(raisedAt), ms[0])
	case tr.At.After(raisedAt.Add(latest)):
		n.violate("preempt_delay %v: r%d took over %v after it was raised above master r%d; want by %v", delay, b, tr.At.Sub(raisedAt), ms[0], latest)
	}
}

func (n *Net) liveCount() int {
	c := 0
	for _, r := range n.Routers {
		if r.Up {
			c++
		}
	}
	return c
}

func (n *Net) maxMDI() time.Duration {
	var d time.Duration
	for _, r := range n.Routers {
		if r.Up {
			d = max(d, r.M.MasterDownInterval())
		}
	}
	return d
}

// minBackup is the smallest f over live backups other than except.
func (n *Net) minBackup(f func(*Router) time.Duration, except int) time.Duration {
	d := time.Duration(-1)
	for _, r := range n.Routers {
		if r.Up && r.ID != except && r.M.State() == vrrp.Backup {
			if v := f(r); d < 0 || v < d {
				d = v
			}
		}
	}
	return d
}

func (n *Net) checkConverged(what string, preempt bool) {
	ms := n.Masters()
	if n.liveCount() == 0 {
		return
	}
	if len(ms) != 1 {
		n.violate("%s: %d masters %v, want exactly one", what, len(ms), ms)
		return
	}
	if best := n.Best(); preempt && ms[0] != best {
		n.violate("%s: master is r%d (prio %d), want r%d (prio %d)", what, ms[0], n.Routers[ms[0]].M.Priority(), best, n.Routers[best].M.Priority())
	}
}

// Report renders a failed run for replay.
func (n *Net) Report(seed uint64) string {
	s := fmt.Sprintf("seed %d\n%s", seed, n.Describe())
	for _, v := range n.Violations {
		s += fmt.Sprintf("  at %v: %s\n", v.At.Sub(Epoch), v.Msg)
	}
	return s
}
