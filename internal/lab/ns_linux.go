package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// doInNS runs fn on a locked OS thread switched into the named namespace and switches the
// thread back afterwards. If switching back fails, the thread stays locked, so the runtime
// retires it with the goroutine instead of reusing a thread in the wrong namespace.
func doInNS(ns string, fn func() error) error {
	target, err := os.Open(filepath.Join("/run/netns", ns))
	if err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	defer target.Close()

	type result struct {
		err      error
		panicked bool
		value    any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("namespace %s: %w", ns, err)}
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread() // still in its own namespace
			done <- result{err: fmt.Errorf("enter namespace %s: %w", ns, err)}
			return
		}
		var r result
		func() {
			defer func() {
				if v := recover(); v != nil {
					r = result{panicked: true, value: v}
				}
			}()
			r.err = fn()
		}()
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		done <- r
	}()
	r := <-done
	if r.panicked {
		panic(r.value) // on the caller's goroutine, where the test framework can see it
	}
	return r.err
}

// procAttr makes a started process a group leader (so Kill reaches its children) that the
// kernel kills if the test binary dies without running cleanups.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
