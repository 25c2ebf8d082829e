package director

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hadirector/hadirector/config"
	"github.com/hadirector/hadirector/healthcheck"
	"github.com/hadirector/hadirector/lvs"
	"github.com/hadirector/hadirector/notify"
	"github.com/hadirector/hadirector/vrrp"
)

// lvsState is the director's IPVS side: the health monitor, the desired model, and the
// kernel table, which only the master of a service's VIP programs.
//
// A virtual server belongs to the instance whose VIPs include its address; a
// firewall-mark service (or one whose address is no instance's VIP) is active while any
// instance is master. With [lvs] on_backup = "keep" every service stays programmed on
// the backup too (a hot standby, keepalived's behaviour). Without any vrrp_instance
// (config.ModeStandalone) every service is active from the start: there is no election
// to wait for, and "any instance is master" would never hold.
type lvsState struct {
	d      *Director
	kernel lvs.Kernel
	mon    Monitor
	syncd  *syncState // the connection-sync daemons; nil when the kernel cannot run them

	// Health transitions and weight changes waiting for the loop.
	pmu      sync.Mutex
	pending  []healthcheck.Transition
	reweight bool // a weight changed: the model must be rebuilt

	// Loop goroutine only.
	model   *lvs.Model
	drained map[drainKey]bool
	gen     uint64
	spec    *lvs.Spec // LVSSpec(specOf), see lvsSpec
	dynamic []dynamicRef
	specOf  *config.Config
	// checkUp is each check's state as the transitions delivered so far say: a real
	// server's hooks run when all its checks together change (up only while every one
	// is up), not on every transition of one of them.
	checkUp map[healthcheck.ID]bool

	// The kernel is written by one party at a time: effects workers on transitions and
	// the sync worker on health changes, reconcile ticks and retries.
	mu      sync.Mutex
	applied uint64 // generation of the last desired table applied
	kick    chan struct{}
	latest  atomic.Pointer[desired]
	sysctls bool // applied since becoming master

	// retired are services an earlier configuration declared and the current one does
	// not. They are still ours: the model's Owns no longer covers them, so without this a
	// reload that drops a virtual server would leave it in the kernel for good (with no
	// health checks behind it). The next sync deletes them wherever they stand.
	retiredMu sync.Mutex
	retired   map[lvs.Key]uint64 // → the reload that retired it
	reloads   uint64

	sysctlPlan *sysctlPlan // for the configuration in force (loop only)

	ops, errs atomic.Uint64
	settings  atomic.Pointer[[]lvs.Sysctl] // the kernel settings applied as master
	lastErr   atomic.Pointer[string]
	lastSync  atomic.Pointer[time.Time]
}

// desired is a generation of the table to program, computed on the loop.
type desired struct {
	gen      uint64
	table    lvs.Table
	owned    func(lvs.Service) bool
	timeouts lvs.Timeouts
	master   bool        // some service is active: the master's kernel settings apply
	sysctls  *sysctlPlan // those settings: the workers never read the configuration
}

// sysctlPlan is the master's kernel settings derived from one configuration (immutable).
type sysctlPlan struct {
	want []lvs.Sysctl
	err  error // the configuration's policy is invalid: nothing is applied
}

func newSysctlPlan(cfg *config.Config) *sysctlPlan {
	c := cfg.LVS
	want, err := lvs.SysctlsFor(LVSSpec(cfg), lvs.SysctlPolicy{IPForward: lvs.SysctlMode(c.SysctlIPForward),
		ExpireNodestConn: lvs.SysctlMode(c.SysctlExpireNodestConn), ExpireQuiescentTemplate: lvs.SysctlMode(c.SysctlExpireQuiescentTemplate),
		Conntrack: lvs.SysctlMode(c.SysctlConntrack), SloppyTCP: lvs.SysctlMode(c.SysctlSloppyTCP), SloppySCTP: lvs.SysctlMode(c.SysctlSloppySCTP)})
	return &sysctlPlan{want: want, err: err}
}

