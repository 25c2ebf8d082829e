package vip

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hadirector/hadirector/internal/privtest"
	"github.com/vishvananda/netns"
)

// lab is two network namespaces joined by a veth pair, both ends called veth0:
//
//	node  veth0 02:00:00:00:00:01 192.0.2.1/24   (the director: the code under test runs here)
//	peer  veth0 02:00:00:00:00:02 192.0.2.2/24   (a neighbour: captures, neighbour table)
//
// Only TEST-NET addresses; the namespaces are deleted when the test ends.
type lab struct {
	t          testing.TB
	ip         string
	node, peer string // `ip netns` names
	nodeNS     netns.NsHandle
	peerNS     netns.NsHandle
}

var (
	nodeMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	peerMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	// oldMAC is what the peer has cached for a VIP before our announcement.
	oldMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
)

var labSeq atomic.Int32

func newLab(t testing.TB) *lab {
	t.Helper()
	privtest.Root(t)
	l := &lab{t: t, ip: privtest.Tool(t, "ip")}
	base := fmt.Sprintf("hdvip-%d-%d", os.Getpid(), labSeq.Add(1))
	l.node, l.peer = base+"-node", base+"-peer"
	for _, ns := range []string{l.node, l.peer} {
		if out, err := exec.Command(l.ip, "netns", "add", ns).CombinedOutput(); err != nil {
			privtest.Need(t, false, fmt.Sprintf("cannot create a network namespace: %v: %s", err, out))
		}
		t.Cleanup(func() { exec.Command(l.ip, "netns", "delete", ns).Run() })
	}
	l.run("-n", l.node, "link", "add", "veth0", "address", nodeMAC.String(), "type", "veth",
		"peer", "name", "veth0", "netns", l.peer, "address", peerMAC.String())
	l.run("-n", l.node, "addr", "add", "192.0.2.1/24", "dev", "veth0")
	l.run("-n", l.peer, "addr", "add", "192.0.2.2/24", "dev", "veth0")
	for _, ns := range []string{l.node, l.peer} {
		l.run("-n", ns, "link", "set", "lo", "up")
		l.run("-n", ns, "link", "set", "veth0", "up")
	}
	// The kernel turns the carrier on (and with it the qdisc and IPv6 multicast routes)
	// in its linkwatch work, up to a second later; until then frames are dropped silently.
	for _, ns := range []string{l.node, l.peer} {
		l.waitLinkUp(ns, "veth0")
	}
	var err error
	if l.nodeNS, err = netns.GetFromName(l.node); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.nodeNS.Close() })
	if l.peerNS, err = netns.GetFromName(l.peer); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.peerNS.Close() })
	return l
}

// waitLinkUp waits up to 5 s for dev in ns to be operationally up.
func (l *lab) waitLinkUp(ns, dev string) {
	l.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := l.run("-n", ns, "-o", "link", "show", "dev", dev)
		if strings.Contains(out, " state UP ") && !strings.Contains(out, "NO-CARRIER") {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s in %s not up: %s", dev, ns, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// run runs `ip args...` and fails the test on error.
func (l *lab) run(args ...string) string {
	l.t.Helper()
	out, err := exec.Command(l.ip, args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inNS runs f on a fresh OS thread moved into ns. The thread is never unlocked, so it ends
// with its goroutine and can never run anything else in the test namespace; the test's
// own goroutines never change namespace. Sockets and netlink handles made by f keep
// working from any goroutine afterwards. f must not call t.Fatal (other goroutine).
func inNS[T any](l *lab, ns netns.NsHandle, f func() (T, error)) T {
	l.t.Helper()
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			ch <- result{err: fmt.Errorf("setns: %w", err)}
			return
		}
		v, err := f()
		ch <- result{v, err}
	}()
	r := <-ch
	if r.err != nil {
		l.t.Fatal(r.err)
	}
	return r.v
}

// addrLine returns the `ip -o addr` line of the node's address a on dev, or "".
func (l *lab) addrLine(ns, dev, a string) string {
	l.t.Helper()
	for line := range strings.Lines(l.run("-n", ns, "-o", "addr", "show", "dev", dev)) {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasPrefix(f[2], "inet") && f[3] == a {
			// -o ends the first line of each address with a backslash.
			return strings.TrimSpace(strings.ReplaceAll(line, `\`, " "))
		}
	}
	return ""
}

// neighMAC returns the peer's cached MAC for ip on veth0, or "".
func (l *lab) neighMAC(ip string) string {
	l.t.Helper()
	f := strings.Fields(l.run("-n", l.peer, "neigh", "show", ip, "dev", "veth0"))
	for i := range f {
		if f[i] == "lladdr" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

// waitNeighMAC waits (up to a second; the peer's kernel handles the frame in a softirq
// after the send returns) for the peer's entry for ip to become mac.
func (l *lab) waitNeighMAC(ip string, mac net.HardwareAddr) {
	l.t.Helper()
	deadline := time.Now().Add(time.Second)
	got := l.neighMAC(ip)
	for got != mac.String() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		got = l.neighMAC(ip)
	}
	if got != mac.String() {
		l.t.Errorf("peer's neighbour entry for %s: lladdr %q, want %s\n%s", ip, got, mac,
			l.run("-n", l.peer, "neigh", "show", "dev", "veth0"))
	}
}

// primeNeigh gives the peer a STALE entry for ip pointing at oldMAC, as a host that talked
// to the old master has. A GARP updates an existing entry but does not create one.
func (l *lab) primeNeigh(ip string) {
	l.t.Helper()
	l.run("-n", l.peer, "neigh", "replace", ip, "lladdr", oldMAC.String(), "dev", "veth0", "nud", "stale")
	if got := l.neighMAC(ip); got != oldMAC.String() {
		l.t.Fatalf("priming the peer's entry for %s: lladdr %q", ip, got)
	}
}
