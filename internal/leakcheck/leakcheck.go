// Package leakcheck finds goroutines a test left behind, in the manner of go.uber.org/goleak
// without the dependency: take a Snapshot before the code under test starts, and Verify
// after it has returned. Verify waits (a goroutine that was told to stop may need a moment
// to be scheduled and end) and fails the test with the stacks of those still running.
package leakcheck

import (
	"bytes"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Timeout is how long Verify waits for the goroutines to end: generous, so a loaded
// machine cannot fail a test whose goroutines do end.
const Timeout = 15 * time.Second

// Snapshot is the set of goroutines alive when it was taken.
type Snapshot struct{ ids map[uint64]bool }

// Take records the goroutines alive now.
func Take() Snapshot {
	s := Snapshot{ids: map[uint64]bool{}}
	for _, g := range goroutines() {
		s.ids[g.id] = true
	}
	return s
}

// Verify fails t unless every goroutine started since s was taken has ended, waiting up
// to Timeout for them. Goroutines of the testing package, of the runtime and of the
// standard library's process-wide workers (os/signal's loop) are not counted.
func (s Snapshot) Verify(t testing.TB) {
	t.Helper()
	if left := s.wait(Timeout); len(left) > 0 {
		t.Errorf("leakcheck: %d goroutine(s) still running %v after the code under test returned:\n\n%s",
			len(left), Timeout, strings.Join(left, "\n\n"))
	}
}

// Leftover returns the stacks of the goroutines started since s that are still running
// after waiting up to d for them to end (nil: none).
func (s Snapshot) Leftover(d time.Duration) []string { return s.wait(d) }

func (s Snapshot) wait(d time.Duration) []string {
	deadline := time.Now().Add(d)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		var left []string
		for _, g := range goroutines() {
			if !s.ids[g.id] && !ignored(g.stack) {
				left = append(left, g.stack)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(delay)
	}
}

type goroutine struct {
	id    uint64
	stack string
}

// goroutines returns every goroutine but the caller's.
func goroutines() []goroutine {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []goroutine
	for i, g := range bytes.Split(buf, []byte("\n\n")) {
		if i == 0 {
			continue // the first is the caller's own
		}
		// "goroutine 42 [chan receive]:"
		f := strings.Fields(string(g))
		if len(f) < 2 || f[0] != "goroutine" {
			continue
		}
		id, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			continue
		}
		out = append(out, goroutine{id: id, stack: string(g)})
	}
	return out
}

// ignoredFuncs mark goroutines that are not the code's to end: the test framework's
// own, and the os/signal loop the standard library starts once per process.
var ignoredFuncs = []string{
	"testing.tRunner(",
	"testing.(*T).Run(",
	"testing.runTests(",
	"testing.(*M).",
	"testing.(*F).",
	"os/signal.signal_recv(",
	"os/signal.loop(",
}

// ignored reports whether any frame of stack is one of ignoredFuncs (frames start a line;
// "created by" lines do not match).
func ignored(stack string) bool {
	for _, f := range ignoredFuncs {
		if strings.Contains(stack, "\n"+f) {
			return true
		}
	}
	return false
}
