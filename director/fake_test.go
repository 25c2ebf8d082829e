package director

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hadirector/hadirector/healthcheck"
	"github.com/hadirector/hadirector/lvs"
	"github.com/hadirector/hadirector/notify"
	"github.com/hadirector/hadirector/vip"
	"github.com/hadirector/hadirector/vrrp"
)

// callLog is the one ordered record of what the director asked of the fakes. Each entry
// is "what detail"; reads end in "?" so that a test can tell them from effects.
type callLog struct {
	mu      sync.Mutex
	entries []string
}

func (l *callLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, fmt.Sprintf(format, args...))
}

// mark is the position of the next entry.
func (l *callLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// since returns the entries from mark on; without reads unless reads is set.
func (l *callLog) since(mark int, reads bool) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.entries[mark:] {
		if reads || !strings.HasSuffix(e, "?") {
			out = append(out, e)
		}
	}
	return out
}

// fakeClock is a Clock whose time moves only with Advance. Between the timers it fires it
// waits until the process is quiet (quiesce), so that each timer's consequences happen
// before the next one fires, as they would in real time.
type fakeClock struct {
	t      testing.TB
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers []*fakeTimer
}

type fakeTimer struct {
	c     *fakeClock
	ch    chan time.Time
	when  time.Time
	armed bool
	seq   int // arming order: timers due at the same instant fire in it
}

func newFakeClock(t testing.TB) *fakeClock {
	return &fakeClock{t: t, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1)}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timers = append(c.timers, t)
	t.arm(d)
	return t
}

// arm sets the timer to fire d from now (at once if d <= 0); the caller holds c.mu.
func (t *fakeTimer) arm(d time.Duration) {
	t.c.seq++
	t.when, t.armed, t.seq = t.c.now.Add(d), true, t.c.seq
	if d <= 0 {
		t.fire()
	}
}

func (t *fakeTimer) fire() {
	t.armed = false
	select {
	case t.ch <- t.when:
	default:
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

// Stop and Reset have Go 1.23's semantics: no stale value is received afterwards.
func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.armed
	t.armed = false
	t.drain()
	t.c.forget(t)
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.armed
	t.drain()
	if !slices.Contains(t.c.timers, t) {
		t.c.timers = append(t.c.timers, t)
	}
	t.arm(d)
	return was
}

func (t *fakeTimer) drain() {
	select {
	case <-t.ch:
	default:
	}
}

// forget drops a stopped timer from the list Advance scans (Reset puts it back); the
// caller holds c.mu.
func (c *fakeClock) forget(t *fakeTimer) {
	c.timers = slices.DeleteFunc(c.timers, func(x *fakeTimer) bool { return x == t })
}

// Advance moves time on by d, firing the timers due on the way in order of their
// deadlines, each at its deadline, and waiting for quiet after each.
func (c *fakeClock) Advance(d time.Duration) {
	c.t.Helper()
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		quiesce(c.t)
		c.mu.Lock()
		var next *fakeTimer
		for _, t := range c.timers {
			if t.armed && !t.when.After(end) && (next == nil || t.when.Before(next.when) || t.when.Equal(next.when) && t.seq < next.seq) {
				next = t
			}
		}
		if next == nil {
			c.now = end
			c.mu.Unlock()
			quiesce(c.t)
			return
		}
		if next.when.After(c.now) {
			c.now = next.when
		}
		next.fire()
		c.mu.Unlock()
	}
}

// Jump moves time on by d at once, as a stalled process sees it, then fires what is due.
func (c *fakeClock) Jump(d time.Duration) {
	c.t.Helper()
	quiesce(c.t)
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	c.Advance(0)
}

// quiesce waits until no goroutine of this module can run without outside input: each is
// blocked on a channel, a wait group or a lock held by another blocked one. The fakes never
// block on real time, so the process then waits for the fake clock or the test.
func quiesce(t testing.TB) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(30 * time.Second)
	quiet := 0
	for {
		n := runtime.Stack(buf, true)
		if n == len(buf) {
			buf = make([]byte, 2*len(buf))
			continue
		}
		busy := busyGoroutine(string(buf[:n]))
		if busy == "" {
			quiet++
			if quiet == 2 { // twice in a row: a state caught in passing does not count
				return
			}
			runtime.Gosched()
			continue
		}
		quiet = 0
		if time.Now().After(deadline) {
			t.Fatalf("the director does not settle:\n%s", busy)
		}
		runtime.Gosched()
	}
}

// blocked are the states of a goroutine that waits for another one (runtime.Stack's
// names); anything else — running, runnable, in a system call, preempted, waiting for
// the GC or for real time — can go on by itself.
var blocked = map[string]bool{
	"chan receive": true, "chan send": true, "select": true, "select (no cases)": true, "chan receive (nil chan)": true,
	"sync.Mutex.Lock": true, "sync.RWMutex.Lock": true, "sync.RWMutex.RLock": true, "sync.WaitGroup.Wait": true,
	"sync.Cond.Wait": true, // not "semacquire": the runtime's own waits (the GC's, seen in a malloc)
	"IO wait":        true, // a real socket (the status and metrics servers): outside input
}

// busyGoroutine returns the stack of a goroutine of this module that can run (the caller's
// excepted), or "".
func busyGoroutine(stacks string) string {
	gs := strings.Split(stacks, "\n\n")
	for _, g := range gs[1:] { // the first is the caller's
		header, _, _ := strings.Cut(g, "\n")
		_, state, _ := strings.Cut(header, "[")
		state, _, _ = strings.Cut(state, "]")
		state, _, _ = strings.Cut(state, ",")
		// One running on another thread shows no stack: it may be ours.
		if !blocked[state] && (strings.Contains(g, "hadirector/hadirector/") || strings.Contains(g, "stack unavailable")) {
			return g
		}
	}
	return ""
}

// fakeOS is the host, the hooks and the health monitor in memory: eth0 (192.0.2.1) and
// eth1 (198.51.100.1), both up. Every call goes to the log.
type fakeOS struct {
	log *callLog

	mu       sync.Mutex
	addrs    map[string][]netip.Addr
	present  map[string][]netip.Prefix // VIPs on each interface
	routes   []vip.Route               // virtual_routes in the kernel
	conns    map[sockKey]*fakeConn
	links    chan linkChange
	addrGone chan addrDel
	failOpen map[string]error // Listen on this interface fails
	forward  map[string]bool
	kernel   *fakeKernel
	monitor  *fakeMonitor
}

type linkChange struct {
	name string
	up   bool
}

func newFakeOS() *fakeOS {
	l := &callLog{}
	return &fakeOS{log: l,
		addrs: map[string][]netip.Addr{
			"eth0": {netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("fe80::1")},
			"eth1": {netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("fe80::2")},
		},
		present: map[string][]netip.Prefix{}, conns: map[sockKey]*fakeConn{}, links: make(chan linkChange, 16), addrGone: make(chan addrDel, 16),
		failOpen: map[string]error{}, forward: map[string]bool{},
		kernel: newFakeKernel(l)}
}

// options are Options with every effect on f and clock.
func (f *fakeOS) options(clock Clock) Options {
	return Options{Transport: f, Addresses: f, Announcers: f, Interfaces: f, IPVS: f, Sysctls: f, Hooks: f, Monitors: f, Clock: clock}
}

// Transport.

func (f *fakeOS) Listen(ifname string, six bool) (Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failOpen[ifname]; err != nil {
		f.log.add("listen %s failed", ifname)
		return nil, err
	}
	if _, ok := f.addrs[ifname]; !ok && !strings.HasPrefix(ifname, "vr") {
		return nil, fmt.Errorf("listen %s: no such device", ifname)
	}
	c := &fakeConn{log: f.log, ifi: &net.Interface{Name: ifname}, in: make(chan fakeRead, 16), closed: make(chan struct{})}
	f.conns[sockKey{ifname, six}] = c
	f.log.add("listen %s ipv6=%v", ifname, six)
	return c, nil
}

// conn is the open socket on ifname.
func (f *fakeOS) conn(t testing.TB, ifname string, six bool) *fakeConn {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.conns[sockKey{ifname, six}]
	if c == nil {
		t.Fatalf("no socket on %s", ifname)
	}
	return c
}

