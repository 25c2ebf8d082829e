package notify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logBuf collects the runner's JSON log records.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var recs []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(l.b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		recs = append(recs, m)
	}
	return recs
}

type harness struct {
	*Runner
	log    *logBuf
	cancel context.CancelFunc
	ran    chan error // Run's result
}

// start makes a runner and runs it until the test ends.
func start(t *testing.T, opts Options) *harness {
	t.Helper()
	h := newHarness(t, opts)
	h.run(t)
	return h
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	h := &harness{log: &logBuf{}, ran: make(chan error, 1)}
	opts.Log = slog.New(slog.NewJSONHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r, err := NewRunner(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.Runner = r
	return h
}

func (h *harness) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.ran <- h.Run(ctx) }()
	t.Cleanup(func() { h.stop(t) })
}

// stop cancels Run and waits for it (idempotent).
func (h *harness) stop(t *testing.T) {
	t.Helper()
	h.cancel()
	select {
	case err, ok := <-h.ran:
		if ok && err != nil {
			t.Errorf("Run: %v", err)
		}
		if ok {
			close(h.ran)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func (h *harness) drain(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
}

// script writes an executable /bin/sh script and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return p
}

// recorder appends its argv ($1 is the log file) and its exact environment to $1.
const recorder = `log=$1
{
  echo BEGIN
  for a in "$@"; do printf 'ARG %s\n' "$a"; done
  tr '\0' '\n' < /proc/$$/environ | sed 's/^/ENV /'
  echo END
} >> "$log"
`

type call struct {
	args []string
	env  []string
}

func readCalls(t *testing.T, path string) []call {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var calls []call
	var c *call
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "BEGIN":
			calls = append(calls, call{})
			c = &calls[len(calls)-1]
		case line == "END":
			slices.Sort(c.env)
		case strings.HasPrefix(line, "ARG "):
			c.args = append(c.args, line[4:])
		case strings.HasPrefix(line, "ENV "):
			c.env = append(c.env, line[4:])
		}
	}
	return calls
}

func argvOf(calls []call) [][]string {
	var out [][]string
	for _, c := range calls {
		out = append(out, c.args)
	}
	return out
}

