package director

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/hadirector/hadirector/internal/leakcheck"
)

// TestServersJoinWorkers: the status and metrics servers belong to the director's
// workers: once the workers' context is cancelled and they have been waited for (as Run
// does before it returns), the status socket is gone and the metrics port is free, with
// nothing of either server still running. Each of 20 cycles checks at once.
func TestServersJoinWorkers(t *testing.T) {
	sockPath := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	base := leakcheck.Take()
	for i := range 20 {
		d := &Director{log: slog.New(slog.DiscardHandler)}
		ctx, cancel := context.WithCancel(context.Background())
		if err := d.serveStatus(ctx, sockPath); err != nil {
			t.Fatal(err)
		}
		if err := d.serveMetrics(ctx, addr); err != nil {
			t.Fatal(err)
		}
		cancel()
		d.wg.Wait()
		_, statErr := os.Stat(sockPath)
		l, listenErr := net.Listen("tcp", addr)
		if l != nil {
			l.Close()
		}
		if !os.IsNotExist(statErr) || listenErr != nil {
			t.Fatalf("cycle %d, the workers waited for: status socket: %v; metrics port: %v", i, statErr, listenErr)
		}
	}
	base.Verify(t)
}
