package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hadirector/hadirector/internal/lab"
)

// IdleOptions configure RunIdle.
type IdleOptions struct {
	Window   time.Duration // measured, after the pairs have settled
	Slices   int           // the window is cut into this many equal slices
	Interval time.Duration // advert_int, VRRPv3
	Realtime bool          // realtime_priority + lock_memory for both
	// KeepalivedRTTime is keepalived's vrrp_rlimit_rttime (µs) with Realtime; 0 keeps its default.
	KeepalivedRTTime int
	Impls            []Impl
	Bins             map[Impl]string
	Progress         io.Writer
}

// IdleSample is what one daemon (all its processes) used in one slice of the window.
type IdleSample struct {
	Impl  Impl   `json:"impl"`
	Node  string `json:"node"` // master or backup
	Slice int    `json:"slice"`
	// Seconds is the slice's measured length.
	Seconds float64 `json:"seconds"`
	// CPU is the run time in the slice of every thread of the daemon's processes
	// (/proc/PID/task/TID/schedstat, nanosecond resolution).
	CPU Ms `json:"cpu_ms"`
	// Ticks is utime+stime (/proc/PID/stat) gained in the slice, at USER_HZ resolution.
	Ticks Ms `json:"utime_stime_ms"`
	// RSS and PSS are the sums of VmRSS and of Pss (smaps_rollup, which splits the pages
	// keepalived's forked children share with their parent) at the slice's end.
	RSS   uint64 `json:"rss_bytes"`
	PSS   uint64 `json:"pss_bytes"`
	Procs int    `json:"procs"`
	Err   string `json:"error,omitempty"`
}

// IdleReport is everything hadirector-bench idle prints.
type IdleReport struct {
	Invocation string          `json:"invocation"`
	Versions   map[Impl]string `json:"versions"`
	Binaries   map[Impl]string `json:"binaries"`
	Host       string          `json:"host"`
	Realtime   bool            `json:"realtime"`
	Interval   time.Duration   `json:"interval_ns"`
	Window     time.Duration   `json:"window_ns"`
	Slices     int             `json:"slices"`
	Started    time.Time       `json:"started"`
	Finished   time.Time       `json:"finished"`
	Impls      []Impl          `json:"impls"`
	Samples    []IdleSample    `json:"samples"`
}

// IdleNodes are the two daemons of a pair as IdleSample.Node names them.
var IdleNodes = []string{"master", "backup"}

// IdleMetric is one row of the idle table: a value read from each sample.
type IdleMetric struct {
	Name string
	Get  func(IdleSample) float64
}

// IdleMetrics are the idle table's rows, in order.
var IdleMetrics = []IdleMetric{
	{"CPU, ms per minute (schedstat run time of every thread)", func(s IdleSample) float64 { return s.CPU.Millis() * 60 / s.Seconds }},
	{"RSS, MiB (sum of VmRSS)", func(s IdleSample) float64 { return float64(s.RSS) / (1 << 20) }},
	{"PSS, MiB (sum of Pss)", func(s IdleSample) float64 { return float64(s.PSS) / (1 << 20) }},
	{"processes", func(s IdleSample) float64 { return float64(s.Procs) }},
}

// Values are metric's values over the slices of impl's node that were measured.
func (r *IdleReport) Values(impl Impl, node string, m IdleMetric) []float64 {
	var out []float64
	for _, s := range r.Samples {
		if s.Impl == impl && s.Node == node && s.Err == "" {
			out = append(out, m.Get(s))
		}
	}
	return out
}

// TotalTicks is utime+stime of impl's node over the whole window (NotSeen if a slice
// failed): the figure /proc counts in 10 ms ticks, too coarse for a slice of an idle daemon.
func (r *IdleReport) TotalTicks(impl Impl, node string) Ms {
	var sum Ms
	n := 0
	for _, s := range r.Samples {
		if s.Impl == impl && s.Node == node {
			if s.Err != "" {
				return NotSeen
			}
			sum += s.Ticks
			n++
		}
	}
	if n == 0 {
		return NotSeen
	}
	return sum
}

