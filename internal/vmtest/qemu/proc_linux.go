package qemu

import "syscall"

// procAttr kills qemu when the harness dies without cleaning up (SIGKILL, a crash), so no VM
// keeps running unattended.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
