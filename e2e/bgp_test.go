package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hadirector/hadirector/internal/lab"
	"github.com/hadirector/hadirector/internal/privtest"
)

// The BGP tests run BIRD 2 as the upstream router (AS 64512) in its own namespace on the
// lab's LAN, and directors (AS 64513) that connect to it; what they assert is the route
// BIRD installs in the router's kernel (merge paths: one next hop per announcing
// director).

var bgpVIP = netip.MustParsePrefix("203.0.113.10/32")

const routerAddr = "192.0.2.254"

// birdConf: a passive neighbor range for the directors, short error wait so a director
// that comes back is taken at once, and a kernel protocol that installs the ECMP route;
// %s is more of the bgp protocol (BFD).
const birdConf = `router id 192.0.2.254;
log stderr all;
protocol device { scan time 1; }
protocol kernel {
	ipv4 { export where source = RTS_BGP; };
	merge paths on;
}
protocol bgp directors {
	local 192.0.2.254 as 64512;
	neighbor range 192.0.2.0/24 as 64513;
	dynamic name "dir";
	hold time 3;
	keepalive time 1;
	error wait time 1, 5;
	ipv4 { import all; export none; };
%s}
`

// birdBFD enables BFD on BIRD's side, at the directors' bfd_interval × bfd_multiplier.
const birdBFD = `	bfd on;
}
protocol bfd {
	interface "*" { interval 300 ms; multiplier 3; };
`

// router is the BIRD host.
type router struct {
	h                *lab.Host
	bird, conf, sock string
	proc             *lab.Proc
}

func newRouter(t *testing.T, l *lab.Lab, more string) *router {
	t.Helper()
	bird := privtest.Tool(t, "bird")
	privtest.Tool(t, "birdc")
	r := &router{h: l.Host("router", routerAddr+"/24")}
	if err := r.h.SetSysctl("net.ipv4.fib_multipath_hash_policy", "1"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(birdConf, more)), 0o644); err != nil {
		t.Fatal(err)
	}
	r.bird, r.conf, r.sock = bird, conf, filepath.Join(dir, "bird.ctl")
	r.start(t)
	return r
}

func (r *router) start(t *testing.T) {
	t.Helper()
	r.proc = r.h.Start(t, "bird", r.bird, "-f", "-c", r.conf, "-s", r.sock, "-P", r.conf+".pid")
	eventually(t, 10*time.Second, "BIRD answers on its socket", func() bool {
		_, err := r.h.Run("birdc", "-s", r.sock, "show", "status")
		return err == nil
	})
}

// nextHops are the gateways of the router's kernel route to the VIP, sorted.
func (r *router) nextHops(t *testing.T) []string {
	t.Helper()
	out, err := r.h.Run("ip", "-j", "route", "show", bgpVIP.String())
	if err != nil {
		t.Fatalf("ip route: %v\n%s", err, out)
	}
	var routes []struct {
		Gateway  string `json:"gateway"`
		Nexthops []struct {
			Gateway string `json:"gateway"`
		} `json:"nexthops"`
	}
	if err := json.Unmarshal([]byte(out), &routes); err != nil {
		t.Fatalf("ip -j route: %v\n%s", err, out)
	}
	var gws []string
	for _, rt := range routes {
		if rt.Gateway != "" {
			gws = append(gws, rt.Gateway)
		}
		for _, nh := range rt.Nexthops {
			gws = append(gws, nh.Gateway)
		}
	}
	slices.Sort(gws)
	return gws
}

// waitHops waits for exactly want as the route's next hops and returns how long that took.
func (r *router) waitHops(t *testing.T, limit time.Duration, what string, want ...string) time.Duration {
	t.Helper()
	slices.Sort(want)
	start := time.Now()
	eventually(t, limit, fmt.Sprintf("%s: next hops %v", what, want), func() bool { return slices.Equal(r.nextHops(t), want) })
	return time.Since(start)
}

// bgpNode is a director announcing the VIP.
type bgpNode struct {
	h     *lab.Host
	addr  string
	dir   string
	cfg   string
	maint string // its track file
	proc  *lab.Proc
}

