package director

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/hadirector/hadirector/config"
	"github.com/hadirector/hadirector/lvs"
	"github.com/hadirector/hadirector/notify"
	"github.com/hadirector/hadirector/vrrp"
)

// Status is what `hadirector status` shows, served as JSON on the status socket and
// written to the log on SIGUSR1.
type Status struct {
	RouterID  string            `json:"router_id"`
	Version   string            `json:"version"`
	Config    string            `json:"config"`
	Mode      config.Mode       `json:"mode"` // "vrrp", or "standalone" without any vrrp_instance
	Started   time.Time         `json:"started"`
	Now       time.Time         `json:"now"`
	Reloads   int               `json:"reloads"`
	Instances []InstanceStatus  `json:"instances"`
	Groups    []GroupStatus     `json:"sync_groups,omitempty"`
	Drops     map[string]uint64 `json:"adverts_dropped"`
	LVS       *LVSStatus        `json:"lvs,omitempty"`
	BGP       *BGPStatus        `json:"bgp,omitempty"`
	Notify    notify.Stats      `json:"notify"`
}

// InstanceStatus is one VRRP instance.
type InstanceStatus struct {
	Name               string         `json:"name"`
	Interface          string         `json:"interface"`
	VRID               int            `json:"vrid"`
	Version            int            `json:"version"`
	State              string         `json:"state"`
	Priority           int            `json:"priority"`
	EffectivePriority  int            `json:"effective_priority"`
	Master             netip.Addr     `json:"master,omitzero"`
	MasterPriority     int            `json:"master_priority"`
	Since              time.Time      `json:"since"`
	Transitions        int            `json:"transitions"`
	VIPs               []netip.Prefix `json:"vips"`
	AdvertInterval     string         `json:"advert_interval"`
	MasterAdverInt     string         `json:"master_advert_interval"`
	MasterDownInterval string         `json:"master_down_interval"`
	AdvertsSent        uint64         `json:"adverts_sent"`
	AdvertsReceived    uint64         `json:"adverts_received"`
	AddrMismatch       uint64         `json:"address_list_mismatches"`
	SendErrors         uint64         `json:"send_errors"`
	GARPsSent          uint64         `json:"garps_sent"`
	VIPsRestored       uint64         `json:"vips_restored"` // deleted by someone else while master, and put back
	LowerMastersSeen   uint64         `json:"lower_masters_seen"`
	SplitBrain         bool           `json:"split_brain"` // master, and another master heard within Master_Down_Interval
}

// LVSStatus is the IPVS side: what this node programs, each real server's health, and
// the kernel's counters.
type LVSStatus struct {
	Ops       uint64          `json:"ops"`
	Errors    uint64          `json:"errors"`
	LastError string          `json:"last_error,omitempty"`
	LastSync  time.Time       `json:"last_sync,omitzero"`
	Sysctls   []lvs.Sysctl    `json:"sysctls,omitempty"` // the kernel settings this node applied as master, with reasons
	Services  []ServiceStatus `json:"services"`
	// SyncDaemon is the connection sync ([lvs.sync_daemon]); absent when not configured.
	SyncDaemon *SyncDaemonStatus `json:"sync_daemon,omitempty"`
}

// ServiceStatus is one virtual server.
type ServiceStatus struct {
	Service     string             `json:"service"`
	Scheduler   string             `json:"scheduler"`
	Programmed  bool               `json:"programmed"` // this node programs it (its master)
	QuorumUp    bool               `json:"quorum_up"`
	Sorry       bool               `json:"sorry_server_active"`
	Counters    *lvs.Counters      `json:"counters,omitempty"`
	RealServers []RealServerStatus `json:"real_servers"`
}

// RealServerStatus is one real server of a virtual server.
type RealServerStatus struct {
	Address           netip.AddrPort `json:"address"`
	Healthy           bool           `json:"healthy"`
	Checked           bool           `json:"checked"`
	LastError         string         `json:"last_error,omitempty"`
	Checks            uint64         `json:"checks"`
	CheckFailures     uint64         `json:"check_failures"`
	LastCheckDuration time.Duration  `json:"last_check_duration_ns"`
	Weight            int            `json:"weight"`   // desired weight (0: down with inhibit_on_failure, or drained)
	InTable           bool           `json:"in_table"` // in the desired table
	Drained           bool           `json:"drained"`
	ActiveConns       uint64         `json:"active_conns"`
	InactiveConns     uint64         `json:"inactive_conns"`
	Counters          *lvs.Counters  `json:"counters,omitempty"`
	// CheckList is each check of the real server (its check, then its checks), in
	// order; the fields above add them up (healthy: all up).
	CheckList []CheckStatus `json:"check_list,omitempty"`
}