type drainKey struct {
	service lvs.Key
	backend netip.AddrPort
}

// openLVS prepares IPVS when the configuration has virtual servers. A kernel without IPVS
// is one clear error.
func openLVS(d *Director, cfg *config.Config) (*lvsState, error) {
	if len(cfg.VirtualServers) == 0 {
		return nil, nil
	}
	k, err := d.ipvs.OpenIPVS()
	if err != nil {
		return nil, fmt.Errorf("director: %w", err)
	}
	return newLVSState(d, k), nil
}

// newLVSState is the IPVS side on kernel k.
func newLVSState(d *Director, k lvs.Kernel) *lvsState {
	l := &lvsState{d: d, kernel: k, drained: map[drainKey]bool{}, kick: make(chan struct{}, 1), retired: map[lvs.Key]uint64{},
		checkUp: map[healthcheck.ID]bool{}}
	l.mon = d.monitors.NewMonitor(healthcheck.Options{Log: d.log, OnTransition: l.onTransition, OnWeight: l.onWeight})
	l.syncd = newSyncState(d, k)
	return l
}

// prime readies IPVS for cfg before anything runs: the monitor's targets and, for crash
// recovery, the withdrawal of our services a previous run left — until this node is
// elected; anything else in the table stays as it is. It is slow kernel work and touches
// only l, which nobody else sees yet: at reload it runs off the loop.
func (l *lvsState) prime(ctx context.Context, cfg *config.Config) error {
	if err := l.configure(cfg); err != nil {
		return err
	}
	if cfg.Mode() == config.ModeStandalone {
		return nil // start programs every service
	}
	m, err := lvs.FromSpec(LVSSpec(cfg), l.healthy, nil)
	if err != nil {
		return nil // recompute logs it
	}
	if actual, err := l.kernel.Services(); err == nil {
		if ops := lvs.Withdraw(actual, m.Owns); len(ops) > 0 {
			l.d.log.Warn("withdrawing IPVS services left by a previous run", "services", len(ops))
			l.applyOps(ctx, ops)
		}
	}
	return nil
}

// start builds the model and runs the monitor and the sync worker (loop, or before it
// runs).
func (l *lvsState) start(ctx context.Context, wg *sync.WaitGroup) {
	l.recompute(l.d.clock.Now())
	if l.d.cfg.Mode() == config.ModeStandalone {
		// Nothing will be elected: program every service now. The sync diffs against
		// what a previous run left, so a restart keeps the services (and their
		// connections) that are already right.
		l.publish()
	}
	interval := l.d.cfg.LVS.ReconcileInterval.Std()
	wg.Add(2)
	go func() { defer wg.Done(); l.mon.Run(ctx) }()
	go func() { defer wg.Done(); l.worker(ctx, interval) }()
	if l.syncd != nil {
		l.syncd.follow()
		wg.Add(1)
		go func() { defer wg.Done(); l.syncd.run(ctx) }()
	}
}

// configure takes what the workers need from cfg (loop only): the monitor's targets and
// the master's kernel settings.
func (l *lvsState) configure(cfg *config.Config) error {
	targets, err := checkTargets(cfg)
	if err != nil {
		return err
	}
	if err := l.mon.Set(targets); err != nil {
		return err
	}
	// Checks the monitor had before keep the state their transitions gave them; new ones
	// start as the monitor starts them (up, or down with alpha), without a transition.
	up := make(map[healthcheck.ID]bool, len(targets))
	for _, t := range targets {
		v, ok := l.checkUp[t.ID]
		if !ok {
			v, _ = l.mon.Up(t.ID)
		}
		up[t.ID] = v
	}
	l.checkUp = up
	l.sysctlPlan = newSysctlPlan(cfg)
	return nil
}

// allUp reports whether every check of the real server backend of service is up by
// states (a real server's checks are numbered from 0 without gaps).
func allUp(service string, backend netip.AddrPort, states func(healthcheck.ID) (up, known bool)) bool {
	for k := 0; ; k++ {
		up, known := states(healthcheck.ID{Service: service, Backend: backend, Check: k})
		if !known {
			return true
		}
		if !up {
			return false
		}
	}
}

