package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/hadirector/hadirector/internal/bench"
	"github.com/hadirector/hadirector/internal/benchdata"
)

// Data is everything one report run collected; docs/benchmarks.json keeps it, so the report
// can be rendered again (-from) without measuring.
type Data struct {
	Invocation string    `json:"invocation"`
	Quick      bool      `json:"quick"`
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished"`
	Machine    Machine   `json:"machine"`
	// Versions of hadirector, keepalived, ipvsadm, Go and the VM's kernel.
	Versions map[string]string `json:"versions"`
	Commands []Command         `json:"commands"`

	Failover   *bench.FailoverReport `json:"failover,omitempty"`
	Idle       *bench.IdleReport     `json:"idle,omitempty"`
	ChecksHost *benchdata.CheckBench `json:"checks_host,omitempty"`
	ChecksVM   *benchdata.CheckBench `json:"checks_vm,omitempty"`
	LVS        *benchdata.LVS        `json:"lvs,omitempty"`
}

// Machine are the facts of the host the report ran on.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	Kernel    string `json:"kernel"`
	LoadStart string `json:"load_start"`
	LoadEnd   string `json:"load_end"`
}

// Command is one bench the report ran, exactly as it ran it.
type Command struct {
	Area    string  `json:"area"`
	Line    string  `json:"command"`
	Seconds float64 `json:"seconds"`
	Load    string  `json:"load_at_start"`
	Err     string  `json:"error,omitempty"`
}

func loadData(path string) (*Data, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d Data
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &d, nil
}

func (d *Data) save(path string) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
