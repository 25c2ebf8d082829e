// Package demo plays the README's main job: the classic two-director LVS-DR pair of
// examples/ — director A (priority 150) and director B (priority 100) running `hadirector
// run` with node-a.toml and node-b.toml exactly as shipped, two real servers serving HTTP
// with the VIP on lo as `hadirector realserver up` sets it, and a client — built in network
// namespaces of a kernel that has IPVS (the test VM, see internal/vmtest), and a narrated
// timeline with timestamps:
//
//  1. election: A is master, holds the VIP and programs IPVS; B is backup with an empty table;
//  2. the client's requests from several source addresses are answered by both real servers,
//     each source sticking to its own (persistence 300 s, as in the classic setup);
//  3. real server 1's HTTP server stops → it is kicked from the table; it starts → it is back;
//  4. A loses power (kill -9 and its cable pulled) → B takes over: takeover time, GARPs, the
//     client's neighbor entry flipping, client requests lost;
//  5. A returns and preempts; B releases the VIP and empties its table.
//
// Every step is checked against what the kernel and the wire show (IPVS tables read through
// netlink and compared with the model the configuration implies, addresses, frames captured
// on the client's link, real HTTP requests), and Run reports each step's outcome. The
// command cmd/hadirector-demo runs it in the VM (`make demo`, which `make test` runs too);
// e2e/vm runs the command with a step broken on purpose to show the demo then fails.
//
// Each director runs in a mount namespace of its own (as `ip netns exec` gives it) in which
// its directory of the demo is bind-mounted on /etc/hadirector (hadirector.toml and
// notify.sh from examples/) and /run/hadirector (status socket, state file): two machines'
// worth of files in one VM, with the examples' paths unchanged.
package demo

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/hadirector/hadirector/config"
	hdirector "github.com/hadirector/hadirector/director"
	"github.com/hadirector/hadirector/examples"
	"github.com/hadirector/hadirector/internal/lab"
	"github.com/hadirector/hadirector/lvs"
	"github.com/hadirector/hadirector/vrrp"
)

// The deployment of examples/: VIP, service, real servers.
var (
	vip      = netip.MustParseAddr("192.0.2.100")
	web      = netip.AddrPortFrom(vip, 80)
	realAddr = []netip.AddrPort{netip.MustParseAddrPort("198.51.100.11:80"), netip.MustParseAddrPort("198.51.100.12:80")}
	// The client's source addresses for the persistence step; 192.0.2.50 makes the stream.
	sources = []netip.Addr{
		netip.MustParseAddr("192.0.2.51"), netip.MustParseAddr("192.0.2.52"),
		netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("192.0.2.54"),
	}
)

// Slack is what the checks allow beyond a protocol or check-interval limit for scheduling:
// the VM runs under software emulation on a 2-CPU machine, where the guest can stall for
// hundreds of milliseconds. The limits themselves are printed beside every figure.
const Slack = 1500 * time.Millisecond

// Break names a step that Options.Break sabotages, to prove the demo notices.
const (
	// BreakTakeover freezes director B (SIGSTOP) just before A loses power, so nobody takes
	// over; B is thawed after the takeover checks.
	BreakTakeover = "takeover"
)

// Options configure Run.
type Options struct {
	// Bin is the hadirector binary; empty means "hadirector" on PATH.
	Bin string
	// Out receives the narration; nil means os.Stdout.
	Out io.Writer
	// Seed randomises the moment of the power loss (0: from the clock); it is printed.
	Seed uint64
	// Break sabotages a step on purpose (see BreakTakeover); empty in the real demo.
	Break string
}

// Step is one checked claim of the narration.
type Step struct {
	Name string // what should happen
	Got  string // what was seen
	OK   bool
	At   time.Duration // since the start
}

// Result is every step in order.
type Result struct {
	Steps   []Step
	Elapsed time.Duration
}

