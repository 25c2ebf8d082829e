//go:build vmtest && linux

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hadirector/hadirector/internal/benchdata"
	"github.com/hadirector/hadirector/internal/vmtest"
)

// TestMain lets the test binary serve as its own listener child ("listen"), so the
// benchmark runs in the VM without a separate binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "listen" {
		if err := listenMain(os.Args[2:]); err != nil {
			os.Stderr.WriteString("listen: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCheckBenchVM runs hadirector's checker and keepalived's (which needs IPVS, hence the
// VM) back to back for each N and logs the table. It takes about 2 × len(N) × (duration +
// warm-up), so it is opt-in:
//
//	go run ./internal/vmtest/cmd/vmrun -pkgs ./cmd/hadirector-checkbench -run CheckBenchVM \
//	    -timeout 20m -env HADIRECTOR_CHECKBENCH=1000,5000,10000 -env HADIRECTOR_CHECKBENCH_DURATION=30s
func TestCheckBenchVM(t *testing.T) {
	vmtest.Need(t)
	ns := os.Getenv("HADIRECTOR_CHECKBENCH")
	if ns == "" {
		t.Skip("benchmark not requested: set HADIRECTOR_CHECKBENCH=1000,5000,10000 (vmrun -env)")
	}
	dur := os.Getenv("HADIRECTOR_CHECKBENCH_DURATION")
	if dur == "" {
		dur = "30s"
	}
	// The runs leave the VM as a marker line on the console, for the report generator.
	jsonFile := filepath.Join(t.TempDir(), "checkbench.json")
	args := []string{"-both", "-n", ns, "-duration", dur, "-json-file", jsonFile}
	if extra := os.Getenv("HADIRECTOR_CHECKBENCH_ARGS"); extra != "" {
		args = append(args, strings.Fields(extra)...)
	}
	var out bytes.Buffer
	code := run(args, &out)
	t.Log(out.String())
	if code != 0 {
		t.Fatalf("hadirector-checkbench %v: exit %d", args, code)
	}
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	var res benchdata.CheckBench
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if err := benchdata.WriteLine(os.Stdout, "checkbench", res); err != nil {
		t.Fatal(err)
	}
}
