//go:build vmtest

package vm

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hadirector/hadirector/director"
)

// TestDRPair is the product's job end to end: the master programs the services (and only
// it), round robin spreads new connections over both real servers, a failed real server
// leaves the table and comes back, the backup takes over when the master loses power (IPVS
// synced before the VIP is claimed) and gives the service back when the master returns
// (VIP released before IPVS is withdrawn).
func TestDRPair(t *testing.T) {
	p := newPair(t)
	p.elect()
	a, b := p.a, p.b

	// The master's table, as the product prints it.
	la := a.listing()
	s := findService(la, web)
	if s == nil {
		t.Fatalf("a's table lacks %s: %+v", web, la.Services)
	}
	if s.Owned == nil || !*s.Owned || s.Scheduler != "rr" || s.Persistent {
		t.Errorf("a's %s: owned %v, scheduler %q, persistent %v; want ours, rr, not persistent", web, s.Owned, s.Scheduler, s.Persistent)
	}
	var dests []string
	for _, d := range s.Destinations {
		dests = append(dests, fmt.Sprintf("%s %s w%d", d.Address, d.Forwarding, d.Weight))
	}
	if want := []string{"192.0.2.11:80 dr w1", "192.0.2.12:80 dr w1"}; !slices.Equal(dests, want) {
		t.Errorf("a's %s destinations %v, want %v", web, dests, want)
	}
	if st := findService(la, sticky); st == nil || !st.Persistent || st.PersistenceTimeout != 300 || len(st.Destinations) != 2 {
		t.Errorf("a's %s: %+v, want persistent 300 s with 2 destinations", sticky, st)
	}
	// The backup programs nothing of ours.
	for _, s := range b.listing().Services {
		if s.Owned != nil && *s.Owned {
			t.Errorf("backup b has our service %s in its table", s.Name)
		}
	}
	// Status agrees.
	if st := a.status(); st.LVS == nil || len(st.LVS.Services) != 2 || !st.LVS.Services[0].Programmed {
		t.Errorf("a's status lvs section: %+v", st.LVS)
	} else {
		for _, r := range st.LVS.Services[0].RealServers {
			if !r.Healthy || !r.Checked || !r.InTable || r.Weight != 1 {
				t.Errorf("a's status for %s: %+v", r.Address, r)
			}
		}
	}
	if st := b.status(); st.LVS == nil || slices.ContainsFunc(st.LVS.Services, func(s director.ServiceStatus) bool { return s.Programmed }) {
		t.Errorf("b's status says it programs a service: %+v", st.LVS)
	}

	// Round robin: successive new connections alternate between the real servers.
	got := p.requests(t, web, 6)
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] {
			t.Fatalf("answers %v: not alternating (round robin over two real servers)", got)
		}
	}
	t.Logf("round robin through the VIP: %v", got)
	// Persistence: one client sticks to one real server.
	if st := p.requests(t, sticky, 4); len(slices.Compact(slices.Clone(st))) != 1 {
		t.Errorf("persistent service answers %v: want one real server throughout", st)
	}

	// A real server fails: it leaves the master's table within fall × interval (+ the check
	// timeout and slack), and all traffic goes to the other.
	mark := a.mark()
	p.rs[0].Stop()
	stopped := time.Now()
	limit := checkFall*checkInterval + checkTimeout + slack
	eventually(t, limit, "rs1 removed from a's table", func() bool {
		w := a.view()[svcName(web)]
		_, has1 := w[rsAddr(0, 80).String()]
		return !has1 && len(w) == 1
	})
	if l, ok := a.logFind(mark, func(l logLine) bool { return l.Msg == "backend down" && l.Backend == rsAddr(0, 80).String() }); ok {
		d := l.Time.Sub(stopped)
		t.Logf("rs1 declared down %v after its server stopped (fall %d × %v)", d.Round(time.Millisecond), checkFall, checkInterval)
		if d > limit {
			t.Errorf("rs1 declared down after %v; want within %v", d, limit)
		}
	} else {
		t.Error("a logged no `backend down` for rs1")
	}
	if got := p.requests(t, web, 4); slices.ContainsFunc(got, func(s string) bool { return s != "rs2" }) {
		t.Errorf("with rs1 down, answers %v; want rs2 only", got)
	}
	// It comes back: added again after one good check (rise 1).
	p.rs[0].Start()
	eventually(t, checkInterval+checkTimeout+slack, "rs1 back in a's table", func() bool { return len(a.view()[svcName(web)]) == 2 })
	if got := p.requests(t, web, 4); !slices.Contains(got, "rs1") || !slices.Contains(got, "rs2") {
		t.Errorf("with rs1 back, answers %v; want both", got)
	}

	// Power loss of the master: kill -9 and its cable pulled at once.
	// A short client timeout, so that the figure for resumed traffic is not the timeout of
	// a request lost with the cable (a SYN is only retransmitted after 1 s).
	p.client.h.PrimeNeighbor(vip)
	st := p.client.stream(web, 300*time.Millisecond, 20*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // some traffic before
	bMark := b.mark()
	lost := time.Now()
	a.proc.Kill()
	a.h.CablePull()
	pulled := time.Now()
	eventually(t, b.mdi()+slack, "b master with the service programmed", func() bool {
		return b.state() == "MASTER" && b.hasVIP() && len(b.view()[svcName(web)]) == 2
	})
	tr, ok := b.becameMaster(bMark)
	if !ok {
		t.Fatal("b logged no transition to MASTER")
	}
	takeover := tr.Time.Sub(lost)
	if takeover < b.mdi()-advertInt || takeover > b.mdi()+slack {
		t.Errorf("b took over %v after the power loss; Master_Down_Interval is %v", takeover, b.mdi())
	}
	b.checkMasterOrder(t, tr.index)
	// Until the cable is out, a's kernel (VIP and IPVS still there) forwards on its own:
	// traffic has resumed when a request sent after the pull is answered.
	resumed := p.waitResumed(t, st, pulled, 5*time.Second).Sub(lost)
	time.Sleep(500 * time.Millisecond)
	res := st.halt()
	failed := failures(res, lost)
	t.Logf("failover: takeover %v after power loss (Master_Down_Interval %v); client traffic resumed %v after it (answered); %d of %d request(s) failed: %s",
		takeover.Round(time.Millisecond), b.mdi(), resumed.Round(time.Millisecond), len(failed), len(res), describe(failed, lost))
	if limit := b.mdi() + slack + time.Second; resumed > limit {
		t.Errorf("client traffic resumed %v after the power loss; want within %v (Master_Down_Interval + slack + a request)", resumed, limit)
	}
	t.Logf("request latency before the failover: %s", latency(res, lost))
	if got := p.requests(t, web, 4); !slices.Contains(got, "rs1") || !slices.Contains(got, "rs2") {
		t.Errorf("through b, answers %v; want both real servers", got)
	}

	// The master comes back (rebooted: no VIP, but a stale table, which it withdraws until
	// elected) and preempts; b releases the VIP, then withdraws the services.
	a.h.MustRun(t, "ip", "addr", "del", vip.String()+"/24", "dev", "eth0")
	if len(a.ours()) == 0 {
		t.Fatal("kill -9 should leave a's services in its table (crash recovery is part of this test)")
	}
	a.h.CablePlug()
	st = p.client.stream(web, time.Second, 20*time.Millisecond)
	back := time.Now()
	bMark = b.mark()
	a.start()
	if _, err := a.proc.WaitForLine("withdrawing IPVS services left by a previous run", 5*time.Second); err != nil {
		t.Errorf("a did not withdraw its stale services at start: %v", err)
	}
	eventually(t, a.mdi()+checkInterval+2*slack, "a preempts: master with its table, b backup without ours", func() bool {
		return a.state() == "MASTER" && b.state() == "BACKUP" && len(a.view()[svcName(web)]) == 2 && len(b.ours()) == 0
	})
	atr, _ := a.becameMaster(0)
	if j, ok := a.logFind(0, func(l logLine) bool { return l.Msg == "state transition" && l.From == "INIT" }); ok {
		t.Logf("a restarted: joined the election %v after start, master %v after joining (Master_Down_Interval %v)",
			j.Time.Sub(back).Round(time.Millisecond), atr.Time.Sub(j.Time).Round(time.Millisecond), a.mdi())
	}
	a.checkMasterOrder(t, atr.index)
	b.checkBackupOrder(t, bMark)
	time.Sleep(500 * time.Millisecond)
	res = st.halt()
	failed = failures(res, back)
	t.Logf("preemption: a master %v after its restart; %d of %d request(s) failed: %s",
		atr.Time.Sub(back).Round(time.Millisecond), len(failed), len(res), describe(failed, back))
	// Preemption is planned: only a request in flight at the switch may be lost (its
	// packets after the SYN reach a, which has no connection entry for it: DR without
	// connection sync).
	if len(failed) > 3 {
		t.Errorf("%d requests failed during preemption", len(failed))
	}
	if got := p.requests(t, web, 4); !slices.Contains(got, "rs1") || !slices.Contains(got, "rs2") {
		t.Errorf("through a again, answers %v; want both real servers", got)
	}
	if b.hasVIP() {
		t.Error("b still holds the VIP")
	}
}

