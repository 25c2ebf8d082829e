package main

import (
	"flag"
	"io"

	"github.com/hadirector/hadirector/director"
	"github.com/hadirector/hadirector/lvs"
)

// cmdLVS prints the live IPVS table like `ipvsadm -Ln` (--stats, --exact, --json).
func cmdLVS(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	path := fs.String("c", "", "configuration file: marks our services in --json")
	stats := fs.Bool("stats", false, "counters instead of weights and connections (ipvsadm --stats)")
	exact := fs.Bool("exact", false, "counters in full (ipvsadm --exact)")
	asJSON := fs.Bool("json", false, "JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	opts := lvs.FormatOptions{Stats: *stats, Exact: *exact, JSON: *asJSON}
	if *path != "" {
		cfg, err := loadConfig(*path)
		if err != nil {
			return err
		}
		m, err := lvs.FromSpec(director.LVSSpec(cfg), nil, nil)
		if err != nil {
			return err
		}
		opts.Owned = m.Owns
	}
	k, err := lvs.OpenIPVS(lvs.IPVSOptions{NoModprobe: true})
	if err != nil {
		return err
	}
	defer k.Close()
	if opts.Info, err = k.Info(); err != nil {
		return err
	}
	t, st, err := k.Snapshot()
	if err != nil {
		return err
	}
	if to, err := k.Timeouts(); err == nil {
		opts.Timeouts = &to
	}
	return lvs.Format(stdout, t, st, opts)
}
