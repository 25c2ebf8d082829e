package vip

import (
	"net/netip"
	"slices"
	"testing"
)

// TestRoutesOwnership: routes are recorded before they are added and survive a restart in
// the state file; a route the kernel already had is not ours and is never removed.
func TestRoutesOwnership(t *testing.T) {
	f := newFake("eth0")
	theirs := Route{Dst: netip.MustParsePrefix("203.0.113.0/24"), Type: "blackhole"}
	f.rts = []Route{theirs}
	m, path := newTestManager(t, f)
	ours := Route{Dst: netip.MustParsePrefix("198.51.100.0/24"), Via: netip.MustParseAddr("192.0.2.1"), Dev: "eth0", Table: 100, Metric: 5}
	added, err := m.AddRoutes([]Route{ours, theirs})
	if err != nil || !slices.Equal(added, []Route{ours}) {
		t.Fatalf("AddRoutes = %v, %v", added, err)
	}
	m2, err := newManager(path, nil, f)
	if err != nil {
		t.Fatal(err)
	}
	if got := m2.RecordedRoutes(); !slices.Equal(got, []Route{ours}) {
		t.Fatalf("recorded after restart %v, want only ours", got)
	}
	removed, err := m2.RemoveRoutes([]Route{ours, theirs})
	if err != nil || !slices.Equal(removed, []Route{ours}) {
		t.Errorf("RemoveRoutes = %v, %v", removed, err)
	}
	if !slices.Equal(f.rts, []Route{theirs}) {
		t.Errorf("kernel routes %v, want only the one we did not add", f.rts)
	}
	if got := m2.RecordedRoutes(); len(got) != 0 {
		t.Errorf("still recorded: %v", got)
	}
}
