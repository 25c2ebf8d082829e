package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
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
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may contain spaces; fields resume after its closing parenthesis.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	ut, _ := strconv.ParseUint(f[11], 10, 64) // field 14 overall
	st, _ := strconv.ParseUint(f[12], 10, 64) // field 15
	return time.Duration(ut+st) * time.Second / clkTck, nil
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
