package e2e

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hadirector/hadirector/internal/bench"
	"github.com/hadirector/hadirector/internal/lab"
	"github.com/hadirector/hadirector/internal/privtest"
)

// TestFailoverBench runs the failover benchmark's own code at CI size (hadirector-bench
// failover -reps 2 -scenarios v3-100ms) and checks that what it measures is sane: every
// sample present, takeovers within the protocol's bounds plus scheduling slack, five GARPs
// per burst, the client's neighbour entry flipping, the targets computed. It does not
// assert the targets: that is the benchmark's job, on a quiet machine.
func TestFailoverBench(t *testing.T) {
	kaBin := privtest.Tool(t, "keepalived")
	sc, err := bench.ScenarioByName("v3-100ms")
	if err != nil {
		t.Fatal(err)
	}
	bins := map[bench.Impl]string{bench.Keepalived: kaBin, bench.Hadirector: lab.Build(t, "./cmd/hadirector")}
	tracer, err := bench.StartTracer(t)
	if err != nil {
		t.Logf("VIP additions timed through netlink: %v", err)
	}
	const reps = 2
	start := time.Now()
	samples := bench.RunFailover(t, bench.FailoverOptions{Reps: reps, Scenarios: []bench.Scenario{sc}, Bins: bins,
		Realtime: true, KeepalivedRTTime: 1000000, Seed: 1, Tracer: tracer})
	t.Logf("%d samples in %v", len(samples), time.Since(start).Round(time.Millisecond))

	count := map[string]int{}
	for _, s := range samples {
		count[string(s.Impl)+"/"+s.Kind]++
		if s.Err != "" {
			t.Errorf("%s %s rep %d: %s", s.Impl, s.Kind, s.Rep, s.Err)
			continue
		}
		mdi, skew := time.Duration(sc.MasterDown()), time.Duration(sc.Skew())
		in := func(what string, v bench.Ms, lo, hi time.Duration) {
			t.Helper()
			if !v.Seen() || time.Duration(v) < lo || time.Duration(v) > hi {
				t.Errorf("%s %s rep %d: %s = %s ms, want within [%v, %v]", s.Impl, s.Kind, s.Rep, what, v, lo, hi)
			}
		}
		switch s.Kind {
		case bench.KindKill:
			// From the last advert the backup heard: never before Master_Down_Interval.
			in("takeover", s.Takeover, mdi-time.Millisecond, mdi+slack)
			in("daemon", s.Daemon, mdi-time.Millisecond, mdi+slack)
		case bench.KindTerm:
			in("handover", s.Takeover, skew-time.Millisecond, skew+slack)
			in("priority 0 → advert", s.Prio0, skew-time.Millisecond, skew+slack)
		case bench.KindStart:
			// keepalived's own start-up now and then takes most of a second here.
			in("start → advert", s.Takeover, 3*sc.Interval, 3*time.Second)
		}
		in("advert → GARP", s.AdvertToGARP, 0, 50*time.Millisecond)
		in("first GARP → neighbour flip", s.GARPToNeigh, -time.Millisecond, slack)
		if tracer != nil {
			in("VIP added → GARP", s.VIPToGARP, 0, 50*time.Millisecond)
		}
		// Bursts of 5 (garp_master_repeat). A preempting master may send a second one at
		// once when it hears the old master's last lower-priority advert, and keepalived
		// now and then repeats its burst too; hadirector's takeover is one burst.
		if s.GARPs < 5 || s.GARPs%5 != 0 || (s.Impl == bench.Hadirector && s.Kind != bench.KindStart && s.GARPs != 5) {
			t.Errorf("%s %s rep %d: %d GARPs in the first burst, want bursts of 5", s.Impl, s.Kind, s.Rep, s.GARPs)
		}
	}
	for _, impl := range []bench.Impl{bench.Keepalived, bench.Hadirector} {
		for kind, want := range map[string]int{bench.KindKill: reps, bench.KindTerm: reps, bench.KindStart: 2 * reps} {
			if got := count[string(impl)+"/"+kind]; got != want {
				t.Errorf("%s: %d %s samples, want %d", impl, got, kind, want)
			}
		}
	}

	rep := &bench.FailoverReport{Invocation: "go test -run TestFailoverBench", Reps: reps, Realtime: true,
		Impls: []bench.Impl{bench.Keepalived, bench.Hadirector}, Scenarios: bench.Infos([]bench.Scenario{sc}), Samples: samples}
	rep.Summarize()
	if len(rep.Targets) == 0 {
		t.Fatal("no targets computed")
	}
	for _, tg := range rep.Targets {
		if strings.Contains(tg.What, "Interval") && tg.Ratio == 0 {
			t.Errorf("target %q: no ratio computed", tg.What)
		}
	}
	var out bytes.Buffer
	rep.WriteText(&out)
	t.Logf("\n%s", out.String())
}
