//go:build linux

// Command hadirector-checkbench measures the health checker at scale: N TCP backends
// checked every interval, the checker in this process and the backends in a child process
// (the same binary's "listen" subcommand) that opens N listeners spread over 127.1.0.0/16.
// With -kind udp or dns the backends are UDP sockets that echo each datagram (UDP_CHECK
// with require_reply) or answer each query with one A record (DNS_CHECK).
//
//	hadirector-checkbench [-n 10000] [-interval 1s] [-duration 60s]     hadirector's Monitor
//	hadirector-checkbench -keepalived [-n 1000,5000,10000]              keepalived's checker
//	hadirector-checkbench -both -n 1000,5000,10000                      both, back to back
//	hadirector-checkbench -both -kind udp,dns -n 1000,5000              UDP and DNS checks
//
// It reports the lateness of checks against their schedule (p50/p99/max), the checks per
// second achieved (and the connections the listeners accepted, which is how keepalived's
// rate is measured), CPU time per check and the checker's RSS. On loopback the kernel's
// handshake work for both ends is charged to the connecting process, for both checkers.
//
// keepalived's checker (keepalived -C) refuses to start without IPVS in the kernel; where
// IPVS is missing the keepalived rows say so, and the comparison runs in the test VM
// (internal/vmtest; see vm_bench_test.go here).
//
// Exit status: 0 measured, 1 a run failed, 2 usage.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hadirector/hadirector/internal/benchdata"
)

