// Package director is the one place that wires hadirector together: it runs the VRRP
// instances' state machines on real sockets and timers, and turns their transitions into
// effects in the documented order — on becoming master the advert goes first, then the
// VIPs, then the gratuitous ARP burst, then hooks; on leaving master the VIPs go.
package director

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hadirector/hadirector/config"
	"github.com/hadirector/hadirector/healthcheck"
	"github.com/hadirector/hadirector/internal/cmdline"
	"github.com/hadirector/hadirector/lvs"
	"github.com/hadirector/hadirector/notify"
	"github.com/hadirector/hadirector/vip"
	"github.com/hadirector/hadirector/vrrp"
)

// Options configure a Director.
type Options struct {
	Config     *config.Config
	ConfigPath string // for status and reload
	Version    string // of the binary, for status
	Ready      func() // called once every instance has joined the election
	StateDir   string // holds the VIP state file; default /run/hadirector
	Log        *slog.Logger

	// The effects, each nil for the Linux implementation (see host.go).
	Transport  Transport
	Addresses  Addresses // nil: a vip.Manager with its state file in StateDir
	Announcers Announcers
	Interfaces Interfaces
	IPVS       IPVS
	Sysctls    Sysctls
	Hooks      Hooks // nil: a notify.Runner for Config's global settings
	Monitors   Monitors
	BGP        BGPSpeakers // nil: the embedded GoBGP
	Clock      Clock
}

// Director runs every VRRP instance and sync group of one configuration.
type Director struct {
	cfg    *config.Config
	log    *slog.Logger
	vips   Addresses
	notify Hooks

	transport  Transport
	announcers Announcers
	ifaces     Interfaces
	ipvs       IPVS
	sysctls    Sysctls
	monitors   Monitors
	speakers   BGPSpeakers
	clock      Clock

	path    string
	ready   func()
	version string
	started time.Time
	reloads int

	runCtx      context.Context // owns every worker goroutine, tracked by wg
	wg          sync.WaitGroup
	stopScripts context.CancelFunc
	instances   []*instance
	byName      map[string]*instance
	groups      []*group
	socks       map[sockKey]*sock
	links       *linkState
	scripts     []*trackScript
	files       []*trackFile
	lvs         *lvsState // nil without virtual servers
	bgp         *bgpState // nil without [bgp]
	stopping    bool      // shutdown has begun (loop only)

	// reloadMu serializes reloads: between a reload's plan (on the loop) and its swap
	// (on the loop again) only that reload changes the instances and sockets.
	reloadMu sync.Mutex
	// prepareFn is prepare; tests wrap it.
	prepareFn func(in *instance, hp *hostPrep) error
	// scriptCheck makes a track script's check (healthcheck.Exec); tests replace it.
	scriptCheck func(sc config.VRRPScript, argv []string) checker

	events  chan func(now time.Time)
	stopped chan struct{} // closed when the loop has ended: nothing queued runs any more

	// Adverts the receivers dropped because the queue was full; the log line is
	// rate-limited like drop's.
	qmu        sync.Mutex
	queueDrops uint64
	queueLog   time.Time
}

type sockKey struct {
	ifname string
	six    bool
}

// sock is one raw socket and the instances that share it.
type sock struct {
	conn   Conn
	rx     atomic.Pointer[rxTable] // replaced whole by the loop on start and reload
	mu     sync.Mutex
	drops  [32]uint64 // by DropReason
	logged map[vrrp.DropReason]time.Time
}

// rxTable is what a receiver needs to validate packets, as an immutable snapshot.
type rxTable struct {
	byVRID map[uint8]rxEntry
	own    map[netip.Addr]bool
}

type rxEntry struct {
	in *instance
	sp *spec
}

type group struct {
	g        *vrrp.Group
	cfg      config.SyncGroup
	members  []*instance
	notified vrrp.State // last state reported to the group's hooks
}

