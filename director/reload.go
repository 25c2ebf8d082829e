package director

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/hadirector/hadirector/config"
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
// On error nothing has changed unless the error says which instance failed to start.
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
	err, waitErr := onLoop(ctx, d, func(now time.Time) error { return d.reload(now, cfg, scripts) })
	if waitErr != nil {
		return fmt.Errorf("director: reload: %w", waitErr)
	}
	return err
}

func (d *Director) reload(now time.Time, cfg *config.Config, scripts []*trackScript) error {
	old := d.cfg
	for _, w := range restartOnly(old, cfg) {
		d.log.Warn("reload: setting changed; it takes effect at the next restart", "key", w)
	}
	if from, to := old.Mode(), cfg.Mode(); from != to {
		d.log.Info("reload: mode changed", "from", from, "to", to, "detail", to.Describe())
	}
	groupsChanged := !reflect.DeepEqual(old.SyncGroups, cfg.SyncGroups)
	inGroup := map[string]bool{}
	for _, g := range append(slices.Clone(old.SyncGroups), cfg.SyncGroups...) {
		for _, m := range g.Group {
			inGroup[m] = true
		}
	}

	// Build the new instances first: a failure here leaves everything as it was.
	next := map[string]*config.Instance{}
	for i := range cfg.Instances {
		next[cfg.Instances[i].Name] = &cfg.Instances[i]
	}
	var keep, stop []*instance
	var start []*instance
	for _, in := range d.instances {
		nc, ok := next[in.cfg.Name]
		if ok && sameIdentity(in.cfg, nc) && !(groupsChanged && inGroup[in.cfg.Name]) {
			keep = append(keep, in)
			continue
		}
		stop = append(stop, in)
	}
	for i := range cfg.Instances {
		nc := &cfg.Instances[i]
		if in := d.byName[nc.Name]; in != nil && slices.Contains(keep, in) {
			continue
		}
		in, err := newInstance(d, cfg, nc)
		if err != nil {
			return fmt.Errorf("director: reload: %w", err)
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
	d.instances = keep
	d.byName = map[string]*instance{}
	for _, in := range keep {
		d.byName[in.cfg.Name] = in
	}
	var errs []error
	for _, in := range start {
		if err := d.prepare(in); err != nil {
			in.close()
			errs = append(errs, err)
			continue
		}
		d.instances = append(d.instances, in)
		d.byName[in.cfg.Name] = in
	}
	// Keep the configuration's order (status, logs).
	order := map[string]int{}
	for i, c := range cfg.Instances {
		order[c.Name] = i
	}
	slices.SortFunc(d.instances, func(a, b *instance) int { return order[a.cfg.Name] - order[b.cfg.Name] })
	d.closeUnusedSockets()
	d.publishRx()
	d.buildGroups()

	if d.lvs == nil && len(cfg.VirtualServers) > 0 {
		l, err := openLVS(d)
		if err == nil {
			err = l.start(d.runCtx, &d.wg)
		}
		if err != nil {
			errs = append(errs, err)
		} else {
			d.lvs = l
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
		if slices.Contains(d.instances, in) {
			d.launch(now, in)
			d.log.Info("reload: instance started", "instance", in.cfg.Name)
		}
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
