package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hookDir makes a root-owned 0755 directory outside /tmp: script security rightly refuses
// hooks anywhere a non-root user could replace them.
func hookDir(t *testing.T) string {
	t.Helper()
	if err := os.MkdirAll("/var/lib/hadirector-test", 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/var/lib/hadirector-test", "e2e-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

func readLines(path string) []string {
	b, _ := os.ReadFile(path)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// TestNotifyHooks: keepalived's argument convention, in transition order, and notify_stop
// waited for at shutdown.
func TestNotifyHooks(t *testing.T) {
	dir := hookDir(t)
	script := filepath.Join(dir, "notify.sh")
	writeScript(t, script, `echo "$*" >> "$1.log"
if [ "$2" = stop ]; then sleep 0.3; echo "stop done" >> "$1.log"; fi
`)
	hooks := func(name string) string {
		base := filepath.Join(dir, name)
		return fmt.Sprintf(`notify_master = "%[1]s %[2]s master"
notify_backup = "%[1]s %[2]s backup"
notify_stop = "%[1]s %[2]s stop"
notify = "%[1]s %[2]s generic"`, script, base)
	}
	p := newPair(t, 150, 100, hooks("a"), hooks("b"))
	p.elect()
	p.a.proc.Kill()
	eventually(t, p.b.mdi()+slack, "b takes over", p.b.hasVIP)
	if err := p.b.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, err := p.b.proc.Wait(5 * time.Second); err != nil || code != 0 {
		t.Fatalf("b exit %d %v", code, err)
	}
	logB := filepath.Join(dir, "b")
	want := []string{
		logB + " backup",
		logB + " generic INSTANCE VI_1 BACKUP 100",
		logB + " master",
		logB + " generic INSTANCE VI_1 MASTER 100",
		logB + " stop",
		"stop done", // notify_stop finished before the daemon exited
		logB + " generic INSTANCE VI_1 STOP 100",
	}
	got := readLines(logB + ".log")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("b's hooks ran as\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestHangingHookDoesNotDelayAdverts: a notify_master that hangs must not cost a single
// advert — the backup never sees the master go quiet.
func TestHangingHookDoesNotDelayAdverts(t *testing.T) {
	dir := hookDir(t)
	script := filepath.Join(dir, "hang.sh")
	writeScript(t, script, "sleep 60\n")
	p := newPair(t, 150, 100, fmt.Sprintf("notify_master = %q", script), "")
	p.elect()
	stable(t, 2*time.Second, "a stays master, b backup, while a's hook hangs", func() bool {
		return p.a.hasVIP() && !p.b.hasVIP() && p.b.state() == "BACKUP"
	})
}

// TestUnsafeHookRefused: a hook under world-writable /tmp is refused at start-up.
func TestUnsafeHookRefused(t *testing.T) {
	script := filepath.Join(t.TempDir(), "notify.sh")
	writeScript(t, script, "exit 0\n")
	p := newPair(t, 150, 100, fmt.Sprintf("notify = %q", script), "")
	p.a.start()
	code, err := p.a.proc.Wait(5 * time.Second)
	if err != nil || code == 0 {
		t.Fatalf("a started with an unsafe hook: exit %d %v", code, err)
	}
	if out := p.a.proc.Output(); !strings.Contains(out, "unsafe") || !strings.Contains(out, script) {
		t.Errorf("error does not name the unsafe hook:\n%s", out)
	}
}

// TestNotifyFIFO: every event reaches a notify_fifo reader, in keepalived's line format.
func TestNotifyFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "notify.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// O_RDWR never blocks and keeps the pipe open for the writer from the start.
	r, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	p := newPair(t, 150, 100, "", "")
	b, _ := os.ReadFile(p.a.cfg)
	os.WriteFile(p.a.cfg, []byte(strings.Replace(string(b), "[global]\n", fmt.Sprintf("[global]\nnotify_fifo = %q\n", fifo), 1)), 0o644)
	p.elect()
	p.a.proc.Signal(syscall.SIGTERM)
	p.a.proc.Wait(3 * time.Second)
	want := []string{`INSTANCE "VI_1" BACKUP 150`, `INSTANCE "VI_1" MASTER 150`, `INSTANCE "VI_1" STOP 150`}
	for _, w := range want {
		select {
		case got := <-lines:
			if got != w {
				t.Fatalf("FIFO line %q, want %q", got, w)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("FIFO: no line, want %q", w)
		}
	}
}
