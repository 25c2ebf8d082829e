//go:build vmtest

package vm

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/hadirector/hadirector/internal/demo"
	"github.com/hadirector/hadirector/internal/vmtest"
)

// TestDemoFailsWhenAStepBreaks runs the demo command with director B frozen before A loses
// power: nobody takes over, and the command must say so and exit 1.
func TestDemoFailsWhenAStepBreaks(t *testing.T) {
	vmtest.Need(t)
	bin, err := exec.LookPath("hadirector-demo")
	if err != nil {
		t.Fatalf("hadirector-demo is not on PATH (VM_BINS): %v", err)
	}
	out, err := exec.Command(bin, "-break", demo.BreakTakeover).CombinedOutput()
	t.Logf("hadirector-demo -break %s:\n%s", demo.BreakTakeover, out)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1 (a step failed)", err)
	}
	var failed []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasSuffix(l, "FAILED") {
			failed = append(failed, l)
		}
	}
	if !slices.ContainsFunc(failed, func(l string) bool { return strings.Contains(l, "B takes over within its Master_Down_Interval") }) {
		t.Fatalf("the summary does not list the takeover as failed: %q", failed)
	}
	if !strings.Contains(string(out), "demo: FAILED: ") {
		t.Fatal("no FAILED verdict printed")
	}
}
