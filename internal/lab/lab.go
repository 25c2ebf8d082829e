// Package lab builds throwaway LANs for tests, demos and benchmarks: hosts in network
// namespaces, joined by a bridge that lives in a "switch" namespace of its own, processes
// started inside the hosts, and failures (link down, cable pulled, partitions) injected from
// outside. It owns every namespace and process it creates and removes them when the test
// ends, pass or fail.
//
// Hosts are plain Linux network stacks with the kernel's defaults, with two exceptions that
// make tests deterministic: IPv6 duplicate address detection is off (addresses, including the
// link-local one, are usable at once) and the switch namespace itself is silent (no IPv6, no
// addresses). In particular arp_accept is 0 and arp_notify is 0: a gratuitous ARP updates a
// neighbour entry a host already has but does not create one — see [Host.PrimeNeighbor].
//
// A Lab belongs to the test that made it: its methods report harness failures with that
// test's Fatalf, so call them from the test's goroutine.
package lab

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hadirector/hadirector/internal/privtest"
)

// Lab is one LAN: a switch namespace with a bridge and the hosts plugged into it.
type Lab struct {
	tb  TB
	id  string // "hd" + random; the prefix of every namespace name
	sw  string // switch namespace
	dir string // process logs

	mu     sync.Mutex
	hosts  []*Host
	procs  []*Proc
	logs   int             // process log files made so far, for unique names
	cuts   map[[2]int]bool // {from, to} host indexes whose frames the switch drops
	hub    map[int]bool    // switch ports that currently carry a hub filter
	plugs  int             // extra interfaces plugged in (Plug)
	closed bool
}

const (
	bridge    = "br0"
	blackhole = "bh0" // veth in the switch whose peer discards what it receives
)

var stale sync.Once

// New creates an empty LAN (a switch namespace with a bridge) and registers a cleanup that
// kills every process started in it and deletes every namespace it made. It skips the test
// (or fails it under HADIRECTOR_REQUIRE_PRIV=1) when not root or when ip or tc is missing.
func New(tb TB) *Lab {
	tb.Helper()
	privtest.Root(tb)
	privtest.Tool(tb, "ip")
	privtest.Tool(tb, "tc")
	stale.Do(sweepStale)

	l := &Lab{
		tb:   tb,
		id:   "hd" + randomID(6),
		dir:  tb.TempDir(),
		cuts: map[[2]int]bool{},
		hub:  map[int]bool{},
	}
	l.sw = l.id + "-sw"
	if err := markOwner(l.id); err != nil {
		tb.Fatalf("lab: %v", err)
	}
	// Registered after TempDir, so it runs first and process logs are still there.
	tb.Cleanup(l.close)

	if _, err := run("", "ip", "netns", "add", l.sw); err != nil {
		tb.Fatalf("lab: create switch: %v", err)
	}
	for _, kv := range [][2]string{
		{"net.ipv6.conf.all.disable_ipv6", "1"},
		{"net.ipv6.conf.default.disable_ipv6", "1"},
	} {
		if err := setSysctl(l.sw, kv[0], kv[1]); err != nil {
			tb.Fatalf("lab: switch: %v", err)
		}
	}
	// Multicast snooping off: VRRP's 224.0.0.18 / ff02::12 must reach every port whether or
	// not anyone sent a membership report. No STP, so ports forward at once.
	batch := strings.Join([]string{
		"link add " + bridge + " type bridge mcast_snooping 0 stp_state 0",
		"link set " + bridge + " up",
		"link add " + blackhole + " type veth peer name bh1",
		"link set bh1 up",
		"link set " + blackhole + " up",
	}, "\n")
	if _, err := run(batch, "ip", "-n", l.sw, "-batch", "-"); err != nil {
		tb.Fatalf("lab: switch: %v", err)
	}
	return l
}

// ID is the random prefix shared by every namespace of this lab.
func (l *Lab) ID() string { return l.id }

// SwitchNS is the switch's namespace; the bridge in it is br0 and host h's port is
// h.Port() (for example: ip netns exec <SwitchNS> tcpdump -ni br0).
func (l *Lab) SwitchNS() string { return l.sw }

// Host is one machine on the LAN: a namespace with lo and eth0, eth0 cabled to the switch.
type Host struct {
	Name  string
	lab   *Lab
	idx   int // 1-based, also the port number and the last bytes of the MAC
	ns    string
	port  string // switch-side veth
	mac   net.HardwareAddr
	addrs []netip.Prefix
	nics  []*NIC // guarded by lab.mu
}

var hostName = regexp.MustCompile(`^[a-z][a-z0-9]{0,11}$`)

