//go:build linux

package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/hadirector/hadirector/healthcheck"
)

// checker is the check of one backend for the kind of o.
func checker(o options, addr netip.AddrPort) healthcheck.Checker {
	switch o.kind {
	case "udp":
		return &healthcheck.UDP{Addr: addr, RequireReply: true, Timeout: o.timeout}
	case "dns":
		return &healthcheck.DNS{Addr: addr, Type: dns.TypeA, Name: benchName, Timeout: o.timeout}
	}
	return &healthcheck.TCP{Addr: addr, Timeout: o.timeout}
}

// runOurs checks n backends with healthcheck.Monitor in this process.
func runOurs(self string, o options, n int) (row, error) {
	l, err := startListener(self, o.kind, n, o.perAddr, o.basePort)
	if err != nil {
		return row{}, err
	}
	defer l.stop()
	// Start from a clean heap so runs for different N do not inherit each other's garbage.
	runtime.GC()

	targets := make([]healthcheck.Target, n)
	for i := range targets {
		addr := backendAddr(i, o.perAddr, o.basePort)
		targets[i] = healthcheck.Target{
			ID:       healthcheck.ID{Service: "192.0.2.100:80/" + o.kind, Backend: addr},
			Checker:  checker(o, addr),
			Interval: o.interval,
			Timeout:  o.timeout,
			Rise:     1,
			Fall:     3,
		}
	}
	var (
		measuring atomic.Bool
		mu        sync.Mutex
		h         hist
		fails     uint64
		firstErr  string
	)
	var downs atomic.Uint64
	m := healthcheck.NewMonitor(healthcheck.Options{
		MaxConcurrent: o.maxConcurrent,
		OnTransition: func(tr healthcheck.Transition) {
			if !tr.Up && measuring.Load() {
				downs.Add(1)
			}
		},
		OnResult: func(r healthcheck.Result) {
			if !measuring.Load() {
				return
			}
			mu.Lock()
			h.add(r.Started.Sub(r.Scheduled))
			if r.Err != nil {
				fails++
				if firstErr == "" {
					firstErr = r.Err.Error()
				}
			}
			mu.Unlock()
		},
	})
	if err := m.Set(targets); err != nil {
		return row{}, err
	}
	targets = nil
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()

	warmup := o.warmup
	if warmup == 0 {
		warmup = 2 * o.interval
	}
	time.Sleep(warmup)

	c0, cpu0, u0 := m.Counters(), selfCPU(), takeUsage(0, l.proc.cmd.Process.Pid)
	acc0, err := l.accepted()
	if err != nil {
		return row{}, err
	}
	psi0, psiOK := cpuPressure()
	t0 := time.Now()
	measuring.Store(true)
	var rssMax uint64
	var ms runtime.MemStats
	for end := t0.Add(o.duration); time.Now().Before(end); {
		time.Sleep(min(time.Second, time.Until(end)))
		if rss, _, err := procMem(0); err == nil {
			rssMax = max(rssMax, rss)
		}
		if o.verbose {
			runtime.ReadMemStats(&ms)
			c := m.Counters()
			rss, _, _ := procMem(0)
			fmt.Fprintf(os.Stderr, "  rss %.1f MiB: heap inuse %.1f idle %.1f released %.1f, stacks %.1f, sys %.1f MiB; goroutines %d, checks in flight %d\n",
				mib(rss), mib(ms.HeapInuse), mib(ms.HeapIdle), mib(ms.HeapReleased), mib(ms.StackSys), mib(ms.Sys), runtime.NumGoroutine(), c.InFlight)
		}
	}
	measuring.Store(false)
	c1, cpu1, u1 := m.Counters(), selfCPU(), takeUsage(0, l.proc.cmd.Process.Pid)
	window := time.Since(t0)
	psi1, _ := cpuPressure()
	acc1, err := l.accepted()
	if err != nil {
		return row{}, err
	}
	_, hwm, _ := procMem(0)
	mu.Lock()
	defer mu.Unlock()
	if c1.Checks == c0.Checks {
		return row{}, fmt.Errorf("no checks completed in the window")
	}
	return row{
		impl:     "hadirector",
		kind:     o.kind,
		n:        n,
		interval: o.interval,
		window:   window,
		checks:   c1.Checks - c0.Checks,
		accepted: acc1 - acc0,
		failures: fails,
		downs:    downs.Load(),
		limit:    c1.Limit,
		missed:   c1.Missed - c0.Missed,
		overruns: c1.Overruns - c0.Overruns,
		p50:      h.quantile(0.50),
		p99:      h.quantile(0.99),
		max:      h.max,
		lateness: true,
		cpu:      cpu1 - cpu0,
		rssMax:   rssMax,
		hwm:      hwm,
		firstErr: firstErr,
		usage:    u1.sub(u0),
		pressure: pressure(psi0, psi1, psiOK, window),
	}, nil
}
