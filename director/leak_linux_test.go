package director

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
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

	"github.com/hadirector/hadirector/internal/leakcheck"
	"github.com/hadirector/hadirector/internal/privtest"
	"github.com/hadirector/hadirector/vrrp"
)

// inNetns runs the test named by the caller again, in a child process with a network
// namespace of its own (the whole process: the director's sockets, netlink handles and
// raw sockets all open there), and fails unless it passed. It returns true in the child,
// where the test goes on.
func inNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv("HADIRECTOR_TEST_NETNS") == t.Name() {
		return true
	}
	privtest.Root(t)
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "HADIRECTOR_TEST_NETNS="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNET}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("in a network namespace: %v\n%s", err, out)
	}
	return false
}

// vethLab sets up, in the test's private namespace, lo and a veth pair: veth0 192.0.2.1/24
// (the director's) and veth1 192.0.2.2/24 (a peer's).
func vethLab(t *testing.T) {
	t.Helper()
	ip := privtest.Tool(t, "ip")
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "veth0", "type", "veth", "peer", "name", "veth1"},
		{"addr", "add", "192.0.2.1/24", "dev", "veth0"},
		{"addr", "add", "192.0.2.2/24", "dev", "veth1"},
		{"link", "set", "veth0", "up"},
		{"link", "set", "veth1", "up"},
	} {
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// The peer's adverts come from an address of this namespace: accept them.
	for _, k := range []string{"all/rp_filter", "veth0/rp_filter", "veth0/accept_local"} {
		v := "0"
		if strings.HasSuffix(k, "accept_local") {
			v = "1"
		}
		if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+k, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, dev := range []string{"veth0", "veth1"} {
		for {
			out, _ := exec.Command(ip, "-o", "link", "show", "dev", dev).CombinedOutput()
			if strings.Contains(string(out), " state UP ") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not up: %s", dev, out)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestRunJoinsGoroutines: the whole director, on a veth pair in a namespace of its own:
// once Run has returned, nothing it started still runs — the status and metrics servers
// (with a client connection open on each), the GARP repeat timers of a master
// (garp_master_delay and garp_master_refresh pending, and the burst that answers a
// lower-priority master), the receivers, the effects workers, the link tracking and the
// hook runner — and the status socket and the metrics port are free.
func TestRunJoinsGoroutines(t *testing.T) {
	if !inNetns(t) {
		return
	}
	vethLab(t)
	dir := t.TempDir()
	sockPath := filepath.Join(dir, "s.sock")
	cfg := parse(t, fmt.Sprintf(`
[global]
router_id = "leak"
status_socket = %q
metrics_listen = "127.0.0.1:9650"
garp_master_delay = "30s"
garp_master_refresh = "20s"

[[vrrp_instance]]
name = "VI_1"
interface = "veth0"
virtual_router_id = 51
priority = 100
advert_int = "1s"
virtual_ipaddress = ["192.0.2.100/24"]
`, sockPath))
	base := leakcheck.Take()
	d, err := New(Options{Config: cfg, StateDir: filepath.Join(dir, "state"), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx) }()

	// The peer says its master leaves (priority 0): this node takes over after the skew
	// time instead of the whole master-down interval.
	peer, err := vrrp.Listen("veth1", false, true)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	advert := func(prio uint8) {
		t.Helper()
		a := &vrrp.Advert{Version: 3, Type: vrrp.TypeAdvertisement, VRID: 51, Priority: prio, Interval: time.Second,
			Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.100")}, Src: netip.MustParseAddr("192.0.2.2"), Dst: vrrp.GroupV4}
		if err := peer.Send(a); err != nil {
			t.Fatal(err)
		}
	}
	waitStatus := func(what string, ok func(InstanceStatus) bool, each func()) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			sctx, scancel := context.WithTimeout(ctx, time.Second)
			s, err := d.Status(sctx)
			scancel()
			if err == nil && len(s.Instances) == 1 && ok(s.Instances[0]) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: status %+v, %v", what, s, err)
			}
			each()
			time.Sleep(50 * time.Millisecond)
		}
	}
	advert(0)
	waitStatus("master", func(in InstanceStatus) bool { return in.State == "MASTER" }, func() {})
	// A lower-priority master: answered with a burst now and another one advert interval
	// later (reannounce).
	waitStatus("the lower master heard", func(in InstanceStatus) bool { return in.LowerMastersSeen > 0 }, func() { advert(50) })

	// A client connection held open on each server.
	sc, err := net.Dial("unix", sockPath)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	mc, err := net.Dial("tcp", "127.0.0.1:9650")
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	for _, c := range []struct {
		conn net.Conn
		req  string
	}{{sc, "GET /status HTTP/1.1\r\nHost: x\r\n\r\n"}, {mc, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"}} {
		if _, err := io.WriteString(c.conn, c.req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c.conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%q: %s", c.req, resp.Status)
		}
	}

	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	// The servers are gone with Run: a restart can take the socket and the port at once.
	if _, err := os.Stat(sockPath); !os.IsNotExist(err) {
		t.Errorf("status socket still at %s after Run returned: %v", sockPath, err)
	}
	if l, err := net.Listen("tcp", "127.0.0.1:9650"); err != nil {
		t.Errorf("metrics port still taken after Run returned: %v", err)
	} else {
		l.Close()
	}
	sc.Close()
	mc.Close()
	peer.Close()
	base.Verify(t)
}
