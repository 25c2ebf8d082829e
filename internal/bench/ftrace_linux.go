package bench

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hadirector/hadirector/internal/lab"
	"golang.org/x/sys/unix"
)

// Tracer takes the kernel's own time of the moment a daemon adds a VIP, which neither the
// wire nor netlink can give: netlink notifications carry no time stamp, and a listener
// wakes up some 0.1–10 ms late on a loaded two-core VM — later than the GARP that follows
// the address, which made the netlink figure useless for a "< 1 ms" target. Adding an IPv4
// address runs the inetaddr notifier chain (fib_inetaddr_event) in the context of the
// process that adds it; the tracepoint notifier:notifier_run records that with the
// monotonic clock, in a private tracefs instance that touches no other tracing.
type Tracer struct {
	mount   string // tracefs mount point
	mounted bool   // we mounted it, so we unmount it
	inst    string // our instance directory
	offset  time.Duration
	f       *os.File
	done    chan struct{}

	mu     sync.Mutex
	events []TraceEvent
}

// TraceEvent is one fib_inetaddr_event notifier run.
type TraceEvent struct {
	Time time.Time // CLOCK_MONOTONIC of the trace, moved to CLOCK_REALTIME
	TGID int
}

const traceStop = "BENCH-STOP"

// StartTracer starts the tracer until tb ends. It fails (the caller falls back to netlink)
// where tracefs or the tracepoint is missing.
func StartTracer(tb lab.TB) (*Tracer, error) {
	t, err := startTracer()
	if err != nil {
		return nil, err
	}
	tb.Cleanup(t.Close)
	return t, nil
}

func startTracer() (*Tracer, error) {
	t := &Tracer{done: make(chan struct{})}
	for _, m := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		if _, err := os.Stat(filepath.Join(m, "instances")); err == nil {
			t.mount = m
			break
		}
	}
	if t.mount == "" {
		dir, err := os.MkdirTemp("", "hadirector-bench-tracefs-")
		if err != nil {
			return nil, err
		}
		if out, err := exec.Command("mount", "-t", "tracefs", "nodev", dir).CombinedOutput(); err != nil {
			_ = os.Remove(dir)
			return nil, fmt.Errorf("mount tracefs: %v: %s", err, strings.TrimSpace(string(out)))
		}
		t.mount, t.mounted = dir, true
	}
	t.inst = filepath.Join(t.mount, "instances", fmt.Sprintf("hadirector-bench-%d", os.Getpid()))
	if err := os.Mkdir(t.inst, 0o755); err != nil {
		t.unmount()
		return nil, fmt.Errorf("tracefs instance: %w", err)
	}
	ev := filepath.Join(t.inst, "events", "notifier", "notifier_run")
	for _, w := range [][2]string{
		{"trace_clock", "mono"},
		{"options/record-tgid", "1"},
		{"buffer_size_kb", "2048"},
		// The timekeeping notifier runs from the idle task hundreds of times a second.
		{filepath.Join(ev, "filter"), "common_pid != 0"},
		{filepath.Join(ev, "enable"), "1"},
		{"tracing_on", "1"},
	} {
		p := w[0]
		if !filepath.IsAbs(p) {
			p = filepath.Join(t.inst, p)
		}
		if err := os.WriteFile(p, []byte(w[1]), 0); err != nil {
			t.remove()
			return nil, fmt.Errorf("tracefs %s: %w", w[0], err)
		}
	}
	t.offset = monoToReal()
	f, err := os.Open(filepath.Join(t.inst, "trace_pipe"))
	if err != nil {
		t.remove()
		return nil, err
	}
	t.f = f
	go t.loop()
	return t, nil
}

// monoToReal is CLOCK_REALTIME − CLOCK_MONOTONIC, from the tightest of a few readings.
func monoToReal() time.Duration {
	best, off := time.Duration(1<<62), time.Duration(0)
	for range 20 {
		var r1, m, r2 unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_REALTIME, &r1)
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &m)
		_ = unix.ClockGettime(unix.CLOCK_REALTIME, &r2)
		if w := time.Duration(r2.Nano() - r1.Nano()); w < best {
			best = w
			off = time.Duration((r1.Nano()+r2.Nano())/2 - m.Nano())
		}
	}
	return off
}

// ip-4577    (   4577) [001] .N... 20708.599108: notifier_run: fib_inetaddr_event
var traceLine = regexp.MustCompile(`^\s*(.*)-(\d+)\s+\(\s*([\d-]+)\)\s+\[\d+\]\s+\S+\s+(\d+)\.(\d+):\s+(\w+):\s*(.*)$`)

func (t *Tracer) loop() {
	defer close(t.done)
	sc := bufio.NewScanner(t.f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := traceLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		if m[6] == "tracing_mark_write" && strings.Contains(m[7], traceStop) {
			return
		}
		if m[6] != "notifier_run" || strings.TrimSpace(m[7]) != "fib_inetaddr_event" {
			continue
		}
		tgid, err := strconv.Atoi(m[3])
		if err != nil {
			tgid, _ = strconv.Atoi(m[2])
		}
		sec, _ := strconv.ParseInt(m[4], 10, 64)
		frac := m[5]
		nsec, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
		mono := time.Duration(sec)*time.Second + time.Duration(nsec)
		e := TraceEvent{Time: time.Unix(0, int64(mono+t.offset)), TGID: tgid}
		t.mu.Lock()
		t.events = append(t.events, e)
		t.mu.Unlock()
	}
}

// AddrAdded is the kernel time of the first IPv4 address added by one of pids at or after
// since (the VIP: the daemons add no other address).
func (t *Tracer) AddrAdded(pids []int, since time.Time) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.events {
		if e.Time.Before(since) {
			continue
		}
		for _, p := range pids {
			if e.TGID == p {
				return e.Time, true
			}
		}
	}
	return time.Time{}, false
}

// Close stops tracing and removes the instance (and the mount, if it was ours).
func (t *Tracer) Close() {
	if t.f == nil {
		return
	}
	_ = os.WriteFile(filepath.Join(t.inst, "trace_marker"), []byte(traceStop+"\n"), 0)
	select {
	case <-t.done:
	case <-time.After(2 * time.Second):
	}
	_ = t.f.Close()
	t.f = nil
	t.remove()
}

func (t *Tracer) remove() {
	_ = os.WriteFile(filepath.Join(t.inst, "tracing_on"), []byte("0"), 0)
	var err error
	for range 50 { // busy while the reader's file is being released
		if err = os.Remove(t.inst); err == nil || errors.Is(err, os.ErrNotExist) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.unmount()
}

func (t *Tracer) unmount() {
	if t.mounted {
		_ = exec.Command("umount", t.mount).Run()
		_ = os.Remove(t.mount)
		t.mounted = false
	}
}
