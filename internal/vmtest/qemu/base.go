package qemu

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

//go:embed init.sh
var initScript []byte

// baseFormat changes whenever the way the base archive is built changes, so stale caches are
// not reused.
const baseFormat = "hadirector-vm-base/1"

// Modules are the kernel modules put into the VM (with their dependencies) and loaded at boot,
// in addition to ip_vs and every IPVS scheduler the kernel has (see SchedulerModules). A name
// the kernel lacks is skipped and reported.
var Modules = []string{
	// Links for namespaced test networks (internal/lab: veth + bridge; vip: macvlan).
	"veth", "bridge", "macvlan", "ipvlan", "8021q", "dummy", "tun",
	// Traffic control: lab's switch ports (ingress + u32 + mirred), netem for demos.
	"sch_ingress", "sch_netem", "sch_tbf", "cls_u32", "cls_matchall", "act_mirred", "act_gact",
}

// Tools are host executables copied into the VM at the same paths, with the shared libraries
// ldd names. They are installed on the host by the fetch script.
var Tools = []string{"ipvsadm", "keepalived", "ip", "tc", "tcpdump", "dnsmasq"}

// BaseOptions chooses what goes into the base archive besides busybox, /init and ip_vs.
type BaseOptions struct {
	Modules []string // nil: Modules
	Tools   []string // nil: Tools
	// Files maps guest paths to host files (copied as they are, e.g. extra data).
	Files map[string]string
}

// Base is a cached initramfs archive for one kernel: busybox, /init, modules, tools. Per-run
// content (the programs to run) is a second archive appended to it.
type Base struct {
	Path     string   // the uncompressed newc archive
	Modules  []string // modules included (the wanted ones, without dependencies)
	Missing  []string // wanted modules the kernel does not have
	Tools    map[string]string
	Built    bool // false when the cache was reused
	CacheKey string
}

// SchedulerModules lists the IPVS scheduler modules the kernel has (ip_vs_rr, ip_vs_wrr, …):
// every ip_vs_*.ko except the application helpers (ftp) and persistence engines (pe_*).
func SchedulerModules(k Kernel) ([]string, error) {
	var out []string
	err := filepath.WalkDir(k.Modules, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name, ok := moduleName(d.Name())
		if !ok || !strings.HasPrefix(name, "ip_vs_") || name == "ip_vs_ftp" || strings.HasPrefix(name, "ip_vs_pe_") {
			return nil
		}
		out = append(out, name)
		return nil
	})
	sort.Strings(out)
	return out, err
}

// moduleName turns a module file name into the kernel's module name (dashes become
// underscores), or reports false for non-module files.
func moduleName(file string) (string, bool) {
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if base, ok := strings.CutSuffix(file, ext); ok {
			return strings.ReplaceAll(base, "-", "_"), true
		}
	}
	return "", false
}

// moduleIndex maps module name -> path relative to the modules dir.
func moduleIndex(dir string) (map[string]string, error) {
	idx := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name, ok := moduleName(d.Name()); ok && !d.IsDir() {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			idx[name] = rel
		}
		return nil
	})
	return idx, err
}

// readModule returns a module's ELF bytes, decompressing .ko.gz, .ko.xz and .ko.zst (Debian
// compresses modules from trixie on) so the guest gets plain .ko files that busybox modprobe
// and the kernel load without compression support.
func readModule(ctx context.Context, file string) ([]byte, error) {
	var tool string
	switch {
	case strings.HasSuffix(file, ".ko"):
		return os.ReadFile(file)
	case strings.HasSuffix(file, ".ko.gz"):
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		return io.ReadAll(zr)
	case strings.HasSuffix(file, ".ko.xz"):
		tool = "xz"
	case strings.HasSuffix(file, ".ko.zst"):
		tool = "zstd"
	default:
		return nil, fmt.Errorf("%s: not a kernel module", file)
	}
	out, err := exec.CommandContext(ctx, tool, "-dc", file).Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %s -dc: %w (%w)", file, tool, err, ErrUnavailable)
	}
	return out, nil
}