// onTransition runs on the monitor's goroutine. Transitions are batched: a burst (10 000
// backends behind one dead switch) costs the loop one model rebuild and one event, not one
// per backend — the loop also sends the adverts.
func (l *lvsState) onTransition(t healthcheck.Transition) {
	l.pmu.Lock()
	first := len(l.pending) == 0
	l.pending = append(l.pending, t)
	reweight := l.reweight
	l.pmu.Unlock()
	if first && !reweight {
		l.d.postWait(l.applyTransitions)
	}
}

// onWeight runs on the monitor's goroutine: a dynamic weight changed, so the model is
// rebuilt (batched with the transitions; the weight is read back from the monitor).
func (l *lvsState) onWeight(healthcheck.WeightChange) {
	l.pmu.Lock()
	first := len(l.pending) == 0 && !l.reweight
	l.reweight = true
	l.pmu.Unlock()
	if first {
		l.d.postWait(l.applyTransitions)
	}
}

// applyTransitions runs the real servers' hooks and rebuilds the model (loop only).
func (l *lvsState) applyTransitions(now time.Time) {
	l.pmu.Lock()
	ts := l.pending
	l.pending, l.reweight = nil, false
	l.pmu.Unlock()
	// Every transition reaches the hooks, in order; one pass over the configuration finds
	// their real servers.
	type ref struct {
		vs *config.VirtualServer
		rs *config.RealServer
	}
	want := make(map[healthcheck.ID]ref, len(ts))
	for _, t := range ts {
		want[realServerID(t.Target)] = ref{}
	}
	cfg := l.d.cfg
	for i := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[i]
		name := checkService(vs.Address, vs.FWMark, vs.Protocol)
		for j := range vs.RealServers {
			id := healthcheck.ID{Service: name, Backend: vs.RealServers[j].Address}
			if _, ok := want[id]; ok {
				want[id] = ref{vs, &vs.RealServers[j]}
			}
		}
	}
	states := func(id healthcheck.ID) (bool, bool) { up, ok := l.checkUp[id]; return up, ok }
	for _, t := range ts {
		r := want[realServerID(t.Target)]
		if _, ok := l.checkUp[t.Target]; r.vs == nil || !ok {
			continue // removed by a reload meanwhile
		}
		before := allUp(t.Target.Service, t.Target.Backend, states)
		l.checkUp[t.Target] = t.Up
		if allUp(t.Target.Service, t.Target.Backend, states) == before {
			continue // another check of the real server still decides
		}
		st, hook, prev := notify.Up, r.rs.NotifyUp, notify.Down
		if !t.Up {
			st, hook, prev = notify.Down, r.rs.NotifyDown, notify.Up
		}
		l.d.notify.Submit(notify.Event{Kind: notify.RealServer, State: st, PrevState: prev,
			VirtualServer: r.vs.Address, FWMark: uint32(r.vs.FWMark), Protocol: r.vs.Protocol, RealServer: r.rs.Address,
			Hooks: notify.Hooks{Specific: hook}})
	}
	l.recompute(now)
	// A VIP whose service lost quorum is withdrawn before the table changes.
	l.d.bgpChanged(now)
	l.publish()
}

// realServerID names the real server a check's id belongs to.
func realServerID(id healthcheck.ID) healthcheck.ID {
	id.Check = 0
	return id
}

// healthy answers from the monitor: a real server is up while every one of its checks
// is; one without a check is always up.
func (l *lvsState) healthy(vs *lvs.ServiceSpec, rs *lvs.RealServerSpec) bool {
	return allUp(checkService(vs.Address, vs.FWMark, vs.Protocol), rs.Address, l.mon.Up)
}

