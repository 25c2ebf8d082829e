package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/hadirector/hadirector/config"
	"github.com/hadirector/hadirector/lvs"
	"github.com/hadirector/hadirector/notify"
	"github.com/hadirector/hadirector/vip"
)

func cmdCheck(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	path := fs.String("c", defaultConfig, "configuration file")
	host := fs.Bool("host", false, "also check this host: interfaces, hooks, IPVS")
	peer := fs.String("peer", "", "the other node's file: report every drift between the two")
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
	if *peer != "" {
		other, err := loadConfig(*peer)
		if err != nil {
			return err
		}
		if drift := config.Drift(cfg, other); len(drift) > 0 {
			for _, d := range drift {
				fmt.Fprintf(stderr, "%s vs %s: %s\n", *path, *peer, d)
			}
			return &exitError{2, fmt.Errorf("%d difference(s) between %s and %s", len(drift), *path, *peer)}
		}
		fmt.Fprintf(stdout, "%s and %s agree\n", *path, *peer)
	}
	if *host {
		if probs := checkHost(*path, cfg); len(probs) > 0 {
			for _, p := range probs {
				fmt.Fprintf(stderr, "%s: %v\n", *path, p)
			}
			return &exitError{2, fmt.Errorf("%s: %d host problem(s)", *path, len(probs))}
		}
	}
	fmt.Fprintf(stdout, "%s: ok: mode %s (%s): %s\n", *path, cfg.Mode(), cfg.Mode().Describe(), cfg.Summary())
	return nil
}

// loadConfig loads a file; an invalid file is exit code 2 with every problem listed.
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err == nil {
		return cfg, nil
	}
	var perr *config.Errors
	if errors.As(err, &perr) {
		return nil, &exitError{2, err}
	}
	if errors.Is(err, os.ErrNotExist) {
		return nil, &exitError{2, err}
	}
	return nil, err
}

// checkHost verifies what the configuration needs of this host.
func checkHost(path string, cfg *config.Config) []error {
	var probs []error
	if cfg.Global.EnableScriptSecurity {
		if err := notify.CheckConfigFile(path); err != nil {
			probs = append(probs, err)
		}
	}
	seen := map[string]bool{}
	iface := func(name, what string) {
		if name == "" || seen[name] {
			return
		}
		seen[name] = true
		if _, err := net.InterfaceByName(name); err != nil {
			probs = append(probs, fmt.Errorf("%s: interface %q: %v", what, name, err))
		}
	}
	for _, in := range cfg.Instances {
		what := fmt.Sprintf("vrrp_instance %q", in.Name)
		iface(in.Interface, what)
		if name := in.VMAC(); name != "" {
			// Start-up would refuse to take over an interface that is not its macvlan.
			if _, err := net.InterfaceByName(in.Interface); err == nil {
				if err := vip.CheckVMAC(in.Interface, name); err != nil {
					probs = append(probs, fmt.Errorf("%s: %v (set vmac_name)", what, err))
				}
			}
		}
		for _, ti := range in.TrackInterface {
			iface(ti.Name, what+" track_interface")
		}
	}
	if sd := cfg.LVS.SyncDaemon; sd != nil {
		iface(sd.Interface, "lvs.sync_daemon")
	}
	for _, h := range cfg.Hooks() {
		if err := notify.CheckHook(h.Cmd, cfg.Global.EnableScriptSecurity); err != nil {
			probs = append(probs, fmt.Errorf("%s: %v", h.Where, err))
		}
	}
	if len(cfg.Hooks()) > 0 {
		if err := notify.CheckUser(cfg.Global.ScriptUser); err != nil {
			probs = append(probs, err)
		}
	}
	if len(cfg.VirtualServers) > 0 && !lvs.HasIPVS() {
		probs = append(probs, fmt.Errorf("virtual servers are configured but the %w", lvs.ErrNoIPVS))
	}
	return probs
}
