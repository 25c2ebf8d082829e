package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
)

// Standalone runs fn with a testing.TB for a program that is not a test (a benchmark
// command, a demo), so the lab can be used there exactly as in tests: Fatal ends fn, Skip
// (no root, a missing tool) ends it too, Error marks it failed, and the cleanups registered
// through the TB — processes, namespaces, temp dirs — run, newest first, when fn returns or
// panics. Log output goes to w. The error is non-nil if fn failed, skipped or panicked.
//
// As in a test, call the TB's Fatal and Skip methods only from fn's own goroutine.
func Standalone(name string, w io.Writer, fn func(tb testing.TB)) error {
	s := &standalone{name: name, w: w}
	s.ctx, s.cancel = context.WithCancel(context.Background())
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
	s.cancel()
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

// standaloneExit is the panic value with which FailNow and SkipNow leave fn.
type standaloneExit struct{}

// standalone implements testing.TB outside a test. The embedded interface is nil: it only
// supplies the unexported method; every method the lab and its callers use is defined here.
type standalone struct {
	testing.TB
	name   string
	w      io.Writer
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	skipped  bool
	msgs     []string // errors and skip reasons, for the returned error
}

func (s *standalone) Name() string                      { return s.name }
func (s *standalone) Helper()                           {}
func (s *standalone) Context() context.Context          { return s.ctx }
func (s *standalone) Output() io.Writer                 { return s.w }
func (s *standalone) Attr(key, value string)            { s.Logf("attr %s=%s", key, value) }
func (s *standalone) Log(args ...any)                   { s.log(fmt.Sprintln(args...)) }
func (s *standalone) Logf(format string, args ...any)   { s.log(fmt.Sprintf(format, args...)) }
func (s *standalone) Error(args ...any)                 { s.fail(fmt.Sprintln(args...)) }
func (s *standalone) Errorf(format string, args ...any) { s.fail(fmt.Sprintf(format, args...)) }
func (s *standalone) Fatal(args ...any)                 { s.fail(fmt.Sprintln(args...)); s.FailNow() }
func (s *standalone) Fatalf(format string, args ...any) {
	s.fail(fmt.Sprintf(format, args...))
	s.FailNow()
}
func (s *standalone) Skip(args ...any) { s.skip(fmt.Sprintln(args...)); s.SkipNow() }
func (s *standalone) Skipf(format string, args ...any) {
	s.skip(fmt.Sprintf(format, args...))
	s.SkipNow()
}
func (s *standalone) FailNow() { s.Fail(); panic(standaloneExit{}) }
func (s *standalone) SkipNow() { panic(standaloneExit{}) }

func (s *standalone) Fail() {
	s.mu.Lock()
	s.failed = true
	s.mu.Unlock()
}

func (s *standalone) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

func (s *standalone) Skipped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.skipped
}

func (s *standalone) Cleanup(f func()) {
	s.mu.Lock()
	s.cleanups = append(s.cleanups, f)
	s.mu.Unlock()
}

func (s *standalone) TempDir() string {
	dir, err := os.MkdirTemp("", "hadirector-"+sanitize(s.name)+"-")
	if err != nil {
		s.Fatalf("TempDir: %v", err)
	}
	s.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// ArtifactDir is a TempDir that is kept (a test's artifacts outlive it).
func (s *standalone) ArtifactDir() string {
	dir, err := os.MkdirTemp("", "hadirector-"+sanitize(s.name)+"-artifacts-")
	if err != nil {
		s.Fatalf("ArtifactDir: %v", err)
	}
	return dir
}

func (s *standalone) Setenv(key, value string) {
	prev, had := os.LookupEnv(key)
	if err := os.Setenv(key, value); err != nil {
		s.Fatalf("Setenv: %v", err)
	}
	s.Cleanup(func() {
		if had {
			_ = os.Setenv(key, prev)
		} else {
			_ = os.Unsetenv(key)
		}
	})
}

func (s *standalone) Chdir(dir string) {
	prev, err := os.Getwd()
	if err == nil {
		err = os.Chdir(dir)
	}
	if err != nil {
		s.Fatalf("Chdir: %v", err)
	}
	s.Cleanup(func() { _ = os.Chdir(prev) })
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