// MedianWorst is the median and the largest of v (NaN-free; zeros for none).
func MedianWorst(v []float64) (median, worst float64) {
	if len(v) == 0 {
		return 0, 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	median = v[len(v)/2]
	if len(v)%2 == 0 {
		median = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return median, v[len(v)-1]
}

// WriteText prints the report as a table with hadirector/keepalived ratios of the medians.
func (r *IdleReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "hadirector-bench idle\ninvocation: %s\n", r.Invocation)
	for _, impl := range r.Impls {
		fmt.Fprintf(w, "%-11s %s (%s)\n", string(impl)+":", r.Versions[impl], r.Binaries[impl])
	}
	fmt.Fprintf(w, "host:       %s\n", r.Host)
	fmt.Fprintf(w, "run:        %s → %s\n", r.Started.Format(time.RFC3339), r.Finished.Format(time.RFC3339))
	fmt.Fprintf(w, "setup:      one VRRPv3 instance, advert_int %v, 1 VIP, a settled pair of each side by side; %d slices of the %v window; realtime %v\n\n",
		r.Interval, r.Slices, r.Window, r.Realtime)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "node\tmetric\t"
	for _, impl := range r.Impls {
		head += string(impl) + " median\tworst\t"
	}
	fmt.Fprintln(tw, head+"ratio h/k")
	for _, node := range IdleNodes {
		for _, m := range IdleMetrics {
			row := node + "\t" + m.Name + "\t"
			med := map[Impl]float64{}
			for _, impl := range r.Impls {
				mv, wv := MedianWorst(r.Values(impl, node, m))
				med[impl] = mv
				row += fmt.Sprintf("%.3f\t%.3f\t", mv, wv)
			}
			ratio := "n/a"
			if k := med[Keepalived]; k > 0 && slices.Contains(r.Impls, Hadirector) {
				ratio = strconv.FormatFloat(med[Hadirector]/k, 'f', 2, 64) + "×"
			}
			fmt.Fprintln(tw, row+ratio)
		}
		row := node + "\tCPU over the whole window, ms (utime+stime)\t"
		for _, impl := range r.Impls {
			row += r.TotalTicks(impl, node).String() + "\t\t"
		}
		fmt.Fprintln(tw, row)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nraw samples:\n")
	tw = tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintln(tw, "impl\tnode\tslice\tseconds\tcpu ms\tutime+stime ms\tRSS KiB\tPSS KiB\tprocs\terror\t")
	for _, s := range r.Samples {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.3f\t%s\t%s\t%d\t%d\t%d\t%s\t\n", s.Impl, s.Node, s.Slice, s.Seconds, s.CPU, s.Ticks, s.RSS>>10, s.PSS>>10, s.Procs, s.Err)
	}
	tw.Flush()
}

// RunIdle starts a pair of each implementation side by side (one VRRPv3 instance each, the
// same shape), waits until each has settled, and then measures every daemon's processes
// over o.Window, slice by slice.
func RunIdle(tb lab.TB, o IdleOptions) []IdleSample {
	tb.Helper()
	sc := Scenario{Name: "idle", Version: 3, Interval: o.Interval}
	type daemon struct {
		impl Impl
		node string
		d    *Daemon
	}
	var ds []daemon
	for _, impl := range o.Impls {
		p := NewPair(tb, impl, o.Bins[impl], sc, Instance{Realtime: o.Realtime, KeepalivedRTTime: o.KeepalivedRTTime})
		p.Start()
		// The capture and the watchers are for failover timings; idle, they would only
		// add their own wake-ups to the machine being measured.
		p.Cap.Close()
		p.WA.Close()
		p.WB.Close()
		p.WC.Close()
		ds = append(ds, daemon{impl, "master", p.A}, daemon{impl, "backup", p.B})
		tb.Cleanup(func() { p.A.Kill(); p.B.Kill() })
	}
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "idle: pairs settled; measuring %v in %d slices\n", o.Window, o.Slices)
	}
	var out []IdleSample
	slice := o.Window / time.Duration(o.Slices)
	for i := range o.Slices {
		type start struct {
			pids       []int
			cpu, ticks time.Duration
			err        error
		}
		starts := make([]start, len(ds))
		for j, d := range ds {
			pids := processTree(d.d.Proc().Pid())
			cpu, ticks, err := processCPU(pids)
			starts[j] = start{pids, cpu, ticks, err}
		}
		t0 := time.Now()
		time.Sleep(slice)
		secs := time.Since(t0).Seconds()
		for j, d := range ds {
			s := IdleSample{Impl: d.impl, Node: d.node, Slice: i + 1, Seconds: secs, Procs: len(starts[j].pids)}
			cpu, ticks, err := processCPU(starts[j].pids)
			if err == nil {
				err = starts[j].err
			}
			if now := processTree(d.d.Proc().Pid()); err == nil && !slices.Equal(now, starts[j].pids) {
				err = fmt.Errorf("processes changed during the slice: %v → %v", starts[j].pids, now)
			}
			s.CPU, s.Ticks = Ms(cpu-starts[j].cpu), Ms(ticks-starts[j].ticks)
			if err == nil {
				s.RSS, s.PSS, err = processMemory(starts[j].pids)
			}
			if err != nil {
				s.Err = err.Error()
			}
			out = append(out, s)
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "idle: slice %d %-10s %-6s cpu %8s ms  ticks %6s ms  RSS %6d KiB  PSS %6d KiB  procs %d %s\n",
					s.Slice, s.Impl, s.Node, s.CPU, s.Ticks, s.RSS>>10, s.PSS>>10, s.Procs, s.Err)
			}
		}
	}
	return out
}

