//go:build vmtest

// Package vm runs the hadirector binary as a real LVS-DR director pair inside the IPVS test
// VM (see internal/vmtest): two directors, two real servers and a client on one LAN built
// with internal/lab, TEST-NET addresses only, real IPVS in each director's namespace. The
// tests check what the host-side e2e tests cannot: that the master's kernel table is what
// the configuration and the health checks say, that traffic through the VIP reaches the
// real servers across failover, reload and drain, and that nothing else in the table is
// touched.
//
// Run with: make test-vm VM_PKGS=./e2e/vm VM_BINS=./cmd/hadirector
package vm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/hadirector/hadirector/director"
	"github.com/hadirector/hadirector/internal/lab"
	"github.com/hadirector/hadirector/internal/vmtest"
	"github.com/hadirector/hadirector/lvs"
	"github.com/hadirector/hadirector/vrrp"
)

var (
	vip     = netip.MustParseAddr("192.0.2.100")
	vip2    = netip.MustParseAddr("192.0.2.101") // added by a reload
	web     = netip.AddrPortFrom(vip, 80)        // round robin, no persistence
	sticky  = netip.AddrPortFrom(vip, 8080)      // persistence_timeout 300
	rsAddrs = []netip.Addr{netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.12")}
)

// Protocol and check timing. The VM runs under software emulation (TCG) on a shared 2-CPU
// machine: when the host is busy the whole guest stalls, and stalls of over a second were
// seen. A stall longer than Master_Down_Interval minus one advert interval makes the backup
// take over (its timer is overdue when the guest resumes, before it reads the adverts that
// would have reset it), so the advert interval is the examples' 1 s (Master_Down_Interval
// about 3.6 s), not the host e2e tests' 100 ms; and a check may take 2 s before it counts
// as failed.
const (
	advertInt     = time.Second
	checkInterval = 500 * time.Millisecond
	checkTimeout  = 2 * time.Second
	checkFall     = 2
	garpRepeat    = 5
	// hookTimeout is notify_timeout when conf.hook is set; a hook still running then gets
	// SIGTERM and, notify.DefaultGrace later, SIGKILL.
	hookTimeout = 2 * time.Second

	// slack is what the tests allow beyond a protocol limit for scheduling in a 2-CPU VM
	// under software emulation running five namespaces' worth of processes.
	slack = 1500 * time.Millisecond
	// grace is how long eventually polls past its limit before failing (the poll itself lags).
	grace = 3 * time.Second
)

func rsAddr(i, port int) netip.AddrPort { return netip.AddrPortFrom(rsAddrs[i], uint16(port)) }

// svcName is how lvs.Key names a TCP service: the key of views.
func svcName(a netip.AddrPort) string { return lvs.AddrKey(lvs.TCP, a).String() }

// pair is the whole LAN: directors a (192.0.2.1, priority 150) and b (192.0.2.2, 100), real
// servers rs1 (192.0.2.11) and rs2 (192.0.2.12), client (192.0.2.50).
type pair struct {
	t      *testing.T
	l      *lab.Lab
	bin    string
	a, b   *node
	rs     []*realServer
	client *client
}

// newPair builds the LAN and prepares both directors' configuration (not started); the real
// servers are configured for DR and serve HTTP on :80 and :8080.
func newPair(t *testing.T) *pair {
	t.Helper()
	start := time.Now()
	p := newLAN(t)
	p.a = newNode(p, p.l.Host("a", "192.0.2.1/24"), 150)
	p.b = newNode(p, p.l.Host("b", "192.0.2.2/24"), 100)
	p.addServersAndClient()
	t.Logf("LAN of 5 hosts built in %v", time.Since(start).Round(time.Millisecond))
	return p
}

// newLAN checks the VM and starts an empty LAN; newPair and the standalone tests add the
// hosts.
func newLAN(t *testing.T) *pair {
	t.Helper()
	vmtest.Need(t)
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		t.Fatalf("ip_vs is not loaded: %v", err)
	}
	bin, err := exec.LookPath("hadirector")
	if err != nil {
		t.Fatalf("hadirector is not on PATH (make test-vm VM_BINS=./cmd/hadirector): %v", err)
	}
	return &pair{t: t, l: lab.New(t), bin: bin}
}

// addServersAndClient adds the real servers, configured for DR and serving HTTP on :80
// and :8080, and the client.
func (p *pair) addServersAndClient() {
	t := p.t
	t.Helper()
	for i, a := range rsAddrs {
		h := p.l.Host(fmt.Sprintf("rs%d", i+1), a.String()+"/24")
		// The product's own real-server set-up: VIP on lo, arp_ignore/arp_announce.
		h.MustRun(t, p.bin, "realserver", "up", "--vip", vip.String()+","+vip2.String(), "-state", filepath.Join(t.TempDir(), "rs.json"))
		r := &realServer{NameServer: h.ServeName(t, 80, 8080), h: h, name: h.Name}
		p.rs = append(p.rs, r)
	}
	p.client = &client{h: p.l.Host("client", "192.0.2.50/24")}
}

