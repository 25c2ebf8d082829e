package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// child is a helper process that dies with the bench (Pdeathsig) and is stopped by
// closing its stdin, then SIGTERM, then SIGKILL.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.Reader
	done   chan struct{}
}

func startChild(prog string, args ...string) (*child, error) {
	cmd := exec.Command(prog, args...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: in, stdout: out, done: make(chan struct{})}
	go func() { cmd.Wait(); close(c.done) }()
	return c, nil
}

func (c *child) stop() {
	c.stdin.Close()
	select {
	case <-c.done:
		return
	case <-time.After(2 * time.Second):
	}
	syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-c.done:
		return
	case <-time.After(5 * time.Second):
	}
	syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	<-c.done
}

// raiseNoFile makes at least need descriptors available, and up to want: it raises the
// soft limit to the hard one and the hard one too when allowed (root, within fs.nr_open).
func raiseNoFile(need, want uint64) error {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return err
	}
	if r.Cur >= want {
		return nil
	}
	if r.Max < want {
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: want, Max: want}); err == nil {
			return nil
		}
	}
	r.Cur = min(r.Max, want)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return err
	}
	if r.Cur < need {
		return fmt.Errorf("RLIMIT_NOFILE is %d and cannot be raised to the %d needed (run as root or raise the hard limit)", r.Cur, need)
	}
	return nil
}

// selfCPU is the user+system CPU time of this process so far.
func selfCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clkTck is USER_HZ, the unit of /proc/<pid>/stat times; 100 on every Linux platform
// Go supports.
const clkTck = 100

// procCPU is the user+system CPU time of pid from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	u, s, err := procUserSys(pid)
	return u + s, err
}

// procUserSys is the user and the system CPU time of pid (0 = self) from /proc/<pid>/stat.
func procUserSys(pid int) (user, sys time.Duration, err error) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	// The command name may contain spaces; fields resume after its closing parenthesis.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("%s: short", path)
	}
	ut, _ := strconv.ParseUint(f[11], 10, 64) // field 14 overall
	st, _ := strconv.ParseUint(f[12], 10, 64) // field 15
	return time.Duration(ut) * time.Second / clkTck, time.Duration(st) * time.Second / clkTck, nil
}

// machineCPU is the busy and the total CPU time of the machine, all CPUs together, from
// the first line of /proc/stat.
func machineCPU() (busy, total time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		d := time.Duration(n) * time.Second / clkTck
		total += d
		if i != 3 && i != 4 { // idle, iowait
			busy += d
		}
	}
	return busy, total
}

// usage is where the CPU went during a run: the checker's user and system time, the
// listener child's, and the whole machine's busy share.
type usage struct {
	user, sys, listener time.Duration
	busy, total         time.Duration
}

func takeUsage(checker, listener int) usage {
	var u usage
	u.user, u.sys, _ = procUserSys(checker)
	u.listener, _ = procCPU(listener)
	u.busy, u.total = machineCPU()
	return u
}

func (u usage) sub(v usage) usage {
	return usage{u.user - v.user, u.sys - v.sys, u.listener - v.listener, u.busy - v.busy, u.total - v.total}
}

func (u usage) String() string {
	return fmt.Sprintf("checker user %.2fs sys %.2fs, listener %.2fs, machine busy %.0f%% of %d CPUs",
		u.user.Seconds(), u.sys.Seconds(), u.listener.Seconds(), 100*u.busy.Seconds()/max(u.total.Seconds(), 1e-9), runtime.NumCPU())
}

// procMem returns VmRSS and VmHWM of pid (0 = self) in bytes.
func procMem(pid int) (rss, hwm uint64, err error) {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var kb uint64
		fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			hwm = kb << 10
		}
	}
	return rss, hwm, sc.Err()
}

// cpuPressure is the total time some task on the host waited for a CPU
// (/proc/pressure/cpu, "some"); ok is false where PSI is not available.
func cpuPressure() (d time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "some ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, found := strings.CutPrefix(f, "total="); found {
				us, err := strconv.ParseUint(v, 10, 64)
				return time.Duration(us) * time.Microsecond, err == nil
			}
		}
	}
	return 0, false
}
