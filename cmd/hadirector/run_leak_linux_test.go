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

// runDaemon is `hadirector run` in process, in a network namespace of its own (the test
// runs itself again in a child process with one veth pair), with NOTIFY_SOCKET on a socket
// the test reads through await. fill makes systemd fall behind: the socket's queue full.
type runDaemon struct {
	t      *testing.T
	sd     *net.UnixConn
	ran    chan error
	stderr *syncBuffer
	path   string
}

// inNetns runs the test again in a child with its own network namespace and reports
// whether this is the child.
func inNetns(t *testing.T) bool {
	const env = "HADIRECTOR_TEST_NETNS"
	if os.Getenv(env) == t.Name() {
		return true
	}
	privtest.Root(t)
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNET}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("in a network namespace: %v\n%s", err, out)
	}
	return false
}

func startRun(t *testing.T) *runDaemon {
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
	r := &runDaemon{t: t, ran: make(chan error, 1), stderr: &syncBuffer{}, path: filepath.Join(dir, "notify.sock")}
	sd, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: r.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sd.Close() })
	r.sd = sd
	t.Setenv("NOTIFY_SOCKET", r.path)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", "")
	go func() {
		r.ran <- cmdRun(newFlags(command{name: "run"}, r.stderr), []string{"-c", cfgPath, "-state-dir", filepath.Join(dir, "state")}, r.stderr, r.stderr)
	}()
	r.await("READY=1")
	r.await("WATCHDOG=1")
	return r
}

func (r *runDaemon) await(want string) {
	r.t.Helper()
	buf := make([]byte, 4096)
	deadline := time.Now().Add(20 * time.Second)
	for {
		r.sd.SetReadDeadline(deadline)
		n, err := r.sd.Read(buf)
		if err != nil {
			r.t.Fatalf("waiting for %s from the daemon: %v", want, err)
		}
		if strings.Contains(string(buf[:n]), want) {
			return
		}
	}
}

// fill makes systemd fall behind: the notification socket's queue is full.
func (r *runDaemon) fill() {
	filler, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: r.path, Net: "unixgram"})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { filler.Close() })
	raw, err := filler.SyscallConn()
	if err != nil {
		r.t.Fatal(err)
	}
	for full := false; !full; {
		raw.Write(func(fd uintptr) bool {
			_, err := syscall.Write(int(fd), []byte("FILL=1"))
			full = errors.Is(err, syscall.EAGAIN)
			if err != nil && !full {
				r.t.Fatalf("fill: %v", err)
			}
			return true
		})
	}
}

// TestRunJoinsGoroutines: `hadirector run` returns only once the goroutines it started
// have ended — the signal handler, the systemd watchdog and the STOPPING notification —
// even when systemd is slow to take a notification: here its socket's queue is full when
// SIGTERM comes, so the STOPPING=1 (and the watchdog's ping) wait until the test reads.
func TestRunJoinsGoroutines(t *testing.T) {
	if !inNetns(t) {
		return
	}
	base := leakcheck.Take()
	r := startRun(t)
	r.fill()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The daemon's shutdown takes milliseconds; a run that does not wait for its
	// goroutines returns in that time, while STOPPING=1 still waits for room (for up to
	// stopWait, beyond this test's 3 s).
	select {
	case err := <-r.ran:
		t.Errorf("run returned (%v) while its STOPPING notification still waited for systemd\n%s", err, r.stderr.String())
		r.ran <- err
	case <-time.After(3 * time.Second):
	}
	r.await("STOPPING=1")
	select {
	case err := <-r.ran:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, r.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("run did not return once systemd took the notifications\n%s", r.stderr.String())
	}
	base.Verify(t)
}

// TestRunStopsWithoutSystemd: a notify socket that never takes STOPPING=1 (a supervisor
// that stopped reading) holds a stopping daemon for stopWait, not for ever; it says so.
func TestRunStopsWithoutSystemd(t *testing.T) {
	if !inNetns(t) {
		return
	}
	r := startRun(t)
	r.fill()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-r.ran:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, r.stderr.String())
		}
	case <-time.After(stopWait + 30*time.Second):
		t.Fatalf("run did not return %v after SIGTERM with the notify socket never read\n%s", stopWait+30*time.Second, r.stderr.String())
	}
	if out := r.stderr.String(); !strings.Contains(out, "exiting without the systemd notification") || !strings.Contains(out, r.path) {
		t.Errorf("no warning naming the notify socket:\n%s", out)
	}
}
