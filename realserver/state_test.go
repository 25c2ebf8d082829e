package realserver

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "rs.json")
	st, err := load(path)
	if err != nil || len(st.Added) != 0 || len(st.Sysctls) != 0 {
		t.Fatalf("missing file: %+v, %v", st, err)
	}
	st.Added = []netip.Prefix{netip.MustParsePrefix("192.0.2.100/32")}
	st.Sysctls["net.ipv4.conf.lo.arp_ignore"] = "0"
	if err := save(path, st); err != nil {
		t.Fatal(err)
	}
	got, err := load(path)
	if err != nil || !reflect.DeepEqual(got, st) {
		t.Fatalf("load = %+v, %v; want %+v", got, err, st)
	}
}

// TestStateLegacyKeys: a state file written by a version that keyed the sysctls by path
// still restores them after an upgrade.
func TestStateLegacyKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rs.json")
	old := `{"added":["192.0.2.100/32"],"sysctls":{"net/ipv4/conf/lo/arp_ignore":"0","net/ipv4/conf/all/arp_announce":"1"}}`
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"net.ipv4.conf.lo.arp_ignore": "0", "net.ipv4.conf.all.arp_announce": "1"}
	if !reflect.DeepEqual(st.Sysctls, want) {
		t.Fatalf("sysctls %v, want %v", st.Sysctls, want)
	}
}
