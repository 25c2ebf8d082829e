package director

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hadirector/hadirector/config"
	"github.com/hadirector/hadirector/healthcheck"
	"github.com/hadirector/hadirector/internal/kaformat"
)

// linkState follows interface state through netlink link updates: an instance whose
// interface loses its link goes to Fault, and tracked interfaces change its priority.
type linkState struct {
	d  *Director
	mu sync.Mutex
	up map[string]bool
}

func newLinkState(d *Director) *linkState { return &linkState{d: d, up: map[string]bool{}} }

func (ls *linkState) isUp(name string) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	up, known := ls.up[name]
	return up || !known && ls.probe(name)
}

// probe reads a link we have no update for yet; the caller holds mu.
func (ls *linkState) probe(name string) bool {
	up, err := ls.d.ifaces.LinkUp(name)
	ls.up[name] = up && err == nil
	return ls.up[name]
}

func (ls *linkState) start(ctx context.Context, wg *sync.WaitGroup) error {
	run, err := ls.d.ifaces.WatchLinks(ctx, ls.changed, func(err error) {
		if ctx.Err() == nil {
			ls.d.log.Error("netlink link updates", "err", err)
		}
	})
	if err != nil {
		return fmt.Errorf("director: subscribe to link updates: %w", err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); run() }()
	return nil
}

// changed takes a link update: a change of state retracks every instance.
func (ls *linkState) changed(name string, up bool) {
	ls.mu.Lock()
	was, known := ls.up[name]
	ls.up[name] = up
	ls.mu.Unlock()
	if known && was == up {
		return
	}
	ls.d.log.Info("link state", "interface", name, "up", up)
	ls.d.postWait(func(now time.Time) {
		for _, in := range ls.d.instances {
			ls.d.applyTracking(now, in)
		}
	})
}

// trackScript runs one vrrp_script and records its rise/fall state.
type trackScript struct {
	d       *Director
	cfg     config.VRRPScript
	check   checker
	mu      sync.Mutex
	tracker *healthcheck.Tracker
}

func (ts *trackScript) ok() bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.tracker.Up()
}

// checker runs a track script (healthcheck.Exec).
type checker interface {
	Check(ctx context.Context) error
}