// New validates what it can of the host and prepares the instances; nothing is changed
// on the host until Run.
func New(o Options) (*Director, error) {
	if o.StateDir == "" {
		o.StateDir = "/run/hadirector"
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if err := o.Config.Runnable(o.ConfigPath); err != nil {
		return nil, fmt.Errorf("director: %w", err)
	}
	if err := checkHooks(o.Config); err != nil {
		return nil, err
	}
	if o.Hooks == nil {
		runner, err := notify.NewRunner(notify.Options{
			Log: o.Log, DefaultTimeout: o.Config.Global.NotifyTimeout.Std(), FIFO: o.Config.Global.NotifyFIFO,
			User: o.Config.Global.ScriptUser, Security: o.Config.Global.EnableScriptSecurity,
		})
		if err != nil {
			return nil, err
		}
		o.Hooks = runner
	}
	// script_user is looked up only when something will run as it: a host without
	// /etc/passwd (a minimal image, an initramfs) runs a configuration without hooks.
	if len(o.Config.Hooks()) > 0 {
		if err := o.Hooks.ResolveUser(); err != nil {
			return nil, err
		}
	}
	if o.Addresses == nil {
		m, err := vip.NewManager(filepath.Join(o.StateDir, "vips.json"), o.Log)
		if err != nil {
			return nil, err
		}
		o.Addresses = m
	}
	o.defaults()
	d := &Director{
		cfg: o.Config, log: o.Log, vips: o.Addresses, notify: o.Hooks, path: o.ConfigPath, version: o.Version, ready: o.Ready,
		transport: o.Transport, announcers: o.Announcers, ifaces: o.Interfaces, ipvs: o.IPVS, sysctls: o.Sysctls,
		monitors: o.Monitors, speakers: o.BGP, clock: o.Clock, started: o.Clock.Now(),
		byName:  map[string]*instance{},
		socks:   map[sockKey]*sock{},
		events:  make(chan func(time.Time), 1024),
		stopped: make(chan struct{}),
	}
	d.prepareFn = d.prepare
	d.scriptCheck = func(sc config.VRRPScript, argv []string) checker {
		return &healthcheck.Exec{Argv: argv, Timeout: sc.Timeout.Std()}
	}
	var err error
	if d.scripts, err = d.newScripts(o.Config); err != nil {
		return nil, err
	}
	d.files = d.newTrackFiles(o.Config)
	for i := range o.Config.Instances {
		in, err := newInstance(d, o.Config, &o.Config.Instances[i])
		if err != nil {
			return nil, err
		}
		d.instances = append(d.instances, in)
		d.byName[in.cfg.Name] = in
	}
	d.buildGroups()
	if d.bgp, err = newBGPState(d, o.Config); err != nil {
		return nil, err
	}
	return d, nil
}

// defaults fills the host's effects left nil with Linux's.
func (o *Options) defaults() {
	if o.Transport == nil {
		o.Transport = linuxHost{}
	}
	if o.Announcers == nil {
		o.Announcers = linuxHost{}
	}
	if o.Interfaces == nil {
		o.Interfaces = linuxHost{}
	}
	if o.IPVS == nil {
		o.IPVS = linuxHost{}
	}
	if o.Sysctls == nil {
		o.Sysctls = linuxHost{}
	}
	if o.Monitors == nil {
		o.Monitors = linuxHost{}
	}
	if o.BGP == nil {
		o.BGP = gobgp{}
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
}

func (d *Director) newScripts(cfg *config.Config) ([]*trackScript, error) {
	var out []*trackScript
	for _, sc := range cfg.Scripts {
		argv, err := cmdline.Split(sc.Script)
		if err != nil {
			return nil, fmt.Errorf("vrrp_script %s: %w", sc.Name, err)
		}
		// Scripts start as passing, like keepalived without init_fail: a fresh node must
		// not lose priority before the script has had a chance to run. With init_fail
		// it must first pass rise times.
		out = append(out, &trackScript{d: d, cfg: sc, check: d.scriptCheck(sc, argv), tracker: healthcheck.NewTracker(sc.Rise, sc.Fall, !sc.InitFail)})
	}
	return out, nil
}

func (d *Director) newTrackFiles(cfg *config.Config) []*trackFile {
	var out []*trackFile
	for _, f := range cfg.TrackFiles {
		out = append(out, &trackFile{d: d, cfg: f})
	}
	return out
}

// buildGroups links the sync groups of d.cfg to the instances, keeping what each group
// last reported to its hooks.
func (d *Director) buildGroups() {
	notified := map[string]vrrp.State{}
	for _, g := range d.groups {
		notified[g.cfg.Name] = g.notified
	}
	d.groups = nil
	for _, in := range d.instances {
		in.group = nil
	}
	for _, gc := range d.cfg.SyncGroups {
		g := &group{cfg: gc, g: &vrrp.Group{Name: gc.Name}, notified: notified[gc.Name]}
		for _, name := range gc.Group {
			in := d.byName[name]
			in.group, in.member = g, len(g.members)
			g.members = append(g.members, in)
			g.g.Members = append(g.g.Members, in.m)
		}
		d.groups = append(d.groups, g)
	}
}

// Run claims nothing until the election says so, and returns after a clean shutdown when
// ctx is cancelled: masters send priority 0 and remove their VIPs first.
func (d *Director) Run(ctx context.Context) (err error) {
	runCtx, stopWorkers := context.WithCancel(context.Background())
	d.runCtx = runCtx
	// Callers waiting for the loop (Reload, Status, Drain) give up once it has ended.
	loopEnded := sync.OnceFunc(func() { close(d.stopped) })
	notifyCtx, stopNotify := context.WithCancel(context.Background())
	notifyDone := make(chan struct{})
	go func() { defer close(notifyDone); d.notify.Run(notifyCtx) }()
	defer func() {
		stopNotify()
		<-notifyDone
		stopWorkers()
		d.closeSockets()
		d.wg.Wait()
		for _, in := range d.instances {
			in.close()
		}
		if d.lvs != nil {
			d.lvs.kernel.Close()
		}
		d.vips.Close()
	}()
	defer loopEnded() // runs first: on an early return too
	mode := d.cfg.Mode()
	d.log.Info("mode", "mode", mode, "detail", mode.Describe(), "instances", len(d.instances), "virtual_servers", len(d.cfg.VirtualServers))
	if d.lvs, err = openLVS(d, d.cfg); err != nil {
		return err
	}
	if d.lvs != nil {
		if err := d.lvs.prime(runCtx, d.cfg); err != nil {
			return err
		}
		d.lvs.start(runCtx, &d.wg)
	}
	hp := &hostPrep{socks: d.socks}
	for _, in := range d.instances {
		if err := d.prepareFn(in, hp); err != nil {
			return err
		}
	}
	for _, s := range d.socks {
		d.startReceiver(s)
	}
	d.publishRx()
	d.links = newLinkState(d)
	if err := d.links.start(runCtx, &d.wg); err != nil {
		return err
	}
	if err := d.watchAddrs(runCtx); err != nil {
		return err
	}
	d.startScripts()
	if p := d.cfg.Global.StatusSocket; p != "" {
		if err := d.serveStatus(runCtx, p); err != nil {
			return err
		}
	}
	if a := d.cfg.Global.MetricsListen; a != "" {
		if err := d.serveMetrics(runCtx, a); err != nil {
			return fmt.Errorf("director: metrics_listen %s: %w", a, err)
		}
	}
	if d.bgp != nil {
		if err := d.bgp.start(runCtx, &d.wg, d.speakers); err != nil {
			return err
		}
	}
	now := d.clock.Now()
	for _, in := range d.instances {
		d.launch(now, in)
	}
	if d.ready != nil {
		d.ready()
	}
	d.loop(ctx)
	loopEnded()
	d.shutdown()
	return nil
}

// hostPrep is what prepare needs to know of the running instances, and collects the
// sockets it opens. At start-up nothing runs yet; at reload it is a snapshot the loop
// took, and prepare runs off the loop (it is slow host work), so it reads nothing the
// loop owns.
type hostPrep struct {
	held   map[string]map[netip.Addr]bool // VIPs of running instances, by interface: theirs, not stale
	routes map[vip.Route]bool             // routes of running instances
	rules  map[vip.Rule]bool              // rules of running instances
	open   map[sockKey]Conn               // sockets already open, shared
	socks  map[sockKey]*sock              // opened by prepare; their receivers start with the instances
}

// cleanStale removes what a crashed run left of an instance's routes or rules (only
// those recorded as ours), except those a running instance holds.
func cleanStale[T interface {
	comparable
	fmt.Stringer
}](d *Director, in *instance, items []T, held map[T]bool, remove func([]T) ([]T, error)) error {
	var stale []T
	for _, r := range items {
		if !held[r] {
			stale = append(stale, r)
		}
	}
	if len(stale) == 0 {
		return nil
	}
	removed, err := remove(stale)
	for _, r := range removed {
		d.log.Warn("removed stale route or rule left by a previous run", "instance", in.cfg.Name, "what", r.String())
	}
	return err
}

// prepare readies the host for an instance before it joins the election: its vmac, crash
// recovery of its VIPs (a VIP left behind by a killed run would make this node answer
// ARP for an address it does not hold), its sockets and its announcer. It touches only
// the instance, hp and the host: at reload it runs off the loop, whose steps are quick.
func (d *Director) prepare(in *instance, hp *hostPrep) error {
	if in.cfg.UseVMAC {
		spec := vip.VMACSpec{Parent: in.cfg.Interface, Name: in.sp.vipIface, VRID: uint8(in.cfg.VirtualRouterID), IPv6: in.six}
		if in.sendIface == in.sp.vipIface {
			// IPv6: the advert source must be an address of the vmac it is sent from.
			spec.LinkLocal = in.src
		}
		if err := d.ifaces.EnsureVMAC(spec, d.log.With("instance", in.cfg.Name)); err != nil {
			return fmt.Errorf("instance %s: %w", in.cfg.Name, err)
		}
	}
	// A VIP a running instance holds is not stale: a restarted instance's old self still
	// holds it until the swap, and removes it when it stops.
	for _, s := range in.sp.sets {
		var stale []netip.Prefix
		for _, p := range s.vips {
			if !hp.held[s.iface][p.Addr().Unmap()] {
				stale = append(stale, p)
			}
		}
		removed, err := d.vips.CleanupStale(s.iface, stale, in.cfg.Priority == vrrp.PriorityOwner)
		if err != nil {
			return err
		}
		for _, p := range removed {
			d.log.Warn("removed stale VIP left by a previous run", "instance", in.cfg.Name, "vip", p, "interface", s.iface)
		}
	}
	if in.cfg.Priority != vrrp.PriorityOwner {
		if err := cleanStale(d, in, in.sp.rules, hp.rules, d.vips.RemoveRules); err != nil {
			return err
		}
		if err := cleanStale(d, in, in.sp.routes, hp.routes, d.vips.RemoveRoutes); err != nil {
			return err
		}
	}
	// With use_vmac the socket is on the vmac (multicast): adverts leave with the virtual
	// MAC, so switches learn it, and a peer's adverts (whose source is that same virtual
	// MAC) are taken by our macvlan as its own and never reach the parent's stack.
	key := in.sockKey()
	if c := hp.open[key]; c != nil {
		in.conn = c
	} else if s := hp.socks[key]; s != nil {
		in.conn = s.conn
	} else {
		conn, err := d.transport.Listen(key.ifname, in.six)
		if err != nil {
			return err
		}
		s = &sock{conn: conn, logged: map[vrrp.DropReason]time.Time{}}
		s.rx.Store(&rxTable{})
		hp.socks[key] = s
		in.conn = conn
	}
	a, err := d.announcers.NewAnnouncer(in.sp.vipIface, in.mac, d.log)
	if err != nil {
		return fmt.Errorf("instance %s: %w", in.cfg.Name, err)
	}
	in.announcer = a
	for _, s := range in.sp.sets {
		if s.iface == in.sp.vipIface || in.devAnnouncers[s.iface] != nil {
			continue
		}
		a, err := d.announcers.NewAnnouncer(s.iface, nil, d.log)
		if err != nil {
			in.close()
			return fmt.Errorf("instance %s: %w", in.cfg.Name, err)
		}
		if in.devAnnouncers == nil {
			in.devAnnouncers = map[string]Announcer{}
		}
		in.devAnnouncers[s.iface] = a
	}
	if in.six {
		// Before the first VIP: the kernel answers solicitations for it at once.
		a.SetRouter(in.naRouter(in.sp, d.log.With("instance", in.cfg.Name)))
	}
	return nil
}

// startReceiver runs the reader of a socket prepare opened.
func (d *Director) startReceiver(s *sock) {
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.receive(d.runCtx, s) }()
}

// launch starts a prepared instance: its effects worker, then the election.
func (d *Director) launch(now time.Time, in *instance) {
	d.wg.Add(1)
	go func() { defer d.wg.Done(); in.effects.run(d.runCtx) }()
	d.applyTracking(now, in)
	d.step(now, in, vrrp.Event{Kind: vrrp.EvStartup})
}

// close releases an instance's announcer (sockets are shared and closed with the last
// instance using them).
func (in *instance) close() {
	if in.announcer != nil {
		in.announcer.Close()
		in.announcer = nil
	}
	for _, a := range in.devAnnouncers {
		a.Close()
	}
	in.devAnnouncers = nil
}

// sockKey is the socket an instance sends and receives on: its interface, or its vmac.
func (in *instance) sockKey() sockKey { return sockKey{in.sendIface, in.six} }

// loop is the only goroutine that touches the state machines. Everything it does is
// quick (a Step, a sendto); slow effects are queued to the instances' effect workers.
func (d *Director) loop(ctx context.Context) {
	timer := d.clock.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := time.Time{}
		for _, in := range d.instances {
			if dl := in.m.Deadline(); !dl.IsZero() && (next.IsZero() || dl.Before(next)) {
				next = dl
			}
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = next.Sub(d.clock.Now())
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case f := <-d.events:
			f(d.clock.Now())
		case <-timer.C():
			if d.clock.Now().Sub(next) > stalled && d.backupDue(next) {
				// This process did not run for a while (a stalled host, a paused VM):
				// adverts the master sent in time may wait in the sockets. Let the
				// receivers deliver them first, so they reset the master-down timer
				// instead of losing to it (a needless takeover that leads clients here).
				d.catchUp()
			}
			now := d.clock.Now()
			for _, in := range d.instances {
				if dl := in.m.Deadline(); !dl.IsZero() && !now.Before(dl) {
					d.step(now, in, vrrp.Event{Kind: vrrp.EvTimer})
				}
			}
		}
	}
}

