//go:build vmtest

package vm

import (
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// foreignRules are services another tool made with ipvsadm: one on our VIP but another
// port (the closest to ours), a UDP one, and a firewall-mark one.
const foreignRules = `-A -t 192.0.2.100:443 -s wlc
-a -t 192.0.2.100:443 -r 192.0.2.11:443 -g -w 2
-A -u 192.0.2.200:53 -s rr
-a -u 192.0.2.200:53 -r 192.0.2.12:53 -g -w 1
-A -f 7 -s sh
-a -f 7 -r 192.0.2.11:0 -g -w 1
`

const ipvsadm = "/usr/sbin/ipvsadm"

// foreign is `ipvsadm -Sn` in the node's namespace without our services' lines.
func (n *node) foreign(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(n.h.MustRun(t, ipvsadm, "-Sn"), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 || (f[1] == "-t" && (f[2] == web.String() || f[2] == sticky.String())) {
			continue
		}
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}

// TestForeignServicesUntouched: services made by hand with ipvsadm in a director's
// namespace survive the daemon's start (crash-recovery withdraw), failover both ways, a
// reload and a stop, on both directors; what the daemon withdraws is exactly its own.
func TestForeignServicesUntouched(t *testing.T) {
	p := newPair(t)
	a, b := p.a, p.b
	want := map[*node][]string{}
	for _, n := range []*node{a, b} {
		if out, err := runStdin(n, foreignRules, ipvsadm, "-R"); err != nil {
			t.Fatalf("ipvsadm -R on %s: %v: %s", n.h.Name, err, out)
		}
		want[n] = n.foreign(t)
		if len(want[n]) != 6 {
			t.Fatalf("%s: ipvsadm -Sn after -R: %q", n.h.Name, want[n])
		}
	}
	check := func(stage string) {
		t.Helper()
		for _, n := range []*node{a, b} {
			if got := n.foreign(t); !slices.Equal(got, want[n]) {
				t.Errorf("%s: %s's foreign services changed:\n got %q\nwant %q", stage, n.h.Name, got, want[n])
			}
		}
	}

	p.elect()
	check("start")
	if la := a.listing(); len(la.Services) != 5 {
		t.Errorf("a's table (lvs --json) has %d services, want 2 of ours + 3 foreign", len(la.Services))
	} else {
		for _, s := range la.Services {
			mine := s.Protocol == "tcp" && (s.Address == web.String() || s.Address == sticky.String())
			if s.Owned == nil || *s.Owned != mine {
				t.Errorf("lvs --json -c marks %s owned=%v", s.Name, s.Owned)
			}
		}
	}

	// Failover: a stops cleanly (withdraws its services), b takes over.
	if err := a.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, b.mdi()+slack, "b master with our services", func() bool {
		return b.state() == "MASTER" && len(b.view()[svcName(web)]) == 2
	})
	if code, err := a.proc.Wait(5 * time.Second); err != nil || code != 0 {
		t.Fatalf("a's exit after SIGTERM: %d %v", code, err)
	}
	if ours := a.ours(); len(ours) > 0 {
		t.Errorf("a left %v behind after a clean stop", ours)
	}
	check("failover to b")

	// a comes back and preempts; b withdraws.
	a.start()
	eventually(t, a.mdi()+checkInterval+2*slack, "a master again, b without our services", func() bool {
		return a.state() == "MASTER" && len(a.view()[svcName(web)]) == 2 && len(b.ours()) == 0
	})
	check("preemption by a")

	// A reload that changes a weight and drops the persistent service: the dropped service
	// was ours and goes; the foreign ones stay.
	a.write(conf{weights: [2]int{2, 1}, noSticky: true})
	mark, ok := a.hup()
	if !ok {
		t.Fatalf("reload rejected:\n%s", strings.Join(a.proc.Lines()[mark:], "\n"))
	}
	eventually(t, time.Second, "rs1 at weight 2 on a", func() bool { return a.view()[svcName(web)][rsAddr(0, 80).String()] == 2 })
	time.Sleep(500 * time.Millisecond)
	check("reload")
	if _, ok := a.view()[svcName(sticky)]; ok {
		t.Errorf("a still programs %s after a reload removed it from the configuration (ops: %+v)", sticky, a.ipvsOps(mark))
	}

	// Stop both: our services go, the foreign ones stay.
	for _, n := range []*node{b, a} {
		if err := n.proc.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code, err := n.proc.Wait(5 * time.Second); err != nil || code != 0 {
			t.Fatalf("%s's exit after SIGTERM: %d %v", n.h.Name, code, err)
		}
		if ours := n.ours(); len(ours) > 0 {
			t.Errorf("%s left %v behind after a clean stop", n.h.Name, ours)
		}
	}
	check("stop")
}

// runStdin runs a command in the node's namespace with stdin (lab's Run has none).
func runStdin(n *node, stdin string, args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.h.NS()}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
