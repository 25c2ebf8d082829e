//go:build vmtest

package vm

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hadirector/hadirector/config"
	"github.com/hadirector/hadirector/lvs"
)

// standaloneConf is the seed's single director as hadirector configuration: no
// vrrp_instance, the web service with both real servers behind an HTTP check (200 → in
// the table, anything else → out), weight w1 for rs1; instance adds a vrrp_instance
// holding the VIP (a reload into VRRP mode).
func standaloneConf(n *node, w1 int, instance bool) string {
	var vi string
	if instance {
		vi = fmt.Sprintf(`
[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
priority = 150
advert_int = %q
virtual_ipaddress = ["%s/24"]
`, advertInt, vip)
	}
	return fmt.Sprintf(`# %s: written by e2e/vm TestStandalone
[global]
router_id = %q
status_socket = %q
log_format = "json"
garp_master_delay = "0s"
%s
[[virtual_server]]
address = %q
protocol = "tcp"
scheduler = "rr"
forwarding = "dr"
  [virtual_server.check]
  type = "http"
  path = "/"
  expect_status = [200]
  interval = %q
  timeout = %q
  rise = 1
  fall = %d

  [[virtual_server.real_server]]
  address = %q
  weight = %d

  [[virtual_server.real_server]]
  address = %q
`, n.h.Name, n.h.Name, n.sock, vi, web, checkInterval, checkTimeout, checkFall, rsAddr(0, 80), w1, rsAddr(1, 80))
}