// plainModulePath drops a compression suffix: kernel/…/veth.ko.xz -> kernel/…/veth.ko.
func plainModulePath(rel string) string {
	if i := strings.LastIndex(rel, ".ko"); i >= 0 {
		return rel[:i+3]
	}
	return rel
}

// moduleDepends reads the "depends=" entry of a module's .modinfo section.
func moduleDepends(file string, data []byte) ([]string, error) {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("%s: no .modinfo section", file)
	}
	info, err := sec.Data()
	if err != nil {
		return nil, err
	}
	for _, kv := range bytes.Split(info, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			var deps []string
			for _, d := range strings.Split(string(v), ",") {
				if d != "" {
					deps = append(deps, strings.ReplaceAll(d, "-", "_"))
				}
			}
			return deps, nil
		}
	}
	return nil, nil
}

// moduleClosure returns the wanted modules and everything they depend on (relative path ->
// uncompressed ELF bytes), and the wanted names the kernel does not have.
func moduleClosure(ctx context.Context, dir string, want []string) (files map[string][]byte, missing []string, err error) {
	idx, err := moduleIndex(dir)
	if err != nil {
		return nil, nil, err
	}
	files = map[string][]byte{}
	seen := map[string]bool{}
	var visit func(name string, wanted bool) error
	visit = func(name string, wanted bool) error {
		if seen[name] {
			return nil
		}
		seen[name] = true
		rel, ok := idx[name]
		if !ok {
			if wanted {
				missing = append(missing, name)
				return nil
			}
			return fmt.Errorf("module %s (a dependency) is not in %s", name, dir)
		}
		data, err := readModule(ctx, filepath.Join(dir, rel))
		if err != nil {
			return err
		}
		files[rel] = data
		deps, err := moduleDepends(rel, data)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d, false); err != nil {
				return err
			}
		}
		return nil
	}
	for _, w := range want {
		if err := visit(w, true); err != nil {
			return nil, nil, err
		}
	}
	return files, missing, nil
}

// SharedLibs lists the shared objects ldd says bin needs (including the dynamic loader);
// none for a static binary.
func SharedLibs(ctx context.Context, bin string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ldd", bin).CombinedOutput()
	if err != nil {
		if bytes.Contains(out, []byte("not a dynamic executable")) || bytes.Contains(out, []byte("statically linked")) {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %w: %s", bin, err, bytes.TrimSpace(out))
	}
	return parseLDD(out)
}

func parseLDD(out []byte) ([]string, error) {
	var libs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line == "statically linked" {
			continue
		}
		if name, rest, ok := strings.Cut(line, " => "); ok {
			if strings.HasPrefix(rest, "not found") {
				return nil, fmt.Errorf("ldd: %s not found", name)
			}
			if p, _, _ := strings.Cut(rest, " "); strings.HasPrefix(p, "/") {
				libs = append(libs, p)
			}
			continue
		}
		if p, _, _ := strings.Cut(line, " "); strings.HasPrefix(p, "/") {
			libs = append(libs, p) // the dynamic loader
		}
	}
	return libs, nil
}

// AddExecutable copies a host executable into the tree at its host path, with every shared
// library it needs (ldd), symlinks included, so it runs in the guest as on the host.
func (t *tree) AddExecutable(ctx context.Context, bin string) (string, error) {
	libs, err := SharedLibs(ctx, bin)
	if err != nil {
		return "", err
	}
	real, err := t.HostPath(bin)
	if err != nil {
		return "", err
	}
	for _, l := range libs {
		if _, err := t.HostPath(l); err != nil {
			return "", fmt.Errorf("%s: library %s: %w", bin, l, err)
		}
	}
	return real, nil
}