type fakeConn struct {
	log    *callLog
	ifi    *net.Interface
	in     chan fakeRead
	once   sync.Once
	closed chan struct{}
}

func (c *fakeConn) Send(a *vrrp.Advert) error {
	c.log.add("send %s vrid=%d prio=%d dst=%v", c.ifi.Name, a.VRID, a.Priority, a.Dst)
	return nil
}

func (c *fakeConn) Read(buf []byte) (vrrp.Packet, error) {
	select {
	case r := <-c.in:
		n := copy(buf, r.p.Payload)
		r.p.Payload = buf[:n]
		return r.p, r.err
	case <-c.closed:
		return vrrp.Packet{}, net.ErrClosed
	}
}

func (c *fakeConn) Close() error {
	c.once.Do(func() {
		c.log.add("close socket %s", c.ifi.Name)
		close(c.closed)
	})
	return nil
}

func (c *fakeConn) Interface() *net.Interface { return c.ifi }

// fakeRead is what one Read returns.
type fakeRead struct {
	p   vrrp.Packet
	err error
}

// deliver hands the socket a peer's advert, as the network would.
func (c *fakeConn) deliver(t testing.TB, a vrrp.Advert) {
	t.Helper()
	c.deliverTTL(t, a, 255)
}

func (c *fakeConn) deliverTTL(t testing.TB, a vrrp.Advert, ttl int) {
	t.Helper()
	if a.Version == 0 {
		a.Version = 3
	}
	if a.Interval == 0 {
		a.Interval = time.Second
	}
	a.Type = vrrp.TypeAdvertisement
	if !a.Dst.IsValid() {
		a.Dst = vrrp.GroupV4
	}
	b, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	c.in <- fakeRead{p: vrrp.Packet{Src: a.Src, Dst: a.Dst, TTL: ttl, Payload: b}}
}

// Addresses.

func (f *fakeOS) AddWith(ifname string, vips []netip.Prefix, o vip.AddrOptions) ([]netip.Prefix, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var added []netip.Prefix
	for _, p := range vips {
		if !slices.Contains(f.present[ifname], p) {
			f.present[ifname] = append(f.present[ifname], p)
			added = append(added, p)
		}
	}
	f.log.add("vip add %s %v label=%q", ifname, vips, o.Label)
	if o.Scope != 0 || o.Broadcast.IsValid() {
		f.log.add("vip options %s %v scope=%d brd=%v", ifname, vips, o.Scope, o.Broadcast)
	}
	return added, nil
}

func (f *fakeOS) Remove(ifname string, vips []netip.Prefix) ([]netip.Prefix, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var removed []netip.Prefix
	for _, p := range vips {
		if i := slices.Index(f.present[ifname], p); i >= 0 {
			f.present[ifname] = slices.Delete(f.present[ifname], i, i+1)
			removed = append(removed, p)
		}
	}
	f.log.add("vip remove %s %v", ifname, vips)
	return removed, nil
}

func (f *fakeOS) CleanupStale(ifname string, vips []netip.Prefix, owner bool) ([]netip.Prefix, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var removed []netip.Prefix
	if !owner {
		for _, p := range vips {
			if i := slices.Index(f.present[ifname], p); i >= 0 {
				f.present[ifname] = slices.Delete(f.present[ifname], i, i+1)
				removed = append(removed, p)
			}
		}
	}
	f.log.add("vip cleanup %s %v", ifname, vips)
	return removed, nil
}

func (f *fakeOS) AddRoutes(routes []vip.Route) ([]vip.Route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var added []vip.Route
	for _, r := range routes {
		if !slices.Contains(f.routes, r) {
			f.routes = append(f.routes, r)
			added = append(added, r)
		}
	}
	f.log.add("route add %v", routes)
	return added, nil
}

func (f *fakeOS) RemoveRoutes(routes []vip.Route) ([]vip.Route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var removed []vip.Route
	for _, r := range routes {
		if i := slices.Index(f.routes, r); i >= 0 {
			f.routes = slices.Delete(f.routes, i, i+1)
			removed = append(removed, r)
		}
	}
	f.log.add("route remove %v", routes)
	return removed, nil
}

