package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hadirector/hadirector/vrrp"
)

// fastInterval is VI_1's advert_int in TestReloadAddsInstancesOffLoop: a reload that
// holds the advert loop for more than a few of them is a failover.
const fastInterval = 10 * time.Millisecond

// writeMany writes VI_1 at fastInterval and extra more instances, each on its own vmac
// (so each takes real host work to start: a macvlan, a socket, an announcer).
func (n *node) writeMany(t *testing.T, prio, extra int) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `[global]
status_socket = %q
log_format = "json"
garp_master_delay = "0s"
realtime_priority = 10
lock_memory = true

[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
priority = %d
advert_int = "%s"
virtual_ipaddress = ["192.0.2.100/24"]
`, filepath.Join(n.dir, "s.sock"), prio, fastInterval)
	for i := range extra {
		fmt.Fprintf(&b, `
[[vrrp_instance]]
name = "VI_X%d"
interface = "eth0"
virtual_router_id = %d
priority = %d
use_vmac = true
virtual_ipaddress = ["198.51.100.%d/24"]
`, i, 60+i, prio, 10+i)
	}
	if err := os.WriteFile(n.cfg, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	n.prio = uint8(prio)
}

// transitionsOf returns the node's logged state transitions of one instance.
func (n *node) transitionsOf(name string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(n.proc.Output()))
	for sc.Scan() {
		var l struct{ Msg, Instance string }
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "state transition" && l.Instance == name {
			out = append(out, sc.Text())
		}
	}
	return out
}

// TestReloadAddsInstancesOffLoop: SIGHUP both directors of a pair running VI_1 with 10 ms
// adverts (backup first), with a file that adds 20 instances on vmacs. Their host work
// (macvlans, stale VIPs, sockets, announcers) is done off the advert loop, so VI_1 goes
// on as if nothing happened: no transition on either side, and the master's adverts, as
// the client's kernel timestamps them, never pause for the backup's Master_Down_Interval.
// (Done on the loop, it held a's adverts for 42–54 ms and b took over.)
func TestReloadAddsInstancesOffLoop(t *testing.T) {
	const extra = 20
	p := newPair(t, 150, 100, "", "")
	p.a.writeMany(t, 150, 0)
	p.b.writeMany(t, 100, 0)
	tap := tapAdverts(t, p.client, 51)
	p.elect()
	// b has heard a: from here on VI_1 is steady.
	eventually(t, time.Second, "b hears a", func() bool { return p.b.status(t).Instances[0].Master == p.a.h.Addr() })
	trA, trB := len(p.a.transitionsOf("VI_1")), len(p.b.transitionsOf("VI_1"))
	since := time.Now()

	p.a.writeMany(t, 150, extra)
	p.b.writeMany(t, 100, extra)
	// One after the other: each daemon's host work then has a CPU of its own (the
	// machine may have two), and the other daemon's loop is not queued behind it.
	for _, n := range []*node{p.b, p.a} {
		mark := len(n.proc.Lines())
		if err := n.proc.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		if _, _, err := n.proc.WaitFor(mark, func(l string) bool {
			return strings.Contains(l, "reload applied") || strings.Contains(l, "reload rejected") || strings.Contains(l, `"msg":"reload"`)
		}, 30*time.Second); err != nil {
			t.Fatalf("%s: no reload outcome logged: %v", n.h.Name, err)
		}
		if strings.Contains(strings.Join(n.proc.Lines()[mark:], "\n"), "reload rejected") {
			t.Fatalf("%s rejected the reload:\n%s", n.h.Name, n.proc.Output())
		}
	}
	// The new instances are up: a is master of all, b backup of all.
	up := func(n *node, want string) bool {
		s := n.status(t)
		if len(s.Instances) != 1+extra {
			return false
		}
		for _, in := range s.Instances[1:] {
			if in.State != want {
				return false
			}
		}
		return true
	}
	eventually(t, 10*time.Second, "a is master and b backup of the new instances", func() bool {
		return up(p.a, "MASTER") && up(p.b, "BACKUP")
	})
	time.Sleep(10 * fastInterval) // a's adverts after the reload reach the tap

	if a, b := p.a.transitionsOf("VI_1"), p.b.transitionsOf("VI_1"); len(a) != trA || len(b) != trB {
		t.Errorf("the reload caused VI_1 transitions:\na: %s\nb: %s", strings.Join(a[trA:], "\n   "), strings.Join(b[trB:], "\n   "))
	}
	g := tap.gaps(netip.MustParseAddr("192.0.2.1"), since)
	if len(g) < 20 {
		t.Fatalf("only %d adverts from a since the reload", len(g)+1)
	}
	var worst time.Duration
	for _, d := range g {
		worst = max(worst, d)
	}
	mdi := 3*fastInterval + vrrp.SkewTime(3, 100, fastInterval)
	t.Logf("%d gaps between a's VI_1 adverts across the reload: worst %v (advert_int %v, b's Master_Down_Interval %v)",
		len(g), worst, fastInterval, mdi)
	if worst >= mdi {
		t.Errorf("a's VI_1 adverts paused for %v across the reload, not under b's Master_Down_Interval %v", worst, mdi)
	}
}