// elect starts both directors and waits until a is master with its table programmed and b
// is backup.
func (p *pair) elect() {
	p.t.Helper()
	start := time.Now()
	p.a.start()
	p.b.start()
	eventually(p.t, p.a.mdi()+checkInterval+slack, "a master with both real servers in its table, b backup", func() bool {
		return p.a.state() == "MASTER" && p.b.state() == "BACKUP" && p.a.hasVIP() &&
			len(p.a.view()[svcName(web)]) == 2
	})
	p.t.Logf("elected in %v", time.Since(start).Round(time.Millisecond))
}

// node is one director.
type node struct {
	p    *pair
	h    *lab.Host
	dir  string
	cfg  string
	sock string
	prio int
	proc *lab.Proc
	k    *lvs.IPVS       // the namespace's IPVS table, read behind the daemon's back
	nl   *netlink.Handle // the namespace's rtnetlink: polling with `ip` would load the VM
}

func newNode(p *pair, h *lab.Host, prio int) *node {
	p.t.Helper()
	n := &node{p: p, h: h, dir: p.t.TempDir(), prio: prio}
	n.cfg = filepath.Join(n.dir, "hadirector.toml")
	n.sock = filepath.Join(n.dir, "s.sock")
	k, err := lvs.OpenIPVS(lvs.IPVSOptions{NetNS: "/run/netns/" + h.NS(), NoModprobe: true, Sockets: 1})
	if err != nil {
		p.t.Fatalf("IPVS in %s: %v", h.Name, err)
	}
	p.t.Cleanup(func() { k.Close() })
	n.k = k
	n.nl = h.Netlink(p.t)
	n.write(conf{})
	return n
}

// conf is what the tests vary in a director's configuration; the zero value is the
// baseline: VIP 192.0.2.100/24, service :80 (rr, DR) with both real servers at weight 1, and
// service :8080 (rr, DR, persistence 300 s).
type conf struct {
	vip2     bool   // add 192.0.2.101/24
	weights  [2]int // of rs1, rs2 on :80; 0 means 1
	noSticky bool   // leave out the :8080 service
	bulk     int    // a service :9000 with this many unchecked real servers (a slow sync)
	lvs      string // more [lvs] keys and sub-tables, as TOML
	moreVS   string // more [[virtual_server]] tables, as TOML
	hook     string // notify_master/backup/fault run this program (with the state as argument)
}

func (c conf) render(n *node) string {
	vips := fmt.Sprintf("%q", vip.String()+"/24")
	if c.vip2 {
		vips += fmt.Sprintf(", %q", vip2.String()+"/24")
	}
	w := c.weights
	for i := range w {
		if w[i] == 0 {
			w[i] = 1
		}
	}
	check := fmt.Sprintf(`
  [virtual_server.check]
  type = "http"
  path = "/"
  expect_status = [200]
  interval = "%s"
  timeout = "%s"
  rise = 1
  fall = %d
`, checkInterval, checkTimeout, checkFall)
	var moreVS string
	if !c.noSticky {
		moreVS = fmt.Sprintf(`
[[virtual_server]]
address = %q
protocol = "tcp"
scheduler = "rr"
forwarding = "dr"
persistence_timeout = "300s"
%s
  [[virtual_server.real_server]]
  address = %q

  [[virtual_server.real_server]]
  address = %q
`, sticky, check, rsAddr(0, 8080), rsAddr(1, 8080))
	}
	if c.bulk > 0 {
		moreVS += fmt.Sprintf("\n[[virtual_server]]\naddress = %q\nprotocol = \"tcp\"\nscheduler = \"rr\"\nforwarding = \"dr\"\n",
			netip.AddrPortFrom(vip, 9000))
		for i := range c.bulk { // 198.51.100.1-250, ports 9000, 9001, …
			rs := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + i%250)}), uint16(9000+i/250))
			moreVS += fmt.Sprintf("  [[virtual_server.real_server]]\n  address = %q\n", rs)
		}
	}
	var global, hooks string
	if c.hook != "" {
		global = fmt.Sprintf("notify_timeout = %q\n", hookTimeout)
		for _, st := range []string{"master", "backup", "fault"} {
			hooks += fmt.Sprintf("notify_%s = \"%s %s\"\n", st, c.hook, st)
		}
	}
	return fmt.Sprintf(`# %s: written by e2e/vm
[global]
router_id = %q
status_socket = %q
log_format = "json"
log_level = "info"
garp_master_delay = "0s"
garp_master_repeat = %d
realtime_priority = 10
%s
[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
version = 3
priority = %d
advert_int = "%s"
virtual_ipaddress = [%s]
virtual_ipaddress_label = "eth0:1"
%s
[lvs]
timeout_tcp = "900s"
%s
[[virtual_server]]
address = %q
protocol = "tcp"
scheduler = "rr"
forwarding = "dr"
%s
  [[virtual_server.real_server]]
  address = %q
  weight = %d

  [[virtual_server.real_server]]
  address = %q
  weight = %d
%s%s`, n.h.Name, n.h.Name, n.sock, garpRepeat, global, n.prio, advertInt, vips, hooks, c.lvs,
		web, check, rsAddr(0, 80), w[0], rsAddr(1, 80), w[1], moreVS, c.moreVS)
}