func (f *fakeOS) AddRules(rules []vip.Rule) ([]vip.Rule, error) {
	f.log.add("rule add %v", rules)
	return rules, nil
}

func (f *fakeOS) RemoveRules(rules []vip.Rule) ([]vip.Rule, error) {
	f.log.add("rule remove %v", rules)
	return rules, nil
}

func (f *fakeOS) Close() error {
	f.log.add("vip close")
	return nil
}

// vips are the VIPs on ifname now.
func (f *fakeOS) vips(ifname string) []netip.Prefix {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.present[ifname])
}

// Announcers.

func (f *fakeOS) NewAnnouncer(ifname string, mac net.HardwareAddr, _ *slog.Logger) (Announcer, error) {
	f.log.add("announcer %s mac=%v", ifname, mac)
	return &fakeAnnouncer{log: f.log, ifname: ifname}, nil
}

type fakeAnnouncer struct {
	log    *callLog
	ifname string
}

func (a *fakeAnnouncer) Burst(vips []netip.Addr, repeat int) (int, error) {
	a.log.add("garp %s %v", a.ifname, vips)
	return len(vips) * max(repeat, 1), nil
}

func (a *fakeAnnouncer) SetRouter(on bool) { a.log.add("na router %s %v", a.ifname, on) }

func (a *fakeAnnouncer) Close() error {
	a.log.add("announcer close %s", a.ifname)
	return nil
}

// Interfaces.

func (f *fakeOS) Addrs(ifname string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log.add("addrs %s?", ifname)
	a, ok := f.addrs[ifname]
	if !ok {
		return nil, errors.New("no such device")
	}
	// The VIPs present follow the interface's own addresses, as the kernel lists them.
	a = slices.Clone(a)
	for _, p := range f.present[ifname] {
		a = append(a, p.Addr())
	}
	return a, nil
}

func (f *fakeOS) EnsureVMAC(s vip.VMACSpec, _ *slog.Logger) error {
	f.log.add("vmac %s on %s", s.Name, s.Parent)
	return nil
}

func (f *fakeOS) LinkUp(ifname string) (bool, error) {
	f.log.add("link %s?", ifname)
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.addrs[ifname]
	return ok, nil
}

func (f *fakeOS) WatchLinks(ctx context.Context, changed func(string, bool), _ func(error)) (func(), error) {
	f.log.add("watch links")
	return func() {
		for {
			select {
			case <-ctx.Done():
				return
			case c := <-f.links:
				changed(c.name, c.up)
			}
		}
	}, nil
}

func (f *fakeOS) WatchAddrs(ctx context.Context, removed func(string, netip.Prefix), _ func(error)) (func(), error) {
	return func() {
		for {
			select {
			case <-ctx.Done():
				return
			case d := <-f.addrGone:
				removed(d.ifname, d.p)
			}
		}
	}, nil
}

// delAddr is an address deleted behind the director's back, as `ip addr del` does it.
func (f *fakeOS) delAddr(ifname string, p netip.Prefix) {
	f.mu.Lock()
	f.present[ifname] = slices.DeleteFunc(f.present[ifname], func(q netip.Prefix) bool { return q == p })
	f.mu.Unlock()
	f.addrGone <- addrDel{ifname, p}
}

type addrDel struct {
	ifname string
	p      netip.Prefix
}

// setLink is a link update from the kernel.
func (f *fakeOS) setLink(name string, up bool) { f.links <- linkChange{name, up} }

// IPVS and Sysctls.

func (f *fakeOS) OpenIPVS() (lvs.Kernel, error) {
	f.log.add("ipvs open")
	return f.kernel, nil
}

func (f *fakeOS) ApplySysctls(want []lvs.Sysctl) ([]lvs.SysctlChange, error) {
	var s []string
	for _, w := range want {
		s = append(s, w.Name+"="+w.Value)
	}
	f.log.add("sysctl %s", strings.Join(s, " "))
	return nil, nil
}

func (f *fakeOS) IPv6Forwarding(ifname string) (bool, error) {
	f.log.add("forwarding %s?", ifname)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.forward[ifname], nil
}

func (f *fakeOS) SetIPv6Forwarding(ifname string, on bool) error {
	f.log.add("forwarding %s=%v", ifname, on)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forward[ifname] = on
	return nil
}