// processTree is root and its descendants, sorted, from /proc.
func processTree(root int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f, err := statFields(pid); err == nil {
			if ppid, err := strconv.Atoi(f[1]); err == nil {
				parent[pid] = ppid
			}
		}
	}
	in := map[int]bool{root: true}
	// Each pass adds the children of what is in; the depth is bounded by the process count.
	for range len(parent) {
		grew := false
		for pid, ppid := range parent {
			if in[ppid] && !in[pid] {
				in[pid], grew = true, true
			}
		}
		if !grew {
			break
		}
	}
	out := make([]int, 0, len(in))
	for pid := range in {
		out = append(out, pid)
	}
	slices.Sort(out)
	return out
}

// statFields are the fields of /proc/PID/stat after the command name: state, ppid, …
// (field 3 onwards of proc(5)).
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	// The command name may contain spaces and parentheses; fields resume after the last ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return nil, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	return f, nil
}

// userHZ is the unit of /proc/PID/stat times: 100 on every Linux platform Go supports.
const userHZ = 100

// processCPU sums, over pids, the run time of every thread (schedstat) and utime+stime.
func processCPU(pids []int) (run, ticks time.Duration, err error) {
	for _, pid := range pids {
		f, err := statFields(pid)
		if err != nil {
			return 0, 0, err
		}
		ut, _ := strconv.ParseUint(f[11], 10, 64) // utime, field 14
		st, _ := strconv.ParseUint(f[12], 10, 64) // stime, field 15
		ticks += time.Duration(ut+st) * time.Second / userHZ
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
		if err != nil || len(tasks) == 0 {
			return 0, 0, fmt.Errorf("process %d: no threads' schedstat", pid)
		}
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue // a thread that just ended
			}
			ns, err := strconv.ParseInt(strings.Fields(string(b) + " 0")[0], 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("%s: %w", t, err)
			}
			run += time.Duration(ns)
		}
	}
	return run, ticks, nil
}

// processMemory sums VmRSS and Pss (from smaps_rollup) over pids, in bytes.
func processMemory(pids []int) (rss, pss uint64, err error) {
	for _, pid := range pids {
		r, err := kbField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
		if err != nil {
			return 0, 0, err
		}
		p, err := kbField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
		if err != nil {
			return 0, 0, err
		}
		rss += r
		pss += p
	}
	return rss, pss, nil
}

// kbField reads a "Key:   123 kB" line of a /proc file, in bytes.
func kbField(path, key string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %s: %w", path, key, err)
			}
			return kb << 10, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no %s", path, key)
}
