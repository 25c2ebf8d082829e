package bench

import (
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hadirector/hadirector/internal/lab"
)

// SoakOptions configure RunSoak.
type SoakOptions struct {
	Duration time.Duration
	Interval time.Duration // advert_int, VRRPv3
	Busy     int           // busy-loop processes
	// BusyCommand returns a process that spins one core for d and then exits by itself.
	BusyCommand func(d time.Duration) *exec.Cmd
	// KeepalivedRTTime is keepalived's vrrp_rlimit_rttime (µs); 0 keeps its default.
	KeepalivedRTTime int
	Impls            []Impl
	Bins             map[Impl]string
	Progress         io.Writer
	Every            time.Duration // progress interval; default 1 min
}

// SoakResult is what one implementation's pair did during the soak.
type SoakResult struct {
	Impl     Impl `json:"impl"`
	Duration Ms   `json:"duration_ms"`
	// Transitions are the FIFO state lines of both daemons after the initial election.
	Transitions []string `json:"transitions"`
	// FalseFailovers counts the backup becoming MASTER.
	FalseFailovers int `json:"false_failovers"`
	// MasterAdverts and BackupAdverts count the adverts on the wire by sender; any advert
	// from the backup means it thought the master was gone.
	MasterAdverts int `json:"master_adverts"`
	BackupAdverts int `json:"backup_adverts"`
	// Gaps between the master's consecutive adverts on the wire.
	GapMedian   Ms  `json:"gap_median_ms"`
	GapP99      Ms  `json:"gap_p99_ms"`
	GapP999     Ms  `json:"gap_p99_9_ms"`
	GapMax      Ms  `json:"gap_max_ms"`
	GapsOver2x  int `json:"gaps_over_2x_interval"`
	GapsOverMDI int `json:"gaps_over_master_down_interval"`
	// ChildDeaths counts keepalived VRRP children SIGKILLed (by its RLIMIT_RTTIME watchdog)
	// and respawned during the soak; ChildDeathsBefore those during the initial election.
	ChildDeaths       int    `json:"child_deaths"`
	ChildDeathsBefore int    `json:"child_deaths_before"`
	Err               string `json:"error,omitempty"`
}

// RunSoak runs a pair of each implementation side by side (realtime scheduling and locked
// memory on for both), loads the machine with o.Busy spinning processes for o.Duration, and
// counts false failovers: any state change after the initial election.
func RunSoak(tb lab.TB, o SoakOptions) []SoakResult {
	tb.Helper()
	if len(o.Impls) == 0 {
		o.Impls = []Impl{Keepalived, Hadirector}
	}
	if o.Every <= 0 {
		o.Every = time.Minute
	}
	sc := Scenario{Name: "soak", Version: 3, Interval: o.Interval}
	var pairs []*Pair
	settled := map[*Pair]error{}
	for _, impl := range o.Impls {
		p := NewPair(tb, impl, o.Bins[impl], sc, Instance{Realtime: true, KeepalivedRTTime: o.KeepalivedRTTime})
		mark := p.Cap.Len()
		p.A.Start()
		p.B.Start()
		// A pair that never settles is a result too (keepalived's own RT watchdog can
		// kill its VRRP child whenever it becomes master): it soaks all the same.
		if err := p.TrySettle(mark); err != nil {
			settled[p] = err
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "soak: %v\n", err)
			}
		}
		pairs = append(pairs, p)
	}
	marks := make([]int, len(pairs))
	for i, p := range pairs {
		marks[i] = p.Cap.Len()
	}
	deaths := func(p *Pair) int {
		return strings.Count(p.A.Output(), childKilled) + strings.Count(p.B.Output(), childKilled)
	}
	deathsBefore := map[*Pair]int{}
	for _, p := range pairs {
		deathsBefore[p] = deaths(p)
	}
	t0 := time.Now()
	var busy []*exec.Cmd
	for range o.Busy {
		cmd := o.BusyCommand(o.Duration)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			tb.Fatalf("bench: busy loop: %v", err)
		}
		busy = append(busy, cmd)
	}
	stopBusy := func() {
		for _, c := range busy {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
		busy = nil
	}
	tb.Cleanup(stopBusy)
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "soak: %d busy loops, %v of %v adverts, started %s\n", o.Busy, o.Duration, o.Interval, t0.Format(time.RFC3339))
	}
	end := t0.Add(o.Duration)
	for now := time.Now(); now.Before(end); now = time.Now() {
		time.Sleep(min(o.Every, end.Sub(now)))
		if o.Progress != nil && time.Now().Before(end) {
			for i, p := range pairs {
				r := p.soakResult(t0, marks[i])
				fmt.Fprintf(o.Progress, "soak: +%v %-10s transitions %d, backup adverts %d, master adverts %d, max gap %s ms\n",
					time.Since(t0).Round(time.Second), p.Impl, len(r.Transitions), r.BackupAdverts, r.MasterAdverts, r.GapMax)
			}
		}
	}
	stopBusy()
	var out []SoakResult
	for i, p := range pairs {
		r := p.soakResult(t0, marks[i])
		r.Duration = Ms(time.Since(t0))
		if err := settled[p]; err != nil {
			first, _, _ := strings.Cut(err.Error(), "\n")
			r.Err = "no settled election before the soak: " + first + "; "
		}
		if !p.A.Running() || !p.B.Running() {
			r.Err += "a daemon exited during the soak"
		}
		r.ChildDeathsBefore = deathsBefore[p]
		r.ChildDeaths = deaths(p) - deathsBefore[p]
		out = append(out, r)
		p.Stop()
	}
	return out
}