type options struct {
	ns            []int
	interval      time.Duration
	duration      time.Duration
	warmup        time.Duration
	timeout       time.Duration
	perAddr       int
	basePort      int
	maxConcurrent int
	keepalived    string
	ours, theirs  bool
	verbose       bool
	repeat        int
	kinds         []string
	kind          string // of the run in progress: tcp, udp or dns
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "listen" {
		if err := listenMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "hadirector-checkbench listen:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(run(os.Args[1:], os.Stdout))
}

func run(args []string, out io.Writer) int {
	var o options
	fs := flag.NewFlagSet("hadirector-checkbench", flag.ContinueOnError)
	nList := fs.String("n", "10000", "comma-separated backend counts, run in turn")
	fs.DurationVar(&o.interval, "interval", time.Second, "check interval (keepalived: delay_loop, whole seconds)")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "measurement window per run")
	fs.DurationVar(&o.warmup, "warmup", 0, "time before measuring (default: 2 intervals, 5s for keepalived)")
	fs.DurationVar(&o.timeout, "timeout", time.Second, "connect timeout")
	fs.IntVar(&o.perAddr, "per-addr", 100, "listeners per loopback address")
	fs.IntVar(&o.basePort, "base-port", 20000, "first listener port on each address")
	fs.IntVar(&o.maxConcurrent, "max-concurrent", 0, "Monitor's MaxConcurrent (0: its default)")
	fs.StringVar(&o.keepalived, "keepalived-bin", "/usr/sbin/keepalived", "keepalived binary")
	theirs := fs.Bool("keepalived", false, "measure keepalived's checker instead of hadirector's")
	both := fs.Bool("both", false, "measure both, back to back for each N")
	fs.BoolVar(&o.verbose, "v", false, "print the checker's memory every second")
	fs.IntVar(&o.repeat, "repeat", 1, "runs per N (with -both, alternating the checkers)")
	kinds := fs.String("kind", "tcp", "comma-separated check kinds, run in turn: tcp, udp (echo, require_reply), dns (type A)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	jsonFile := fs.String("json-file", "", "also write the runs as JSON (internal/benchdata.CheckBench) to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	for _, s := range strings.Split(*nList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 250*250*o.perAddr {
			fmt.Fprintf(os.Stderr, "-n: bad count %q\n", s)
			return 2
		}
		o.ns = append(o.ns, n)
	}
	for _, k := range strings.Split(*kinds, ",") {
		if k = strings.TrimSpace(k); !slices.Contains([]string{"tcp", "udp", "dns"}, k) {
			fmt.Fprintf(os.Stderr, "-kind: %q is not tcp, udp or dns\n", k)
			return 2
		}
		o.kinds = append(o.kinds, k)
	}
	if o.repeat < 1 {
		fmt.Fprintln(os.Stderr, "-repeat must be at least 1")
		return 2
	}
	if o.perAddr < 1 || o.basePort < 1024 || o.basePort+o.perAddr > 32768 {
		fmt.Fprintln(os.Stderr, "-per-addr/-base-port: ports must stay within 1024..32767 (below the ephemeral range)")
		return 2
	}
	o.ours, o.theirs = !*theirs || *both, *theirs || *both

	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := raiseNoFile(uint64(o.maxConcurrentOr())+64, uint64(o.maxConcurrentOr())+4096); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var rows []row
	failed := false
	for _, kind := range o.kinds {
		o.kind = kind
		for _, n := range o.ns {
			// Alternating the two checkers spreads the drift of a shared machine over both.
			for range o.repeat {
				if o.ours {
					r, err := runOurs(self, o, n)
					if err != nil {
						fmt.Fprintf(os.Stderr, "hadirector N=%d: %v\n", n, err)
						failed = true
					} else {
						rows = append(rows, r)
						fmt.Fprintln(os.Stderr, r.line())
					}
				}
				if o.theirs {
					r, err := runKeepalived(self, o, n)
					switch {
					case errors.Is(err, errNoIPVS):
						fmt.Fprintf(os.Stderr, "keepalived N=%d: %v\n", n, err)
						rows = append(rows, row{impl: "keepalived", kind: kind, n: n, note: "not run: needs IPVS (run in the VM)"})
					case err != nil:
						fmt.Fprintf(os.Stderr, "keepalived N=%d: %v\n", n, err)
						failed = true
					default:
						rows = append(rows, r)
						fmt.Fprintln(os.Stderr, r.line())
					}
				}
			}
		}
	}
	printTable(out, o, rows)
	if o.ours && o.theirs {
		printRatios(out, o, rows)
	}
	if *jsonFile != "" {
		if err := writeJSON(*jsonFile, args, rows); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if failed {
		return 1
	}
	return 0
}

// writeJSON writes the runs for the report generator.
func writeJSON(path string, args []string, rows []row) error {
	b := benchdata.CheckBench{Args: args}
	for _, r := range rows {
		b.Runs = append(b.Runs, r.data())
	}
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func (r row) data() benchdata.CheckRun {
	return benchdata.CheckRun{Impl: r.impl, N: r.n, IntervalSec: r.interval.Seconds(), WindowSec: r.window.Seconds(),
		Checks: r.checks, Accepted: r.accepted, Failures: r.failures, Downs: r.downs, Missed: r.missed + r.overruns,
		LatenessKnown: r.lateness, LateP50Ms: millis(r.p50), LateP99Ms: millis(r.p99), LateMaxMs: millis(r.max),
		CPUSec: r.cpu.Seconds(), RSSBytes: r.rssMax, PressurePct: r.pressure, Note: r.note}
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (o options) maxConcurrentOr() int {
	if o.maxConcurrent > 0 {
		return o.maxConcurrent
	}
	return 2048
}

// row is one measured run.
type row struct {
	impl             string
	kind             string
	n                int
	interval         time.Duration
	window           time.Duration
	checks           uint64 // completed in the window (keepalived: connections accepted)
	accepted         uint64 // connections the listeners accepted in the window
	failures         uint64
	downs            uint64 // transitions to down (every backend is healthy: all false)
	limit            int    // hadirector's concurrency limit at the end
	missed, overruns uint64
	p50, p99, max    time.Duration
	lateness         bool // p50/p99/max are known
	cpu              time.Duration
	rssMax, hwm      uint64
	pressure         float64 // % of the window some host task waited for a CPU; <0 unknown
	note             string
	firstErr         string
	usage            usage
}

func (r row) rate() float64        { return float64(r.checks) / r.window.Seconds() }
func (r row) acceptRate() float64  { return float64(r.accepted) / r.window.Seconds() }
func (r row) targetRate() float64  { return float64(r.n) / r.interval.Seconds() }
func (r row) cpuPerCheck() float64 { return float64(r.cpu.Microseconds()) / max(float64(r.checks), 1) }
func (r row) cpuPercent() float64  { return 100 * r.cpu.Seconds() / r.window.Seconds() }
func (r row) effInterval() float64 { return float64(r.n) / max(r.rate(), 1e-9) }
func pressure(a, b time.Duration, ok bool, window time.Duration) float64 {
	if !ok {
		return -1
	}
	return 100 * (b - a).Seconds() / window.Seconds()
}

func (r row) pressureString() string {
	if r.pressure < 0 {
		return "?"
	}
	return strconv.FormatFloat(r.pressure, 'f', 0, 64) + "%"
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64)
}
func (r row) latency(d time.Duration) string {
	if !r.lateness {
		return "—"
	}
	return ms(d)
}

func (r row) line() string {
	if r.note != "" {
		return fmt.Sprintf("%s %s N=%d: %s", r.impl, r.kind, r.n, r.note)
	}
	s := fmt.Sprintf("%s %s N=%d: %.0f checks/s (target %.0f), accepted %.0f/s, late p50 %s p99 %s max %s ms, missed %d, overruns %d, failures %d, false downs %d, final concurrency limit %d, CPU %.1f µs/check (%.0f%% of a core), RSS max %.1f MiB (peak %.1f), host CPU pressure %s",
		r.impl, r.kind, r.n, r.rate(), r.targetRate(), r.acceptRate(), r.latency(r.p50), r.latency(r.p99), r.latency(r.max), r.missed, r.overruns, r.failures, r.downs, r.limit,
		r.cpuPerCheck(), r.cpuPercent(), mib(r.rssMax), mib(r.hwm), r.pressureString())
	s += "; " + r.usage.String()
	if r.firstErr != "" {
		s += "; first failure: " + r.firstErr
	}
	return s
}

func printTable(w io.Writer, o options, rows []row) {
	fmt.Fprintf(w, "\n%s checks of N loopback backends, interval %v, window %v each (CPU = user+system of the checker process; on loopback it includes the kernel's work for both ends)\n\n", strings.ToUpper(strings.Join(o.kinds, ", ")), o.interval, o.duration)
	fmt.Fprintln(w, "| checker | kind | N | checks/s (target) | effective interval | lateness p50 / p99 / max (ms) | missed slots | failed checks / false downs | CPU µs/check | CPU % of a core | RSS max (MiB) | host CPU pressure |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		if r.note != "" {
			fmt.Fprintf(w, "| %s | %s | %d | %s |||||||||\n", r.impl, r.kind, r.n, r.note)
			continue
		}
		fails := strconv.FormatUint(r.failures, 10)
		if !r.lateness {
			fails = "?" // keepalived: only the transitions are in its log
		}
		fmt.Fprintf(w, "| %s | %s | %d | %.0f (%.0f) | %.2f s | %s / %s / %s | %d | %s / %d | %.1f | %.0f | %.1f | %s |\n",
			r.impl, r.kind, r.n, r.rate(), r.targetRate(), r.effInterval(),
			r.latency(r.p50), r.latency(r.p99), r.latency(r.max), r.missed+r.overruns, fails, r.downs,
			r.cpuPerCheck(), r.cpuPercent(), mib(r.rssMax), r.pressureString())
	}
}

// printRatios compares the medians of the two checkers for each kind and N.
func printRatios(w io.Writer, o options, rows []row) {
	header := "\n| kind | N | checks/s hadirector / keepalived (median) | ratio | CPU µs/check hadirector / keepalived (median) | ratio |\n|---|---:|---:|---:|---:|---:|\n"
	for _, kn := range kindNs(o) {
		kind, n := kn.kind, kn.n
		var rateH, rateK, cpuH, cpuK []float64
		for _, r := range rows {
			if r.n != n || r.kind != kind || r.note != "" {
				continue
			}
			if r.impl == "hadirector" {
				rateH, cpuH = append(rateH, r.rate()), append(cpuH, r.cpuPerCheck())
			} else {
				rateK, cpuK = append(rateK, r.rate()), append(cpuK, r.cpuPerCheck())
			}
		}
		if len(rateH) == 0 || len(rateK) == 0 {
			continue
		}
		rh, rk, ch, ck := median(rateH), median(rateK), median(cpuH), median(cpuK)
		fmt.Fprint(w, header)
		header = ""
		fmt.Fprintf(w, "| %s | %d | %.0f / %.0f | %.2f× | %.0f / %.0f | %.2f× |\n", kind, n, rh, rk, rh/max(rk, 1e-9), ch, ck, ch/max(ck, 1e-9))
	}
}

type kindN struct {
	kind string
	n    int
}

func kindNs(o options) []kindN {
	var out []kindN
	for _, k := range o.kinds {
		for _, n := range o.ns {
			out = append(out, kindN{k, n})
		}
	}
	return out
}

func median(v []float64) float64 {
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