// TestArguments asserts the exact argv every kind of hook gets.
func TestArguments(t *testing.T) {
	dir := t.TempDir()
	rec := script(t, dir, "rec.sh", recorder)
	h := start(t, Options{})

	type want = [][]string
	for _, st := range []State{Master, Backup, Fault, Stop} {
		t.Run("instance_"+string(st), func(t *testing.T) {
			log := filepath.Join(dir, "inst-"+string(st))
			h.Submit(Event{Kind: Instance, Name: "VI_1", State: st, Priority: 100, Hooks: Hooks{
				Specific: rec + " " + log + " " + strings.ToLower(string(st)) + ` "two words" 'it''s'`,
				Generic:  rec + " " + log + " generic",
			}})
			h.drain(t)
			got := argvOf(readCalls(t, log))
			w := want{
				{log, strings.ToLower(string(st)), "two words", "its"},
				{log, "generic", "INSTANCE", "VI_1", string(st), "100"},
			}
			if !slices.EqualFunc(got, w, slices.Equal) {
				t.Errorf("argv = %q, want %q", got, w)
			}
		})
		t.Run("group_"+string(st), func(t *testing.T) {
			log := filepath.Join(dir, "group-"+string(st))
			h.Submit(Event{Kind: Group, Name: "VG_1", State: st, Priority: 100, Hooks: Hooks{
				Specific: rec + " " + log,
				Generic:  rec + " " + log + " generic",
			}})
			h.drain(t)
			got := argvOf(readCalls(t, log))
			w := want{{log}, {log, "generic", "GROUP", "VG_1", string(st), "0"}}
			if !slices.EqualFunc(got, w, slices.Equal) {
				t.Errorf("argv = %q, want %q", got, w)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		ev     Event
		vs, rs string
	}{
		{"v4", Event{VirtualServer: vs4, RealServer: rs4}, "192.0.2.100:80", "198.51.100.11:80"},
		{"v6", Event{VirtualServer: vs6, RealServer: rs6}, "[2001:db8::100]:443", "[2001:db8::11]:8443"},
		{"fwmark", Event{FWMark: 7, RealServer: rs4}, "fwmark:7", "198.51.100.11:80"},
	} {
		for _, st := range []State{Up, Down} {
			t.Run("realserver_"+tc.name+"_"+string(st), func(t *testing.T) {
				log := filepath.Join(dir, "rs-"+tc.name+string(st))
				ev := tc.ev
				ev.Kind, ev.State = RealServer, st
				ev.Hooks.Specific = rec + " " + log + " " + strings.ToLower(string(st))
				h.Submit(ev)
				h.drain(t)
				got := argvOf(readCalls(t, log))
				w := want{{log, strings.ToLower(string(st)), "REALSERVER", tc.vs, tc.rs, string(st)}}
				if !slices.EqualFunc(got, w, slices.Equal) {
					t.Errorf("argv = %q, want %q", got, w)
				}
			})
		}
	}
	if s := h.Stats(); s.Failed != 0 || s.Dropped != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestEnvironment asserts the whole environment of a hook: a clean PATH and the facts.
func TestEnvironment(t *testing.T) {
	t.Setenv("HADIRECTOR_SECRET_TEST", "leak") // the daemon's environment must not reach hooks
	dir := t.TempDir()
	rec := script(t, dir, "rec.sh", recorder)
	h := start(t, Options{})

	for _, tc := range []struct {
		name string
		ev   Event
		want []string
	}{
		{"instance", Event{
			Kind: Instance, Name: "VI_1", State: Master, PrevState: Backup, Priority: 150, VRID: 51, Interface: "eth0",
			VIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.100/24"), netip.MustParsePrefix("2001:db8::100/64")},
		}, []string{
			"HADIRECTOR_INTERFACE=eth0", "HADIRECTOR_NAME=VI_1", "HADIRECTOR_PREV_STATE=BACKUP", "HADIRECTOR_PRIORITY=150",
			"HADIRECTOR_STATE=MASTER", "HADIRECTOR_TYPE=INSTANCE", "HADIRECTOR_VIPS=192.0.2.100/24 2001:db8::100/64",
			"HADIRECTOR_VRID=51", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		}},
		{"first_state", Event{Kind: Instance, Name: "VI_2", State: Backup, Priority: 100}, []string{
			"HADIRECTOR_NAME=VI_2", "HADIRECTOR_PRIORITY=100", "HADIRECTOR_STATE=BACKUP", "HADIRECTOR_TYPE=INSTANCE",
			"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		}},
		{"group", Event{
			Kind: Group, Name: "VG_1", State: Fault, PrevState: Master, Priority: 150,
			VIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.100/24")},
		}, []string{
			"HADIRECTOR_NAME=VG_1", "HADIRECTOR_PREV_STATE=MASTER", "HADIRECTOR_PRIORITY=0", "HADIRECTOR_STATE=FAULT",
			"HADIRECTOR_TYPE=GROUP", "HADIRECTOR_VIPS=192.0.2.100/24", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		}},
		{"realserver", Event{
			Kind: RealServer, State: Down, PrevState: Up, VirtualServer: vs4, RealServer: rs4,
		}, []string{
			"HADIRECTOR_PREV_STATE=UP", "HADIRECTOR_PROTOCOL=tcp", "HADIRECTOR_REALSERVER=198.51.100.11:80",
			"HADIRECTOR_STATE=DOWN", "HADIRECTOR_TYPE=REALSERVER", "HADIRECTOR_VIRTUALSERVER=192.0.2.100:80",
			"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		}},
		{"bgp", Event{Kind: BGP, Name: "203.0.113.10/32", State: Withdraw, PrevState: Announce}, []string{
			"HADIRECTOR_NAME=203.0.113.10/32", "HADIRECTOR_PREV_STATE=ANNOUNCE", "HADIRECTOR_STATE=WITHDRAW", "HADIRECTOR_TYPE=BGP",
			"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(dir, tc.name)
			ev := tc.ev
			ev.Hooks = Hooks{Specific: rec + " " + log, Generic: rec + " " + log}
			h.Submit(ev)
			h.drain(t)
			calls := readCalls(t, log)
			if len(calls) != 2 {
				t.Fatalf("%d calls, want 2", len(calls))
			}
			for _, c := range calls {
				if !slices.Equal(c.env, tc.want) {
					t.Errorf("env =\n%s\nwant\n%s", strings.Join(c.env, "\n"), strings.Join(tc.want, "\n"))
				}
			}
		})
	}
}

// TestOrdering floods three keys with 200 state changes each while the hook sleeps a
// little at random: per key the hooks run one at a time, in order, and the final state is
// always the last one run.
func TestOrdering(t *testing.T) {
	const flaps = 200
	dir := t.TempDir()
	// $5 is the priority (the sequence number); S/E lines prove hooks never overlap.
	ord := script(t, dir, "ord.sh", `echo "S $5 $4" >> "$1"
sleep 0.00$(( $$ % 5 ))
echo "E $5 $4" >> "$1"
`)
	for _, tc := range []struct {
		name     string
		queueLen int
	}{{"fits", 256}, {"overflow", 8}} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, Options{QueueLen: tc.queueLen})
			keys := []Event{
				{Kind: Instance, Name: "VI_1"},
				{Kind: Group, Name: "VG_1"},
				{Kind: RealServer, VirtualServer: vs4, RealServer: rs4},
			}
			logs := make([]string, len(keys))
			for k := range keys {
				logs[k] = filepath.Join(dir, tc.name+"-"+strconv.Itoa(k))
			}
			for seq := 1; seq <= flaps; seq++ {
				for k, ev := range keys {
					ev.State = []State{Master, Backup}[seq%2]
					if ev.Kind == RealServer {
						ev.State = []State{Up, Down}[seq%2]
					}
					if seq == flaps {
						ev.State = Fault
					}
					ev.Priority = seq
					// Generic hooks of groups get priority 0, so pass the sequence number
					// through the command line there.
					ev.Hooks.Generic = ord + " " + logs[k]
					if ev.Kind != Instance {
						ev.Hooks.Generic = ""
						ev.Hooks.Specific = ord + " " + logs[k] + " x x x " + strconv.Itoa(seq)
					}
					h.Submit(ev)
				}
			}
			h.drain(t)
			var ran uint64
			for k := range keys {
				seqs := checkSequential(t, logs[k])
				ran += uint64(len(seqs))
				if len(seqs) == 0 || seqs[len(seqs)-1] != flaps {
					t.Errorf("key %d: last hook run was %v, want the final event %d", k, seqs[len(seqs)-1:], flaps)
				}
				if !slices.IsSorted(seqs) || len(slices.Compact(slices.Clone(seqs))) != len(seqs) {
					t.Errorf("key %d: hooks out of order: %v", k, seqs)
				}
				// The newest QueueLen events were in the queue when the burst ended: all ran.
				for seq := max(1, flaps-tc.queueLen+1); seq <= flaps; seq++ {
					if !slices.Contains(seqs, seq) {
						t.Errorf("key %d: event %d (one of the last %d) was dropped", k, seq, tc.queueLen)
					}
				}
			}
			s := h.Stats()
			if s.Ran != ran || s.Dropped != uint64(len(keys)*flaps)-ran || s.Failed != 0 {
				t.Errorf("stats %+v; %d hooks seen", s, ran)
			}
			if tc.queueLen >= flaps && s.Dropped != 0 {
				t.Errorf("dropped %d events although the queue was big enough", s.Dropped)
			}
			if tc.queueLen < flaps && s.Dropped == 0 {
				t.Errorf("no events dropped with a queue of %d for a burst of %d", tc.queueLen, flaps)
			}
			t.Logf("queue %d: %d of %d hooks ran, %d dropped", tc.queueLen, ran, len(keys)*flaps, s.Dropped)
		})
	}
}

// checkSequential parses an ord.sh log, checks that every start is followed by its own
// end (one hook at a time) and returns the sequence numbers in run order.
func checkSequential(t *testing.T, path string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines)%2 != 0 {
		t.Fatalf("%s: odd number of lines", path)
	}
	var seqs []int
	for i := 0; i < len(lines); i += 2 {
		s, e := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if s[0] != "S" || e[0] != "E" || s[1] != e[1] {
			t.Fatalf("%s: hooks overlap: %q then %q", path, lines[i], lines[i+1])
		}
		n, err := strconv.Atoi(s[1])
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, n)
	}
	return seqs
}

// TestConcurrentKeys: a hook of one key waits for a hook of another key; it can only
// succeed if different keys run concurrently.
func TestConcurrentKeys(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "flag")
	waiter := script(t, dir, "wait.sh", `i=0
while [ $i -lt 500 ]; do [ -e "$1" ] && exit 0; sleep 0.01; i=$((i+1)); done
exit 1
`)
	toucher := script(t, dir, "touch.sh", `: > "$1"`)
	h := start(t, Options{DefaultTimeout: 10 * time.Second})
	h.Submit(Event{Kind: Instance, Name: "VI_1", State: Master, Hooks: Hooks{Specific: waiter + " " + flag}})
	h.Submit(Event{Kind: Instance, Name: "VI_2", State: Master, Hooks: Hooks{Specific: toucher + " " + flag}})
	h.drain(t)
	if s := h.Stats(); s.Ran != 2 || s.Failed != 0 {
		t.Fatalf("stats %+v: the waiting hook blocked the other key", s)
	}
}

// groupAlive lists the live (non-zombie) processes of process group pgid.
func groupAlive(t *testing.T, pgid int) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var alive []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // state ppid pgrp ...
		if len(f) < 3 || f[2] != strconv.Itoa(pgid) || f[0] == "Z" {
			continue
		}
		alive = append(alive, e.Name()+" "+s[:strings.LastIndexByte(s, ')')+1]+" "+f[0])
	}
	return alive
}