// CheckStatus is one health check of a real server.
type CheckStatus struct {
	Index        int           `json:"index"` // the `check` label of the metrics
	Type         string        `json:"type"`
	Up           bool          `json:"up"`
	Checks       uint64        `json:"checks"`
	Failures     uint64        `json:"failures"`
	LastError    string        `json:"last_error,omitempty"`
	LastDuration time.Duration `json:"last_duration_ns"`
	Weight       string        `json:"weight"` // what its last pass said: configured, an absolute weight or an offset
}

// GroupStatus is one sync group.
type GroupStatus struct {
	Name    string   `json:"name"`
	State   string   `json:"state"`
	Members []string `json:"members"`
}

// Status builds a snapshot on the loop goroutine (the only one that may read the
// machines); it waits at most until ctx ends or the director stops.
func (d *Director) Status(ctx context.Context) (*Status, error) {
	s, err := onLoop(ctx, d, d.snapshot)
	if err != nil {
		return nil, fmt.Errorf("director: status: %w", err)
	}
	if s.LVS != nil {
		d.lvs.addCounters(s.LVS)
	}
	return s, nil
}

func (d *Director) snapshot(now time.Time) *Status {
	s := &Status{RouterID: d.cfg.Global.RouterID, Version: d.version, Config: d.path, Mode: d.cfg.Mode(), Started: d.started, Now: now,
		Reloads: d.reloads, Drops: d.Drops(), Notify: d.notify.Stats()}
	for _, in := range d.instances {
		ip, prio := in.m.Master()
		s.Instances = append(s.Instances, InstanceStatus{
			Name: in.cfg.Name, Interface: in.cfg.Interface, VRID: in.cfg.VirtualRouterID, Version: in.cfg.Version,
			State: in.m.State().String(), Priority: in.cfg.Priority, EffectivePriority: int(in.m.Priority()),
			Master: ip, MasterPriority: int(prio), Since: in.m.Since(), Transitions: in.transitions,
			VIPs: in.sp.vips, AdvertInterval: in.cfg.AdvertInt.String(), MasterAdverInt: in.m.MasterAdverInterval().String(),
			MasterDownInterval: in.m.MasterDownInterval().String(),
			AdvertsSent:        in.stats.sent.Load(), AdvertsReceived: in.stats.received.Load(),
			AddrMismatch: in.stats.addrMismatch.Load(), SendErrors: in.stats.sendErrors.Load(),
			GARPsSent: in.stats.garps.Load(), LowerMastersSeen: in.stats.lowerMasters.Load(), VIPsRestored: in.stats.restored.Load(),
			SplitBrain: in.m.State() == vrrp.Master && !in.lastLowerMaster.IsZero() && now.Sub(in.lastLowerMaster) < in.m.MasterDownInterval(),
		})
	}
	if d.lvs != nil {
		s.LVS = d.lvs.status()
	}
	if d.bgp != nil {
		s.BGP = d.bgp.status()
	}
	for _, g := range d.groups {
		gs := GroupStatus{Name: g.cfg.Name, State: g.notified.String()}
		for _, in := range g.members {
			gs.Members = append(gs.Members, in.cfg.Name)
		}
		s.Groups = append(s.Groups, gs)
	}
	return s
}

// serveStatus answers on a unix socket (mode 0600: it exposes the topology and will take
// commands): GET /status returns the JSON Status.
func (d *Director) serveStatus(ctx context.Context, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("director: status socket: %w", err)
	}
	// A socket file left by a killed run would make Listen fail; it is ours to replace,
	// but only if nobody answers on it.
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("director: status socket %s: another hadirector is running", path)
	}
	l, err := listenPrivate(path)
	if err != nil {
		return fmt.Errorf("director: status socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		s, err := d.Status(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(s)
	})
	// POST /drain and /undrain ?vs=VIP:PORT&rs=RIP:PORT: weight 0 at run time. Without
	// vs and rs: the whole director leaves (or rejoins) its BGP routers.
	for _, verb := range []string{"drain", "undrain"} {
		mux.HandleFunc("POST /"+verb, func(w http.ResponseWriter, r *http.Request) {
			if q := r.URL.Query(); !q.Has("vs") && !q.Has("rs") {
				if err := d.DrainBGP(r.Context(), verb == "drain"); err != nil {
					http.Error(w, err.Error(), http.StatusNotFound)
					return
				}
				fmt.Fprintf(w, "%sed this director's BGP announcements\n", verb)
				return
			}
			vs, err1 := netip.ParseAddrPort(r.URL.Query().Get("vs"))
			rs, err2 := netip.ParseAddrPort(r.URL.Query().Get("rs"))
			if err := errors.Join(err1, err2); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if err := d.Drain(r.Context(), vs, rs, verb == "drain"); err != nil {
				http.Error(w, err.Error(), http.StatusNotFound)
				return
			}
			fmt.Fprintf(w, "%sed %s on %s\n", verb, rs, vs)
		})
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer os.Remove(path)
		if err := serveHTTP(ctx, l, mux); err != nil {
			d.log.Error("status socket", "err", err)
		}
	}()
	return nil
}

