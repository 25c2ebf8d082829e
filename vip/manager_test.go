package vip

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeOps is the kernel as a map, for the Manager's bookkeeping without root.
type fakeOps struct {
	addrs  map[string][]netip.Prefix
	labels map[netip.Prefix]string
	// onAdd, if set, runs before an address is added and may fail the add.
	onAdd func(ifname string, p netip.Prefix) error
	calls []string
	rts   []Route // routes in the kernel
}

func newFake(ifnames ...string) *fakeOps {
	f := &fakeOps{addrs: map[string][]netip.Prefix{}, labels: map[netip.Prefix]string{}}
	for _, n := range ifnames {
		f.addrs[n] = nil
	}
	return f
}

func (f *fakeOps) list(ifname string) ([]netip.Prefix, error) {
	a, ok := f.addrs[ifname]
	if !ok {
		return nil, errNoInterface
	}
	return slices.Clone(a), nil
}

func (f *fakeOps) add(ifname string, p netip.Prefix, o AddrOptions) error {
	f.calls = append(f.calls, "add "+p.String())
	if _, ok := f.addrs[ifname]; !ok {
		return errNoInterface
	}
	if f.onAdd != nil {
		if err := f.onAdd(ifname, p); err != nil {
			return err
		}
	}
	if slices.ContainsFunc(f.addrs[ifname], func(q netip.Prefix) bool { return q.Addr() == p.Addr() }) {
		return errExists
	}
	f.addrs[ifname] = append(f.addrs[ifname], p)
	f.labels[p] = o.Label
	return nil
}

func (f *fakeOps) del(ifname string, p netip.Prefix) error {
	f.calls = append(f.calls, "del "+p.String())
	f.addrs[ifname] = slices.DeleteFunc(f.addrs[ifname], func(q netip.Prefix) bool { return q == p })
	return nil
}

func (f *fakeOps) close() error { return nil }

func pfx(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, x := range s {
		out = append(out, netip.MustParsePrefix(x))
	}
	return out
}

func testLogger(t testing.TB) (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

func newTestManager(t *testing.T, ops addrOps) (*Manager, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "hadirector", "vips.json")
	log, _ := testLogger(t)
	m, err := newManager(path, log, ops)
	if err != nil {
		t.Fatal(err)
	}
	return m, path
}

func readState(t *testing.T, path string) stateFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("state file: %v\n%s", err, b)
	}
	return st
}

func TestManagerStateFileCreated(t *testing.T) {
	_, path := newTestManager(t, newFake("eth0"))
	for p, want := range map[string]os.FileMode{path: 0o644, filepath.Dir(path): 0o755 | os.ModeDir} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
	}
	if st := readState(t, path); st.Version != 1 || len(st.VIPs) != 0 {
		t.Errorf("new state = %+v", st)
	}
}

// The record must be on disk before the kernel gets the address.
func TestManagerRecordsBeforeAdding(t *testing.T) {
	f := newFake("eth0")
	m, path := newTestManager(t, f)
	f.onAdd = func(ifname string, p netip.Prefix) error {
		st := readState(t, path)
		if !slices.ContainsFunc(st.VIPs, func(e stateEntry) bool { return e.Interface == ifname && e.Prefix == p }) {
			t.Errorf("adding %s: not in the state file yet: %+v", p, st.VIPs)
		}
		return nil
	}
	added, err := m.Add("eth0", pfx("192.0.2.100/24", "2001:db8::100/64"), "eth0:1")
	if err != nil || len(added) != 2 {
		t.Fatalf("Add = %v, %v", added, err)
	}
	if f.labels[pfx("192.0.2.100/24")[0]] != "eth0:1" || f.labels[pfx("2001:db8::100/64")[0]] != "" {
		t.Errorf("labels = %v (IPv4 only)", f.labels)
	}
	st := readState(t, path)
	want := []stateEntry{
		{"eth0", record{pfx("192.0.2.100/24")[0], "eth0:1"}},
		{"eth0", record{pfx("2001:db8::100/64")[0], ""}},
	}
	if !slices.Equal(st.VIPs, want) {
		t.Errorf("state = %+v, want %+v", st.VIPs, want)
	}
}

func TestManagerAddIdempotent(t *testing.T) {
	f := newFake("eth0")
	f.addrs["eth0"] = pfx("192.0.2.1/24", "192.0.2.50/24") // .50 added by hand
	m, _ := newTestManager(t, f)
	added, err := m.Add("eth0", pfx("192.0.2.100/24", "192.0.2.100/24", "192.0.2.50/24"), "")
	if err != nil || !slices.Equal(added, pfx("192.0.2.100/24")) {
		t.Fatalf("Add = %v, %v; want only .100 once", added, err)
	}
	added, err = m.Add("eth0", pfx("192.0.2.100/24"), "")
	if err != nil || len(added) != 0 {
		t.Fatalf("second Add = %v, %v; want nothing, no error", added, err)
	}
	if n := strings.Count(strings.Join(f.calls, ","), "add "); n != 1 {
		t.Errorf("kernel adds = %v, want 1", f.calls)
	}
	if got := m.Recorded("eth0"); !slices.Equal(got, pfx("192.0.2.100/24")) {
		t.Errorf("Recorded = %v; the hand-made .50 is not ours", got)
	}
}

