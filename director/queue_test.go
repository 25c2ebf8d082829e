package director

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hadirector/hadirector/config"
	"github.com/hadirector/hadirector/lvs"
)

// fillQueue queues events until the queue is full; each counts itself in *ran when run.
func fillQueue(d *Director, ran *int) {
	for len(d.events) < cap(d.events) {
		d.events <- func(time.Time) { *ran++ }
	}
}

// waitParked waits until a goroutine running fn is blocked on a channel (the call under
// test has reached the full queue), for at most 10 s. It never fails: the verdict is the
// call's result; this only makes sure the queue was full when the call got there.
func waitParked(fn string) {
	buf := make([]byte, 1<<20)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			header, _, _ := strings.Cut(g, "\n")
			if strings.Contains(g, fn) && (strings.Contains(header, "[select") || strings.Contains(header, "[chan ")) {
				return
			}
		}
	}
}

// serveUntil runs queued events as the loop does until done yields, and returns its
// value and how many events ran.
func serveUntil[T any](t *testing.T, d *Director, done <-chan T) (T, int) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	n := 0
	for {
		select {
		case v := <-done:
			return v, n
		case f := <-d.events:
			f(time.Now())
			n++
		case <-deadline:
			t.Fatal("the call did not return")
		}
	}
}

// TestCallsWaitForFullQueue: Status, Drain and Reload reach a full event queue (the loop
// busy: a burst of adverts, a slow host); each waits for room, is run by the loop after
// what was queued before it, and returns its real result — none is dropped and left to
// wait for its context (which wedged SIGHUP and SIGUSR1 until shutdown).
func TestCallsWaitForFullQueue(t *testing.T) {
	vs, rs := netip.MustParseAddrPort("192.0.2.100:80"), netip.MustParseAddrPort("192.0.2.11:80")
	for _, tc := range []struct {
		name, fn string
		call     func(context.Context, *Director) error
		check    func(*testing.T, *Director)
		events   int // the call's own: a reload plans, prepares off the loop, then swaps
	}{
		{"status", "(*Director).Status", func(ctx context.Context, d *Director) error {
			s, err := d.Status(ctx)
			if err == nil && (s.RouterID != "a" || s.Mode != config.ModeStandalone || s.LVS == nil || len(s.LVS.Services) != 4) {
				return errors.New("wrong status")
			}
			return err
		}, nil, 1},
		{"drain", "(*Director).Drain", func(ctx context.Context, d *Director) error {
			return d.Drain(ctx, vs, rs, true)
		}, func(t *testing.T, d *Director) {
			if !d.lvs.drained[drainKey{lvs.AddrKey(lvs.TCP, vs), rs}] {
				t.Errorf("drain: %v not drained: %v", rs, d.lvs.drained)
			}
		}, 1},
		{"reload", "(*Director).Reload", func(ctx context.Context, d *Director) error {
			return d.Reload(ctx, parse(t, strings.Replace(standalone, `router_id = "a"`, `router_id = "b"`, 1)))
		}, func(t *testing.T, d *Director) {
			if d.cfg.Global.RouterID != "b" || d.reloads != 1 {
				t.Errorf("reload: router_id %q, %d reloads", d.cfg.Global.RouterID, d.reloads)
			}
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDirector(t, standalone, nil)
			withFakeLVS(t, d)
			ran := 0
			fillQueue(d, &ran)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- tc.call(ctx, d) }()
			waitParked(tc.fn)
			err, n := serveUntil(t, d, done)
			if err != nil {
				t.Fatalf("%s with the queue full: %v", tc.name, err)
			}
			own := tc.events
			if ran != cap(d.events) || n != ran+own {
				t.Errorf("ran %d queued events and %d in all, want %d and %d", ran, n, cap(d.events), cap(d.events)+own)
			}
			if tc.check != nil {
				tc.check(t, d)
			}
		})
	}
}