// A timer that fires more than stalled after its deadline means the process was not
// running; catchUp then runs the events the receivers deliver until they have been quiet
// for catchUpQuiet, for at most catchUpMax.
const (
	stalled      = 20 * time.Millisecond
	catchUpQuiet = 5 * time.Millisecond
	catchUpMax   = 50 * time.Millisecond
)

// backupDue reports whether a backup's master-down timer is among the deadlines due at
// dl (a master's overdue advert is not held up).
func (d *Director) backupDue(dl time.Time) bool {
	for _, in := range d.instances {
		if t := in.m.Deadline(); in.m.State() == vrrp.Backup && !t.IsZero() && !t.After(dl) {
			return true
		}
	}
	return false
}

func (d *Director) catchUp() {
	end := d.clock.NewTimer(catchUpMax)
	defer end.Stop()
	quiet := d.clock.NewTimer(catchUpQuiet)
	defer quiet.Stop()
	for {
		select {
		case f := <-d.events:
			f(d.clock.Now())
			quiet.Reset(catchUpQuiet)
		case <-quiet.C():
			return
		case <-end.C():
			return
		}
	}
}

// post runs f on the loop goroutine, for the receivers only: it never blocks, so a wedged
// loop cannot stall a socket's reader. When the queue is full the advert is dropped
// (the protocol tolerates a lost advert; the next one follows within an interval), counted,
// and logged at most once every 10 s with the count, so a flood cannot fill the disk.
// Every other producer must not lose its event: see postWait and onLoop.
func (d *Director) post(f func(now time.Time)) {
	select {
	case d.events <- f:
		return
	default:
	}
	d.qmu.Lock()
	d.queueDrops++
	n := d.queueDrops
	now := d.clock.Now()
	logIt := now.Sub(d.queueLog) >= 10*time.Second
	if logIt {
		d.queueLog = now
	}
	d.qmu.Unlock()
	if logIt {
		d.log.Error("event queue full; advert dropped", "dropped", n)
	}
}

