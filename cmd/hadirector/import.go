package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hadirector/hadirector/kaimport"
)

const defaultKeepalivedConfig = "/etc/keepalived/keepalived.conf"

// cmdImport translates a keepalived configuration: the TOML goes to stdout,
// every keyword that was not translated to stderr. Exit 0 when the output is
// a valid configuration (even with untranslated keywords: they are listed,
// and repeated at the end of the output), 2 when the input cannot be read or
// nothing runnable could be translated (no output then).
func cmdImport(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	id := fs.String("i", shortHostname(), "config id for conditional lines (@ID ...), as keepalived -i")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: hadirector import [-i ID] [keepalived.conf|-] > hadirector.toml\n\n")
		fmt.Fprintf(stderr, "Translates a keepalived configuration (default %s) and the files it includes.\n", defaultKeepalivedConfig)
		fmt.Fprintf(stderr, "Scripts named without a directory are resolved in %s.\n\n", kaimport.KeepalivedPath)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{2, err}
	}
	path := defaultKeepalivedConfig
	switch fs.NArg() {
	case 0:
	case 1:
		path = fs.Arg(0)
	default:
		return usageErr("one keepalived configuration file expected, got %q", fs.Args())
	}

	opt := kaimport.Options{ConfigID: *id, LookPath: kaimport.SearchPath(kaimport.KeepalivedPath)}
	var (
		res *kaimport.Result
		err error
	)
	if path == "-" {
		data, rerr := io.ReadAll(os.Stdin)
		if rerr != nil {
			return fmt.Errorf("stdin: %w", rerr)
		}
		res, err = kaimport.Import("<stdin>", data, opt)
	} else {
		res, err = kaimport.ImportFile(path, opt)
	}
	var empty *kaimport.EmptyError
	if errors.As(err, &empty) {
		// Nothing that `check` would accept: list why, write no file.
		for _, w := range empty.Result.Warnings {
			fmt.Fprintln(stderr, w)
		}
		return &exitError{2, fmt.Errorf("%s: %w", path, err)}
	}
	if err != nil {
		var se *kaimport.SyntaxError
		if errors.As(err, &se) || errors.Is(err, kaimport.ErrInvalidOutput) || errors.Is(err, os.ErrNotExist) {
			return &exitError{2, err}
		}
		return err
	}

	if _, err := stdout.Write(res.TOML); err != nil {
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(stderr, w)
	}
	fmt.Fprintf(stderr, "%s: imported: %s; %s not translated, %s (marked \"approximate:\" in the output)\n",
		path, res.Config.Summary(), count(len(res.Warnings), "keyword", "keywords"), count(len(res.Notes), "approximation", "approximations"))
	return nil
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// shortHostname is keepalived's default config id: the host name without
// its domain.
func shortHostname() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	h, _, _ = strings.Cut(h, ".")
	return h
}