// Hooks.

func (f *fakeOS) Submit(ev notify.Event) {
	switch ev.Kind {
	case notify.RealServer:
		f.log.add("notify %s %v %s", ev.Kind, ev.RealServer, ev.State)
	case notify.Quorum:
		f.log.add("notify %s %v %s %s", ev.Kind, ev.VirtualServer, ev.State, ev.Hooks.Specific)
	default:
		f.log.add("notify %s %s %s", ev.Kind, ev.Name, ev.State)
	}
}

func (f *fakeOS) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

func (f *fakeOS) Drain(context.Context) error {
	f.log.add("notify drain")
	return nil
}

func (f *fakeOS) Stats() notify.Stats { return notify.Stats{} }
func (f *fakeOS) ResolveUser() error  { return nil }

// Monitors.

func (f *fakeOS) NewMonitor(o healthcheck.Options) Monitor {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.monitor = &fakeMonitor{log: f.log, onTransition: o.OnTransition, onWeight: o.OnWeight, up: map[healthcheck.ID]bool{},
		weight: map[healthcheck.ID]healthcheck.Weight{}}
	return f.monitor
}

// fakeMonitor is a health monitor whose checks the test decides.
type fakeMonitor struct {
	log          *callLog
	onTransition func(healthcheck.Transition)
	onWeight     func(healthcheck.WeightChange)

	mu      sync.Mutex
	targets []healthcheck.Target
	up      map[healthcheck.ID]bool
	weight  map[healthcheck.ID]healthcheck.Weight
}

func (m *fakeMonitor) Set(ts []healthcheck.Target) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.targets = ts
	m.log.add("monitor set %d", len(ts))
	return nil
}

func (m *fakeMonitor) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

func (m *fakeMonitor) Up(id healthcheck.ID) (bool, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.targets {
		if t.ID == id {
			up, seen := m.up[id]
			if !seen {
				return !t.StartDown, true // the start-up state, as healthcheck.Monitor
			}
			return up, true
		}
	}
	return false, false
}

func (m *fakeMonitor) Stats(id healthcheck.ID) (healthcheck.Stats, bool) {
	up, known := m.Up(id)
	m.mu.Lock()
	defer m.mu.Unlock()
	return healthcheck.Stats{Target: id, Up: up, Checks: 1, Weight: m.weight[id]}, known
}

// setWeight reports a new weight of an up check, as the monitor's goroutine does.
func (m *fakeMonitor) setWeight(id healthcheck.ID, w healthcheck.Weight) {
	m.mu.Lock()
	from := m.weight[id]
	m.weight[id] = w
	m.mu.Unlock()
	m.onWeight(healthcheck.WeightChange{Target: id, From: from, To: w})
}

// set reports backends up or down, as the monitor's goroutine does: one transition each.
func (m *fakeMonitor) set(up bool, ids ...healthcheck.ID) {
	for _, id := range ids {
		m.mu.Lock()
		m.up[id] = up
		m.mu.Unlock()
		m.onTransition(healthcheck.Transition{Target: id, Up: up})
	}
}

// fakeKernel is lvs.Fake and lvs.FakeSyncDaemons, with their calls in the shared log.
type fakeKernel struct {
	*lvs.Fake
	log *callLog
	sd  lvs.FakeSyncDaemons
}

func newFakeKernel(l *callLog) *fakeKernel { return &fakeKernel{Fake: lvs.NewFake(), log: l} }

func (k *fakeKernel) Apply(op lvs.Op) error {
	k.log.add("ipvs %s", op)
	return k.Fake.Apply(op)
}

func (k *fakeKernel) ApplyBatch(ops []lvs.Op) []error {
	for _, op := range ops {
		k.log.add("ipvs %s", op)
	}
	return k.Fake.ApplyBatch(ops)
}

func (k *fakeKernel) Services() (lvs.Table, error) {
	k.log.add("ipvs services?")
	return k.Fake.Services()
}

func (k *fakeKernel) SetTimeouts(t lvs.Timeouts) error {
	k.log.add("ipvs timeouts %v", t)
	return k.Fake.SetTimeouts(t)
}