func isStatic(bin string) (bool, error) {
	f, err := elf.Open(bin)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

var etcFiles = map[string]string{
	"/etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
	"/etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	"/etc/hosts":  "127.0.0.1\tlocalhost vmtest\n::1\tlocalhost ip6-localhost ip6-loopback\n",
	"/etc/nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\nhosts: files\n" +
		"networks: files\nprotocols: files\nservices: files\n",
	"/etc/resolv.conf": "",
}

// baseTree describes the base archive. It reads the host (busybox, tools, libraries) and the
// kernel's modules, and stages the modules with depmod into staging (a scratch directory).
func baseTree(ctx context.Context, k Kernel, opt BaseOptions, staging string) (*tree, *Base, error) {
	t := newTree()
	b := &Base{Tools: map[string]string{}}
	t.MirrorTopLinks()
	for _, d := range []string{"/proc", "/sys", "/dev", "/tmp", "/run", "/root", "/etc/keepalived", "/var/lib", "/var/log", "/vmtest", "/usr/local/bin"} {
		t.Dir(d, 0o755)
	}
	t.Dir("/tmp", 0o1777)
	t.Dir("/root", 0o700)
	t.Symlink("/var/run", "../run")
	t.Symlink("/var/tmp", "../tmp")
	// The kernel opens /dev/console for PID 1 before /init can mount devtmpfs.
	t.CharDev("/dev/console", 0o600, 5, 1)
	t.CharDev("/dev/null", 0o666, 1, 3)
	for p, s := range etcFiles {
		t.Data(p, 0o644, []byte(s))
	}
	for _, p := range []string{"/etc/protocols", "/etc/services", "/etc/ethertypes"} {
		if _, err := os.Stat(p); err == nil {
			if _, err := t.HostPath(p); err != nil {
				return nil, nil, err
			}
		}
	}
	// iproute2's tables, and tc's netem distributions (delay with jitter needs normal.dist).
	for _, d := range []string{"/etc/iproute2", "/usr/share/iproute2", "/usr/lib/x86_64-linux-gnu/tc"} {
		real, err := filepath.EvalSymlinks(d)
		if err != nil {
			continue
		}
		if fi, err := os.Stat(real); err == nil && fi.IsDir() {
			if err := t.HostTree(real, real, false); err != nil {
				return nil, nil, err
			}
		}
	}
	t.Data("/init", 0o755, initScript)

	// Tools first, so busybox does not shadow them (its ip and tc lack what tests need).
	tools := opt.Tools
	if tools == nil {
		tools = Tools
	}
	provided := map[string]bool{}
	for _, name := range tools {
		p, err := exec.LookPath(name)
		if err == nil {
			p, err = filepath.Abs(p)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("vm: tool %s: %w (the fetch script installs it; %w)", name, err, ErrUnavailable)
		}
		real, err := t.AddExecutable(ctx, p)
		if err != nil {
			return nil, nil, fmt.Errorf("vm: tool %s: %w", name, err)
		}
		b.Tools[name] = real
		provided[name] = true
	}

	bb, err := exec.LookPath("busybox")
	if err != nil {
		return nil, nil, fmt.Errorf("vm: busybox: %w (install busybox-static; %w)", err, ErrUnavailable)
	}
	if static, err := isStatic(bb); err != nil || !static {
		return nil, nil, fmt.Errorf("vm: %s is not statically linked (install busybox-static; %w)", bb, ErrUnavailable)
	}
	bbReal, err := t.HostPath(bb)
	if err != nil {
		return nil, nil, err
	}
	out, err := exec.CommandContext(ctx, bb, "--list-full").Output()
	if err != nil {
		return nil, nil, fmt.Errorf("vm: busybox --list-full: %w", err)
	}
	for _, rel := range strings.Fields(string(out)) {
		if provided[path.Base(rel)] {
			continue
		}
		dir, err := filepath.EvalSymlinks("/" + path.Dir(rel))
		if err != nil {
			dir = "/usr/bin"
		}
		p := path.Join(dir, path.Base(rel))
		if !t.Has(p) {
			t.Symlink(p, bbReal)
		}
	}

	// Modules: the closure of what is wanted, staged and indexed by depmod so that busybox
	// modprobe (and the kernel's request_module through it) finds them.
	scheds, err := SchedulerModules(k)
	if err != nil {
		return nil, nil, err
	}
	want := append([]string{"ip_vs"}, scheds...)
	extra := opt.Modules
	if extra == nil {
		extra = Modules
	}
	want = append(want, extra...)
	files, missing, err := moduleClosure(ctx, k.Modules, want)
	if err != nil {
		return nil, nil, fmt.Errorf("vm: modules: %w", err)
	}
	b.Missing = missing
	for _, w := range want {
		if !slices.Contains(missing, w) {
			b.Modules = append(b.Modules, w)
		}
	}
	guestMods := "/usr/lib/modules/" + k.Version
	if !t.Has("/lib") { // not merged /usr
		guestMods = "/lib/modules/" + k.Version
	}
	stageMods := filepath.Join(staging, "lib", "modules", k.Version)
	for rel, data := range files {
		dst := filepath.Join(stageMods, plainModulePath(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return nil, nil, err
		}
	}
	for _, f := range []string{"modules.order", "modules.builtin", "modules.builtin.modinfo"} {
		if err := copyFile(filepath.Join(stageMods, f), filepath.Join(k.Modules, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, err
		}
	}
	if out, err := exec.CommandContext(ctx, depmodPath(), "-b", staging, k.Version).CombinedOutput(); err != nil {
		return nil, nil, fmt.Errorf("vm: depmod: %w: %s (%w)", err, bytes.TrimSpace(out), ErrUnavailable)
	}
	if err := t.HostTree(guestMods, stageMods, true); err != nil {
		return nil, nil, err
	}
	t.Data("/etc/vmtest/modules.load", 0o644, []byte(strings.Join(b.Modules, "\n")+"\n"))

	for g, h := range opt.Files {
		if err := t.HostFile(g, h); err != nil {
			return nil, nil, fmt.Errorf("vm: file %s: %w", g, err)
		}
	}
	return t, b, nil
}

func depmodPath() string {
	for _, p := range []string{"/sbin/depmod", "/usr/sbin/depmod"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "depmod"
}

func copyFile(dst, src string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

// BuildBase returns the base archive for k, building it into the kernel's cache directory
// unless an archive with the same content key is already there. Concurrent callers are safe:
// the archive is written to a temporary file and renamed into place.
func BuildBase(ctx context.Context, k Kernel, opt BaseOptions) (*Base, error) {
	staging, err := os.MkdirTemp("", "hadirector-vm-base-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(staging)
	t, b, err := baseTree(ctx, k, opt, staging)
	if err != nil {
		return nil, err
	}
	b.CacheKey = baseFormat + "\x00" + k.Version + "\x00" + t.Key()
	key := shortHash(b.CacheKey)
	b.Path = filepath.Join(k.Dir, "base-"+key+".cpio")
	if _, err := os.Stat(b.Path); err == nil {
		return b, nil
	}
	tmp, err := os.CreateTemp(k.Dir, ".base-*.cpio")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 1<<20)
	err = t.WriteCPIO(w, 0)
	if err == nil {
		err = w.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("vm: write base archive: %w", err)
	}
	if err := os.Rename(tmp.Name(), b.Path); err != nil {
		return nil, err
	}
	b.Built = true
	pruneBases(k.Dir, b.Path)
	return b, nil
}

// pruneBases removes older base archives of the same kernel (their tools or options changed),
// keeping the few most recent ones for other option sets.
func pruneBases(dir, keep string) {
	ms, _ := filepath.Glob(filepath.Join(dir, "base-*.cpio"))
	type mt struct {
		p string
		t int64
	}
	var all []mt
	for _, m := range ms {
		if fi, err := os.Stat(m); err == nil && m != keep {
			all = append(all, mt{m, fi.ModTime().UnixNano()})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].t > all[j].t })
	for i, m := range all {
		if i >= 3 {
			os.Remove(m.p)
		}
	}
}
