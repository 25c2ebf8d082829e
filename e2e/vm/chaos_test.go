//go:build vmtest

package vm

import (
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/hadirector/hadirector/internal/lab"
	"github.com/hadirector/hadirector/notify"
)

var (
	chaosFaults = flag.Int("chaos.faults", 16, "how many faults TestChaos applies (make chaos: 200)")
	chaosSeed   = flag.Uint64("chaos.seed", 0, "seed of TestChaos's fault sequence; 0 picks one (the same seed replays the same sequence)")
)

const (
	// The notify hook of the soak lives in a root-owned 0755 directory: script security
	// refuses anything under /tmp (writable by others).
	chaosHookDir = "/opt/chaos-hooks"
	// While this file exists, the hook hangs (a shell waiting for a child).
	chaosHangFlag = "/run/chaos-hang"
	chaosHook     = `#!/bin/sh
# TestChaos's notify hook: returns at once, unless ` + chaosHangFlag + ` exists: then it hangs
# (a shell waiting for its child), and hadirector must kill the process group at notify_timeout.
if [ -e ` + chaosHangFlag + ` ]; then
	sleep 600
fi
exit 0
`
	// pollEvery is the pause between two rounds of checks.
	pollEvery = 100 * time.Millisecond
	// stuck is how long a recovery that missed its bound may still take before the soak
	// stops: a pair that has not recovered by then makes every later fault meaningless.
	stuck = 15 * time.Second
)

// TestChaos is the bounded chaos soak: the DR pair with both real servers and a client
// sending a steady stream of requests through the VIP gets -chaos.faults random faults —
// kill -9 and SIGTERM of either director (restarted at once), link down/up, two-way and
// one-way partitions and their heals, a real server dying and returning, SIGHUP with a
// valid changed file and with a broken one, a notify hook that hangs. After every fault and
// its recovery, within max(Master_Down_Interval, fall × interval + timeout) + 1 s: exactly
// one director (a, the higher priority, preempting) holds the VIP and is MASTER, the other
// BACKUP; the client's neighbor entry for the VIP is the holder's MAC; the holder's kernel
// IPVS table equals the model for the healthy real servers and the current weights; the
// backup's table holds none of ours; no process is left over (per namespace: the daemon,
// and hooks only while within notify_timeout + kill grace); and the client's requests are
// answered again. A summary per fault kind is printed; a failing run prints its fault log
// between CHAOS-TRACE-BEGIN/END (the console log keeps it) with the seed to replay.
//
//	make chaos FAULTS=200 SEED=1234
func TestChaos(t *testing.T) {
	seed := *chaosSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())%1_000_000_000 + 1
	}
	fmt.Printf("chaos: seed %d, %d faults (replay: make chaos SEED=%d FAULTS=%d)\n", seed, *chaosFaults, seed, *chaosFaults)
	p := newPair(t)
	// Under emulation the guest's clock source matters when the host is overloaded.
	if cs, err := os.ReadFile("/sys/devices/system/clocksource/clocksource0/current_clocksource"); err == nil {
		t.Logf("guest clock source: %s", strings.TrimSpace(string(cs)))
	}
	c := newChaos(t, p, seed)
	start := time.Now()
	defer func() {
		c.summary(time.Since(start))
		if t.Failed() {
			c.dumpTrace()
		}
	}()
	p.elect()
	p.client.h.PrimeNeighbor(vip)
	c.st = p.client.stream(web, 500*time.Millisecond, 50*time.Millisecond)
	defer c.st.halt()
	c.settle(" (election)", time.Now())

	for i := range *chaosFaults {
		f := c.pick()
		c.n, c.kind, c.restarted = i+1, f.kind, nil
		c.from = [2]logMark{{p.a.proc, p.a.mark()}, {p.b.proc, p.b.mark()}}
		// Logged before the fault too: a run that hangs still names the fault it hung in.
		c.t.Logf("#%03d %8.3fs %s ...", c.n, time.Since(c.t0).Seconds(), f.kind)
		heal, note := f.do(c)
		c.settle(note, heal)
		if f.after != nil {
			f.after(c)
		}
		if c.fatal {
			t.Fatalf("the pair did not recover within %v after fault #%d (%s); stopping the soak", c.bound()+stuck, c.n, f.kind)
		}
	}
	if len(c.violations) > 0 {
		t.Errorf("%d violation(s):\n%s", len(c.violations), strings.Join(c.violations, "\n"))
	}
}

