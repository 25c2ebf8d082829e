package director

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const reloadBase = "[global]\nrouter_id = \"a\"\nstatus_socket = \"\"\n"

// reloadInstance is a unicast instance on lo: newInstance needs no address lookup.
func reloadInstance(name string, vrid int) string {
	return fmt.Sprintf(`
[[vrrp_instance]]
name = %q
interface = "lo"
virtual_router_id = %d
priority = 100
unicast_src_ip = "192.0.2.1"
unicast_peer = ["192.0.2.2"]
virtual_ipaddress = ["198.51.100.%d/32"]
`, name, vrid, vrid)
}

// reloadHarness is a director whose loop the test's goroutine runs by hand (reload),
// with prepare replaced by fake.
type reloadHarness struct {
	d    *Director
	loop uint64 // the goroutine that runs the loop's events
}

// goid is the calling goroutine's id, from its stack header ("goroutine 7 [running]:").
func goid() uint64 {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	f := strings.Fields(string(buf))
	if len(f) < 2 {
		return 0
	}
	id, _ := strconv.ParseUint(f[1], 10, 64)
	return id
}

func newReloadHarness(t *testing.T, src string, fake func(h *reloadHarness, in *instance) error) *reloadHarness {
	t.Helper()
	h := &reloadHarness{d: newTestDirector(t, src, nil), loop: goid()}
	d := h.d
	runCtx, stop := context.WithCancel(context.Background())
	d.runCtx = runCtx
	d.links = newLinkState(d)
	t.Cleanup(func() { stop(); d.wg.Wait() })
	d.prepareFn = func(in *instance, _ *hostPrep) error { return fake(h, in) }
	return h
}

// reload runs a reload to cfg while the test serves the loop, and returns its error.
func (h *reloadHarness) reload(t *testing.T, src string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.d.Reload(ctx, parse(t, src)) }()
	for {
		select {
		case err := <-done:
			return err
		case f := <-h.d.events:
			f(time.Now())
		case <-ctx.Done():
			t.Fatal("the reload did not return")
		}
	}
}

func names(ins []*instance) []string {
	var out []string
	for _, in := range ins {
		out = append(out, in.cfg.Name)
	}
	return out
}

// TestReloadPreparesOffLoop: a reload that adds instances does their host work (vmac,
// stale VIPs, sockets, announcer: slow) off the loop, which sends the adverts and must
// stay quick; while it runs the loop still runs events. Then the new instances are
// swapped in on the loop, the running one kept.
func TestReloadPreparesOffLoop(t *testing.T) {
	var onLoop, prepared atomic.Int32
	h := newReloadHarness(t, reloadBase+reloadInstance("VI_1", 1), func(h *reloadHarness, in *instance) error {
		prepared.Add(1)
		if goid() == h.loop {
			onLoop.Add(1)
			return nil
		}
		// The loop is free meanwhile: an event queued now runs before prepare returns.
		ran := make(chan struct{})
		h.d.events <- func(time.Time) { close(ran) }
		select {
		case <-ran:
		case <-time.After(30 * time.Second):
			return errors.New("the loop ran nothing while prepare ran")
		}
		return nil
	})
	src := reloadBase + reloadInstance("VI_1", 1) + reloadInstance("VI_2", 2) + reloadInstance("VI_3", 3)
	if err := h.reload(t, src); err != nil {
		t.Fatal(err)
	}
	if n := onLoop.Load(); n != 0 {
		t.Errorf("prepare ran on the loop for %d of %d instances", n, prepared.Load())
	}
	if n := prepared.Load(); n != 2 {
		t.Errorf("prepare ran %d times, want 2 (the new instances only)", n)
	}
	if got, want := names(h.d.instances), []string{"VI_1", "VI_2", "VI_3"}; !slices.Equal(got, want) {
		t.Errorf("instances after reload %v, want %v", got, want)
	}
	for _, in := range h.d.instances {
		if h.d.byName[in.cfg.Name] != in {
			t.Errorf("byName[%s] is not the running instance", in.cfg.Name)
		}
	}
	if h.d.reloads != 1 {
		t.Errorf("%d reloads, want 1", h.d.reloads)
	}
}

// TestReloadPrepareFails: when preparing a new instance fails, the reload says which and
// changes nothing — the old configuration keeps running.
func TestReloadPrepareFails(t *testing.T) {
	base := reloadBase + reloadInstance("VI_1", 1)
	h := newReloadHarness(t, base, func(_ *reloadHarness, in *instance) error {
		if in.cfg.Name == "VI_3" {
			return errors.New("instance VI_3: no such device")
		}
		return nil
	})
	old, oldCfg := h.d.instances[0], h.d.cfg
	err := h.reload(t, base+reloadInstance("VI_2", 2)+reloadInstance("VI_3", 3))
	if err == nil || !strings.Contains(err.Error(), "VI_3") {
		t.Fatalf("reload error %v, want one naming VI_3", err)
	}
	if got := names(h.d.instances); !slices.Equal(got, []string{"VI_1"}) || h.d.instances[0] != old {
		t.Errorf("instances after a failed reload %v, want the running VI_1 alone", got)
	}
	if h.d.cfg != oldCfg || h.d.reloads != 0 || len(h.d.byName) != 1 {
		t.Errorf("a failed reload changed the configuration: %d reloads, %d by name", h.d.reloads, len(h.d.byName))
	}
}
