//go:build linux

package healthcheck

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestMonitorKinds runs the new kinds of check together under one Monitor on the real
// clock — UDP and DNS on the engine, SMTP, HTTP with URLs, exec with misc_dynamic and file
// on goroutines — against real servers: all come up with their weights, then each server
// fails (stopped, closed, a status, a file's content) and each target goes down once.
func TestMonitorKinds(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	echo := freeUDPPort(t)
	stopEcho := startDaemon(t, "socat", fmt.Sprintf("UDP4-RECVFROM:%d,bind=127.0.0.1,fork", echo.Port()), "PIPE")
	waitUDPListening(t, echo)
	resolver := freeUDPPort(t)
	stopDNS := dnsmasq(t, resolver)
	smtp := newSMTPServer(t, "220 ready\r\n", "250 ok\r\n", nil, false)
	var webStatus atomic.Int32
	webStatus.Store(http.StatusOK)
	web := newHTTPServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/b" {
			w.WriteHeader(int(webStatus.Load()))
		}
	}, nil)
	write("code", "12")
	write("file", "3")

	svc := func(kind string, a netip.AddrPort) ID { return ID{Service: kind, Backend: a} }
	file := netip.MustParseAddrPort("192.0.2.1:1")
	exe := netip.MustParseAddrPort("192.0.2.1:2")
	targets := []Target{
		{ID: svc("udp", echo), Checker: &UDP{Addr: echo, RequireReply: true}},
		{ID: svc("dns", resolver), Checker: &DNS{Addr: resolver, Type: dns.TypeA, Name: "up.test"}},
		{ID: svc("smtp", smtp.addr(t)), Checker: &SMTP{Addr: smtp.addr(t)}},
		{ID: svc("http", web.addr(t)), Checker: &HTTP{Addr: web.addr(t), URLs: []URL{{Path: "/a"}, {Path: "/b"}}}},
		{ID: svc("exec", exe), Checker: &Exec{Argv: []string{"/bin/sh", "-c", "exit $(cat " + filepath.Join(dir, "code") + ")"}, Dynamic: true}},
		{ID: svc("file", file), Checker: &File{Path: filepath.Join(dir, "file"), Weight: 2}},
	}
	for i := range targets {
		targets[i].Interval, targets[i].Timeout, targets[i].Rise, targets[i].Fall = 20*time.Millisecond, 5*time.Second, 1, 1
	}
	var mu sync.Mutex
	downs := map[ID]int{}
	m := NewMonitor(Options{OnTransition: func(tr Transition) {
		mu.Lock()
		defer mu.Unlock()
		if !tr.Up {
			downs[tr.Target]++
		}
	}})
	if err := m.Set(targets); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()

	allChecked := func(ok bool) func() bool {
		return func() bool {
			for _, s := range m.All() {
				if s.Checks == 0 || s.LastOK != ok || s.Up != ok {
					return false
				}
			}
			return true
		}
	}
	waitFor(t, 20*time.Second, allChecked(true))
	if s, _ := m.Stats(svc("exec", exe)); s.Weight != (Weight{WeightAbsolute, 10}) {
		t.Errorf("exec weight %v, want 10 (exit 12)", s.Weight)
	}
	if s, _ := m.Stats(svc("file", file)); s.Weight != (Weight{WeightOffset, 6}) {
		t.Errorf("file weight %v, want +6", s.Weight)
	}
	if c := m.Counters(); c.Failures != 0 {
		t.Errorf("%d failures while every server was up: %+v", c.Failures, m.All())
	}

	stopEcho.Process.Kill()
	stopDNS()
	smtp.ln.Close()
	webStatus.Store(http.StatusServiceUnavailable)
	write("code", "1")
	write("file", "-2147483648")
	waitFor(t, 20*time.Second, allChecked(false))
	mu.Lock()
	defer mu.Unlock()
	for _, tg := range targets {
		if downs[tg.ID] != 1 {
			t.Errorf("%v: %d down transitions, want 1", tg.ID, downs[tg.ID])
		}
	}
}