// chaos is the soak's state: the model of what the pair should look like and the record.
type chaos struct {
	t    *testing.T
	p    *pair
	seed uint64
	rng  *rand.Rand
	cfg  conf    // both directors' current configuration
	down [2]bool // real servers stopped
	st   *stream
	nl   *netlink.Handle // the client's rtnetlink
	ns   map[uint64]*watched
	used map[string]bool // kinds applied so far
	n    int             // current fault number
	kind string          // current fault kind
	// restarted is the director the current fault restarted (nil if none): its start-up,
	// from exec to joining the election, is process start-up, not protocol time.
	restarted *node
	fs        []fault
	// hookMarks are a's and b's log positions when hooks started to hang.
	hookMarks [2]int
	// from is where the current fault starts in each director's log (the process and the
	// line), for the record of a violation.
	from [2]logMark

	stats      map[string]*kindStats
	trace      []string
	violations []string
	fatal      bool
	t0         time.Time
}

// watched is a namespace the soak watches for leftover processes.
type watched struct {
	name string
	node *node // nil for hosts that should run nothing at all
}

type logMark struct {
	proc *lab.Proc
	line int
}

type kindStats struct {
	n          int
	worst      time.Duration
	worstLag   time.Duration // poll lag of the worst recovery
	worstStart time.Duration // start-up of the worst recovery
	violations int
}

// fault is one kind of fault: do applies it and undoes it (restart, link up, heal) and
// returns when the undo was done; after runs once the pair has recovered.
type fault struct {
	kind  string
	ok    func(*chaos) bool
	do    func(*chaos) (heal time.Time, note string)
	after func(*chaos)
}

