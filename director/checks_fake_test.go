package director

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/hadirector/hadirector/healthcheck"
)

// severalConfig: VI_1's service with quorum 2 and quorum hooks; 192.0.2.11 (weight 10)
// has a tcp check and an exec check with misc_dynamic, 192.0.2.12 (weight 1) a tcp check.
const severalConfig = `
[global]
router_id = "t"
status_socket = ""

[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
priority = 100
advert_int = "1s"
virtual_ipaddress = ["192.0.2.100/24"]

[[virtual_server]]
address = "192.0.2.100:80"
quorum = 2
quorum_up = "/bin/true up"
quorum_down = "/bin/true down"
omega = true
  [[virtual_server.real_server]]
  address = "192.0.2.11:80"
  weight = 10
  notify_down = "/bin/true"
    [virtual_server.real_server.check]
    type = "tcp"
    [[virtual_server.real_server.checks]]
    type = "exec"
    command = "/bin/true"
    misc_dynamic = true
  [[virtual_server.real_server]]
  address = "192.0.2.12:80"
    [virtual_server.real_server.check]
    type = "tcp"
`

// check k of the real server rs of vs80.
func nthCheck(rs string, k int) healthcheck.ID {
	id := checkID(netip.MustParseAddrPort(rs))
	id.Check = k
	return id
}

// TestDynamicWeightOneOp: a weight a check sets (misc_dynamic) reaches the kernel as one
// IPVS update of the destination; a drained backend stays at 0 while it changes and takes
// the latest weight when undrained.
func TestDynamicWeightOneOp(t *testing.T) {
	h := newHarness(t, severalConfig)
	h.becomeMaster("VI_1")
	mon := h.os.monitor
	m := h.log.mark()
	mon.setWeight(nthCheck("192.0.2.11:80", 1), healthcheck.Weight{Kind: healthcheck.WeightAbsolute, Value: 5})
	quiesce(t)
	ops := matching(h.log.since(m, false), "ipvs")
	if len(ops) != 1 || !strings.HasPrefix(ops[0], "ipvs update destination tcp 192.0.2.100:80 -> 192.0.2.11:80") || !strings.Contains(ops[0], "weight 5") {
		t.Fatalf("a weight change made %q, want one update of 192.0.2.11 to weight 5", ops)
	}
	if w := rsStatus(t, h, "192.0.2.11:80"); w.Weight != 5 || len(w.CheckList) != 2 || w.CheckList[1].Weight != "5" || w.CheckList[1].Type != "exec" {
		t.Errorf("status %+v", w)
	}

	if err := h.d.Drain(t.Context(), vs80, rs11, true); err != nil {
		t.Fatal(err)
	}
	quiesce(t)
	m = h.log.mark()
	mon.setWeight(nthCheck("192.0.2.11:80", 1), healthcheck.Weight{Kind: healthcheck.WeightAbsolute, Value: 7})
	quiesce(t)
	if ops := matching(h.log.since(m, false), "ipvs"); len(ops) != 0 {
		t.Errorf("a drained backend's weight change made %q, want nothing (it stays 0)", ops)
	}
	if w := rsStatus(t, h, "192.0.2.11:80"); w.Weight != 0 || !w.Drained {
		t.Errorf("drained status %+v, want weight 0", w)
	}
	m = h.log.mark()
	if err := h.d.Drain(t.Context(), vs80, rs11, false); err != nil {
		t.Fatal(err)
	}
	quiesce(t)
	ops = matching(h.log.since(m, false), "ipvs")
	if len(ops) != 1 || !strings.Contains(ops[0], "weight 7") {
		t.Errorf("undrain made %q, want one update to the latest weight 7", ops)
	}
}

// TestDynamicWeightInhibit: with inhibit_on_failure a down backend is at weight 0 whatever
// its dynamic weight, and comes back at the weight its checks set.
func TestDynamicWeightInhibit(t *testing.T) {
	h := newHarness(t, strings.Replace(severalConfig, "quorum = 2\n", "quorum = 1\ninhibit_on_failure = true\n", 1))
	h.becomeMaster("VI_1")
	mon := h.os.monitor
	mon.setWeight(nthCheck("192.0.2.11:80", 1), healthcheck.Weight{Kind: healthcheck.WeightAbsolute, Value: 5})
	quiesce(t)
	m := h.log.mark()
	mon.set(false, nthCheck("192.0.2.11:80", 0))
	quiesce(t)
	ops := matching(h.log.since(m, false), "ipvs")
	if len(ops) != 1 || !strings.Contains(ops[0], "weight 0") {
		t.Fatalf("down with inhibit_on_failure made %q, want one update to weight 0", ops)
	}
	m = h.log.mark()
	mon.set(true, nthCheck("192.0.2.11:80", 0))
	quiesce(t)
	ops = matching(h.log.since(m, false), "ipvs")
	if len(ops) != 1 || !strings.Contains(ops[0], "weight 5") {
		t.Errorf("up again made %q, want one update to the dynamic weight 5", ops)
	}
}

