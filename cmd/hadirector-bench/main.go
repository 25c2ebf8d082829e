// Command hadirector-bench measures failover of a hadirector pair against a keepalived
// pair on the same machine, in the same network-namespace scenarios, in one run. It is a
// lab tool, not part of the product binary, and needs root (network namespaces, raw
// sockets, realtime scheduling).
//
//	hadirector-bench failover [-reps 10] [-scenarios v2-1s,v3-100ms,v3-10ms] [-json]
//	hadirector-bench soak [-duration 10m] [-interval 10ms] [-busy 2] [-json]
//	hadirector-bench idle [-duration 60s] [-slices 6] [-interval 1s] [-json]
//	hadirector-bench flood [-duration 3s] [-interval 100ms] [-senders 3] [-json]
//
// Exit codes: 0 ok (targets are reported, not enforced), 1 the run failed, 2 usage.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/hadirector/hadirector/internal/bench"
	"github.com/hadirector/hadirector/internal/lab"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: hadirector-bench <command> [flags]

commands:
  failover   kill -9 / SIGTERM takeover, GARP and neighbour timings, keepalived vs hadirector
  soak       10 ms adverts on a loaded machine: count false failovers of each
  idle       CPU and memory of an idle pair of each, side by side
  flood      bad VRRP packets at both directors: the rate reached, advert gaps, false failovers