func newChaos(t *testing.T, p *pair, seed uint64) *chaos {
	t.Helper()
	if err := os.MkdirAll(chaosHookDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"/opt", chaosHookDir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	hook := filepath.Join(chaosHookDir, "hook.sh")
	if err := os.WriteFile(hook, []byte(chaosHook), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(hook, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Remove(chaosHangFlag)
	t.Cleanup(func() { os.Remove(chaosHangFlag) })

	c := &chaos{t: t, p: p, seed: seed, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		cfg: conf{hook: hook}, ns: map[uint64]*watched{}, used: map[string]bool{}, stats: map[string]*kindStats{}, t0: time.Now()}
	for _, n := range []*node{p.a, p.b} {
		n.write(c.cfg)
	}
	c.nl = p.client.h.Netlink(t)
	watch := func(name, nsName string, n *node) {
		var st syscall.Stat_t
		if err := syscall.Stat("/run/netns/"+nsName, &st); err != nil {
			t.Fatal(err)
		}
		c.ns[st.Ino] = &watched{name: name, node: n}
	}
	watch("a", p.a.h.NS(), p.a)
	watch("b", p.b.h.NS(), p.b)
	for _, r := range p.rs {
		watch(r.name, r.h.NS(), nil)
	}
	watch("client", p.client.h.NS(), nil)
	watch("switch", p.l.SwitchNS(), nil)
	c.fs = c.faults()
	return c
}

// bound is the recovery limit: max(Master_Down_Interval, fall × interval +
// timeout) + 1 s.
func (c *chaos) bound() time.Duration {
	return max(c.p.a.mdi(), c.p.b.mdi(), checkFall*checkInterval+checkTimeout) + time.Second
}

// hold is how long a fault lasts before it is undone: from well under an advert interval
// to well over Master_Down_Interval, so that some faults cause a failover and some do not.
func (c *chaos) hold() time.Duration {
	return 300*time.Millisecond + time.Duration(c.rng.Int64N(int64(5*time.Second)))
}

func (c *chaos) other(n *node) *node {
	if n == c.p.a {
		return c.p.b
	}
	return c.p.a
}

func (c *chaos) faults() []fault {
	p := c.p
	var fs []fault
	for _, n := range []*node{p.a, p.b} {
		name := n.h.Name
		fs = append(fs,
			fault{kind: "kill -9 " + name, do: func(c *chaos) (time.Time, string) {
				n.proc.Kill()
				heal := time.Now()
				n.start()
				c.restarted = n
				return heal, ", restarted at once"
			}},
			fault{kind: "SIGTERM " + name, do: func(c *chaos) (time.Time, string) {
				if err := n.proc.Signal(syscall.SIGTERM); err != nil {
					c.violate("SIGTERM %s: %v", name, err)
				}
				code, err := n.proc.Wait(15 * time.Second)
				if err != nil || code != 0 {
					c.violate("SIGTERM %s: exit status %d, %v; want 0 within 15 s", name, code, err)
					n.proc.Kill()
				}
				heal := time.Now()
				n.start()
				c.restarted = n
				return heal, ", restarted once it exited"
			}},
			fault{kind: "link down/up " + name, do: func(c *chaos) (time.Time, string) {
				h := c.hold()
				n.h.LinkDown()
				time.Sleep(h)
				n.h.LinkUp()
				return time.Now(), fmt.Sprintf(" for %v", h.Round(time.Millisecond))
			}},
			fault{kind: "cut " + name + "→" + c.other(n).h.Name, do: func(c *chaos) (time.Time, string) {
				h := c.hold()
				p.l.CutOneWay(n.h, c.other(n).h)
				time.Sleep(h)
				p.l.Heal()
				return time.Now(), fmt.Sprintf(" for %v", h.Round(time.Millisecond))
			}},
		)
	}
	fs = append(fs,
		fault{kind: "partition a↔b", do: func(c *chaos) (time.Time, string) {
			h := c.hold()
			p.l.Partition(p.a.h, p.b.h)
			time.Sleep(h)
			p.l.Heal()
			return time.Now(), fmt.Sprintf(" for %v", h.Round(time.Millisecond))
		}},
		fault{kind: "real server dies", ok: func(c *chaos) bool { return !c.down[0] && !c.down[1] }, do: func(c *chaos) (time.Time, string) {
			i := c.rng.IntN(2)
			p.rs[i].Stop()
			c.down[i] = true
			return time.Now(), ": " + p.rs[i].name
		}},
		fault{kind: "real server returns", ok: func(c *chaos) bool { return c.down[0] || c.down[1] }, do: func(c *chaos) (time.Time, string) {
			i := slices.Index(c.down[:], true)
			p.rs[i].Start()
			c.down[i] = false
			return time.Now(), ": " + p.rs[i].name
		}},
		fault{kind: "SIGHUP valid", do: func(c *chaos) (time.Time, string) {
			c.cfg.weights = [2]int{1 + c.rng.IntN(5), 1 + c.rng.IntN(5)}
			for _, n := range []*node{p.a, p.b} {
				n.write(c.cfg)
				mark, applied := n.hup()
				if !applied {
					c.violate("SIGHUP %s with a valid file: rejected", n.h.Name)
				}
				c.noTransition(n, mark, "a valid reload")
			}
			return time.Now(), fmt.Sprintf(": weights %v", c.cfg.weights)
		}},
		fault{kind: "SIGHUP broken", do: func(c *chaos) (time.Time, string) {
			n := []*node{p.a, p.b}[c.rng.IntN(2)]
			broken := []struct{ what, old, new string }{
				{"syntax error", "[lvs]", "[lvs"},
				{"unknown key", "[lvs]", "[lvs]\nbogus_key = 1"},
				{"virtual_router_id 0", "virtual_router_id = 51", "virtual_router_id = 0"},
				{"unknown scheduler", `scheduler = "rr"`, `scheduler = "nope"`},
			}[c.rng.IntN(4)]
			good := c.cfg.render(n)
			if err := writeFile(n.cfg, strings.Replace(good, broken.old, broken.new, 1)); err != nil {
				c.t.Fatal(err)
			}
			mark, applied := n.hup()
			if applied {
				c.violate("SIGHUP %s with a broken file (%s): applied", n.h.Name, broken.what)
			}
			c.noTransition(n, mark, "a rejected reload")
			n.write(c.cfg) // a later restart reads a good file again
			return time.Now(), fmt.Sprintf(": %s, %s", n.h.Name, broken.what)
		}},
		fault{kind: "hook hangs", do: func(c *chaos) (time.Time, string) {
			// Hooks hang from now on; a link flap of the master makes both directors run
			// theirs (fault, backup, master), and neither may wait for them.
			if err := writeFile(chaosHangFlag, ""); err != nil {
				c.t.Fatal(err)
			}
			c.hookMarks = [2]int{p.a.mark(), p.b.mark()}
			m := p.a
			if p.b.hasVIP() && !p.a.hasVIP() {
				m = p.b
			}
			h := c.hold()
			m.h.LinkDown()
			time.Sleep(h)
			m.h.LinkUp()
			return time.Now(), fmt.Sprintf(": link of %s down for %v", m.h.Name, h.Round(time.Millisecond))
		}, after: (*chaos).hooksKilled},
	)
	return fs
}

// pick chooses the next fault: every kind once first, in a random order, so that even a
// short run covers them all; then any kind. A kind that does not apply now (a real server
// returning while none is down) is not chosen.
func (c *chaos) pick() fault {
	var fresh, all []fault
	for _, f := range c.fs {
		if f.ok != nil && !f.ok(c) {
			continue
		}
		all = append(all, f)
		if !c.used[f.kind] {
			fresh = append(fresh, f)
		}
	}
	if len(fresh) > 0 {
		all = fresh
	}
	f := all[c.rng.IntN(len(all))]
	c.used[f.kind] = true
	return f
}

// settle polls every check until all hold at once and records the recovery time: from
// heal (the end of the fault: restart, link up, heal, signal handled) to the end of the
// first round of checks that all passed. A round reads several netlink tables and /proc,
// which takes a while under emulation, so the recovery measured that way is late by up to
// one failing round, the pause and the passing round (the poll lag). After a restart, the
// new process's start-up (from exec to its INIT→BACKUP transition, read from its log) is
// not protocol time either: under emulation it takes from 0.1 s to over a second. A
// violation is a recovery that took longer than bound + poll lag (+ start-up), i.e. one
// that certainly missed the bound.
func (c *chaos) settle(note string, heal time.Time) {
	bound := c.bound()
	var prev time.Duration
	var last []string // the problems of the last failing round
	for {
		r0 := time.Now()
		probs := c.problems(heal)
		r1 := time.Now()
		round, rec := r1.Sub(r0), r1.Sub(heal)
		if len(probs) == 0 {
			lag := prev + pollEvery + round
			var start time.Duration
			if n := c.restarted; n != nil {
				if l, ok := n.logFind(0, func(l logLine) bool { return l.Msg == "state transition" && l.From == "INIT" }); ok {
					start = max(l.Time.Sub(heal), 0)
				}
			}
			c.record(note, rec, lag, start, nil)
			if rec > bound+lag+start {
				c.violate("recovered after %v: more than %v + %v poll lag + %v start-up; until then: %s",
					rec.Round(time.Millisecond), bound, lag.Round(time.Millisecond), start.Round(time.Millisecond), strings.Join(last, "; "))
				c.logsSinceFault()
			}
			return
		}
		if rec > bound+stuck {
			c.record(note, rec, 0, 0, probs)
			c.violate("not recovered after %v: %s", rec.Round(time.Millisecond), strings.Join(probs, "; "))
			c.logsSinceFault()
			c.fatal = true
			return
		}
		prev, last = round, probs
		time.Sleep(pollEvery)
	}
}

func (c *chaos) record(note string, rec, lag, start time.Duration, probs []string) {
	line := fmt.Sprintf("#%03d %8.3fs %s%s: ", c.n, time.Since(c.t0).Seconds(), c.kindName(), note)
	if probs != nil {
		line += "NOT recovered: " + strings.Join(probs, "; ")
	} else {
		line += fmt.Sprintf("recovered in %v (poll lag %v", rec.Round(time.Millisecond), lag.Round(time.Millisecond))
		if c.restarted != nil {
			line += fmt.Sprintf(", start-up %v", start.Round(time.Millisecond))
		}
		line += ")"
	}
	c.trace = append(c.trace, line)
	c.t.Log(line)
	if c.kind == "" {
		return
	}
	s := c.stats[c.kind]
	if s == nil {
		s = &kindStats{}
		c.stats[c.kind] = s
	}
	s.n++
	if rec > s.worst {
		s.worst, s.worstLag, s.worstStart = rec, lag, start
	}
}

func (c *chaos) kindName() string {
	if c.kind == "" {
		return "start"
	}
	return c.kind
}

// violate records a broken promise of the current fault.
func (c *chaos) violate(format string, args ...any) {
	v := fmt.Sprintf("#%03d %s: ", c.n, c.kindName()) + fmt.Sprintf(format, args...)
	c.violations = append(c.violations, v)
	c.trace = append(c.trace, "VIOLATION "+v)
	c.t.Log("VIOLATION " + v)
	if s := c.stats[c.kind]; s != nil {
		s.violations++
	} else if c.kind != "" {
		c.stats[c.kind] = &kindStats{violations: 1}
	}
}

// logsSinceFault adds both directors' log lines since the current fault began to the
// trace (the lines of a process the fault replaced, then its successor's), IPVS operations
// left out.
func (c *chaos) logsSinceFault() {
	for i, n := range []*node{c.p.a, c.p.b} {
		m := c.from[i]
		var lines []string
		if m.proc != nil {
			lines = m.proc.Lines()[min(m.line, len(m.proc.Lines())):]
		}
		if m.proc != n.proc {
			lines = append(append(lines, "--- restarted"), n.proc.Lines()...)
		}
		c.trace = append(c.trace, fmt.Sprintf("     --- %s's log since the fault began", n.h.Name))
		for _, l := range lines {
			if !strings.Contains(l, `"msg":"ipvs"`) {
				c.trace = append(c.trace, "     "+l)
			}
		}
	}
}

// noTransition flags a state change of n logged since mark.
func (c *chaos) noTransition(n *node, mark int, during string) {
	for _, l := range n.transitions(mark) {
		c.violate("%s went %s → %s during %s", n.h.Name, l.From, l.To, during)
	}
}

// problems is one round of checks; it returns what does not hold (nothing: recovered).
func (c *chaos) problems(heal time.Time) []string {
	a, b := c.p.a, c.p.b
	var probs []string
	ha, hb := a.hasVIP(), b.hasVIP()
	switch {
	case ha && hb:
		probs = append(probs, "both hold the VIP")
	case !ha && !hb:
		probs = append(probs, "nobody holds the VIP")
	case hb:
		probs = append(probs, "b holds the VIP, not a (priority 150, preempting)")
	}
	if s := a.state(); s != "MASTER" {
		probs = append(probs, "a is "+s)
	}
	if s := b.state(); s != "BACKUP" {
		probs = append(probs, "b is "+s)
	}
	if mac := c.neighbor(); mac.String() != a.h.MAC().String() {
		probs = append(probs, fmt.Sprintf("client's neighbor entry for the VIP is %q, not a's %s", mac, a.h.MAC()))
	}
	if got, want := a.view(), c.desired(); !maps.EqualFunc(got, want, maps.Equal) {
		probs = append(probs, fmt.Sprintf("a's IPVS table %v, want %v", got, want))
	}
	if ours := b.ours(); len(ours) > 0 {
		probs = append(probs, fmt.Sprintf("backup b's table holds ours: %v", ours))
	}
	probs = append(probs, c.leftovers()...)
	if !c.st.answeredSince(heal) {
		probs = append(probs, "no request sent since the fault ended was answered")
	}
	return probs
}

// desired is the model: both services with the real servers that are up, at the
// configured weights (the persistent service's are all 1).
func (c *chaos) desired() map[string]map[string]int {
	out := map[string]map[string]int{svcName(web): {}, svcName(sticky): {}}
	for i := range rsAddrs {
		if c.down[i] {
			continue
		}
		out[svcName(web)][rsAddr(i, 80).String()] = max(c.cfg.weights[i], 1)
		out[svcName(sticky)][rsAddr(i, 8080).String()] = 1
	}
	return out
}

// neighbor is the client's neighbor entry for the VIP (nil if none or without an address).
func (c *chaos) neighbor() net.HardwareAddr {
	link, err := c.nl.LinkByName("eth0")
	if err != nil {
		return nil
	}
	ns, err := c.nl.NeighList(link.Attrs().Index, netlink.FAMILY_V4)
	if err != nil {
		return nil
	}
	for _, n := range ns {
		if n.IP.Equal(net.IP(vip.AsSlice())) {
			return n.HardwareAddr
		}
	}
	return nil
}

// leftovers lists processes that should not exist: anything in the real servers', the
// client's or the switch's namespace; in a director's namespace anything but its daemon,
// except hooks younger than notify_timeout + the kill grace (+ slack); a hadirector
// anywhere else; and a daemon that has exited.
func (c *chaos) leftovers() []string {
	var out []string
	for _, n := range []*node{c.p.a, c.p.b} {
		if st := n.proc.State(); st != nil {
			out = append(out, fmt.Sprintf("%s's daemon exited: %v", n.h.Name, st))
		}
	}
	up, err := uptime()
	if err != nil {
		return append(out, err.Error())
	}
	hookLimit := hookTimeout + notify.DefaultGrace + slack
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		// The test itself: its main thread may be visiting a namespace (lab.Host.Do).
		if err != nil || pid == os.Getpid() {
			continue
		}
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			continue // gone, or a kernel thread
		}
		ino, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "net:["), "]"), 10, 64)
		comm, started, ok := procStat(pid)
		if !ok {
			continue
		}
		w := c.ns[ino]
		switch {
		case w == nil && comm == "hadirector":
			out = append(out, fmt.Sprintf("hadirector pid %d outside the directors' namespaces", pid))
		case w == nil:
		case w.node == nil:
			out = append(out, fmt.Sprintf("pid %d (%s) in %s's namespace", pid, comm, w.name))
		case pid == w.node.proc.Pid():
		case up-started > hookLimit:
			out = append(out, fmt.Sprintf("pid %d (%s) in %s's namespace for %v (hooks are killed after %v)", pid, comm, w.name, (up-started).Round(time.Millisecond), hookTimeout+notify.DefaultGrace))
		}
	}
	return out
}

