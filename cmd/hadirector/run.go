package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/hadirector/hadirector/config"
	"github.com/hadirector/hadirector/director"
	"github.com/hadirector/hadirector/notify"
)

func cmdRun(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	path := fs.String("c", defaultConfig, "configuration file")
	stateDir := fs.String("state-dir", "/run/hadirector", "directory for run-time state (the record of VIPs this node added)")
	level := fs.String("log-level", "", "override the configuration's log_level: debug|info|warn|error")
	format := fs.String("log-format", "", "override the configuration's log_format: text|json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if err := cfg.Runnable(*path); err != nil {
		return &exitError{2, err}
	}
	var lv slog.LevelVar
	log, err := newLogger(stderr, cfg.Global, *level, *format, &lv)
	if err != nil {
		return &exitError{2, err}
	}
	if err := checkConfigFile(*path, cfg, log); err != nil {
		return &exitError{2, err}
	}
	if err := tuneProcess(cfg.Global, log); err != nil {
		return err
	}
	d, err := director.New(director.Options{Config: cfg, ConfigPath: *path, Version: version, StateDir: *stateDir, Log: log,
		Ready: func() {
			sdNotify(log, daemon.SdNotifyReady+"\nSTATUS="+cfg.Summary())
		}})
	if err != nil {
		return err
	}
	// Every goroutine started here ends before run returns (the deferred wait runs
	// last, after stop has cancelled ctx): nothing of the daemon outlives the command.
	// The one thing that can hold them is a notify socket nobody reads (STOPPING=1 blocks
	// while its queue is full): a stopping daemon waits for it at most stopWait, then says so
	// and exits, rather than hanging a shutdown on its supervisor.
	var wg sync.WaitGroup
	defer func() {
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(stopWait):
			log.Warn("exiting without the systemd notification: its socket took nothing for "+stopWait.String(), "socket", os.Getenv("NOTIFY_SOCKET"))
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	wg.Add(3)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case sig := <-sigs:
				if sig == syscall.SIGUSR1 {
					d.LogStatus(ctx)
					continue
				}
				sdNotify(log, daemon.SdNotifyReloading+"\n"+daemon.SdNotifyMonotonicUsec())
				reload(ctx, d, *path, *level, &lv, log)
				sdNotify(log, daemon.SdNotifyReady)
			}
		}
	}()
	go func() { defer wg.Done(); watchdog(ctx, d, log) }()
	go func() {
		defer wg.Done()
		<-ctx.Done()
		sdNotify(log, daemon.SdNotifyStopping)
	}()
	log.Info("starting", "config", *path, "version", version, "mode", cfg.Mode(), "summary", cfg.Summary())
	if err := d.Run(ctx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// stopWait bounds how long a stopping daemon waits for its last systemd notification.
const stopWait = 10 * time.Second

// reload re-reads the file on SIGHUP. A file with any problem is not applied at all: every
// problem is logged and the running configuration stays as it was.
func reload(ctx context.Context, d *director.Director, path, levelFlag string, lv *slog.LevelVar, log *slog.Logger) {
	log.Info("reload requested", "config", path)
	cfg, err := config.Load(path)
	if err == nil {
		err = cfg.Runnable(path)
	}
	if err == nil {
		err = checkConfigFile(path, cfg, log)
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			log.Error("reload rejected; the running configuration is unchanged", "problem", line)
		}
		return
	}
	if err := d.Reload(ctx, cfg); err != nil {
		log.Error("reload", "err", err)
		return
	}
	if levelFlag == "" {
		lv.Set(cfg.Global.Level())
	}
	log.Info("reload applied", "mode", cfg.Mode(), "summary", cfg.Summary())
}

// checkConfigFile refuses a configuration file that others than root can change (it
// decides what runs as root) under enable_script_security, and warns about it without.
func checkConfigFile(path string, cfg *config.Config, log *slog.Logger) error {
	err := notify.CheckConfigFile(path)
	if err == nil || cfg.Global.EnableScriptSecurity {
		return err
	}
	log.Warn("configuration file is not protected; accepted because enable_script_security is off", "err", err)
	return nil
}

func newLogger(w io.Writer, g config.Global, level, format string, lv *slog.LevelVar) (*slog.Logger, error) {
	lv.Set(g.Level())
	if level != "" {
		if err := lv.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("-log-level: %w", err)
		}
	}
	if format == "" {
		format = g.LogFormat
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format: %q is not text or json", format)
}

// tuneProcess applies realtime_priority and lock_memory (keepalived's vrrp_rt_priority and
// vrrp_no_swap): with 10 ms adverts on a loaded host, a page fault or a time slice lost to
// a busy process is a missed advert and a needless failover.
func tuneProcess(g config.Global, log *slog.Logger) error {
	if g.LockMemory {
		if err := syscall.Mlockall(syscall.MCL_CURRENT | syscall.MCL_FUTURE); err != nil {
			return fmt.Errorf("lock_memory: mlockall: %w", err)
		}
		log.Info("memory locked")
	}
	if g.RealtimePriority > 0 {
		if err := setRealtime(g.RealtimePriority); err != nil {
			return fmt.Errorf("realtime_priority: %w", err)
		}
		log.Info("realtime scheduling", "policy", "SCHED_RR", "priority", g.RealtimePriority)
	}
	return nil
}

// setRealtime moves every thread of the process to SCHED_RR; threads created later
// inherit the policy from their creator.
func setRealtime(prio int) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		var tid int
		if _, err := fmt.Sscan(t.Name(), &tid); err != nil {
			continue
		}
		if err := schedSetRR(tid, prio); err != nil {
			return fmt.Errorf("sched_setscheduler(%d): %w", tid, err)
		}
	}
	return nil
}
