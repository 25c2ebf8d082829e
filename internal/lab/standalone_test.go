package lab

import (
	"errors"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hadirector/hadirector/internal/privtest"
)

// standaloneMethods checks each method of TB on Standalone's implementation, by name, so
// TestStandaloneCoversTB can tell when TB grows a method that nothing here calls.
var standaloneMethods = map[string]func(t *testing.T){
	"Helper": func(t *testing.T) {
		mustRun(t, func(tb TB) { tb.Helper() })
	},
	"Logf": func(t *testing.T) {
		var out strings.Builder
		if err := Standalone("logf", &out, func(tb TB) { tb.Logf("hello %d\n", 7) }); err != nil {
			t.Fatalf("Standalone: %v", err)
		}
		if got, want := out.String(), "logf: hello 7\n"; got != want {
			t.Errorf("output %q, want %q", got, want)
		}
	},
	"Errorf": func(t *testing.T) {
		var out strings.Builder
		ran := false
		err := Standalone("errorf", &out, func(tb TB) {
			tb.Errorf("first %s", "problem")
			tb.Errorf("second")
			ran = true // Errorf does not end fn
		})
		if !ran {
			t.Error("Errorf ended fn")
		}
		if err == nil || !strings.Contains(err.Error(), "first problem; second") || errors.Is(err, ErrSkipped) {
			t.Errorf("error %v, want a failure naming both errors", err)
		}
		if !strings.Contains(out.String(), "errorf: first problem\n") {
			t.Errorf("output %q does not log the error", out.String())
		}
	},
	"Fatal": func(t *testing.T) {
		testExit(t, func(tb TB) { tb.Fatal("fatal", 42) }, "fatal 42", false)
	},
	"Fatalf": func(t *testing.T) {
		testExit(t, func(tb TB) { tb.Fatalf("fatalf %d", 42) }, "fatalf 42", false)
	},
	"Skipf": func(t *testing.T) {
		testExit(t, func(tb TB) { tb.Skipf("no %s", "tool") }, "no tool", true)
	},
	"Failed": func(t *testing.T) {
		var before, after bool
		_ = Standalone("failed", nil, func(tb TB) {
			before = tb.Failed()
			tb.Errorf("x")
			after = tb.Failed()
		})
		if before || !after {
			t.Errorf("Failed() = %v before Errorf and %v after, want false then true", before, after)
		}
		var inCleanup bool
		_ = Standalone("failed", nil, func(tb TB) {
			tb.Cleanup(func() { inCleanup = tb.Failed() })
			tb.Fatalf("x")
		})
		if !inCleanup {
			t.Error("Failed() is false in a cleanup after Fatalf")
		}
	},
	"Cleanup": func(t *testing.T) {
		var order []int
		mustRun(t, func(tb TB) {
			tb.Cleanup(func() { order = append(order, 1) })
			tb.Cleanup(func() {
				order = append(order, 2)
				tb.Cleanup(func() { order = append(order, 4) }) // added while cleaning up: runs next
			})
			tb.Cleanup(func() { order = append(order, 3) })
			if len(order) != 0 {
				t.Error("a cleanup ran before fn returned")
			}
		})
		if want := []int{3, 2, 4, 1}; !slices.Equal(order, want) {
			t.Errorf("cleanups ran in order %v, want %v (newest first)", order, want)
		}

		// One cleanup failing or panicking does not stop the others, and is reported.
		order = nil
		err := Standalone("cleanup", nil, func(tb TB) {
			tb.Cleanup(func() { order = append(order, 1) })
			tb.Cleanup(func() { tb.Fatalf("cleanup fatal") })
			tb.Cleanup(func() { panic("cleanup panic") })
		})
		if !slices.Equal(order, []int{1}) {
			t.Errorf("cleanups after a failing one: ran %v, want [1]", order)
		}
		if err == nil || !strings.Contains(err.Error(), "cleanup fatal") || !strings.Contains(err.Error(), "cleanup panicked: cleanup panic") {
			t.Errorf("error %v, want both cleanup failures", err)
		}
	},
	"TempDir": func(t *testing.T) {
		var a, b string
		mustRun(t, func(tb TB) {
			a, b = tb.TempDir(), tb.TempDir()
			if a == b {
				t.Errorf("two TempDir calls gave %s both times", a)
			}
			for _, d := range []string{a, b} {
				if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
					t.Errorf("TempDir %s during fn: %v", d, err)
				}
				if err := os.WriteFile(d+"/f", []byte("x"), 0o600); err != nil {
					t.Error(err)
				}
			}
		})
		for _, d := range []string{a, b} {
			if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("TempDir %s after Standalone returned: %v, want it removed", d, err)
			}
		}
	},
}