// recompute rebuilds the desired model from the configuration and health (loop only).
func (l *lvsState) recompute(now time.Time) {
	var prev map[lvs.Key]lvs.Quorum
	if l.model != nil {
		prev = l.model.Quorum
	}
	m, err := lvs.FromSpec(l.withWeights(l.lvsSpec()), l.healthy, prev)
	if err != nil {
		l.d.log.Error("lvs: desired model", "err", err)
		return
	}
	for _, c := range m.Changes {
		l.d.log.Info("quorum", "service", c.Service.String(), "up", c.Up, "weight", c.Weight, "threshold", c.Threshold, "sorry", c.Sorry, "initial", c.Initial)
		if !c.Initial {
			l.quorumHook(c.Service, c.Up)
		}
	}
	for k := range l.drained {
		if e := m.Table[k.service]; e != nil {
			if dst, ok := e.Destinations[k.backend]; ok {
				dst.Weight = 0
				e.Destinations[k.backend] = dst
			}
		}
	}
	l.model = m
}

// quorumHook submits the quorum_up or quorum_down hook of the virtual server key
// (loop only). A service's first quorum state (start-up, a new service) runs none, as
// keepalived runs them on changes only.
func (l *lvsState) quorumHook(key lvs.Key, up bool) {
	for i := range l.d.cfg.VirtualServers {
		vs := &l.d.cfg.VirtualServers[i]
		if svc, err := lvsService(vs); err == nil && svc.Key == key {
			l.submitQuorum(vs, up)
			return
		}
	}
}

func (l *lvsState) submitQuorum(vs *config.VirtualServer, up bool) {
	st, hook, prev := notify.Up, vs.QuorumUp, notify.Down
	if !up {
		st, hook, prev = notify.Down, vs.QuorumDown, notify.Up
	}
	l.d.notify.Submit(notify.Event{Kind: notify.Quorum, State: st, PrevState: prev,
		VirtualServer: vs.Address, FWMark: uint32(vs.FWMark), Protocol: vs.Protocol, Hooks: notify.Hooks{Specific: hook}})
}

// omega runs quorum_down at shutdown for the virtual servers with omega whose quorum is
// up (keepalived's omega), before the hooks are drained (loop only).
func (l *lvsState) omega() {
	if l.model == nil {
		return
	}
	for i := range l.d.cfg.VirtualServers {
		vs := &l.d.cfg.VirtualServers[i]
		if !vs.Omega {
			continue
		}
		if svc, err := lvsService(vs); err == nil && l.model.Quorum[svc.Key].Up {
			l.submitQuorum(vs, false)
		}
	}
}

// dynamicRef is a real server whose weight its checks set (misc_dynamic, a file check).
type dynamicRef struct {
	service, realServer int // indexes into lvs.Spec
	id                  healthcheck.ID
}

// dynamicRefs lists the real servers of cfg with a weight-setting check.
func dynamicRefs(cfg *config.Config) []dynamicRef {
	var out []dynamicRef
	for i := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[i]
		for j := range vs.RealServers {
			rs := &vs.RealServers[j]
			if slices.ContainsFunc(rs.AllChecks(), func(c *config.Check) bool {
				return c.Type == "file" || (c.Type == "exec" && c.MiscDynamic)
			}) {
				out = append(out, dynamicRef{i, j, healthcheck.ID{Service: checkService(vs.Address, vs.FWMark, vs.Protocol), Backend: rs.Address}})
			}
		}
	}
	return out
}

// withWeights is spec with the weights the checks set (healthcheck.EffectiveWeight of the
// configured weight and every check's), so that a weight change goes through the model
// like any other: quorum counts it, inhibit_on_failure and drain still put 0. spec is
// shared and never changed: the services touched are copied (loop only).
func (l *lvsState) withWeights(spec *lvs.Spec) *lvs.Spec {
	if len(l.dynamic) == 0 {
		return spec
	}
	out := *spec
	out.Services = slices.Clone(spec.Services)
	copied := map[int]bool{}
	for _, r := range l.dynamic {
		svc := &out.Services[r.service]
		if !copied[r.service] {
			svc.RealServers = slices.Clone(svc.RealServers)
			copied[r.service] = true
		}
		rs := &svc.RealServers[r.realServer]
		var ws []healthcheck.Weight
		for id := r.id; ; id.Check++ {
			st, ok := l.mon.Stats(id)
			if !ok {
				break
			}
			ws = append(ws, st.Weight)
		}
		rs.Weight = healthcheck.EffectiveWeight(rs.Weight, ws...)
	}
	return &out
}

