package main

import (
	"bytes"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hadirector/hadirector/internal/bench"
)

// testdata/benchmarks.json was recorded by a -quick run (make benchmarks BENCH_ARGS=-quick).
const recorded = "testdata/benchmarks.json"

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// wantRatio formats a/b as the report must.
func wantRatio(a, b float64) string { return strconv.FormatFloat(a/b, 'f', 2, 64) + "×" }

// rowWith is the one markdown table row that starts with prefix, and holds every want.
func rowWith(t *testing.T, md, prefix string, want ...string) {
	t.Helper()
	var rows []string
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, prefix) {
			rows = append(rows, line)
		}
	}
	if len(rows) == 0 {
		t.Errorf("no row starts with %q", prefix)
		return
	}
	for _, r := range rows {
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(r, w)
		}
		if ok {
			return
		}
	}
	t.Errorf("no row %q… holds %q:\n%s", prefix, want, strings.Join(rows, "\n"))
}

func TestRenderRecordedRun(t *testing.T) {
	d, err := loadData(recorded)
	if err != nil {
		t.Fatal(err)
	}
	if d.Failover == nil || d.Idle == nil || d.LVS == nil || d.ChecksHost == nil || d.ChecksVM == nil {
		t.Fatal("the recorded run lacks an area; record it again with every area")
	}
	md := renderMarkdown(d, "takeover.png")
	if md != renderMarkdown(d, "takeover.png") {
		t.Error("rendering is not deterministic")
	}
	for _, want := range []string{"## Machine and versions", "## Failover against keepalived", "## Idle CPU and memory",
		"## IPVS programming against ipvsadm", "## Health checks at scale", "## Raw samples", "![Takeover-time distributions",
		"| load average (1, 5, 15 min) | " + d.Machine.LoadStart + " at the start, " + d.Machine.LoadEnd + " at the end",
		"| keepalived | " + d.Versions["keepalived"] + " |", "| ipvsadm | " + d.Versions["ipvsadm"] + " |", "`" + d.Invocation + "`",
		"**This is a quick development run"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, c := range d.Commands {
		rowWith(t, md, "| "+c.Area+" | `"+c.Line+"`")
	}

	// Failover: the kill -9 takeover of every scenario, recomputed from the raw samples.
	for _, si := range d.Failover.Scenarios {
		vals := map[bench.Impl][]float64{}
		for _, s := range d.Failover.Samples {
			if s.Scenario == si.Name && s.Kind == bench.KindKill && s.Takeover.Seen() {
				vals[s.Impl] = append(vals[s.Impl], float64(s.Takeover))
			}
		}
		k, h := vals[bench.Keepalived], vals[bench.Hadirector]
		if len(k) == 0 || len(h) == 0 {
			t.Fatalf("%s: recorded run has no kill samples of both", si.Name)
		}
		// The section of this scenario, up to the next one.
		sec := md[strings.Index(md, "### "+si.Name+":"):]
		if i := strings.Index(sec[4:], "\n### "); i >= 0 {
			sec = sec[:i+4]
		}
		rowWith(t, sec, "| "+bench.Metrics[0].Name+" | "+strconv.Itoa(len(k))+" | ",
			" "+bench.Ms(median(h)).String()+" ", " "+bench.Ms(slices.Max(k)).String()+" ",
			wantRatio(median(h), median(k)), wantRatio(slices.Max(h), slices.Max(k)))
	}

	// Idle: the master's PSS.
	pss := map[bench.Impl][]float64{}
	for _, s := range d.Idle.Samples {
		if s.Node == "master" && s.Err == "" {
			pss[s.Impl] = append(pss[s.Impl], float64(s.PSS)/(1<<20))
		}
	}
	rowWith(t, md, "| master | PSS, MiB", wantRatio(median(pss[bench.Hadirector]), median(pss[bench.Keepalived])))

	// IPVS: the full sync against ipvsadm -R, with the target's verdict.
	full, restore := d.LVS.Row("full sync (1 worker)"), d.LVS.Row("ipvsadm -R (11000 rules)")
	if full == nil || restore == nil {
		t.Fatal("recorded IPVS rows missing")
	}
	rowWith(t, md, "| full sync (1 worker) | ", wantRatio(median(full.SamplesMs), median(restore.SamplesMs)), "≤ 0.50×")

	// Health checks in the VM: CPU per check of each N, hadirector against keepalived.
	for _, r := range d.ChecksVM.Runs {
		if r.Impl != "hadirector" {
			continue
		}
		for _, k := range d.ChecksVM.Runs {
			if k.Impl == "keepalived" && k.N == r.N {
				rowWith(t, md, "| "+strconv.Itoa(r.N)+" | CPU µs/check | ", wantRatio(r.CPUPerCheckUs(), k.CPUPerCheckUs()))
			}
		}
	}
	// Every raw failover sample is listed.
	if got := strings.Count(md, "\n| hadirector | v") + strings.Count(md, "\n| keepalived | v"); got != len(d.Failover.Samples) {
		t.Errorf("raw failover rows: %d, want %d", got, len(d.Failover.Samples))
	}
}

func TestPlotRecordedRun(t *testing.T) {
	d, err := loadData(recorded)
	if err != nil {
		t.Fatal(err)
	}
	b, err := plotTakeover(d)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := img.Bounds().Dx(), 520*len(d.Failover.Scenarios); got != want {
		t.Errorf("width %d, want %d (a column per scenario)", got, want)
	}
	if got, want := img.Bounds().Dy(), 460*len(panels); got != want {
		t.Errorf("height %d, want %d (a row per failure)", got, want)
	}
	// Both implementations' samples are drawn in their colours.
	seen := map[color.RGBA]int{}
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			c := color.RGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(bl >> 8), A: uint8(a >> 8)}
			seen[c]++
		}
	}
	for impl, c := range implColor {
		if seen[c] < 100 {
			t.Errorf("%s's colour %v: %d pixels", impl, c, seen[c])
		}
	}
	if _, err := plotTakeover(&Data{}); err != nil {
		t.Errorf("placeholder plot: %v", err)
	}
}

