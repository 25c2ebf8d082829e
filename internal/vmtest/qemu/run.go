package qemu

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Program is one executable run inside the VM, after the previous one ended.
type Program struct {
	// Name identifies the program in the result markers and names its guest directory; unique
	// within a run, made of letters, digits, '.', '_' and '-'.
	Name string
	// Binary is a host executable; it must be statically linked (CGO_ENABLED=0).
	Binary string
	Args   []string
	// PkgDir, if set, is the host directory of the program's Go package: its testdata
	// directory is copied to the guest, and the program runs in /vmtest/pkg/<Name> — as go
	// test runs a test binary in its package directory.
	PkgDir string
}

// Config is one boot of the VM.
type Config struct {
	Kernel   Kernel // zero: FetchKernel with the module's fetch script
	Base     BaseOptions
	Programs []Program
	// Env holds KEY=VALUE pairs exported to every program (HADIRECTOR_IN_VM=1 always is).
	Env []string
	// Bin maps names to host executables (static) installed in the guest's /usr/local/bin,
	// which is on PATH: e.g. "hadirector" for tests that start the daemon.
	Bin      map[string]string
	Timeout  time.Duration // the whole boot, from qemu's start; 0 means 10 minutes
	MemoryMB int           // 0 means 1024
	CPUs     int           // 0 means 2
	// Console receives the serial console as it arrives, carriage returns removed.
	Console io.Writer
	// Progress receives the harness's own messages (phases and their durations).
	Progress io.Writer
	// QemuArgs are appended to qemu's command line.
	QemuArgs []string
}

// ProgramResult is what the console said about one program.
type ProgramResult struct {
	Name     string
	Started  bool
	Finished bool
	Exit     int // valid when Finished
	Duration time.Duration
}

// Result is the outcome of one boot.
type Result struct {
	Kernel   Kernel
	Base     *Base
	Programs []ProgramResult
	Ready    bool          // /init loaded the modules and started the programs
	Done     bool          // /init ran every program and reached the end
	Boot     time.Duration // qemu start to VMTEST-READY
	Elapsed  time.Duration // qemu start to qemu exit
	TimedOut bool
	Qemu     error // qemu's own exit error, if any
}

// Err summarises the result: nil when the VM ran every program and each exited 0.
func (r *Result) Err() error {
	var errs []error
	if r.TimedOut {
		errs = append(errs, fmt.Errorf("vm: timed out after %v", r.Elapsed.Round(time.Second)))
	}
	if !r.Ready {
		errs = append(errs, errors.New("vm: /init never reported ready (kernel or init failure: see the console)"))
	}
	for _, p := range r.Programs {
		switch {
		case !p.Started:
			errs = append(errs, fmt.Errorf("vm: %s did not start", p.Name))
		case !p.Finished:
			errs = append(errs, fmt.Errorf("vm: %s did not finish (VM crashed, powered off or timed out)", p.Name))
		case p.Exit != 0:
			errs = append(errs, fmt.Errorf("vm: %s exited with status %d", p.Name, p.Exit))
		}
	}
	if r.Ready && !r.Done && len(errs) == 0 {
		errs = append(errs, errors.New("vm: /init did not reach the end of the run"))
	}
	return errors.Join(errs...)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
var envRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// runScript is /vmtest/run.sh: sourced by /init, it sets the nonce and the environment and
// defines vmtest_main.
func runScript(nonce string, env []string, progs []Program) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# written by internal/vmtest/qemu for one run\nVMTEST_NONCE=%s\n", nonce)
	for _, kv := range env {
		fmt.Fprintf(&b, "export %s\n", shellQuote(kv))
	}
	b.WriteString("vmtest_main() {\n")
	for _, p := range progs {
		args := []string{"vmtest_run", shellQuote(p.Name), shellQuote(progDir(p)), shellQuote(progPath(p))}
		for _, a := range p.Args {
			args = append(args, shellQuote(a))
		}
		fmt.Fprintf(&b, "\t%s\n", strings.Join(args, " "))
	}
	b.WriteString("\t:\n}\n")
	return b.String()
}

func progPath(p Program) string { return "/vmtest/bin/" + p.Name }
func progDir(p Program) string  { return "/vmtest/pkg/" + p.Name }

