//go:build vmtest

// The VM's own sanity tests: what every IPVS test relies on is really there. They double as
// examples for writing VM tests (moby/ipvs in the root and in a named namespace, ipvsadm,
// namespaces with veth and a bridge, the internal/lab harness, a DR datapath).
package vmtest_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/ipvs"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/hadirector/hadirector/internal/lab"
	"github.com/hadirector/hadirector/internal/privtest"
	"github.com/hadirector/hadirector/internal/vmtest"
)

func TestMain(m *testing.M) {
	// moby/ipvs logs through logrus (only on failures its callers see anyway).
	logrus.SetOutput(io.Discard)
	os.Exit(m.Run())
}

// loadedModules reads /proc/modules.
func loadedModules(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("/proc/modules")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var mods []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if name, _, ok := strings.Cut(sc.Text(), " "); ok {
			mods = append(mods, name)
		}
	}
	return mods
}

// schedulers lists the IPVS scheduler modules this kernel ships.
func schedulers(t *testing.T) []string {
	t.Helper()
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("/lib/modules", unix.ByteSliceToString(uts.Release[:]), "kernel/net/netfilter/ipvs")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		name := strings.TrimSuffix(e.Name(), ".ko")
		if strings.HasPrefix(name, "ip_vs_") && name != "ip_vs_ftp" && !strings.HasPrefix(name, "ip_vs_pe_") {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no scheduler modules in %s", dir)
	}
	return out
}

// needIPVS runs before the first ipvs.New of a test: moby/ipvs looks the generic netlink
// family up once per process, so ip_vs must already be loaded (the VM's /init loads it).
func needIPVS(t *testing.T) {
	t.Helper()
	vmtest.Need(t)
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		t.Fatalf("ip_vs is not loaded: %v", err)
	}
}

func TestModules(t *testing.T) {
	needIPVS(t)
	loaded := loadedModules(t)
	var scheds []string
	for _, s := range schedulers(t) {
		if !slices.Contains(loaded, s) {
			t.Errorf("scheduler module %s is in the initramfs but not loaded", s)
			continue
		}
		scheds = append(scheds, strings.TrimPrefix(s, "ip_vs_"))
	}
	t.Logf("IPVS schedulers loaded: %s", strings.Join(scheds, " "))
	for _, m := range []string{"ip_vs", "nf_conntrack", "veth", "bridge", "sch_ingress", "cls_u32", "act_mirred"} {
		if !slices.Contains(loaded, m) {
			t.Errorf("module %s is not loaded", m)
		}
	}
}

var testService = ipvs.Service{
	Address:       net.ParseIP("192.0.2.10").To4(),
	Protocol:      syscall.IPPROTO_TCP,
	Port:          80,
	SchedName:     "rr",
	AddressFamily: syscall.AF_INET,
	Netmask:       0xffffffff,
}

func findService(t *testing.T, h *ipvs.Handle, want *ipvs.Service) *ipvs.Service {
	t.Helper()
	svcs, err := h.GetServices()
	if err != nil {
		t.Fatalf("GetServices: %v", err)
	}
	for _, s := range svcs {
		if s.Address.Equal(want.Address) && s.Port == want.Port && s.Protocol == want.Protocol {
			return s
		}
	}
	return nil
}

// TestMobyIPVS creates, reads back, updates (through every scheduler) and deletes a service
// and a destination in the root namespace.
func TestMobyIPVS(t *testing.T) {
	needIPVS(t)
	h, err := ipvs.New("")
	if err != nil {
		t.Fatalf("ipvs.New: %v", err)
	}
	defer h.Close()

	svc := testService
	if err := h.NewService(&svc); err != nil {
		t.Fatalf("NewService: %v", err)
	}
	t.Cleanup(func() { _ = h.DelService(&svc) })
	got := findService(t, h, &svc)
	if got == nil {
		t.Fatalf("service %s:%d not listed after NewService", svc.Address, svc.Port)
	}
	if got.SchedName != "rr" {
		t.Errorf("scheduler = %q, want rr", got.SchedName)
	}

	dst := &ipvs.Destination{
		Address:         net.ParseIP("198.51.100.1").To4(),
		Port:            8080,
		Weight:          3,
		ConnectionFlags: ipvs.ConnectionFlagDirectRoute,
		AddressFamily:   syscall.AF_INET,
	}
	if err := h.NewDestination(&svc, dst); err != nil {
		t.Fatalf("NewDestination: %v", err)
	}
	dsts, err := h.GetDestinations(&svc)
	if err != nil {
		t.Fatalf("GetDestinations: %v", err)
	}
	if len(dsts) != 1 || !dsts[0].Address.Equal(dst.Address) || dsts[0].Port != 8080 || dsts[0].Weight != 3 ||
		dsts[0].ConnectionFlags&ipvs.ConnectionFlagFwdMask != ipvs.ConnectionFlagDirectRoute {
		t.Fatalf("destinations = %+v, want one DR 198.51.100.1:8080 weight 3", dsts)
	}

	for _, mod := range schedulers(t) {
		name := strings.TrimPrefix(mod, "ip_vs_")
		svc.SchedName = name
		if err := h.UpdateService(&svc); err != nil {
			t.Errorf("scheduler %s: UpdateService: %v", name, err)
			continue
		}
		if got := findService(t, h, &svc); got == nil || got.SchedName != name {
			t.Errorf("scheduler %s: read back %+v", name, got)
		}
	}

	if err := h.DelService(&svc); err != nil {
		t.Fatalf("DelService: %v", err)
	}
	if findService(t, h, &svc) != nil {
		t.Fatal("service still listed after DelService")
	}
}

