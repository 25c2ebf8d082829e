package sim

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/hadirector/hadirector/vrrp"
)

var (
	seeds    = flag.Int("sim.seeds", 0, "number of simulator seeds (default 10000, 1000 under -race or -short)")
	firstArg = flag.Uint64("sim.first", 1, "first seed")
	replay   = flag.Int64("sim.replay", -1, "replay one seed with a full event trace")
)

func TestSimulatorSeeds(t *testing.T) {
	if *replay >= 0 {
		n := Scenario(uint64(*replay), true)
		t.Log("\n" + strings.Join(n.Log, "\n"))
		if len(n.Violations) > 0 {
			t.Fatal(n.Report(uint64(*replay)))
		}
		return
	}
	count := *seeds
	if count == 0 {
		count = 10000
		if raceEnabled || testing.Short() {
			count = 1000
		}
	}
	start := time.Now()
	failed := 0
	for s := *firstArg; s < *firstArg+uint64(count); s++ {
		n := Scenario(s, false)
		if len(n.Violations) == 0 {
			continue
		}
		failed++
		t.Errorf("%s  replay: go test ./vrrp/sim -run TestSimulatorSeeds -sim.replay=%d -v", n.Report(s), s)
		if failed >= 5 {
			t.Fatal("too many failing seeds")
		}
	}
	t.Logf("%d seeds in %v", count, time.Since(start))
}

// TestTakeoverTiming pins the RFC arithmetic on a two-router LAN with no delay: a master
// crash is noticed exactly Master_Down_Interval after its last advert, and a priority-0
// advert hands over after exactly Skew_Time.
func TestTakeoverTiming(t *testing.T) {
	for _, tc := range []struct {
		version  uint8
		interval time.Duration
		prio     uint8
		mdi      time.Duration
		skew     time.Duration
	}{
		// v2: skew is (256-100)/256 s whatever the interval.
		{2, time.Second, 100, 3*time.Second + 609375*time.Microsecond, 609375 * time.Microsecond},
		{2, 3 * time.Second, 200, 9*time.Second + 218750*time.Microsecond, 218750 * time.Microsecond},
		// v3: skew is (256-prio)*interval/256.
		{3, time.Second, 100, 3*time.Second + 609375*time.Microsecond, 609375 * time.Microsecond},
		{3, 100 * time.Millisecond, 100, 300*time.Millisecond + 60937500, 60937500},
		{3, 10 * time.Millisecond, 250, 30*time.Millisecond + 234375, 234375},
	} {
		n := New(1, tc.version, tc.interval, []RouterConfig{{Priority: 254, Preempt: true}, {Priority: tc.prio, Preempt: true}})
		n.Start(0)
		n.Start(1)
		n.Run(10 * tc.interval)
		if ms := n.Masters(); len(ms) != 1 || ms[0] != 0 {
			t.Fatalf("%+v: masters %v, want [0]", tc, ms)
		}
		if got := n.Routers[1].M.MasterDownInterval(); got != tc.mdi {
			t.Errorf("%+v: Master_Down_Interval %v, want %v", tc, got, tc.mdi)
		}
		n.Run(tc.interval / 3)
		last := n.Routers[0].LastTx
		crash := n.Now()
		n.Crash(0)
		n.Run(5 * tc.interval)
		tr, ok := n.FirstTransitionTo(vrrp.Master, crash)
		if !ok || tr.Router != 1 || tr.At.Sub(last) != tc.mdi {
			t.Errorf("%+v: takeover %v after last advert (ok=%v), want %v", tc, tr.At.Sub(last), ok, tc.mdi)
		}
		n.Start(0)
		n.Run(10 * tc.interval)
		stop := n.Now()
		n.Shutdown(0)
		n.Run(5 * tc.interval)
		tr, ok = n.FirstTransitionTo(vrrp.Master, stop)
		if !ok || tr.Router != 1 || tr.At.Sub(stop) != tc.skew {
			t.Errorf("%+v: takeover %v after priority 0, want %v", tc, tr.At.Sub(stop), tc.skew)
		}
	}
}

// TestTieBreak: equal priorities elect the higher address, whatever the start order.
func TestTieBreak(t *testing.T) {
	for _, order := range [][]int{{0, 1}, {1, 0}} {
		n := New(1, 3, 100*time.Millisecond, []RouterConfig{{Priority: 100, Preempt: true}, {Priority: 100, Preempt: true}})
		n.MinDelay = time.Millisecond
		n.Start(order[0])
		n.Run(time.Second)
		n.Start(order[1])
		n.Run(2 * time.Second)
		if ms := n.Masters(); len(ms) != 1 || ms[0] != 1 {
			t.Errorf("start order %v: masters %v, want [1] (192.0.2.2 beats 192.0.2.1)", order, ms)
		}
	}
}

// TestSimulatorPreemptDelayLowerMaster runs the preempt_delay measurement of Scenario (lowerMaster)
// on LANs built for it, long after start-up: a backup with preempt_delay raised above the
// master it follows takes over no sooner than the delay and no later than its bound.
func TestSimulatorPreemptDelayLowerMaster(t *testing.T) {
	for seed := uint64(1); seed <= 300; seed++ {
		n := New(seed, 3, 0, nil)
		rng := n.Rand()
		interval := []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, time.Second}[rng.IntN(3)]
		delay := time.Duration(1+rng.IntN(8)) * interval
		*n = *New(seed, 3, interval, []RouterConfig{{Priority: 200, Preempt: true}, {Priority: 100, Preempt: true, PreemptDelay: delay}})
		n.MinDelay = time.Duration(rng.Int64N(int64(interval/100) + 1))
		n.Jitter = time.Duration(rng.Int64N(int64(interval/20) + 1))
		n.Start(0)
		n.Start(1)
		n.Run(time.Duration(20+rng.IntN(20)) * interval)
		if ms := n.Masters(); len(ms) != 1 || ms[0] != 0 {
			t.Fatalf("seed %d: masters %v, want [0]", seed, ms)
		}
		mark := len(n.Transitions)
		n.lowerMaster(interval)
		if len(n.Violations) > 0 {
			t.Fatalf("seed %d: %s", seed, n.Report(seed))
		}
		if len(n.Transitions) == mark {
			t.Fatalf("seed %d: nothing measured", seed)
		}
	}
}
