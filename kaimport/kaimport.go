// Package kaimport owns the translation of a keepalived configuration
// (keepalived.conf and the files it includes) into hadirector's TOML schema.
//
// It reads keepalived's syntax the way keepalived 2.2 does: '#' and '!'
// comments, "quoted strings", '{' and '}' wherever they appear outside quotes,
// include (and includer, includem, …) with globs and brace expansion relative
// to the including file, conditional lines (@ID, @^ID) and $NAME=value
// definitions. The translation follows keepalived's effective behaviour rather
// than its spelling: keepalived's defaults (NAT forwarding, UDP, delay_loop 60s,
// VRRPv2) are written out explicitly, and its silent corrections (nopreempt
// cleared by state MASTER, weighted tracks zeroed or dropped in sync groups, real server
// ports reset under DR) are applied and commented.
//
// Every keyword that has no equivalent is reported as a Warning with its file
// and line; every value that only approximates keepalived's behaviour carries a
// "# approximate:" comment in the output and is listed in Result.Notes. The
// output always passes config.Parse, because config decides what stands: each
// translated element is checked with config's own rules (config.Checker) against
// the elements kept before it, and what config refuses is left out with a warning
// quoting config (a part of the element when config's problem names one, an
// address or a real server, say; else the element). When that leaves nothing to
// run (no instance and no virtual server), Import returns an *EmptyError instead,
// since `hadirector check` refuses such a file.
//
// Decisions worth knowing:
//
//   - state MASTER/BACKUP has no equivalent: the highest priority is master.
//     It is written as a comment; its one effect in keepalived that survives
//     is applied (with state MASTER, keepalived clears nopreempt and
//     preempt_delay, so the translation preempts too).
//   - Check timing: interval = delay_loop, timeout = connect_timeout (or
//     misc_timeout), rise = 1, fall = retry + 1 (keepalived's first failure
//     plus its retries), delay_before_retry as it is when it is shorter than
//     delay_loop (a longer one is the next regular check, commented).
//   - Every checker of a real server is translated: the first is its check,
//     the others its [[checks]]; like keepalived, the real server is up only
//     while all pass.
//   - Hooks are argv, as in keepalived 2: the first word after the keyword is
//     the command line, the next ones are keepalived's user and group (not
//     arguments). A program without a directory is resolved with
//     Options.LookPath, since hadirector runs hooks without $PATH.
//   - track_script and track_file weights per instance become copies of the
//     vrrp_script or track_file with that weight; a track file's reverse
//     becomes a negative weight, a script's (its own or the track's) and a
//     tracked interface's reverse become reverse = true on the track.
//   - lvs_sync_daemon (or an instance's lvs_sync_daemon_interface, whichever
//     keepalived reads first) becomes [lvs.sync_daemon], which hadirector
//     accepts only with a virtual_server: without one it is left out.
//   - A virtual_server_group becomes one virtual server per address or
//     fwmark (up to 256 per group).
package kaimport

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hadirector/hadirector/config"
)

// Options control an import. The zero value reads included files from the
// operating system and does not resolve bare program names.
type Options struct {
	// ConfigID is keepalived's -i: lines starting "@ID " are kept only when
	// ID matches, lines starting "@^ID " only when it does not. keepalived's
	// default is the host name without its domain; empty matches no ID.
	ConfigID string
	// LookPath resolves a program named without a slash, as keepalived does
	// by searching its PATH when it loads the configuration. nil leaves such
	// hooks untranslated (hadirector runs hooks without $PATH).
	LookPath func(name string) (string, error)
	// ReadFile and Glob give access to included files; nil means os.ReadFile
	// and filepath.Glob.
	ReadFile func(name string) ([]byte, error)
	Glob     func(pattern string) ([]string, error)
}

func (o *Options) readFile(name string) ([]byte, error) {
	if o.ReadFile != nil {
		return o.ReadFile(name)
	}
	return os.ReadFile(name)
}

func (o *Options) glob(pattern string) ([]string, error) {
	if o.Glob != nil {
		return o.Glob(pattern)
	}
	return filepath.Glob(pattern)
}

// Result is a successful import.
type Result struct {
	// TOML is the hadirector configuration; it passes config.Parse.
	TOML []byte
	// Config is TOML as config.Parse returned it.
	Config *config.Config
	// Warnings lists what was not translated, in file order.
	Warnings []Warning
	// Notes lists the approximations, each also a comment in TOML.
	Notes []Note
	// Files are the files read: the main file first, then every included one.
	Files []string
}