// snapshot is the table this node must program now: the services whose instance is
// master (or all with on_backup = "keep").
func (l *lvsState) snapshot() *desired {
	if l.model == nil {
		return nil
	}
	l.gen++
	t := l.activeTable()
	return &desired{gen: l.gen, table: t, owned: l.model.Owns, timeouts: l.model.Timeouts, master: len(t) > 0, sysctls: l.sysctlPlan}
}

// activeTable is the part of the model this node programs now (loop only).
func (l *lvsState) activeTable() lvs.Table {
	return activeTable(l.d.cfg, l.d.instances, l.model.Table)
}

// activeTable is the part of table that a node running instances under cfg programs now.
// The mode is the configuration's, not len(instances): an instance that failed to start
// on a reload leaves a VRRP configuration with fewer running instances, never a
// standalone one.
func activeTable(cfg *config.Config, instances []*instance, table lvs.Table) lvs.Table {
	keep := cfg.LVS.OnBackup == "keep" || cfg.Mode() == config.ModeStandalone
	anyMaster := false
	for _, in := range instances {
		anyMaster = anyMaster || in.m.State() == vrrp.Master
	}
	active := func(s lvs.Service) bool {
		if keep {
			return true
		}
		if !s.IsFWMark() {
			for _, in := range instances {
				if slices.ContainsFunc(in.sp.vips, func(p netip.Prefix) bool { return p.Addr() == s.Addr.Addr() }) {
					return in.m.State() == vrrp.Master
				}
			}
		}
		return anyMaster
	}
	return table.Filter(active)
}

// publish hands the current snapshot to the sync worker (loop only).
func (l *lvsState) publish() *desired {
	s := l.snapshot()
	l.latest.Store(s)
	l.wake()
	return s
}

// wake has the sync worker apply the latest snapshot (again: after a failed sync it
// retries every second until it succeeds).
func (l *lvsState) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// worker applies published snapshots, reconciles periodically while anything is
// programmed (someone ran ipvsadm -C), and retries after errors.
func (l *lvsState) worker(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 30 * time.Second
	}
	t := l.d.clock.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.kick:
		case <-t.C():
		}
		err := l.sync(ctx, l.latest.Load(), true)
		next := interval
		if err != nil {
			next = time.Second
		}
		t.Reset(next)
	}
}

// sync makes the kernel match s. Older generations than the last applied are skipped
// unless reconcile asks to re-read and repair the table anyway.
func (l *lvsState) sync(ctx context.Context, s *desired, reconcile bool) error {
	if s == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.gen < l.applied || (s.gen == l.applied && !reconcile) {
		return nil
	}
	if s.master && !l.sysctls {
		l.applySysctls(s.sysctls)
		l.sysctls = true
	} else if !s.master {
		l.sysctls = false
	}
	if s.master && s.timeouts != (lvs.Timeouts{}) {
		if err := l.kernel.SetTimeouts(s.timeouts); err != nil {
			l.d.log.Error("lvs: set timeouts", "err", err)
		}
	}
	actual, err := l.kernel.Services()
	if err != nil {
		l.fail(err)
		return err
	}
	owned, retired := l.withRetired(s.owned)
	ops := lvs.Diff(s.table, actual, owned)
	if reconcile && s.gen == l.applied && len(ops) > 0 {
		l.d.log.Warn("lvs: the kernel table drifted from ours; repairing", "ops", len(ops))
	}
	err = l.applyOps(ctx, ops)
	if err == nil {
		l.forgetRetired(retired)
	}
	l.applied = s.gen
	now := l.d.clock.Now()
	l.lastSync.Store(&now)
	return err
}