// runTree is the per-run archive: programs, their testdata, extra binaries, run.sh.
func runTree(nonce string, cfg Config) (*tree, error) {
	t := newTree()
	seen := map[string]bool{}
	for _, p := range cfg.Programs {
		if !nameRE.MatchString(p.Name) || seen[p.Name] {
			return nil, fmt.Errorf("vm: program name %q is empty, repeated or has characters other than [A-Za-z0-9._-]", p.Name)
		}
		seen[p.Name] = true
		if static, err := isStatic(p.Binary); err != nil || !static {
			return nil, fmt.Errorf("vm: %s: %s must be a statically linked executable (build with CGO_ENABLED=0): %v", p.Name, p.Binary, err)
		}
		if err := t.HostFile(progPath(p), p.Binary); err != nil {
			return nil, err
		}
		t.Dir(progDir(p), 0o755)
		if p.PkgDir != "" {
			td := filepath.Join(p.PkgDir, "testdata")
			if fi, err := os.Stat(td); err == nil && fi.IsDir() {
				if err := t.HostTree(progDir(p)+"/testdata", td, false); err != nil {
					return nil, err
				}
			}
		}
	}
	for name, bin := range cfg.Bin {
		if !nameRE.MatchString(name) {
			return nil, fmt.Errorf("vm: binary name %q", name)
		}
		if static, err := isStatic(bin); err != nil || !static {
			return nil, fmt.Errorf("vm: %s must be a statically linked executable (build with CGO_ENABLED=0): %v", bin, err)
		}
		if err := t.HostFile("/usr/local/bin/"+name, bin); err != nil {
			return nil, err
		}
	}
	for _, kv := range cfg.Env {
		if !envRE.MatchString(kv) {
			return nil, fmt.Errorf("vm: environment entry %q is not KEY=VALUE", kv)
		}
	}
	t.Data("/vmtest/run.sh", 0o644, []byte(runScript(nonce, cfg.Env, cfg.Programs)))
	return t, nil
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

func newNonce() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, "vmtest: "+format+"\n", args...)
	}
}

// writeInitrd concatenates the base archive and the per-run archive: the kernel unpacks both,
// in order, into one root file system.
func writeInitrd(dst, base string, run *tree) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	src, err := os.Open(base)
	if err != nil {
		return err
	}
	defer src.Close()
	if _, err := io.Copy(f, src); err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	// Distinct inode numbers from the base archive's, as the kernel tracks hard links by them.
	if err := run.WriteCPIO(w, 1<<30); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// QemuCommand is the qemu command line that boots kernel with initrd. TCG, not KVM: /dev/kvm
// exists on the CI machines but is not reliable there. -nodefaults with the serial port on
// stdio instead of -nographic: no VGA, so SeaBIOS does not write terminal escapes to the
// console, and no monitor multiplexed into the test output. no_timer_check: under TCG on a
// busy host the kernel's IO-APIC timer check can miss its ticks and panic at boot ("IO-APIC +
// timer doesn't work!"), which was seen once in a helper's run; the check is meaningless in
// an emulator.
func QemuCommand(k Kernel, initrd string, memMB, cpus int, extra []string) []string {
	args := []string{
		"qemu-system-x86_64",
		"-nodefaults", "-accel", "tcg", "-cpu", "max",
		"-smp", fmt.Sprint(cpus), "-m", fmt.Sprint(memMB),
		"-display", "none", "-serial", "stdio", "-nic", "none", "-no-reboot",
		"-kernel", k.Vmlinuz, "-initrd", initrd,
		"-append", "console=ttyS0 quiet panic=-1 no_timer_check",
	}
	return append(args, extra...)
}

