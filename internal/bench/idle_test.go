package bench

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// The idle bench sums over a daemon's process tree: a child started here must be in ours,
// and its CPU and memory must count.
func TestProcessTreeCPUAndMemory(t *testing.T) {
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Skipf("no sleep to start: %v", err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	self := os.Getpid()
	tree := processTree(self)
	if !slices.Contains(tree, self) || !slices.Contains(tree, child.Process.Pid) {
		t.Fatalf("processTree(%d) = %v, want itself and child %d", self, tree, child.Process.Pid)
	}
	if other := processTree(child.Process.Pid); !slices.Equal(other, []int{child.Process.Pid}) {
		t.Errorf("processTree(child) = %v, want only the child", other)
	}
	run0, _, err := processCPU([]int{self})
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until the schedstat run time has grown by 20 ms; on a loaded machine that
	// takes longer than 20 ms of wall time, but not 5 s.
	grown := time.Duration(0)
	for end := time.Now().Add(5 * time.Second); grown < 20*time.Millisecond && time.Now().Before(end); {
		for spin := time.Now().Add(time.Millisecond); time.Now().Before(spin); {
		}
		run1, _, err := processCPU([]int{self})
		if err != nil {
			t.Fatal(err)
		}
		grown = run1 - run0
	}
	if grown < 20*time.Millisecond {
		t.Errorf("run time grew %v over 5 s of busy loops", grown)
	}
	rssSelf, pssSelf, err := processMemory([]int{self})
	if err != nil {
		t.Fatal(err)
	}
	rssBoth, pssBoth, err := processMemory(tree)
	if err != nil {
		t.Fatal(err)
	}
	if rssSelf == 0 || pssSelf == 0 || pssSelf > rssSelf || rssBoth <= rssSelf || pssBoth <= pssSelf {
		t.Errorf("self RSS %d PSS %d; with the child RSS %d PSS %d", rssSelf, pssSelf, rssBoth, pssBoth)
	}
	if _, _, err := processCPU([]int{1 << 30}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("a process that does not exist: %v", err)
	}
}

func TestIdleReportFigures(t *testing.T) {
	r := &IdleReport{Impls: []Impl{Keepalived, Hadirector}, Samples: []IdleSample{
		{Impl: Keepalived, Node: "master", Seconds: 10, CPU: Ms(time.Millisecond), Ticks: Ms(10 * time.Millisecond), PSS: 4 << 20},
		{Impl: Keepalived, Node: "master", Seconds: 10, CPU: Ms(3 * time.Millisecond), Ticks: 0, PSS: 6 << 20},
		{Impl: Keepalived, Node: "master", Seconds: 10, CPU: Ms(2 * time.Millisecond), Ticks: Ms(10 * time.Millisecond), PSS: 5 << 20},
		{Impl: Hadirector, Node: "master", Seconds: 10, CPU: Ms(time.Second), Err: "processes changed"},
	}}
	cpu := IdleMetrics[0]
	if med, worst := MedianWorst(r.Values(Keepalived, "master", cpu)); med != 12 || worst != 18 {
		t.Errorf("CPU ms per minute: median %v worst %v, want 12 and 18", med, worst)
	}
	if v := r.Values(Hadirector, "master", cpu); len(v) != 0 {
		t.Errorf("a failed slice counted: %v", v)
	}
	if got := r.TotalTicks(Keepalived, "master"); got != Ms(20*time.Millisecond) {
		t.Errorf("TotalTicks = %v", got)
	}
	if got := r.TotalTicks(Hadirector, "master"); got.Seen() {
		t.Errorf("TotalTicks with a failed slice = %v, want not seen", got)
	}
	if got := r.TotalTicks(Keepalived, "backup"); got.Seen() {
		t.Errorf("TotalTicks of nothing = %v", got)
	}
	if med, worst := MedianWorst([]float64{4, 1, 3, 2}); med != 2.5 || worst != 4 {
		t.Errorf("MedianWorst = %v, %v", med, worst)
	}
}