// postWait is post for background producers (tracking, health transitions): it blocks
// until the event is queued, so it is never dropped, or until the director stops.
func (d *Director) postWait(f func(now time.Time)) {
	select {
	case d.events <- f:
	case <-d.runCtx.Done():
	}
}

// errStopped is what a caller waiting for the loop gets once the loop has ended.
var errStopped = errors.New("the director has stopped")

// onLoop runs f on the loop goroutine and returns its result, for callers with a context
// (reload, status, drain): the event is never dropped — onLoop waits for room in the
// queue, then for the result — and never hangs: it gives up when ctx ends or the loop
// has ended (errStopped).
func onLoop[T any](ctx context.Context, d *Director, f func(now time.Time) T) (T, error) {
	var zero T
	ch := make(chan T, 1) // f may run after the caller gave up
	select {
	case d.events <- func(now time.Time) { ch <- f(now) }:
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-d.stopped:
		return zero, errStopped
	}
	select {
	case v := <-ch:
		return v, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-d.stopped:
		// The loop runs f whole or not at all before it ends.
		select {
		case v := <-ch:
			return v, nil
		default:
			return zero, errStopped
		}
	}
}

// step feeds one event to an instance (through its sync group, if any) and carries out
// the actions: sends at once, everything else through the effect workers.
func (d *Director) step(now time.Time, in *instance, ev vrrp.Event) {
	if in.group == nil {
		d.act(now, in, in.m.Step(now, ev))
		return
	}
	for _, ma := range in.group.g.Step(now, in.member, ev) {
		d.act(now, in.group.members[ma.Member], ma.Actions)
	}
	d.groupChanged(in.group)
}