func (k *fakeKernel) Close() error {
	k.log.add("ipvs close")
	return nil
}

func (k *fakeKernel) StartDaemon(s lvs.SyncDaemon) error {
	k.log.add("syncd start %s", s.Role)
	return k.sd.StartDaemon(s)
}

func (k *fakeKernel) StopDaemon(r lvs.SyncRole) error {
	k.log.add("syncd stop %s", r)
	return k.sd.StopDaemon(r)
}

func (k *fakeKernel) Daemons() ([]lvs.SyncDaemon, error) {
	k.log.add("syncd list?")
	return k.sd.Daemons()
}

// harness is a director on the fake OS and clock, run by Run as in production.
type harness struct {
	t     *testing.T
	d     *Director
	os    *fakeOS
	clock *fakeClock
	log   *callLog
	out   *syncBuffer // the director's log
	stop  context.CancelFunc
	ran   chan error
}

func newHarness(t *testing.T, src string) *harness {
	t.Helper()
	h := &harness{t: t, os: newFakeOS(), clock: newFakeClock(t), out: &syncBuffer{}}
	h.log = h.os.log
	o := h.os.options(h.clock)
	o.Config, o.ConfigPath, o.StateDir = parse(t, src), "test.toml", t.TempDir()
	o.Log = slog.New(slog.NewTextHandler(h.out, nil))
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	return h
}

// start runs the director until the test ends, and waits until it has settled.
func (h *harness) start() {
	h.t.Helper()
	ready := make(chan struct{})
	h.d.ready = func() { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	h.stop, h.ran = cancel, make(chan error, 1)
	go func() { h.ran <- h.d.Run(ctx) }()
	select {
	case <-ready:
	case err := <-h.ran:
		h.t.Fatalf("Run: %v", err)
	}
	h.t.Cleanup(func() {
		if h.stop != nil {
			h.shutdown()
		}
	})
	quiesce(h.t)
}

// shutdown stops the director as SIGTERM does and waits for Run to return.
func (h *harness) shutdown() {
	h.t.Helper()
	h.stop()
	h.stop = nil
	select {
	case err := <-h.ran:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		buf := make([]byte, 1<<20)
		h.t.Fatalf("Run did not return:\n%s", buf[:runtime.Stack(buf, true)])
	}
}

// state is an instance's state, read on the loop.
func (h *harness) state(name string) vrrp.State {
	h.t.Helper()
	st, err := onLoop(context.Background(), h.d, func(time.Time) vrrp.State { return h.d.byName[name].m.State() })
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

// status is the director's status.
func (h *harness) status() *Status {
	h.t.Helper()
	s, err := h.d.Status(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// reload applies src and waits for quiet.
func (h *harness) reload(src string) error {
	h.t.Helper()
	err := h.d.Reload(context.Background(), parse(h.t, src))
	quiesce(h.t)
	return err
}

// inOrder checks that log holds entries starting with each of want, in that order (other
// entries may come between).
func inOrder(t *testing.T, log []string, want ...string) {
	t.Helper()
	i := 0
	for _, e := range log {
		if i < len(want) && strings.HasPrefix(e, want[i]) {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("calls not in order: found %q before missing %q; calls:\n%s", want[:i], want[i], strings.Join(log, "\n"))
	}
}

// matching are the entries of log starting with prefix.
func matching(log []string, prefix string) []string {
	var out []string
	for _, e := range log {
		if strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return out
}

// TestQuiesce: after quiesce, what a delivered advert sets off has run — every time (the
// GC's own waits once passed for quiet). The fake-clock tests rely on it.
func TestQuiesce(t *testing.T) {
	h := newHarness(t, vrrpConfig(51, "192.0.2.100/24"))
	h.start()
	in := h.d.byName["VI_1"]
	c := h.os.conn(t, "eth0", false)
	for i := range 500 {
		c.deliver(t, vrrp.Advert{VRID: 51, Priority: 200, Src: peer, Addrs: []netip.Addr{vip1.Addr()}})
		quiesce(t)
		if n := in.stats.received.Load(); n != uint64(i+1) {
			t.Fatalf("after %d adverts and quiesce, %d received", i+1, n)
		}
	}
}