// TestTimeoutKillsGroup: a hook that starts a long-running child is killed with its whole
// process group when it times out, also when it ignores SIGTERM.
func TestTimeoutKillsGroup(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, trap string }{{"term", ""}, {"ignores_term", "trap '' TERM\n"}} {
		t.Run(tc.name, func(t *testing.T) {
			pidFile := filepath.Join(dir, tc.name+".pid")
			hang := script(t, dir, tc.name+".sh", tc.trap+`echo $$ > "$1"
/bin/sleep 1000 &
echo started >&2
wait
`)
			h := start(t, Options{DefaultTimeout: 300 * time.Millisecond, KillGrace: 300 * time.Millisecond})
			begin := time.Now()
			h.Submit(Event{Kind: Instance, Name: "VI_1", State: Fault, Hooks: Hooks{Specific: hang + " " + pidFile}})
			h.drain(t)
			took := time.Since(begin)
			b, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatal(err)
			}
			pgid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			// A member that was sent SIGKILL still shows until the kernel schedules its
			// exit: give it a moment (the sleep 1000 it would otherwise be stays for good).
			alive := groupAlive(t, pgid)
			for i := 0; len(alive) > 0 && i < 100; i++ {
				time.Sleep(20 * time.Millisecond)
				alive = groupAlive(t, pgid)
			}
			if len(alive) > 0 {
				t.Errorf("process group %d still has live members after the timeout: %q", pgid, alive)
			}
			if s := h.Stats(); s.TimedOut != 1 || s.Failed != 1 || s.Ran != 1 {
				t.Errorf("stats %+v", s)
			}
			if took > 10*time.Second { // the hook would hang for 1000 s: far from any load's delay
				t.Errorf("timeout 300ms + grace 300ms took %v", took)
			}
			recs := h.log.records(t)
			r := recs[len(recs)-1]
			if r["msg"] != "notify hook timed out; process group killed" || r["instance"] != "VI_1" ||
				r["hook"] != "notify_fault" || r["exit"] != float64(-1) || r["duration"] == nil || r["stderr"] != "started\n" {
				t.Errorf("log record %v", r)
			}
		})
	}
}

