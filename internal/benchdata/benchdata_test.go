package benchdata

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestLineRoundTripThroughAConsole(t *testing.T) {
	want := LVS{Services: 1000, Destinations: 10, WeightOps: 1,
		Rows:  []LVSRow{{Name: "ipvsadm -R", SamplesMs: []float64{4471.6, 6190.5}}, {Name: "full sync", Note: "1 worker", SamplesMs: []float64{1506.6, 1471.1}}},
		Pairs: []LVSPair{{Ours: "full sync", Baseline: "ipvsadm -R", Limit: 0.5}}}
	var line bytes.Buffer
	if err := WriteLine(&line, "lvs", want); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line.String(), "BENCH-JSON lvs {") || strings.Count(line.String(), "\n") != 1 {
		t.Fatalf("line = %q", line.String())
	}
	old := strings.Replace(line.String(), "1000", "999", 1)
	// A serial console: CRLF line ends, other output around it, an older line of the
	// same kind (the last one wins) and a line of another kind.
	console := "VMTEST-START x lvs\r\n=== RUN   TestBenchmarkLVS\r\n" + strings.ReplaceAll(old, "\n", "\r\n") +
		"noise " + strings.ReplaceAll(line.String(), "\n", "\r\n") + "BENCH-JSON checkbench {\"runs\":[]}\r\n--- PASS\r\n"
	var got LVS
	if err := ReadLine(strings.NewReader(console), "lvs", &got); err != nil {
		t.Fatal(err)
	}
	if got.Services != 1000 || len(got.Rows) != 2 || got.Row("full sync").SamplesMs[1] != 1471.1 || got.Pairs[0].Limit != 0.5 || got.Row("nope") != nil {
		t.Errorf("read back %+v", got)
	}
	var cb CheckBench
	if err := ReadLine(strings.NewReader(console), "checkbench", &cb); err != nil || cb.Runs == nil {
		t.Errorf("checkbench line: %+v %v", cb, err)
	}
	if err := ReadLine(strings.NewReader("nothing here\n"), "lvs", &got); !errors.Is(err, ErrNoLine) {
		t.Errorf("no line: %v, want ErrNoLine", err)
	}
	if err := ReadLine(strings.NewReader("BENCH-JSON lvs {\"services\":\n"), "lvs", &got); err == nil || errors.Is(err, ErrNoLine) {
		t.Errorf("a cut line: %v, want a decode error", err)
	}
}

func TestCheckRunDerived(t *testing.T) {
	r := CheckRun{N: 1000, WindowSec: 20, Checks: 20000, CPUSec: 0.5}
	if r.Rate() != 1000 || r.CPUPerCheckUs() != 25 {
		t.Errorf("rate %v, cpu/check %v", r.Rate(), r.CPUPerCheckUs())
	}
	if (CheckRun{WindowSec: 1, CPUSec: 1}).CPUPerCheckUs() != 1e6 {
		t.Error("no checks: CPU per check should divide by 1, not 0")
	}
}
