//go:build debtest

package main

// The package on this host (make test-deb): it installs, upgrades, removes and purges
// hadirector with dpkg, so it runs only where the machine is disposable — as root, under the
// debtest tag. Without root or the tools it skips, and fails under HADIRECTOR_REQUIRE_PRIV=1.

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hadirector/hadirector/internal/manpage"
	"github.com/hadirector/hadirector/internal/privtest"
)

// The trees a package can write to; the file lists compared before and after come from
// these. (/lib is /usr/lib on a merged-/usr system: both are walked, duplicates are fine.)
var roots = []string{"/etc", "/lib/systemd", "/usr/lib/systemd", "/usr/sbin", "/usr/share/doc", "/usr/share/man",
	"/usr/share/bash-completion", "/usr/share/lintian/overrides", "/var/lib/systemd", "/run/hadirector"}

// What dpkg -r keeps, as Debian does for keepalived: the conffiles, and the unit's
// enablement (deb-systemd-helper's symlink and state), which dpkg -P removes.
var keptAfterRemove = []string{
	"/etc/hadirector",
	"/etc/hadirector/hadirector.toml",
	"/etc/modules-load.d/hadirector-ipvs.conf",
	"/etc/systemd/system/multi-user.target.wants/hadirector.service",
	"/var/lib/systemd/deb-systemd-helper-enabled/hadirector.service.dsh-also",
	"/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/hadirector.service",
}

