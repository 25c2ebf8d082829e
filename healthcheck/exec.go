package healthcheck

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"time"
)

// execPath is the PATH hooks and checks run with: the environment is never inherited.
const execPath = "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

// Exec runs a program (argv, no shell) and reports success when it exits 0 within the
// timeout (keepalived's MISC_CHECK). On timeout the whole process group is killed, so a
// script's children do not outlive the check.
type Exec struct {
	Argv []string
	// Timeout bounds the run; 0 leaves it to the context.
	Timeout time.Duration
	// Env is added to the minimal environment (PATH only), e.g. the backend checked.
	Env []string
	// Dynamic (misc_dynamic) makes the exit code set the weight: 0 up at the configured
	// weight, 1 down, 2 to 255 up with weight code − 2.
	Dynamic bool
}

// Check runs the program once.
func (e *Exec) Check(ctx context.Context) error {
	_, err := e.CheckWeight(ctx)
	return err
}

// CheckWeight runs the program once and, with Dynamic, reads the weight from its exit code.
func (e *Exec) CheckWeight(ctx context.Context) (Weight, error) {
	err := e.run(ctx)
	var ee *Error
	var xe *exec.ExitError
	if e.Dynamic && errors.As(err, &ee) && ee.Reason == ReasonExit && errors.As(err, &xe) {
		if code := xe.ExitCode(); code >= 2 && code <= 255 {
			return Weight{Kind: WeightAbsolute, Value: int64(code - 2)}, nil
		}
	}
	return Weight{}, err
}

func (e *Exec) run(ctx context.Context) error {
	if len(e.Argv) == 0 {
		return &Error{Check: "exec", Target: "(none)", Reason: ReasonOther, Detail: "empty command"}
	}
	ctx, cancel := withTimeout(ctx, e.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.Argv[0], e.Argv[1:]...)
	cmd.Env = append([]string{execPath}, e.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A grandchild that keeps stdout open must not hold the check past the kill.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fail("exec", e.Argv[0], "run", context.DeadlineExceeded, e.Timeout)
	}
	if err != nil {
		var xe *exec.ExitError
		if errors.As(err, &xe) {
			return &Error{Check: "exec", Target: e.Argv[0], Reason: ReasonExit, Detail: xe.Error(), Err: err}
		}
		r, d := classify(err, e.Timeout)
		return &Error{Check: "exec", Target: e.Argv[0], Step: "start", Reason: r, Detail: d, Err: err}
	}
	return nil
}

func (e *Exec) String() string {
	if len(e.Argv) == 0 {
		return "exec"
	}
	return "exec " + e.Argv[0]
}
