// Command hadirector-pkg builds the Debian package hadirector_<version>_amd64.deb (make deb)
// with nfpm as a library: the static binary, the systemd unit, the conffile, the
// modules-load file, the man pages (hadirector.toml(5) generated here from the schema), the
// bash completion, the examples, README, copyright and changelog, and the maintainer
// scripts of packaging/scripts. The version comes from git (see gitVersion).
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"

	"github.com/hadirector/hadirector/internal/manpage"
)

func main() {
	repo := flag.String("repo", "..", "the hadirector source tree")
	out := flag.String("out", "../bin", "directory for the .deb")
	version := flag.String("version", "", "package version (default: from git describe)")
	flag.Parse()
	path, err := build(options{repo: *repo, out: *out, version: *version})
	if err != nil {
		fmt.Fprintf(os.Stderr, "hadirector-pkg: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(path)
}

type options struct {
	repo, out string
	version   string // "" = gitVersion
}

const (
	name       = "hadirector"
	maintainer = "hadirector maintainers <maintainers@hadirector.invalid>"
)

// build writes the package into o.out and returns its path.
func build(o options) (string, error) {
	repo, err := filepath.Abs(o.repo)
	if err != nil {
		return "", err
	}
	src := func(p string) string { return filepath.Join(repo, p) }
	commit, err := git(repo, "rev-parse", "HEAD")
	if err != nil {
		return "", err
	}
	stamp, err := git(repo, "log", "-1", "--format=%ct")
	if err != nil {
		return "", err
	}
	secs, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil {
		return "", fmt.Errorf("commit time %q: %w", stamp, err)
	}
	mtime := time.Unix(secs, 0).UTC() // reproducible: every file carries the commit's time
	version := o.version
	if version == "" {
		if version, err = gitVersion(repo); err != nil {
			return "", err
		}
	}

	work, err := os.MkdirTemp("", "hadirector-pkg-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "hadirector")
	cmd := exec.Command("go", "build", "-trimpath",
		"-ldflags", fmt.Sprintf("-s -w -X main.version=%s -X main.commit=%s", version, commit),
		"-o", bin, "./cmd/hadirector")
	cmd.Dir, cmd.Stdout, cmd.Stderr = repo, os.Stderr, os.Stderr
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}

	ref, err := os.ReadFile(src("config/testdata/reference.toml"))
	if err != nil {
		return "", err
	}
	tomlPage, err := manpage.ConfigPage(ref)
	if err != nil {
		return "", err
	}
	page8, err := os.ReadFile(src("packaging/hadirector.8"))
	if err != nil {
		return "", err
	}
	readme, err := os.ReadFile(src("README.md"))
	if err != nil {
		return "", err
	}
	changelog := fmt.Sprintf("%s (%s) unstable; urgency=medium\n\n  * Built from commit %s.\n\n -- %s  %s\n",
		name, version, commit, maintainer, mtime.Format(time.RFC1123Z))
	generated := map[string][]byte{}
	for file, text := range map[string][]byte{
		"hadirector.8.gz":      page8,
		"hadirector.toml.5.gz": []byte(tomlPage),
		"README.md.gz":         readme,
		"changelog.gz":         []byte(changelog),
	} {
		if generated[file], err = gzipMax(text); err != nil {
			return "", err
		}
	}
	for file, data := range generated {
		if err := os.WriteFile(filepath.Join(work, file), data, 0o644); err != nil {
			return "", err
		}
	}
	doc := "/usr/share/doc/" + name + "/"
	file := func(from, to string, mode os.FileMode) *files.Content {
		return &files.Content{Source: from, Destination: to, FileInfo: &files.ContentFileInfo{Mode: mode, MTime: mtime}}
	}
	conf := func(from, to string) *files.Content {
		c := file(from, to, 0o644)
		c.Type = files.TypeConfig
		return c
	}
	contents := files.Contents{
		file(bin, "/usr/sbin/hadirector", 0o755),
		file(src("examples/hadirector.service"), "/lib/systemd/system/hadirector.service", 0o644),
		conf(src("packaging/hadirector.toml"), "/etc/hadirector/hadirector.toml"),
		conf(src("packaging/hadirector-ipvs.conf"), "/etc/modules-load.d/hadirector-ipvs.conf"),
		file(filepath.Join(work, "hadirector.8.gz"), "/usr/share/man/man8/hadirector.8.gz", 0o644),
		file(filepath.Join(work, "hadirector.toml.5.gz"), "/usr/share/man/man5/hadirector.toml.5.gz", 0o644),
		file(src("packaging/hadirector.bash"), "/usr/share/bash-completion/completions/hadirector", 0o644),
		file(filepath.Join(work, "README.md.gz"), doc+"README.md.gz", 0o644),
		// A native package (no Debian revision): changelog.gz, not changelog.Debian.gz.
		file(filepath.Join(work, "changelog.gz"), doc+"changelog.gz", 0o644),
		file(src("packaging/copyright"), doc+"copyright", 0o644),
		file(src("packaging/lintian-overrides"), "/usr/share/lintian/overrides/hadirector", 0o644),
		file(src("examples/node-a.toml"), doc+"examples/node-a.toml", 0o644),
		file(src("examples/node-b.toml"), doc+"examples/node-b.toml", 0o644),
		file(src("examples/notify.sh"), doc+"examples/notify.sh", 0o755),
	}
	info := nfpm.WithDefaults(&nfpm.Info{
		Name:          name,
		Arch:          "amd64",
		Platform:      "linux",
		Version:       version,
		VersionSchema: "none", // a Debian version already (see gitVersion)
		Section:       "net",
		Priority:      "optional",
		Maintainer:    maintainer,
		MTime:         mtime,
		Description: "VRRP and LVS director for Linux (a keepalived replacement)\n" +
			"hadirector runs the VRRP instances of a pair of Linux Virtual Server\n" +
			"directors: it claims the virtual addresses on the master, programs IPVS\n" +
			"there from the virtual servers whose real servers pass their health\n" +
			"checks, and runs keepalived-compatible notify hooks. It reads one TOML\n" +
			"file, translates keepalived.conf, exports Prometheus metrics and runs\n" +
			"under systemd with a watchdog.",
		Overridables: nfpm.Overridables{
			Recommends: []string{"ipvsadm"},
			Contents:   contents,
			Scripts: nfpm.Scripts{
				PostInstall: src("packaging/scripts/postinst"),
				PreRemove:   src("packaging/scripts/prerm"),
				PostRemove:  src("packaging/scripts/postrm"),
			},
			Deb: nfpm.Deb{Compression: "xz"},
		},
	})
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(o.out, fmt.Sprintf("%s_%s_amd64.deb", name, version))
	var b bytes.Buffer
	if err := deb.Default.Package(info, &b); err != nil {
		return "", fmt.Errorf("deb: %w", err)
	}
	return path, os.WriteFile(path, b.Bytes(), 0o644)
}

// gitVersion is the Debian version of the checkout: 1.2.3 at tag v1.2.3; 1.2.3+git5.gabc1234
// five commits after it; 0.0.0+git174.gabc1234 (174 commits in all) before the first tag.
// Each sorts after the one before, so every build upgrades the last.
func gitVersion(repo string) (string, error) {
	if d, err := git(repo, "describe", "--tags", "--long", "--match", "v[0-9]*"); err == nil {
		// v1.2.3-5-gabc1234
		parts := strings.Split(d, "-")
		if len(parts) >= 3 {
			tag, n, hash := strings.Join(parts[:len(parts)-2], "-"), parts[len(parts)-2], parts[len(parts)-1]
			tag = strings.ReplaceAll(strings.TrimPrefix(tag, "v"), "-", "~")
			if n == "0" {
				return tag, nil
			}
			return fmt.Sprintf("%s+git%s.%s", tag, n, hash), nil
		}
	}
	n, err := git(repo, "rev-list", "--count", "HEAD")
	if err != nil {
		return "", err
	}
	hash, err := git(repo, "rev-parse", "--short=7", "HEAD")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("0.0.0+git%s.g%s", n, hash), nil
}

func git(repo string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-C", repo}, args...)...)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// gzipMax is gzip -9n: best compression, no name, no time (what lintian asks of man pages,
// changelogs and documents).
func gzipMax(data []byte) ([]byte, error) {
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
