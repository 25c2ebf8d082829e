// Package sim is a deterministic discrete-event simulator of VRRP routers sharing one LAN.
// Each router runs the real vrrp.Machine; adverts are really encoded and validated. The
// network has per-link delay, jitter and loss, and can be partitioned; routers crash,
// restart, shut down and change priority. Everything is driven by one seed, so a failing
// scenario replays exactly.
package sim

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/hadirector/hadirector/vrrp"
)

// Epoch is simulated time zero.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// RouterConfig is one router of the LAN.
type RouterConfig struct {
	Priority     uint8
	Preempt      bool
	PreemptDelay time.Duration
}

// Router is one simulated node.
type Router struct {
	ID      int
	IP      netip.Addr
	Cfg     RouterConfig
	M       *vrrp.Machine // nil while down
	Up      bool
	LastTx  time.Time // last advert sent with non-zero priority
	TxCount int
}

// Transition is one state change seen in the run.
type Transition struct {
	At       time.Time
	Router   int
	From, To vrrp.State
	Reason   string
}

// Violation is a broken invariant.
type Violation struct {
	At  time.Time
	Msg string
}

// Net is the simulated LAN and its routers.
type Net struct {
	Version  uint8
	VRID     uint8
	Interval time.Duration
	MinDelay time.Duration // every delivery takes at least this
	Jitter   time.Duration // plus up to this
	Loss     float64       // per delivery

	Routers     []*Router
	Transitions []Transition
	Violations  []Violation
	Log         []string // event log, kept only when Trace is set
	Trace       bool

	rng         *rand.Rand
	now         time.Time
	queue       eventQueue
	seq         uint64
	cut         map[[2]int]bool // directed links that are partitioned
	lastArrival map[[2]int]time.Time
	vips        []netip.Addr
	expects     map[int]*vrrp.Expect
}

type event struct {
	at   time.Time
	seq  uint64
	to   int
	data []byte
	src  netip.Addr
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// New builds a LAN of routers 192.0.2.1, .2, … (router i has address .i+1).
func New(seed uint64, version uint8, interval time.Duration, routers []RouterConfig) *Net {
	n := &Net{
		Version:     version,
		VRID:        51,
		Interval:    interval,
		rng:         rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		now:         Epoch,
		cut:         map[[2]int]bool{},
		lastArrival: map[[2]int]time.Time{},
		vips:        []netip.Addr{netip.MustParseAddr("192.0.2.100")},
		expects:     map[int]*vrrp.Expect{},
	}
	for i, c := range routers {
		r := &Router{ID: i, IP: netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), Cfg: c}
		n.Routers = append(n.Routers, r)
		n.expects[i] = &vrrp.Expect{Version: version, VRID: n.VRID, Interval: interval, Addrs: n.vips}
	}
	return n
}

// Rand is the run's random source, for scenario code that must stay reproducible.
func (n *Net) Rand() *rand.Rand { return n.rng }

// Now is the simulated time.
func (n *Net) Now() time.Time { return n.now }

func (n *Net) tracef(format string, args ...any) {
	if n.Trace {
		n.Log = append(n.Log, fmt.Sprintf("%9.4fs ", n.now.Sub(Epoch).Seconds())+fmt.Sprintf(format, args...))
	}
}

func (n *Net) violate(format string, args ...any) {
	n.Violations = append(n.Violations, Violation{At: n.now, Msg: fmt.Sprintf(format, args...)})
	n.tracef("VIOLATION: "+format, args...)
}

// Start boots router i.
func (n *Net) Start(i int) {
	r := n.Routers[i]
	if r.Up {
		return
	}
	r.Up = true
	r.M = vrrp.NewMachine(vrrp.Config{
		Name: fmt.Sprintf("r%d", i), Version: n.Version, Priority: r.Cfg.Priority, Interval: n.Interval,
		Preempt: r.Cfg.Preempt, PreemptDelay: r.Cfg.PreemptDelay, PrimaryIP: r.IP,
	})
	n.tracef("r%d start prio %d", i, r.Cfg.Priority)
	n.step(r, vrrp.Event{Kind: vrrp.EvStartup})
}

