package director

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hadirector/hadirector/config"
	"github.com/hadirector/hadirector/vip"
	"github.com/hadirector/hadirector/vrrp"
)

// Reload applies a new, already validated configuration without disruption: an instance
// whose identity (interface, VRID, version, family, vmac, unicast set-up, authentication,
// ownership, sync group) is unchanged keeps its state, timers and VIPs — no re-election,
// no GARP — and takes the rest in place (priority, interval, preempt, VIP list, hooks,
// tracking, GARP settings); a changed VIP list moves just those addresses. Instances that
// appear are started, those that go are stopped as on shutdown, and one whose identity
// changed is stopped and started again.
//
// The loop sends the adverts, so it only plans and swaps: the host work for the instances
// that start (vmacs, stale VIPs, sockets, announcers) and for IPVS (the module, the
// withdrawal of a previous run's services) is done here, off the loop, between the two.
// If that fails, what was prepared is released and nothing has changed.
func (d *Director) Reload(ctx context.Context, cfg *config.Config) error {
	if err := cfg.Runnable(d.path); err != nil {
		return fmt.Errorf("director: reload: %w", err)
	}
	if err := checkHooks(cfg); err != nil {
		return err
	}
	if len(cfg.Hooks()) > 0 {
		if err := d.notify.ResolveUser(); err != nil {
			return err
		}
	}
	scripts, err := d.newScripts(cfg)
	if err != nil {
		return err
	}
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	p, err := onLoop(ctx, d, func(time.Time) *reloadPlan { return d.planReload(cfg) })
	if err != nil {
		return fmt.Errorf("director: reload: %w", err)
	}
	pr, err := d.prepareReload(cfg, p)
	if err != nil {
		pr.release()
		return fmt.Errorf("director: reload: %w", err)
	}
	err, waitErr := onLoop(ctx, d, func(now time.Time) error {
		if !pr.claimed.CompareAndSwap(false, true) {
			return errGaveUp // the caller released it
		}
		return d.reload(now, cfg, scripts, pr)
	})
	if waitErr != nil {
		if pr.claimed.CompareAndSwap(false, true) {
			pr.release()
		}
		return fmt.Errorf("director: reload: %w", waitErr)
	}
	return err
}

var errGaveUp = errors.New("the reload gave up")

// reloadPlan is what a reload prepares off the loop, and what prepare needs to know of
// the running instances.
type reloadPlan struct {
	start   map[string]bool // instances to build: new, or restarted
	host    hostPrep        // without socks
	openLVS bool
}

// prepared is what a reload made ready off the loop, handed to the loop whole (or
// released by the reload, whichever claims it).
type prepared struct {
	claimed atomic.Bool
	ins     map[string]*instance
	socks   map[sockKey]*sock
	lvs     *lvsState
}

func (p *prepared) release() {
	for _, in := range p.ins {
		in.close()
	}
	for _, s := range p.socks {
		s.conn.Close()
	}
	if p.lvs != nil {
		p.lvs.kernel.Close()
	}
}

// planReload is the loop's part before the host work: which instances start (loop only).
func (d *Director) planReload(cfg *config.Config) *reloadPlan {
	keep, _, _ := d.diff(cfg)
	p := &reloadPlan{start: map[string]bool{}, openLVS: d.lvs == nil && len(cfg.VirtualServers) > 0,
		host: hostPrep{held: map[string]map[netip.Addr]bool{}, routes: map[vip.Route]bool{}, rules: map[vip.Rule]bool{}, open: map[sockKey]Conn{}}}
	for i := range cfg.Instances {
		if in := d.byName[cfg.Instances[i].Name]; in == nil || !slices.Contains(keep, in) {
			p.start[cfg.Instances[i].Name] = true
		}
	}
	for _, in := range d.instances {
		for _, r := range in.sp.routes {
			p.host.routes[r] = true
		}
		for _, r := range in.sp.rules {
			p.host.rules[r] = true
		}
		for ifname, vips := range held(in.sp.sets) {
			h := p.host.held[ifname]
			if h == nil {
				h = map[netip.Addr]bool{}
				p.host.held[ifname] = h
			}
			for _, v := range vips {
				h[v.Addr().Unmap()] = true
			}
		}
	}
	for k, s := range d.socks {
		p.host.open[k] = s.conn
	}
	return p
}