// TestSeveralChecks: a real server is down while any of its checks is down; its hooks
// and the table change only when all of them together change.
func TestSeveralChecks(t *testing.T) {
	h := newHarness(t, severalConfig)
	h.becomeMaster("VI_1")
	mon := h.os.monitor
	exec, tcp := nthCheck("192.0.2.11:80", 1), nthCheck("192.0.2.11:80", 0)
	for _, step := range []struct {
		id   healthcheck.ID
		up   bool
		want []string // notify and ipvs lines, in order
	}{
		{exec, false, []string{"notify REALSERVER 192.0.2.11:80 DOWN", "ipvs delete destination tcp 192.0.2.100:80 -> 192.0.2.11:80"}},
		{tcp, false, nil},
		{exec, true, nil},
		{tcp, true, []string{"notify REALSERVER 192.0.2.11:80 UP", "ipvs add destination tcp 192.0.2.100:80 -> 192.0.2.11:80"}},
	} {
		m := h.log.mark()
		mon.set(step.up, step.id)
		quiesce(t)
		var got []string
		for _, l := range h.log.since(m, false) {
			if strings.HasPrefix(l, "notify REALSERVER") || strings.HasPrefix(l, "ipvs") {
				got = append(got, l)
			}
		}
		if len(got) != len(step.want) {
			t.Fatalf("check %d up=%v: %q, want %q", step.id.Check, step.up, got, step.want)
		}
		for i := range got {
			if !strings.HasPrefix(got[i], step.want[i]) {
				t.Errorf("check %d up=%v: %q, want %q", step.id.Check, step.up, got, step.want)
			}
		}
		if rs := rsStatus(t, h, "192.0.2.11:80"); len(rs.CheckList) != 2 || rs.CheckList[step.id.Check].Up != step.up {
			t.Errorf("status %+v", rs.CheckList)
		}
	}
}

// TestQuorumHooks: quorum_down runs after the hook of the real server whose loss took the
// quorum, quorum_up after the one that brought it back, and omega runs quorum_down at
// shutdown, before the hooks are drained.
func TestQuorumHooks(t *testing.T) {
	h := newHarness(t, severalConfig)
	h.becomeMaster("VI_1")
	if got := matching(h.log.since(0, false), "notify VS"); len(got) != 0 {
		t.Errorf("quorum hooks at start-up: %q (the first state runs none)", got)
	}
	mon := h.os.monitor
	m := h.log.mark()
	mon.set(false, nthCheck("192.0.2.11:80", 0))
	quiesce(t)
	got := h.log.since(m, false)
	inOrder(t, got, "notify REALSERVER 192.0.2.11:80 DOWN", "notify VS 192.0.2.100:80 DOWN /bin/true down")
	m = h.log.mark()
	mon.set(true, nthCheck("192.0.2.11:80", 0))
	quiesce(t)
	got = h.log.since(m, false)
	inOrder(t, got, "notify REALSERVER 192.0.2.11:80 UP", "notify VS 192.0.2.100:80 UP /bin/true up")
	if n := len(matching(got, "notify VS")); n != 1 {
		t.Errorf("quorum hooks %q, want one", matching(got, "notify VS"))
	}
	m = h.log.mark()
	h.shutdown()
	inOrder(t, h.log.since(m, false), "notify VS 192.0.2.100:80 DOWN /bin/true down", "notify drain")
}

// TestAlphaStartsDown: with alpha the real servers start down and out of the table, and
// come in on their first up transition.
func TestAlphaStartsDown(t *testing.T) {
	h := newHarness(t, strings.Replace(severalConfig, "omega = true\n", "omega = true\nalpha = true\n", 1))
	h.becomeMaster("VI_1")
	if got := matching(h.log.since(0, false), "ipvs add destination"); len(got) != 0 {
		t.Errorf("with alpha, destinations before any check passed: %q", got)
	}
	m := h.log.mark()
	h.os.monitor.set(true, nthCheck("192.0.2.12:80", 0))
	quiesce(t)
	inOrder(t, h.log.since(m, false), "notify REALSERVER 192.0.2.12:80 UP", "ipvs add destination tcp 192.0.2.100:80 -> 192.0.2.12:80")
}

func rsStatus(t *testing.T, h *harness, addr string) RealServerStatus {
	t.Helper()
	s := h.status()
	if s.LVS == nil || len(s.LVS.Services) != 1 {
		t.Fatalf("LVS status %+v", s.LVS)
	}
	for _, rs := range s.LVS.Services[0].RealServers {
		if rs.Address.String() == addr {
			return rs
		}
	}
	t.Fatalf("no real server %s in %+v", addr, s.LVS.Services[0])
	return RealServerStatus{}
}