// Host adds a host named name with the given addresses on eth0 (CIDR strings such as
// "192.0.2.10/24" or "2001:db8::10/64"; only TEST-NET ranges are accepted). Its namespace is
// "<lab id>-<name>", its MAC is 02:00:00:00:HH:LL with HHLL the host's number, and eth0 and
// lo are up when Host returns. A host has no default route; add one with MustRun if a test
// needs it.
func (l *Lab) Host(name string, addrs ...string) *Host {
	l.tb.Helper()
	if !hostName.MatchString(name) || name == "sw" {
		l.tb.Fatalf("lab: host name %q: want [a-z][a-z0-9]{0,11}, not \"sw\"", name)
	}
	var prefixes []netip.Prefix
	for _, s := range addrs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			l.tb.Fatalf("lab: host %s: %v", name, err)
		}
		if !testNet(p.Addr()) {
			l.tb.Fatalf("lab: host %s: %s is not in a TEST-NET range (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32)", name, p)
		}
		prefixes = append(prefixes, p)
	}

	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.tb.Fatalf("lab: Host(%s) after cleanup", name)
	}
	for _, h := range l.hosts {
		if h.Name == name {
			l.mu.Unlock()
			l.tb.Fatalf("lab: host %s already exists", name)
		}
	}
	idx := len(l.hosts) + 1
	h := &Host{
		Name:  name,
		lab:   l,
		idx:   idx,
		ns:    l.id + "-" + name,
		port:  fmt.Sprintf("p%d", idx),
		mac:   net.HardwareAddr{0x02, 0, 0, 0, byte(idx >> 8), byte(idx)},
		addrs: prefixes,
	}
	// Registered before anything exists, so a failure half way is still cleaned up.
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()

	if _, err := run("", "ip", "netns", "add", h.ns); err != nil {
		l.tb.Fatalf("lab: host %s: %v", name, err)
	}
	// Before eth0 exists, so it inherits "no DAD" from default.
	for _, kv := range [][2]string{
		{"net.ipv6.conf.all.accept_dad", "0"},
		{"net.ipv6.conf.default.accept_dad", "0"},
	} {
		if err := setSysctl(h.ns, kv[0], kv[1]); err != nil {
			l.tb.Fatalf("lab: host %s: %v", name, err)
		}
	}
	if _, err := run("", "ip", "link", "add", "eth0", "netns", h.ns, "address", h.mac.String(),
		"type", "veth", "peer", "name", h.port, "netns", l.sw); err != nil {
		l.tb.Fatalf("lab: host %s: cable: %v", name, err)
	}
	if _, err := run("", "ip", "-n", l.sw, "link", "set", h.port, "master", bridge, "up"); err != nil {
		l.tb.Fatalf("lab: host %s: plug into switch: %v", name, err)
	}
	if _, err := run("", "tc", "-n", l.sw, "qdisc", "add", "dev", h.port, "ingress"); err != nil {
		l.tb.Fatalf("lab: host %s: switch port: %v", name, err)
	}
	cmds := []string{"link set lo up"}
	for _, p := range prefixes {
		cmds = append(cmds, "addr add "+p.String()+" dev eth0")
	}
	cmds = append(cmds, "link set eth0 up")
	if _, err := run(strings.Join(cmds, "\n"), "ip", "-n", h.ns, "-batch", "-"); err != nil {
		l.tb.Fatalf("lab: host %s: configure: %v", name, err)
	}

	l.mu.Lock()
	partitioned := len(l.cuts) > 0
	l.mu.Unlock()
	if partitioned { // ports in hub mode must learn about the new port
		l.applyCuts()
	}
	return h
}

var testNets = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("2001:db8::/32"),
}

