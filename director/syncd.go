package director

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hadirector/hadirector/config"
	"github.com/hadirector/hadirector/lvs"
	"github.com/hadirector/hadirector/vrrp"
)

// syncState drives the kernel's IPVS connection-sync daemons for [lvs.sync_daemon]: the
// master daemon while the followed instance is master, the backup daemon otherwise. The
// loop decides the role on every transition of that instance; a worker of its own does
// the netlink calls (never the loop: adverts do not wait), starting the new role's daemon
// before stopping the old one, retrying after errors and repairing drift (ipvsadm
// --stop-daemon) every syncCheck.
type syncState struct {
	d    *Director
	k    lvs.SyncDaemons
	kick chan struct{}
	want atomic.Pointer[syncWant]

	mu      sync.Mutex // one party at a time: the worker, shutdown
	stopped bool       // shut down: nothing is started any more
	ours    bool       // we may have daemons running
	role    lvs.SyncRole
	since   time.Time

	switches, errs atomic.Uint64
	lastErr        atomic.Pointer[string]
	cur            atomic.Pointer[syncSeen] // role and since, for status
}

// syncWant is what the loop asks for; a nil daemon means no sync (the table was removed
// by a reload, or the followed instance left the election).
type syncWant struct {
	instance string
	daemon   *lvs.SyncDaemon
}

type syncSeen struct {
	role  lvs.SyncRole
	since time.Time
}

// syncCheck is how often the worker re-reads the kernel's daemons.
const syncCheck = 10 * time.Second

func newSyncState(d *Director, k lvs.Kernel) *syncState {
	sk, ok := k.(lvs.SyncDaemons)
	if !ok {
		return nil
	}
	return &syncState{d: d, k: sk, kick: make(chan struct{}, 1)}
}

// follow recomputes the wanted daemon from the configuration and the followed instance's
// state (loop only).
func (s *syncState) follow() {
	w := &syncWant{}
	if c := s.d.cfg.LVS.SyncDaemon; c != nil {
		w.instance = c.Instance
		if in := s.d.byName[c.Instance]; in != nil {
			if role := syncRoleOf(in.m.State()); role != 0 {
				w.daemon = &lvs.SyncDaemon{Role: role, Interface: c.Interface, SyncID: uint8(c.SyncID), MaxLen: c.MaxLen,
					Group: c.Group, Port: uint16(c.Port), TTL: uint8(c.TTL)}
			}
		}
	}
	s.want.Store(w)
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// syncRoleOf is the daemon an instance in state st runs: a backup (or faulty) node
// receives, so that it has the table should it become master; a stopped one runs none.
func syncRoleOf(st vrrp.State) lvs.SyncRole {
	switch st {
	case vrrp.Master:
		return lvs.SyncMaster
	case vrrp.Backup, vrrp.Fault:
		return lvs.SyncBackup
	}
	return 0
}

func (s *syncState) run(ctx context.Context) {
	t := s.d.clock.NewTimer(syncCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-t.C():
		}
		next := syncCheck
		if err := s.apply(); err != nil {
			next = time.Second
		}
		t.Reset(next)
	}
}

// apply makes the kernel run what the loop last asked for.
func (s *syncState) apply() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.want.Load()
	if s.stopped || w == nil {
		return nil
	}
	var role lvs.SyncRole
	var err error
	if w.daemon == nil {
		if s.ours {
			var stopped []lvs.SyncRole
			stopped, err = lvs.StopSyncDaemons(s.k)
			for _, r := range stopped {
				s.d.log.Info("sync daemon stopped", "role", r.String())
			}
			s.ours = err != nil
		}
	} else {
		role = w.daemon.Role
		s.ours = true
		var changes []string
		changes, err = lvs.SetSyncRole(s.k, *w.daemon)
		for _, c := range changes {
			s.d.log.Info("sync daemon", "change", c)
		}
		if err == nil && role == s.role && len(changes) > 0 {
			s.d.log.Warn("sync daemons did not match the configuration; fixed", "role", role.String())
		}
	}
	if err != nil {
		s.errs.Add(1)
		msg := err.Error()
		s.lastErr.Store(&msg)
		s.d.log.Error("sync daemon", "role", role.String(), "err", err)
		return err
	}
	if role != s.role {
		s.d.log.Info("sync daemon role", "from", roleName(s.role), "to", roleName(role), "instance", w.instance)
		s.switches.Add(1)
		s.role, s.since = role, s.d.clock.Now()
		s.cur.Store(&syncSeen{role: s.role, since: s.since})
	}
	return nil
}

func roleName(r lvs.SyncRole) string {
	if r == 0 {
		return "none"
	}
	return r.String()
}

// stop stops both daemons for good (shutdown): the node no longer takes part.
func (s *syncState) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	if !s.ours {
		return
	}
	stopped, err := lvs.StopSyncDaemons(s.k)
	for _, r := range stopped {
		s.d.log.Info("sync daemon stopped", "role", r.String())
	}
	if err != nil {
		s.errs.Add(1)
		s.d.log.Error("sync daemon: stop", "err", err)
	}
	s.cur.Store(&syncSeen{})
}

// SyncDaemonStatus is the connection-sync side of the status.
type SyncDaemonStatus struct {
	Instance  string           `json:"instance"`
	Role      string           `json:"role"` // master | backup | none: what this node runs
	Since     time.Time        `json:"since,omitzero"`
	Running   []lvs.SyncDaemon `json:"running"` // as the kernel reports them
	Switches  uint64           `json:"switches"`
	Errors    uint64           `json:"errors"`
	LastError string           `json:"last_error,omitempty"`
}

// status describes the daemons (loop only); addRunning adds what the kernel runs, off
// the loop.
func (s *syncState) status(cfg *config.SyncDaemon) *SyncDaemonStatus {
	if cfg == nil && s.cur.Load() == nil {
		return nil
	}
	st := &SyncDaemonStatus{Role: "none", Switches: s.switches.Load(), Errors: s.errs.Load()}
	if cfg != nil {
		st.Instance = cfg.Instance
	}
	if c := s.cur.Load(); c != nil {
		st.Role, st.Since = roleName(c.role), c.since
	}
	if e := s.lastErr.Load(); e != nil {
		st.LastError = *e
	}
	return st
}

func (s *syncState) addRunning(st *SyncDaemonStatus) {
	running, err := s.k.Daemons()
	if err != nil {
		st.LastError = err.Error()
		return
	}
	st.Running = running
}
