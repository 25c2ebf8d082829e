package bench

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Ms is a measured duration; NotSeen marks a value that could not be measured (the event
// never showed up). It prints and marshals as milliseconds.
type Ms time.Duration

// NotSeen is the Ms of an event that was not observed.
const NotSeen = Ms(math.MinInt64)

// Seen reports whether m was measured.
func (m Ms) Seen() bool { return m != NotSeen }

// Millis is m in milliseconds.
func (m Ms) Millis() float64 { return float64(m) / float64(time.Millisecond) }

func (m Ms) String() string {
	if !m.Seen() {
		return "-"
	}
	return strconv.FormatFloat(m.Millis(), 'f', 3, 64)
}

// MarshalJSON writes milliseconds, or null when not seen.
func (m Ms) MarshalJSON() ([]byte, error) {
	if !m.Seen() {
		return []byte("null"), nil
	}
	return []byte(strconv.FormatFloat(m.Millis(), 'f', 4, 64)), nil
}

// UnmarshalJSON reads what MarshalJSON writes: milliseconds, or null for not seen.
func (m *Ms) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*m = NotSeen
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("bench: milliseconds %q: %w", b, err)
	}
	*m = Ms(math.Round(f * float64(time.Millisecond)))
	return nil
}

// since is b − a as an Ms, NotSeen if either is zero.
func since(a, b time.Time) Ms {
	if a.IsZero() || b.IsZero() {
		return NotSeen
	}
	return Ms(b.Sub(a))
}

// Stat summarises the measured values of one metric.
type Stat struct {
	N      int `json:"n"`
	Median Ms  `json:"median_ms"`
	Worst  Ms  `json:"worst_ms"` // the largest
	Best   Ms  `json:"best_ms"`  // the smallest
}

// Summarise computes a Stat over the values that were seen.
func Summarise(vals []Ms) Stat {
	var v []Ms
	for _, x := range vals {
		if x.Seen() {
			v = append(v, x)
		}
	}
	st := Stat{N: len(v), Median: NotSeen, Worst: NotSeen, Best: NotSeen}
	if len(v) == 0 {
		return st
	}
	slices.Sort(v)
	st.Best, st.Worst = v[0], v[len(v)-1]
	if len(v)%2 == 1 {
		st.Median = v[len(v)/2]
	} else {
		st.Median = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return st
}

// Percentile is the p-th percentile (0..100, nearest rank) of the seen values.
func Percentile(vals []Ms, p float64) Ms {
	var v []Ms
	for _, x := range vals {
		if x.Seen() {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return NotSeen
	}
	slices.Sort(v)
	i := int(math.Ceil(p/100*float64(len(v)))) - 1
	return v[min(max(i, 0), len(v)-1)]
}

// Target is one pass/fail goal, with the numbers it was decided on. Ratio is computed
// from the measurements: Value / Reference.
type Target struct {
	Scenario  string  `json:"scenario"`
	What      string  `json:"what"`
	Value     Ms      `json:"value_ms"`
	Reference Ms      `json:"reference_ms"` // what Value is compared with, before the allowance
	Allowance Ms      `json:"allowance_ms"` // Value must be <= Reference + Allowance (or < for strict)
	Strict    bool    `json:"strict"`
	Ratio     float64 `json:"ratio"` // 0 when it cannot be computed
	Met       bool    `json:"met"`
}

func newTarget(scenario, what string, value, ref, allowance Ms, strict bool) Target {
	t := Target{Scenario: scenario, What: what, Value: value, Reference: ref, Allowance: allowance, Strict: strict}
	if !value.Seen() || !ref.Seen() {
		return t
	}
	if ref != 0 {
		t.Ratio = float64(value) / float64(ref)
	}
	limit := ref + allowance
	t.Met = value <= limit
	if strict {
		t.Met = value < limit
	}
	return t
}

func (t Target) String() string {
	verdict := "NOT MET"
	if t.Met {
		verdict = "met"
	}
	op := "<="
	if t.Strict {
		op = "<"
	}
	ratio := "n/a"
	if t.Ratio != 0 {
		ratio = strconv.FormatFloat(t.Ratio, 'f', 4, 64)
	}
	return fmt.Sprintf("[%-7s] %s: %s ms %s %s + %s ms (ratio %s)", verdict, t.What, t.Value, op, t.Reference, t.Allowance, ratio)
}

// CommandLine is args as a shell would take them back: each argument that needs it quoted.
func CommandLine(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`*?[]{}();&|<>~#") {
			a = strconv.Quote(a)
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}