// Run boots the VM once, runs cfg.Programs in order inside it, and reports what the console
// said. The error is about the harness (no kernel, no qemu, a bad config); whether the programs
// passed is in Result.Err.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	if cfg.MemoryMB <= 0 {
		cfg.MemoryMB = 1024
	}
	if cfg.CPUs <= 0 {
		cfg.CPUs = 2
	}
	res := &Result{Kernel: cfg.Kernel}
	var err error
	if res.Kernel.Version == "" {
		start := time.Now()
		res.Kernel, err = FetchKernel(ctx, "", cfg.Progress)
		if err != nil {
			return nil, err
		}
		logf(cfg.Progress, "kernel %s (%v)", res.Kernel.Version, time.Since(start).Round(time.Millisecond))
	}
	qemuBin, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return nil, fmt.Errorf("vm: %w (install qemu-system-x86; %w)", err, ErrUnavailable)
	}

	start := time.Now()
	res.Base, err = BuildBase(ctx, res.Kernel, cfg.Base)
	if err != nil {
		return nil, err
	}
	how := "cached"
	if res.Base.Built {
		how = "built"
	}
	logf(cfg.Progress, "base initramfs %s %s (%v); modules: %s", how, res.Base.Path, time.Since(start).Round(time.Millisecond), strings.Join(res.Base.Modules, " "))
	var tools []string
	for name, p := range res.Base.Tools {
		tools = append(tools, name+"="+p)
	}
	sort.Strings(tools)
	logf(cfg.Progress, "tools: %s", strings.Join(tools, " "))
	if len(res.Base.Missing) > 0 {
		logf(cfg.Progress, "modules this kernel lacks: %s", strings.Join(res.Base.Missing, " "))
	}

	start = time.Now()
	nonce := newNonce()
	rt, err := runTree(nonce, cfg)
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "hadirector-vm-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	initrd := filepath.Join(work, "initrd.cpio")
	if err := writeInitrd(initrd, res.Base.Path, rt); err != nil {
		return nil, fmt.Errorf("vm: initrd: %w", err)
	}
	if fi, err := os.Stat(initrd); err == nil {
		logf(cfg.Progress, "initrd %.1f MB (%v)", float64(fi.Size())/(1<<20), time.Since(start).Round(time.Millisecond))
	}

	for _, p := range cfg.Programs {
		res.Programs = append(res.Programs, ProgramResult{Name: p.Name})
	}
	con := &console{out: cfg.Console, nonce: nonce, res: res, done: make(chan struct{})}

	args := QemuCommand(res.Kernel, initrd, cfg.MemoryMB, cfg.CPUs, cfg.QemuArgs)
	runCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(runCtx, qemuBin, args[1:]...)
	cmd.Stdout = con // stdin stays /dev/null: qemu must not put a terminal into raw mode
	cmd.Stderr = cfg.Progress
	if cmd.Stderr == nil {
		cmd.Stderr = io.Discard
	}
	cmd.WaitDelay = 5 * time.Second
	cmd.SysProcAttr = procAttr()
	logf(cfg.Progress, "boot: %s", strings.Join(args, " "))
	con.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("vm: start qemu: %w (%w)", err, ErrUnavailable)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err = <-waited:
	case <-con.done:
		// Everything ran; poweroff should end qemu at once. Don't wait for a hung one.
		select {
		case err = <-waited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			err = <-waited
		}
	}
	res.Elapsed = time.Since(con.start)
	con.flush()
	if !res.Done && runCtx.Err() == context.DeadlineExceeded {
		res.TimedOut = true
	} else if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if err != nil && !res.Done {
		res.Qemu = err
	}
	return res, nil
}

// console passes qemu's serial output through and picks out the result markers.
type console struct {
	out   io.Writer
	nonce string
	res   *Result
	start time.Time
	line  []byte
	began time.Time
	done  chan struct{}
}

func (c *console) Write(p []byte) (int, error) {
	clean := make([]byte, 0, len(p))
	for _, b := range p {
		if b != '\r' {
			clean = append(clean, b)
		}
	}
	if c.out != nil {
		_, _ = c.out.Write(clean)
	}
	for _, b := range clean {
		if b == '\n' {
			c.parse(string(c.line))
			c.line = c.line[:0]
			continue
		}
		c.line = append(c.line, b)
	}
	return len(p), nil
}

func (c *console) flush() {
	if len(c.line) > 0 {
		c.parse(string(c.line))
		c.line = nil
	}
}

// parse reads one console line. Markers carry the run's random nonce, so test output that
// happens to print marker-like text cannot forge a result.
func (c *console) parse(line string) {
	for _, kind := range []string{"READY", "START", "RESULT", "DONE"} {
		tag := "VMTEST-" + kind + " " + c.nonce
		i := strings.Index(line, tag)
		if i < 0 {
			continue
		}
		f := strings.Fields(line[i+len(tag):])
		now := time.Now()
		switch kind {
		case "READY":
			c.res.Ready = true
			c.res.Boot = now.Sub(c.start)
		case "START":
			if len(f) >= 1 {
				if p := c.find(f[0]); p != nil {
					p.Started = true
					c.began = now
				}
			}
		case "RESULT":
			if len(f) >= 2 {
				if p := c.find(f[0]); p != nil {
					var code int
					if _, err := fmt.Sscanf(f[1], "%d", &code); err == nil {
						p.Finished, p.Exit = true, code
						p.Duration = now.Sub(c.began)
					}
				}
			}
		case "DONE":
			if !c.res.Done {
				c.res.Done = true
				close(c.done)
			}
		}
		return
	}
}

func (c *console) find(name string) *ProgramResult {
	for i := range c.res.Programs {
		if c.res.Programs[i].Name == name {
			return &c.res.Programs[i]
		}
	}
	return nil
}