// ipCmd runs the real iproute2 ip (by full path: busybox's applet lacks netns).
func ipCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := command("ip", "", args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func command(name, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// addNetns creates a named namespace with lo up. lo matters for IPVS too: until the
// namespace has a local routing table, every destination address looks "not unicast" to
// ip_vs and adding a real server fails with EINVAL.
func addNetns(t *testing.T, name string) string {
	t.Helper()
	ipCmd(t, "netns", "add", name)
	t.Cleanup(func() { _, _ = command("ip", "", "netns", "del", name) })
	ipCmd(t, "-n", name, "link", "set", "lo", "up")
	return name
}

// TestIpvsadmInNetns drives ipvsadm (the benchmark baseline) inside a named namespace:
// restore (-R), save (-Sn), and checks moby/ipvs sees the same table through a handle on
// that namespace, and that the root namespace's table is untouched.
func TestIpvsadmInNetns(t *testing.T) {
	needIPVS(t)
	ipvsadm := privtest.Tool(t, "ipvsadm")
	ns := addNetns(t, "vmt-ipvsadm")
	rules := "-A -t 203.0.113.5:443 -s wlc\n-a -t 203.0.113.5:443 -r 198.51.100.7:443 -g -w 5\n"
	if _, err := command("ip", rules, "netns", "exec", ns, ipvsadm, "-R"); err != nil {
		t.Fatal(err)
	}
	saved, err := command("ip", "", "netns", "exec", ns, ipvsadm, "-Sn")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"-A -t 203.0.113.5:443 -s wlc", "-a -t 203.0.113.5:443 -r 198.51.100.7:443 -g -w 5"} {
		if !strings.Contains(saved, want) {
			t.Errorf("ipvsadm -Sn lacks %q:\n%s", want, saved)
		}
	}

	h, err := ipvs.New("/run/netns/" + ns)
	if err != nil {
		t.Fatalf("ipvs.New in %s: %v", ns, err)
	}
	defer h.Close()
	want := &ipvs.Service{Address: net.ParseIP("203.0.113.5").To4(), Port: 443, Protocol: syscall.IPPROTO_TCP}
	if s := findService(t, h, want); s == nil || s.SchedName != "wlc" {
		t.Errorf("moby/ipvs in %s: service = %+v, want 203.0.113.5:443 wlc", ns, s)
	}
	root, err := ipvs.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if s := findService(t, root, want); s != nil {
		t.Errorf("a service made in %s shows in the root namespace: %+v", ns, s)
	}
}

// TestTools checks the host tools copied in with their libraries run, and that tc finds
// netem's distribution tables (delay with jitter, for demos and benchmarks).
func TestTools(t *testing.T) {
	vmtest.Need(t)
	for _, c := range [][]string{{"keepalived", "--version"}, {"ipvsadm", "--version"}, {"tcpdump", "--version"}, {"ip", "-V"}} {
		path := privtest.Tool(t, c[0])
		out, err := command(path, "", c[1:]...)
		if err != nil {
			t.Errorf("%s does not run in the VM: %v", c[0], err)
			continue
		}
		t.Logf("%s: %s", path, strings.SplitN(strings.TrimSpace(out), "\n", 2)[0])
	}
	ns := addNetns(t, "vmt-tools")
	ipCmd(t, "-n", ns, "link", "add", "d0", "type", "dummy")
	if _, err := command("tc", "", "-n", ns, "qdisc", "add", "dev", "d0", "root", "netem", "delay", "10ms", "2ms", "distribution", "normal"); err != nil {
		t.Error(err)
	}
}

// inNetns runs fn on a locked thread switched into the named namespace.
func inNetns(t *testing.T, name string, fn func()) {
	t.Helper()
	target, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		fn()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestNetnsVethBridge builds two namespaces joined through a bridge in a third and opens a
// TCP connection across it.
func TestNetnsVethBridge(t *testing.T) {
	vmtest.Need(t)
	privtest.Root(t)
	a, b, sw := addNetns(t, "vmt-a"), addNetns(t, "vmt-b"), addNetns(t, "vmt-sw")
	ipCmd(t, "-n", sw, "link", "add", "br0", "type", "bridge")
	ipCmd(t, "-n", sw, "link", "set", "br0", "up")
	for i, ns := range []string{a, b} {
		port := fmt.Sprintf("p%d", i)
		ipCmd(t, "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", sw)
		ipCmd(t, "-n", sw, "link", "set", port, "master", "br0", "up")
		ipCmd(t, "-n", ns, "addr", "add", fmt.Sprintf("192.0.2.%d/24", i+1), "dev", "eth0")
		ipCmd(t, "-n", ns, "link", "set", "eth0", "up")
	}
	var ln net.Listener
	inNetns(t, b, func() {
		var err error
		ln, err = net.Listen("tcp", "192.0.2.2:7000")
		if err != nil {
			t.Error(err)
		}
	})
	if ln == nil {
		t.FailNow()
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, _ = c.Write([]byte("hello from b\n"))
			c.Close()
		}
	}()
	var reply string
	inNetns(t, a, func() {
		c, err := net.DialTimeout("tcp", "192.0.2.2:7000", 10*time.Second)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Error(err)
		}
		reply = line
	})
	if reply != "hello from b\n" {
		t.Fatalf("reply %q", reply)
	}
}

