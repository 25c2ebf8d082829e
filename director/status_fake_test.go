package director

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestStatusSnapshot: the status is what the loop knows, in one consistent snapshot: the
// instance's state and counters, the IPVS side and the drops.
func TestStatusSnapshot(t *testing.T) {
	h := newHarness(t, oneInstance)
	h.becomeMaster("VI_1")
	h.clock.Advance(2 * time.Second)
	s := h.status()
	if s.RouterID != "t" || s.Config != "test.toml" || s.Mode != "vrrp" || !s.Now.Equal(h.clock.Now()) || s.Reloads != 0 {
		t.Errorf("status header %+v", s)
	}
	if len(s.Instances) != 1 {
		t.Fatalf("%d instances", len(s.Instances))
	}
	in := s.Instances[0]
	if in.Name != "VI_1" || in.State != "MASTER" || in.Priority != 100 || in.EffectivePriority != 100 || in.VRID != 51 ||
		in.AdvertsSent != 3 || in.Transitions != 2 || in.GARPsSent == 0 || len(in.VIPs) != 1 || in.SplitBrain ||
		!in.Since.Equal(h.clock.Now().Add(-2*time.Second)) || in.AdvertInterval != "1s" {
		t.Errorf("instance status %+v", in)
	}
	l := s.LVS
	if l == nil || len(l.Services) != 1 || !l.Services[0].Programmed || !l.Services[0].QuorumUp || l.Ops != 2 || l.Errors != 0 ||
		len(l.Sysctls) != 1 || !l.LastSync.Equal(h.clock.Now().Add(-2*time.Second)) {
		t.Fatalf("LVS status %+v", l)
	}
	if rs := l.Services[0].RealServers; len(rs) != 1 || !rs[0].InTable || rs[0].Weight != 1 || !rs[0].Healthy || rs[0].Checked {
		t.Errorf("real servers %+v", rs)
	}
	// SIGUSR1 writes the same to the log.
	h.d.LogStatus(context.Background())
	for _, want := range []string{"instance=VI_1 state=MASTER", "service=\"tcp 192.0.2.100:80\" programmed=true", "backend=192.0.2.11:80 healthy=true"} {
		if len(h.out.lines(want)) == 0 {
			t.Errorf("the status dump has no %q", want)
		}
	}
}

// TestMetrics: the collector exports the loop's view: state, priorities and counters of
// each instance, and the IPVS side.
func TestMetrics(t *testing.T) {
	h := newHarness(t, checkedConfig)
	h.becomeMaster("VI_1")
	got := gatherMetrics(t, h.d)
	for k, want := range map[string]float64{
		`hadirector_vrrp_state{interface="eth0",vrid="51",vrrp_instance="VI_1"}`: 2,
		`hadirector_vrrp_priority{vrrp_instance="VI_1"}`:                         100,
		`hadirector_vrrp_transitions_total{vrrp_instance="VI_1"}`:                2,
		`hadirector_vrrp_adverts_sent_total{vrrp_instance="VI_1"}`:               1,
		`hadirector_ipvs_service_programmed{service="tcp 192.0.2.100:80"}`:       1,
		`hadirector_ipvs_sync_daemon_role{vrrp_instance="VI_1"}`:                 1,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
}

// TestMetricsPerCheck: each check of a real server has its own series, labelled by its
// index and type; the real server's series stays the AND of them.
func TestMetricsPerCheck(t *testing.T) {
	h := newHarness(t, severalConfig)
	h.becomeMaster("VI_1")
	h.os.monitor.set(false, nthCheck("192.0.2.11:80", 1))
	quiesce(t)
	got := gatherMetrics(t, h.d)
	for k, want := range map[string]float64{
		`hadirector_realserver_check_up{backend="192.0.2.11:80",check="0",service="tcp 192.0.2.100:80",type="tcp"}`:  1,
		`hadirector_realserver_check_up{backend="192.0.2.11:80",check="1",service="tcp 192.0.2.100:80",type="exec"}`: 0,
		`hadirector_realserver_check_up{backend="192.0.2.12:80",check="0",service="tcp 192.0.2.100:80",type="tcp"}`:  1,
		`hadirector_realserver_up{backend="192.0.2.11:80",service="tcp 192.0.2.100:80"}`:                             0,
		`hadirector_realserver_up{backend="192.0.2.12:80",service="tcp 192.0.2.100:80"}`:                             1,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
}

// gatherMetrics scrapes d's collector: name{labels} → value.
func gatherMetrics(t *testing.T, d *Director) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{d})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			k := mf.GetName()
			if len(ls) > 0 {
				k += "{" + strings.Join(ls, ",") + "}"
			}
			got[k] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return got
}

// TestStatusSocket: the status socket serves the status as JSON and takes drains.
func TestStatusSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	h := newHarness(t, strings.Replace(oneInstance, `status_socket = ""`, fmt.Sprintf("status_socket = %q", sock), 1))
	h.becomeMaster("VI_1")
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://x/status")
	if err != nil {
		t.Fatal(err)
	}
	var s Status
	err = json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	if err != nil || len(s.Instances) != 1 || s.Instances[0].State != "MASTER" {
		t.Fatalf("GET /status: %v %+v", err, s)
	}
	for _, c2 := range []struct {
		url    string
		status int
	}{
		{"http://x/drain?vs=192.0.2.100:80&rs=192.0.2.11:80", 200},
		{"http://x/undrain?vs=192.0.2.100:80&rs=192.0.2.11:80", 200},
		{"http://x/drain?vs=192.0.2.100:80&rs=192.0.2.99:80", 404},
		{"http://x/drain?vs=nonsense", 400},
	} {
		resp, err := c.Post(c2.url, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c2.status {
			t.Errorf("POST %s: %s, want %d", c2.url, resp.Status, c2.status)
		}
	}
	quiesce(t)
	inOrder(t, h.log.since(0, false), "ipvs update destination tcp 192.0.2.100:80 -> 192.0.2.11:80 dr weight 0",
		"ipvs update destination tcp 192.0.2.100:80 -> 192.0.2.11:80 dr weight 1")
	// Another director on the same socket is refused.
	if err := h.d.serveStatus(context.Background(), sock); err == nil || !strings.Contains(err.Error(), "another hadirector") {
		t.Errorf("a second status socket: %v", err)
	}
}