// groupChanged runs the group's hooks when all its members have settled in a new state.
func (d *Director) groupChanged(g *group) {
	st := g.members[0].m.State()
	for _, in := range g.members[1:] {
		if in.m.State() != st {
			return
		}
	}
	if st == g.notified {
		return
	}
	prev := g.notified
	g.notified = st
	d.log.Info("sync group state", "group", g.cfg.Name, "from", prev.String(), "to", st.String())
	hooks := map[vrrp.State]string{vrrp.Master: g.cfg.NotifyMaster, vrrp.Backup: g.cfg.NotifyBackup,
		vrrp.Fault: g.cfg.NotifyFault, vrrp.Initialize: g.cfg.NotifyStop}
	// Like an instance's hooks, the group's run once the addresses have moved: after
	// every member's effects worker has carried out what was queued before.
	h := &groupHook{ev: notify.Event{Kind: notify.Group, Name: g.cfg.Name, State: notifyState(st), PrevState: notifyState(prev),
		Hooks: notify.Hooks{Specific: hooks[st], Generic: g.cfg.Notify}}}
	h.left.Store(int32(len(g.members)))
	for _, in := range g.members {
		in.effects.push(effect{kind: effGroupHook, hook: h})
	}
}

// groupHook is a sync group's hook event, submitted by the last member's effects worker
// to reach it.
type groupHook struct {
	left atomic.Int32
	ev   notify.Event
}