// TestCallsGiveUp: a call waiting for a full queue, or for its result, returns an error
// when its context ends or when the loop has ended — it never hangs.
func TestCallsGiveUp(t *testing.T) {
	t.Run("context", func(t *testing.T) {
		d := newTestDirector(t, standalone, nil)
		ran := 0
		fillQueue(d, &ran)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { _, err := d.Status(ctx); done <- err }()
		waitParked("(*Director).Status")
		cancel()
		if err := waitErr(t, done); !errors.Is(err, context.Canceled) {
			t.Errorf("Status after its context ended: %v", err)
		}
	})
	for _, queued := range []bool{false, true} {
		t.Run("stopped queued="+map[bool]string{false: "no", true: "yes"}[queued], func(t *testing.T) {
			d := newTestDirector(t, standalone, nil)
			ran := 0
			if !queued {
				fillQueue(d, &ran)
			}
			done := make(chan error, 1)
			go func() { done <- d.Reload(context.Background(), parse(t, standalone)) }()
			if queued {
				<-waitQueued(d)
			} else {
				waitParked("(*Director).Reload")
			}
			close(d.stopped) // as Run does when the loop ends
			if err := waitErr(t, done); !errors.Is(err, errStopped) {
				t.Errorf("Reload after the loop ended: %v", err)
			}
		})
	}
}

func waitErr(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("the call hangs")
		return nil
	}
}

// waitQueued reports when an event is in the queue (and leaves it there).
func waitQueued(d *Director) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		for len(d.events) == 0 {
			time.Sleep(time.Millisecond)
		}
		close(ch)
	}()
	return ch
}

// TestTrackingWaitsForFullQueue: a track file's change reaches the loop even when the
// queue is full (it was dropped, and the priority stayed wrong until the next change).
func TestTrackingWaitsForFullQueue(t *testing.T) {
	d := newTestDirector(t, standalone, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.runCtx = ctx
	file := filepath.Join(t.TempDir(), "weight")
	tf := &trackFile{d: d, cfg: config.TrackFile{Name: "w", File: file}}
	ran := 0
	fillQueue(d, &ran)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); tf.run(ctx) }()
	defer wg.Wait()
	defer cancel()
	if err := os.WriteFile(file, []byte("5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(20 * time.Second); tf.value.Load() != 5; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the track file was not read")
		}
	}
	waitParked("(*Director).postWait")
	// The change is the event after the queued ones.
	for n := 0; n <= cap(d.events); n++ {
		select {
		case f := <-d.events:
			f(time.Now())
		case <-time.After(20 * time.Second):
			t.Fatalf("%d events ran, want %d: the track file's change was lost", n, cap(d.events)+1)
		}
	}
	if ran != cap(d.events) {
		t.Errorf("ran %d queued events, want %d", ran, cap(d.events))
	}
}

// syncBuffer is an io.Writer for a logger shared by goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(substr string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range strings.Split(s.b.String(), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// TestReceiverDropLogLimited: a receiver facing a full queue drops the advert, counts it,
// and logs at most once every 10 s with the count (it logged every drop, at error level:
// a flood of adverts at a wedged loop filled the disk).
func TestReceiverDropLogLimited(t *testing.T) {
	var out syncBuffer
	d := newTestDirector(t, standalone, slog.New(slog.NewTextHandler(&out, nil)))
	ran := 0
	fillQueue(d, &ran)
	for range 100 {
		d.post(func(time.Time) { t.Error("a dropped event ran") })
	}
	got := out.lines("event queue full")
	if len(got) != 1 || !strings.Contains(got[0], "dropped=1") {
		t.Fatalf("after 100 drops the log has %d lines, want 1 with dropped=1:\n%s", len(got), strings.Join(got[:min(len(got), 3)], "\n"))
	}
	d.qmu.Lock()
	d.queueLog = d.queueLog.Add(-10 * time.Second) // 10 s later
	d.qmu.Unlock()
	d.post(func(time.Time) { t.Error("a dropped event ran") })
	if got = out.lines("event queue full"); len(got) != 2 || !strings.Contains(got[1], "dropped=101") {
		t.Fatalf("10 s later the log has %d lines, want 2, the last with dropped=101:\n%s", len(got), strings.Join(got, "\n"))
	}
	// With room again, nothing is dropped.
	(<-d.events)(time.Now())
	d.post(func(time.Time) { ran++ })
	for len(d.events) > 0 {
		(<-d.events)(time.Now())
	}
	if ran != cap(d.events)+1 {
		t.Errorf("ran %d events, want %d", ran, cap(d.events)+1)
	}
}