func TestManagerRemoveOnlyOurs(t *testing.T) {
	f := newFake("eth0")
	f.addrs["eth0"] = pfx("192.0.2.50/24")
	m, path := newTestManager(t, f)
	if _, err := m.Add("eth0", pfx("192.0.2.100/24", "192.0.2.101/24", "192.0.2.50/24"), ""); err != nil {
		t.Fatal(err)
	}
	removed, err := m.Remove("eth0", pfx("192.0.2.100/24", "192.0.2.50/24", "198.51.100.1/24"))
	if err != nil || !slices.Equal(removed, pfx("192.0.2.100/24")) {
		t.Fatalf("Remove = %v, %v; want only .100", removed, err)
	}
	if !slices.Equal(f.addrs["eth0"], pfx("192.0.2.50/24", "192.0.2.101/24")) {
		t.Errorf("left on eth0: %v", f.addrs["eth0"])
	}
	removed, err = m.Remove("eth0", pfx("192.0.2.100/24"))
	if err != nil || len(removed) != 0 {
		t.Errorf("second Remove = %v, %v", removed, err)
	}
	// A new Manager (a restarted daemon) knows .101 is ours.
	m2, err := newManager(path, nil, f)
	if err != nil {
		t.Fatal(err)
	}
	if got := m2.Recorded("eth0"); !slices.Equal(got, pfx("192.0.2.101/24")) {
		t.Errorf("after restart Recorded = %v", got)
	}
	if removed, err := m2.Remove("eth0", pfx("192.0.2.101/24")); err != nil || len(removed) != 1 {
		t.Errorf("restart Remove = %v, %v", removed, err)
	}
	if st := readState(t, path); len(st.VIPs) != 0 {
		t.Errorf("state after removing all = %+v", st.VIPs)
	}
}

// A recorded address whose interface has gone is forgotten without error.
func TestManagerRemoveInterfaceGone(t *testing.T) {
	f := newFake("vrrp.51")
	m, _ := newTestManager(t, f)
	if _, err := m.Add("vrrp.51", pfx("192.0.2.100/24"), ""); err != nil {
		t.Fatal(err)
	}
	delete(f.addrs, "vrrp.51")
	if removed, err := m.Remove("vrrp.51", pfx("192.0.2.100/24")); err != nil || len(removed) != 0 {
		t.Errorf("Remove = %v, %v", removed, err)
	}
	if got := m.Recorded("vrrp.51"); len(got) != 0 {
		t.Errorf("Recorded = %v", got)
	}
	if _, err := m.Add("vrrp.51", pfx("192.0.2.100/24"), ""); !errors.Is(err, errNoInterface) {
		t.Errorf("Add on a missing interface: %v", err)
	}
}

func TestManagerAddFailureUnrecords(t *testing.T) {
	f := newFake("eth0")
	m, path := newTestManager(t, f)
	boom := errors.New("boom")
	f.onAdd = func(_ string, p netip.Prefix) error {
		if p.Addr().Is6() {
			return boom
		}
		return nil
	}
	added, err := m.Add("eth0", pfx("2001:db8::100/64", "192.0.2.100/24"), "")
	if !errors.Is(err, boom) || !slices.Equal(added, pfx("192.0.2.100/24")) {
		t.Fatalf("Add = %v, %v; want .100 added and boom", added, err)
	}
	if !strings.Contains(err.Error(), "vip: add 2001:db8::100/64 on eth0") {
		t.Errorf("error not wrapped with VIP and interface: %v", err)
	}
	if st := readState(t, path); len(st.VIPs) != 1 || st.VIPs[0].Prefix != pfx("192.0.2.100/24")[0] {
		t.Errorf("state = %+v; the failed VIP must not stay recorded", st.VIPs)
	}
}

func TestManagerLabel(t *testing.T) {
	m, _ := newTestManager(t, newFake("eth0"))
	for _, l := range []string{"eth1:1", "eth0:0123456789ab"} {
		if _, err := m.Add("eth0", pfx("192.0.2.100/24"), l); !errors.Is(err, ErrLabel) {
			t.Errorf("label %q: err = %v, want ErrLabel", l, err)
		}
	}
}

