//go:build !linux

package lab

import (
	"errors"
	"syscall"
)

func doInNS(string, func() error) error {
	return errors.New("network namespaces need Linux")
}

func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