// returns fails the test unless f returns within d. The d of the callers is far beyond
// what the work takes on any machine, and short of what it would take if it waited for
// what it must not (a hook, a FIFO reader): those wait for a minute or for ever. A busy
// machine cannot fail it; a Submit that blocks does.
func returns(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v: it waits for what it must not", what, d)
	}
}

// TestSubmitNeverBlocks: with hooks that hang for a minute, 3000 Submits in a row all return
// while the first hooks are still running (none has finished, so none was waited for: no
// wall-clock bound that a busy machine could break), the overflow is dropped, and shutdown
// kills the hung hooks.
func TestSubmitNeverBlocks(t *testing.T) {
	dir := t.TempDir()
	hang := script(t, dir, "hang.sh", "exec /bin/sleep 60\n")
	h := start(t, Options{DefaultTimeout: time.Minute, KillGrace: 100 * time.Millisecond})
	const n, keys, attempts = 1000, 10, 3
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = Event{Kind: Instance, Name: fmt.Sprintf("VI_%d", i%keys), State: []State{Master, Backup}[i%2], Priority: i,
			Hooks: Hooks{Specific: hang, Generic: hang}}
	}
	returns(t, 30*time.Second, fmt.Sprintf("%d Submits while every hook hangs for a minute", attempts*n), func() {
		for range attempts {
			for _, ev := range evs {
				h.Submit(ev)
			}
		}
	})
	// No hook has finished or timed out yet (each hangs for a minute): every Submit
	// returned without waiting for one.
	if s := h.Stats(); s.Duration != 0 || s.TimedOut != 0 || s.Failed != 0 || s.Ran > keys {
		t.Fatalf("stats after the Submits %+v: a hook finished, so a Submit may have waited for it", s)
	}
	begin := time.Now()
	h.stop(t)
	t.Logf("shutdown with %d hung hooks took %v", keys, time.Since(begin))
	// Per key one hook runs and at most QueueLen events wait: the rest were dropped.
	s := h.Stats()
	if s.Dropped < attempts*n-keys*(DefaultQueueLen+1) || s.Ran == 0 {
		t.Errorf("stats %+v", s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := h.Drain(ctx); !errors.Is(err, ErrStopped) {
		t.Errorf("Drain after stop = %v, want ErrStopped", err)
	}
}

// TestDrain: Drain waits for the last hooks (notify_stop at shutdown) and gives up at its
// deadline without stopping anything.
func TestDrain(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "stopped")
	slow := script(t, dir, "stop.sh", "sleep 0.3\n: > \"$1\"\n")
	hang := script(t, dir, "hang.sh", "exec /bin/sleep 60\n")

	h := start(t, Options{})
	h.Submit(Event{Kind: Instance, Name: "VI_1", State: Stop, Hooks: Hooks{Specific: slow + " " + out}})
	h.drain(t)
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("Drain returned before notify_stop finished: %v", err)
	}

	h.Submit(Event{Kind: Instance, Name: "VI_1", State: Stop, Hooks: Hooks{Specific: hang, Timeout: time.Minute}})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	begin := time.Now()
	if err := h.Drain(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Drain = %v, want deadline exceeded", err)
	}
	if took := time.Since(begin); took > 10*time.Second { // the hook hangs for a minute
		t.Errorf("Drain took %v past its 100ms deadline", took)
	}
}