// uptime is the time since boot, the clock of procStat's start times.
func uptime() (time.Duration, error) {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return time.Duration(f * float64(time.Second)), err
}

// procStat returns a process's command name and start time since boot (field 22 of
// /proc/PID/stat, in clock ticks of 100 Hz).
func procStat(pid int) (string, time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, false
	}
	s := string(b)
	i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if i < 0 || j < i {
		return "", 0, false
	}
	f := strings.Fields(s[j+1:]) // from field 3 (state) on
	if len(f) < 20 {
		return "", 0, false
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return s[i+1 : j], time.Duration(ticks) * 10 * time.Millisecond, true
}

// hooksKilled ends the hanging-hook fault: hooks return at once again, every hanging hook
// is gone within notify_timeout + the kill grace, and a director logged killing one.
func (c *chaos) hooksKilled() {
	os.Remove(chaosHangFlag)
	limit := hookTimeout + notify.DefaultGrace + slack
	deadline := time.Now().Add(limit)
	for {
		hooks := 0
		for _, n := range []*node{c.p.a, c.p.b} {
			hooks += c.processesIn(n) - 1
		}
		if hooks == 0 {
			break
		}
		if time.Now().After(deadline) {
			c.violate("%d hook process(es) still running %v after hooks stopped hanging", hooks, limit)
			break
		}
		time.Sleep(pollEvery)
	}
	killed := 0
	for i, n := range []*node{c.p.a, c.p.b} {
		for _, l := range n.logs(c.hookMarks[i]) {
			if l.Msg == "notify hook timed out; process group killed" {
				killed++
			}
		}
	}
	if killed == 0 {
		c.violate("no director logged killing a hanging hook at notify_timeout")
	}
	line := fmt.Sprintf("     hanging hooks killed at notify_timeout: %d", killed)
	c.trace = append(c.trace, line)
	c.t.Log(line)
}

