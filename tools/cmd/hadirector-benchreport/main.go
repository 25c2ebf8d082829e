// Command hadirector-benchreport runs every benchmark of the project in one go and writes
// docs/BENCHMARKS.md (machine facts, versions, the exact commands, one table per area with
// median, worst and the ratio against keepalived or ipvsadm measured in the same run, the
// raw samples) and docs/takeover.png (the takeover-time distributions). It needs root (the
// namespace benches) and qemu (the IPVS benches run in the test VM; see internal/vmtest).
//
//	make benchmarks                                            # the full run, about 15 minutes
//	make benchmarks BENCH_ARGS=-quick                          # 2-3 repetitions, short windows
//	make benchmarks BENCH_ARGS='-from docs/benchmarks.json'    # render again only
//
// It lives in the nested module tools/ (its plotting brings gonum/plot and its font, LaTeX
// and PDF dependencies, which the daemon's module does not need) and runs from the
// repository's root, where it builds the commands it measures.
// The benches run one after another, never side by side: failover, idle, health checks on
// the host, then one VM boot for the IPVS bench and the health-check comparison. Each writes
// JSON (-json-file, or a BENCH-JSON console line from the VM) that is collected into
// docs/benchmarks.json and rendered from there. A bench that fails is reported as such and
// the others still run.
//
// Exit status: 0 written, 1 a bench failed (the report is written all the same), 2 usage.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hadirector/hadirector/internal/bench"
	"github.com/hadirector/hadirector/internal/benchdata"
)

// plan is what one report run measures.
type plan struct {
	reps            int
	scenarios       string
	idle            time.Duration
	idleSlices      int
	checkNs         string
	checkDuration   time.Duration
	vmCheckNs       string
	vmCheckDuration time.Duration
	vmTimeout       time.Duration
	areas           map[string]bool
}

var allAreas = []string{"failover", "idle", "checks", "vm"}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("hadirector-benchreport", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "a development run: 2 repetitions, short windows, small N (minutes, not a report to publish)")
	out := fs.String("out", "docs", "directory for BENCHMARKS.md, takeover.png and benchmarks.json")
	from := fs.String("from", "", "render from this benchmarks.json instead of measuring")
	areas := fs.String("areas", strings.Join(allAreas, ","), "areas to measure: "+strings.Join(allAreas, ", "))
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %v\n", fs.Args())
		return 2
	}
	if *from != "" {
		d, err := loadData(*from)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if err := write(d, *out); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}
	p := plan{reps: 10, scenarios: "v2-1s,v3-100ms,v3-10ms", idle: time.Minute, idleSlices: 6,
		checkNs: "1000,5000,10000", checkDuration: 20 * time.Second,
		vmCheckNs: "1000,5000,10000", vmCheckDuration: 30 * time.Second, vmTimeout: 45 * time.Minute, areas: map[string]bool{}}
	if *quick {
		p.reps, p.idle, p.idleSlices = 2, 12*time.Second, 3
		p.checkNs, p.checkDuration = "1000", 5*time.Second
		p.vmCheckNs, p.vmCheckDuration, p.vmTimeout = "200", 5*time.Second, 15*time.Minute
	}
	for _, a := range strings.Split(*areas, ",") {
		a = strings.TrimSpace(a)
		if !slices.Contains(allAreas, a) {
			fmt.Fprintf(stderr, "-areas: unknown area %q (have %s)\n", a, strings.Join(allAreas, ", "))
			return 2
		}
		p.areas[a] = true
	}
	d, err := measure(p, *quick, stderr)
	if d != nil {
		if werr := write(d, *out); werr != nil {
			fmt.Fprintln(stderr, werr)
			return 1
		}
		fmt.Fprintf(stderr, "benchreport: wrote %s, %s and %s in %v\n", filepath.Join(*out, mdName), filepath.Join(*out, pngName),
			filepath.Join(*out, jsonName), d.Finished.Sub(d.Started).Round(time.Second))
	}
	if err != nil {
		fmt.Fprintln(stderr, "benchreport:", err)
		return 1
	}
	return 0
}

const (
	mdName   = "BENCHMARKS.md"
	pngName  = "takeover.png"
	jsonName = "benchmarks.json"
)

// write renders d into dir.
func write(d *Data, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	png, err := plotTakeover(d)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, pngName), png, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, mdName), []byte(renderMarkdown(d, pngName)), 0o644); err != nil {
		return err
	}
	return d.save(filepath.Join(dir, jsonName))
}

// invocation is how to run this report again: make benchmarks, with the arguments.
func invocation() string {
	if len(os.Args) < 2 {
		return "make benchmarks"
	}
	return "make benchmarks BENCH_ARGS='" + bench.CommandLine(os.Args[1:]) + "'"
}