// TestFromRecorded renders through the command line, as make benchmarks' -from does, and
// checks that benchmarks.json survives the round trip.
func TestFromRecorded(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	if code := run([]string{"-from", recorded, "-out", dir}, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, f := range []string{mdName, pngName, jsonName} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	again, err := loadData(filepath.Join(dir, jsonName))
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := loadData(recorded)
	if a, b := renderMarkdown(orig, pngName), renderMarkdown(again, pngName); a != b {
		t.Error("benchmarks.json did not survive a save and a load")
	}
	md, _ := os.ReadFile(filepath.Join(dir, mdName))
	if string(md) != renderMarkdown(orig, pngName) {
		t.Error("the written report differs from the rendered one")
	}
	if got := shownArgs([]string{"-both", "-json-file", "/tmp/x.json", "-n", "1,2"}); got != "-both -n 1,2" {
		t.Errorf("shownArgs = %q", got)
	}
	if code := run([]string{"-areas", "nope"}, &stderr); code != 2 {
		t.Errorf("unknown area: exit %d, want 2", code)
	}
}

func TestRatioAndVMKernel(t *testing.T) {
	for _, c := range []struct {
		a, b float64
		ok   bool
		want string
	}{{1, 2, true, "0.50×"}, {3, 1, true, "3.00×"}, {1, 0, true, "n/a"}, {1, 2, false, "n/a"}, {-1, 2, true, "n/a"}} {
		if got := ratio(c.a, c.b, c.ok); got != c.want {
			t.Errorf("ratio(%v, %v, %v) = %q, want %q", c.a, c.b, c.ok, got, c.want)
		}
	}
	if got := msRatio(bench.NotSeen, 5); got != "n/a" {
		t.Errorf("ratio with a value not seen: %q", got)
	}
	console := "boot\nVMTEST-READY abc uptime=2.21 kernel=6.1.0-56-cloud-amd64 modules=ip_vs\n"
	if got := vmKernel(console); got != "6.1.0-56-cloud-amd64" {
		t.Errorf("vmKernel = %q", got)
	}
	if got := vmKernel("no vm here"); got != "" {
		t.Errorf("vmKernel of nothing = %q", got)
	}
}
