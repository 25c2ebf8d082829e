//go:build vmtest

package vm

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestReloadInVM is the reload requirement on the real datapath: ten SIGHUPs of the master
// — broken files, no-ops, one adding a VIP, one changing a real server's weight — while a
// steady stream of requests and long-lived TCP connections go through the VIP. Nothing is
// lost, nobody holds an election, only the new VIP is announced, and the weight change is one
// IPVS op: an update of the destination in place, never a flush.
func TestReloadInVM(t *testing.T) {
	p := newPair(t)
	p.elect()
	a, b := p.a, p.b

	// Long-lived connections, spread over both real servers by round robin.
	var conns []*persistent
	for range 4 {
		c, err := p.client.openPersistent(web)
		if err != nil {
			t.Fatalf("open long-lived connection: %v", err)
		}
		t.Cleanup(func() { c.conn.Close() })
		conns = append(conns, c)
	}
	useConns := func(when string) {
		t.Helper()
		for i, c := range conns {
			rs, err := c.get()
			if err != nil {
				t.Fatalf("%s: long-lived connection %d (to %s): %v", when, i, c.rs, err)
			}
			if rs != c.rs {
				t.Fatalf("%s: long-lived connection %d answered by %s, first by %s", when, i, rs, c.rs)
			}
		}
	}

	before := a.status()
	garps := before.Instances[0].GARPsSent
	aMark, bMark := a.mark(), b.mark()
	st := p.client.stream(web, 3*time.Second, 10*time.Millisecond)

	cur := conf{}
	broken := func(what string, mutate func(string) string) reloadStep {
		return reloadStep{what: what, broken: true, file: func() string { return mutate(cur.render(a)) }}
	}
	valid := func(what string, c func() conf) reloadStep {
		return reloadStep{what: what, next: c}
	}
	replace := func(old, new string) func(string) string {
		return func(s string) string {
			if !strings.Contains(s, old) {
				t.Fatalf("broken file: %q is not in the configuration", old)
			}
			return strings.Replace(s, old, new, 1)
		}
	}
	steps := []reloadStep{
		broken("TOML syntax error", func(s string) string { return s + "\n[[virtual_server]\n" }),
		broken("virtual_router_id 0", replace("virtual_router_id = 51", "virtual_router_id = 0")),
		valid("unchanged file", func() conf { return cur }),
		broken("unknown key", replace(`scheduler = "rr"`, "scheduler = \"rr\"\nbogus_key = 1")),
		valid("add VIP 192.0.2.101", func() conf { c := cur; c.vip2 = true; return c }),
		broken("unknown scheduler", replace(`scheduler = "rr"`, `scheduler = "nope"`)),
		valid("rs2 weight 1 -> 3", func() conf { c := cur; c.weights = [2]int{1, 3}; return c }),
		broken("advert_int not a multiple of 10ms", replace(fmt.Sprintf("advert_int = %q", advertInt), `advert_int = "15ms"`)),
		broken("real server address without a port number", replace(fmt.Sprintf("address = %q", rsAddr(0, 80)), `address = "192.0.2.11:http"`)),
		valid("unchanged file again", func() conf { return cur }),
	}
	applied := 0
	var weightOps []logLine
	for i, s := range steps {
		var next conf
		if s.broken {
			if err := writeFile(a.cfg, s.file()); err != nil {
				t.Fatal(err)
			}
		} else {
			next = s.next()
			a.write(next)
		}
		garpsBefore := a.status().Instances[0].GARPsSent
		mark, ok := a.hup()
		if ok == s.broken {
			t.Fatalf("reload %d (%s): applied %v, want %v\n%s", i+1, s.what, ok, !s.broken, strings.Join(a.proc.Lines()[mark:], "\n"))
		}
		if !s.broken {
			applied++
			cur = next
		}
		switch s.what {
		case "add VIP 192.0.2.101":
			eventually(t, time.Second, "a holds 192.0.2.101", func() bool { return a.has(vip2) })
			// The burst follows the address at once; allow it to finish.
			eventually(t, time.Second, "GARP burst for the new VIP", func() bool {
				return a.status().Instances[0].GARPsSent-garpsBefore >= garpRepeat
			})
			if err := p.client.h.Ping(vip2, 2*time.Second); err != nil {
				t.Errorf("new VIP: %v", err)
			}
			if got := a.status().Instances[0].GARPsSent - garpsBefore; got != garpRepeat {
				t.Errorf("reload adding one VIP sent %d GARPs, want %d (garp_master_repeat, for the new VIP only)", got, garpRepeat)
			}
		case "rs2 weight 1 -> 3":
			eventually(t, time.Second, "rs2 at weight 3 in a's table", func() bool {
				return a.view()[svcName(web)][rsAddr(1, 80).String()] == 3
			})
			// Wait for the op's log line: the sync worker logs after the kernel answered.
			if _, _, err := a.proc.WaitFor(mark, func(l string) bool { return strings.Contains(l, `"msg":"ipvs"`) }, 2*time.Second); err != nil {
				t.Errorf("no IPVS op logged for the weight change: %v", err)
			}
			weightOps = a.ipvsOps(mark)
		}
		useConns(fmt.Sprintf("after reload %d (%s)", i+1, s.what))
		time.Sleep(200 * time.Millisecond) // the stream runs between reloads
	}
	// Let anything late (a sync, a GARP) show before counting.
	time.Sleep(time.Second)
	useConns("after the reloads")
	res := st.halt()

	// Nothing lost.
	var failed []result
	for _, r := range res {
		if r.err != nil {
			failed = append(failed, r)
		}
	}
	seen := map[string]int{}
	for _, r := range res {
		seen[r.rs]++
	}
	t.Logf("stream: %d requests during the reloads, answered by %v; %d failed", len(res), seen, len(failed))
	if len(failed) > 0 {
		t.Errorf("%d of %d requests failed during the reloads: %s", len(failed), len(res), describe(failed, res[0].at))
	}
	if seen["rs1"] == 0 || seen["rs2"] == 0 {
		t.Errorf("stream answered by %v: want both real servers", seen)
	}
	// No election.
	if tr := a.transitions(aMark); len(tr) > 0 {
		t.Errorf("a changed state during the reloads: %+v", tr)
	}
	if tr := b.transitions(bMark); len(tr) > 0 {
		t.Errorf("b changed state during the reloads: %+v", tr)
	}
	// GARP only for the new VIP.
	after := a.status()
	if got := after.Instances[0].GARPsSent - garps; got != garpRepeat {
		t.Errorf("the reloads sent %d GARPs in all, want %d (one burst for the new VIP)", got, garpRepeat)
	}
	if after.Reloads != applied {
		t.Errorf("a reports %d reloads, want %d (broken files are not applied)", after.Reloads, applied)
	}
	// Exactly one IPVS op, the weight change, and in place.
	ops := a.ipvsOps(aMark)
	var opText []string
	for _, o := range ops {
		opText = append(opText, o.Op)
	}
	if len(ops) != 1 || len(weightOps) != 1 || !strings.HasPrefix(ops[0].Op, "update destination "+svcName(web)+" -> "+rsAddr(1, 80).String()) {
		t.Errorf("IPVS ops logged during the reloads: %q; want exactly one update of %s's destination %s", opText, web, rsAddr(1, 80))
	} else {
		t.Logf("the one IPVS op of ten reloads: %s", ops[0].Op)
	}
	if w := a.view()[svcName(web)]; len(w) != 2 || w[rsAddr(0, 80).String()] != 1 || w[rsAddr(1, 80).String()] != 3 {
		t.Errorf("a's table after the reloads: %v", w)
	}
	rejected := 0
	for _, l := range a.logs(aMark) {
		if strings.HasPrefix(l.Msg, "reload rejected") {
			rejected++
		}
	}
	t.Logf("%d reloads applied, %d rejected (%d problem lines logged); status garps_sent +%d; %d long-lived connections intact",
		applied, len(steps)-applied, rejected, after.Instances[0].GARPsSent-garps, len(conns))
}

type reloadStep struct {
	what   string
	broken bool
	file   func() string // broken: the file to write
	next   func() conf   // valid: the configuration to write
}