// TestStandalone: one director and no VRRP, the set-up of the seed's lvs.sh and
// lvscheck.sh, run as `hadirector run` on a root file system without /etc/passwd (a
// minimal image): the daemon starts, says it is standalone (log, status, check), programs
// the service with both real servers at once, takes a real server that answers 500 — or
// refuses connections — out within fall × interval + timeout and puts it back within
// rise × interval once it answers 200, while requests through the VIP keep being
// answered. A reload keeps it standalone (a weight changes in place, nothing is withdrawn);
// a reload that adds a vrrp_instance moves it to VRRP mode (the services follow the
// instance: out while it is backup, in once it is master); SIGTERM withdraws everything.
func TestStandalone(t *testing.T) {
	p := newLAN(t)
	lb := newNode(p, p.l.Host("lb", "192.0.2.1/24"), 150)
	p.addServersAndClient()
	rs1, rs2 := rsAddr(0, 80).String(), rsAddr(1, 80).String()
	// No instance adds the VIP in standalone mode: it is the host's own address, as
	// lvs.sh set it.
	lb.h.MustRun(t, "ip", "addr", "add", vip.String()+"/24", "dev", "eth0")
	if err := writeFile(lb.cfg, standaloneConf(lb, 1, false)); err != nil {
		t.Fatal(err)
	}
	if out := lb.h.MustRun(t, p.bin, "check", "-c", lb.cfg); !strings.Contains(out, "ok: mode standalone") {
		t.Errorf("check does not say standalone: %s", out)
	}

	// The daemon's own view of / has no /etc/passwd: a tmpfs hides /etc in the mount
	// namespace `ip netns exec` gives it.
	if _, err := os.Stat("/etc/passwd"); err != nil {
		t.Fatalf("the VM has no /etc/passwd to hide: %v", err)
	}
	start := time.Now()
	lb.proc = lb.h.Start(t, "hadirector-lb", "/bin/sh", "-c", `mount -t tmpfs tmpfs /etc && exec "$0" run -c "$1" -state-dir "$2"`,
		p.bin, lb.cfg, lb.dir)
	line, err := lb.proc.WaitForLine(`"msg":"mode"`, 10*time.Second)
	if err != nil {
		t.Fatalf("no mode logged: %v", err)
	}
	if !strings.Contains(line, `"mode":"standalone"`) {
		t.Errorf("mode line: %s", line)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/root/etc/passwd", lb.proc.Pid())); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("/etc/passwd is visible to the daemon: %v", err)
	}

	both := func() bool {
		v := lb.view()[svcName(web)]
		return len(v) == 2 && v[rs1] == 1 && v[rs2] == 1
	}
	eventually(t, checkInterval+slack, "the service with both real servers in the kernel, without any election", both)
	var modeAt time.Time
	for _, l := range lb.logs(0) {
		if l.Msg == "mode" {
			modeAt = l.Time
		}
	}
	if ops := lb.ipvsOps(0); len(ops) > 0 {
		t.Logf("programmed %v after start; first IPVS op %v after the mode line (daemon's log)",
			time.Since(start).Round(time.Millisecond), ops[0].Time.Sub(modeAt).Round(time.Millisecond))
	}
	st := lb.status()
	if st.Mode != config.ModeStandalone || len(st.Instances) != 0 || st.LVS == nil || len(st.LVS.Services) != 1 || !st.LVS.Services[0].Programmed {
		t.Errorf("status: mode %q, %d instances, lvs %+v", st.Mode, len(st.Instances), st.LVS)
	}
	// The settings a master applies apply here too (per network namespace).
	if st.LVS == nil || !slices.ContainsFunc(st.LVS.Sysctls, func(s lvs.Sysctl) bool { return s.Name == lvs.SysctlExpireNodestConn && s.Value == "1" }) {
		t.Errorf("status: sysctls applied %+v, want %s = 1", st.LVS, lvs.SysctlExpireNodestConn)
	}
	if v := strings.TrimSpace(lb.h.MustRun(t, "cat", "/proc/sys/net/ipv4/vs/expire_nodest_conn")); v != "1" {
		t.Errorf("net.ipv4.vs.expire_nodest_conn = %q in lb's namespace, want 1", v)
	}
	if out := lb.h.MustRun(t, p.bin, "status", "-socket", lb.sock); !strings.Contains(out, "mode standalone") {
		t.Errorf("status text does not say standalone:\n%s", out)
	}

	// Requests through the VIP reach the real servers in turn.
	answers := func(n int) map[string]int {
		t.Helper()
		seen := map[string]int{}
		for range n {
			name, err := p.client.get(web, 2*time.Second)
			if err != nil {
				t.Fatalf("GET %s: %v", web, err)
			}
			seen[name]++
		}
		return seen
	}
	if seen := answers(4); seen["rs1"] == 0 || seen["rs2"] == 0 {
		t.Errorf("round robin through the VIP: %v", seen)
	}

	down := time.Duration(checkFall)*checkInterval + checkTimeout + slack
	up := checkInterval + slack // rise 1
	only := func(rs string) func() bool {
		return func() bool {
			v := lb.view()[svcName(web)]
			_, in := v[rs]
			return len(v) == 1 && in
		}
	}

	// rs2 answers 500: out, and every request goes to rs1.
	p.rs[1].SetStatus(500)
	d := eventually(t, down, "rs2 (HTTP 500) out of the table", only(rs1))
	t.Logf("rs2 (500) removed after %v (limit %v)", d.Round(time.Millisecond), down)
	if seen := answers(4); seen["rs1"] != 4 {
		t.Errorf("with rs2 out: %v", seen)
	}
	p.rs[1].SetStatus(200)
	d = eventually(t, up, "rs2 (HTTP 200 again) back in the table", both)
	t.Logf("rs2 (200) added back after %v (limit %v)", d.Round(time.Millisecond), up)

	// rs1 stops: out; serving again: back.
	p.rs[0].Stop()
	eventually(t, down, "rs1 (stopped) out of the table", only(rs2))
	if seen := answers(2); seen["rs2"] != 2 {
		t.Errorf("with rs1 out: %v", seen)
	}
	p.rs[0].Start()
	eventually(t, up, "rs1 (serving again) back in the table", both)
	if seen := answers(4); seen["rs1"] == 0 || seen["rs2"] == 0 {
		t.Errorf("round robin after recovery: %v", seen)
	}

	// A reload that stays standalone changes the weight in place.
	if err := writeFile(lb.cfg, standaloneConf(lb, 3, false)); err != nil {
		t.Fatal(err)
	}
	mark, applied := lb.hup()
	if !applied {
		t.Fatal("reload (weight 3) rejected")
	}
	eventually(t, slack, "rs1 at weight 3", func() bool { return lb.view()[svcName(web)][rs1] == 3 })
	for _, op := range lb.ipvsOps(mark) {
		if !strings.HasPrefix(op.Op, "update destination") {
			t.Errorf("a standalone reload did more than edit the weight: %s", op.Op)
		}
	}

	// A reload that adds a vrrp_instance: the services follow it.
	if err := writeFile(lb.cfg, standaloneConf(lb, 3, true)); err != nil {
		t.Fatal(err)
	}
	if _, applied := lb.hup(); !applied {
		t.Fatal("reload (vrrp_instance) rejected")
	}
	eventually(t, lb.mdi()+slack, "VRRP mode: master, holding the VIP, with the service", func() bool {
		return lb.state() == "MASTER" && lb.hasVIP() && lb.view()[svcName(web)][rs1] == 3
	})
	if st := lb.status(); st.Mode != config.ModeVRRP || len(st.Instances) != 1 {
		t.Errorf("status after the reload: mode %q, %d instances", st.Mode, len(st.Instances))
	}
	if seen := answers(4); seen["rs1"] == 0 || seen["rs2"] == 0 {
		t.Errorf("through the VIP in VRRP mode: %v", seen)
	}

	// A clean stop withdraws the services.
	if err := lb.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, err := lb.proc.Wait(10 * time.Second); err != nil || code != 0 {
		t.Fatalf("stop: exit %d, %v", code, err)
	}
	if v := lb.view(); v[svcName(web)] != nil || lb.hasVIP() {
		t.Errorf("after SIGTERM: table %v, VIP held %v", v, lb.hasVIP())
	}
}