// requests makes n requests to svc, each on a new connection, and returns who answered.
func (p *pair) requests(t *testing.T, svc netip.AddrPort, n int) []string {
	t.Helper()
	var out []string
	for range n {
		rs, err := p.client.get(svc, 5*time.Second)
		if err != nil {
			t.Fatalf("request to %s: %v", svc, err)
		}
		out = append(out, rs)
	}
	return out
}

// waitResumed waits for the first request sent after since that succeeded and returns
// when its answer came.
func (p *pair) waitResumed(t *testing.T, s *stream, since time.Time, limit time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		for _, r := range s.snapshot() {
			if r.at.After(since) && r.err == nil {
				return r.end
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("client traffic through the VIP did not resume within %v", limit)
	return time.Time{}
}

// failures are the requests that failed and had not ended before since.
func failures(res []result, since time.Time) []result {
	var out []result
	for _, r := range res {
		if r.err != nil && r.end.After(since) {
			out = append(out, r)
		}
	}
	return out
}

func describe(rs []result, since time.Time) string {
	if len(rs) == 0 {
		return "none"
	}
	var parts []string
	for _, r := range rs {
		why := r.err.Error()
		switch {
		case strings.Contains(why, "Client.Timeout") || strings.Contains(why, "deadline exceeded"):
			why = "timeout"
		case strings.Contains(why, "connection reset"):
			why = "reset"
		case strings.Contains(why, "connection refused"):
			why = "refused"
		}
		parts = append(parts, fmt.Sprintf("%+v %s", r.at.Sub(since).Round(time.Millisecond), why))
	}
	return "sent at " + strings.Join(parts, ", ")
}

// logFind returns the first line at or after from that matches.
func (n *node) logFind(from int, match func(logLine) bool) (logLine, bool) {
	for _, l := range n.logs(from) {
		if match(l) {
			return l, true
		}
	}
	return logLine{}, false
}

// checkMasterOrder asserts that after the transition to MASTER at line tr the services were
// programmed before the VIP was added (no packet may reach the VIP before its service).
func (n *node) checkMasterOrder(t *testing.T, tr int) {
	t.Helper()
	added, ok := n.logFind(tr, func(l logLine) bool { return l.Msg == "VIP added" })
	if !ok {
		t.Errorf("%s logged no `VIP added` after becoming master", n.h.Name)
		return
	}
	var before, after []string
	for _, l := range n.ipvsOps(tr) {
		if l.index < added.index {
			before = append(before, l.Op)
		} else if l.Time.Sub(added.Time) < time.Second {
			after = append(after, l.Op)
		}
	}
	if !slices.ContainsFunc(before, func(op string) bool { return strings.HasPrefix(op, "add service "+svcName(web)) }) {
		t.Errorf("%s: %s not added before the VIP; ops before `VIP added`: %q", n.h.Name, web, before)
	}
	if len(after) > 0 {
		t.Errorf("%s: IPVS ops right after `VIP added` (should all precede it): %q", n.h.Name, after)
	}
	t.Logf("%s became master: %d IPVS op(s) logged before `VIP added` (%v after the transition)", n.h.Name, len(before), added.Time.Sub(n.logs(tr)[0].Time).Round(time.Millisecond))
}

// checkBackupOrder asserts that on leaving MASTER (after line from) the VIP was removed
// before the services were withdrawn.
func (n *node) checkBackupOrder(t *testing.T, from int) {
	t.Helper()
	removed, ok := n.logFind(from, func(l logLine) bool { return l.Msg == "VIP removed" })
	if !ok {
		t.Errorf("%s logged no `VIP removed` on leaving master", n.h.Name)
		return
	}
	var dels []logLine
	for _, l := range n.ipvsOps(from) {
		if strings.HasPrefix(l.Op, "delete service") {
			dels = append(dels, l)
		}
	}
	if len(dels) != 2 {
		t.Errorf("%s: %d `delete service` ops on leaving master, want 2", n.h.Name, len(dels))
	}
	for _, l := range dels {
		if l.index < removed.index {
			t.Errorf("%s: %q logged before `VIP removed`", n.h.Name, l.Op)
		}
	}
}

// latency summarizes the answered requests sent before until.
func latency(res []result, until time.Time) string {
	var ds []time.Duration
	for _, r := range res {
		if r.err == nil && r.at.Before(until) {
			ds = append(ds, r.end.Sub(r.at))
		}
	}
	if len(ds) == 0 {
		return "no requests"
	}
	slices.Sort(ds)
	return fmt.Sprintf("%d requests, median %v, max %v", len(ds), ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
}