// OK reports whether every step happened as narrated.
func (r *Result) OK() bool {
	for _, s := range r.Steps {
		if !s.OK {
			return false
		}
	}
	return len(r.Steps) > 0
}

// Failed lists the names of the steps that did not happen.
func (r *Result) Failed() []string {
	var out []string
	for _, s := range r.Steps {
		if !s.OK {
			out = append(out, s.Name)
		}
	}
	return out
}

type demo struct {
	tb     lab.TB
	o      Options
	out    io.Writer
	t0     time.Time
	res    *Result
	rng    *rand.Rand
	work   string
	cfg    *config.Config // node-a.toml: the services both directors declare
	a, b   *director
	rs     []*lab.NameServer
	client *lab.Host
	cnl    *netlink.Handle // the client's rtnetlink
	snif   *sniffer        // frames on the client's link
	syslog string          // where the notify hooks' logger lines land
}

// Run plays the demo. Harness problems (no IPVS, a namespace that cannot be made) end it
// through tb; the product's behaviour is reported in the Result.
func Run(tb lab.TB, o Options) *Result {
	tb.Helper()
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Bin == "" {
		p, err := exec.LookPath("hadirector")
		if err != nil {
			tb.Fatalf("demo: hadirector is not on PATH: %v", err)
		}
		o.Bin = p
	}
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	if !lvs.HasIPVS() {
		tb.Skipf("demo: this kernel has no IPVS; `make demo` runs it in the VM")
	}
	d := &demo{tb: tb, o: o, out: o.Out, t0: time.Now(), res: &Result{}, rng: rand.New(rand.NewPCG(o.Seed, 0))}
	d.setup()
	if d.election() {
		d.persistence()
		d.kick()
		d.takeover()
		d.preempt()
	}
	d.res.Elapsed = time.Since(d.t0)
	d.summary()
	return d.res
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.out, "[%7.3fs] %s\n", time.Since(d.t0).Seconds(), fmt.Sprintf(format, args...))
}

// indent prints a block (a table listing, a log line) under the narration.
func (d *demo) indent(block string) {
	for _, l := range strings.Split(strings.TrimRight(block, "\n"), "\n") {
		fmt.Fprintf(d.out, "             %s\n", l)
	}
}

func (d *demo) check(name string, ok bool, format string, args ...any) {
	s := Step{Name: name, Got: fmt.Sprintf(format, args...), OK: ok, At: time.Since(d.t0)}
	d.res.Steps = append(d.res.Steps, s)
	mark := "✔"
	if !ok {
		mark = "✘"
	}
	d.say("  %s %s: %s", mark, name, s.Got)
}