func testNet(a netip.Addr) bool {
	for _, p := range testNets {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// close is the lab's cleanup: processes first (a namespace lives on while a process is in
// it), then hosts, then the switch. Leaks are test failures.
func (l *Lab) close() {
	l.mu.Lock()
	l.closed = true
	procs, hosts := l.procs, l.hosts
	l.mu.Unlock()

	for _, p := range procs {
		p.Kill()
	}
	var failed []string
	for _, h := range hosts {
		if err := removeNS(h.ns); err != nil {
			failed = append(failed, err.Error())
		}
	}
	if err := removeNS(l.sw); err != nil {
		failed = append(failed, err.Error())
	}
	if len(failed) > 0 {
		l.tb.Errorf("lab: cleanup: %s", strings.Join(failed, "; "))
		return // keep the owner mark: the next run's sweep retries
	}
	_ = os.Remove(filepath.Join(ownerDir, l.id))
}

// removeNS kills whatever still runs in namespace ns and deletes it. A namespace that does
// not exist is not an error.
func removeNS(ns string) error {
	if _, err := os.Stat(filepath.Join("/run/netns", ns)); os.IsNotExist(err) {
		return nil
	}
	self := os.Getpid()
	for try := 0; ; try++ {
		out, err := run("", "ip", "netns", "pids", ns)
		if err != nil {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
		var left int
		for _, f := range strings.Fields(out) {
			pid, err := strconv.Atoi(f)
			// Our own process shows up while one of its threads is inside ns (Host.Do).
			if err != nil || pid == self {
				continue
			}
			left++
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if left == 0 {
			break
		}
		if try == 100 {
			return fmt.Errorf("namespace %s: processes survive SIGKILL: %s", ns, strings.TrimSpace(out))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := run("", "ip", "netns", "del", ns); err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	return nil
}

// Labs whose test binary died without running cleanups (a -timeout panic, SIGKILL) are
// found through owner marks: one file per lab naming the creating process and its start time.
const ownerDir = "/run/hadirector-lab"

func markOwner(id string) error {
	start, ok := procStart(os.Getpid())
	if !ok {
		return fmt.Errorf("read own start time from /proc")
	}
	if err := os.MkdirAll(ownerDir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(ownerDir, id), fmt.Appendf(nil, "%d %s\n", os.Getpid(), start), 0o644)
}

// sweepStale removes the namespaces of labs whose owner process is gone.
func sweepStale() {
	entries, err := os.ReadDir(ownerDir)
	if err != nil {
		return
	}
	var dead []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(ownerDir, e.Name()))
		if err != nil {
			continue
		}
		var pid int
		var start string
		if _, err := fmt.Sscan(string(b), &pid, &start); err != nil {
			continue
		}
		if s, ok := procStart(pid); ok && s == start {
			continue
		}
		dead = append(dead, e.Name())
	}
	if len(dead) == 0 {
		return
	}
	out, err := run("", "ip", "netns", "list")
	if err != nil {
		return
	}
	var names []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	for _, id := range dead {
		ok := true
		for _, n := range names {
			if strings.HasPrefix(n, id+"-") && removeNS(n) != nil {
				ok = false
			}
		}
		if ok {
			_ = os.Remove(filepath.Join(ownerDir, id))
		}
	}
}

// procStart returns field 22 of /proc/<pid>/stat (start time in clock ticks since boot),
// which tells a live owner from a reused pid.
func procStart(pid int) (string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", false
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 20 {
		return "", false
	}
	return f[19], true
}

func randomID(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// Plug cables another interface, dev, of h (a host of this lab or of another one) into
// this lab's switch, with the given addresses (TEST-NET only, as for Host), and brings it
// up: a host on two LANs, such as a director with two VRRP interfaces. Its MAC is
// 02:00:00:01:HH:LL with HHLL the number the port gets on this switch (so it differs from
// every eth0 of either lab); the cable goes with h's namespace or this switch's,
// whichever is deleted first.
func (l *Lab) Plug(h *Host, dev string, addrs ...string) net.HardwareAddr {
	l.tb.Helper()
	cmds := []string{}
	for _, s := range addrs {
		p, err := netip.ParsePrefix(s)
		if err != nil || !testNet(p.Addr()) {
			l.tb.Fatalf("lab: plug %s of %s: %q is not a TEST-NET prefix", dev, h.Name, s)
		}
		cmds = append(cmds, "addr add "+p.String()+" dev "+dev)
	}
	l.mu.Lock()
	l.plugs++
	idx := 1000 + l.plugs // port numbers apart from the hosts' eth0 ports
	l.mu.Unlock()
	mac := net.HardwareAddr{0x02, 0, 0, 1, byte(idx >> 8), byte(idx)}
	port := fmt.Sprintf("p%d", idx)
	if _, err := run("", "ip", "link", "add", dev, "netns", h.ns, "address", mac.String(),
		"type", "veth", "peer", "name", port, "netns", l.sw); err != nil {
		l.tb.Fatalf("lab: plug %s of %s: %v", dev, h.Name, err)
	}
	if _, err := run("", "ip", "-n", l.sw, "link", "set", port, "master", bridge, "up"); err != nil {
		l.tb.Fatalf("lab: plug %s of %s: %v", dev, h.Name, err)
	}
	cmds = append(cmds, "link set "+dev+" up")
	if _, err := run(strings.Join(cmds, "\n"), "ip", "-n", h.ns, "-batch", "-"); err != nil {
		l.tb.Fatalf("lab: plug %s of %s: %v", dev, h.Name, err)
	}
	return mac
}