func (ts *trackScript) run(ctx context.Context) {
	interval := ts.cfg.Interval.Std()
	t := ts.d.clock.NewTimer(interval)
	defer t.Stop()
	for {
		err := ts.check.Check(ctx)
		if ctx.Err() != nil {
			return
		}
		ts.mu.Lock()
		changed := ts.tracker.Observe(err == nil)
		up := ts.tracker.Up()
		ts.mu.Unlock()
		if changed {
			ts.d.log.Info("track script", "script", ts.cfg.Name, "ok", up, "err", err)
			ts.d.postWait(func(now time.Time) {
				for _, in := range ts.d.instances {
					ts.d.applyTracking(now, in)
				}
				ts.d.bgpChanged(now)
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			t.Reset(interval) // a ticker's schedule: the next check is due interval after this one
		}
	}
}

// applyTracking recomputes an instance's fault and effective priority from its
// interface, tracked interfaces and tracked scripts, as keepalived does: weight 0 means
// Fault on failure; a negative weight is added while failing, a positive one while OK.
func (d *Director) applyTracking(now time.Time, in *instance) {
	fault := !d.links.isUp(in.cfg.Interface)
	reason := ""
	if fault {
		reason = "interface " + in.cfg.Interface + " down"
	}
	prio := in.cfg.Priority
	ifs, files, scripts := in.cfg.TrackInterface, in.cfg.TrackFile, in.cfg.TrackScript
	if in.group != nil { // a sync group's trackers move every member
		ifs = slices.Concat(ifs, in.group.cfg.TrackInterface)
		files = slices.Concat(files, in.group.cfg.TrackFile)
		scripts = slices.Concat(scripts, in.group.cfg.TrackScript)
	}
	for _, ti := range ifs {
		if delta, faulty := trackEffect(d.links.isUp(ti.Name), ti.Weight, ti.Reverse); faulty {
			fault, reason = true, trackedDown(ti)
		} else {
			prio += delta
		}
	}
	for _, ref := range files {
		tf := d.trackFile(ref.Name)
		if tf == nil {
			continue
		}
		v := tf.value.Load()
		if delta, faulty := trackFileEffect(v, ref.WeightOr(tf.cfg.Weight), ref.Reverse); faulty {
			fault, reason = true, fmt.Sprintf("track file %s holds %d", ref.Name, v)
		} else {
			prio += delta
		}
	}
	for _, ref := range scripts {
		ts := d.script(ref.Name)
		if ts == nil {
			continue
		}
		if delta, faulty := trackEffect(ts.ok(), ref.WeightOr(ts.cfg.Weight), ref.Reverse); faulty {
			fault, reason = true, "track script "+ref.Name+" failed"
			if ref.Reverse {
				reason = "track script " + ref.Name + " passed (reverse)"
			}
		} else {
			prio += delta
		}
	}
	if !fault {
		reason = "tracking ok"
	}
	if in.cfg.Priority < 255 {
		d.step(now, in, vrrpPriority(prio))
	}
	d.step(now, in, vrrpFault(fault, reason))
}

// trackEffect is what a tracked item (interface, script) that is ok or not does to an
// instance that tracks it with weight w, as keepalived 2.2.7 does (vrrp_track.c):
// weight 0 means FAULT while it fails; a positive weight is added while it is ok, a
// negative one while it fails. reverse (weight w reverse) multiplies the weight by -1
// under the same conditions, and with weight 0 means FAULT while it is ok.
func trackEffect(ok bool, w int, reverse bool) (delta int, fault bool) {
	m := 1
	if reverse {
		m = -1
	}
	switch {
	case w == 0:
		return 0, ok == reverse
	case w > 0 && ok, w < 0 && !ok:
		return w * m, false
	}
	return 0, false
}

// trackedDown is the fault reason of a tracked interface of weight 0 that counts as down.
func trackedDown(ti config.TrackInterface) string {
	if ti.Reverse {
		return "tracked interface " + ti.Name + " up (reverse)"
	}
	return "tracked interface " + ti.Name + " down"
}

func (d *Director) script(name string) *trackScript {
	for _, ts := range d.scripts {
		if ts.cfg.Name == name {
			return ts
		}
	}
	return nil
}

// startScripts runs the configured track scripts and track files until the next
// startScripts (a reload that changed them) or the end of Run.
func (d *Director) startScripts() {
	if d.stopScripts != nil {
		d.stopScripts()
	}
	ctx, cancel := context.WithCancel(d.runCtx)
	d.stopScripts = cancel
	for _, ts := range d.scripts {
		d.wg.Add(1)
		go func() { defer d.wg.Done(); ts.run(ctx) }()
	}
	for _, tf := range d.files {
		tf.read()
		d.wg.Add(1)
		go func() { defer d.wg.Done(); tf.run(ctx) }()
	}
}

func (d *Director) trackFile(name string) *trackFile {
	for _, tf := range d.files {
		if tf.cfg.Name == name {
			return tf
		}
	}
	return nil
}

// trackFile follows one vrrp_track_file: the number in it moves the priority of the
// instances that track it. Polled twice a second — cheap, and an operator's echo into
// the file takes effect at once for practical purposes.
type trackFile struct {
	d     *Director
	cfg   config.TrackFile
	value atomic.Int64
}

// trackFileEffect is what a track file holding v does to an instance with weight w, as
// in keepalived 2.2.7 (track_file.c, vrrp_track.c): with weight 0 a non-zero number
// means FAULT (reverse: 0 means FAULT); otherwise v × w (negated by reverse), kept
// within -254..253, is added to the priority, and -254 (so any product of -254 or less)
// means FAULT.
func trackFileEffect(v int64, w int, reverse bool) (delta int, fault bool) {
	if w == 0 {
		return 0, (v != 0) != reverse
	}
	if reverse {
		w = -w
	}
	p := min(max(v*int64(w), -254), 253) // |v| < 2^32 and |w| ≤ 254: no overflow
	if p == -254 {
		return 0, true
	}
	return int(p), false
}

// read reloads the number and reports whether it changed. Missing, empty or unreadable
// counts as 0, as in keepalived; a number keepalived would refuse leaves the value as it
// was.
func (tf *trackFile) read() bool {
	var v int64
	if b, err := os.ReadFile(tf.cfg.File); err == nil {
		var ok bool
		if v, ok = parseTrackFile(b); !ok {
			return false
		}
	}
	return tf.value.Swap(v) != v
}

// parseTrackFile reads a track file's number as keepalived does with strtol(buf, NULL,
// 0) on its first 127 bytes. ok is false for a number outside keepalived's range (int32,
// or 2^31), which keepalived ignores.
func parseTrackFile(b []byte) (v int64, ok bool) {
	v, ok = kaformat.Long(string(b[:min(len(b), 127)]))
	if !ok || v < -(1<<31) || v > 1<<31 {
		return 0, false
	}
	return v, true
}

// trackFilePoll is how often a track file is read.
const trackFilePoll = 500 * time.Millisecond

func (tf *trackFile) run(ctx context.Context) {
	t := tf.d.clock.NewTimer(trackFilePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			t.Reset(trackFilePoll)
		}
		if tf.read() {
			tf.d.log.Info("track file", "file", tf.cfg.File, "name", tf.cfg.Name, "value", tf.value.Load())
			tf.d.postWait(func(now time.Time) {
				for _, in := range tf.d.instances {
					tf.d.applyTracking(now, in)
				}
				tf.d.bgpChanged(now)
			})
		}
	}
}
