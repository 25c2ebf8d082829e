package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hadirector/hadirector/internal/lab"
)

// Kind of failure (or start) a Sample measures.
const (
	KindKill  = "kill"  // kill -9 of the master
	KindTerm  = "term"  // SIGTERM of the master
	KindStart = "start" // (re)start of the preferred master while the backup is master
)

// Sample is one measured failure. Wire times are kernel receive time stamps in the
// client's namespace; daemon times are when the new master's notify FIFO line was read.
type Sample struct {
	Impl     Impl   `json:"impl"`
	Scenario string `json:"scenario"`
	Kind     string `json:"kind"`
	Rep      int    `json:"rep"`
	// Delay is the random wait, in [0, advert_int), between the settled pair and the failure.
	Delay Ms `json:"delay_ms"`

	// Takeover: kill — the old master's last advert → the new master's first advert;
	// term — SIGTERM → the new master's first advert; start — start → its first advert.
	Takeover Ms `json:"takeover_ms"`
	// Prio0: term only — the old master's priority-0 advert → the new master's first advert.
	Prio0 Ms `json:"prio0_to_advert_ms"`
	// Daemon: the new master's MASTER FIFO line − (kill: the last advert; term: SIGTERM;
	// start: start).
	Daemon Ms `json:"daemon_ms"`
	// AdvertToGARP: the new master's first advert → its first gratuitous ARP.
	AdvertToGARP Ms `json:"advert_to_garp_ms"`
	// VIPToGARP: the VIP's RTM_NEWADDR in the new master's namespace → its first GARP.
	VIPToGARP Ms `json:"vip_to_garp_ms"`
	// GARPToNeigh: the first GARP → the client's neighbour entry for the VIP names the new
	// master's MAC (RTM_NEWNEIGH in the client's namespace).
	GARPToNeigh Ms `json:"garp_to_neigh_ms"`
	// FailToNeigh: the failure (kill / SIGTERM / start) → the client's entry flips.
	FailToNeigh Ms `json:"fail_to_neigh_ms"`
	// GARPs is the number of gratuitous ARPs in the first burst.
	GARPs int `json:"garps"`

	Err string `json:"error,omitempty"`
}

// FailoverOptions configure RunFailover.
type FailoverOptions struct {
	Reps      int
	Scenarios []Scenario
	Impls     []Impl          // default: keepalived and hadirector
	Bins      map[Impl]string // each implementation's binary
	Realtime  bool            // realtime_priority + lock_memory for both
	// KeepalivedRTTime is keepalived's vrrp_rlimit_rttime (µs); 0 keeps its default.
	KeepalivedRTTime int
	Seed             uint64    // of the failure-moment randomisation
	Progress         io.Writer // a line per measurement; nil for none
	// Tracer times VIP additions in the kernel (see StartTracer); nil: netlink does, late.
	Tracer *Tracer
}