// newBGPNode writes the director's file: before goes ahead of [bgp] (instances), after at
// the end (the [[bgp.vip]] tables).
func newBGPNode(t *testing.T, l *lab.Lab, name, addr, before, after string) *bgpNode {
	t.Helper()
	n := &bgpNode{h: l.Host(name, addr+"/24"), addr: addr, dir: t.TempDir()}
	n.cfg, n.maint = filepath.Join(n.dir, "hadirector.toml"), filepath.Join(n.dir, "maint")
	if err := os.WriteFile(n.maint, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`[global]
status_socket = %q
log_format = "json"

[[vrrp_track_file]]
name = "maint"
file = %q
weight = 0
%s
[bgp]
asn = 64513
router_id = %q

[[bgp.peer]]
address = %q
asn = 64512
%s`, filepath.Join(n.dir, "s.sock"), n.maint, before, addr, routerAddr, after)
	if err := os.WriteFile(n.cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *bgpNode) start(t *testing.T, bin string) {
	n.proc = n.h.Start(t, "hadirector-"+n.h.Name, bin, "run", "-c", n.cfg, "-state-dir", n.dir)
}

// stop sends SIGTERM and waits for a clean exit.
func (n *bgpNode) stop(t *testing.T) {
	t.Helper()
	if err := n.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, err := n.proc.Wait(10 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("%s: exit %d, %v", n.h.Name, code, err)
	}
}

const ecmpVIP = `
[[bgp.vip]]
prefix = "203.0.113.10/32"
track_file = ["maint"]
rise = 2
notify_announce = "%[1]s %[2]s"
notify_withdraw = "%[1]s %[2]s"
`

// TestBGPECMP: three directors announce one VIP; BIRD installs it with three next hops. A
// bad track file on one takes it out (two next hops) and a good one brings it back, as do
// drain and undrain; a SIGTERM withdraws that director's route (graceful Cease) and
// removes the VIP from its lo; kill -9 withdraws through the closed session. notify_announce /
// notify_withdraw run in that order.
func TestBGPECMP(t *testing.T) {
	l := lab.New(t)
	r := newRouter(t, l, "")
	bin := lab.Build(t, "./cmd/hadirector")
	hooks := hookDir(t)
	script := filepath.Join(hooks, "bgp.sh")
	writeScript(t, script, `out=$1; shift; echo "$*" >> "$out"`+"\n")
	var nodes []*bgpNode
	var addrs []string
	for i := 1; i <= 3; i++ {
		addr := fmt.Sprintf("192.0.2.%d", i)
		name := fmt.Sprintf("d%d", i)
		n := newBGPNode(t, l, name, addr, "", fmt.Sprintf(ecmpVIP, script, filepath.Join(hooks, name+".log")))
		n.start(t, bin)
		nodes, addrs = append(nodes, n), append(addrs, addr)
	}
	d := r.waitHops(t, 20*time.Second, "all three announce", addrs...)
	t.Logf("three next hops %v after the start", d.Round(time.Millisecond))
	for _, n := range nodes {
		if !n.h.HasAddr("lo", bgpVIP.Addr()) {
			t.Errorf("%s does not hold the VIP on lo", n.h.Name)
		}
	}

	if err := os.WriteFile(nodes[1].maint, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d = r.waitHops(t, time.Second+slack, "d2's track file is bad", addrs[0], addrs[2])
	t.Logf("track file bad → 2 next hops in %v", d.Round(time.Millisecond))
	if err := os.WriteFile(nodes[1].maint, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d = r.waitHops(t, 3*time.Second+slack, "d2's track file is good again (rise 2)", addrs...)
	t.Logf("track file good → 3 next hops in %v (rise 2 rounds of 500 ms)", d.Round(time.Millisecond))

	drain := func(verb string) {
		t.Helper()
		if out, err := exec.Command(bin, verb, "-socket", filepath.Join(nodes[0].dir, "s.sock")).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", verb, err, out)
		}
	}
	drain("drain")
	d = r.waitHops(t, time.Second, "d1 drained", addrs[1], addrs[2])
	t.Logf("drain → 2 next hops in %v", d.Round(time.Millisecond))
	drain("undrain")
	d = r.waitHops(t, 3*time.Second+slack, "d1 undrained (rise 2)", addrs...)
	t.Logf("undrain → 3 next hops in %v", d.Round(time.Millisecond))

	start := time.Now()
	nodes[2].stop(t)
	d = r.waitHops(t, time.Second, "d3 stopped", addrs[0], addrs[1])
	t.Logf("SIGTERM → withdrawn in %v (exit included: %v)", time.Since(start).Round(time.Millisecond), d.Round(time.Millisecond))
	if nodes[2].h.HasAddr("lo", bgpVIP.Addr()) {
		t.Error("d3 left the VIP on lo")
	}
	if out := nodes[2].proc.Output(); !strings.Contains(out, `"bgp announce"`) || !strings.Contains(out, `"graceful":true`) {
		t.Errorf("d3 did not leave gracefully:\n%s", out)
	}
	// kill -9: the kernel closes the TCP session and BIRD drops the route at once; the
	// VIP left on lo is removed by `hadirector cleanup`.
	start = time.Now()
	nodes[0].proc.Kill()
	r.waitHops(t, time.Second, "d1 killed", addrs[1])
	t.Logf("kill -9 → withdrawn %v after the signal", time.Since(start).Round(time.Millisecond))
	if !nodes[0].h.HasAddr("lo", bgpVIP.Addr()) {
		t.Fatal("a killed director removed its VIP?")
	}
	if out, err := nodes[0].h.Run(bin, "cleanup", "-c", nodes[0].cfg, "-state-dir", nodes[0].dir); err != nil || nodes[0].h.HasAddr("lo", bgpVIP.Addr()) {
		t.Errorf("cleanup after kill -9: %v\n%s", err, out)
	}

	const ann, wd = "BGP 203.0.113.10/32 ANNOUNCE", "BGP 203.0.113.10/32 WITHDRAW"
	for name, want := range map[string][]string{
		"d1": {ann, wd, ann}, // drain, undrain; kill -9 runs nothing
		"d2": {ann, wd, ann}, // track file bad, good
		"d3": {ann, wd},      // SIGTERM
	} {
		if got := readLines(filepath.Join(hooks, name+".log")); !slices.Equal(got, want) {
			t.Errorf("%s hooks: %q, want %q", name, got, want)
		}
	}
}

// TestBGPMasterMode: a VRRP pair announces its VIP in master mode: only the master's
// route is installed, and it moves to the backup when the master stops.
func TestBGPMasterMode(t *testing.T) {
	l := lab.New(t)
	r := newRouter(t, l, "")
	bin := lab.Build(t, "./cmd/hadirector")
	instance := func(prio int) string {
		return fmt.Sprintf(`
[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
priority = %d
advert_int = "%s"
virtual_ipaddress = ["203.0.113.10/32"]
`, prio, interval)
	}
	const masterVIP = `
[[bgp.vip]]
prefix = "203.0.113.10/32"
mode = "master"
instance = "VI_1"
`
	a := newBGPNode(t, l, "a", "192.0.2.1", instance(150), masterVIP)
	b := newBGPNode(t, l, "b", "192.0.2.2", instance(100), masterVIP)
	a.start(t, bin)
	b.start(t, bin)
	d := r.waitHops(t, 20*time.Second, "only the master (a) announces", a.addr)
	t.Logf("master's route after %v", d.Round(time.Millisecond))
	stable(t, 2*time.Second, "the backup does not announce", func() bool { return slices.Equal(r.nextHops(t), []string{a.addr}) })

	start := time.Now()
	a.stop(t)
	d = r.waitHops(t, 10*time.Second, "the route moves to b", b.addr)
	t.Logf("master stopped → route on the new master in %v (exit included: %v)", time.Since(start).Round(time.Millisecond), d.Round(time.Millisecond))
}

// TestBGPBFD: with bfd = true on the peer, GoBGP's BFD session comes up with BIRD's, and a
// pulled cable takes the director's route out through BFD (BIRD names the reason), not the
// hold timer.
func TestBGPBFD(t *testing.T) {
	l := lab.New(t)
	r := newRouter(t, l, birdBFD)
	bin := lab.Build(t, "./cmd/hadirector")
	var nodes []*bgpNode
	for i := 1; i <= 2; i++ {
		n := newBGPNode(t, l, fmt.Sprintf("d%d", i), fmt.Sprintf("192.0.2.%d", i), "", "bfd = true\n\n[[bgp.vip]]\nprefix = \"203.0.113.10/32\"\n")
		n.start(t, bin)
		nodes = append(nodes, n)
	}
	r.waitHops(t, 20*time.Second, "both announce", nodes[0].addr, nodes[1].addr)
	eventually(t, 10*time.Second, "both BFD sessions up", func() bool {
		out, _ := r.h.Run("birdc", "-s", r.sock, "show", "bfd", "sessions")
		return strings.Count(out, " Up ") == 2
	})
	nodes[0].h.CablePull()
	d := r.waitHops(t, 3*time.Second+slack, "d1's cable pulled", nodes[1].addr)
	t.Logf("cable pull with BFD 300 ms × 3 → withdrawn in %v (hold time 3 s)", d.Round(time.Millisecond))
	out, _ := r.h.Run("birdc", "-s", r.sock, "show", "protocols", "all")
	if !strings.Contains(out, "BFD session down") {
		t.Errorf("BIRD did not take the session down through BFD:\n%s", out)
	}
}

// TestBGPRouterRestart: when the router dies and comes back, the director reconnects at
// once (connect retry 1 s, no 30 s idle hold after the reset) and announces again.
func TestBGPRouterRestart(t *testing.T) {
	l := lab.New(t)
	r := newRouter(t, l, "")
	bin := lab.Build(t, "./cmd/hadirector")
	n := newBGPNode(t, l, "d1", "192.0.2.1", "", "\n[[bgp.vip]]\nprefix = \"203.0.113.10/32\"\n")
	n.start(t, bin)
	r.waitHops(t, 20*time.Second, "announced", n.addr)
	if out, err := r.h.Run("birdc", "-s", r.sock, "down"); err != nil {
		t.Fatalf("birdc down: %v\n%s", err, out)
	}
	if _, err := r.proc.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	r.waitHops(t, 5*time.Second, "BIRD gone: its kernel routes flushed")
	r.start(t)
	d := r.waitHops(t, 10*time.Second, "announced again after the router's restart", n.addr)
	t.Logf("router restarted → route back in %v", d.Round(time.Millisecond))
}
