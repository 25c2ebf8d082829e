package lvs

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// plain hides the Fake's ApplyBatch, for ApplyOps's one-op-at-a-time path.
type plain struct{ Kernel }

// kernels are the two ways ApplyOps drives a kernel.
func kernels() map[string]func() (Kernel, *Fake) {
	return map[string]func() (Kernel, *Fake){
		"batch": func() (Kernel, *Fake) { f := NewFake(); return f, f },
		"plain": func() (Kernel, *Fake) { f := NewFake(); return plain{f}, f },
	}
}

func TestApplyOpsParallelReachesDesired(t *testing.T) {
	for name, mk := range kernels() {
		t.Run(name, func(t *testing.T) { testApplyOpsParallel(t, mk) })
	}
}

func testApplyOpsParallel(t *testing.T, mk func() (Kernel, *Fake)) {
	for _, workers := range []int{0, 1, 4, 16} {
		desired := bigTable(200, 5)
		k, _ := mk()
		var mu sync.Mutex
		n := 0
		ops, err := Reconcile(t.Context(), k, desired, keysOf(desired), ApplyOptions{Workers: workers, Each: func(op Op, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("%v: %v", op, err)
			}
			n++
		}})
		if err != nil || n != len(ops) || len(ops) != 200*6 {
			t.Fatalf("workers %d: err %v, %d reported of %d ops", workers, err, n, len(ops))
		}
		got, _ := k.Services()
		if !got.Equal(desired) {
			t.Fatalf("workers %d: kernel differs from desired", workers)
		}
		if ops, _ := Reconcile(t.Context(), k, desired, keysOf(desired), ApplyOptions{Workers: workers}); len(ops) != 0 {
			t.Fatalf("workers %d: second reconcile: %v", workers, ops)
		}
	}
}

func TestApplyOpsKeepsPerServiceOrder(t *testing.T) {
	// Every AddDest must come after its AddService: the Fake rejects anything
	// else, so any reordering across workers would fail.
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 50 {
		desired := randTable(r, genOptions{maxServices: 30, maxDests: 8})
		var k Kernel = NewFake()
		if i%2 == 1 {
			k = plain{k}
		}
		if _, err := Reconcile(t.Context(), k, desired, keysOf(desired), ApplyOptions{Workers: 8}); err != nil {
			t.Fatal(err)
		}
	}
}

// A service whose ops come in two runs gets one group, in order, and the ops
// themselves stay as they were: the first run's group is a subslice of them.
func TestGroupOps(t *testing.T) {
	a, b := Service{Key: vip80}, Service{Key: MarkKey(IPv4, 1)}
	ops := []Op{
		{Kind: AddService, Service: a}, {Kind: AddDest, Service: a, Dest: Destination{Weight: 1}},
		{Kind: AddService, Service: b},
		{Kind: AddDest, Service: a, Dest: Destination{Weight: 2}},
	}
	orig := slices.Clone(ops)
	got := groupOps(ops)
	want := [][]Op{{ops[0], ops[1], ops[3]}, {ops[2]}}
	if !slices.EqualFunc(got, want, slices.Equal) || !slices.Equal(ops, orig) {
		t.Fatalf("groups %v (ops now %v), want %v", got, ops, want)
	}
	if len(groupOps(nil)) != 0 {
		t.Fatal("groups of no ops")
	}
}

func TestApplyOpsErrors(t *testing.T) {
	for name, mk := range kernels() {
		t.Run(name, func(t *testing.T) { testApplyOpsErrors(t, mk) })
	}
}

func testApplyOpsErrors(t *testing.T, mk func() (Kernel, *Fake)) {
	desired := bigTable(3, 2)
	keys := desired.Keys()
	k, f := mk()
	boom := errors.New("boom")
	f.FailWith(func(op Op) error {
		if op.Kind == AddService && op.Service.Key == keys[1] {
			return boom
		}
		if op.Kind == AddDest && op.Service.Key == keys[2] {
			return boom
		}
		return nil
	})
	var results []error
	var kinds []OpKind
	ops, err := Reconcile(t.Context(), k, desired, keysOf(desired), ApplyOptions{Each: func(op Op, err error) {
		results = append(results, err)
		kinds = append(kinds, op.Kind)
	}})
	if len(ops) != 9 || len(results) != 9 {
		t.Fatalf("%d ops, %d reported", len(ops), len(results))
	}
	if !errors.Is(err, boom) || strings.Count(err.Error(), "boom") != 3 {
		t.Fatalf("err %v: want the add service and both add destination failures", err)
	}
	skipped := 0
	for _, e := range results {
		if errors.Is(e, ErrSkipped) {
			skipped++
		}
	}
	if skipped != 2 {
		t.Fatalf("%d skipped, want the 2 destinations of the service that failed: %v", skipped, results)
	}
	// The failures are repaired by the next reconcile.
	f.FailWith(nil)
	ops, err = Reconcile(t.Context(), k, desired, keysOf(desired), ApplyOptions{})
	if err != nil || len(ops) != 5 {
		t.Fatalf("repair: %v %v", ops, err)
	}
	got, _ := k.Services()
	if !got.Equal(desired) {
		t.Fatal("not repaired")
	}
}

func TestApplyOpsManyErrorsAreCapped(t *testing.T) {
	desired := bigTable(50, 0)
	k := NewFake()
	k.FailWith(func(Op) error { return errors.New("nope") })
	_, err := Reconcile(t.Context(), k, desired, nil, ApplyOptions{Workers: 4})
	if err == nil || strings.Count(err.Error(), "nope") != maxJoined || !strings.Contains(err.Error(), "and 42 more failed ops") {
		t.Fatalf("err %v", err)
	}
}

// TestApplyOpsCancelled: nothing is applied once the context has ended, with one worker
// or several (whose feeder once let a waiting worker win the select against ctx.Done
// about half the time: hence the repetitions).
func TestApplyOpsCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, workers := range []int{1, 2, 4} {
		for range 50 {
			k := NewFake()
			err := ApplyOps(ctx, k, Diff(bigTable(10, 1), nil, nil), ApplyOptions{Workers: workers})
			if !errors.Is(err, context.Canceled) || len(k.Applied()) != 0 {
				t.Fatalf("%d workers: err %v, %d applied", workers, err, len(k.Applied()))
			}
		}
	}
}

func TestReconcileReadError(t *testing.T) {
	k := NewFake()
	boom := errors.New("read failed")
	k.FailServices(boom)
	if _, err := Reconcile(t.Context(), k, seedTable(), nil, ApplyOptions{}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
}

func TestFakeTimeouts(t *testing.T) {
	k := NewFake()
	if err := k.SetTimeouts(Timeouts{TCP: 30 * time.Second, UDP: 60*time.Second + 500*time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	got, _ := k.Timeouts()
	if want := (Timeouts{TCP: 30 * time.Second, TCPFin: 120 * time.Second, UDP: 60 * time.Second}); got != want {
		t.Fatalf("%v, want %v (zero leaves the value alone)", got, want)
	}
	_ = k.Close()
	if _, err := k.Services(); err == nil {
		t.Fatal("closed fake still answers")
	}
}

func TestFakeIsolation(t *testing.T) {
	k := NewFake()
	src := seedTable()
	k.Load(src)
	delete(src[vip80].Destinations, rs11)
	got, _ := k.Services()
	delete(got[vip80].Destinations, rs12)
	again, _ := k.Services()
	if len(again[vip80].Destinations) != 2 {
		t.Fatal("Fake shares maps with its callers")
	}
}