// Warning is a keyword the importer did not translate, or an element it had to
// leave out (Keyword is then the element's first word).
type Warning struct {
	File    string
	Line    int
	Context string // the enclosing blocks, e.g. "vrrp_instance VI_1 > track_interface"
	Keyword string
	Reason  string
}

// String formats the warning as FILE:LINE: CONTEXT: keyword "K" not translated: REASON.
func (w Warning) String() string {
	return position(w.File, w.Line, w.Context) + fmt.Sprintf("keyword %q not translated: %s", w.Keyword, w.Reason)
}

// Note is a value that only approximates keepalived's behaviour.
type Note struct {
	File    string
	Line    int
	Context string
	Text    string
}

// String formats the note as FILE:LINE: CONTEXT: approximate: TEXT.
func (n Note) String() string {
	return position(n.File, n.Line, n.Context) + "approximate: " + n.Text
}

func position(file string, line int, context string) string {
	var b strings.Builder
	b.WriteString(file)
	if line > 0 {
		fmt.Fprintf(&b, ":%d", line)
	}
	b.WriteString(": ")
	if context != "" {
		b.WriteString(context)
		b.WriteString(": ")
	}
	return b.String()
}

// SyntaxError means the input is not a configuration keepalived could read:
// unbalanced braces or quotes, an include loop, an unreadable included file.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// ErrInvalidOutput is wrapped by the error Import returns when the TOML it
// generated does not pass config.Parse. That is a bug in the importer: the
// error carries config's problems and the generated text.
var ErrInvalidOutput = errors.New("kaimport: the generated configuration does not pass config.Parse")

// OutputError is the error wrapping ErrInvalidOutput.
type OutputError struct {
	TOML []byte
	Err  error // the *config.Errors
}

func (e *OutputError) Error() string {
	return fmt.Sprintf("%v (please report it with the keepalived configuration):\n%v", ErrInvalidOutput, e.Err)
}

func (e *OutputError) Unwrap() []error { return []error{ErrInvalidOutput, e.Err} }

// EmptyError is the error Import returns when nothing hadirector could run
// was translated (no vrrp_instance and no virtual_server stood): `hadirector
// check` and `run` refuse such a file. Result holds the translation and the
// warnings that say why each element was left out. It wraps
// config.ErrNothingToRun.
type EmptyError struct {
	Result *Result
}

func (e *EmptyError) Error() string {
	return "kaimport: nothing to run: no vrrp_instance and no virtual_server could be translated (hadirector check refuses such a file)"
}

func (e *EmptyError) Unwrap() error { return config.ErrNothingToRun }

// ImportFile reads the keepalived configuration at path (and its includes)
// and translates it.
func ImportFile(path string, opt Options) (*Result, error) {
	data, err := opt.readFile(path)
	if err != nil {
		return nil, fmt.Errorf("kaimport: %w", err)
	}
	return Import(path, data, opt)
}

// Import translates the keepalived configuration data; name is its file name,
// used in warnings and to resolve relative includes.
func Import(name string, data []byte, opt Options) (res *Result, err error) {
	// A bug must not take down the command with a stack trace: report it
	// like any other problem. (The fuzz test calls importData and sees it.)
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("kaimport: internal error, please report it with the keepalived configuration: %v", p)
		}
	}()
	return importData(name, data, opt)
}

func importData(name string, data []byte, opt Options) (*Result, error) {
	rd := newReader(&opt)
	nodes, err := rd.parse(name, data)
	if err != nil {
		return nil, err
	}
	tr := newTranslator(&opt, rd)
	tr.translate(nodes)
	tr.sortWarnings()
	out := tr.render(name)
	cfg, err := config.Parse(name, out)
	if err != nil {
		return nil, &OutputError{TOML: out, Err: err}
	}
	res := &Result{
		TOML:     out,
		Config:   cfg,
		Warnings: tr.warnings,
		Notes:    tr.notes,
		Files:    rd.files,
	}
	if cfg.Mode() == config.ModeEmpty {
		return nil, &EmptyError{Result: res}
	}
	return res, nil
}

// KeepalivedPath is the PATH keepalived runs with under systemd; keepalived
// searches it for scripts named without a directory.
const KeepalivedPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// SearchPath returns a LookPath for Options that finds an executable regular
// file in the colon-separated directories of path on this host, as
// keepalived's own search does when it loads its configuration.
func SearchPath(path string) func(name string) (string, error) {
	return func(name string) (string, error) {
		for _, dir := range filepath.SplitList(path) {
			if !filepath.IsAbs(dir) {
				continue
			}
			p := filepath.Join(dir, name)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
				return p, nil
			}
		}
		return "", fmt.Errorf("kaimport: %s: %w", name, os.ErrNotExist)
	}
}