// prepareReload builds and prepares the instances p starts, and opens IPVS if the
// configuration brings the first virtual server (off the loop). On error the caller
// releases what it returns.
func (d *Director) prepareReload(cfg *config.Config, p *reloadPlan) (*prepared, error) {
	pr := &prepared{ins: map[string]*instance{}, socks: map[sockKey]*sock{}}
	hp := p.host
	hp.socks = pr.socks
	for i := range cfg.Instances {
		nc := &cfg.Instances[i]
		if !p.start[nc.Name] {
			continue
		}
		in, err := newInstance(d, cfg, nc)
		if err != nil {
			return pr, err
		}
		pr.ins[nc.Name] = in
		if err := d.prepareFn(in, &hp); err != nil {
			return pr, err
		}
	}
	if p.openLVS {
		l, err := openLVS(d, cfg)
		if err != nil {
			return pr, err
		}
		pr.lvs = l
		if err := l.prime(d.runCtx, cfg); err != nil {
			return pr, err
		}
	}
	return pr, nil
}

// diff sorts the running instances into those cfg keeps and those it stops; next is cfg's
// instances by name (loop only).
func (d *Director) diff(cfg *config.Config) (keep, stop []*instance, next map[string]*config.Instance) {
	groupsChanged := !reflect.DeepEqual(d.cfg.SyncGroups, cfg.SyncGroups)
	inGroup := map[string]bool{}
	for _, g := range append(slices.Clone(d.cfg.SyncGroups), cfg.SyncGroups...) {
		for _, m := range g.Group {
			inGroup[m] = true
		}
	}
	next = map[string]*config.Instance{}
	for i := range cfg.Instances {
		next[cfg.Instances[i].Name] = &cfg.Instances[i]
	}
	for _, in := range d.instances {
		nc, ok := next[in.cfg.Name]
		if ok && sameIdentity(in.cfg, nc) && !(groupsChanged && inGroup[in.cfg.Name]) {
			keep = append(keep, in)
			continue
		}
		stop = append(stop, in)
	}
	return keep, stop, next
}

// reload swaps the prepared instances in and stops those that go (loop only; quick).
func (d *Director) reload(now time.Time, cfg *config.Config, scripts []*trackScript, pr *prepared) error {
	old := d.cfg
	for _, w := range restartOnly(old, cfg) {
		d.log.Warn("reload: setting changed; it takes effect at the next restart", "key", w)
	}
	if from, to := old.Mode(), cfg.Mode(); from != to {
		d.log.Info("reload: mode changed", "from", from, "to", to, "detail", to.Describe())
	}
	keep, stop, next := d.diff(cfg)
	var start []*instance
	for i := range cfg.Instances {
		nc := &cfg.Instances[i]
		if in := d.byName[nc.Name]; in != nil && slices.Contains(keep, in) {
			continue
		}
		in := pr.ins[nc.Name]
		if in == nil {
			// Cannot happen: reloads are serialized, and only they change the instances.
			pr.release()
			return fmt.Errorf("director: reload: instance %s was not prepared", nc.Name)
		}
		start = append(start, in)
	}

	// Stop what goes, as on shutdown: priority 0 from a master, VIPs removed. Nothing
	// here waits: a restarted instance's effects wait for the old ones instead.
	stopped := map[string]*instance{}
	for _, in := range stop {
		d.act(now, in, in.m.Step(now, vrrp.Event{Kind: vrrp.EvShutdown}))
		in.gone = true
		in.effects.close()
		stopped[in.cfg.Name] = in
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			<-in.effects.done
			in.close()
		}()
		d.log.Info("reload: instance stopped", "instance", in.cfg.Name)
	}
	for _, in := range start {
		if old := stopped[in.cfg.Name]; old != nil {
			in.effects.after = old.effects.done
		}
	}

	// Take the new settings in place.
	for _, in := range keep {
		nc := next[in.cfg.Name]
		if reflect.DeepEqual(in.cfg, nc) {
			in.cfg = nc
			in.sp = newSpec(nc)
			continue
		}
		oldSpec := in.sp
		in.cfg, in.sp = nc, newSpec(nc)
		in.m.Reconfigure(now, machineConfig(nc, in.src, preemptWait(cfg, nc.Name)))
		// The worker moves the VIPs that changed (if master) and takes the new hooks and
		// GARP settings for what follows.
		in.effects.push(effect{kind: effReconfigure, sp: in.sp, at: now})
		d.log.Info("reload: instance updated in place", "instance", nc.Name, "state", in.m.State().String(),
			"vips_changed", !slices.Equal(oldSpec.vips, in.sp.vips))
	}

	d.cfg = cfg
	d.reloads++
	d.instances = append(keep, start...)
	d.byName = map[string]*instance{}
	for _, in := range d.instances {
		d.byName[in.cfg.Name] = in
	}
	// Keep the configuration's order (status, logs).
	order := map[string]int{}
	for i, c := range cfg.Instances {
		order[c.Name] = i
	}
	slices.SortFunc(d.instances, func(a, b *instance) int { return order[a.cfg.Name] - order[b.cfg.Name] })
	for k, s := range pr.socks {
		d.socks[k] = s
		d.startReceiver(s)
	}
	d.closeUnusedSockets()
	d.publishRx()
	d.buildGroups()

	var errs []error
	if pr.lvs != nil {
		d.lvs = pr.lvs
		d.lvs.start(d.runCtx, &d.wg)
		if cfg.Mode() != config.ModeStandalone { // start has published
			// A master programs the new services now, not at its next transition.
			d.lvs.publish()
		}
	} else if d.lvs != nil {
		if err := d.lvs.reload(now, cfg); err != nil {
			errs = append(errs, err)
		}
	}
	if !reflect.DeepEqual(old.Scripts, cfg.Scripts) || !reflect.DeepEqual(old.TrackFiles, cfg.TrackFiles) {
		d.scripts = scripts
		d.files = d.newTrackFiles(cfg)
		d.startScripts()
	}
	for _, in := range keep {
		d.applyTracking(now, in)
	}
	for _, in := range start {
		d.launch(now, in)
		d.log.Info("reload: instance started", "instance", in.cfg.Name)
	}
	return errors.Join(errs...)
}