// Crash stops router i without a word, like kill -9 with the link going down.
func (n *Net) Crash(i int) {
	r := n.Routers[i]
	if !r.Up {
		return
	}
	n.tracef("r%d crash in %v", i, r.M.State())
	n.record(r, r.M.State(), vrrp.Initialize, "crash")
	r.Up, r.M = false, nil
}

// Shutdown stops router i gracefully (a master sends priority 0).
func (n *Net) Shutdown(i int) {
	r := n.Routers[i]
	if !r.Up {
		return
	}
	n.tracef("r%d shutdown", i)
	n.step(r, vrrp.Event{Kind: vrrp.EvShutdown})
	r.Up, r.M = false, nil
}

// SetPriority changes router i's effective priority, as weighted tracking would.
func (n *Net) SetPriority(i int, p uint8) {
	if r := n.Routers[i]; r.Up {
		n.tracef("r%d priority %d", i, p)
		n.step(r, vrrp.Event{Kind: vrrp.EvPriority, Priority: p})
	}
}

// SetFault sets or clears router i's own fault, as unweighted tracking would.
func (n *Net) SetFault(i int, on bool) {
	if r := n.Routers[i]; r.Up {
		n.tracef("r%d fault %v", i, on)
		n.step(r, vrrp.Event{Kind: vrrp.EvFault, Fault: on, Reason: "tracking"})
	}
}

// Partition cuts the links between the two sides (both directions).
func (n *Net) Partition(a, b []int) {
	for _, i := range a {
		for _, j := range b {
			n.cut[[2]int{i, j}], n.cut[[2]int{j, i}] = true, true
		}
	}
	n.tracef("partition %v | %v", a, b)
}

// CutOneWay drops everything from router i to router j.
func (n *Net) CutOneWay(i, j int) {
	n.cut[[2]int{i, j}] = true
	n.tracef("cut %d->%d", i, j)
}

// Heal restores every link and ends loss.
func (n *Net) Heal() {
	clear(n.cut)
	n.Loss = 0
	n.tracef("heal")
}

// MaxDelay is the longest a delivery can take.
func (n *Net) MaxDelay() time.Duration { return n.MinDelay + n.Jitter }

func (n *Net) step(r *Router, ev vrrp.Event) {
	before := r.M.State()
	acts := r.M.Step(n.now, ev)
	becameMaster := false
	for _, a := range acts {
		if a.Kind == vrrp.ActTransition && a.To == vrrp.Master {
			becameMaster = true
		}
	}
	for _, a := range acts {
		switch a.Kind {
		case vrrp.ActSend:
			if before != vrrp.Master && !becameMaster {
				n.violate("r%d sent an advert in %v", r.ID, before)
			}
			n.send(r, a.Priority)
		case vrrp.ActTransition:
			n.record(r, a.From, a.To, a.Reason)
		}
	}
}

func (n *Net) record(r *Router, from, to vrrp.State, reason string) {
	n.Transitions = append(n.Transitions, Transition{At: n.now, Router: r.ID, From: from, To: to, Reason: reason})
	n.tracef("r%d %v -> %v (%s)", r.ID, from, to, reason)
}

func (n *Net) send(r *Router, prio uint8) {
	a := vrrp.Advert{Version: n.Version, Type: vrrp.TypeAdvertisement, VRID: n.VRID, Priority: prio,
		Interval: n.Interval, Addrs: n.vips, Src: r.IP, Dst: vrrp.GroupV4}
	b, err := a.MarshalBinary()
	if err != nil {
		n.violate("r%d cannot encode its advert: %v", r.ID, err)
		return
	}
	if prio != 0 {
		r.LastTx = n.now
	}
	r.TxCount++
	for j := range n.Routers {
		if j == r.ID || n.cut[[2]int{r.ID, j}] {
			continue
		}
		if n.Loss > 0 && n.rng.Float64() < n.Loss {
			continue
		}
		d := n.MinDelay
		if n.Jitter > 0 {
			d += time.Duration(n.rng.Int64N(int64(n.Jitter) + 1))
		}
		// A link never reorders: jitter delays a packet, it does not overtake.
		at := n.now.Add(d)
		link := [2]int{r.ID, j}
		if last := n.lastArrival[link]; at.Before(last) {
			at = last
		}
		n.lastArrival[link] = at
		n.seq++
		heap.Push(&n.queue, &event{at: at, seq: n.seq, to: j, data: b, src: r.IP})
	}
}