func (n *node) write(c conf) {
	n.p.t.Helper()
	if err := os.WriteFile(n.cfg, []byte(c.render(n)), 0o644); err != nil {
		n.p.t.Fatal(err)
	}
}

func (n *node) start() {
	n.proc = n.h.Start(n.p.t, "hadirector-"+n.h.Name, n.p.bin, "run", "-c", n.cfg, "-state-dir", n.dir)
}

// mdi is the node's Master_Down_Interval as a backup.
func (n *node) mdi() time.Duration {
	return 3*advertInt + vrrp.SkewTime(3, uint8(n.prio), advertInt)
}

func (n *node) hasVIP() bool { return n.has(vip) }

// has reports whether a is on the node's eth0.
func (n *node) has(a netip.Addr) bool { return lab.LinkHasAddr(n.nl, "eth0", a) }

// logLine is the part of a JSON log line the tests read.
type logLine struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"`
	Msg     string    `json:"msg"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Op      string    `json:"op"`
	VIP     string    `json:"vip"`
	Backend string    `json:"backend"`
	Service string    `json:"service"`
	Err     string    `json:"err"`
	Problem string    `json:"problem"`
	index   int       // in proc.Lines()
}

// logs parses the node's log from line index from on (lines that are not JSON are skipped).
func (n *node) logs(from int) []logLine {
	if n.proc == nil {
		return nil
	}
	var out []logLine
	for i, s := range n.proc.Lines() {
		if i < from {
			continue
		}
		var l logLine
		if json.Unmarshal([]byte(s), &l) == nil {
			l.index = i
			out = append(out, l)
		}
	}
	return out
}

func (n *node) mark() int {
	if n.proc == nil {
		return 0
	}
	return len(n.proc.Lines())
}

func (n *node) transitions(from int) []logLine {
	var out []logLine
	for _, l := range n.logs(from) {
		if l.Msg == "state transition" {
			out = append(out, l)
		}
	}
	return out
}

// ipvsOps are the IPVS changes the daemon logged from line from on.
func (n *node) ipvsOps(from int) []logLine {
	var out []logLine
	for _, l := range n.logs(from) {
		if l.Msg == "ipvs" {
			out = append(out, l)
		}
	}
	return out
}

func (n *node) state() string {
	tr := n.transitions(0)
	if len(tr) == 0 {
		return "INIT"
	}
	return tr[len(tr)-1].To
}

// becameMaster is the log time of the first transition to MASTER at or after line from.
func (n *node) becameMaster(from int) (logLine, bool) {
	for _, l := range n.transitions(from) {
		if l.To == "MASTER" {
			return l, true
		}
	}
	return logLine{}, false
}

// view is the namespace's IPVS table as service name → real server → weight, read through
// netlink (not /proc: see internal/vmtest). A read error is an empty view.
func (n *node) view() map[string]map[string]int {
	t, err := n.k.Services()
	if err != nil {
		n.p.t.Logf("read IPVS of %s: %v", n.h.Name, err)
		return nil
	}
	out := map[string]map[string]int{}
	for k, e := range t {
		ds := map[string]int{}
		for a, d := range e.Destinations {
			ds[a.String()] = d.Weight
		}
		out[k.String()] = ds
	}
	return out
}

// ours reports whether the node's table holds any service of the configuration.
func (n *node) ours() []string {
	var out []string
	for s := range n.view() {
		if s == svcName(web) || s == svcName(sticky) {
			out = append(out, s)
		}
	}
	return out
}

// listing runs `hadirector lvs --json -c CFG` in the node's namespace: the product's own view
// of the kernel table, with our services marked.
func (n *node) listing() lvs.Listing {
	t := n.p.t
	t.Helper()
	out := n.h.MustRun(t, n.p.bin, "lvs", "--json", "-c", n.cfg)
	var l lvs.Listing
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("hadirector lvs --json on %s: %v\n%s", n.h.Name, err, out)
	}
	return l
}

func findService(l lvs.Listing, a netip.AddrPort) *lvs.ListingService {
	for i, s := range l.Services {
		if s.Protocol == "tcp" && s.Address == a.String() {
			return &l.Services[i]
		}
	}
	return nil
}

// status runs `hadirector status -socket S --json`.
func (n *node) status() director.Status {
	t := n.p.t
	t.Helper()
	out, err := exec.Command(n.p.bin, "status", "-socket", n.sock, "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("status of %s: %v\n%s", n.h.Name, err, out)
	}
	var s director.Status
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("status JSON of %s: %v\n%s", n.h.Name, err, out)
	}
	return s
}

// hup sends SIGHUP and waits for the outcome; it returns the log line index before the
// signal and whether the reload was applied.
func (n *node) hup() (mark int, applied bool) {
	t := n.p.t
	t.Helper()
	mark = n.mark()
	if err := n.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	_, line, err := n.proc.WaitFor(mark, func(l string) bool {
		return strings.Contains(l, `"msg":"reload applied"`) || strings.Contains(l, "reload rejected") || strings.Contains(l, `"msg":"reload"`)
	}, 10*time.Second)
	if err != nil {
		t.Fatalf("no reload outcome logged by %s: %v", n.h.Name, err)
	}
	if strings.Contains(line, `"msg":"reload"`) {
		t.Fatalf("reload on %s failed half way: %s", n.h.Name, line)
	}
	return mark, strings.Contains(line, "reload applied")
}

// realServer is a real server's host with a lab.NameServer answering its name on :80 and
// :8080.
type realServer struct {
	*lab.NameServer
	h    *lab.Host
	name string
}

// client makes HTTP requests from the client's namespace.
type client struct {
	h *lab.Host
}

// dial opens a TCP connection from the client's namespace.
func (c *client) dial(ctx context.Context, addr string) (net.Conn, error) {
	var conn net.Conn
	err := c.h.Do(func() (err error) {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp4", addr)
		return err
	})
	return conn, err
}

// get makes one request on a new TCP connection and returns the body (the real server's
// name).
func (c *client) get(to netip.AddrPort, timeout time.Duration) (string, error) {
	return c.h.GetName(netip.Addr{}, to, timeout)
}

// persistent is one long-lived HTTP/1.1 keep-alive connection through the VIP.
type persistent struct {
	conn net.Conn
	br   *bufio.Reader
	rs   string // the real server that answered first
}

func (c *client) openPersistent(to netip.AddrPort) (*persistent, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := c.dial(ctx, to.String())
	if err != nil {
		return nil, err
	}
	p := &persistent{conn: conn, br: bufio.NewReader(conn)}
	if p.rs, err = p.get(); err != nil {
		conn.Close()
		return nil, err
	}
	return p, nil
}

func (p *persistent) get() (string, error) {
	_ = p.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(p.conn, "GET / HTTP/1.1\r\nHost: vip\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(p.br, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.Close {
		return "", errors.New("server closed the keep-alive connection")
	}
	return strings.TrimSpace(string(b)), nil
}

// stream is a steady flow of requests, each on a new connection, from the client to a
// service; it records every outcome.
type stream struct {
	c       *client
	to      netip.AddrPort
	timeout time.Duration
	pause   time.Duration

	mu      sync.Mutex
	results []result

	stop chan struct{}
	done chan struct{}
}

type result struct {
	at  time.Time // when the request was sent
	end time.Time
	rs  string
	err error
}

func (c *client) stream(to netip.AddrPort, timeout, pause time.Duration) *stream {
	s := &stream{c: c, to: to, timeout: timeout, pause: pause, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			default:
			}
			at := time.Now()
			rs, err := c.get(to, timeout)
			s.mu.Lock()
			s.results = append(s.results, result{at: at, end: time.Now(), rs: rs, err: err})
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-time.After(pause):
			}
		}
	}()
	return s
}

// halt stops the stream and returns every result.
func (s *stream) halt() []result {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.results
}

func (s *stream) snapshot() []result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]result(nil), s.results...)
}

// eventually polls cond until it holds; limit is what the product promises, and polling
// goes on for grace beyond it because the poll itself lags under emulation. Timing is
// asserted separately, from log timestamps, where a test is about timing.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(limit + grace)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v (+%v grace): %s", limit, grace, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	d := time.Since(start)
	if d > limit {
		t.Logf("seen after %v (limit %v; the poll lags under emulation): %s", d.Round(time.Millisecond), limit, what)
	}
	return d
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }
