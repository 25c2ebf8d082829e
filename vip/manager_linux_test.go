package vip

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func (l *lab) newManager(path string) *Manager {
	l.t.Helper()
	log, _ := testLogger(l.t)
	m := inNS(l, l.nodeNS, func() (*Manager, error) { return NewManager(path, log) })
	l.t.Cleanup(func() { m.Close() })
	return m
}

func TestManagerNetlink(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	path := filepath.Join(t.TempDir(), "run", "hadirector", "vips.json")
	m := l.newManager(path)

	vips := pfx("192.0.2.100/24", "192.0.2.101/32", "2001:db8::100/64", "fe80::51/64")
	added, err := m.Add("veth0", vips, "veth0:vip")
	if err != nil || !slices.Equal(added, vips) {
		t.Fatalf("Add = %v, %v", added, err)
	}
	for _, c := range []struct{ addr, want string }{
		{"192.0.2.100/24", "veth0:vip"},
		{"192.0.2.101/32", "veth0:vip"},
	} {
		line := l.addrLine(l.node, "veth0", c.addr)
		if f := strings.Fields(line); !slices.Contains(f, c.want) {
			t.Errorf("%s: want label %s in `ip -o addr`: %q", c.addr, c.want, line)
		}
	}
	for _, a := range []string{"2001:db8::100/64", "fe80::51/64"} {
		line := l.addrLine(l.node, "veth0", a)
		// With DAD the address would be tentative for a second: unusable on failover.
		if f := strings.Fields(line); !slices.Contains(f, "nodad") || slices.Contains(f, "tentative") {
			t.Errorf("%s: want nodad and not tentative: %q", a, line)
		}
	}
	for _, p := range vips {
		if ok, err := m.Has("veth0", p); !ok || err != nil {
			t.Errorf("Has(%s) = %v, %v", p, ok, err)
		}
	}
	if ok, err := m.Has("veth0", pfx("192.0.2.100/25")[0]); ok || err != nil {
		t.Errorf("Has with another prefix length = %v, %v", ok, err)
	}
	promote := inNS(l, l.nodeNS, func() (string, error) {
		b, err := os.ReadFile("/proc/sys/net/ipv4/conf/veth0/promote_secondaries")
		return strings.TrimSpace(string(b)), err
	})
	if promote != "1" {
		t.Errorf("promote_secondaries on veth0 = %s, want 1", promote)
	}

	// Twice: nothing added, no error, nothing duplicated.
	if added, err := m.Add("veth0", vips, "veth0:vip"); err != nil || len(added) != 0 {
		t.Errorf("second Add = %v, %v", added, err)
	}

	// By hand: not ours, even when asked to add and then remove it.
	l.run("-n", l.node, "addr", "add", "192.0.2.50/24", "dev", "veth0")
	if added, err := m.Add("veth0", pfx("192.0.2.50/24"), ""); err != nil || len(added) != 0 {
		t.Errorf("Add of a hand-made address = %v, %v", added, err)
	}
	removed, err := m.Remove("veth0", pfx("192.0.2.50/24", "192.0.2.100/24"))
	if err != nil || !slices.Equal(removed, pfx("192.0.2.100/24")) {
		t.Errorf("Remove = %v, %v; want only .100", removed, err)
	}
	if l.addrLine(l.node, "veth0", "192.0.2.50/24") == "" {
		t.Error("the hand-made 192.0.2.50/24 was removed")
	}
	if l.addrLine(l.node, "veth0", "192.0.2.100/24") != "" {
		t.Error("192.0.2.100/24 still there")
	}
	if l.addrLine(l.node, "veth0", "192.0.2.1/24") == "" {
		t.Error("the interface's own address went")
	}

	if _, err := m.Add("veth0", pfx("192.0.2.102/24"), "eth0:1"); !errors.Is(err, ErrLabel) {
		t.Errorf("label for another interface: %v", err)
	}

	// The state file, and a restarted daemon that reads it.
	for p, want := range map[string]os.FileMode{path: 0o644, filepath.Dir(path): 0o755 | os.ModeDir} {
		if fi, err := os.Stat(p); err != nil || fi.Mode() != want {
			t.Errorf("%s: %v, %v; want mode %v", p, fi.Mode(), err, want)
		}
	}
	b, _ := os.ReadFile(path)
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil || len(st.VIPs) != 3 {
		t.Errorf("state file: %v\n%s", err, b)
	}
	m.Close()
	m2 := l.newManager(path)
	want := pfx("192.0.2.101/32", "2001:db8::100/64", "fe80::51/64")
	if got := m2.Recorded("veth0"); !slices.Equal(got, want) {
		t.Errorf("restarted Recorded = %v, want %v", got, want)
	}
	removed, err = m2.Remove("veth0", vips)
	if err != nil || !slices.Equal(removed, want) {
		t.Errorf("restarted Remove = %v, %v; want %v", removed, err, want)
	}
	for _, p := range want {
		if line := l.addrLine(l.node, "veth0", p.String()); line != "" {
			t.Errorf("still there: %s", line)
		}
	}
	if removed, err := m2.Remove("veth0", vips); err != nil || len(removed) != 0 {
		t.Errorf("Remove again = %v, %v", removed, err)
	}
}

