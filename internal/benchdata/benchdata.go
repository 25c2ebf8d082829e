// Package benchdata owns the machine-readable results that the benchmark programs hand to
// the report generator (cmd/hadirector-benchreport): the health-check bench's runs and the
// IPVS bench's rows, and the marker lines that carry them out of the test VM, whose only way
// out is its serial console.
package benchdata

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// CheckRun is one measured run of hadirector-checkbench: one checker against N backends.
type CheckRun struct {
	Impl string `json:"impl"` // hadirector or keepalived
	N    int    `json:"n"`
	// IntervalSec is the check interval and WindowSec the measurement window, in seconds.
	IntervalSec float64 `json:"interval_s"`
	WindowSec   float64 `json:"window_s"`
	// Checks completed in the window (keepalived: the connections the listeners accepted).
	Checks   uint64 `json:"checks"`
	Accepted uint64 `json:"accepted"`
	Failures uint64 `json:"failures"`
	Downs    uint64 `json:"false_downs"`
	Missed   uint64 `json:"missed_slots"`
	// Lateness of checks against their schedule, known for hadirector only.
	LatenessKnown bool    `json:"lateness_known"`
	LateP50Ms     float64 `json:"late_p50_ms"`
	LateP99Ms     float64 `json:"late_p99_ms"`
	LateMaxMs     float64 `json:"late_max_ms"`
	// CPUSec is the checker process's user+system time in the window.
	CPUSec   float64 `json:"cpu_s"`
	RSSBytes uint64  `json:"rss_max_bytes"`
	// PressurePct is the share of the window some host task waited for a CPU; <0 unknown.
	PressurePct float64 `json:"host_cpu_pressure_pct"`
	Note        string  `json:"note,omitempty"` // why the run has no figures
}

// Rate is the checks per second achieved.
func (r CheckRun) Rate() float64 { return float64(r.Checks) / r.WindowSec }

// CPUPerCheckUs is the checker's CPU time per check in microseconds.
func (r CheckRun) CPUPerCheckUs() float64 { return r.CPUSec * 1e6 / max(float64(r.Checks), 1) }

// CheckBench is everything one hadirector-checkbench invocation measured.
type CheckBench struct {
	Args []string   `json:"args"`
	Runs []CheckRun `json:"runs"`
}

// LVSRow is one measured operation of the IPVS bench, with every sample.
type LVSRow struct {
	Name      string    `json:"name"`
	Note      string    `json:"note,omitempty"`
	SamplesMs []float64 `json:"samples_ms"`
}

// LVSPair names an operation of ours and the ipvsadm (or moby/ipvs) baseline it is
// compared with, both rows of LVS.Rows; Limit is the bench's target for the ratio (0: none).
type LVSPair struct {
	Ours     string  `json:"ours"`
	Baseline string  `json:"baseline"`
	Limit    float64 `json:"limit,omitempty"`
}

// LVS is what TestBenchmarkLVS measured in the VM.
type LVS struct {
	Services     int       `json:"services"`
	Destinations int       `json:"destinations_per_service"`
	Rows         []LVSRow  `json:"rows"`
	Pairs        []LVSPair `json:"pairs"`
	WeightOps    int       `json:"one_weight_change_ops"`
}

// Row is the row named name, or nil.
func (l *LVS) Row(name string) *LVSRow {
	for i := range l.Rows {
		if l.Rows[i].Name == name {
			return &l.Rows[i]
		}
	}
	return nil
}

// Marker starts every line that carries a result: "BENCH-JSON <kind> <json>".
const Marker = "BENCH-JSON"

// WriteLine writes v as one marker line of the given kind.
func WriteLine(w io.Writer, kind string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s %s %s\n", Marker, kind, b)
	return err
}

// ErrNoLine is returned by ReadLine when the output holds no line of the kind.
var ErrNoLine = errors.New("benchdata: no result line")

// ReadLine decodes the last marker line of kind in r (a VM console, say) into v. Lines may
// carry a console's carriage returns and a prefix before the marker.
func ReadLine(r io.Reader, kind string, v any) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 16<<20)
	var last []byte
	prefix := Marker + " " + kind + " "
	for sc.Scan() {
		line := bytes.TrimRight(sc.Bytes(), "\r")
		if i := bytes.Index(line, []byte(prefix)); i >= 0 {
			last = bytes.Clone(line[i+len(prefix):])
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if last == nil {
		return fmt.Errorf("%w %q", ErrNoLine, kind)
	}
	if err := json.Unmarshal(last, v); err != nil {
		return fmt.Errorf("benchdata: %s line: %w (%s)", kind, err, strings.TrimSpace(string(last[:min(len(last), 80)])))
	}
	return nil
}