// processesIn counts the processes in n's namespace (its daemon included).
func (c *chaos) processesIn(n *node) int {
	var st syscall.Stat_t
	if err := syscall.Stat("/run/netns/"+n.h.NS(), &st); err != nil {
		c.t.Fatal(err)
	}
	want := fmt.Sprintf("net:[%d]", st.Ino)
	count := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err != nil || pid == os.Getpid() {
			continue
		}
		if link, err := os.Readlink("/proc/" + e.Name() + "/ns/net"); err == nil && link == want {
			count++
		}
	}
	return count
}

// answeredSince reports whether a request sent after t was answered.
func (s *stream) answeredSince(t time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.results) - 1; i >= 0 && s.results[i].at.After(t); i-- {
		if s.results[i].err == nil {
			return true
		}
	}
	return false
}

// summary prints the figures of the run: faults, worst recovery and violations per kind.
func (c *chaos) summary(total time.Duration) {
	var b strings.Builder
	fmt.Fprintf(&b, "chaos summary: seed %d, %d fault(s) in %v; recovery bound max(Master_Down_Interval, fall × interval + timeout) + 1 s = %v\n",
		c.seed, c.n, total.Round(time.Second), c.bound())
	fmt.Fprintf(&b, "  (a violation is a recovery over the bound + the poll lag of that recovery + the restarted daemon's start-up, both measured: see settle)\n")
	fmt.Fprintf(&b, "  %-22s %6s %15s %9s %9s %10s\n", "fault", "count", "worst recovery", "poll lag", "start-up", "violations")
	var worst time.Duration
	for _, k := range slices.Sorted(maps.Keys(c.stats)) {
		s := c.stats[k]
		fmt.Fprintf(&b, "  %-22s %6d %15v %9v %9v %10d\n", k, s.n, s.worst.Round(time.Millisecond), s.worstLag.Round(time.Millisecond), s.worstStart.Round(time.Millisecond), s.violations)
		worst = max(worst, s.worst)
	}
	fmt.Fprintf(&b, "  worst recovery %v; violations %d\n", worst.Round(time.Millisecond), len(c.violations))
	fmt.Print(b.String())
}

// dumpTrace prints the fault log and the directors' last log lines between markers that
// survive in the console log, with the command that replays the sequence.
func (c *chaos) dumpTrace() {
	var b strings.Builder
	fmt.Fprintf(&b, "CHAOS-TRACE-BEGIN seed=%d faults=%d\n", c.seed, *chaosFaults)
	for _, l := range c.trace {
		b.WriteString(l + "\n")
	}
	for _, n := range []*node{c.p.a, c.p.b} {
		fmt.Fprintf(&b, "--- last lines of %s (%s)\n%s\n", n.h.Name, n.proc.LogPath(), tail(n.proc.Lines(), 80))
	}
	fmt.Fprintf(&b, "replay: make chaos SEED=%d FAULTS=%d\nCHAOS-TRACE-END\n", c.seed, *chaosFaults)
	fmt.Print(b.String())
}

func tail(lines []string, n int) string {
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