// measure builds the binaries and runs the benches of p, one after another.
func measure(p plan, quick bool, stderr io.Writer) (*Data, error) {
	d := &Data{Invocation: invocation(), Quick: quick, Started: time.Now(),
		Machine:  Machine{CPUs: runtime.NumCPU(), CPUModel: cpuModel(), Kernel: readTrim("/proc/sys/kernel/osrelease"), LoadStart: loadavg()},
		Versions: map[string]string{"go": runtime.Version()}}
	tmp, err := os.MkdirTemp("", "benchreport-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin := func(name string) string { return filepath.Join(tmp, name) }
	for _, pkg := range []string{"hadirector", "hadirector-bench", "hadirector-checkbench"} {
		if out, err := exec.Command("go", "build", "-o", bin(pkg), "./cmd/"+pkg).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build ./cmd/%s: %v\n%s", pkg, err, out)
		}
	}
	if out, err := exec.Command("go", "build", "-o", bin("vmrun"), "./internal/vmtest/cmd/vmrun").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build vmrun: %v\n%s", err, out)
	}
	d.Versions["hadirector"] = bench.Version(bench.Hadirector, bin("hadirector")) + ", built from " + bench.GitSource()
	if ka, err := exec.LookPath("keepalived"); err == nil {
		d.Versions["keepalived"] = bench.Version(bench.Keepalived, ka)
	}
	d.Versions["ipvsadm"] = ipvsadmVersion()

	var failed []string
	// step runs argv (its first element a path) and records it, the temporary directory
	// written as $BIN.
	step := func(area string, stdout io.Writer, argv ...string) {
		c := Command{Area: area, Line: strings.ReplaceAll(bench.CommandLine(argv), tmp, "$BIN"), Load: loadavg()}
		fmt.Fprintf(stderr, "benchreport: %s: %s\n", area, c.Line)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		t0 := time.Now()
		err := cmd.Run()
		c.Seconds = time.Since(t0).Seconds()
		if err != nil {
			c.Err = err.Error()
			failed = append(failed, area)
		}
		d.Commands = append(d.Commands, c)
	}
	// readJSON decodes a bench's -json-file; a missing file is the failed step's business.
	readJSON := func(area, path string, v any) bool {
		b, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(b, v)
		}
		if err != nil {
			fmt.Fprintf(stderr, "benchreport: %s: %v\n", area, err)
			return false
		}
		return true
	}

	if p.areas["failover"] {
		f := filepath.Join(tmp, "failover.json")
		step("failover", stderr, bin("hadirector-bench"), "failover", "-reps", strconv.Itoa(p.reps), "-scenarios", p.scenarios,
			"-hadirector", bin("hadirector"), "-json-file", f)
		var r bench.FailoverReport
		if readJSON("failover", f, &r) {
			d.Failover = &r
		}
	}
	if p.areas["idle"] {
		f := filepath.Join(tmp, "idle.json")
		step("idle", stderr, bin("hadirector-bench"), "idle", "-duration", p.idle.String(), "-slices", strconv.Itoa(p.idleSlices),
			"-hadirector", bin("hadirector"), "-json-file", f)
		var r bench.IdleReport
		if readJSON("idle", f, &r) {
			d.Idle = &r
		}
	}
	if p.areas["checks"] {
		f := filepath.Join(tmp, "checks.json")
		// In a namespace of its own: its listeners take 127.1.0.0/16 ports on loopback, which
		// other work on a shared machine may hold in the root namespace.
		ns := fmt.Sprintf("benchreport-%d", os.Getpid())
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			return d, fmt.Errorf("ip netns add %s: %v: %s", ns, err, out)
		}
		if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
			_ = exec.Command("ip", "netns", "del", ns).Run()
			return d, fmt.Errorf("ip -n %s link set lo up: %v: %s", ns, err, out)
		}
		ip, _ := exec.LookPath("ip") // found: it just added the namespace
		step("checks", stderr, ip, "netns", "exec", ns, bin("hadirector-checkbench"), "-n", p.checkNs,
			"-duration", p.checkDuration.String(), "-json-file", f)
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			fmt.Fprintf(stderr, "benchreport: ip netns del %s: %v: %s\n", ns, err, out)
		}
		var r benchdata.CheckBench
		if readJSON("checks", f, &r) {
			d.ChecksHost = &r
		}
	}
	if p.areas["vm"] {
		var console bytes.Buffer
		step("vm", io.MultiWriter(&console, stderr), bin("vmrun"), "-pkgs", "./lvs,./cmd/hadirector-checkbench",
			"-run", "^(TestBenchmarkLVS|TestCheckBenchVM)$", "-timeout", p.vmTimeout.String(),
			"-env", "HADIRECTOR_CHECKBENCH="+p.vmCheckNs, "-env", "HADIRECTOR_CHECKBENCH_DURATION="+p.vmCheckDuration.String())
		var lvs benchdata.LVS
		if err := benchdata.ReadLine(bytes.NewReader(console.Bytes()), "lvs", &lvs); err == nil {
			d.LVS = &lvs
		} else {
			fmt.Fprintf(stderr, "benchreport: vm: %v\n", err)
		}
		var checks benchdata.CheckBench
		if err := benchdata.ReadLine(bytes.NewReader(console.Bytes()), "checkbench", &checks); err == nil {
			d.ChecksVM = &checks
		} else {
			fmt.Fprintf(stderr, "benchreport: vm: %v\n", err)
		}
		if k := vmKernel(console.String()); k != "" {
			d.Versions["vm kernel"] = k
		}
	}
	d.Finished = time.Now()
	d.Machine.LoadEnd = loadavg()
	if len(failed) > 0 {
		return d, fmt.Errorf("benches failed: %s (see the report's commands table)", strings.Join(failed, ", "))
	}
	return d, nil
}

// vmKernel is the kernel the VM booted, from its VMTEST-READY line.
func vmKernel(console string) string {
	for _, line := range strings.Split(console, "\n") {
		if !strings.HasPrefix(line, "VMTEST-READY ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if k, ok := strings.CutPrefix(f, "kernel="); ok {
				return k
			}
		}
	}
	return ""
}

// ipvsadmVersion asks ipvsadm, which needs IPVS in the kernel to answer, and else the
// package manager (the VM runs the host's binary).
func ipvsadmVersion() string {
	if out, err := exec.Command("ipvsadm", "--version").CombinedOutput(); err == nil {
		return firstLine(string(out))
	}
	if out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", "ipvsadm").Output(); err == nil {
		return "Debian package ipvsadm " + strings.TrimSpace(string(out)) + " (the host's binary also runs in the VM)"
	}
	return "?"
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func loadavg() string {
	f := strings.Fields(readTrim("/proc/loadavg"))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