// TestDRDatapath is the product's topology in miniature, on internal/lab: a client, a
// director with the VIP and an IPVS service (moby/ipvs on the director's namespace), two real
// servers with the VIP on lo; round robin sends successive connections to both, and the real
// servers answer the client directly.
func TestDRDatapath(t *testing.T) {
	needIPVS(t)
	l := lab.New(t)
	client := l.Host("client", "192.0.2.10/24")
	dir := l.Host("dir", "192.0.2.1/24")
	rs := []*lab.Host{l.Host("rs1", "192.0.2.11/24"), l.Host("rs2", "192.0.2.12/24")}
	vip := netip.MustParseAddr("192.0.2.100")
	dir.MustRun(t, "ip", "addr", "add", vip.String()+"/32", "dev", "eth0")

	for _, h := range rs {
		for _, kv := range [][2]string{{"net.ipv4.conf.all.arp_ignore", "1"}, {"net.ipv4.conf.all.arp_announce", "2"}} {
			if err := h.SetSysctl(kv[0], kv[1]); err != nil {
				t.Fatal(err)
			}
		}
		h.MustRun(t, "ip", "addr", "add", vip.String()+"/32", "dev", "lo")
		var ln net.Listener
		if err := h.Do(func() (err error) {
			ln, err = net.Listen("tcp", netip.AddrPortFrom(vip, 80).String())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func(name string) {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_, _ = c.Write([]byte(name + "\n"))
				c.Close()
			}
		}(h.Name)
	}

	h, err := ipvs.New("/run/netns/" + dir.NS())
	if err != nil {
		t.Fatalf("ipvs.New in the director: %v", err)
	}
	defer h.Close()
	svc := &ipvs.Service{Address: vip.AsSlice(), Protocol: syscall.IPPROTO_TCP, Port: 80, SchedName: "rr",
		AddressFamily: syscall.AF_INET, Netmask: 0xffffffff}
	if err := h.NewService(svc); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		d := &ipvs.Destination{Address: r.Addr().AsSlice(), Port: 80, Weight: 1,
			ConnectionFlags: ipvs.ConnectionFlagDirectRoute, AddressFamily: syscall.AF_INET}
		if err := h.NewDestination(svc, d); err != nil {
			t.Fatal(err)
		}
	}

	seen := map[string]int{}
	for range 4 {
		var conn net.Conn
		if err := client.Do(func() (err error) {
			conn, err = net.DialTimeout("tcp", netip.AddrPortFrom(vip, 80).String(), 10*time.Second)
			return err
		}); err != nil {
			t.Fatalf("client -> VIP: %v", err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if err != nil {
			t.Fatalf("read from VIP: %v", err)
		}
		seen[strings.TrimSpace(line)]++
	}
	if seen["rs1"] != 2 || seen["rs2"] != 2 {
		t.Fatalf("answers per real server = %v, want 2 each (round robin)", seen)
	}
}
