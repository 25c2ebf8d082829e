package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	ipA = netip.MustParseAddr("192.0.2.1")
	ipB = netip.MustParseAddr("192.0.2.2")
	v6A = netip.MustParseAddr("2001:db8::1")
	v6B = netip.MustParseAddr("2001:db8::2")
)

// Expected failures wait this long; successes return as soon as the reply arrives.
const (
	lost = 300 * time.Millisecond
	ok   = 2 * time.Second
)

func threeHosts(t *testing.T) (*Lab, *Host, *Host, *Host) {
	t.Helper()
	l := New(t)
	a := l.Host("a", "192.0.2.1/24", "2001:db8::1/64")
	b := l.Host("b", "192.0.2.2/24", "2001:db8::2/64")
	c := l.Host("c", "192.0.2.3/24")
	return l, a, b, c
}

func mustPing(t *testing.T, from *Host, to netip.Addr) {
	t.Helper()
	if err := from.Ping(to, ok); err != nil {
		t.Fatal(err)
	}
}

func mustNotPing(t *testing.T, from *Host, to netip.Addr) {
	t.Helper()
	if err := from.Ping(to, lost); err == nil {
		t.Fatalf("%s reached %s, want no reply", from.Name, to)
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	_, a, b, _ := threeHosts(t)
	mustPing(t, a, ipB)
	mustPing(t, b, ipA)
	// At once after creation: DAD is off, so nothing is tentative.
	mustPing(t, a, v6B)
	mustPing(t, b, v6A)

	var ll netip.Addr
	addrs, err := b.Addrs("eth0")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range addrs {
		if p.Addr().IsLinkLocalUnicast() {
			ll = p.Addr()
		}
	}
	if !ll.IsValid() {
		t.Fatalf("b has no IPv6 link-local address: %v", addrs)
	}
	mustPing(t, a, ll.WithZone("eth0"))
	if out := a.MustRun(t, "ip", "addr", "show", "dev", "eth0"); strings.Contains(out, "tentative") {
		t.Errorf("tentative address despite accept_dad=0:\n%s", out)
	}
}

func TestAddrs(t *testing.T) {
	t.Parallel()
	_, a, _, _ := threeHosts(t)
	addrs, err := a.Addrs("eth0")
	if err != nil {
		t.Fatal(err)
	}
	want := map[netip.Prefix]bool{
		netip.MustParsePrefix("192.0.2.1/24"):   false,
		netip.MustParsePrefix("2001:db8::1/64"): false,
	}
	for _, p := range addrs {
		if _, ok := want[p]; ok {
			want[p] = true
		}
	}
	for p, seen := range want {
		if !seen {
			t.Errorf("Addrs(eth0) = %v, missing %v", addrs, p)
		}
	}
	if !a.HasAddr("eth0", ipA) || a.HasAddr("eth0", ipB) || a.HasAddr("nosuchdev", ipA) {
		t.Error("HasAddr wrong")
	}
	if got := a.Addr(); got != ipA {
		t.Errorf("Addr() = %v, want %v", got, ipA)
	}
	if a.MAC().String() != "02:00:00:00:00:01" {
		t.Errorf("MAC() = %v", a.MAC())
	}
}

func TestPartition(t *testing.T) {
	t.Parallel()
	l, a, b, c := threeHosts(t)
	mustPing(t, a, ipB) // neighbour entries exist: the cut, not ARP, must stop the pings

	l.Partition(a, b)
	mustNotPing(t, a, ipB)
	mustNotPing(t, b, ipA)
	mustNotPing(t, a, v6B)
	for _, p := range [][2]*Host{{c, a}, {c, b}, {a, c}, {b, c}} {
		mustPing(t, p[0], p[1].Addr())
	}

	// A host that joins a partitioned LAN reaches everyone.
	d := l.Host("d", "192.0.2.4/24")
	for _, h := range []*Host{a, b, c} {
		mustPing(t, d, h.Addr())
	}

	l.Heal()
	mustPing(t, a, ipB)
	mustPing(t, b, ipA)
}

// eventually polls cond for up to 2 s.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(ok); ; time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// udpRecv opens a UDP socket on h and returns a func that reports whether msg arrives
// within d.
func udpRecv(t *testing.T, h *Host, port int) func(msg string, d time.Duration) bool {
	t.Helper()
	var c net.PacketConn
	if err := h.Do(func() (err error) {
		c, err = net.ListenPacket("udp4", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return func(msg string, d time.Duration) bool {
		buf := make([]byte, 100)
		_ = c.SetReadDeadline(time.Now().Add(d))
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return false
			}
			if string(buf[:n]) == msg {
				return true
			}
		}
	}
}

func udpSend(t *testing.T, h *Host, to netip.AddrPort, msg string) {
	t.Helper()
	err := h.Do(func() error {
		c, err := net.ListenPacket("udp4", ":0")
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.(*net.UDPConn).SetWriteBuffer(1 << 16); err != nil {
			return err
		}
		if to.Addr().As4()[3] == 255 {
			if err := setBroadcast(c); err != nil {
				return err
			}
		}
		_, err = c.WriteTo([]byte(msg), net.UDPAddrFromAddrPort(to))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func setBroadcast(c net.PacketConn) error {
	raw, err := c.(*net.UDPConn).SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
	})
	return errors.Join(err, serr)
}

func TestCutOneWay(t *testing.T) {
	t.Parallel()
	l, a, b, c := threeHosts(t)
	// ARP needs both directions; fixed entries let unicast flow the open way.
	a.MustRun(t, "ip", "neigh", "replace", ipB.String(), "lladdr", b.MAC().String(), "dev", "eth0", "nud", "permanent")
	b.MustRun(t, "ip", "neigh", "replace", ipA.String(), "lladdr", a.MAC().String(), "dev", "eth0", "nud", "permanent")
	recvA := udpRecv(t, a, 7000)
	recvB := udpRecv(t, b, 7000)
	recvC := udpRecv(t, c, 7000)

	l.CutOneWay(a, b)

	udpSend(t, a, netip.AddrPortFrom(ipB, 7000), "a->b")
	if recvB("a->b", lost) {
		t.Error("b received a unicast from a across the cut")
	}
	udpSend(t, b, netip.AddrPortFrom(ipA, 7000), "b->a")
	if !recvA("b->a", ok) {
		t.Error("a did not receive b's unicast: the open direction is blocked")
	}
	// Broadcast takes the switch's flooding path: it must respect the cut too.
	bcast := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.255"), 7000)
	udpSend(t, a, bcast, "a-bcast")
	if !recvC("a-bcast", ok) {
		t.Error("c did not receive a's broadcast")
	}
	if recvB("a-bcast", lost) {
		t.Error("b received a's broadcast across the cut")
	}
	udpSend(t, b, bcast, "b-bcast")
	if !recvA("b-bcast", ok) {
		t.Error("a did not receive b's broadcast")
	}

	l.Heal()
	udpSend(t, a, netip.AddrPortFrom(ipB, 7000), "a->b healed")
	if !recvB("a->b healed", ok) {
		t.Error("b did not receive a's unicast after Heal")
	}
}

func TestLinkDownAndCablePull(t *testing.T) {
	t.Parallel()
	_, a, b, _ := threeHosts(t)
	mustPing(t, a, ipB)

	if !a.Carrier("eth0") || a.OperState("eth0") != "UP" {
		t.Errorf("fresh eth0: carrier %v, operstate %q", a.Carrier("eth0"), a.OperState("eth0"))
	}
	a.LinkDown()
	if a.Carrier("eth0") {
		t.Error("after LinkDown eth0 still has carrier")
	}
	// The kernel updates operstate asynchronously (linkwatch).
	if !eventually(func() bool { return a.OperState("eth0") == "DOWN" }) {
		t.Errorf("after LinkDown operstate = %q, want DOWN", a.OperState("eth0"))
	}
	mustNotPing(t, b, ipA)
	a.LinkUp()
	if !a.HasAddr("eth0", v6A) {
		t.Errorf("LinkUp did not restore %v", v6A)
	}
	mustPing(t, b, ipA)
	mustPing(t, b, v6A)

	a.CablePull()
	if a.Carrier("eth0") {
		t.Error("after CablePull eth0 still has carrier")
	}
	if out := a.MustRun(t, "ip", "link", "show", "dev", "eth0"); !strings.Contains(out, "NO-CARRIER") || !strings.Contains(out, ",UP") {
		t.Errorf("after CablePull want eth0 admin UP with NO-CARRIER:\n%s", out)
	}
	mustNotPing(t, b, ipA)
	mustNotPing(t, a, ipB)
	a.CablePlug()
	if !a.Carrier("eth0") {
		t.Error("after CablePlug eth0 has no carrier")
	}
	mustPing(t, b, ipA)
}

// SetSysctl acts in the host's namespace, also on an interface whose name has a dot as a
// VLAN's has, and refuses settings that are not per namespace.
func TestSetSysctl(t *testing.T) {
	t.Parallel()
	l := New(t)
	a := l.Host("a", "192.0.2.1/24")
	b := l.Host("b", "192.0.2.2/24")
	read := func(h *Host, path string) string {
		return strings.TrimSpace(h.MustRun(t, "cat", "/proc/sys/"+path))
	}
	// A macvlan stands in for the VLAN: this kernel kind has no 8021q, and only the name
	// matters here.
	a.MustRun(t, "ip", "link", "add", "link", "eth0", "name", "eth0.100", "type", "macvlan")
	for _, v := range []string{"1", "0"} {
		if err := a.SetSysctl("net.ipv4.conf.eth0.100.arp_ignore", v); err != nil {
			t.Fatal(err)
		}
		if got := read(a, "net/ipv4/conf/eth0.100/arp_ignore"); got != v {
			t.Fatalf("eth0.100 arp_ignore = %s, want %s", got, v)
		}
	}
	if err := a.SetSysctl("net.ipv4.conf.eth0.arp_announce", "2"); err != nil {
		t.Fatal(err)
	}
	if got := read(a, "net/ipv4/conf/eth0/arp_announce"); got != "2" {
		t.Errorf("a's eth0 arp_announce = %s, want 2", got)
	}
	if got := read(b, "net/ipv4/conf/eth0/arp_announce"); got != "0" {
		t.Errorf("b's eth0 arp_announce = %s, want it untouched (0)", got)
	}
	if err := a.SetSysctl("kernel.hostname", "x"); err == nil {
		t.Error("kernel.hostname accepted: it is not per namespace")
	}
}

func TestNeighbor(t *testing.T) {
	t.Parallel()
	_, a, b, _ := threeHosts(t)
	if _, _, found := a.Neighbor(ipB); found {
		t.Fatal("neighbour entry before any traffic")
	}
	mustPing(t, a, ipB)
	mac, state, found := a.Neighbor(ipB)
	if !found || mac.String() != b.MAC().String() || state != "REACHABLE" {
		t.Errorf("Neighbor(%v) = %v %q %v, want %v REACHABLE", ipB, mac, state, found, b.MAC())
	}
	mustPing(t, a, v6B)
	if mac, _, found := a.Neighbor(v6B); !found || mac.String() != b.MAC().String() {
		t.Errorf("Neighbor(%v) = %v %v, want %v", v6B, mac, found, b.MAC())
	}

	nobody := netip.MustParseAddr("192.0.2.99")
	a.PrimeNeighbor(nobody)
	if mac, state, found := a.Neighbor(nobody); !found || mac != nil {
		t.Errorf("after PrimeNeighbor(%v): %v %q %v, want an entry without MAC", nobody, mac, state, found)
	}
}

func TestParseNeighbor(t *testing.T) {
	js := `[{"dst":"192.0.2.2","dev":"eth0","lladdr":"02:00:00:00:00:02","state":["REACHABLE"]},` +
		`{"dst":"192.0.2.9","dev":"eth0","state":["FAILED"]}]`
	mac, state, found := parseNeighbor([]byte(js), ipB)
	if !found || mac.String() != "02:00:00:00:00:02" || state != "REACHABLE" {
		t.Errorf("got %v %q %v", mac, state, found)
	}
	mac, state, found = parseNeighbor([]byte(js), netip.MustParseAddr("192.0.2.9"))
	if !found || mac != nil || state != "FAILED" {
		t.Errorf("got %v %q %v", mac, state, found)
	}
	if _, _, found := parseNeighbor([]byte(`[]`), ipB); found {
		t.Error("found in empty output")
	}
	if _, _, found := parseNeighbor([]byte(`garbage`), ipB); found {
		t.Error("found in garbage")
	}
}

func TestParseAddrs(t *testing.T) {
	js := `[{"ifindex":2,"ifname":"eth0","addr_info":[` +
		`{"family":"inet","local":"192.0.2.1","prefixlen":24,"scope":"global"},` +
		`{"family":"inet6","local":"fe80::ff:fe00:1","prefixlen":64,"scope":"link"}]}]`
	got, err := parseAddrs([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("fe80::ff:fe00:1/64")}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestHostRejectsNonTestNet(t *testing.T) {
	for _, a := range []string{"10.0.0.1/8", "192.168.1.1/24", "2001:db9::1/64"} {
		if testNet(netip.MustParsePrefix(a).Addr()) {
			t.Errorf("%s accepted", a)
		}
	}
	for _, a := range []string{"192.0.2.1/24", "198.51.100.7/24", "203.0.113.1/24", "2001:db8:1::1/64"} {
		if !testNet(netip.MustParsePrefix(a).Addr()) {
			t.Errorf("%s refused", a)
		}
	}
}

func TestProc(t *testing.T) {
	t.Parallel()
	l := New(t)
	a := l.Host("a", "192.0.2.1/24")

	p := a.Start(t, "exit3", "sh", "-c", "echo one; echo two >&2; echo three; exit 3")
	code, err := p.Wait(ok)
	if err != nil || code != 3 {
		t.Fatalf("Wait = %d, %v; want 3", code, err)
	}
	if got := strings.Join(p.Lines(), "|"); got != "one|two|three" {
		t.Errorf("Lines = %q", got)
	}
	if _, err := p.WaitForLine("four", ok); !errors.Is(err, ErrExited) {
		t.Errorf("WaitForLine on an exited process: %v, want ErrExited", err)
	}
	i, line, err := p.WaitFor(1, func(s string) bool { return strings.HasPrefix(s, "t") }, ok)
	if err != nil || i != 1 || line != "two" {
		t.Errorf("WaitFor(1, t*) = %d %q %v", i, line, err)
	}

	// The process really runs in the host's namespace.
	ns := strings.TrimSpace(a.MustRun(t, "readlink", "/proc/self/ns/net"))
	q := a.Start(t, "ns", "readlink", "/proc/self/ns/net")
	if _, err := q.WaitForLine(ns, ok); err != nil {
		t.Error(err)
	}

	s := a.Start(t, "sleeper", "sleep", "100")
	if _, err := s.Wait(50 * time.Millisecond); err == nil {
		t.Fatal("sleep 100 exited at once")
	}
	if err := s.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, err := s.Wait(ok); err != nil || code != -1 {
		t.Errorf("after SIGTERM Wait = %d, %v; want -1", code, err)
	}
	if err := s.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after exit: %v", err)
	}
}

func TestBuildAndStart(t *testing.T) {
	t.Parallel()
	l := New(t)
	bin := Build(t, "./internal/lab/testdata/hello")
	if again := Build(t, "./internal/lab/testdata/hello"); again != bin {
		t.Errorf("second Build = %s, want the cached %s", again, bin)
	}
	a := l.Host("a", "192.0.2.1/24")
	p := a.Start(t, "hello", bin, "wait")
	ns := strings.TrimSpace(a.MustRun(t, "readlink", "/proc/self/ns/net"))
	if _, err := p.WaitForLine("hello from "+ns, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestCleanup checks that a finished test leaves no namespace, process or owner mark,
// including a process that left the process group (setsid) and so escaped Kill.
func TestCleanup(t *testing.T) {
	t.Parallel()
	var nss []string
	var pids []int
	var id string
	ran := false
	t.Run("lab", func(t *testing.T) {
		l := New(t)
		id = l.ID()
		a := l.Host("a", "192.0.2.1/24")
		b := l.Host("b", "192.0.2.2/24")
		nss = []string{l.SwitchNS(), a.NS(), b.NS()}
		p := a.Start(t, "sleep", "sleep", "100")
		q := b.Start(t, "escapee", "sh", "-c", "setsid sleep 100 & echo $!; wait")
		_, line, err := q.WaitFor(0, func(s string) bool { return s != "" }, ok)
		if err != nil {
			t.Fatal(err)
		}
		esc, err := strconv.Atoi(line)
		if err != nil {
			t.Fatal(err)
		}
		pids = []int{p.Pid(), q.Pid(), esc}
		for _, pid := range pids {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
				t.Fatalf("process %d not running: %v", pid, err)
			}
		}
		ran = true
	})
	if !ran {
		t.SkipNow() // the subtest said why
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d survived cleanup", pid)
		}
	}
	out, err := run("", "ip", "netns", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range nss {
		if strings.Contains(out, ns) {
			t.Errorf("namespace %s survived cleanup", ns)
		}
	}
	if _, err := os.Stat(filepath.Join(ownerDir, id)); !os.IsNotExist(err) {
		t.Errorf("owner mark %s survived cleanup: %v", id, err)
	}
}

// alive reports whether pid is a process that has not been reaped (a zombie of someone
// else's counts as gone).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(s[i+1:], " Z")
}

// TestSweepStale plays a test binary that died without cleanups: its namespaces and
// processes are removed by the next sweep.
func TestSweepStale(t *testing.T) {
	t.Parallel()
	l := New(t) // gates on root and makes sure ownerDir exists
	a := l.Host("a")

	id := "hd" + randomID(6)
	ns := id + "-x"
	if _, err := run("", "ip", "netns", "add", ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = removeNS(ns) })
	if err := os.WriteFile(filepath.Join(ownerDir, id), []byte("999999999 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(filepath.Join(ownerDir, id)) })

	sweepStale()

	if _, err := os.Stat(filepath.Join("/run/netns", ns)); !os.IsNotExist(err) {
		t.Errorf("stale namespace %s not swept: %v", ns, err)
	}
	if _, err := os.Stat(filepath.Join(ownerDir, id)); !os.IsNotExist(err) {
		t.Errorf("stale owner mark not removed: %v", err)
	}
	// The live lab is untouched.
	if _, err := os.Stat(filepath.Join("/run/netns", a.NS())); err != nil {
		t.Errorf("live lab swept: %v", err)
	}
}

// TestAddNIC: hosts that add a NIC on the same LAN reach each other over it, and only over
// it; LinkDown and CablePull of the NIC cut that LAN and leave eth0's alone.
func TestAddNIC(t *testing.T) {
	t.Parallel()
	_, a, b, c := threeHosts(t)
	na := a.AddNIC("eth1", "lan1", "198.51.100.1/24")
	b.AddNIC("eth1", "lan1", "198.51.100.2/24")
	c.AddNIC("eth1", "lan2", "198.51.100.3/24")
	onA, onC := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.3")
	mustPing(t, b, onA)
	mustNotPing(t, b, onC) // c's eth1 is on another LAN
	if got := na.MAC().String(); got != "02:00:00:01:00:01" {
		t.Errorf("a's eth1 MAC %s, want 02:00:00:01:00:01", got)
	}
	if !a.Carrier("eth1") || !a.HasAddr("eth1", onA) {
		t.Fatalf("fresh eth1: carrier %v, addresses %v", a.Carrier("eth1"), a.HasAddr("eth1", onA))
	}

	na.LinkDown()
	if a.Carrier("eth1") {
		t.Error("after LinkDown eth1 still has carrier")
	}
	mustNotPing(t, b, onA)
	mustPing(t, b, ipA)
	na.LinkUp()
	mustPing(t, b, onA)

	na.CablePull()
	if a.Carrier("eth1") {
		t.Error("after CablePull eth1 still has carrier")
	}
	if out := a.MustRun(t, "ip", "link", "show", "dev", "eth1"); !strings.Contains(out, "NO-CARRIER") || !strings.Contains(out, ",UP") {
		t.Errorf("after CablePull want eth1 admin UP with NO-CARRIER:\n%s", out)
	}
	mustNotPing(t, b, onA)
	mustPing(t, b, ipA)
	na.CablePlug()
	mustPing(t, b, onA)
}

// Plug puts a host of one lab on a second LAN: it reaches that LAN's hosts through the
// new interface, with the MAC Plug returned, and its first LAN as before.
func TestPlug(t *testing.T) {
	t.Parallel()
	_, a, _, _ := threeHosts(t)
	lan2 := New(t)
	mac := lan2.Plug(a, "eth1", "198.51.100.1/24")
	d := lan2.Host("d", "198.51.100.4/24")
	mustPing(t, d, netip.MustParseAddr("198.51.100.1"))
	if got, _, ok := d.Neighbor(netip.MustParseAddr("198.51.100.1")); !ok || got.String() != mac.String() {
		t.Errorf("d sees 198.51.100.1 at %v, want %s", got, mac)
	}
	if mac.String() == a.MAC().String() {
		t.Errorf("eth1 has eth0's MAC %s", mac)
	}
	mustPing(t, a, ipB) // eth0 still works
}