func TestCleanupStaleNetlink(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	path := filepath.Join(t.TempDir(), "vips.json")
	m := l.newManager(path)
	if _, err := m.Add("veth0", pfx("192.0.2.100/24"), ""); err != nil {
		t.Fatal(err)
	}
	m.Close() // "crash": the address stays, and so does the record

	// keepalived, or a run that lost its state file, left this one unrecorded.
	l.run("-n", l.node, "addr", "add", "192.0.2.101/24", "dev", "veth0")

	log, buf := testLogger(t)
	m2 := inNS(l, l.nodeNS, func() (*Manager, error) { return NewManager(path, log) })
	defer m2.Close()
	vips := pfx("192.0.2.100/24", "192.0.2.101/24", "2001:db8::100/64")

	if removed, err := m2.CleanupStale("veth0", vips, true); err != nil || len(removed) != 0 {
		t.Errorf("owner CleanupStale = %v, %v", removed, err)
	}
	for _, a := range []string{"192.0.2.100/24", "192.0.2.101/24"} {
		if l.addrLine(l.node, "veth0", a) == "" {
			t.Errorf("owner: %s removed", a)
		}
	}

	removed, err := m2.CleanupStale("veth0", vips, false)
	if err != nil || !slices.Equal(removed, pfx("192.0.2.100/24", "192.0.2.101/24")) {
		t.Fatalf("CleanupStale = %v, %v", removed, err)
	}
	for _, a := range []string{"192.0.2.100/24", "192.0.2.101/24"} {
		if line := l.addrLine(l.node, "veth0", a); line != "" {
			t.Errorf("stale VIP still there: %s", line)
		}
	}
	if l.addrLine(l.node, "veth0", "192.0.2.1/24") == "" {
		t.Error("the interface's own address went")
	}
	if !strings.Contains(buf.String(), `"level":"WARN"`) || !strings.Contains(buf.String(), `"vip":"192.0.2.101/24"`) {
		t.Errorf("want a warning with the vip key for the unrecorded VIP:\n%s", buf)
	}
	if removed, err := m2.CleanupStale("nosuch0", vips, false); err != nil || len(removed) != 0 {
		t.Errorf("missing interface: %v, %v", removed, err)
	}
}

// TestManagerAddrOptions: scope and broadcast reach the kernel as `ip addr add … scope
// … brd …` would put them.
func TestManagerAddrOptions(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	m := l.newManager(filepath.Join(t.TempDir(), "vips.json"))
	o := AddrOptions{Label: "veth0:gw", Scope: unix.RT_SCOPE_LINK, Broadcast: netip.MustParseAddr("198.51.100.255")}
	if _, err := m.AddWith("veth0", pfx("198.51.100.254/24"), o); err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(l.addrLine(l.node, "veth0", "198.51.100.254/24"))
	for _, want := range [][2]string{{"brd", "198.51.100.255"}, {"scope", "link"}} {
		if i := slices.Index(f, want[0]); i < 0 || i+1 >= len(f) || f[i+1] != want[1] {
			t.Errorf("want %s %s in `ip -o addr`: %q", want[0], want[1], f)
		}
	}
	if !slices.Contains(f, "veth0:gw") {
		t.Errorf("want label veth0:gw: %q", f)
	}
}

