package bench

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/hadirector/hadirector/internal/lab"
	"github.com/hadirector/hadirector/vrrp"
)

// The pair's addresses: director a is the preferred master, b the backup, and the client
// watches the wire and holds a neighbour entry for the VIP.
var (
	AddrA      = netip.MustParseAddr("192.0.2.1")
	AddrB      = netip.MustParseAddr("192.0.2.2")
	AddrClient = netip.MustParseAddr("192.0.2.50")
	VIP        = netip.MustParseAddr("192.0.2.100")
)

// Priorities of the pair, as in the keepalived reference measurements.
const (
	PrioMaster = 150
	PrioBackup = 100
	benchVRID  = 51
)

// Scenario is a protocol version and advertisement interval.
type Scenario struct {
	Name     string        `json:"name"`
	Version  int           `json:"version"`
	Interval time.Duration `json:"interval_ns"`
}

// Scenarios are the ones the issue asks for.
var Scenarios = []Scenario{
	{"v2-1s", 2, time.Second},
	{"v3-100ms", 3, 100 * time.Millisecond},
	{"v3-10ms", 3, 10 * time.Millisecond},
}

// ScenarioByName finds one of Scenarios.
func ScenarioByName(name string) (Scenario, error) {
	for _, s := range Scenarios {
		if s.Name == name {
			return s, nil
		}
	}
	return Scenario{}, fmt.Errorf("unknown scenario %q (have v2-1s, v3-100ms, v3-10ms)", name)
}

// Skew is the backup's Skew_Time.
func (s Scenario) Skew() time.Duration {
	return vrrp.SkewTime(uint8(s.Version), PrioBackup, s.Interval)
}

// MasterDown is the backup's Master_Down_Interval: the protocol's limit for a takeover
// after the master's last advert.
func (s Scenario) MasterDown() time.Duration { return 3*s.Interval + s.Skew() }

// masterDownA is the preferred master's Master_Down_Interval: how long it waits after a
// (re)start before it preempts.
func (s Scenario) masterDownA() time.Duration {
	return 3*s.Interval + vrrp.SkewTime(uint8(s.Version), PrioMaster, s.Interval)
}

// Pair is two directors of one implementation and a client in a lab of their own, with a
// capture and netlink watchers running.
type Pair struct {
	Impl   Impl
	Sc     Scenario
	Lab    *lab.Lab
	A, B   *Daemon
	Client *lab.Host
	Cap    *Capture
	// Netlink watchers in a, b and the client.
	WA, WB, WC *Watcher
	// Tracer, if set, times VIP additions in the kernel; else the netlink watchers do.
	Tracer *Tracer

	tb lab.TB
}

// NewPair builds the lab and prepares both daemons (not started). bin is impl's binary;
// base supplies the settings beyond the scenario (Realtime, KeepalivedRTTime).
func NewPair(tb lab.TB, impl Impl, bin string, sc Scenario, base Instance) *Pair {
	tb.Helper()
	l := lab.New(tb)
	p := &Pair{Impl: impl, Sc: sc, Lab: l, tb: tb}
	ha := l.Host("a", "192.0.2.1/24")
	hb := l.Host("b", "192.0.2.2/24")
	p.Client = l.Host("client", "192.0.2.50/24")
	p.Cap = StartCapture(tb, p.Client, "eth0")
	// The directors' watchers stay at normal priority: a realtime one would preempt the
	// daemon right between its address and its GARP, which is what is being measured.
	p.WA, p.WB, p.WC = Watch(tb, ha, false), Watch(tb, hb, false), Watch(tb, p.Client, base.Realtime)
	in := base
	in.Version, in.VRID, in.Interval = sc.Version, benchVRID, sc.Interval
	in.VIPs = []netip.Prefix{netip.PrefixFrom(VIP, 24)}
	in.Priority = PrioMaster
	p.A = NewDaemon(tb, impl, bin, ha, in)
	in.Priority = PrioBackup
	p.B = NewDaemon(tb, impl, bin, hb, in)
	return p
}

// Stop kills both daemons and stops the capture and the watchers; what they recorded stays
// readable. The namespaces go when the lab's test ends.
func (p *Pair) Stop() {
	p.A.Kill()
	p.B.Kill()
	p.Cap.Close()
	p.WA.Close()
	p.WB.Close()
	p.WC.Close()
}

// Adverts are the captured VRRP adverts from capture index from on.
func (p *Pair) Adverts(from int) []Advert {
	var out []Advert
	for _, f := range p.Cap.Frames(from) {
		if a, ok := ParseAdvert(f); ok {
			out = append(out, a)
		}
	}
	return out
}

// GARPs are the captured gratuitous ARPs for the VIP from capture index from on.
func (p *Pair) GARPs(from int) []ARP {
	var out []ARP
	for _, f := range p.Cap.Frames(from) {
		if a, ok := ParseARP(f); ok && a.Gratuitous() && a.SPA == VIP {
			out = append(out, a)
		}
	}
	return out
}

// Start starts both daemons and waits until a is the settled master.
func (p *Pair) Start() {
	p.tb.Helper()
	mark := p.Cap.Len()
	p.A.Start()
	p.B.Start()
	p.Settle(mark)
}

// Settle waits until a is the only master, seen from every side: a reports MASTER and b
// BACKUP, only a holds the VIP, a sent the last two adverts captured since index mark, and
// the client's neighbour entry for the VIP points at a.
func (p *Pair) Settle(mark int) {
	p.tb.Helper()
	if err := p.TrySettle(mark); err != nil {
		p.tb.Fatalf("bench: %v", err)
	}
}

// TrySettle is Settle that returns the failure instead of ending the run.
func (p *Pair) TrySettle(mark int) error {
	timeout := p.Sc.masterDownA() + 5*time.Second
	var why string
	primed := false
	ok := poll(timeout, 5*time.Millisecond, func() bool {
		ads := p.Adverts(mark)
		switch {
		case len(ads) < 2:
			why = "fewer than 2 adverts"
		case ads[len(ads)-1].Src != AddrA || ads[len(ads)-2].Src != AddrA || ads[len(ads)-1].Priority == 0:
			why = "last adverts not from a"
		case p.A.State() != "MASTER":
			why = "a is " + p.A.State()
		case p.B.State() != "BACKUP":
			why = "b is " + p.B.State()
		case !p.A.HasVIP():
			why = "a lacks the VIP"
		case p.B.HasVIP():
			why = "b holds the VIP"
		default:
			mac, _, found := p.Client.Neighbor(VIP)
			if found && mac.String() == p.A.Host.MAC().String() {
				return true
			}
			why = fmt.Sprintf("client's neighbour entry for the VIP is %v", mac)
			if !found || !primed {
				// arp_accept=0: a GARP updates an entry but does not create one.
				p.Client.PrimeNeighbor(VIP)
				primed = true
			}
		}
		return false
	})
	if !ok {
		return fmt.Errorf("%s %s: pair did not settle within %v: %s\na:\n%s\nb:\n%s", p.Impl, p.Sc.Name, timeout, why,
			tail(p.A.Output(), 15), tail(p.B.Output(), 15))
	}
	return nil
}

// poll calls cond every step until it is true (true) or timeout passes (false).
func poll(timeout, step time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(step)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ") + "\n"
}
