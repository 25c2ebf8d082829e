package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "weight")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	for _, c := range []struct {
		content string // "-" for no file
		weight  int
		reverse bool
		want    Weight
		down    bool
	}{
		{content: "-", want: Weight{}},
		{content: "0", want: Weight{}},
		{content: "5", down: true},
		{content: "0", reverse: true, down: true},
		{content: "3", reverse: true, want: Weight{}},
		{content: "3\n", weight: 10, want: Weight{WeightOffset, 30}},
		{content: "3", weight: 10, reverse: true, want: Weight{WeightOffset, -30}},
		{content: "junk", weight: 10, want: Weight{WeightOffset, 0}},
		{content: "0x10", weight: 2, want: Weight{WeightOffset, 32}},
		{content: "-2147483648", weight: 1, down: true},
		{content: "2147483647", weight: 4, want: Weight{WeightOffset, math.MaxInt32}},
	} {
		os.Remove(path)
		if c.content != "-" {
			write(c.content)
		}
		f := &File{Path: path, Weight: c.weight, Reverse: c.reverse}
		w, err := f.CheckWeight(ctx)
		if c.down {
			wantReason(t, err, ReasonStatus, "file "+path)
			continue
		}
		if err != nil || w != c.want {
			t.Errorf("%q weight %d reverse %v: %v, %v; want %v", c.content, c.weight, c.reverse, w, err, c.want)
		}
	}
	// A number out of the 32-bit range fails (keepalived ignores it).
	write("99999999999")
	wantReason(t, (&File{Path: path, Weight: 1}).Check(ctx), ReasonOther, "out of the 32-bit range")
	// A file that cannot be read (a directory) fails.
	wantReason(t, (&File{Path: t.TempDir()}).Check(ctx), ReasonOther, "read")
}

func TestExecDynamic(t *testing.T) {
	ctx := context.Background()
	exit := func(code int, dynamic bool) (Weight, error) {
		return (&Exec{Argv: []string{"/bin/sh", "-c", fmt.Sprintf("exit %d", code)}, Dynamic: dynamic, Timeout: 5 * time.Second}).CheckWeight(ctx)
	}
	for code, want := range map[int]Weight{0: {}, 2: {WeightAbsolute, 0}, 7: {WeightAbsolute, 5}, 255: {WeightAbsolute, 253}} {
		if w, err := exit(code, true); err != nil || w != want {
			t.Errorf("misc_dynamic exit %d: %v, %v; want %v", code, w, err, want)
		}
	}
	_, err := exit(1, true)
	wantReason(t, err, ReasonExit, "exit status 1")
	_, err = exit(7, false)
	wantReason(t, err, ReasonExit, "exit status 7")
	wantReason(t, (&Exec{Argv: []string{"/bin/sleep", "60"}, Dynamic: true, Timeout: 100 * time.Millisecond}).Check(ctx), ReasonTimeout)
}

func TestEffectiveWeight(t *testing.T) {
	for _, c := range []struct {
		configured int
		checks     []Weight
		want       int
	}{
		{10, nil, 10},
		{10, []Weight{{}}, 10},
		{10, []Weight{{WeightAbsolute, 5}}, 5},
		{10, []Weight{{WeightOffset, -30}}, 0},
		{10, []Weight{{WeightAbsolute, 5}, {WeightOffset, 3}}, 8},
		{1, []Weight{{WeightOffset, math.MaxInt32}}, math.MaxInt32},
	} {
		if got := EffectiveWeight(c.configured, c.checks...); got != c.want {
			t.Errorf("EffectiveWeight(%d, %v) = %d, want %d", c.configured, c.checks, got, c.want)
		}
	}
}

// weightScript is a WeightChecker returning scripted results: a number is a pass with that
// absolute weight, "c" a pass at the configured weight, "F" a failure.
type weightScript struct {
	mu    sync.Mutex
	steps []string
	n     int
}

func (s *weightScript) Check(ctx context.Context) error { _, err := s.CheckWeight(ctx); return err }

func (s *weightScript) CheckWeight(context.Context) (Weight, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	step := s.steps[min(s.n, len(s.steps)-1)]
	s.n++
	switch step {
	case "F":
		return Weight{}, errors.New("scripted failure")
	case "c":
		return Weight{}, nil
	}
	var v int64
	fmt.Sscan(step, &v)
	return Weight{WeightAbsolute, v}, nil
}

// TestMonitorWeights: weight changes of an up target are reported once each, in order with
// the transitions; a target that comes up carries its weight in the transition; a down
// target's weight changes are not reported.
func TestMonitorWeights(t *testing.T) {
	h := newHarness(t, Options{})
	a := id(1)
	//                                1   2   3   4  5  6  7  8  9  10
	sc := &weightScript{steps: strings.Fields("c   5   5   F  7  F  F  8  9  c")}
	if err := h.m.Set([]Target{{ID: a, Checker: sc, Interval: time.Second, Rise: 2, Fall: 2}}); err != nil {
		t.Fatal(err)
	}
	h.run()
	first := h.start.Add(Phase(a, time.Second))
	h.stepUntil(first.Add(9 * time.Second))
	h.mu.Lock()
	got := h.events
	h.mu.Unlock()
	want := []string{
		"weight configured -> 5", // check 2
		"weight 5 -> 7",          // check 5, up with one failure pending
		"down",                   // check 7
		"up 9",                   // check 9, the second success (check 8's 8 is not reported)
		"weight 9 -> configured", // check 10
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events\n got %q\nwant %q", got, want)
	}
	if s := h.stats(a); s.Weight != (Weight{}) || s.WeightChanges != 3 || h.m.Counters().WeightChanges != 3 {
		t.Errorf("stats weight %v, %d changes (counters %d); want configured, 3", s.Weight, s.WeightChanges, h.m.Counters().WeightChanges)
	}
}