// waitFor polls cond every 20 ms for up to limit and returns how long it took.
func waitFor(limit time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > limit {
			return time.Since(start), false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

func (d *demo) setup() {
	tb := d.tb
	var err error
	data, err := examples.Files.ReadFile("node-a.toml")
	if err != nil {
		tb.Fatal(err)
	}
	if d.cfg, err = config.Parse("examples/node-a.toml", data); err != nil {
		tb.Fatalf("demo: examples/node-a.toml: %v", err)
	}
	// Not under the world-writable /tmp: the notify hook's directory must pass script
	// security. Removed after the lab (cleanups run newest first).
	if err := os.MkdirAll("/var/lib", 0o755); err != nil {
		tb.Fatal(err)
	}
	if d.work, err = os.MkdirTemp("/var/lib", "hadirector-demo-"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(d.work) })
	for _, dir := range []string{d.work, "/etc/hadirector", "/run/hadirector"} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	d.startSyslog()

	d.say("the LAN (one bridge, TEST-NET addresses), as examples/README.md describes it:")
	l := lab.New(tb)
	d.a = d.newDirector(l, "a", "node-a.toml", "192.0.2.1/24", "198.51.100.1/24")
	d.b = d.newDirector(l, "b", "node-b.toml", "192.0.2.2/24", "198.51.100.2/24")
	for i, ap := range realAddr {
		h := l.Host(fmt.Sprintf("rs%d", i+1), ap.Addr().String()+"/24")
		// Replies go from the VIP straight to the client, on the same link.
		h.MustRun(tb, "ip", "route", "add", "192.0.2.0/24", "dev", "eth0")
		out := h.MustRun(tb, d.o.Bin, "realserver", "up", "--vip", vip.String(), "-state", filepath.Join(d.work, h.Name+".json"))
		d.rs = append(d.rs, h.ServeName(tb, 80))
		d.say("  %-7s %-17s HTTP :80 answers %q; hadirector realserver up: %s", h.Name, ap.Addr(), h.Name, strings.TrimSpace(firstLine(out)))
	}
	addrs := []string{"192.0.2.50/24"}
	for _, s := range sources {
		addrs = append(addrs, s.String()+"/24")
	}
	d.client = l.Host("client", addrs...)
	d.client.MustRun(tb, "ip", "route", "add", "198.51.100.0/24", "dev", "eth0")
	d.cnl = d.client.Netlink(tb)
	d.say("  client  192.0.2.50-54     requests to http://%s/", web)
	d.say("  a       192.0.2.1  %s  director A: examples/node-a.toml (priority %d)", d.a.h.MAC(), d.a.prio)
	d.say("  b       192.0.2.2  %s  director B: examples/node-b.toml (priority %d)", d.b.h.MAC(), d.b.prio)
	var err2 error
	if d.snif, err2 = sniff(d.client); err2 != nil {
		tb.Fatalf("demo: capture on the client: %v", err2)
	}
	tb.Cleanup(d.snif.close)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// startSyslog runs busybox syslogd so that the example notify hook's `logger` lines can
// be shown; without a syslogd they are lost, which changes nothing else.
func (d *demo) startSyslog() {
	path, err := exec.LookPath("syslogd")
	if err != nil || os.Getenv("HADIRECTOR_IN_VM") != "1" { // only in the VM: /dev/log is the VM's
		return
	}
	d.syslog = filepath.Join(d.work, "messages")
	cmd := exec.Command(path, "-n", "-O", d.syslog)
	if err := cmd.Start(); err != nil {
		d.syslog = ""
		return
	}
	d.tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

// notifyLines are the notify hook's syslog lines after the first skip ones.
func (d *demo) notifyLines(skip int) []string {
	if d.syslog == "" {
		return nil
	}
	b, err := os.ReadFile(d.syslog)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if _, msg, ok := strings.Cut(l, "hadirector-notify: "); ok {
			out = append(out, msg)
		}
	}
	if skip > len(out) {
		skip = len(out)
	}
	return out[skip:]
}

func (d *demo) showNotify(seen *int) {
	for _, l := range d.notifyLines(*seen) {
		d.indent("notify.sh (syslog): " + l)
		*seen++
	}
}

// director is one of the pair.
type director struct {
	d     *demo
	name  string
	h     *lab.Host
	prio  int
	mdi   time.Duration // its Master_Down_Interval as a backup
	etc   string        // bind-mounted on /etc/hadirector
	run   string        // bind-mounted on /run/hadirector
	proc  *lab.Proc
	k     *lvs.IPVS
	nl    *netlink.Handle
	model func(healthy map[netip.AddrPort]bool) *lvs.Model
}

func (d *demo) newDirector(l *lab.Lab, name, file string, addrs ...string) *director {
	tb := d.tb
	x := &director{d: d, name: name, h: l.Host(name, addrs...)}
	x.etc = filepath.Join(d.work, name, "etc")
	x.run = filepath.Join(d.work, name, "run")
	for _, dir := range []string{x.etc, x.run} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	for src, dst := range map[string]string{file: "hadirector.toml", "notify.sh": "notify.sh"} {
		b, err := examples.Files.ReadFile(src)
		if err != nil {
			tb.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if dst == "notify.sh" {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(x.etc, dst), b, mode); err != nil {
			tb.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(x.etc, dst), mode); err != nil { // past the umask
			tb.Fatal(err)
		}
	}
	b, _ := examples.Files.ReadFile(file)
	cfg, err := config.Parse("examples/"+file, b)
	if err != nil {
		tb.Fatalf("demo: examples/%s: %v", file, err)
	}
	in := cfg.Instances[0]
	x.prio = in.Priority
	adv := time.Duration(in.AdvertInt)
	x.mdi = 3*adv + vrrp.SkewTime(uint8(in.Version), uint8(in.Priority), adv)
	spec := hdirector.LVSSpec(cfg)
	x.model = func(healthy map[netip.AddrPort]bool) *lvs.Model {
		m, err := lvs.FromSpec(spec, func(_ *lvs.ServiceSpec, rs *lvs.RealServerSpec) bool { return healthy[rs.Address] }, nil)
		if err != nil {
			tb.Fatalf("demo: model of examples/%s: %v", file, err)
		}
		return m
	}
	if x.k, err = lvs.OpenIPVS(lvs.IPVSOptions{NetNS: "/run/netns/" + x.h.NS(), NoModprobe: true, Sockets: 1}); err != nil {
		tb.Fatalf("demo: IPVS of %s: %v", name, err)
	}
	tb.Cleanup(func() { x.k.Close() })
	x.nl = x.h.Netlink(tb)
	return x
}

// start runs `hadirector run` — the default configuration /etc/hadirector/hadirector.toml
// and state directory /run/hadirector — in the director's namespace, with its own files
// bind-mounted on those paths in the private mount namespace `ip netns exec` makes.
func (x *director) start() {
	x.proc = x.h.Start(x.d.tb, "hadirector-"+x.name, "sh", "-c",
		`mount --bind "$1" /etc/hadirector && mount --bind "$2" /run/hadirector && exec "$3" run`,
		"sh", x.etc, x.run, x.d.o.Bin)
}

// logged returns the value of key in the last log line (logfmt, the default format) with
// message msg, from line from on.
func (x *director) logged(from int, msg, key string) (string, bool) {
	if x.proc == nil {
		return "", false
	}
	lines := x.proc.Lines()
	for i := len(lines) - 1; i >= from && i >= 0; i-- {
		if strings.Contains(lines[i], "msg="+quote(msg)+" ") {
			return logfmtValue(lines[i], key), true
		}
	}
	return "", false
}

func quote(s string) string {
	if strings.ContainsAny(s, " =\"") {
		return fmt.Sprintf("%q", s)
	}
	return s
}

// logfmtValue is key's value in a logfmt line (slog's text format).
func logfmtValue(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return ""
	}
	v := line[i+len(key)+2:]
	if strings.HasPrefix(v, `"`) {
		for j := 1; j < len(v); j++ {
			if v[j] == '\\' {
				j++
				continue
			}
			if v[j] == '"' {
				return strings.ReplaceAll(v[1:j], `\"`, `"`)
			}
		}
		return v
	}
	v, _, _ = strings.Cut(v, " ")
	return v
}

// lines returns the log lines from from on that contain s.
func (x *director) lines(from int, s string) []string {
	if x.proc == nil {
		return nil
	}
	var out []string
	for i, l := range x.proc.Lines() {
		if i >= from && strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// exited reports whether the daemon has ended.
func (x *director) exited() bool {
	if x.proc == nil {
		return false
	}
	select {
	case <-x.proc.Done():
		return true
	default:
		return false
	}
}

func (x *director) mark() int {
	if x.proc == nil {
		return 0
	}
	return len(x.proc.Lines())
}

// state is the instance's state as the daemon last logged it.
func (x *director) state() string {
	s, ok := x.logged(0, "state transition", "to")
	if !ok {
		return "INIT"
	}
	return s
}

func (x *director) hasVIP() bool { return lab.LinkHasAddr(x.nl, "eth0", vip) }

// programmed reports whether the kernel table holds exactly the model for the healthy
// real servers (the same comparison the daemon makes: no operation left to apply).
func (x *director) programmed(healthy ...netip.AddrPort) bool {
	h := map[netip.AddrPort]bool{}
	for _, a := range healthy {
		h[a] = true
	}
	m := x.model(h)
	actual, err := x.k.Services()
	return err == nil && len(lvs.Diff(m.Table, actual, m.Owns)) == 0
}

// ours counts the services of the configuration in the kernel table.
func (x *director) ours() int {
	m := x.model(nil)
	actual, err := x.k.Services()
	if err != nil {
		return -1
	}
	return len(actual.Filter(m.Owns))
}

// ipvsadm is `ipvsadm -Ln` in the director's namespace: what an operator would look at.
func (x *director) ipvsadm() string {
	out, err := x.h.Run("ipvsadm", "-Ln")
	if err != nil {
		return "ipvsadm: " + err.Error()
	}
	return out
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// ---- 1. election

// election reports whether the pair came up: the rest of the timeline needs it.
func (d *demo) election() bool {
	d.say("1. election: A (priority %d) and B (priority %d) start `hadirector run` at the same time", d.a.prio, d.b.prio)
	d.a.start()
	d.b.start()
	limit := d.a.mdi + d.checkInterval() + Slack
	took, ok := waitFor(limit, func() bool {
		return d.a.exited() || d.b.exited() ||
			d.a.state() == "MASTER" && d.a.hasVIP() && d.a.programmed(realAddr...) && d.b.state() == "BACKUP"
	})
	d.check("A is master, holds the VIP and programs IPVS", ok && !d.a.exited(),
		"A %s, VIP on A's eth0: %s, A's table = the model for both real servers: %s (after %s; limit: A's Master_Down_Interval %s + one check interval + %s slack)",
		d.a.state(), yesNo(d.a.hasVIP()), yesNo(d.a.programmed(realAddr...)), ms(took), ms(d.a.mdi), ms(Slack))
	bOurs := d.b.ours()
	d.check("B is backup with an empty table", d.b.state() == "BACKUP" && !d.b.hasVIP() && bOurs == 0,
		"B %s, VIP on B: %s, services of ours in B's table: %d", d.b.state(), yesNo(d.b.hasVIP()), bOurs)
	for _, x := range []*director{d.a, d.b} {
		for _, l := range x.lines(0, `msg="state transition"`) {
			d.indent(fmt.Sprintf("%s: %s %s → %s", strings.ToUpper(x.name), logfmtValue(" "+l, "time"), logfmtValue(l, "from"), logfmtValue(l, "to")))
		}
	}
	d.showNotify(new(int))
	d.say("  ipvsadm -Ln on A:")
	d.indent(d.a.ipvsadm())
	d.say("  ipvsadm -Ln on B:")
	d.indent(d.b.ipvsadm())
	if d.a.exited() || d.b.exited() {
		d.say("  a director exited: the rest of the timeline cannot run")
		return false
	}
	return true
}

func (d *demo) checkInterval() time.Duration {
	c := d.cfg.VirtualServers[0].Check
	return time.Duration(c.Interval) + time.Duration(c.Timeout)
}

// ---- 2. the client and persistence

func (d *demo) persistence() {
	d.say("2. the client sends 3 requests from each of %d source addresses (new connection each)", len(sources))
	served := map[string]bool{}
	sticky, all := true, true
	for _, src := range sources {
		var got []string
		for range 3 {
			name, err := d.get(src, 2*time.Second)
			if err != nil {
				all = false
				name = "error: " + err.Error()
			} else {
				served[name] = true
			}
			got = append(got, name)
		}
		if len(slices.Compact(slices.Clone(got))) != 1 {
			sticky = false
		}
		d.indent(fmt.Sprintf("%s → %s", src, strings.Join(got, ", ")))
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range served {
			if !yield(n) {
				return
			}
		}
	})
	d.check("both real servers answer through the VIP", all && len(served) == 2,
		"every request answered: %s; served by %s", yesNo(all), strings.Join(names, " and "))
	d.check("each source sticks to its real server (persistence 300 s)", sticky && all,
		"every source got the same real server 3 times: %s", yesNo(sticky))
}

// get makes one HTTP request to the VIP from src (the zero Addr: the primary address) on a
// new connection and returns the real server's name.
func (d *demo) get(src netip.Addr, timeout time.Duration) (string, error) {
	return d.client.GetName(src, web, timeout)
}

// ---- 3. a real server fails and returns

func (d *demo) kick() {
	c := d.cfg.VirtualServers[0].Check
	interval, timeout := time.Duration(c.Interval), time.Duration(c.Timeout)
	d.say("3. rs1's HTTP server stops (check: HTTP %s %s every %s, timeout %s, fall %d, rise %d)",
		c.Method, c.Path, interval, timeout, c.Fall, c.Rise)
	mark := d.a.mark()
	d.rs[0].Stop()
	limit := time.Duration(c.Fall)*interval + timeout + Slack
	took, ok := waitFor(limit, func() bool { return d.a.programmed(realAddr[1]) })
	reason, _ := d.a.logged(mark, "backend down", "reason")
	d.check("rs1 is kicked from A's table", ok,
		"after %s (limit: fall × interval + timeout = %s, + %s slack); A logged: backend down, %s",
		ms(took), ms(limit-Slack), ms(Slack), reason)
	for _, l := range d.a.lines(mark, "msg=ipvs ") {
		d.indent("A: " + l)
	}
	var got []string
	onlyRS2 := true
	for _, src := range sources {
		name, err := d.get(src, 2*time.Second)
		if err != nil {
			name = "error"
		}
		onlyRS2 = onlyRS2 && name == "rs2"
		got = append(got, src.String()+" → "+name)
	}
	d.check("every source is now served by rs2", onlyRS2, "%s", strings.Join(got, ", "))

	d.say("   rs1's HTTP server starts again")
	mark = d.a.mark()
	d.rs[0].Start()
	limit = time.Duration(c.Rise)*interval + timeout + Slack
	took, ok = waitFor(limit, func() bool { return d.a.programmed(realAddr...) })
	d.check("rs1 is added back (weight 1)", ok, "after %s (limit: rise × interval + timeout = %s, + %s slack)", ms(took), ms(limit-Slack), ms(Slack))
	for _, l := range d.a.lines(mark, "msg=ipvs ") {
		d.indent("A: " + l)
	}
	d.say("  ipvsadm -Ln on A:")
	d.indent(d.a.ipvsadm())
}

// ---- 4. A loses power, B takes over

func (d *demo) takeover() {
	d.say("4. the client requests http://%s/ every 100 ms (new connection, 1 s timeout)", web)
	st := d.stream(100*time.Millisecond, time.Second)
	wait := time.Duration(d.rng.Int64N(int64(time.Second)))
	time.Sleep(time.Second + wait) // the stream runs first; then a random moment in A's advert interval
	if d.o.Break == BreakTakeover {
		d.say("   (demo broken on purpose: B is frozen with SIGSTOP)")
		if err := d.b.proc.Signal(syscall.SIGSTOP); err != nil {
			d.tb.Fatal(err)
		}
		defer d.b.proc.Signal(syscall.SIGCONT)
	}
	d.say("   A loses power: its cable is pulled and the daemon killed (kill -9) at a random moment (seed %d)", d.o.Seed)
	mark := d.b.mark()
	d.a.h.CablePull()
	cut := time.Now()
	d.a.proc.Kill()

	limit := d.b.mdi + Slack
	_, ok := waitFor(limit+Slack, func() bool {
		return d.b.state() == "MASTER" && d.b.hasVIP() && d.b.programmed(realAddr...)
	})
	lastA, _ := d.snif.last(d.a.h.MAC(), cut, isAdvert)
	firstB, seenB := d.snif.first(d.b.h.MAC(), cut, isAdvert)
	takeover := firstB.at.Sub(lastA.at)
	d.check("B takes over within its Master_Down_Interval", ok && seenB && !lastA.at.IsZero() && takeover <= limit,
		"B's first advert %s after A's last one (Master_Down_Interval %s; limit + %s slack); B %s, VIP on B: %s",
		ms(takeover), ms(d.b.mdi), ms(Slack), d.b.state(), yesNo(d.b.hasVIP()))
	d.check("B programs IPVS with the healthy real servers", d.b.programmed(realAddr...),
		"B's table = the model for both real servers: %s", yesNo(d.b.programmed(realAddr...)))
	for _, l := range d.b.lines(mark, "msg=ipvs ") {
		d.indent("B: " + l)
	}

	var flip time.Time
	flipped := func() bool {
		if mac, ok := d.neighbor(); ok && mac.String() == d.b.h.MAC().String() {
			flip = time.Now()
			return true
		}
		return false
	}
	_, ok = waitFor(2*time.Second, flipped)
	garps := d.snif.all(d.b.h.MAC(), cut, isGARP)
	var first time.Time
	if len(garps) > 0 {
		first = garps[0].at
		d.say("   B sent %d gratuitous ARPs for %s; the first %s after its first advert as master (IPVS programmed and VIP added in between)", len(garps), vip,
			msPrec(first.Sub(firstB.at)))
	}
	d.check("B's gratuitous ARPs flip the client's neighbor entry to B", ok && len(garps) > 0,
		"client's entry for %s is %s, seen %s after the first GARP", vip, d.b.h.MAC(), ms(flip.Sub(first)))

	_, ok = waitFor(3*time.Second, func() bool { return st.resumed(5) })
	res := st.halt()
	failed, outage := failures(res, cut)
	d.check("client requests resume through B", ok,
		"%d requests, %d failed from the power loss on; no answer for %s", len(res), failed, ms(outage))
	d.say("  ipvsadm -Ln on B:")
	d.indent(d.b.ipvsadm())
}

func msPrec(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// neighbor is the client's neighbor entry for the VIP.
func (d *demo) neighbor() (net.HardwareAddr, bool) {
	link, err := d.cnl.LinkByName("eth0")
	if err != nil {
		return nil, false
	}
	ns, err := d.cnl.NeighList(link.Attrs().Index, netlink.FAMILY_V4)
	if err != nil {
		return nil, false
	}
	for _, n := range ns {
		if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == vip && len(n.HardwareAddr) == 6 {
			return n.HardwareAddr, true
		}
	}
	return nil, false
}

// ---- 5. A returns and preempts

func (d *demo) preempt() {
	d.say("5. A returns: cable back in, `hadirector run` started again")
	d.a.h.CablePlug()
	d.a.start()
	limit := d.a.mdi + d.checkInterval() + Slack
	took, ok := waitFor(limit, func() bool {
		return d.a.state() == "MASTER" && d.a.hasVIP() && d.a.programmed(realAddr...) &&
			d.b.state() == "BACKUP" && !d.b.hasVIP() && d.b.ours() == 0
	})
	for _, s := range []string{"removed stale VIP", "withdrawing IPVS services"} {
		for _, l := range d.a.lines(0, s) {
			d.indent("A: " + l)
		}
	}
	d.check("A preempts; B releases the VIP and empties its table", ok,
		"after %s: A %s with VIP %s and table programmed %s; B %s with VIP %s and %d services of ours (limit: A's Master_Down_Interval %s + one check interval + %s slack)",
		ms(took), d.a.state(), yesNo(d.a.hasVIP()), yesNo(d.a.programmed(realAddr...)),
		d.b.state(), yesNo(d.b.hasVIP()), d.b.ours(), ms(d.a.mdi), ms(Slack))
	_, ok = waitFor(2*time.Second, func() bool {
		mac, ok := d.neighbor()
		return ok && mac.String() == d.a.h.MAC().String()
	})
	name, err := d.get(netip.Addr{}, 2*time.Second)
	d.check("the client follows A back", ok && err == nil,
		"client's entry for %s is A's MAC: %s; a request is answered by %s", vip, yesNo(ok), orErr(name, err))
	d.say("  ipvsadm -Ln on B:")
	d.indent(d.b.ipvsadm())
}

func orErr(s string, err error) string {
	if err != nil {
		return "nobody (" + err.Error() + ")"
	}
	return s
}

// ---- summary

func (d *demo) summary() {
	fmt.Fprintf(d.out, "\nsummary (%s, %s)\n", d.res.Elapsed.Round(100*time.Millisecond), "the VM's clock")
	fmt.Fprintf(d.out, "  %-3s %-60s %s\n", "", "step", "at")
	for i, s := range d.res.Steps {
		mark := "ok"
		if !s.OK {
			mark = "FAILED"
		}
		fmt.Fprintf(d.out, "  %-3d %-60s %6.1fs  %s\n", i+1, s.Name, s.At.Seconds(), mark)
	}
	if d.res.OK() {
		fmt.Fprintln(d.out, "demo: every step happened as narrated")
		return
	}
	for _, x := range []*director{d.a, d.b} {
		if x.proc == nil {
			continue
		}
		lines := x.proc.Lines()
		fmt.Fprintf(d.out, "\nthe last lines of director %s's log (%s):\n", strings.ToUpper(x.name), x.proc.LogPath())
		for _, l := range lines[max(0, len(lines)-20):] {
			fmt.Fprintf(d.out, "  %s\n", l)
		}
	}
	fmt.Fprintf(d.out, "demo: FAILED: %s\n", strings.Join(d.res.Failed(), "; "))
}

// ---- the client's request stream

type outcome struct {
	at  time.Time
	err error
}

type stream struct {
	mu   sync.Mutex
	res  []outcome
	stop chan struct{}
	done chan struct{}
}

func (d *demo) stream(every, timeout time.Duration) *stream {
	s := &stream{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		var wg sync.WaitGroup
		defer wg.Wait()
		for n := 0; n < 600; n++ { // bounded: a minute at 100 ms
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			wg.Add(1)
			go func(at time.Time) {
				defer wg.Done()
				_, err := d.get(netip.Addr{}, timeout)
				s.mu.Lock()
				s.res = append(s.res, outcome{at: at, err: err})
				s.mu.Unlock()
			}(time.Now())
		}
	}()
	return s
}

// resumed reports whether the last n finished requests succeeded.
func (s *stream) resumed(n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.res) < n {
		return false
	}
	for _, o := range s.res[len(s.res)-n:] {
		if o.err != nil {
			return false
		}
	}
	return true
}

func (s *stream) halt() []outcome {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.res)
	slices.SortFunc(out, func(a, b outcome) int { return a.at.Compare(b.at) })
	return out
}

// failures counts the failed requests sent from cut on, and the time from the last
// request answered before cut… to the first one sent after cut that was answered.
func failures(res []outcome, cut time.Time) (failed int, outage time.Duration) {
	var lastOK time.Time
	for _, o := range res {
		if o.at.Before(cut) {
			if o.err == nil {
				lastOK = o.at
			}
			continue
		}
		if o.err != nil {
			failed++
		} else if outage == 0 && !lastOK.IsZero() {
			outage = o.at.Sub(lastOK)
		}
	}
	return failed, outage
}