// RunFailover builds a pair of each implementation per scenario (in its own lab), and
// then, repetition after repetition, alternating the implementations so that both see the
// same background load: kill -9 of the master, restart, SIGTERM of the master, restart —
// each failure at a random moment of the advert cycle.
func RunFailover(tb lab.TB, o FailoverOptions) []Sample {
	tb.Helper()
	if len(o.Impls) == 0 {
		o.Impls = []Impl{Keepalived, Hadirector}
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	tracer := o.Tracer
	var out []Sample
	for _, sc := range o.Scenarios {
		var pairs []*Pair
		for _, impl := range o.Impls {
			p := NewPair(tb, impl, o.Bins[impl], sc, Instance{Realtime: o.Realtime, KeepalivedRTTime: o.KeepalivedRTTime})
			p.Tracer = tracer
			p.Start()
			pairs = append(pairs, p)
		}
		for rep := 1; rep <= o.Reps; rep++ {
			order := slices.Clone(pairs)
			if rep%2 == 0 {
				slices.Reverse(order)
			}
			for _, p := range order {
				for _, kind := range []string{KindKill, KindTerm} {
					s := p.Fail(kind, rep, rng)
					out = append(out, s)
					progress(o.Progress, s)
					s = p.Restart(rep)
					out = append(out, s)
					progress(o.Progress, s)
				}
			}
		}
		for _, p := range pairs {
			p.Stop()
		}
	}
	return out
}

func progress(w io.Writer, s Sample) {
	if w == nil {
		return
	}
	fmt.Fprintf(w, "%-10s %-8s %-5s rep %2d: takeover %9s ms  daemon %9s ms  prio0 %8s  advert→GARP %7s  VIP→GARP %7s  GARP→neigh %7s  GARPs %d %s\n",
		s.Impl, s.Scenario, s.Kind, s.Rep, s.Takeover, s.Daemon, s.Prio0, s.AdvertToGARP, s.VIPToGARP, s.GARPToNeigh, s.GARPs, s.Err)
}

// Fail kills (KindKill) or stops (KindTerm) the settled master a at a random moment and
// measures b's takeover. The pair is left with b as master and a down.
func (p *Pair) Fail(kind string, rep int, rng *rand.Rand) Sample {
	p.tb.Helper()
	s := Sample{Impl: p.Impl, Scenario: p.Sc.Name, Kind: kind, Rep: rep,
		Takeover: NotSeen, Prio0: NotSeen, Daemon: NotSeen, AdvertToGARP: NotSeen, VIPToGARP: NotSeen,
		GARPToNeigh: NotSeen, FailToNeigh: NotSeen}
	delay := time.Duration(rng.Int64N(int64(p.Sc.Interval)))
	s.Delay = Ms(delay)
	time.Sleep(delay)
	mark := p.Cap.Len()
	t0 := time.Now()
	switch kind {
	case KindKill:
		p.A.Kill()
	case KindTerm:
		if err := p.A.Term(); err != nil {
			p.tb.Fatalf("bench: SIGTERM: %v", err)
		}
	}
	p.measure(&s, p.B, t0, mark)
	switch kind {
	case KindKill:
		// The last advert of a before b's first; a's adverts stop at the kill, so it is
		// within the few frames before the mark.
		if s.Err == "" {
			first := p.firstAdvert(AddrB, mark)
			var last time.Time
			for _, a := range p.Adverts(max(0, mark-200)) {
				if a.Src == AddrA && a.Time.Before(first) {
					last = a.Time
				}
			}
			s.Takeover = since(last, first)
			if t, ok := p.B.BecameMaster(t0); ok {
				s.Daemon = since(last, t)
			}
		}
		// kill -9 leaves the VIP behind, as it would on a real node.
		p.A.RemoveVIPs()
	case KindTerm:
		first := p.firstAdvert(AddrB, mark)
		s.Takeover = since(t0, first)
		for _, a := range p.Adverts(mark) {
			if a.Src == AddrA && a.Priority == 0 {
				s.Prio0 = since(a.Time, first)
				break
			}
		}
		if t, ok := p.B.BecameMaster(t0); ok {
			s.Daemon = since(t0, t)
		}
		if code, err := p.A.Wait(5 * time.Second); err != nil || code != 0 {
			s.Err += fmt.Sprintf(" a's exit after SIGTERM: code %d %v;", code, err)
			p.A.Kill()
		}
	}
	return s
}

// Restart starts a again while b is master and measures its preemption: start → first
// advert, and the same GARP / neighbour times as a takeover. It returns once the pair has
// settled with a as master (if need be after starting both afresh; see below).
func (p *Pair) Restart(rep int) Sample {
	p.tb.Helper()
	s := Sample{Impl: p.Impl, Scenario: p.Sc.Name, Kind: KindStart, Rep: rep, Delay: NotSeen,
		Takeover: NotSeen, Prio0: NotSeen, Daemon: NotSeen, AdvertToGARP: NotSeen, VIPToGARP: NotSeen,
		GARPToNeigh: NotSeen, FailToNeigh: NotSeen}
	mark := p.Cap.Len()
	t0 := time.Now()
	p.A.Start()
	p.measure(&s, p.A, t0, mark)
	s.Takeover = since(t0, p.firstAdvert(AddrA, mark))
	if t, ok := p.A.BecameMaster(t0); ok {
		s.Daemon = since(t0, t)
	}
	// On a loaded machine a pair now and then fails to settle (a state report missing from
	// a FIFO): that is this sample's error, and the pair starts afresh rather than ending a
	// run of many repetitions. Only a second failure in a row ends it.
	if err := p.TrySettle(mark); err != nil {
		s.Err += fmt.Sprintf(" did not settle after the restart, pair restarted: %v;", firstLineOf(err.Error()))
		p.A.Kill()
		p.B.Kill()
		p.A.RemoveVIPs()
		p.B.RemoveVIPs()
		p.Start()
	}
	return s
}

func firstLineOf(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// firstAdvert is the time of the first advert with a non-zero priority from src at or
// after capture index mark (zero if none).
func (p *Pair) firstAdvert(src netip.Addr, mark int) time.Time {
	for _, a := range p.Adverts(mark) {
		if a.Src == src && a.Priority > 0 {
			return a.Time
		}
	}
	return time.Time{}
}

// measure waits for the new master's first advert, first GARP burst, VIP and the client's
// neighbour flip after the failure at t0 (capture index mark), and fills in s.
func (p *Pair) measure(s *Sample, nm *Daemon, t0 time.Time, mark int) {
	src := nm.Host.Addr()
	watcher := p.WB
	if nm == p.A {
		watcher = p.WA
	}
	timeout := p.Sc.masterDownA() + 3*time.Second
	var first time.Time
	if !poll(timeout, time.Millisecond, func() bool { first = p.firstAdvert(src, mark); return !first.IsZero() }) {
		s.Err = fmt.Sprintf("no advert from %s within %v;", nm.Host.Name, timeout)
		return
	}
	var garp time.Time
	mac := nm.Host.MAC().String()
	fromNM := func(g ARP) bool { return g.SHA.String() == mac && g.EthSrc.String() == mac }
	poll(time.Second, time.Millisecond, func() bool {
		for _, g := range p.GARPs(mark) {
			if fromNM(g) {
				garp = g.Time
				return true
			}
		}
		return false
	})
	s.AdvertToGARP = since(first, garp)
	var neigh time.Time
	poll(time.Second, time.Millisecond, func() bool {
		var ok bool
		neigh, ok = p.WC.NeighborIs(VIP, nm.Host.MAC(), t0)
		return ok
	})
	s.GARPToNeigh = since(garp, neigh)
	s.FailToNeigh = since(t0, neigh)
	var added time.Time
	poll(time.Second, time.Millisecond, func() bool {
		var ok bool
		if p.Tracer != nil {
			added, ok = p.Tracer.AddrAdded(nm.Pids(), t0)
		} else {
			added, ok = watcher.AddrAdded(VIP, t0)
		}
		return ok
	})
	s.VIPToGARP = since(added, garp)
	poll(time.Second, time.Millisecond, func() bool { _, ok := nm.BecameMaster(t0); return ok })
	if !garp.IsZero() {
		// Burst frames leave back to back; the second burst is garp_master_delay (5 s) later.
		time.Sleep(200 * time.Millisecond)
		for _, g := range p.GARPs(mark) {
			if fromNM(g) && g.Time.Sub(garp) < 200*time.Millisecond {
				s.GARPs++
			}
		}
	}
}
