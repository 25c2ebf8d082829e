// Command hadirector is the director daemon and its operator tools. It is thin: flags and
// subcommands; the work is in the packages.
//
// Exit codes: 0 ok, 1 runtime error, 2 usage error or invalid configuration.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/hadirector/hadirector/config"
)

// The defaults of -c and of the status socket; variables so that tests can point them
// into a temporary directory.
var (
	defaultConfig = "/etc/hadirector/hadirector.toml"
	defaultSocket = config.DefaultStatusSocket
)

// Set at build time with -ldflags "-X main.version=… -X main.commit=…" (make deb does);
// a plain go build in a checkout gets the commit from the Go toolchain (buildCommit).
var (
	version = "dev"
	commit  = "unknown"
)

// exitError carries an exit code out of a subcommand.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{2, fmt.Errorf(format, args...)}
}

// A command declares its flags on the flag set it is given and parses its arguments with
// it, so the dispatcher (for --help), the manual page and the bash completion all read the
// flags from the one place that defines them.
type command struct {
	name, summary string
	args          string // the positional arguments, for the synopsis ("" = none)
	run           func(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"run", "run the director (VRRP instances, VIPs, IPVS, checks, hooks)", "", cmdRun},
		{"check", "validate a configuration file (and, with --host, this host)", "", cmdCheck},
		{"status", "show the running daemon's state (from its status socket)", "", cmdStatus},
		{"drain", "set a real server's weight to 0 at run time: drain VIP:PORT RIP:PORT", "VIP:PORT RIP:PORT", cmdDrain("drain")},
		{"undrain", "undo drain", "VIP:PORT RIP:PORT", cmdDrain("undrain")},
		{"lvs", "print the live IPVS table like ipvsadm -Ln (--stats, --json)", "", cmdLVS},
		{"import", "translate a keepalived.conf to hadirector TOML (warnings on stderr)", "[keepalived.conf|-]", cmdImport},
		{"realserver", "real-server side of DR: VIP on lo, arp_ignore/arp_announce (up|down)", "up|down", cmdRealserver},
		{"cleanup", "remove this configuration's VIPs, vmacs and IPVS services from the host (crashed node)", "", cmdCleanup},
		{"version", "print the version, the commit and the Go version it was built with", "", cmdVersion},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: hadirector <command> [flags]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'hadirector <command> -h' for a command's flags.\n")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(newFlags(c, stderr), args[1:], stdout, stderr)
		if err == nil || errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "hadirector %s: %v\n", c.name, err)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	fmt.Fprintf(stderr, "hadirector: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

// newFlags returns c's flag set: parse errors become usage errors (exit 2), and -h prints
// the synopsis, the summary and every flag.
func newFlags(c command, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("hadirector "+c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s\n\n%s\n", synopsis(c), c.summary)
		if hasFlags(fs) {
			fmt.Fprintf(fs.Output(), "\nflags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// synopsis is a command's usage line: "hadirector drain [flags] VIP:PORT RIP:PORT".
func synopsis(c command) string {
	s := "hadirector " + c.name
	if c.name == "realserver" {
		// The verb comes before the flags.
		return s + " " + c.args + " [flags]"
	}
	s += " [flags]"
	if c.args != "" {
		s += " " + c.args
	}
	return s
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{2, err}
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected arguments: %v", fs.Args())
	}
	return nil
}

func cmdVersion(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c := commit
	if c == "unknown" {
		if info, ok := debug.ReadBuildInfo(); ok {
			c = buildCommit(info.Settings, c)
		}
	}
	fmt.Fprintf(stdout, "hadirector %s\ncommit %s\n%s %s/%s\n", version, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

// buildCommit is the commit the Go toolchain stamped into the binary (vcs.revision, with
// "-dirty" when the tree had changes), or def when it stamped none (go run, -buildvcs=false).
func buildCommit(settings []debug.BuildSetting, def string) string {
	var rev, dirty string
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return def
	}
	return rev + dirty
}