// A VIP that cannot be recorded is still claimed, and the caller is told.
func TestManagerStateWriteFailure(t *testing.T) {
	f := newFake("eth0")
	m, path := newTestManager(t, f)
	dir := filepath.Dir(path)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o644); err != nil { // a file where the directory was
		t.Fatal(err)
	}
	added, err := m.Add("eth0", pfx("192.0.2.100/24"), "")
	if !errors.Is(err, ErrStateFile) || len(added) != 1 {
		t.Errorf("Add = %v, %v; want the VIP added and ErrStateFile", added, err)
	}
}

func TestManagerCleanupStale(t *testing.T) {
	f := newFake("eth0")
	m, path := newTestManager(t, f)
	if _, err := m.Add("eth0", pfx("192.0.2.100/24"), ""); err != nil {
		t.Fatal(err)
	}
	// Left by keepalived or a run without a state file: configured, present, unrecorded.
	f.addrs["eth0"] = append(f.addrs["eth0"], pfx("192.0.2.101/32", "192.0.2.1/24")...)

	log, buf := testLogger(t)
	m2, err := newManager(path, log, f)
	if err != nil {
		t.Fatal(err)
	}
	vips := pfx("192.0.2.100/24", "192.0.2.101/24", "192.0.2.102/24")
	if removed, err := m2.CleanupStale("eth0", vips, true); err != nil || len(removed) != 0 {
		t.Fatalf("owner CleanupStale = %v, %v; want nothing removed", removed, err)
	}
	if len(f.addrs["eth0"]) != 3 {
		t.Fatalf("owner: addresses changed: %v", f.addrs["eth0"])
	}
	removed, err := m2.CleanupStale("eth0", vips, false)
	if err != nil || !slices.Equal(removed, pfx("192.0.2.100/24", "192.0.2.101/32")) {
		t.Fatalf("CleanupStale = %v, %v", removed, err)
	}
	if !slices.Equal(f.addrs["eth0"], pfx("192.0.2.1/24")) {
		t.Errorf("left: %v; the interface's own address must stay", f.addrs["eth0"])
	}
	if st := readState(t, path); len(st.VIPs) != 0 {
		t.Errorf("state = %+v", st.VIPs)
	}
	var warned bool
	for line := range strings.Lines(buf.String()) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["level"] == "WARN" &&
			rec["vip"] == "192.0.2.101/32" && rec["interface"] == "eth0" {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no warning with vip and interface keys for the unrecorded VIP:\n%s", buf)
	}
	if removed, err := m2.CleanupStale("nosuch0", vips, false); err != nil || removed != nil {
		t.Errorf("CleanupStale on a missing interface = %v, %v", removed, err)
	}
}

func TestManagerCorruptStateMovedAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vips.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := newManager(path, nil, newFake("eth0"))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Recorded("eth0"); len(got) != 0 {
		t.Errorf("Recorded = %v", got)
	}
	if b, err := os.ReadFile(path + ".corrupt"); err != nil || string(b) != "{not json" {
		t.Errorf("corrupt file not kept: %q, %v", b, err)
	}
	if st := readState(t, path); st.Version != 1 {
		t.Errorf("fresh state = %+v", st)
	}
}

// The state file is a decoder of outside input: it must never panic, and what it keeps
// must survive a save and a reload unchanged.
func FuzzStateFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"vips":[{"interface":"eth0","prefix":"192.0.2.100/24","label":"eth0:1"},{"interface":"eth0","prefix":"2001:db8::100/64"}]}`))
	f.Add([]byte(`{"version":1,"vips":[{"interface":"","prefix":"192.0.2.100/24"}]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "vips.json")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := newManager(path, nil, newFake())
		if err != nil {
			t.Fatal(err)
		}
		if err := m.save(); err != nil {
			t.Fatal(err)
		}
		m2, err := newManager(path, nil, newFake())
		if err != nil {
			t.Fatal(err)
		}
		if len(m.owned) != len(m2.owned) {
			t.Fatalf("round trip: %v != %v", m.owned, m2.owned)
		}
		for ifname, recs := range m.owned {
			for a, r := range recs {
				if m2.owned[ifname][a] != r {
					t.Fatalf("round trip %s %s: %v != %v", ifname, a, r, m2.owned[ifname][a])
				}
			}
		}
	})
}

func (f *fakeOps) routeAdd(r Route) error {
	f.calls = append(f.calls, "route add "+r.String())
	if slices.Contains(f.rts, r) {
		return errRouteExists
	}
	f.rts = append(f.rts, r)
	return nil
}

func (f *fakeOps) routeDel(r Route) error {
	f.calls = append(f.calls, "route del "+r.String())
	f.rts = slices.DeleteFunc(f.rts, func(q Route) bool { return q == r })
	return nil
}

func (f *fakeOps) ruleAdd(r Rule) error {
	f.calls = append(f.calls, "rule add "+r.String())
	return nil
}

func (f *fakeOps) ruleDel(r Rule) error {
	f.calls = append(f.calls, "rule del "+r.String())
	return nil
}