Run 'hadirector-bench <command> -h' for a command's flags.
`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	var err error
	switch args[0] {
	case "failover":
		err = cmdFailover(args[1:], stdout, stderr)
	case "soak":
		err = cmdSoak(args[1:], stdout, stderr)
	case "idle":
		err = cmdIdle(args[1:], stdout, stderr)
	case "flood":
		err = cmdFlood(args[1:], stdout, stderr)
	case "busy": // internal: one spinning core for the soak
		err = cmdBusy(args[1:])
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "hadirector-bench: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	var ue usageError
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "hadirector-bench %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "hadirector-bench %s: %v\n", args[0], err)
		return 1
	}
}

type usageError struct{ error }

// common are the flags both benchmarks share.
type common struct {
	jsonOut    bool
	impls      string
	hadirector string
	keepalived string
	rttime     int
	jsonFile   string
}

// output writes the report: JSON or text to stdout, and JSON to -json-file.
func (c *common) output(stdout io.Writer, rep interface{ WriteText(io.Writer) }) error {
	if c.jsonFile != "" {
		f, err := os.Create(c.jsonFile)
		if err != nil {
			return err
		}
		err = writeJSON(f, rep)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	if c.jsonOut {
		return writeJSON(stdout, rep)
	}
	rep.WriteText(stdout)
	return nil
}

func (c *common) register(fs *flag.FlagSet, rttime int, rttimeWhy string) {
	fs.BoolVar(&c.jsonOut, "json", false, "print the report as JSON instead of tables")
	fs.StringVar(&c.jsonFile, "json-file", "", "also write the report as JSON to this file")
	fs.StringVar(&c.impls, "impls", "keepalived,hadirector", "implementations to run")
	fs.StringVar(&c.hadirector, "hadirector", "", "hadirector binary (default: build ./cmd/hadirector of the module in the working directory)")
	fs.StringVar(&c.keepalived, "keepalived", "", "keepalived binary (default: keepalived on PATH)")
	fs.IntVar(&c.rttime, "keepalived-rlimit-rttime", rttime, "keepalived's vrrp_rlimit_rttime in µs with realtime on (0: keepalived's default, 5 ms soft / 10 ms hard); "+rttimeWhy)
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	return nil
}

func (c *common) parseImpls() ([]bench.Impl, error) {
	var out []bench.Impl
	for _, s := range strings.Split(c.impls, ",") {
		switch bench.Impl(strings.TrimSpace(s)) {
		case bench.Keepalived:
			out = append(out, bench.Keepalived)
		case bench.Hadirector:
			out = append(out, bench.Hadirector)
		default:
			return nil, usageError{fmt.Errorf("-impls: unknown implementation %q", s)}
		}
	}
	return out, nil
}

// binaries resolves each implementation's binary; building hadirector needs the lab's
// test-free TB, so it happens inside the run.
func (c *common) binaries(tb lab.TB, impls []bench.Impl) map[bench.Impl]string {
	bins := map[bench.Impl]string{}
	for _, impl := range impls {
		switch impl {
		case bench.Hadirector:
			if c.hadirector != "" {
				bins[impl] = abs(c.hadirector)
			} else {
				bins[impl] = lab.Build(tb, "./cmd/hadirector")
			}
		case bench.Keepalived:
			p := c.keepalived
			if p == "" {
				var err error
				if p, err = exec.LookPath("keepalived"); err != nil {
					tb.Fatalf("keepalived is not installed (or pass -keepalived)")
				}
			}
			bins[impl] = abs(p)
		}
	}
	return bins
}

func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// invocation is this command's line as a shell would take it back.
func invocation() string { return bench.CommandLine(os.Args) }

func hostInfo() string {
	uname := "?"
	if out, err := exec.Command("uname", "-srm").Output(); err == nil {
		uname = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("%s, %d CPUs, load average %s, %s", uname, runtime.NumCPU(), loadavg(), runtime.Version())
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func (c *common) versions(bins map[bench.Impl]string) map[bench.Impl]string {
	v := map[bench.Impl]string{}
	for impl, bin := range bins {
		v[impl] = bench.Version(impl, bin)
		if impl == bench.Hadirector && c.hadirector == "" {
			v[impl] += ", built from " + bench.GitSource()
		}
	}
	return v
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func cmdFailover(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hadirector-bench failover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs, 1000000, "raised by default here because keepalived's default kills its own VRRP child on a busy VM, which would spoil the timings")
	reps := fs.Int("reps", 10, "repetitions of each failure per scenario and implementation")
	scenarios := fs.String("scenarios", "v2-1s,v3-100ms,v3-10ms", "scenarios: v2-1s, v3-100ms, v3-10ms")
	rt := fs.Bool("rt", true, "realtime scheduling and locked memory for both daemons")
	seed := fs.Uint64("seed", 0, "seed of the failure-moment randomisation (0: from the clock)")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	trace := fs.Bool("trace", true, "time VIP additions with a tracefs instance (else netlink, which reports them late)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *reps < 1 {
		return usageError{errors.New("-reps must be at least 1")}
	}
	var scs []bench.Scenario
	for _, name := range strings.Split(*scenarios, ",") {
		sc, err := bench.ScenarioByName(strings.TrimSpace(name))
		if err != nil {
			return usageError{err}
		}
		scs = append(scs, sc)
	}
	impls, err := c.parseImpls()
	if err != nil {
		return err
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	var progress io.Writer = stderr
	if *quiet {
		progress = nil
	}
	rep := &bench.FailoverReport{Invocation: invocation(), Host: hostInfo(), Realtime: *rt, KeepalivedRTTime: c.rttime, Reps: *reps, Seed: *seed,
		Impls: impls, Scenarios: bench.Infos(scs), Started: time.Now()}
	err = lab.Standalone("failover", stderr, func(tb lab.TB) {
		bins := c.binaries(tb, impls)
		rep.Binaries, rep.Versions = bins, c.versions(bins)
		var tracer *bench.Tracer
		err := errors.New("-trace=false")
		if *trace {
			tracer, err = bench.StartTracer(tb)
		}
		rep.VIPClock = "kernel (tracefs notifier:notifier_run fib_inetaddr_event, CLOCK_MONOTONIC moved to CLOCK_REALTIME)"
		if err != nil {
			rep.VIPClock = fmt.Sprintf("netlink RTM_NEWADDR wake-up (late; tracefs unavailable: %v)", err)
		}
		rep.Samples = bench.RunFailover(tb, bench.FailoverOptions{Reps: *reps, Scenarios: scs, Impls: impls, Bins: bins,
			Realtime: *rt, KeepalivedRTTime: c.rttime, Seed: *seed, Progress: progress, Tracer: tracer})
	})
	rep.Finished = time.Now()
	if err != nil {
		return err
	}
	rep.Summarize()
	return c.output(stdout, rep)
}

func cmdSoak(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hadirector-bench soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs, 0, "keepalived's own default here: the soak measures robustness as shipped")
	duration := fs.Duration("duration", 10*time.Minute, "how long the loaded soak runs")
	interval := fs.Duration("interval", 10*time.Millisecond, "VRRPv3 advert_int")
	busy := fs.Int("busy", 2, "busy-loop processes (one core each)")
	every := fs.Duration("progress", time.Minute, "progress line interval (stderr)")
	if err := parse(fs, args); err != nil {
		return err
	}
	impls, err := c.parseImpls()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	rep := &bench.SoakReport{Invocation: invocation(), Host: hostInfo(), Interval: *interval, Busy: *busy, Duration: *duration, KeepalivedRTTime: c.rttime,
		Impls: impls, Started: time.Now()}
	err = lab.Standalone("soak", stderr, func(tb lab.TB) {
		bins := c.binaries(tb, impls)
		rep.Binaries, rep.Versions = bins, c.versions(bins)
		rep.Results = bench.RunSoak(tb, bench.SoakOptions{Duration: *duration, Interval: *interval, Busy: *busy, Impls: impls, Bins: bins,
			Progress: stderr, Every: *every, KeepalivedRTTime: c.rttime,
			// Bounded twice: the child stops itself after d, and dies with us (Pdeathsig).
			BusyCommand: func(d time.Duration) *exec.Cmd { return exec.Command(self, "busy", "-for", d.String()) },
		})
	})
	rep.Finished = time.Now()
	rep.LoadAvg = loadavg()
	if err != nil {
		return err
	}
	return c.output(stdout, rep)
}

func cmdIdle(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hadirector-bench idle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs, 0, "used with -rt only")
	window := fs.Duration("duration", time.Minute, "measured window, after both pairs have settled")
	slices := fs.Int("slices", 6, "the window is measured in this many equal slices (median and worst are over them)")
	interval := fs.Duration("interval", time.Second, "VRRPv3 advert_int")
	rt := fs.Bool("rt", false, "realtime scheduling and locked memory for both daemons (locked memory counts in RSS)")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *slices < 1 || *window < time.Duration(*slices)*time.Second {
		return usageError{errors.New("-slices must be at least 1 and each slice at least 1s long")}
	}
	impls, err := c.parseImpls()
	if err != nil {
		return err
	}
	var progress io.Writer = stderr
	if *quiet {
		progress = nil
	}
	rep := &bench.IdleReport{Invocation: invocation(), Host: hostInfo(), Realtime: *rt, Interval: *interval, Window: *window, Slices: *slices,
		Impls: impls, Started: time.Now()}
	err = lab.Standalone("idle", stderr, func(tb lab.TB) {
		bins := c.binaries(tb, impls)
		rep.Binaries, rep.Versions = bins, c.versions(bins)
		rep.Samples = bench.RunIdle(tb, bench.IdleOptions{Window: *window, Slices: *slices, Interval: *interval, Realtime: *rt,
			KeepalivedRTTime: c.rttime, Impls: impls, Bins: bins, Progress: progress})
	})
	rep.Finished = time.Now()
	if err != nil {
		return err
	}
	return c.output(stdout, rep)
}

func cmdFlood(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hadirector-bench flood", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs, 1000000, "raised by default here because keepalived's default kills its own VRRP child on a busy machine, which would spoil the gaps")
	duration := fs.Duration("duration", 3*time.Second, "how long the flood lasts")
	interval := fs.Duration("interval", 100*time.Millisecond, "VRRPv3 advert_int")
	senders := fs.Int("senders", 3, "flooding goroutines, each sending batches with sendmmsg")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *senders < 1 || *duration <= 0 || *interval <= 0 {
		return usageError{errors.New("-senders must be at least 1, -duration and -interval positive")}
	}
	impls, err := c.parseImpls()
	if err != nil {
		return err
	}
	var progress io.Writer = stderr
	if *quiet {
		progress = nil
	}
	rep := &bench.FloodReport{Invocation: invocation(), Host: hostInfo(), Interval: *interval, Duration: *duration, Senders: *senders,
		KeepalivedRTTime: c.rttime, Impls: impls, Started: time.Now()}
	err = lab.Standalone("flood", stderr, func(tb lab.TB) {
		bins := c.binaries(tb, impls)
		rep.Binaries, rep.Versions = bins, c.versions(bins)
		rep.Results = bench.RunFlood(tb, bench.FloodOptions{Duration: *duration, Interval: *interval, Senders: *senders,
			KeepalivedRTTime: c.rttime, Impls: impls, Bins: bins, Progress: progress})
	})
	rep.Finished = time.Now()
	if err != nil {
		return err
	}
	return c.output(stdout, rep)
}

// cmdBusy spins one core until the duration has passed.
func cmdBusy(args []string) error {
	fs := flag.NewFlagSet("hadirector-bench busy", flag.ContinueOnError)
	d := fs.Duration("for", time.Minute, "how long to spin")
	if err := parse(fs, args); err != nil {
		return err
	}
	runtime.GOMAXPROCS(1)
	end := time.Now().Add(*d)
	var acc uint64
	for time.Now().Before(end) {
		for i := range 1 << 20 {
			acc += uint64(i)
		}
	}
	runtime.KeepAlive(acc)
	return nil
}
