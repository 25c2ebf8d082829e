package notify

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"time"

	"github.com/hadirector/hadirector/internal/cmdline"
)

// runHook runs one hook of ev to completion, timeout or cancellation, and logs and counts
// the outcome. The hook runs in its own process group so that a timeout kills everything
// it started, not only the script.
func (r *Runner) runHook(ctx context.Context, ev *Event, generic bool, env []string, timeout time.Duration) {
	line := ev.Hooks.Specific
	if generic {
		line = ev.Hooks.Generic
	}
	attrs := append(ev.logAttrs(), "hook", ev.hookName(generic), "state", string(ev.State))
	argv, err := cmdline.Split(line)
	if err == nil && len(argv) > 0 {
		// Checked again at every run: the file may have changed since start-up.
		err = checkProgram(argv[0], r.opts.Security)
	}
	var cred *syscall.Credential
	if err == nil && len(argv) > 0 {
		cred, err = r.credential()
	}
	if err != nil {
		r.failed.Add(1)
		r.log.Error("notify hook not run", append(attrs, "err", err)...)
		return
	}
	if len(argv) == 0 {
		return
	}
	attrs = append(attrs, "program", argv[0])

	var stderr capped
	cmd := exec.Command(argv[0], append(argv[1:], ev.appendedArgs(generic)...)...)
	cmd.Env = env
	cmd.Dir = "/"
	cmd.Stderr = &stderr // stdin and stdout are /dev/null, as keepalived's
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	// A background child that keeps stderr open must not hold the queue.
	cmd.WaitDelay = r.opts.KillGrace

	start := time.Now()
	if err := cmd.Start(); err != nil {
		r.failed.Add(1)
		r.log.Error("notify hook could not start", append(attrs, "err", err)...)
		return
	}
	r.ran.Add(1)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	timer := time.NewTimer(timeout)
	var timedOut, cancelled bool
	select {
	case err = <-done:
	case <-timer.C:
		timedOut = true
		err = r.terminate(cmd.Process.Pid, done)
	case <-ctx.Done():
		cancelled = true
		err = r.terminate(cmd.Process.Pid, done)
	}
	timer.Stop()
	dur := time.Since(start)
	r.busyNanos.Add(uint64(dur))

	ps := cmd.ProcessState
	if ps == nil { // wait4 itself failed: cannot happen for a started child
		r.failed.Add(1)
		r.log.Error("notify hook lost", append(attrs, "err", err)...)
		return
	}
	attrs = append(attrs, "exit", ps.ExitCode(), "duration", dur)
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		attrs = append(attrs, "signal", ws.Signal().String())
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		// The hook exited but left a background process holding its stderr: not a
		// failure (keepalived does not care either), but worth knowing.
		attrs = append(attrs, "note", "a background process kept stderr open; stopped reading it")
	}
	if stderr.Len() > 0 {
		attrs = append(attrs, "stderr", stderr.String())
	}
	switch {
	case timedOut:
		r.failed.Add(1)
		r.timedOut.Add(1)
		r.log.Warn("notify hook timed out; process group killed", append(attrs, "timeout", timeout)...)
	case cancelled:
		r.failed.Add(1)
		r.log.Warn("notify hook terminated: shutting down", attrs...)
	case !ps.Success():
		r.failed.Add(1)
		r.log.Warn("notify hook failed", attrs...)
	default:
		r.log.Info("notify hook ran", attrs...)
	}
}

// terminate ends the process group pgid: SIGTERM, then SIGKILL once the grace period is
// over unless by then the leader has exited and no other member is left. It returns the
// leader's Wait result.
func (r *Runner) terminate(pgid int, done <-chan error) error {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	grace := time.NewTimer(r.opts.KillGrace)
	defer grace.Stop()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	var (
		err    error
		exited bool
	)
	for {
		select {
		case err = <-done:
			exited = true
			done = nil
		case <-poll.C:
			// Members that ignored SIGTERM keep the group alive: they get SIGKILL below.
			if exited && errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) {
				return err
			}
		case <-grace.C:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			if !exited {
				err = <-done
			}
			return err
		}
	}
}

// capped keeps the first stderrMax bytes written to it and swallows the rest, so a
// chatty hook cannot make the daemon's memory or log lines grow without bound.
type capped struct {
	buf       []byte
	truncated bool
}

func (c *capped) Write(p []byte) (int, error) {
	room := stderrMax - len(c.buf)
	if len(p) > room {
		c.buf = append(c.buf, p[:max(room, 0)]...)
		c.truncated = true
		return len(p), nil
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *capped) Len() int { return len(c.buf) }

func (c *capped) String() string {
	if c.truncated {
		return string(c.buf) + "…(truncated)"
	}
	return string(c.buf)
}
