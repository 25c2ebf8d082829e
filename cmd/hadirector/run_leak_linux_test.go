package main

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hadirector/hadirector/internal/leakcheck"
	"github.com/hadirector/hadirector/internal/privtest"
)

// syncBuffer is a bytes.Buffer for writers on several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunJoinsGoroutines: `hadirector run` returns only once the goroutines it started
// have ended — the signal handler, the systemd watchdog and the STOPPING notification —
// even when systemd is slow to take a notification: here its socket's queue is full when
// SIGTERM comes, so the STOPPING=1 (and the watchdog's ping) wait until the test reads.
// The test runs in a network namespace of its own (a child process) with one veth pair.
func TestRunJoinsGoroutines(t *testing.T) {
	const env = "HADIRECTOR_TEST_NETNS"
	if os.Getenv(env) != t.Name() {
		privtest.Root(t)
		cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), env+"="+t.Name())
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNET}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
			t.Fatalf("in a network namespace: %v\n%s", err, out)
		}
		return
	}
	ip := privtest.Tool(t, "ip")
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "veth0", "type", "veth", "peer", "name", "veth1"},
		{"addr", "add", "192.0.2.1/24", "dev", "veth0"},
		{"link", "set", "veth0", "up"},
		{"link", "set", "veth1", "up"},
	} {
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hadirector.toml")
	cfg := `
[global]
status_socket = "` + filepath.Join(dir, "s.sock") + `"

[[vrrp_instance]]
name = "VI_1"
interface = "veth0"
virtual_router_id = 51
priority = 100
virtual_ipaddress = ["192.0.2.100/24"]
`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	notifyPath := filepath.Join(dir, "notify.sock")
	sd, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sd.Close()
	t.Setenv("NOTIFY_SOCKET", notifyPath)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", "")
	buf := make([]byte, 4096)
	await := func(want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			sd.SetReadDeadline(deadline)
			n, err := sd.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %s from the daemon: %v", want, err)
			}
			if strings.Contains(string(buf[:n]), want) {
				return
			}
		}
	}

	base := leakcheck.Take()
	var stderr syncBuffer
	ran := make(chan error, 1)
	go func() {
		ran <- cmdRun([]string{"-c", cfgPath, "-state-dir", filepath.Join(dir, "state")}, &stderr, &stderr)
	}()
	await("READY=1")
	await("WATCHDOG=1")

	// systemd falls behind: fill the notification socket's queue.
	filler, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer filler.Close()
	raw, err := filler.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for full := false; !full; {
		raw.Write(func(fd uintptr) bool {
			_, err := syscall.Write(int(fd), []byte("FILL=1"))
			full = errors.Is(err, syscall.EAGAIN)
			if err != nil && !full {
				t.Fatalf("fill: %v", err)
			}
			return true
		})
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The daemon's shutdown takes milliseconds; a run that does not wait for its
	// goroutines returns in that time, while STOPPING=1 still waits for room.
	select {
	case err := <-ran:
		t.Errorf("run returned (%v) while its STOPPING notification still waited for systemd\n%s", err, stderr.String())
		ran <- err
	case <-time.After(3 * time.Second):
	}
	await("STOPPING=1")
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("run did not return once systemd took the notifications\n%s", stderr.String())
	}
	base.Verify(t)
}