// sameIdentity reports whether a reloaded instance is still the same virtual router
// as far as the wire and the host are concerned.
func sameIdentity(a, b *config.Instance) bool {
	return a.Interface == b.Interface && a.VirtualRouterID == b.VirtualRouterID && a.Version == b.Version &&
		a.Family() == b.Family() && a.VMAC() == b.VMAC() && a.UnicastSrcIP == b.UnicastSrcIP &&
		slices.Equal(a.UnicastPeer, b.UnicastPeer) && a.AuthPass == b.AuthPass &&
		a.OldUnicastChecksum == b.OldUnicastChecksum &&
		(a.Priority == vrrp.PriorityOwner) == (b.Priority == vrrp.PriorityOwner)
}

// restartOnly lists changed settings that a running daemon does not take on reload.
func restartOnly(a, b *config.Config) []string {
	var out []string
	ga, gb := a.Global, b.Global
	for _, c := range []struct {
		key     string
		changed bool
	}{
		{"global.status_socket", ga.StatusSocket != gb.StatusSocket},
		{"global.metrics_listen", ga.MetricsListen != gb.MetricsListen},
		{"global.log_format", ga.LogFormat != gb.LogFormat},
		{"global.notify_timeout", ga.NotifyTimeout != gb.NotifyTimeout},
		{"global.notify_fifo", ga.NotifyFIFO != gb.NotifyFIFO},
		{"global.script_user", ga.ScriptUser != gb.ScriptUser},
		{"global.enable_script_security", ga.EnableScriptSecurity != gb.EnableScriptSecurity},
		{"global.realtime_priority", ga.RealtimePriority != gb.RealtimePriority},
		{"global.lock_memory", ga.LockMemory != gb.LockMemory},
		{"bgp", !reflect.DeepEqual(a.BGP, b.BGP)},
	} {
		if c.changed {
			out = append(out, c.key)
		}
	}
	return out
}

// closeUnusedSockets closes the sockets no instance uses any more; their receivers end.
func (d *Director) closeUnusedSockets() {
	for key, s := range d.socks {
		used := false
		for _, in := range d.instances {
			used = used || in.sockKey() == key
		}
		if !used {
			s.conn.Close()
			delete(d.socks, key)
		}
	}
}
