//go:build vmtest

package vm

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hadirector/hadirector/internal/flood"
)

// metricsUsed is every metric name the alert rules (examples/prometheus) and the dashboard
// (examples/grafana) use; tools/monitoring keeps it equal to what their PromQL names.
//
//go:embed testdata/metrics-used.txt
var metricsUsed string

// TestMetricsExported scrapes both directors of a pair that has everything the metrics
// describe (VRRP, virtual servers with checks in the real IPVS table, connection sync) and
// wants every metric the rules and the dashboard use among the names they export: neither
// can name a metric the daemon does not have.
func TestMetricsExported(t *testing.T) {
	p := newPair(t)
	sync := conf{lvs: "\n[lvs.sync_daemon]\ninterface = \"eth0\"\ninstance = \"VI_1\"\n"}
	for _, n := range []*node{p.a, p.b} {
		body := strings.Replace(sync.render(n), "[global]\n", "[global]\nmetrics_listen = \"127.0.0.1:9650\"\n", 1)
		if err := os.WriteFile(n.cfg, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.elect()
	// Adverts for a VRID nobody has: hadirector_vrrp_adverts_dropped_total has a series
	// per reason seen, and a healthy pair drops nothing.
	f, err := flood.New(p.client.h, []netip.Addr{p.a.h.Addr(), p.b.h.Addr()}, vip, advertInt, []flood.Kind{flood.VRID})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, _, err := f.Run(100*time.Millisecond, 1); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range strings.Split(metricsUsed, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			want = append(want, l)
		}
	}
	if len(want) < 30 {
		t.Fatalf("testdata/metrics-used.txt lists %d names", len(want))
	}
	// The IPVS counters and the sync daemon's state appear once the master has read them
	// back from the kernel.
	var missing []string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		exported := map[string]bool{}
		for _, n := range []*node{p.a, p.b} {
			for name := range scrapeNames(t, n) {
				exported[name] = true
			}
		}
		missing = slices.DeleteFunc(slices.Clone(want), func(name string) bool { return exported[name] })
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(missing) > 0 {
		t.Fatalf("not exported by a running pair (after 20 s): %q", missing)
	}
	t.Logf("all %d metric names the rules and the dashboard use are exported", len(want))
}

// scrapeNames is the set of metric names n's /metrics serves.
func scrapeNames(t *testing.T, n *node) map[string]bool {
	t.Helper()
	var body []byte
	// Dialled on Do's thread, inside the node's namespace; net/http would dial from
	// another goroutine, so the request is written by hand.
	err := n.h.Do(func() error {
		c, err := net.DialTimeout("tcp", "127.0.0.1:9650", 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(resp.Body)
		return err
	})
	if err != nil {
		t.Fatalf("scrape %s: %v", n.h.Name, err)
	}
	names := map[string]bool{}
	for _, l := range strings.Split(string(body), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		name, _, _ := strings.Cut(l, "{")
		name, _, _ = strings.Cut(name, " ")
		names[name] = true
	}
	return names
}