// notifyState spells a VRRP state as hooks expect it; leaving the election is STOP.
func notifyState(s vrrp.State) notify.State {
	switch s {
	case vrrp.Master:
		return notify.Master
	case vrrp.Backup:
		return notify.Backup
	case vrrp.Fault:
		return notify.Fault
	}
	return notify.Stop
}

// checkHooks refuses to start with a hook that is missing or, with script security, unsafe.
func checkHooks(cfg *config.Config) error {
	var errs []error
	for _, h := range cfg.Hooks() {
		if err := notify.CheckHook(h.Cmd, cfg.Global.EnableScriptSecurity); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", h.Where, err))
		}
	}
	return errors.Join(errs...)
}

func (d *Director) act(now time.Time, in *instance, acts []vrrp.Action) {
	for _, a := range acts {
		switch a.Kind {
		case vrrp.ActSend:
			in.send(a.Priority)
		case vrrp.ActTransition:
			in.transitions++
			d.log.Info("state transition", "instance", in.cfg.Name, "vrid", in.cfg.VirtualRouterID,
				"from", a.From.String(), "to", a.To.String(), "reason", a.Reason, "priority", in.m.Priority())
			ef := effect{kind: effTransition, sp: in.sp, from: a.From, to: a.To, prio: in.m.Priority(), at: now}
			if d.lvs != nil {
				// The table as it must be after this transition; the effects worker
				// programs it before claiming the VIPs, or after releasing them.
				ef.lvs = d.lvs.snapshot()
				d.lvs.latest.Store(ef.lvs)
				// At shutdown the daemons stop once the VIPs and services are gone (see
				// shutdown): a master's daemon syncs connections until then.
				if sd := d.cfg.LVS.SyncDaemon; d.lvs.syncd != nil && sd != nil && sd.Instance == in.cfg.Name && !d.stopping {
					d.lvs.syncd.follow()
				}
			}
			if a.From == vrrp.Master {
				// Withdrawn before the effects worker removes the VIP.
				d.bgpChanged(now)
			}
			in.effects.push(ef)
		case vrrp.ActAnnounce:
			in.stats.lowerMasters.Add(1)
			in.lastLowerMaster = now
			d.log.Warn("another master seen; asserting mastership", "instance", in.cfg.Name, "reason", a.Reason)
			in.effects.push(effect{kind: effAnnounce, at: now, assert: true})
		}
	}
}