func TestStandalone(t *testing.T) {
	for _, name := range slices.Sorted(maps.Keys(standaloneMethods)) {
		t.Run(name, standaloneMethods[name])
	}
}

// TestStandaloneCoversTB fails when TB has a method that standaloneMethods does not check.
func TestStandaloneCoversTB(t *testing.T) {
	typ := reflect.TypeFor[TB]()
	var missing []string
	for i := range typ.NumMethod() {
		if m := typ.Method(i).Name; standaloneMethods[m] == nil {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		t.Errorf("TB methods with no check on Standalone's TB: %v", missing)
	}
	for name := range standaloneMethods {
		if _, ok := typ.MethodByName(name); !ok {
			t.Errorf("standaloneMethods checks %s, which TB does not have", name)
		}
	}
}

// TestStandalonePanic: a panic in fn is an error, and the cleanups still run.
func TestStandalonePanic(t *testing.T) {
	cleaned := false
	err := Standalone("panic", nil, func(tb TB) {
		tb.Cleanup(func() { cleaned = true })
		panic("boom")
	})
	if err == nil || !strings.Contains(err.Error(), "panic: boom") {
		t.Errorf("error %v, want the panic", err)
	}
	if !cleaned {
		t.Error("cleanup did not run after a panic")
	}
}

// TestStandalonePrivtest: the lab's gates take Standalone's TB, and a missing facility ends
// fn the way it ends a test: a skip, or a failure under HADIRECTOR_REQUIRE_PRIV=1.
func TestStandalonePrivtest(t *testing.T) {
	after := false
	err := Standalone("gate", nil, func(tb TB) {
		privtest.Need(tb, false, "a facility")
		after = true
	})
	if after {
		t.Error("privtest.Need did not end fn")
	}
	if err == nil || !strings.Contains(err.Error(), "a facility") || errors.Is(err, ErrSkipped) == privtest.Required() {
		t.Errorf("error %v: want a skip, or a failure under HADIRECTOR_REQUIRE_PRIV=1", err)
	}
}

// mustRun runs fn under Standalone and fails t if Standalone reports an error.
func mustRun(t *testing.T, fn func(tb TB)) {
	t.Helper()
	if err := Standalone(t.Name(), nil, fn); err != nil {
		t.Fatalf("Standalone: %v", err)
	}
}

// testExit checks that exit ends fn at once, that fn's defers and the cleanups still run,
// and that Standalone returns an error carrying msg — wrapping ErrSkipped iff skip.
func testExit(t *testing.T, exit func(tb TB), msg string, skip bool) {
	t.Helper()
	var out strings.Builder
	var after, deferred, cleaned bool
	err := Standalone("exit", &out, func(tb TB) {
		tb.Cleanup(func() { cleaned = true })
		defer func() { deferred = true }()
		exit(tb)
		after = true
	})
	if after {
		t.Error("fn went on after the call")
	}
	if !deferred || !cleaned {
		t.Errorf("fn's defer ran: %v, cleanup ran: %v; want both", deferred, cleaned)
	}
	if err == nil || !strings.Contains(err.Error(), msg) || errors.Is(err, ErrSkipped) != skip {
		t.Errorf("error %v: want one with %q, skipped=%v", err, msg, skip)
	}
	if !strings.Contains(out.String(), msg) {
		t.Errorf("output %q does not log %q", out.String(), msg)
	}
}
