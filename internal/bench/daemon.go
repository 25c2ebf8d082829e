package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hadirector/hadirector/internal/lab"
	"golang.org/x/sys/unix"
)

// Daemon is one VRRP daemon (hadirector or keepalived) on a lab host, with its own
// configuration, state directory and notify FIFO. Its state transitions are taken from
// the FIFO, which both implementations write in the same format
// (INSTANCE "VI_1" MASTER 150), and time-stamped the moment the line is read.
type Daemon struct {
	Impl Impl
	Host *lab.Host
	Inst Instance

	tb      lab.TB
	bin     string
	dir     string
	cfg     string
	proc    *lab.Proc
	started time.Time
	fifo    *fifoReader
}

// NewDaemon prepares (but does not start) impl on h with instance in; bin is the daemon's
// executable. The notify FIFO is created and read from now on.
func NewDaemon(tb lab.TB, impl Impl, bin string, h *lab.Host, in Instance) *Daemon {
	tb.Helper()
	d := &Daemon{Impl: impl, Host: h, tb: tb, bin: bin, dir: tb.TempDir()}
	in.FIFO = filepath.Join(d.dir, "notify.fifo")
	f, err := openFIFO(in.FIFO, in.Realtime)
	if err != nil {
		tb.Fatalf("bench: %s on %s: %v", impl, h.Name, err)
	}
	tb.Cleanup(f.close)
	d.fifo = f
	d.Configure(in)
	return d
}

// Configure rewrites the configuration; it takes effect at the next Start. The FIFO stays.
func (d *Daemon) Configure(in Instance) {
	d.tb.Helper()
	in.FIFO = d.fifo.path
	d.Inst = in
	var body string
	switch d.Impl {
	case Hadirector:
		d.cfg = filepath.Join(d.dir, "hadirector.toml")
		body = in.HadirectorTOML()
	case Keepalived:
		d.cfg = filepath.Join(d.dir, "keepalived.conf")
		body = in.KeepalivedConf(d.Host.Name)
	default:
		d.tb.Fatalf("bench: unknown implementation %q", d.Impl)
	}
	if err := os.WriteFile(d.cfg, []byte(body), 0o644); err != nil {
		d.tb.Fatal(err)
	}
}

// Config is the configuration file's path.
func (d *Daemon) Config() string { return d.cfg }

// Start starts the daemon in its host.
func (d *Daemon) Start() {
	d.tb.Helper()
	name := string(d.Impl) + "-" + d.Host.Name
	switch d.Impl {
	case Hadirector:
		d.proc = d.Host.Start(d.tb, name, d.bin, "run", "-c", d.cfg, "-state-dir", d.dir)
	case Keepalived:
		// A SIGKILLed keepalived leaves its pid files; a stale one would make the next
		// start think it is already running if the pid got reused.
		pid, vrrpPid := filepath.Join(d.dir, "keepalived.pid"), filepath.Join(d.dir, "vrrp.pid")
		_ = os.Remove(pid)
		_ = os.Remove(vrrpPid)
		d.proc = d.Host.Start(d.tb, name, d.bin, "-n", "-l", "-D", "-P", "-f", d.cfg, "-p", pid, "-r", vrrpPid)
	}
	d.started = time.Now()
}

// Proc is the running (or last) process.
func (d *Daemon) Proc() *lab.Proc { return d.proc }