func (l *lvsState) applyOps(ctx context.Context, ops []lvs.Op) error {
	if len(ops) == 0 {
		return nil
	}
	err := lvs.ApplyOps(ctx, l.kernel, ops, lvs.ApplyOptions{Workers: 2, Each: func(op lvs.Op, err error) {
		l.ops.Add(1)
		if err != nil {
			l.errs.Add(1)
			l.d.log.Error("ipvs", "op", op.String(), "err", err)
			return
		}
		l.d.log.Info("ipvs", "op", op.String())
	}})
	if err != nil {
		l.fail(err)
	}
	return err
}

func (l *lvsState) fail(err error) {
	s := err.Error()
	l.lastErr.Store(&s)
}

// applySysctls sets the director's kernel settings that LVS needs; the master does it.
// It runs on the effects and sync workers, so it takes the settings from the snapshot:
// the configuration is the loop's, and a reload replaces it.
func (l *lvsState) applySysctls(p *sysctlPlan) {
	if p == nil {
		return
	}
	if p.err != nil {
		l.d.log.Error("lvs: sysctls", "err", p.err)
		return
	}
	want := p.want
	changes, err := l.d.sysctls.ApplySysctls(want)
	l.settings.Store(&want)
	for _, c := range changes {
		reason := ""
		for _, w := range want {
			if w.Name == c.Name {
				reason = w.Reason
			}
		}
		l.d.log.Info("sysctl", "name", c.Name, "from", c.Old, "to", c.New, "reason", reason)
	}
	if err != nil {
		l.d.log.Error("lvs: sysctls", "err", err)
	}
}

// withdraw removes all our services (shutdown).
func (l *lvsState) withdraw(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	actual, err := l.kernel.Services()
	if err != nil || l.model == nil {
		l.d.log.Error("lvs: withdraw", "err", err)
		return
	}
	owned, _ := l.withRetired(l.model.Owns)
	l.applyOps(ctx, lvs.Withdraw(actual, owned))
	l.applied = ^uint64(0) // nothing more is applied after shutdown
}

// reload takes a new configuration (loop only): new targets keep the health of the
// unchanged ones, and the model is rebuilt and published.
func (l *lvsState) reload(now time.Time, cfg *config.Config) error {
	if err := l.configure(cfg); err != nil {
		return err
	}
	old := l.model
	l.recompute(now)
	if old != nil && l.model != old {
		l.retiredMu.Lock()
		l.reloads++
		for k := range old.Table {
			if _, ok := l.model.Table[k]; !ok {
				l.retired[k] = l.reloads
			}
		}
		for k := range l.model.Table {
			delete(l.retired, k)
		}
		l.retiredMu.Unlock()
	}
	l.publish()
	if l.syncd != nil {
		l.syncd.follow()
	}
	return nil
}

// withRetired extends owned with the retired services and returns the ones it covers.
func (l *lvsState) withRetired(owned func(lvs.Service) bool) (func(lvs.Service) bool, map[lvs.Key]uint64) {
	l.retiredMu.Lock()
	defer l.retiredMu.Unlock()
	if len(l.retired) == 0 {
		return owned, nil
	}
	set := maps.Clone(l.retired)
	return func(s lvs.Service) bool { _, ok := set[s.Key]; return ok || owned(s) }, set
}

// forgetRetired drops the services a successful sync has deleted (or found gone),
// unless a later reload retired them again (declared and dropped meanwhile).
func (l *lvsState) forgetRetired(done map[lvs.Key]uint64) {
	l.retiredMu.Lock()
	defer l.retiredMu.Unlock()
	for k, at := range done {
		if l.retired[k] == at {
			delete(l.retired, k)
		}
	}
}

