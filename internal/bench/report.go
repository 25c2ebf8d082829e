package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Metric is one column of the failover table: which samples it covers and what it reads.
type Metric struct {
	Name  string
	Kinds []string
	Get   func(Sample) Ms
}

// Metrics are the failover table's rows, in order.
var Metrics = []Metric{
	{"kill -9 takeover, wire: old master's last advert → new master's first advert", []string{KindKill}, func(s Sample) Ms { return s.Takeover }},
	{"kill -9 takeover, daemon: old master's last advert → new master's MASTER (FIFO)", []string{KindKill}, func(s Sample) Ms { return s.Daemon }},
	{"SIGTERM handover, wire: SIGTERM → new master's first advert", []string{KindTerm}, func(s Sample) Ms { return s.Takeover }},
	{"SIGTERM handover, wire: priority-0 advert → new master's first advert", []string{KindTerm}, func(s Sample) Ms { return s.Prio0 }},
	{"SIGTERM handover, daemon: SIGTERM → new master's MASTER (FIFO)", []string{KindTerm}, func(s Sample) Ms { return s.Daemon }},
	{"restart of the preferred master → its first advert (preemption)", []string{KindStart}, func(s Sample) Ms { return s.Takeover }},
	{"first advert as master → first GARP (wire)", []string{KindKill, KindTerm, KindStart}, func(s Sample) Ms { return s.AdvertToGARP }},
	{"VIP added (kernel trace) → first GARP (wire)", []string{KindKill, KindTerm, KindStart}, func(s Sample) Ms { return s.VIPToGARP }},
	{"first GARP → client's neighbour entry flips (netlink)", []string{KindKill, KindTerm, KindStart}, func(s Sample) Ms { return s.GARPToNeigh }},
	{"failure (kill/SIGTERM) → client's neighbour entry flips", []string{KindKill, KindTerm}, func(s Sample) Ms { return s.FailToNeigh }},
}

// Summary is one metric of one implementation in one scenario.
type Summary struct {
	Scenario string `json:"scenario"`
	Impl     Impl   `json:"impl"`
	Metric   string `json:"metric"`
	Stat
}

// ScenarioInfo is a scenario with its protocol limits.
type ScenarioInfo struct {
	Scenario
	MasterDown Ms `json:"master_down_interval_ms"`
	Skew       Ms `json:"skew_time_ms"`
}

// FailoverReport is everything hadirector-bench failover prints.
type FailoverReport struct {
	Invocation string          `json:"invocation"`
	Versions   map[Impl]string `json:"versions"`
	Binaries   map[Impl]string `json:"binaries"`
	Host       string          `json:"host"`
	Realtime   bool            `json:"realtime"`
	VIPClock   string          `json:"vip_clock"`
	// KeepalivedRTTime is keepalived's vrrp_rlimit_rttime (µs), 0 for its default.
	KeepalivedRTTime int            `json:"keepalived_rlimit_rttime_us"`
	Reps             int            `json:"reps"`
	Seed             uint64         `json:"seed"`
	Started          time.Time      `json:"started"`
	Finished         time.Time      `json:"finished"`
	Impls            []Impl         `json:"impls"`
	Scenarios        []ScenarioInfo `json:"scenarios"`
	Samples          []Sample       `json:"samples"`
	Summaries        []Summary      `json:"summaries"`
	Targets          []Target       `json:"targets"`
}

// Summarize fills in Summaries and Targets from Samples.
func (r *FailoverReport) Summarize() {
	r.Summaries, r.Targets = nil, nil
	for _, si := range r.Scenarios {
		for _, impl := range r.Impls {
			for _, m := range Metrics {
				r.Summaries = append(r.Summaries, Summary{Scenario: si.Name, Impl: impl, Metric: m.Name, Stat: Summarise(r.values(si.Name, impl, m))})
			}
		}
		r.Targets = append(r.Targets, r.targets(si)...)
	}
}

func (r *FailoverReport) values(scenario string, impl Impl, m Metric) []Ms {
	var out []Ms
	for _, s := range r.Samples {
		if s.Scenario == scenario && s.Impl == impl && slices.Contains(m.Kinds, s.Kind) {
			out = append(out, m.Get(s))
		}
	}
	return out
}

// Stat is the summary of metric (an index into Metrics) for impl in scenario.
func (r *FailoverReport) Stat(scenario string, impl Impl, metric int) Stat {
	return Summarise(r.values(scenario, impl, Metrics[metric]))
}

// Indexes into Metrics for the targets.
const (
	mKill     = 0
	mTerm     = 2
	mVIPGARP  = 7
	twoMillis = Ms(2 * time.Millisecond)
)

// targets are the goals for hadirector, and the same protocol-limit checks for
// keepalived as a reference.
func (r *FailoverReport) targets(si ScenarioInfo) []Target {
	var out []Target
	has := func(i Impl) bool { return slices.Contains(r.Impls, i) }
	for _, impl := range r.Impls {
		ref := ""
		if impl != Hadirector {
			ref = " (reference, not a goal)"
		}
		kill := r.Stat(si.Name, impl, mKill).Median
		term := r.Stat(si.Name, impl, mTerm).Median
		out = append(out,
			newTarget(si.Name, fmt.Sprintf("%s kill -9 takeover median ≤ Master_Down_Interval + 2 ms%s", impl, ref), kill, si.MasterDown, twoMillis, false),
			newTarget(si.Name, fmt.Sprintf("%s SIGTERM handover median ≤ Skew_Time + 2 ms%s", impl, ref), term, si.Skew, twoMillis, false))
	}
	if has(Hadirector) && has(Keepalived) {
		for _, m := range []struct {
			i    int
			what string
		}{{mKill, "kill -9 takeover"}, {mTerm, "SIGTERM handover"}} {
			out = append(out, newTarget(si.Name, fmt.Sprintf("hadirector %s median ≤ keepalived's median + 2 ms", m.what),
				r.Stat(si.Name, Hadirector, m.i).Median, r.Stat(si.Name, Keepalived, m.i).Median, twoMillis, false))
		}
	}
	for _, impl := range r.Impls {
		ref := ""
		if impl != Hadirector {
			ref = " (reference, not a goal)"
		}
		st := r.Stat(si.Name, impl, mVIPGARP)
		out = append(out,
			newTarget(si.Name, fmt.Sprintf("%s first GARP < 1 ms after the VIP is added, median%s", impl, ref), st.Median, 0, Ms(time.Millisecond), true),
			newTarget(si.Name, fmt.Sprintf("%s first GARP < 1 ms after the VIP is added, worst%s", impl, ref), st.Worst, 0, Ms(time.Millisecond), true))
	}
	return out
}