// Pids are the daemon's processes: the one started and, for keepalived, its VRRP child
// (read from its pid file), which is the one that sends adverts and adds VIPs.
func (d *Daemon) Pids() []int {
	if d.proc == nil {
		return nil
	}
	pids := []int{d.proc.Pid()}
	if d.Impl == Keepalived {
		if b, err := os.ReadFile(filepath.Join(d.dir, "vrrp.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// Started is when the last Start was called.
func (d *Daemon) Started() time.Time { return d.started }

// Running reports whether the daemon's process is alive.
func (d *Daemon) Running() bool { return d.proc != nil && d.proc.State() == nil }

// Kill sends SIGKILL to the daemon's process group (kill -9: no priority-0 advert, VIPs
// left behind) and waits until it is reaped.
func (d *Daemon) Kill() {
	if d.proc != nil {
		d.proc.Kill()
	}
}

// Term sends SIGTERM (a clean stop: priority 0, VIPs removed).
func (d *Daemon) Term() error {
	if d.proc == nil {
		return errors.New("bench: not started")
	}
	return d.proc.Signal(syscall.SIGTERM)
}

// Wait waits for the process to exit and returns its exit code.
func (d *Daemon) Wait(timeout time.Duration) (int, error) {
	if d.proc == nil {
		return 0, errors.New("bench: not started")
	}
	return d.proc.Wait(timeout)
}

// Output is what the daemon logged so far (stdout and stderr).
func (d *Daemon) Output() string {
	if d.proc == nil {
		return ""
	}
	return d.proc.Output()
}

// StateEvent is one notify FIFO line of the instance.
type StateEvent struct {
	Time  time.Time // when the line was read
	State string    // MASTER, BACKUP, FAULT, STOP
}

// Events are the instance's state changes since t, as reported on the FIFO.
func (d *Daemon) Events(since time.Time) []StateEvent { return d.fifo.since(since) }

// State is the instance's state as last reported since the last Start, "INIT" before the
// first report and "" when the daemon is not running.
func (d *Daemon) State() string {
	if !d.Running() {
		return ""
	}
	ev := d.fifo.since(d.started)
	if len(ev) == 0 {
		return "INIT"
	}
	return ev[len(ev)-1].State
}

// BecameMaster is the first MASTER report after t.
func (d *Daemon) BecameMaster(after time.Time) (time.Time, bool) {
	for _, e := range d.fifo.since(after) {
		if e.State == "MASTER" {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

// HasVIP reports whether the first VIP is on the instance's interface.
func (d *Daemon) HasVIP() bool {
	return d.Host.HasAddr(d.Inst.Iface(), d.Inst.VIPs[0].Addr())
}

// RemoveVIPs deletes the instance's VIPs from the host, as an operator does after a
// kill -9 (which leaves them behind).
func (d *Daemon) RemoveVIPs() {
	for _, p := range d.Inst.VIPs {
		_, _ = d.Host.Run("ip", "addr", "del", p.String(), "dev", d.Inst.Iface())
	}
}

// Version runs the daemon binary's version command and returns its first line.
func Version(impl Impl, bin string) string {
	var cmd *exec.Cmd
	switch impl {
	case Keepalived:
		cmd = exec.Command(bin, "-v")
	default:
		cmd = exec.Command(bin, "version")
	}
	out, err := cmd.CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if err != nil {
		return fmt.Sprintf("%s (%v)", line, err)
	}
	return line
}

// fifoReader reads a notify FIFO on a thread of its own, which with rt runs SCHED_FIFO
// so that the time stamp is taken when the line is written, not when the Go scheduler gets
// round to it. The FIFO is opened read-write: the open does not wait for a writer, and a
// daemon closing its end is not end of file.
type fifoReader struct {
	path string
	fd   int
	done chan struct{}

	mu     sync.Mutex
	events []StateEvent
}

// stopLine is written by close to wake the reader; daemons never write it.
const stopLine = "BENCH-STOP"

func openFIFO(path string, rt bool) (*fifoReader, error) {
	if err := unix.Mkfifo(path, 0o600); err != nil {
		return nil, fmt.Errorf("mkfifo %s: %w", path, err)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	r := &fifoReader{path: path, fd: fd, done: make(chan struct{})}
	go r.loop(rt)
	return r, nil
}

func (r *fifoReader) loop(rt bool) {
	defer close(r.done)
	// Never unlocked: a thread whose scheduling policy was changed must not go back to the
	// pool; it ends with this goroutine.
	runtime.LockOSThread()
	if rt {
		_ = setFIFOScheduling(watcherPriority)
	}
	buf := make([]byte, 4096)
	var partial []byte
	for {
		n, err := unix.Read(r.fd, buf)
		now := time.Now()
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n == 0 {
			return
		}
		partial = append(partial, buf[:n]...)
		for {
			i := bytes.IndexByte(partial, '\n')
			if i < 0 {
				break
			}
			line := string(partial[:i])
			partial = partial[i+1:]
			if line == stopLine {
				return
			}
			// INSTANCE "VI_1" MASTER 150. keepalived also reports MASTER_RX_LOWER_PRI (a
			// master heard a lower priority), which is not a state.
			f := strings.Fields(line)
			if len(f) >= 3 && f[0] == "INSTANCE" && isState(f[2]) {
				r.mu.Lock()
				r.events = append(r.events, StateEvent{Time: now, State: f[2]})
				r.mu.Unlock()
			}
		}
	}
}

func isState(s string) bool {
	switch s {
	case "MASTER", "BACKUP", "FAULT", "STOP":
		return true
	}
	return false
}

func (r *fifoReader) since(t time.Time) []StateEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []StateEvent
	for _, e := range r.events {
		if !e.Time.Before(t) {
			out = append(out, e)
		}
	}
	return out
}

func (r *fifoReader) close() {
	_, _ = unix.Write(r.fd, []byte(stopLine+"\n"))
	select {
	case <-r.done:
	case <-time.After(2 * time.Second):
	}
	_ = unix.Close(r.fd)
}

// GitSource names the working tree the hadirector binary was built from: "dev" says
// nothing about which code was measured.
func GitSource() string {
	head, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "a module outside git"
	}
	s := "git " + strings.TrimSpace(string(head))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		s += " with uncommitted changes"
	}
	return s
}
