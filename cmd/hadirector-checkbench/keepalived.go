//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// errNoIPVS: keepalived's checker exits at start-up when the kernel has no IPVS.
var errNoIPVS = errors.New("keepalived's checker cannot initialise IPVS on this kernel")

// keepalivedConf is one virtual server with n real servers, each with a TCP_CHECK (or a
// UDP_CHECK with require_reply, or a DNS_CHECK of type A) every delay_loop. NAT keeps each
// real server's own port (with DR keepalived resets it to the virtual server's); loopback
// destinations are local addresses, which IPVS accepts.
func keepalivedConf(o options, n int) string {
	var b strings.Builder
	b.WriteString("global_defs {\n  router_id checkbench\n}\n\n")
	proto, check := "TCP", "TCP_CHECK {"
	switch o.kind {
	case "udp":
		proto, check = "UDP", "UDP_CHECK {\n      require_reply"
	case "dns":
		proto, check = "UDP", "DNS_CHECK {\n      type A\n      name "+benchName
	}
	fmt.Fprintf(&b, "virtual_server 192.0.2.100 80 {\n  delay_loop %d\n  lb_algo rr\n  lb_kind NAT\n  protocol %s\n\n",
		max(int(o.interval/time.Second), 1), proto)
	for i := range n {
		a := backendAddr(i, o.perAddr, o.basePort)
		fmt.Fprintf(&b, "  real_server %s %d {\n    weight 1\n    %s\n      connect_timeout %d\n      retry 0\n    }\n  }\n",
			a.Addr(), a.Port(), check, max(int(o.timeout/time.Second), 1))
	}
	b.WriteString("}\n")
	return b.String()
}

// runKeepalived runs keepalived's checker (keepalived -C) against n backends and measures
// its checker process: achieved checks per second (connections the listeners accepted),
// CPU and RSS.
func runKeepalived(self string, o options, n int) (row, error) {
	bin, err := exec.LookPath(o.keepalived)
	if err != nil {
		return row{}, fmt.Errorf("keepalived: %w", err)
	}
	l, err := startListener(self, o.kind, n, o.perAddr, o.basePort)
	if err != nil {
		return row{}, err
	}
	defer l.stop()

	dir, err := os.MkdirTemp("", "checkbench-keepalived-")
	if err != nil {
		return row{}, err
	}
	defer os.RemoveAll(dir)
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(keepalivedConf(o, n)), 0o644); err != nil {
		return row{}, err
	}
	checkersPid := filepath.Join(dir, "checkers.pid")
	logBuf := &lockedBuffer{}
	cmd := exec.Command(bin, "--check", "--dont-fork", "--log-console", "--use-file="+conf,
		"--pid="+filepath.Join(dir, "keepalived.pid"), "--checkers_pid="+checkersPid, "--vrrp_pid="+filepath.Join(dir, "vrrp.pid"))
	cmd.Stdout, cmd.Stderr = logBuf, logBuf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return row{}, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}()

	// The checker child writes its pid file once it runs; it exits at once without IPVS.
	var pid int
	deadline := time.Now().Add(30 * time.Second)
	for pid == 0 {
		select {
		case err := <-exited:
			exited <- err
			return row{}, keepalivedFailed(logBuf.String(), err)
		case <-time.After(50 * time.Millisecond):
		}
		if b, err := os.ReadFile(checkersPid); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Now().After(deadline) {
			return row{}, fmt.Errorf("keepalived's checker did not start within 30s:\n%s", tail(logBuf.String(), 20))
		}
	}
	// Starting takes keepalived a while at large N (each real server is added to IPVS
	// first, slowly under emulation): measure from its first checks, plus the warm-up.
	first, err := l.accepted()
	if err != nil {
		return row{}, err
	}
	for deadline := time.Now().Add(5 * time.Minute); ; {
		select {
		case err := <-exited:
			exited <- err
			return row{}, keepalivedFailed(logBuf.String(), err)
		case <-time.After(500 * time.Millisecond):
		}
		acc, err := l.accepted()
		if err != nil {
			return row{}, err
		}
		if acc > first {
			break
		}
		if time.Now().After(deadline) {
			return row{}, fmt.Errorf("keepalived made no check within 5 minutes:\n%s", tail(logBuf.String(), 20))
		}
	}
	warmup := o.warmup
	if warmup == 0 {
		warmup = 5 * time.Second
	}
	select {
	case err := <-exited:
		exited <- err
		return row{}, keepalivedFailed(logBuf.String(), err)
	case <-time.After(warmup):
	}
	if _, err := procCPU(pid); err != nil {
		return row{}, keepalivedFailed(logBuf.String(), fmt.Errorf("checker process %d gone: %w", pid, err))
	}

	downs0 := strings.Count(logBuf.String(), "Removing service")
	cpu0, _ := procCPU(pid)
	u0 := takeUsage(pid, l.proc.cmd.Process.Pid)
	acc0, err := l.accepted()
	if err != nil {
		return row{}, err
	}
	psi0, psiOK := cpuPressure()
	t0 := time.Now()
	var rssMax uint64
	for end := t0.Add(o.duration); time.Now().Before(end); {
		time.Sleep(min(time.Second, time.Until(end)))
		if rss, _, err := procMem(pid); err == nil {
			rssMax = max(rssMax, rss)
		}
	}
	u1 := takeUsage(pid, l.proc.cmd.Process.Pid)
	cpu1, err := procCPU(pid)
	if err != nil {
		return row{}, keepalivedFailed(logBuf.String(), fmt.Errorf("checker process %d gone: %w", pid, err))
	}
	acc1, err := l.accepted()
	if err != nil {
		return row{}, err
	}
	window := time.Since(t0)
	psi1, _ := cpuPressure()
	downs := strings.Count(logBuf.String(), "Removing service") - downs0
	_, hwm, _ := procMem(pid)
	r := row{
		impl:     "keepalived",
		kind:     o.kind,
		n:        n,
		interval: time.Duration(max(int(o.interval/time.Second), 1)) * time.Second,
		window:   window,
		checks:   acc1 - acc0,
		accepted: acc1 - acc0,
		downs:    uint64(downs),
		cpu:      cpu1 - cpu0,
		rssMax:   rssMax,
		hwm:      hwm,
		pressure: pressure(psi0, psi1, psiOK, window),
		usage:    u1.sub(u0),
	}
	return r, nil
}

func keepalivedFailed(log string, err error) error {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "Can't initialize ipvs") {
			return fmt.Errorf("%w: %s", errNoIPVS, strings.TrimSpace(line))
		}
	}
	return fmt.Errorf("keepalived exited (%v):\n%s", err, tail(log, 20))
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// lockedBuffer collects keepalived's console while the bench reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
