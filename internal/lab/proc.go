package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a long-running process in a host, started by Host.Start. Its stdout and stderr go
// to one log file, which Output, Lines and WaitFor read.
type Proc struct {
	Name string
	host *Host
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed once the process is reaped; state is set before
	st   *os.ProcessState
}

// killWait bounds how long Kill waits for a SIGKILLed process to be reaped.
const killWait = 5 * time.Second

// Start starts args in the host's namespace as a process group leader, with stdin from
// /dev/null and stdout+stderr appended to a log file in the lab's temp dir. It is killed
// (the whole group) when tb ends or the lab is cleaned up, whichever comes first; if tb has
// failed by then, the tail of its output goes to the test log. The process also gets SIGKILL
// if the test binary dies. For environment variables use `env K=V cmd ...`.
func (h *Host) Start(tb TB, name string, args ...string) *Proc {
	tb.Helper()
	l := h.lab
	if len(args) == 0 {
		tb.Fatalf("lab: Start %s on %s: no command", name, h.Name)
	}
	l.mu.Lock()
	l.logs++
	n := l.logs
	l.mu.Unlock()

	logPath := filepath.Join(l.dir, fmt.Sprintf("%02d-%s-%s.log", n, h.Name, sanitize(name)))
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		tb.Fatalf("lab: Start %s on %s: %v", name, h.Name, err)
	}
	defer f.Close() // the child has its own copy

	cmd := exec.Command("ip", append([]string{"netns", "exec", h.ns}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = l.dir
	cmd.SysProcAttr = procAttr()
	p := &Proc{Name: name, host: h, cmd: cmd, log: logPath, done: make(chan struct{})}

	// Under the lock with the closed check, so cleanup either sees this process or Start fails.
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		tb.Fatalf("lab: Start %s on %s after cleanup", name, h.Name)
	}
	if err := startPinned(cmd); err != nil {
		l.mu.Unlock()
		tb.Fatalf("lab: Start %s on %s: %v", name, h.Name, err)
	}
	l.procs = append(l.procs, p)
	l.mu.Unlock()

	go func() {
		_ = cmd.Wait() // a non-zero exit is reported through the state
		p.st = cmd.ProcessState
		close(p.done)
	}()
	tb.Cleanup(func() {
		p.Kill()
		if tb.Failed() {
			tb.Logf("lab: %s on %s (%s), last lines:\n%s", name, h.Name, strings.Join(args, " "), p.tail(40))
		}
	})
	return p
}

// The kernel sends the parent-death signal when the *thread* that forked the child exits, and
// the Go runtime ends a thread whenever a goroutine exits while locked to it. Forking from
// one thread that stays locked for the life of the process makes SIGKILL-on-parent-death
// mean what it says. That goroutine and its thread live as long as the test binary.
var spawner struct {
	once sync.Once
	reqs chan func()
}

func startPinned(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan func())
		go func() {
			runtime.LockOSThread()
			for f := range spawner.reqs {
				f()
			}
		}()
	})
	errc := make(chan error, 1)
	spawner.reqs <- func() { errc <- cmd.Start() }
	return <-errc
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// Pid is the process's id (also its process group id).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// LogPath is the file that collects the process's stdout and stderr.
func (p *Proc) LogPath() string { return p.log }

// Done is closed when the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Signal sends sig to the process (not its group), e.g. SIGHUP to reload or SIGTERM to stop.
func (p *Proc) Signal(sig os.Signal) error {
	select {
	case <-p.done:
		return os.ErrProcessDone
	default:
	}
	return p.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL to the process's whole group and waits (bounded) until it is reaped.
// Killing an exited process is a no-op; whatever it left behind in the host is killed when
// the lab is cleaned up.
func (p *Proc) Kill() {
	select {
	case <-p.done:
		// The leader is reaped, so its pid (the group id) may already belong to someone
		// else: leave stragglers to the lab cleanup, which kills all in the namespace.
		return
	default:
	}
	_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(killWait):
	}
}

// Wait waits up to timeout for the process to exit and returns its exit code, -1 if a
// signal ended it. The error is non-nil only when the timeout expires.
func (p *Proc) Wait(timeout time.Duration) (int, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return p.st.ExitCode(), nil
	case <-t.C:
		return 0, fmt.Errorf("lab: %s on %s still running after %v", p.Name, p.host.Name, timeout)
	}
}

// State is the exited process's state, nil while it runs.
func (p *Proc) State() *os.ProcessState {
	select {
	case <-p.done:
		return p.st
	default:
		return nil
	}
}

// Output is everything the process wrote so far.
func (p *Proc) Output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// Lines is Output split into complete lines (a trailing partial line is left out).
func (p *Proc) Lines() []string {
	out := p.Output()
	i := strings.LastIndexByte(out, '\n')
	if i < 0 {
		return nil
	}
	return strings.Split(out[:i], "\n")
}

func (p *Proc) tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.Output(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ErrExited is returned (wrapped) by WaitFor when the process exits without printing a
// matching line.
var ErrExited = errors.New("process exited")

// pollEvery is how often WaitFor rereads the log.
const pollEvery = 10 * time.Millisecond

// WaitForLine waits up to timeout for a line containing substr and returns it.
func (p *Proc) WaitForLine(substr string, timeout time.Duration) (string, error) {
	_, line, err := p.WaitFor(0, func(s string) bool { return strings.Contains(s, substr) }, timeout)
	if err != nil {
		return "", fmt.Errorf("%w (waiting for %q)", err, substr)
	}
	return line, nil
}

// WaitFor waits up to timeout for a complete line, at index from or later in Lines, for
// which match is true, and returns its index and text. To wait for the next occurrence of
// something seen before, pass the index after the previous match (or len(p.Lines())).
func (p *Proc) WaitFor(from int, match func(line string) bool, timeout time.Duration) (int, string, error) {
	deadline := time.Now().Add(timeout)
	for {
		exited := p.State() != nil // read before the log, so a final line is not missed
		lines := p.Lines()
		for i := from; i < len(lines); i++ {
			if match(lines[i]) {
				return i, lines[i], nil
			}
		}
		if len(lines) > from {
			from = len(lines)
		}
		if exited {
			return 0, "", fmt.Errorf("lab: %s on %s: %w (%s)", p.Name, p.host.Name, ErrExited, p.st)
		}
		if time.Now().After(deadline) {
			return 0, "", fmt.Errorf("lab: %s on %s: no matching line within %v; last lines:\n%s", p.Name, p.host.Name, timeout, p.tail(10))
		}
		time.Sleep(pollEvery)
	}
}