// drain sets a real server's weight to 0 at run time (or restores it); kept across
// reloads until undrained.
func (l *lvsState) drain(vs, rs netip.AddrPort, on bool) error {
	for i := range l.d.cfg.VirtualServers {
		v := &l.d.cfg.VirtualServers[i]
		if v.Address != vs || !slices.ContainsFunc(v.RealServers, func(r config.RealServer) bool { return r.Address == rs }) {
			continue
		}
		svc, err := lvsService(v)
		if err != nil {
			return err
		}
		key := drainKey{svc.Key, rs}
		if on {
			l.drained[key] = true
		} else {
			delete(l.drained, key)
		}
		l.recompute(l.d.clock.Now())
		l.publish()
		return nil
	}
	return errors.New("no such virtual server / real server")
}

// status describes the model and health (loop only); addCounters adds the kernel's
// counters afterwards, off the loop.
func (l *lvsState) status() *LVSStatus {
	st := &LVSStatus{Ops: l.ops.Load(), Errors: l.errs.Load()}
	if w := l.settings.Load(); w != nil {
		st.Sysctls = *w
	}
	if e := l.lastErr.Load(); e != nil {
		st.LastError = *e
	}
	if t := l.lastSync.Load(); t != nil {
		st.LastSync = *t
	}
	if l.syncd != nil {
		st.SyncDaemon = l.syncd.status(l.d.cfg.LVS.SyncDaemon)
	}
	if l.model == nil {
		return st
	}
	programmed := l.activeTable()
	cfg := l.d.cfg
	for i := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[i]
		svc, err := lvsService(vs)
		if err != nil {
			continue
		}
		e := l.model.Table[svc.Key]
		q := l.model.Quorum[svc.Key]
		ss := ServiceStatus{Service: svc.Key.String(), Scheduler: vs.Scheduler, QuorumUp: q.Up, Sorry: q.Sorry}
		_, ss.Programmed = programmed[svc.Key]
		for _, rs := range vs.RealServers {
			r := RealServerStatus{Address: rs.Address, Healthy: true, Drained: l.drained[drainKey{svc.Key, rs.Address}]}
			for k, c := range rs.AllChecks() {
				h, ok := l.mon.Stats(healthcheck.ID{Service: checkService(vs.Address, vs.FWMark, vs.Protocol), Backend: rs.Address, Check: k})
				if !ok {
					continue
				}
				cs := CheckStatus{Index: k, Type: c.Type, Up: h.Up, Checks: h.Checks, Failures: h.Failures, LastDuration: h.LastDuration, Weight: h.Weight.String()}
				if h.LastErr != nil {
					cs.LastError = h.LastErr.Error()
				}
				r.Checked, r.Healthy = true, r.Healthy && h.Up
				r.Checks, r.CheckFailures, r.LastCheckDuration = r.Checks+h.Checks, r.CheckFailures+h.Failures, max(r.LastCheckDuration, h.LastDuration)
				if r.LastError == "" {
					r.LastError = cs.LastError
				}
				r.CheckList = append(r.CheckList, cs)
			}
			if e != nil {
				if dst, ok := e.Destinations[rs.Address]; ok {
					r.InTable, r.Weight = true, dst.Weight
				}
			}
			ss.RealServers = append(ss.RealServers, r)
		}
		st.Services = append(st.Services, ss)
	}
	return st
}

func (l *lvsState) addCounters(st *LVSStatus) {
	if st.SyncDaemon != nil {
		l.syncd.addRunning(st.SyncDaemon)
	}
	snap, ok := l.kernel.(interface {
		Snapshot() (lvs.Table, lvs.Stats, error)
	})
	if !ok {
		return
	}
	_, stats, err := snap.Snapshot()
	if err != nil {
		return
	}
	byName := map[string]*lvs.ServiceStats{}
	for k, v := range stats {
		byName[k.String()] = v
	}
	for i := range st.Services {
		ss := &st.Services[i]
		v := byName[ss.Service]
		if v == nil {
			continue
		}
		c := v.Counters
		ss.Counters = &c
		for j := range ss.RealServers {
			r := &ss.RealServers[j]
			if ds, ok := v.Dests[r.Address]; ok {
				dc := ds.Counters
				r.Counters, r.ActiveConns, r.InactiveConns = &dc, ds.ActiveConns, ds.InactiveConns
			}
		}
	}
}