func (p *Pair) soakResult(t0 time.Time, mark int) SoakResult {
	r := SoakResult{Impl: p.Impl}
	type change struct {
		host string
		StateEvent
	}
	var changes []change
	for _, d := range []*Daemon{p.A, p.B} {
		for _, e := range d.Events(t0) {
			changes = append(changes, change{d.Host.Name, e})
			if d == p.B && e.State == "MASTER" {
				r.FalseFailovers++
			}
		}
	}
	slices.SortStableFunc(changes, func(x, y change) int { return x.Time.Compare(y.Time) })
	for _, c := range changes {
		r.Transitions = append(r.Transitions, fmt.Sprintf("%s %s at +%v", c.host, c.State, c.Time.Sub(t0).Round(time.Millisecond)))
	}
	var times []time.Time
	for _, a := range p.Adverts(mark) {
		switch a.Src {
		case AddrA:
			r.MasterAdverts++
			times = append(times, a.Time)
		case AddrB:
			r.BackupAdverts++
		}
	}
	slices.SortFunc(times, time.Time.Compare)
	var gaps []Ms
	for i := 1; i < len(times); i++ {
		g := times[i].Sub(times[i-1])
		gaps = append(gaps, Ms(g))
		if g > 2*p.Sc.Interval {
			r.GapsOver2x++
		}
		if g >= p.Sc.MasterDown() {
			r.GapsOverMDI++
		}
	}
	st := Summarise(gaps)
	r.GapMedian, r.GapMax = st.Median, st.Worst
	r.GapP99, r.GapP999 = Percentile(gaps, 99), Percentile(gaps, 99.9)
	return r
}

// childKilled is what keepalived logs when its VRRP child dies of SIGKILL.
const childKilled = "exited due to signal 9"

// SoakReport is everything hadirector-bench soak prints.
type SoakReport struct {
	Invocation string          `json:"invocation"`
	Versions   map[Impl]string `json:"versions"`
	Binaries   map[Impl]string `json:"binaries"`
	Host       string          `json:"host"`
	Interval   time.Duration   `json:"interval_ns"`
	Busy       int             `json:"busy_loops"`
	// KeepalivedRTTime is keepalived's vrrp_rlimit_rttime (µs), 0 for its default.
	KeepalivedRTTime int           `json:"keepalived_rlimit_rttime_us"`
	Duration         time.Duration `json:"duration_ns"`
	Started          time.Time     `json:"started"`
	Finished         time.Time     `json:"finished"`
	LoadAvg          string        `json:"loadavg_at_end"`
	Impls            []Impl        `json:"impls"`
	Results          []SoakResult  `json:"results"`
}

// WriteText prints the soak report.
func (r *SoakReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "hadirector-bench soak\n")
	fmt.Fprintf(w, "invocation: %s\n", r.Invocation)
	for _, impl := range r.Impls {
		fmt.Fprintf(w, "%-11s %s (%s)\n", string(impl)+":", r.Versions[impl], r.Binaries[impl])
	}
	fmt.Fprintf(w, "host:       %s\n", r.Host)
	fmt.Fprintf(w, "run:        %s → %s; load average at the end: %s\n", r.Started.Format(time.RFC3339), r.Finished.Format(time.RFC3339), r.LoadAvg)
	fmt.Fprintf(w, "setup:      both pairs side by side, VRRPv3 advert_int %v (Master_Down_Interval %v), priorities %d/%d, %d busy loops for %v,\n",
		r.Interval, (Scenario{Version: 3, Interval: r.Interval}).MasterDown(), PrioMaster, PrioBackup, r.Busy, r.Duration)
	rttime := "its default (5 ms soft / 10 ms hard)"
	if r.KeepalivedRTTime > 0 {
		rttime = fmt.Sprintf("%d µs", r.KeepalivedRTTime)
	}
	fmt.Fprintf(w, "            realtime on for both (realtime_priority=%d lock_memory=true / vrrp_rt_priority %d vrrp_no_swap), keepalived vrrp_rlimit_rttime %s\n\n",
		RealtimePriority, RealtimePriority, rttime)
	for _, s := range r.Results {
		fmt.Fprintf(w, "%s: false failovers %d, state changes after the election %d, backup adverts on the wire %d, master adverts %d, VRRP processes SIGKILLed by their own RT watchdog %d (and %d before the soak)\n",
			s.Impl, s.FalseFailovers, len(s.Transitions), s.BackupAdverts, s.MasterAdverts, s.ChildDeaths, s.ChildDeathsBefore)
		fmt.Fprintf(w, "  master advert gaps: median %s ms, p99 %s ms, p99.9 %s ms, max %s ms; > 2×interval: %d; ≥ Master_Down_Interval: %d\n",
			s.GapMedian, s.GapP99, s.GapP999, s.GapMax, s.GapsOver2x, s.GapsOverMDI)
		for _, t := range s.Transitions {
			fmt.Fprintf(w, "  transition: %s\n", t)
		}
		if s.Err != "" {
			fmt.Fprintf(w, "  error: %s\n", s.Err)
		}
	}
	for _, s := range r.Results {
		verdict := "met"
		if s.FalseFailovers > 0 || len(s.Transitions) > 0 || s.BackupAdverts > 0 || s.ChildDeaths > 0 || s.Err != "" {
			verdict = "NOT MET"
		}
		fmt.Fprintf(w, "target no false failover (%s): [%s]\n", s.Impl, verdict)
	}
}
