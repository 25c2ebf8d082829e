package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/hadirector/hadirector/director"
)

func cmdCleanup(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	path := fs.String("c", defaultConfig, "configuration file")
	stateDir := fs.String("state-dir", "/run/hadirector", "directory for run-time state")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	removed, err := director.Cleanup(cfg, *stateDir, log)
	for _, p := range removed {
		fmt.Fprintf(stdout, "removed %s\n", p)
	}
	return err
}