// serveHTTP serves h on l until ctx ends, then closes the server and returns once its
// handlers have returned, so nothing of the server runs on after the director stops.
func serveHTTP(ctx context.Context, l net.Listener, h http.Handler) error {
	var hs handlers
	srv := &http.Server{Handler: hs.wrap(h), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	var err error
	select {
	case <-ctx.Done():
		srv.Close()
		err = <-served
	case err = <-served:
		srv.Close()
	}
	// http.Server.Close does not wait for the handlers it interrupts.
	hs.close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// handlers counts the requests being handled; once closed it refuses new ones, so the
// wait cannot race with a request that arrives as the server closes.
type handlers struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func (hs *handlers) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hs.mu.Lock()
		if hs.closed {
			hs.mu.Unlock()
			http.Error(w, errStopped.Error(), http.StatusServiceUnavailable)
			return
		}
		hs.wg.Add(1)
		hs.mu.Unlock()
		defer hs.wg.Done()
		h.ServeHTTP(w, r)
	})
}

func (hs *handlers) close() {
	hs.mu.Lock()
	hs.closed = true
	hs.mu.Unlock()
	hs.wg.Wait()
}

// listenPrivate listens on a unix socket at path that only its owner (root) can connect
// to. The socket is bound under a temporary name, set to 0600 and then renamed into place,
// so it never appears at path with the mode the umask gives (0777 under umask 0), not
// even for an instant. A file already at path is replaced.
func listenPrivate(path string) (net.Listener, error) {
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	os.Remove(tmp)
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, err
	}
	// Close must not unlink: the name it knows is the temporary one, gone after the
	// rename; the caller removes path.
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, err
	}
	return l, nil
}

// LogStatus writes the status to the log (SIGUSR1, as keepalived users expect a dump).
func (d *Director) LogStatus(ctx context.Context) {
	s, err := d.Status(ctx)
	if err != nil {
		d.log.Error("status dump", "err", err)
		return
	}
	d.log.Info("status", "mode", s.Mode, "instances", len(s.Instances))
	for _, in := range s.Instances {
		d.log.Info("status", "instance", in.Name, "state", in.State, "priority", in.Priority,
			"effective_priority", in.EffectivePriority, "master", in.Master, "since", in.Since,
			"transitions", in.Transitions, "vips", in.VIPs, "adverts_sent", in.AdvertsSent, "adverts_received", in.AdvertsReceived)
	}
	drops := make([]string, 0, len(s.Drops))
	for r := range s.Drops {
		drops = append(drops, r)
	}
	sort.Strings(drops)
	for _, r := range drops {
		d.log.Info("status", "dropped", r, "count", s.Drops[r])
	}
	if l := s.LVS; l != nil {
		d.log.Info("status", "ipvs_ops", l.Ops, "ipvs_errors", l.Errors, "ipvs_last_error", l.LastError)
		if sd := l.SyncDaemon; sd != nil {
			d.log.Info("status", "sync_daemon_instance", sd.Instance, "sync_daemon_role", sd.Role, "since", sd.Since,
				"running", len(sd.Running), "switches", sd.Switches, "errors", sd.Errors, "last_error", sd.LastError)
		}
		for _, vs := range l.Services {
			d.log.Info("status", "service", vs.Service, "programmed", vs.Programmed, "quorum_up", vs.QuorumUp, "sorry", vs.Sorry)
			for _, rs := range vs.RealServers {
				d.log.Info("status", "service", vs.Service, "backend", rs.Address, "healthy", rs.Healthy, "weight", rs.Weight,
					"in_table", rs.InTable, "drained", rs.Drained, "active_conns", rs.ActiveConns, "inactive_conns", rs.InactiveConns)
			}
		}
	}
	d.log.Info("status", "notify_ran", s.Notify.Ran, "notify_failed", s.Notify.Failed, "notify_dropped", s.Notify.Dropped)
}

// Drain sets a real server's weight to 0 (on) or back (off) at run time, without a
// reload; it is kept across reloads until undrained.
func (d *Director) Drain(ctx context.Context, vs, rs netip.AddrPort, on bool) error {
	err, waitErr := onLoop(ctx, d, func(time.Time) error {
		if d.lvs == nil {
			return errors.New("no virtual servers are configured")
		}
		return d.lvs.drain(vs, rs, on)
	})
	if waitErr != nil {
		return fmt.Errorf("director: drain: %w", waitErr)
	}
	if err == nil {
		d.log.Info("drain", "service", vs, "backend", rs, "drained", on)
	}
	return err
}
