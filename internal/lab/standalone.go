package lab

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"sync"
)

// Standalone runs fn with a [TB] for a program that is not a test (a benchmark command, a
// demo), so the lab can be used there exactly as in tests: Fatal and Skipf end fn, Errorf
// marks it failed, and the cleanups registered through the TB — processes, namespaces, temp
// dirs — run, newest first, when fn returns or panics. Log output goes to w. The error is
// non-nil if fn failed, skipped or panicked; it wraps [ErrSkipped] when fn skipped.
//
// As in a test, call the TB's Fatal, Fatalf and Skipf only from fn's own goroutine.
func Standalone(name string, w io.Writer, fn func(tb TB)) error {
	s := &standalone{name: name, w: w}
	func() {
		defer func() {
			if v := recover(); v != nil {
				if _, ok := v.(standaloneExit); !ok {
					s.Errorf("panic: %v\n%s", v, debug.Stack())
				}
			}
		}()
		fn(s)
	}()
	s.runCleanups()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.skipped:
		return fmt.Errorf("%s: %w: %s", name, ErrSkipped, strings.Join(s.msgs, "; "))
	case s.failed:
		return fmt.Errorf("%s: failed: %s", name, strings.Join(s.msgs, "; "))
	}
	return nil
}

// standaloneExit is the panic value with which Fatal, Fatalf and Skipf leave fn.
type standaloneExit struct{}

// standalone is Standalone's TB. It implements the whole interface itself, so no method a
// caller can reach is missing.
type standalone struct {
	name string
	w    io.Writer

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	skipped  bool
	msgs     []string // errors and skip reasons, for the returned error
}

var _ TB = (*standalone)(nil)

func (s *standalone) Helper()                           {}
func (s *standalone) Logf(format string, args ...any)   { s.log(fmt.Sprintf(format, args...)) }
func (s *standalone) Errorf(format string, args ...any) { s.fail(fmt.Sprintf(format, args...)) }

func (s *standalone) Fatal(args ...any) {
	s.fail(fmt.Sprintln(args...))
	panic(standaloneExit{})
}

func (s *standalone) Fatalf(format string, args ...any) {
	s.fail(fmt.Sprintf(format, args...))
	panic(standaloneExit{})
}

func (s *standalone) Skipf(format string, args ...any) {
	s.skip(fmt.Sprintf(format, args...))
	panic(standaloneExit{})
}

func (s *standalone) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

func (s *standalone) Cleanup(f func()) {
	s.mu.Lock()
	s.cleanups = append(s.cleanups, f)
	s.mu.Unlock()
}

// TempDir makes a new directory on each call, removed with the other cleanups.
func (s *standalone) TempDir() string {
	dir, err := os.MkdirTemp("", "hadirector-"+sanitize(s.name)+"-")
	if err != nil {
		s.Fatalf("TempDir: %v", err)
	}
	s.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func (s *standalone) log(msg string) {
	msg = strings.TrimRight(msg, "\n")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w != nil {
		fmt.Fprintf(s.w, "%s: %s\n", s.name, msg)
	}
}

func (s *standalone) fail(msg string) {
	s.log(msg)
	s.mu.Lock()
	s.failed = true
	s.msgs = append(s.msgs, strings.TrimSpace(msg))
	s.mu.Unlock()
}

func (s *standalone) skip(msg string) {
	s.log("skip: " + msg)
	s.mu.Lock()
	s.skipped = true
	s.msgs = append(s.msgs, strings.TrimSpace(msg))
	s.mu.Unlock()
}

// runCleanups runs the cleanups newest first, as testing does; a panicking cleanup is
// reported and the others still run.
func (s *standalone) runCleanups() {
	for {
		s.mu.Lock()
		n := len(s.cleanups)
		if n == 0 {
			s.mu.Unlock()
			return
		}
		f := s.cleanups[n-1]
		s.cleanups = s.cleanups[:n-1]
		s.mu.Unlock()
		func() {
			defer func() {
				if v := recover(); v != nil {
					if _, ok := v.(standaloneExit); !ok {
						s.fail(fmt.Sprintf("cleanup panicked: %v", v))
					}
				}
			}()
			f()
		}()
	}
}

// ErrSkipped is wrapped by Standalone's error when fn skipped (no root, a tool missing).
var ErrSkipped = errors.New("skipped")