// RunUntil advances simulated time to t, delivering packets and firing timers in order.
func (n *Net) RunUntil(t time.Time) {
	for {
		next, timer := t, -1
		if len(n.queue) > 0 && !n.queue[0].at.After(next) {
			next = n.queue[0].at
		}
		for _, r := range n.Routers {
			if !r.Up {
				continue
			}
			// A timer due at the same instant as a packet fires first: the packet's arrival
			// is not earlier than the deadline, and real timers win such races too.
			if d := r.M.Deadline(); !d.IsZero() && !d.After(next) && (timer < 0 || d.Before(next)) {
				next, timer = d, r.ID
			}
		}
		if next.After(t) {
			break
		}
		n.now = next
		if timer >= 0 {
			n.step(n.Routers[timer], vrrp.Event{Kind: vrrp.EvTimer})
			continue
		}
		if len(n.queue) == 0 || n.queue[0].at.After(t) {
			break
		}
		e := heap.Pop(&n.queue).(*event)
		r := n.Routers[e.to]
		if !r.Up {
			continue
		}
		res := vrrp.Validate(vrrp.Packet{Src: e.src, Dst: vrrp.GroupV4, TTL: 255, Payload: e.data},
			func(vrid uint8) *vrrp.Expect {
				if vrid == n.VRID {
					return n.expects[r.ID]
				}
				return nil
			})
		if res.Drop != vrrp.DropNone {
			n.violate("r%d dropped a valid advert: %v", r.ID, res.Drop)
			continue
		}
		if res.Advert.Priority == 0 {
			n.tracef("r%d got priority 0 from %v in %v", r.ID, e.src, r.M.State())
		}
		n.step(r, vrrp.Event{Kind: vrrp.EvAdvert, Advert: &res.Advert})
	}
	n.now = t
}

// Run advances simulated time by d.
func (n *Net) Run(d time.Duration) { n.RunUntil(n.now.Add(d)) }

// Masters lists the routers that are up and Master.
func (n *Net) Masters() []int {
	var ms []int
	for _, r := range n.Routers {
		if r.Up && r.M.State() == vrrp.Master {
			ms = append(ms, r.ID)
		}
	}
	return ms
}

// Best is the router that must be master with preempt: the highest effective priority
// among live routers not in fault, ties to the highest address.
func (n *Net) Best() int {
	best := -1
	for _, r := range n.Routers {
		if !r.Up || r.M.State() == vrrp.Fault {
			continue
		}
		if best < 0 {
			best = r.ID
			continue
		}
		b := n.Routers[best]
		if p, bp := r.M.Priority(), b.M.Priority(); p > bp || (p == bp && r.IP.Compare(b.IP) > 0) {
			best = r.ID
		}
	}
	return best
}

// FirstTransitionTo returns the first transition to state s at or after t, by any router.
func (n *Net) FirstTransitionTo(s vrrp.State, t time.Time) (Transition, bool) {
	for _, tr := range n.Transitions {
		if tr.To == s && !tr.At.Before(t) {
			return tr, true
		}
	}
	return Transition{}, false
}

// Describe renders the routers for a failure report.
func (n *Net) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "v%d interval %v delay %v+%v loss %.2f\n", n.Version, n.Interval, n.MinDelay, n.Jitter, n.Loss)
	for _, r := range n.Routers {
		st := "down"
		if r.Up {
			st = fmt.Sprintf("%v prio %d", r.M.State(), r.M.Priority())
		}
		fmt.Fprintf(&b, "  r%d %v cfg %+v: %s\n", r.ID, r.IP, r.Cfg, st)
	}
	return b.String()
}
