package bench

import (
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/hadirector/hadirector/internal/flood"
	"github.com/hadirector/hadirector/internal/lab"
)

// FloodOptions configure RunFlood.
type FloodOptions struct {
	Duration time.Duration // of the flood
	Interval time.Duration // VRRPv3 advert_int
	Senders  int           // flooding goroutines (sendmmsg)
	// KeepalivedRTTime is keepalived's vrrp_rlimit_rttime (µs); 0 keeps its default.
	KeepalivedRTTime int
	Impls            []Impl
	Bins             map[Impl]string
	Progress         io.Writer
}

// FloodResult is one implementation's pair under the flood: the rate the flooder reached
// and what the pair did meanwhile (the soak's figures for the flood's window).
type FloodResult struct {
	Sent uint64  `json:"packets_sent"`
	Took Ms      `json:"flood_ms"`
	Rate float64 `json:"packets_per_second"`
	SoakResult
}

// RunFlood runs a pair of each implementation in turn (realtime on for both, so the
// daemons run above the flooder as they would above other work) and floods both directors
// with every kind of bad VRRP packet of package flood for o.Duration from a third host on
// their LAN. It records the rate reached, the master's advert gaps on the wire (a client's
// capture, which the unicast flood does not reach) and any state change.
func RunFlood(tb lab.TB, o FloodOptions) []FloodResult {
	tb.Helper()
	sc := Scenario{Name: "flood", Version: 3, Interval: o.Interval}
	var out []FloodResult
	for _, impl := range o.Impls {
		p := NewPair(tb, impl, o.Bins[impl], sc, Instance{Realtime: true, KeepalivedRTTime: o.KeepalivedRTTime})
		h := p.Lab.Host("flood", "192.0.2.66/24")
		p.Start()
		f, err := flood.New(h, []netip.Addr{AddrA, AddrB}, VIP, o.Interval, flood.All)
		if err != nil {
			tb.Fatalf("bench: %v", err)
		}
		mark := p.Cap.Len()
		t0 := time.Now()
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "flood: %s pair, %v of bad packets from %d senders\n", impl, o.Duration, o.Senders)
		}
		sent, took, err := f.Run(o.Duration, o.Senders)
		f.Close()
		if err != nil {
			tb.Fatalf("bench: %v", err)
		}
		time.Sleep(2 * o.Interval) // the adverts of the flood's last moments are captured
		r := FloodResult{Sent: sent, Took: Ms(took), Rate: float64(sent) / took.Seconds(), SoakResult: p.soakResult(t0, mark)}
		r.Duration = Ms(took)
		if !p.A.Running() || !p.B.Running() {
			r.Err = "a daemon exited during the flood"
		}
		out = append(out, r)
		p.Stop()
	}
	return out
}

// FloodReport is everything hadirector-bench flood prints.
type FloodReport struct {
	Invocation       string          `json:"invocation"`
	Versions         map[Impl]string `json:"versions"`
	Binaries         map[Impl]string `json:"binaries"`
	Host             string          `json:"host"`
	Interval         time.Duration   `json:"interval_ns"`
	Duration         time.Duration   `json:"duration_ns"`
	Senders          int             `json:"senders"`
	KeepalivedRTTime int             `json:"keepalived_rlimit_rttime_us"`
	Started          time.Time       `json:"started"`
	Finished         time.Time       `json:"finished"`
	Impls            []Impl          `json:"impls"`
	Results          []FloodResult   `json:"results"`
}

// WriteText prints the flood report: one row per implementation.
func (r *FloodReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "hadirector-bench flood\n")
	fmt.Fprintf(w, "invocation: %s\n", r.Invocation)
	for _, impl := range r.Impls {
		fmt.Fprintf(w, "%-11s %s (%s)\n", string(impl)+":", r.Versions[impl], r.Binaries[impl])
	}
	fmt.Fprintf(w, "host:       %s\n", r.Host)
	fmt.Fprintf(w, "setup:      each pair in turn, VRRPv3 advert_int %v (Master_Down_Interval %v), realtime on; %v of bad VRRP packets\n",
		r.Interval, (Scenario{Version: 3, Interval: r.Interval}).MasterDown(), r.Duration)
	fmt.Fprintf(w, "            (wrong TTL, bad checksum, wrong password, unknown peer, malformed, unknown VRID) at both directors from %d senders\n\n", r.Senders)
	fmt.Fprintf(w, "%-11s %12s %12s %9s %10s %10s %8s %8s\n", "", "packets", "packets/s", "adverts", "gap med", "gap max", "≥ MDI", "changes")
	for _, s := range r.Results {
		fmt.Fprintf(w, "%-11s %12d %12.0f %9d %7s ms %7s ms %8d %8d\n", s.Impl, s.Sent, s.Rate, s.MasterAdverts, s.GapMedian, s.GapMax, s.GapsOverMDI, len(s.Transitions))
	}
	for _, s := range r.Results {
		for _, t := range s.Transitions {
			fmt.Fprintf(w, "%s transition: %s\n", s.Impl, t)
		}
		if s.Err != "" {
			fmt.Fprintf(w, "%s error: %s\n", s.Impl, s.Err)
		}
	}
	fmt.Fprintln(w)
	for _, s := range r.Results {
		verdict := "met"
		if s.Rate < 100_000 {
			verdict = "NOT MET"
		}
		fmt.Fprintf(w, "target 100 000 bad packets/s reached (%s): [%s]\n", s.Impl, verdict)
		verdict = "met"
		if len(s.Transitions) > 0 || s.BackupAdverts > 0 || s.GapsOverMDI > 0 || s.Err != "" {
			verdict = "NOT MET"
		}
		fmt.Fprintf(w, "target no false failover, no advert gap ≥ Master_Down_Interval (%s): [%s]\n", s.Impl, verdict)
	}
}