// TestSubmitBeforeRun: events submitted before Run are kept and run once it starts.
func TestSubmitBeforeRun(t *testing.T) {
	dir := t.TempDir()
	rec := script(t, dir, "rec.sh", recorder)
	log := filepath.Join(dir, "log")
	h := newHarness(t, Options{})
	h.Submit(Event{Kind: Instance, Name: "VI_1", State: Backup, Hooks: Hooks{Specific: rec + " " + log + " 1"}})
	h.Submit(Event{Kind: Instance, Name: "VI_1", State: Master, Hooks: Hooks{Specific: rec + " " + log + " 2"}})
	h.run(t)
	h.drain(t)
	got := argvOf(readCalls(t, log))
	if w := [][]string{{log, "1"}, {log, "2"}}; !slices.EqualFunc(got, w, slices.Equal) {
		t.Errorf("argv = %q, want %q", got, w)
	}
}

// TestFailureLogged: exit status, duration and truncated stderr are logged and counted.
func TestFailureLogged(t *testing.T) {
	dir := t.TempDir()
	noisy := script(t, dir, "noisy.sh", "head -c 10000 /dev/zero | tr '\\0' x >&2\nexit 3\n")
	h := start(t, Options{})
	h.Submit(Event{Kind: RealServer, State: Down, VirtualServer: vs4, RealServer: rs4, Hooks: Hooks{Specific: noisy}})
	h.drain(t)
	if s := h.Stats(); s.Ran != 1 || s.Failed != 1 || s.TimedOut != 0 {
		t.Errorf("stats %+v", s)
	}
	recs := h.log.records(t)
	r := recs[len(recs)-1]
	stderr, _ := r["stderr"].(string)
	if r["level"] != "WARN" || r["hook"] != "notify_down" || r["exit"] != float64(3) || r["backend"] != "198.51.100.11:80" ||
		r["service"] != "192.0.2.100:80" || r["program"] != noisy || r["duration"] == nil ||
		!strings.HasPrefix(stderr, strings.Repeat("x", stderrMax)) || len(stderr) > stderrMax+32 {
		t.Errorf("log record %.300v", r)
	}
}

