package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTrackFileForcesFailover: an operator writes a number into a track file and the
// master hands over without being stopped; writing 0 brings it back.
func TestTrackFileForcesFailover(t *testing.T) {
	p := newPair(t, 150, 100, "", "")
	file := filepath.Join(p.a.dir, "maintenance")
	os.WriteFile(file, []byte("0\n"), 0o644)
	b, _ := os.ReadFile(p.a.cfg)
	cfg := strings.Replace(string(b), "[[vrrp_instance]]", fmt.Sprintf("[[vrrp_track_file]]\nname = \"maint\"\nfile = %q\nweight = 1\n\n[[vrrp_instance]]", file), 1)
	cfg += "track_file = [\"maint\"]\n"
	os.WriteFile(p.a.cfg, []byte(cfg), 0o644)
	p.elect()
	os.WriteFile(file, []byte("-60\n"), 0o644)
	eventually(t, time.Second+p.b.mdi()+slack, "b takes over when a's priority drops to 90", func() bool {
		return p.b.hasVIP() && !p.a.hasVIP()
	})
	os.WriteFile(file, []byte("0\n"), 0o644)
	eventually(t, time.Second+p.a.mdi()+slack, "a preempts again", func() bool { return p.a.hasVIP() && !p.b.hasVIP() })
}
