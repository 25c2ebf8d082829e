package e2e

import (
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestSystemdNotify runs the daemon against a fake NOTIFY_SOCKET: READY once the instances
// run, WATCHDOG pings while the loop answers, RELOADING/READY around a SIGHUP, STOPPING on
// SIGTERM.
func TestSystemdNotify(t *testing.T) {
	p := newPair(t, 150, 100, "", "")
	sockPath := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var mu sync.Mutex
	var msgs []string
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			mu.Lock()
			msgs = append(msgs, string(buf[:n]))
			mu.Unlock()
		}
	}()
	got := func(prefix string) int {
		mu.Lock()
		defer mu.Unlock()
		c := 0
		for _, m := range msgs {
			if strings.HasPrefix(m, prefix) {
				c++
			}
		}
		return c
	}
	a := p.a
	a.proc = a.h.Start(t, "hadirector-a", "env", "NOTIFY_SOCKET="+sockPath, "WATCHDOG_USEC=200000",
		a.bin, "run", "-c", a.cfg, "-state-dir", a.dir)
	eventually(t, 2*time.Second, "READY=1", func() bool { return got("READY=1") == 1 })
	eventually(t, time.Second, "watchdog pings", func() bool { return got("WATCHDOG=1") >= 3 })
	a.proc.Signal(syscall.SIGHUP)
	eventually(t, 2*time.Second, "RELOADING then READY", func() bool { return got("RELOADING=1") == 1 && got("READY=1") == 2 })
	a.proc.Signal(syscall.SIGTERM)
	eventually(t, 2*time.Second, "STOPPING=1", func() bool { return got("STOPPING=1") == 1 })
	if code, err := a.proc.Wait(3 * time.Second); err != nil || code != 0 {
		t.Fatalf("exit %d %v", code, err)
	}
}
