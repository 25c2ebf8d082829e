package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hadirector/hadirector/director"
)

func (n *node) status(t *testing.T) director.Status {
	t.Helper()
	out, err := exec.Command(n.bin, "status", "-socket", filepath.Join(n.dir, "s.sock"), "-json").CombinedOutput()
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	var s director.Status
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, out)
	}
	return s
}

func (n *node) writeFull(t *testing.T, prio int, vips string, extra string) {
	t.Helper()
	body := fmt.Sprintf(`[global]
status_socket = %q
log_format = "json"
garp_master_delay = "0s"
realtime_priority = 10
%s

[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
priority = %d
advert_int = "%s"
virtual_ipaddress = [%s]
%s
`, filepath.Join(n.dir, "s.sock"), n.globalExtra, prio, interval, vips, extra)
	if err := os.WriteFile(n.cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReloadWithoutDisruption: SIGHUP with broken files changes nothing; adding a VIP adds
// just that address and announces just it; a priority change is taken in place; nothing
// triggers an election.
func TestReloadWithoutDisruption(t *testing.T) {
	p := newPair(t, 150, 100, "", "")
	p.a.writeFull(t, 150, `"192.0.2.100/24"`, "")
	p.b.writeFull(t, 100, `"192.0.2.100/24"`, "")
	p.elect()
	second := netip.MustParseAddr("192.0.2.101")
	before := p.a.status(t)
	if before.Instances[0].State != "MASTER" {
		t.Fatalf("a is %s", before.Instances[0].State)
	}
	garps := before.Instances[0].GARPsSent
	trA, trB := len(p.a.transitions()), len(p.b.transitions())

	hup := func(n *node) {
		t.Helper()
		mark := len(n.proc.Lines())
		if err := n.proc.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		if _, _, err := n.proc.WaitFor(mark, func(l string) bool {
			return strings.Contains(l, "reload applied") || strings.Contains(l, "reload rejected") || strings.Contains(l, `"msg":"reload"`)
		}, 3*time.Second); err != nil {
			t.Fatalf("no reload outcome logged: %v", err)
		}
	}
	for i, broken := range []string{"virtual_router_id = 0", "bogus_key = 1", "advert_int = \"15ms\""} {
		p.a.writeFull(t, 150, `"192.0.2.100/24"`, broken)
		hup(p.a)
		if !strings.Contains(p.a.proc.Output(), "reload rejected") {
			t.Fatalf("broken reload %d not rejected", i)
		}
		if err := p.client.Ping(vipAddr, time.Second); err != nil {
			t.Fatalf("after broken reload %d: %v", i, err)
		}
	}
	// A valid file that the group could change is refused like a broken one: it decides
	// what runs as root.
	p.a.writeFull(t, 150, `"192.0.2.100/24", "192.0.2.101/24"`, "")
	if err := os.Chmod(p.a.cfg, 0o664); err != nil {
		t.Fatal(err)
	}
	mark := len(p.a.proc.Lines())
	hup(p.a)
	if _, _, err := p.a.proc.WaitFor(mark, func(l string) bool {
		return strings.Contains(l, "reload rejected") && strings.Contains(l, "writable by group or others")
	}, 0); err != nil {
		t.Fatalf("reload of a group-writable file not rejected: %v", err)
	}
	if p.a.h.HasAddr("eth0", second) {
		t.Fatal("the group-writable file was applied")
	}
	if err := os.Chmod(p.a.cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	hup(p.a)
	eventually(t, time.Second, "a holds the new VIP", func() bool { return p.a.h.HasAddr("eth0", second) })
	if err := p.client.Ping(second, time.Second); err != nil {
		t.Fatal(err)
	}
	after := p.a.status(t)
	if got := after.Instances[0].GARPsSent - garps; got != 5 {
		t.Errorf("reload adding one VIP sent %d GARPs, want 5 (garp_master_repeat for the new VIP only)", got)
	}
	// A priority change on the backup is taken in place.
	p.b.writeFull(t, 120, `"192.0.2.100/24", "192.0.2.101/24"`, "")
	hup(p.b)
	eventually(t, time.Second, "b's effective priority 120", func() bool { return p.b.status(t).Instances[0].EffectivePriority == 120 })
	// Removing the VIP again removes just it.
	p.a.writeFull(t, 150, `"192.0.2.100/24"`, "")
	hup(p.a)
	eventually(t, time.Second, "a dropped the second VIP", func() bool { return !p.a.h.HasAddr("eth0", second) })
	if !p.a.hasVIP() {
		t.Fatal("a lost the first VIP")
	}
	if a, b := len(p.a.transitions()), len(p.b.transitions()); a != trA || b != trB {
		t.Errorf("reloads caused transitions: a %d→%d, b %d→%d", trA, a, trB, b)
	}
	if s := p.a.status(t); s.Reloads != 2 {
		t.Errorf("a reports %d reloads, want 2 (the broken ones are not applied)", s.Reloads)
	}
}

// TestStatusCommand: the human table shows what the JSON says.
func TestStatusCommand(t *testing.T) {
	p := newPair(t, 150, 100, "", "")
	p.a.writeFull(t, 150, `"192.0.2.100/24"`, "")
	p.b.writeFull(t, 100, `"192.0.2.100/24"`, "")
	p.elect()
	// b joined after a became master: its first advert from a is at most an interval away.
	eventually(t, p.b.mdi(), "b has heard a's advert", func() bool { return p.b.status(t).Instances[0].Master == p.a.h.Addr() })
	out, err := exec.Command(p.b.bin, "status", "-socket", filepath.Join(p.b.dir, "s.sock")).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"VI_1", "BACKUP", "192.0.2.1 (150)", "192.0.2.100/24"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("status table lacks %q:\n%s", want, out)
		}
	}
	fi, err := os.Stat(filepath.Join(p.b.dir, "s.sock"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("status socket mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	// SIGUSR1 dumps the same to the log.
	mark := len(p.b.proc.Lines())
	p.b.proc.Signal(syscall.SIGUSR1)
	if _, _, err := p.b.proc.WaitFor(mark, func(l string) bool { return strings.Contains(l, `"msg":"status"`) && strings.Contains(l, "BACKUP") }, 2*time.Second); err != nil {
		t.Errorf("SIGUSR1 wrote no status: %v", err)
	}
}

// TestMetrics scrapes the Prometheus endpoint and checks names and values against what the
// pair is doing.
func TestMetrics(t *testing.T) {
	p := newPair(t, 150, 100, "", "")
	for _, n := range []*node{p.a, p.b} {
		n.globalExtra = `metrics_listen = "127.0.0.1:9650"`
	}
	p.a.writeFull(t, 150, `"192.0.2.100/24"`, "")
	p.b.writeFull(t, 100, `"192.0.2.100/24"`, "")
	p.elect()
	time.Sleep(3 * interval)
	a, b := p.a.metrics(t), p.b.metrics(t)
	for _, want := range []string{
		`hadirector_vrrp_state{interface="eth0",vrid="51",vrrp_instance="VI_1"} 2`,
		`hadirector_vrrp_priority{vrrp_instance="VI_1"} 150`,
		`hadirector_vrrp_effective_priority{vrrp_instance="VI_1"} 150`,
		`hadirector_vrrp_garps_sent_total{vrrp_instance="VI_1"} 5`,
		`hadirector_vrrp_split_brain{vrrp_instance="VI_1"} 0`,
		`hadirector_build_info{version="dev"} 1`,
		`hadirector_notify_hook_duration_seconds_total `,
	} {
		if !strings.Contains(a, want) {
			t.Errorf("a's metrics lack %s", want)
		}
	}
	if !strings.Contains(b, `hadirector_vrrp_state{interface="eth0",vrid="51",vrrp_instance="VI_1"} 1`) {
		t.Errorf("b's metrics do not say backup")
	}
	sent := metricValue(a, `hadirector_vrrp_adverts_sent_total{vrrp_instance="VI_1"}`)
	recv := metricValue(b, `hadirector_vrrp_adverts_received_total{vrrp_instance="VI_1"}`)
	if sent < 3 || recv < 3 || recv > sent {
		t.Errorf("a sent %v adverts, b received %v", sent, recv)
	}
}

// metrics scrapes n's Prometheus endpoint (metrics_listen = "127.0.0.1:9650").
func (n *node) metrics(t *testing.T) string {
	t.Helper()
	var body []byte
	// The connection must be made on Do's thread, inside the host's namespace; net/http
	// would dial from another goroutine, so speak HTTP by hand.
	err := n.h.Do(func() error {
		c, err := net.DialTimeout("tcp", "127.0.0.1:9650", 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
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
	return string(body)
}

func metricValue(text, series string) float64 {
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return -1
}
