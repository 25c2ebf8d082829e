// Package privtest gates tests that need root, network namespaces or a VM. Such a test
// skips with a clear reason where the facility is missing — except under
// HADIRECTOR_REQUIRE_PRIV=1 (set by .ci/run), where a skip is a failure, so a green CI
// means the privileged tests really ran.
package privtest

import (
	"os"
	"os/exec"
)

// TB is what a gate needs of a test: a *testing.T, or the lab's TB for programs that are
// not tests.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// Required reports whether missing facilities must fail tests instead of skipping them.
func Required() bool { return os.Getenv("HADIRECTOR_REQUIRE_PRIV") == "1" }

// Need skips (or, when Required, fails) t unless ok; reason says what is missing.
func Need(t TB, ok bool, reason string) {
	t.Helper()
	if ok {
		return
	}
	if Required() {
		t.Fatalf("HADIRECTOR_REQUIRE_PRIV=1 and the test cannot run: %s", reason)
	}
	t.Skipf("skipped: %s (set up the facility, or run as root; CI runs this)", reason)
}

// Root requires uid 0.
func Root(t TB) {
	t.Helper()
	Need(t, os.Geteuid() == 0, "needs root")
}

// Tool requires an executable on PATH and returns its path.
func Tool(t TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Need(t, err == nil, name+" is not installed")
	return p
}
