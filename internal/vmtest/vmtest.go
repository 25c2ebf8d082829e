package vmtest

import (
	"os"
	"testing"

	"github.com/hadirector/hadirector/internal/privtest"
)

// EnvInVM is set to "1" by the VM's /init for every program it runs.
const EnvInVM = "HADIRECTOR_IN_VM"

// InVM reports whether the process runs inside the test VM.
func InVM() bool { return os.Getenv(EnvInVM) == "1" }

// Need skips t (or fails it under HADIRECTOR_REQUIRE_PRIV=1) unless it runs inside the test VM.
// Tests that need real IPVS call it first; their files carry //go:build vmtest, so only
// make test-vm compiles them.
func Need(t testing.TB) {
	t.Helper()
	privtest.Need(t, InVM(), "needs the IPVS test VM: run make test-vm")
}
