package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// Exec runs a program (argv, no shell) and reports success when it exits 0 within the
// timeout. On timeout the whole process group is killed, so a script's children do not
// outlive the check.
type Exec struct {
	Argv    []string
	Timeout time.Duration
}

// Check runs the program once.
func (e *Exec) Check(ctx context.Context) error {
	if len(e.Argv) == 0 {
		return errors.New("healthcheck: exec: empty command")
	}
	ctx, cancel := context.WithTimeout(ctx, e.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.Argv[0], e.Argv[1:]...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("healthcheck: exec %s: timed out after %v", e.Argv[0], e.Timeout)
	}
	if err != nil {
		return fmt.Errorf("healthcheck: exec %s: %w", e.Argv[0], err)
	}
	return nil
}