// TestRoutesNetlink: every route type the config offers reaches the kernel and goes again.
func TestRoutesNetlink(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	m := l.newManager(filepath.Join(t.TempDir(), "vips.json"))
	routes := []Route{
		{Dst: netip.MustParsePrefix("198.51.100.0/24"), Via: netip.MustParseAddr("192.0.2.254"), Dev: "veth0", Metric: 7},
		{Dst: netip.MustParsePrefix("203.0.113.0/24"), Src: netip.MustParseAddr("192.0.2.1"), Dev: "veth0", Table: 100},
		{Dst: netip.MustParsePrefix("203.0.113.64/26"), Type: "blackhole"},
		{Dst: netip.MustParsePrefix("203.0.113.128/26"), Type: "unreachable", Table: 1000},
	}
	if added, err := m.AddRoutes(routes); err != nil || len(added) != len(routes) {
		t.Fatalf("AddRoutes = %v, %v", added, err)
	}
	for _, c := range [][]string{
		{"198.51.100.0/24 via 192.0.2.254 dev veth0", "metric 7", "main"},
		{"203.0.113.0/24 dev veth0", "src 192.0.2.1", "100"},
		{"blackhole 203.0.113.64/26", "", "main"},
		{"unreachable 203.0.113.128/26", "", "1000"},
	} {
		out := l.run("-n", l.node, "route", "show", "table", c[2])
		if !strings.Contains(out, c[0]) || !strings.Contains(out, c[1]) {
			t.Errorf("table %s lacks %q %q:\n%s", c[2], c[0], c[1], out)
		}
	}
	if removed, err := m.RemoveRoutes(routes); err != nil || len(removed) != len(routes) {
		t.Fatalf("RemoveRoutes = %v, %v", removed, err)
	}
	for _, table := range []string{"main", "100", "1000"} {
		if out := l.run("-n", l.node, "route", "show", "table", table); strings.Contains(out, "203.0.113.") || strings.Contains(out, "198.51.100.") {
			t.Errorf("table %s still has our routes:\n%s", table, out)
		}
	}
}

// TestRulesNetlink: rules reach the kernel, survive in the state file, and go again;
// a rule we did not add is left alone.
func TestRulesNetlink(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	path := filepath.Join(t.TempDir(), "vips.json")
	m := l.newManager(path)
	l.run("-n", l.node, "rule", "add", "from", "203.0.113.0/24", "table", "200", "priority", "300")
	theirs := Rule{From: netip.MustParsePrefix("203.0.113.0/24"), Table: 200, Priority: 300}
	rules := []Rule{
		{From: netip.MustParsePrefix("198.51.100.0/24"), Table: 100, Priority: 100},
		{To: netip.MustParsePrefix("2001:db8:1::/48"), Fwmark: 7, Table: 101, Priority: 101, IPv6: true},
	}
	if added, err := m.AddRules(append(rules, theirs)); err != nil || len(added) != len(rules) {
		t.Fatalf("AddRules = %v, %v", added, err)
	}
	if out := l.run("-n", l.node, "rule", "show"); !strings.Contains(out, "100:\tfrom 198.51.100.0/24 lookup 100") {
		t.Errorf("rule missing:\n%s", out)
	}
	if out := l.run("-n", l.node, "-6", "rule", "show"); !strings.Contains(out, "to 2001:db8:1::/48 fwmark 0x7 lookup 101") {
		t.Errorf("IPv6 rule missing:\n%s", out)
	}
	m2 := l.newManager(path)
	if removed, err := m2.RemoveRules(append(rules, theirs)); err != nil || len(removed) != len(rules) {
		t.Fatalf("RemoveRules after a restart = %v, %v", removed, err)
	}
	out := l.run("-n", l.node, "rule", "show")
	if strings.Contains(out, "198.51.100.0/24") || !strings.Contains(out, "from 203.0.113.0/24 lookup 200") {
		t.Errorf("after RemoveRules:\n%s", out)
	}
	if out := l.run("-n", l.node, "-6", "rule", "show"); strings.Contains(out, "2001:db8:1::") {
		t.Errorf("IPv6 rule left:\n%s", out)
	}
}
