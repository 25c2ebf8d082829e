package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/hadirector/hadirector/internal/manpage"
	"github.com/hadirector/hadirector/internal/privtest"
)

// The manual page and the bash completion are generated from the command table and the
// flags each command declares; the package ships the files checked in under packaging/,
// and these tests fail when a command or flag changes without them:
//
//	go test ./cmd/hadirector -run 'TestManual|TestCompletion' -update
var update = flag.Bool("update", false, "rewrite packaging/hadirector.8 and packaging/hadirector.bash")

const (
	manualFile     = "../../packaging/hadirector.8"
	completionFile = "../../packaging/hadirector.bash"
)

// flagsOf is the flag set c declares: c run with -h stops at its flag parsing.
func flagsOf(t *testing.T, c command) []*flag.Flag {
	t.Helper()
	fs := newFlags(c, io.Discard)
	if err := c.run(fs, []string{"-h"}, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("hadirector %s -h: %v, want flag.ErrHelp", c.name, err)
	}
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	return flags
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// TestHelpListsFlags: --help of every command exits 0 and names each of its flags.
func TestHelpListsFlags(t *testing.T) {
	for _, c := range commands() {
		code, out, errOut := runCmd(c.name, "--help")
		if code != 0 || !strings.Contains(errOut, "usage: hadirector "+c.name+" ") {
			t.Errorf("hadirector %s --help: exit %d\nstdout: %s\nstderr: %s", c.name, code, out, errOut)
		}
		for _, f := range flagsOf(t, c) {
			if !strings.Contains(errOut, "  -"+f.Name) {
				t.Errorf("hadirector %s --help does not list -%s:\n%s", c.name, f.Name, errOut)
			}
		}
	}
}

func TestVersion(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	version, commit = "1.2.3+git4.gabcdef0", "abcdef0123"
	code, out, _ := runCmd("version")
	want := fmt.Sprintf("hadirector 1.2.3+git4.gabcdef0\ncommit abcdef0123\n%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if code != 0 || out != want {
		t.Errorf("version: exit %d\n%q\nwant\n%q", code, out, want)
	}
}

// manual is hadirector(8).
func manual(t *testing.T) string {
	t.Helper()
	B, I, T := manpage.B, manpage.I, manpage.T
	p := manpage.New("hadirector", 8, "hadirector", "System Administration")
	p.Section("name")
	p.Para(`hadirector \- VRRP and LVS director for Linux (a keepalived replacement)`)
	p.Section("synopsis")
	p.Para(B("hadirector") + " " + I("command") + " [" + I("flags") + "] [" + I("arguments") + "]")
	p.Section("description")
	p.Para(T("hadirector runs the VRRP instances of a pair of LVS directors, claims their virtual addresses on the master, "+
		"programs IPVS there from the virtual servers whose real servers pass their health checks, and runs notify hooks. "+
		"Its configuration file is described in ") + B("hadirector.toml") + "(5). " +
		T("Flags take one dash or two (-c or --c); ") + B("hadirector") + " " + I("command") + " " + B("-h") + T(" lists a command's flags."))
	p.Section("commands")
	for _, c := range commands() {
		syn := " [" + I("flags") + "]"
		switch {
		case c.name == "realserver":
			syn = " " + T(c.args) + syn
		case c.args != "":
			syn += " " + T(c.args)
		}
		p.Subsection(B("hadirector "+c.name) + syn)
		p.Para(T(c.summary) + ".")
		for _, f := range flagsOf(t, c) {
			name, usage := flag.UnquoteUsage(f)
			tag := B("-" + f.Name)
			if !isBool(f) {
				tag += " " + I(name)
			}
			switch {
			case f.DefValue == shortHostname() && f.DefValue != "":
				usage += " (default: the host name without its domain)" // not this host's name
			case f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0":
				usage += " (default " + f.DefValue + ")"
			}
			p.Item(tag, T(usage)+".")
		}
	}
	p.Section("signals")
	p.Item(B("SIGHUP"), T("Re-read the configuration file and apply it; a file with any problem is not applied (every problem is logged), and the running configuration stays."))
	p.Item(B("SIGTERM")+", "+B("SIGINT"), T("Stop: send priority 0 adverts, remove the virtual addresses, withdraw IPVS, run notify_stop hooks, and exit."))
	p.Item(B("SIGUSR1"), T("Log the state of every instance, sync group and virtual server (what hadirector status prints)."))
	p.Section("exit status")
	p.Item(B("0"), T("Success."))
	p.Item(B("1"), T("A run-time error (a socket, the kernel, the status socket)."))
	p.Item(B("2"), T("A usage error, or an invalid configuration file (every problem is listed on standard error, each with FILE:LINE: KEY)."))
	p.Section("files")
	p.Item(B(defaultConfig), T("The configuration file (-c)."))
	p.Item(B(defaultSocket), T("The status socket that status, drain and undrain talk to (status_socket)."))
	p.Item(B("/run/hadirector/"), T("Run-time state (-state-dir): the record of the addresses this node added, which cleanup reads after a crash."))
	p.Item(B("/lib/systemd/system/hadirector.service"), T("The systemd unit (Type=notify, with a watchdog; cleanup runs after every stop)."))
	p.Item(B("/etc/modules-load.d/hadirector-ipvs.conf"), T("Loads ip_vs and its schedulers at boot (the unit cannot load modules)."))
	p.Item(B("/usr/share/doc/hadirector/examples/"), T("The configuration of a two-director DR pair and a notify script."))
	p.Section("environment")
	p.Item(B("NOTIFY_SOCKET")+", "+B("WATCHDOG_USEC"), T("Set by systemd: run reports READY, RELOADING and STOPPING, and pings the watchdog while its protocol loop answers."))
	p.Section("see also")
	p.Para(B("hadirector.toml") + "(5), " + B("keepalived") + "(8), " + B("ipvsadm") + "(8), " + B("systemctl") + "(1)")
	return p.String()
}

// completion is the bash completion: the commands, each command's flags, file names after
// a flag that takes a value and for import's file, and up|down after realserver.
func completion(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# bash completion for hadirector; generated by go test ./cmd/hadirector -update, do not edit.\n")
	b.WriteString("_hadirector() {\n")
	b.WriteString("\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd=${COMP_WORDS[1]}\n")
	b.WriteString("\tlocal IFS=$'\\n'\n")
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	fmt.Fprintf(&b, "\tif [ \"$COMP_CWORD\" -eq 1 ]; then\n\t\tCOMPREPLY=($(compgen -W \"$(printf '%%s\\n' %s)\" -- \"$cur\"))\n\t\treturn\n\tfi\n", strings.Join(names, " "))
	b.WriteString("\tcase $cmd in\n")
	for _, c := range commands() {
		var all, valued []string
		for _, f := range flagsOf(t, c) {
			all = append(all, "-"+f.Name)
			if !isBool(f) {
				valued = append(valued, "-"+f.Name, "--"+f.Name)
			}
		}
		all = append(all, "-h")
		fmt.Fprintf(&b, "\t%s)\n", c.name)
		if len(valued) > 0 {
			fmt.Fprintf(&b, "\t\tcase $prev in %s) COMPREPLY=($(compgen -f -- \"$cur\")); return ;; esac\n", strings.Join(valued, "|"))
		}
		switch c.name {
		case "realserver":
			b.WriteString("\t\tif [ \"$COMP_CWORD\" -eq 2 ]; then COMPREPLY=($(compgen -W \"$(printf '%s\\n' up down)\" -- \"$cur\")); return; fi\n")
		case "import":
			b.WriteString("\t\tcase $cur in -*) ;; *) COMPREPLY=($(compgen -f -- \"$cur\")); return ;; esac\n")
		}
		fmt.Fprintf(&b, "\t\tCOMPREPLY=($(compgen -W \"$(printf '%%s\\n' %s)\" -- \"$cur\"))\n\t\t;;\n", strings.Join(all, " "))
	}
	b.WriteString("\tesac\n}\ncomplete -o filenames -F _hadirector hadirector\n")
	return b.String()
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil || string(want) != got {
		t.Fatalf("%s is not what the commands generate (%v): go test ./cmd/hadirector -run 'TestManual|TestCompletion' -update", path, err)
	}
}

// TestManual: the page lists every command and flag, is the checked-in one, and renders
// without a warning.
func TestManual(t *testing.T) {
	page := manual(t)
	for _, c := range commands() {
		if !strings.Contains(page, ".SS \\fBhadirector "+c.name+"\\fR") {
			t.Errorf("hadirector(8) has no section for %s", c.name)
		}
		for _, f := range flagsOf(t, c) {
			if !strings.Contains(page, ".TP\n\\fB"+manpage.T("-"+f.Name)+"\\fR") {
				t.Errorf("hadirector(8) does not list %s -%s", c.name, f.Name)
			}
		}
	}
	golden(t, manualFile, page)
	manpage.CheckRenders(t, manualFile)
}

// TestCompletion runs the completion in bash: commands, flags, file names after -c.
func TestCompletion(t *testing.T) {
	script := completion(t)
	golden(t, completionFile, script)
	bash := privtest.Tool(t, "bash")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "node-a.toml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		words []string
		want  []string
	}{
		{[]string{"hadirector", "ch"}, []string{"check"}},
		{[]string{"hadirector", ""}, []string{"run", "check", "status", "version"}},
		{[]string{"hadirector", "check", "-"}, []string{"-c", "-host", "-peer", "-h"}},
		{[]string{"hadirector", "check", "-c", filepath.Join(dir, "no")}, []string{filepath.Join(dir, "node-a.toml")}},
		{[]string{"hadirector", "realserver", ""}, []string{"up", "down"}},
		{[]string{"hadirector", "import", filepath.Join(dir, "n")}, []string{filepath.Join(dir, "node-a.toml")}},
		{[]string{"hadirector", "run", "-st"}, []string{"-state-dir"}},
	} {
		var words []string
		for _, w := range tc.words {
			words = append(words, fmt.Sprintf("%q", w))
		}
		prog := script + fmt.Sprintf("COMP_WORDS=(%s); COMP_CWORD=%d; _hadirector; printf '%%s\\n' \"${COMPREPLY[@]}\"\n", strings.Join(words, " "), len(tc.words)-1)
		out, err := exec.Command(bash, "--norc", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", tc.words, err, out)
		}
		got := strings.Fields(string(out))
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("completing %q: %q lacks %q", tc.words, got, w)
			}
		}
		if tc.words[1] == "ch" && len(got) != 1 {
			t.Errorf("completing %q: %q", tc.words, got)
		}
	}
}

func TestBuildCommit(t *testing.T) {
	for _, tc := range []struct {
		settings []debug.BuildSetting
		want     string
	}{
		{nil, "unknown"},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "false"}}, "abc123"},
		{[]debug.BuildSetting{{Key: "vcs.modified", Value: "true"}, {Key: "vcs.revision", Value: "abc123"}}, "abc123-dirty"},
	} {
		if got := buildCommit(tc.settings, "unknown"); got != tc.want {
			t.Errorf("buildCommit(%v) = %q, want %q", tc.settings, got, tc.want)
		}
	}
}