func TestDebPackage(t *testing.T) {
	privtest.Root(t)
	for _, tool := range []string{"dpkg", "dpkg-deb", "lintian", "systemd-analyze", "man", "groff", "git"} {
		privtest.Tool(t, tool)
	}
	if out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", "hadirector").Output(); err == nil && strings.Contains(string(out), "installed") {
		t.Logf("hadirector is installed (%s): purging it first", out)
		run(t, "dpkg", "-P", "hadirector")
	}
	dir := t.TempDir()
	first, err := build(options{repo: "../../..", out: dir, version: "0.0.0+debtest1"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := build(options{repo: "../../..", out: dir, version: "0.0.0+debtest2"})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(first) != "hadirector_0.0.0+debtest1_amd64.deb" {
		t.Errorf("package file %s", first)
	}

	// lintian: no error and no warning (the one static-binary tag is overridden, with the
	// reason, in /usr/share/lintian/overrides/hadirector).
	out := run(t, "lintian", "--tag-display-limit", "0", first)
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "E: ") || strings.HasPrefix(l, "W: ") {
			t.Errorf("lintian: %s", l)
		}
	}
	t.Logf("lintian %s: %q", filepath.Base(first), out)

	// Paths that are the package's: what it ships, and anything named hadirector (the
	// enablement, the run state). Other processes may change the rest of /etc meanwhile.
	ships := map[string]bool{}
	listing := run(t, "sh", "-c", "dpkg-deb --fsys-tarfile "+first+" | tar -t")
	for _, l := range strings.Split(listing, "\n") {
		if p := strings.TrimSuffix(strings.TrimPrefix(l, "."), "/"); p != "" {
			ships[p], ships["/usr"+p] = true, true // /lib is /usr/lib on a merged-/usr system
		}
	}
	ours := func(paths map[string]bool) map[string]bool {
		for p := range paths {
			if !ships[p] && !strings.Contains(p, "hadirector") {
				delete(paths, p)
			}
		}
		return paths
	}
	snap := func() map[string]bool { return ours(snapshot(t)) }
	before := snap()
	t.Logf("package paths present before install: %d (of %d shipped)", len(before), len(ships)/2)
	run(t, "dpkg", "-i", first)
	installed := diff(before, snap())
	t.Logf("files after dpkg -i (%d new):\n%s", len(installed), strings.Join(installed, "\n"))
	for _, f := range []string{"/usr/sbin/hadirector", "/lib/systemd/system/hadirector.service", "/etc/hadirector/hadirector.toml",
		"/etc/modules-load.d/hadirector-ipvs.conf", "/usr/share/man/man8/hadirector.8.gz", "/usr/share/man/man5/hadirector.toml.5.gz",
		"/usr/share/bash-completion/completions/hadirector", "/usr/share/doc/hadirector/copyright", "/usr/share/doc/hadirector/README.md.gz",
		"/usr/share/doc/hadirector/examples/notify.sh",
		// Enabled on install, not started: the shipped file is an example to edit first.
		"/etc/systemd/system/multi-user.target.wants/hadirector.service"} {
		if !slices.Contains(installed, f) && !slices.Contains(installed, "/usr"+f) {
			t.Errorf("dpkg -i did not install %s", f)
		}
	}
	if got := run(t, "/usr/sbin/hadirector", "version"); !strings.HasPrefix(got, "hadirector 0.0.0+debtest1\ncommit ") {
		t.Errorf("hadirector version: %q", got)
	}
	// systemd-analyze verify works without systemd running: it loads the unit, checks every
	// directive, that each command is executable and that the man pages it names exist.
	if out, err := exec.Command("systemd-analyze", "verify", "/lib/systemd/system/hadirector.service").CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	if got := run(t, "/usr/sbin/hadirector", "check", "-c", "/etc/hadirector/hadirector.toml"); !strings.Contains(got, ": ok: mode vrrp") {
		t.Errorf("check of the shipped conffile: %q", got)
	}
	// The man pages, as man finds them installed: they render without a warning.
	for _, page := range []string{"/usr/share/man/man8/hadirector.8.gz", "/usr/share/man/man5/hadirector.toml.5.gz"} {
		plain := filepath.Join(dir, strings.TrimSuffix(filepath.Base(page), ".gz"))
		if err := os.WriteFile(plain, []byte(run(t, "zcat", page)), 0o644); err != nil {
			t.Fatal(err)
		}
		manpage.CheckRenders(t, plain)
	}
	if got := run(t, "man", "-w", "hadirector.toml"); strings.TrimSpace(got) != "/usr/share/man/man5/hadirector.toml.5.gz" {
		t.Errorf("man -w hadirector.toml: %q", got)
	}

	// Upgrade: an edited conffile stays as the administrator left it, with no question
	// asked (dpkg gets no terminal; a prompt would fail the install).
	conf := "/etc/hadirector/hadirector.toml"
	edited := strings.Replace(read(t, conf), `log_level = "info"`, `log_level = "debug"   # edited before the upgrade`, 1)
	if err := os.WriteFile(conf, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "dpkg", "-i", second)
	if got := read(t, conf); got != edited {
		t.Errorf("the upgrade replaced the edited conffile:\n%s", got)
	}
	if got := run(t, "/usr/sbin/hadirector", "version"); !strings.HasPrefix(got, "hadirector 0.0.0+debtest2\n") {
		t.Errorf("after the upgrade, hadirector version: %q", got)
	}

	// Run-time state as the unit leaves it (RuntimeDirectoryPreserve=yes); purge removes it.
	if err := os.MkdirAll("/run/hadirector", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("/run/hadirector/test-state", []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}

	run(t, "dpkg", "-r", "hadirector")
	left := diff(before, snap())
	t.Logf("files after dpkg -r (%d left):\n%s", len(left), strings.Join(left, "\n"))
	// /run/hadirector is the daemon's (cleanup in prerm rewrites its record there): it
	// stays until purge or reboot, like the unit's RuntimeDirectoryPreserve=yes.
	left = slices.DeleteFunc(left, func(p string) bool { return p == "/run/hadirector" || strings.HasPrefix(p, "/run/hadirector/") })
	if !slices.Equal(left, keptAfterRemove) {
		t.Errorf("after dpkg -r: %q\nwant (conffiles and enablement) %q", left, keptAfterRemove)
	}

	run(t, "dpkg", "-P", "hadirector")
	left = diff(before, snap())
	t.Logf("files after dpkg -P (%d left): %q", len(left), left)
	if len(left) > 0 || len(diff(snap(), before)) > 0 {
		t.Errorf("dpkg -P left %q and removed %q", left, diff(snap(), before))
	}
	if out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", "hadirector").Output(); len(out) > 0 {
		t.Errorf("dpkg still knows hadirector after purge: %q", out)
	}
}

// snapshot lists every path under roots.
func snapshot(t *testing.T) map[string]bool {
	t.Helper()
	paths := map[string]bool{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			paths[p] = true
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return paths
}

// diff lists what b has that a has not, sorted.
func diff(a, b map[string]bool) []string {
	var out []string
	for p := range b {
		if !a[p] {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "MANPAGER=cat")
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errOut.String())
	}
	if name != "lintian" && name != "zcat" && errOut.Len() > 0 {
		t.Logf("%s %s: stderr: %s", name, strings.Join(args, " "), errOut.String())
	}
	return out.String()
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