// TestRefused: hooks that must not run are refused at run time, logged and counted.
func TestRefused(t *testing.T) {
	tmp, err := os.MkdirTemp("/tmp", "notify-refused-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	ok := script(t, tmp, "ok.sh", "exit 0\n")
	h := start(t, Options{Security: true})
	h.Submit(Event{Kind: Instance, Name: "VI_1", State: Master, Hooks: Hooks{Specific: ok}})      // under /tmp
	h.Submit(Event{Kind: Instance, Name: "VI_2", State: Master, Hooks: Hooks{Specific: "ok.sh"}}) // relative
	h.Submit(Event{Kind: Instance, Name: "VI_3", State: Master, Hooks: Hooks{Specific: "'/x y"}}) // does not split
	h.drain(t)
	if s := h.Stats(); s.Ran != 0 || s.Failed != 3 {
		t.Errorf("stats %+v", s)
	}
	for _, r := range h.log.records(t) {
		if r["msg"] != "notify hook not run" || r["err"] == nil {
			t.Errorf("log record %v", r)
		}
	}
}

// TestBackgroundChildKeepsStderr: a hook that exits but leaves a child holding its stderr
// does not hold its key's queue past the grace period, and is not a failure.
func TestBackgroundChildKeepsStderr(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	bg := script(t, dir, "bg.sh", "/bin/sleep 30 &\necho $! > \"$1\"\nexit 0\n")
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	h := start(t, Options{KillGrace: 200 * time.Millisecond})
	begin := time.Now()
	h.Submit(Event{Kind: Instance, Name: "VI_1", State: Master, Hooks: Hooks{Specific: bg + " " + pidFile}})
	h.drain(t)
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("hook with a background child held the queue for %v", took)
	}
	if s := h.Stats(); s.Ran != 1 || s.Failed != 0 {
		t.Errorf("stats %+v", s)
	}
	recs := h.log.records(t)
	if r := recs[len(recs)-1]; r["msg"] != "notify hook ran" || r["exit"] != float64(0) || r["note"] == nil {
		t.Errorf("log record %v", r)
	}
}

// TestMissingProgram: without script security a hook must still exist; a missing one is
// reported and counted, and the key's later hooks still run.
func TestMissingProgram(t *testing.T) {
	dir := t.TempDir()
	rec := script(t, dir, "rec.sh", recorder)
	log := filepath.Join(dir, "log")
	h := start(t, Options{})
	h.Submit(Event{Kind: Instance, Name: "VI_1", State: Backup, Hooks: Hooks{Specific: filepath.Join(dir, "missing.sh")}})
	h.Submit(Event{Kind: Instance, Name: "VI_1", State: Master, Hooks: Hooks{Specific: rec + " " + log}})
	h.drain(t)
	if s := h.Stats(); s.Ran != 1 || s.Failed != 1 {
		t.Errorf("stats %+v", s)
	}
	if calls := readCalls(t, log); len(calls) != 1 {
		t.Errorf("%d calls after the missing hook, want 1", len(calls))
	}
	if r := h.log.records(t)[0]; r["msg"] != "notify hook not run" || !strings.Contains(r["err"].(string), "no such file") {
		t.Errorf("log record %v", r)
	}
}
