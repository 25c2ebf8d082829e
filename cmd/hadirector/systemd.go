package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/hadirector/hadirector/director"
)

// sdNotify tells systemd (Type=notify) what the daemon is doing; without NOTIFY_SOCKET it
// does nothing.
func sdNotify(log *slog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("systemd notify", "err", err)
	}
}

// watchdog pings systemd's watchdog at half its interval, but only while the director's
// loop answers: a wedged loop must be restarted, not kept alive by a healthy ticker.
func watchdog(ctx context.Context, d *director.Director, log *slog.Logger) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			sctx, cancel := context.WithTimeout(ctx, interval/4)
			_, err := d.Status(sctx)
			cancel()
			if err != nil {
				log.Error("watchdog: the director loop does not answer; not pinging systemd", "err", err)
				continue
			}
			sdNotify(log, daemon.SdNotifyWatchdog)
		}
	}
}
