package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hadirector/hadirector/internal/lab"
)

// TestRealserverUpDown: the DR real-server set-up in a namespace, idempotent, and undone
// exactly.
func TestRealserverUpDown(t *testing.T) {
	l := lab.New(t)
	bin := lab.Build(t, "./cmd/hadirector")
	rs := l.Host("rs", "198.51.100.11/24")
	state := filepath.Join(t.TempDir(), "rs.json")
	sysctl := func(k string) string {
		return strings.TrimSpace(rs.MustRun(t, "cat", "/proc/sys/net/ipv4/conf/"+k))
	}
	before := map[string]string{}
	for _, k := range []string{"lo/arp_ignore", "lo/arp_announce", "all/arp_ignore", "all/arp_announce"} {
		before[k] = sysctl(k)
	}
	out := rs.MustRun(t, bin, "realserver", "up", "--vip", "192.0.2.100", "-state", state)
	if !strings.Contains(out, "added 192.0.2.100/32 on lo") {
		t.Errorf("up said:\n%s", out)
	}
	if !strings.Contains(rs.MustRun(t, "ip", "-o", "addr", "show", "dev", "lo"), "192.0.2.100/32") {
		t.Fatal("VIP not on lo")
	}
	for k, want := range map[string]string{"lo/arp_ignore": "1", "lo/arp_announce": "2", "all/arp_ignore": "1", "all/arp_announce": "2"} {
		if got := sysctl(k); got != want {
			t.Errorf("%s = %s, want %s", k, got, want)
		}
	}
	if out := rs.MustRun(t, bin, "realserver", "up", "--vip", "192.0.2.100", "-state", state); !strings.Contains(out, "nothing to change") {
		t.Errorf("second up changed something:\n%s", out)
	}
	rs.MustRun(t, bin, "realserver", "down", "-state", state)
	if strings.Contains(rs.MustRun(t, "ip", "-o", "addr", "show", "dev", "lo"), "192.0.2.100") {
		t.Error("VIP still on lo after down")
	}
	for k, want := range before {
		if got := sysctl(k); got != want {
			t.Errorf("after down %s = %s, want the original %s", k, got, want)
		}
	}
}