func (d *Director) shutdown() {
	d.stopping = true
	if d.bgp != nil && d.bgp.speaker != nil {
		// The routers move traffic away before any address or service goes.
		d.bgp.stop()
	}
	now := d.clock.Now()
	for _, in := range d.instances {
		d.act(now, in, in.m.Step(now, vrrp.Event{Kind: vrrp.EvShutdown}))
	}
	for _, g := range d.groups {
		d.groupChanged(g)
	}
	// The VIPs must be gone within a second of SIGTERM; removal is a netlink call per
	// address, so this is generous.
	deadline := now.Add(time.Second)
	for _, in := range d.instances {
		in.effects.close()
		if !in.effects.wait(deadline.Sub(d.clock.Now())) {
			d.log.Error("effects still running at shutdown", "instance", in.cfg.Name)
		}
	}
	if d.lvs != nil {
		d.lvs.omega()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		d.lvs.withdraw(ctx)
		cancel()
		if d.lvs.syncd != nil {
			d.lvs.syncd.stop()
		}
	}
	// Belt and braces: whatever the workers did, no VIP of ours survives a clean stop.
	for _, in := range d.instances {
		if in.cfg.Priority == vrrp.PriorityOwner {
			continue
		}
		if _, err := d.vips.RemoveRules(in.sp.rules); err != nil {
			d.log.Error("remove rules at shutdown", "instance", in.cfg.Name, "err", err)
		}
		if _, err := d.vips.RemoveRoutes(in.sp.routes); err != nil {
			d.log.Error("remove routes at shutdown", "instance", in.cfg.Name, "err", err)
		}
		for _, s := range slices.Backward(in.sp.sets) {
			if _, err := d.vips.Remove(s.iface, s.vips); err != nil {
				d.log.Error("remove VIPs at shutdown", "instance", in.cfg.Name, "interface", s.iface, "err", err)
			}
		}
	}
	// notify_stop is waited for, bounded by the hook timeout.
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.Global.NotifyTimeout.Std()+time.Second)
	defer cancel()
	if err := d.notify.Drain(ctx); err != nil {
		d.log.Error("hooks still running at exit", "err", err)
	}
}

// publishRx gives every receiver a fresh snapshot of the instances on its socket.
func (d *Director) publishRx() {
	for key, s := range d.socks {
		t := &rxTable{byVRID: map[uint8]rxEntry{}, own: map[netip.Addr]bool{}}
		for _, in := range d.instances {
			if in.sockKey() == key {
				t.byVRID[uint8(in.cfg.VirtualRouterID)] = rxEntry{in: in, sp: in.sp}
				t.own[in.src] = true
			}
		}
		s.rx.Store(t)
	}
}

func (d *Director) closeSockets() {
	for _, s := range d.socks {
		s.conn.Close()
	}
}

// receive reads one socket until it is closed. Validation is pure and cheap; accepted
// adverts are handed to the loop without waiting.
func (d *Director) receive(ctx context.Context, s *sock) {
	buf := make([]byte, 9000)
	for {
		p, err := s.conn.Read(buf)
		if err != nil {
			if errors.Is(err, vrrp.ErrOtherInterface) {
				d.drop(s, vrrp.DropInterface, p.Src, 0)
				continue
			}
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			d.log.Error("receive", "interface", s.conn.Interface().Name, "err", err)
			sleep(ctx, d.clock, 10*time.Millisecond) // a persistent error must not spin
			continue
		}
		t := s.rx.Load()
		if t.own[p.Src] {
			d.drop(s, vrrp.DropOwn, p.Src, 0)
			continue
		}
		res := vrrp.Validate(p, func(vrid uint8) *vrrp.Expect {
			if e, ok := t.byVRID[vrid]; ok {
				return &e.sp.expect
			}
			return nil
		})
		if res.Drop != vrrp.DropNone {
			d.drop(s, res.Drop, p.Src, res.Advert.VRID)
			continue
		}
		e := t.byVRID[res.Advert.VRID]
		in := e.in
		if len(e.sp.peers) > 0 && !slices.Contains(e.sp.peers, p.Src) {
			d.drop(s, vrrp.DropUnknownPeer, p.Src, res.Advert.VRID)
			continue
		}
		a := res.Advert
		in.stats.received.Add(1)
		if res.AddrMismatch {
			in.stats.addrMismatch.Add(1)
		}
		d.post(func(now time.Time) {
			if in.gone {
				return
			}
			if res.AddrMismatch {
				d.log.Warn("advert address list differs from ours", "instance", in.cfg.Name, "from", a.Src, "addrs", a.Addrs)
			}
			d.step(now, in, vrrp.Event{Kind: vrrp.EvAdvert, Advert: &a})
		})
	}
}