// WriteText prints the report as tables.
func (r *FailoverReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "hadirector-bench failover\n")
	fmt.Fprintf(w, "invocation: %s\n", r.Invocation)
	for _, impl := range r.Impls {
		fmt.Fprintf(w, "%-11s %s (%s)\n", string(impl)+":", r.Versions[impl], r.Binaries[impl])
	}
	fmt.Fprintf(w, "host:       %s\n", r.Host)
	fmt.Fprintf(w, "run:        %s → %s (%v)\n", r.Started.Format(time.RFC3339), r.Finished.Format(time.RFC3339), r.Finished.Sub(r.Started).Round(time.Second))
	rt := "off"
	if r.Realtime {
		rt = fmt.Sprintf("on for both (hadirector realtime_priority=%d lock_memory=true; keepalived vrrp_rt_priority %d, vrrp_no_swap)", RealtimePriority, RealtimePriority)
		if r.KeepalivedRTTime > 0 {
			rt += fmt.Sprintf("; keepalived vrrp_rlimit_rttime %d µs (raised from its default, 5 ms soft / 10 ms hard, with which its RLIMIT_RTTIME watchdog SIGKILLs its own VRRP child on this VM)", r.KeepalivedRTTime)
		}
	}
	fmt.Fprintf(w, "setup:      priorities %d/%d, VRID %d, 1 VIP, multicast; failure at a random moment U[0, advert_int) (seed %d); realtime %s\n",
		PrioMaster, PrioBackup, benchVRID, r.Seed, rt)
	fmt.Fprintf(w, "clocks:     wire = SO_TIMESTAMPNS of the client's AF_PACKET socket; daemon = read time of the notify FIFO line;\n")
	fmt.Fprintf(w, "            neighbour = wake-up time of a SCHED_FIFO netlink reader; VIP added = %s\n", r.VIPClock)
	for _, si := range r.Scenarios {
		fmt.Fprintf(w, "\n== %s: VRRPv%d, advert_int %v; backup's Master_Down_Interval %s ms, Skew_Time %s ms; %d reps\n",
			si.Name, si.Version, si.Interval, si.MasterDown, si.Skew, r.Reps)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		head := "metric (ms)\t"
		for _, impl := range r.Impls {
			head += fmt.Sprintf("%s n\tmedian\tworst\t", impl)
		}
		fmt.Fprintln(tw, head)
		for i, m := range Metrics {
			row := m.Name + "\t"
			for _, impl := range r.Impls {
				st := r.Stat(si.Name, impl, i)
				row += fmt.Sprintf("%d\t%s\t%s\t", st.N, st.Median, st.Worst)
			}
			fmt.Fprintln(tw, row)
		}
		row := "GARPs in the first burst (min–max)\t"
		for _, impl := range r.Impls {
			lo, hi, n := -1, -1, 0
			for _, s := range r.Samples {
				if s.Scenario == si.Name && s.Impl == impl && s.AdvertToGARP.Seen() {
					n++
					if lo < 0 || s.GARPs < lo {
						lo = s.GARPs
					}
					hi = max(hi, s.GARPs)
				}
			}
			row += fmt.Sprintf("%d\t%d\t%d\t", n, lo, hi)
		}
		fmt.Fprintln(tw, row)
		tw.Flush()
		fmt.Fprintf(w, "targets:\n")
		for _, t := range r.Targets {
			if t.Scenario == si.Name {
				fmt.Fprintf(w, "  %s\n", t)
			}
		}
	}
	fmt.Fprintf(w, "\nraw samples (ms; - = not observed):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintln(tw, "impl\tscenario\tkind\trep\tdelay\ttakeover\tprio0→adv\tdaemon\tadv→GARP\tVIP→GARP\tGARP→neigh\tfail→neigh\tGARPs\terror\t")
	for _, s := range r.Samples {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t\n", s.Impl, s.Scenario, s.Kind, s.Rep, s.Delay,
			s.Takeover, s.Prio0, s.Daemon, s.AdvertToGARP, s.VIPToGARP, s.GARPToNeigh, s.FailToNeigh, s.GARPs, strings.TrimSpace(s.Err))
	}
	tw.Flush()
	met, total := 0, 0
	for _, t := range r.Targets {
		if !strings.Contains(t.What, "reference") {
			total++
			if t.Met {
				met++
			}
		}
	}
	fmt.Fprintf(w, "\nhadirector targets met: %d of %d\n", met, total)
}

// Infos adds the protocol limits to scenarios.
func Infos(scs []Scenario) []ScenarioInfo {
	out := make([]ScenarioInfo, len(scs))
	for i, s := range scs {
		out[i] = ScenarioInfo{Scenario: s, MasterDown: Ms(s.MasterDown()), Skew: Ms(s.Skew())}
	}
	return out
}
