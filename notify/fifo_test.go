package notify

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openReader opens the FIFO read-write, so it never sees EOF and our writer's
// non-blocking open finds a reader.
func openReader(t *testing.T, path string) (*os.File, *bufio.Reader) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, bufio.NewReader(f)
}

func readLines(t *testing.T, f *os.File, br *bufio.Reader, n int) []string {
	t.Helper()
	if err := f.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for range n {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", lines, err)
		}
		lines = append(lines, l)
	}
	return lines
}

func TestFIFOLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.fifo")
	h := start(t, Options{FIFO: path})
	if fi, err := os.Stat(path); err != nil || fi.Mode().Type() != fs.ModeNamedPipe || fi.Mode().Perm() != 0o600 {
		t.Fatalf("notify_fifo not created as a 0600 FIFO: %v %v", fi, err)
	}
	f, br := openReader(t, path)
	evs := []Event{
		{Kind: Instance, Name: "VI_1", State: Master, Priority: 100},
		{Kind: Group, Name: "VG_1", State: Backup, Priority: 100},
		{Kind: RealServer, State: Up, VirtualServer: vs4, RealServer: rs4},
		{Kind: RealServer, State: Down, VirtualServer: vs6, RealServer: rs6, Protocol: "udp"},
		{Kind: Instance, Name: "VI_1", State: Stop, Priority: 0},
	}
	for _, ev := range evs {
		h.Submit(ev)
	}
	h.drain(t)
	got := readLines(t, f, br, len(evs))
	want := []string{
		"INSTANCE \"VI_1\" MASTER 100\n",
		"GROUP \"VG_1\" BACKUP 0\n",
		"RS [198.51.100.11]:tcp:80 [192.0.2.100]:tcp:80 UP\n",
		"RS [2001:db8::11]:udp:8443 [2001:db8::100]:udp:443 DOWN\n",
		"INSTANCE \"VI_1\" STOP 0\n",
	}
	if strings.Join(got, "") != strings.Join(want, "") {
		t.Errorf("FIFO lines\n%q\nwant\n%q", got, want)
	}
	if s := h.Stats(); s.FIFOWritten != uint64(len(evs)) || s.FIFODropped != 0 || s.Ran != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestFIFONoReader: with nobody reading, lines are dropped and counted, Submit stays
// instant, and writing resumes when a reader shows up.
func TestFIFONoReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.fifo")
	h := start(t, Options{FIFO: path})
	const n, attempts = 1000, 3
	// Opening or writing a FIFO without a reader blocks for ever unless done without
	// blocking: Submit, and the writer behind it, must not.
	returns(t, 30*time.Second, fmt.Sprintf("%d Submits without a FIFO reader", attempts*n), func() {
		for range attempts * n {
			h.Submit(Event{Kind: Instance, Name: "VI_1", State: Master, Priority: 100})
		}
	})
	h.drain(t) // the writer dropped them all, within Drain's 30 s
	if s := h.Stats(); s.FIFODropped != attempts*n || s.FIFOWritten != 0 {
		t.Errorf("stats %+v", s)
	}
	f, br := openReader(t, path)
	h.Submit(Event{Kind: Group, Name: "VG_1", State: Fault})
	h.drain(t)
	if got := readLines(t, f, br, 1); got[0] != "GROUP \"VG_1\" FAULT 0\n" {
		t.Errorf("line %q", got[0])
	}
	if s := h.Stats(); s.FIFOWritten != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestFIFOSlowReader: a reader that never reads fills the pipe; then lines are dropped,
// Submit stays instant and Drain does not hang.
func TestFIFOSlowReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.fifo")
	h := start(t, Options{FIFO: path})
	openReader(t, path) // and never read
	name := strings.Repeat("n", 200)
	const batches, per = 20, 500
	// A write into the full pipe of a reader that never reads blocks for ever unless it is
	// non-blocking.
	for range batches {
		returns(t, 30*time.Second, fmt.Sprintf("%d Submits into a full FIFO", per), func() {
			for range per {
				h.Submit(Event{Kind: Instance, Name: name, State: Backup, Priority: 1})
			}
		})
		h.drain(t) // written or dropped, within Drain's 30 s
	}
	s := h.Stats()
	if s.FIFOWritten == 0 || s.FIFODropped == 0 || s.FIFOWritten+s.FIFODropped != batches*per {
		t.Errorf("stats %+v", s)
	}
	t.Logf("%d lines written before the pipe filled, %d dropped", s.FIFOWritten, s.FIFODropped)
}

// TestFIFOReaderGone: when the reader closes, writes fail with EPIPE (no SIGPIPE death),
// and a new reader gets lines again.
func TestFIFOReaderGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.fifo")
	h := start(t, Options{FIFO: path})
	f, br := openReader(t, path)
	h.Submit(Event{Kind: Instance, Name: "VI_1", State: Master, Priority: 100})
	h.drain(t)
	readLines(t, f, br, 1)
	f.Close()
	h.Submit(Event{Kind: Instance, Name: "VI_1", State: Backup, Priority: 100})
	h.drain(t)
	f2, br2 := openReader(t, path)
	h.Submit(Event{Kind: Instance, Name: "VI_1", State: Fault, Priority: 100})
	h.drain(t)
	if got := readLines(t, f2, br2, 1); got[0] != "INSTANCE \"VI_1\" FAULT 100\n" {
		t.Errorf("line %q", got[0])
	}
	if s := h.Stats(); s.FIFOWritten != 2 || s.FIFODropped != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestFIFONotAFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewRunner(Options{FIFO: path}); err == nil {
		t.Fatal("NewRunner accepted a regular file as notify_fifo")
	}
}