// drop counts a dropped packet and logs it at most once per reason every 10 s, so a
// flood cannot fill the disk.
func (d *Director) drop(s *sock, r vrrp.DropReason, src netip.Addr, vrid uint8) {
	s.mu.Lock()
	s.drops[r]++
	n := s.drops[r]
	now := d.clock.Now()
	logIt := now.Sub(s.logged[r]) >= 10*time.Second
	if logIt {
		s.logged[r] = now
	}
	s.mu.Unlock()
	if logIt {
		d.log.Warn("advert dropped", "interface", s.conn.Interface().Name, "reason", r.String(), "from", src, "vrid", vrid, "count", n)
	}
}

// Cleanup removes every VIP of cfg from this host (and the use_vmac interfaces), for a
// node that crashed and is not restarted. The address owner's addresses stay.
func Cleanup(cfg *config.Config, stateDir string, log *slog.Logger) ([]netip.Prefix, error) {
	m, err := vip.NewManager(filepath.Join(stateDir, "vips.json"), log)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	var all []netip.Prefix
	var errs []error
	for i := range cfg.Instances {
		c := &cfg.Instances[i]
		_, _, mac := plan(c)
		sp := newSpec(c)
		if _, err := m.RemoveRules(sp.rules); err != nil {
			errs = append(errs, err)
		}
		if _, err := m.RemoveRoutes(sp.routes); err != nil {
			errs = append(errs, err)
		}
		for _, s := range sp.sets {
			if _, err := net.InterfaceByName(s.iface); err != nil {
				continue
			}
			removed, err := m.CleanupStale(s.iface, s.vips, c.Priority == vrrp.PriorityOwner)
			all = append(all, removed...)
			if err != nil {
				errs = append(errs, err)
			}
		}
		if c.UseVMAC {
			// Every macvlan of the interface with this virtual MAC: the vmac, and one of an
			// older release under another name (vrrp.<VRID>), whose VIPs go with it.
			gone, err := vip.RemoveVMACsOf(c.Interface, mac)
			for _, name := range gone {
				log.Info("vmac removed", "instance", c.Name, "interface", name)
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	if cfg.BGP != nil {
		for _, v := range cfg.BGP.VIPs {
			if v.Mode != "ecmp" {
				continue
			}
			// An ECMP VIP is the director's own address on its interface (see bgpState).
			if _, err := net.InterfaceByName(v.Interface); err != nil {
				continue
			}
			removed, err := m.Remove(v.Interface, []netip.Prefix{v.Prefix})
			all = append(all, removed...)
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(cfg.VirtualServers) > 0 && lvs.HasIPVS() {
		if err := withdrawAll(cfg, log); err != nil {
			errs = append(errs, err)
		}
	}
	return all, errors.Join(errs...)
}

// withdrawAll deletes this configuration's IPVS services (their destinations go with
// them); other services in the table stay.
func withdrawAll(cfg *config.Config, log *slog.Logger) error {
	m, err := lvs.FromSpec(LVSSpec(cfg), nil, nil)
	if err != nil {
		return err
	}
	k, err := lvs.OpenIPVS(lvs.IPVSOptions{NoModprobe: true})
	if err != nil {
		return err
	}
	defer k.Close()
	return lvs.ApplyOps(context.Background(), k, lvs.Withdraw(m.Table, m.Owns), lvs.ApplyOptions{Each: func(op lvs.Op, err error) {
		if err == nil {
			log.Info("ipvs", "op", op.String())
		}
	}})
}

// Drops returns the drop counters summed over sockets, by reason.
func (d *Director) Drops() map[string]uint64 {
	out := map[string]uint64{}
	for _, s := range d.socks {
		s.mu.Lock()
		for _, r := range vrrp.DropReasons() {
			if s.drops[r] > 0 {
				out[r.String()] += s.drops[r]
			}
		}
		s.mu.Unlock()
	}
	return out
}
