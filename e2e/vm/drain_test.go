//go:build vmtest

package vm

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hadirector/hadirector/director"
)

// TestDrainAndStatus: `hadirector drain` quiesces a real server (weight 0 in the kernel,
// drained in status; its established connections go on, new ones go elsewhere), the drain
// survives a reload — even one that changes that real server's weight — and `undrain`
// restores the configured weight.
func TestDrainAndStatus(t *testing.T) {
	p := newPair(t)
	p.elect()
	a := p.a
	rs1, rs2 := rsAddr(0, 80).String(), rsAddr(1, 80).String()

	// An established connection to rs1: draining must not break it.
	var toRS1 *persistent
	for range 2 {
		c, err := p.client.openPersistent(web)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.conn.Close() })
		if c.rs == "rs1" {
			toRS1 = c
		}
	}
	if toRS1 == nil {
		t.Fatal("round robin gave rs1 neither of two connections")
	}

	drain := func(verb, rs string) (string, error) {
		out, err := exec.Command(p.bin, verb, "-socket", a.sock, web.String(), rs).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	rsStatus := func(addr string) director.RealServerStatus {
		t.Helper()
		st := a.status()
		if st.LVS == nil {
			t.Fatal("status has no lvs section")
		}
		for _, s := range st.LVS.Services {
			if s.Service != svcName(web) {
				continue
			}
			for _, r := range s.RealServers {
				if r.Address.String() == addr {
					return r
				}
			}
		}
		t.Fatalf("status lacks %s of %s", addr, web)
		return director.RealServerStatus{}
	}

	out, err := drain("drain", rs1)
	if err != nil || !strings.Contains(out, "drained "+rs1+" on "+web.String()) {
		t.Fatalf("hadirector drain: %v: %s", err, out)
	}
	eventually(t, time.Second, "rs1 at weight 0 in a's table", func() bool {
		w, ok := a.view()[svcName(web)][rs1]
		return ok && w == 0
	})
	if r := rsStatus(rs1); !r.Drained || r.Weight != 0 || !r.InTable || !r.Healthy {
		t.Errorf("status of drained rs1: %+v", r)
	}
	if r := rsStatus(rs2); r.Drained || r.Weight != 1 {
		t.Errorf("status of rs2: %+v", r)
	}
	human := a.h.MustRun(t, p.bin, "status", "-socket", a.sock)
	if !strings.Contains(human, "0 (drained)") {
		t.Errorf("status table does not show the drain:\n%s", human)
	}
	if got := p.requests(t, web, 4); strings.Join(got, " ") != "rs2 rs2 rs2 rs2" {
		t.Errorf("new connections while rs1 is drained went to %v; want rs2 only", got)
	}
	if rs, err := toRS1.get(); err != nil || rs != "rs1" {
		t.Errorf("established connection to drained rs1: %q, %v", rs, err)
	}

	// A reload keeps the drain, even one that changes rs1's weight: the kernel keeps weight
	// 0 and nothing is written for rs1.
	a.write(conf{weights: [2]int{5, 1}})
	mark, ok := a.hup()
	if !ok {
		t.Fatalf("reload rejected:\n%s", strings.Join(a.proc.Lines()[mark:], "\n"))
	}
	time.Sleep(time.Second) // a sync would show by now
	if w := a.view()[svcName(web)]; w[rs1] != 0 || w[rs2] != 1 {
		t.Errorf("a's table after the reload: %v; want rs1 still drained (0), rs2 1", w)
	}
	if ops := a.ipvsOps(mark); len(ops) != 0 {
		t.Errorf("the reload wrote IPVS ops although the drained weight is unchanged: %+v", ops)
	}
	if r := rsStatus(rs1); !r.Drained || r.Weight != 0 {
		t.Errorf("status of rs1 after the reload: %+v; want still drained", r)
	}

	// Undrain: the configured weight (now 5) comes back.
	if out, err := drain("undrain", rs1); err != nil {
		t.Fatalf("hadirector undrain: %v: %s", err, out)
	}
	eventually(t, time.Second, "rs1 at weight 5 in a's table", func() bool { return a.view()[svcName(web)][rs1] == 5 })
	if r := rsStatus(rs1); r.Drained || r.Weight != 5 {
		t.Errorf("status of rs1 after undrain: %+v", r)
	}
	if got := p.requests(t, web, 4); !strings.Contains(strings.Join(got, " "), "rs1") {
		t.Errorf("after undrain, new connections went to %v; want rs1 among them", got)
	}

	// Unknown real server: an error, and nothing changes.
	if out, err := drain("drain", "192.0.2.13:80"); err == nil {
		t.Errorf("drain of a real server not in the configuration succeeded: %s", out)
	}
	if w := a.view()[svcName(web)]; w[rs1] != 5 || w[rs2] != 1 {
		t.Errorf("a's table after a failed drain: %v", w)
	}
}
