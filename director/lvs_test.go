package director

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hadirector/hadirector/lvs"
)

// standalone is a configuration New accepts without touching the host: virtual servers
// only, no status socket.
const standalone = "[global]\nrouter_id = \"a\"\nstatus_socket = \"\"\n" + modeServices

func newTestDirector(t *testing.T, src string, log *slog.Logger) *Director {
	t.Helper()
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d, err := New(Options{Config: parse(t, src), StateDir: t.TempDir(), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// withFakeLVS gives d the IPVS side Run would open, on an in-memory kernel and with
// sysctl writes recorded instead of made.
func withFakeLVS(t *testing.T, d *Director) (*lvsState, *lvs.Fake) {
	t.Helper()
	k := lvs.NewFake()
	d.sysctls = &sysctlRecorder{}
	l := newLVSState(d, k)
	if err := l.configure(d.cfg); err != nil {
		t.Fatal(err)
	}
	l.recompute(time.Now())
	d.lvs = l
	return l, k
}

// TestSysctlsDuringReload: a worker programs the table of a new master — kernel settings
// first — while a reload replaces the configuration on the loop. The worker takes the
// settings from its snapshot; it read the configuration, which the reload was writing
// (a data race: run under -race). The race detector can miss accesses that happen at the
// same instant, so the scene is played a few times.
func TestSysctlsDuringReload(t *testing.T) {
	for range 8 {
		sysctlsDuringReload(t)
	}
}

func sysctlsDuringReload(t *testing.T) {
	d := newTestDirector(t, standalone, nil)
	l, k := withFakeLVS(t, d)
	rec := &sysctlRecorder{}
	d.sysctls = rec
	s := l.snapshot() // standalone: every service is active, the master's settings apply
	if s == nil || !s.master {
		t.Fatalf("snapshot %+v, want a master's", s)
	}
	done := make(chan error, 1)
	go func() { done <- l.sync(context.Background(), s, false) }() // as an effects worker does

	// The loop meanwhile: a reload that changes the NAT setting the sysctls depend on.
	nat := strings.Replace(standalone, `address = "192.0.2.11:80"`, "address = \"192.0.2.11:80\"\n  forwarding = \"nat\"", 1)
	cfg := parse(t, nat)
	scripts, err := d.newScripts(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.reload(time.Now(), cfg, scripts, &prepared{}); err != nil {
		t.Fatal(err)
	}

	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("sync did not return")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	wrote := rec.wrote
	if len(wrote) != 1 {
		t.Fatalf("sysctls written %d times, want once", len(wrote))
	}
	var names []string
	for _, w := range wrote[0] {
		names = append(names, w.Name+"="+w.Value)
	}
	// The snapshot's: the configuration before the reload (DR, no forwarding).
	if want := []string{lvs.SysctlExpireNodestConn + "=1"}; !slices.Equal(names, want) {
		t.Errorf("sysctls written %v, want %v", names, want)
	}
	if got, err := k.Services(); err != nil || len(got) != 4 {
		t.Errorf("kernel has %d services (%v), want 4", len(got), err)
	}
	// The reload's snapshot carries the new configuration's settings.
	if p := l.latest.Load().sysctls; p == nil || !slices.ContainsFunc(p.want, func(s lvs.Sysctl) bool { return s.Name == lvs.SysctlIPv4Forward }) {
		t.Errorf("snapshot after the reload: sysctls %+v, want ip_forward for NAT", p)
	}
}

// sysctlRecorder is Sysctls that records the LVS settings written instead of writing them.
type sysctlRecorder struct {
	mu    sync.Mutex
	wrote [][]lvs.Sysctl
}

func (r *sysctlRecorder) ApplySysctls(want []lvs.Sysctl) ([]lvs.SysctlChange, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wrote = append(r.wrote, want)
	return nil, nil
}

func (r *sysctlRecorder) IPv6Forwarding(string) (bool, error)  { return false, nil }
func (r *sysctlRecorder) SetIPv6Forwarding(string, bool) error { return nil }
