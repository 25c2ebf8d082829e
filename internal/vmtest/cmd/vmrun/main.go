// Command vmrun runs Go tests that need the real IPVS kernel inside one qemu VM booting
// Debian's cloud kernel: it builds each package's test binary with -tags vmtest
// (CGO_ENABLED=0), adds them to the cached initramfs, boots once, streams the serial console,
// and exits non-zero unless every test binary ran and passed. See internal/vmtest's package
// documentation.
//
//	go run ./internal/vmtest/cmd/vmrun -pkgs ./internal/vmtest,./lvs -run 'IPVS' -timeout 10m [-- extra test flags]
//
// Exit status: 0 all passed (or the VM is unavailable and HADIRECTOR_REQUIRE_PRIV is not 1),
// 1 a test failed or the VM did not finish, 2 usage or build error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hadirector/hadirector/internal/vmtest/qemu"
)

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	*l = append(*l, strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })...)
	return nil
}

type envFlag []string

func (l *envFlag) String() string     { return strings.Join(*l, " ") }
func (l *envFlag) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	os.Exit(run())
}

func run() int {
	var pkgs, bins, execs listFlag
	var env envFlag
	fs := flag.NewFlagSet("vmrun", flag.ContinueOnError)
	fs.Var(&pkgs, "pkgs", "Go package patterns (separated by commas or spaces) whose -tags vmtest tests run in the VM (default ./internal/vmtest)")
	fs.Var(&bins, "bin", "main packages (separated by commas or spaces) built for the VM and installed in its /usr/local/bin (e.g. ./cmd/hadirector)")
	fs.Var(&execs, "exec", "main packages (separated by commas or spaces) run as programs in the VM after the tests; the arguments after -- go to them instead of the tests (e.g. ./cmd/hadirector-demo)")
	fs.Var(&env, "env", "KEY=VALUE exported to the tests in the VM (repeatable); HADIRECTOR_REQUIRE_PRIV is passed on by itself")
	runRE := fs.String("run", "", "run only tests matching this regexp (-test.run)")
	verbose := fs.Bool("v", true, "verbose test output (-test.v)")
	timeout := fs.Duration("timeout", 10*time.Minute, "limit for the whole VM run; qemu is killed after it")
	logPath := fs.String("log", "", "also write the console to this file (default: bin/vmtest-console.log under the module root)")
	mem := fs.Int("m", 1024, "guest memory in MiB")
	cpus := fs.Int("smp", 2, "guest CPUs")
	tags := fs.String("tags", qemu.Tag, "build tags for the test binaries")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	extra := fs.Args() // after --: passed to every test binary, or to the -exec programs
	var progExtra []string
	if len(execs) > 0 {
		extra, progExtra = nil, extra
	}
	if len(pkgs) == 0 && len(execs) == 0 {
		pkgs = listFlag{"./internal/vmtest"}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	progress := os.Stderr
	start := time.Now()

	root, err := qemu.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := os.Chdir(root); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}

	// The kernel first: when the VM cannot exist here, say so before building anything.
	t := time.Now()
	kernel, err := qemu.FetchKernel(ctx, filepath.Join(root, qemu.FetchScript), progress)
	if err != nil {
		return unavailable(err)
	}
	fmt.Fprintf(progress, "vmtest: kernel %s (%v)\n", kernel.Version, time.Since(t).Round(time.Millisecond))

	t = time.Now()
	var tps []qemu.TestPackage
	var skipped []string
	if len(pkgs) > 0 {
		if tps, skipped, err = qemu.ListTestPackages(ctx, pkgs, *tags); err != nil {
			fmt.Fprintln(os.Stderr, "vmtest:", err)
			return 2
		}
	}
	for _, s := range skipped {
		fmt.Fprintf(progress, "vmtest: %s has no test files with -tags %s: skipped\n", s, *tags)
	}
	if len(tps) == 0 && len(execs) == 0 {
		fmt.Fprintf(os.Stderr, "vmtest: no test packages in %s\n", pkgs.String())
		return 2
	}
	work, err := os.MkdirTemp("", "hadirector-vmrun-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(work)
	paths, err := qemu.BuildTests(ctx, tps, *tags, work)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmtest:", err)
		return 2
	}
	binMap := map[string]string{}
	for _, b := range bins {
		out := filepath.Join(work, "bin-"+path.Base(b))
		if err := qemu.BuildMain(ctx, b, out); err != nil {
			fmt.Fprintln(os.Stderr, "vmtest:", err)
			return 2
		}
		binMap[path.Base(b)] = out
	}
	fmt.Fprintf(progress, "vmtest: built %d test binaries (%v)\n", len(paths), time.Since(t).Round(time.Millisecond))

	// Leave the test binary's own -test.timeout some room under the VM's, so a hung test
	// prints its goroutines instead of being cut off by the kill.
	testTimeout := *timeout - 30*time.Second
	if testTimeout < *timeout/2 {
		testTimeout = *timeout / 2
	}
	var progs []qemu.Program
	for i, p := range tps {
		args := []string{"-test.timeout=" + testTimeout.String()}
		if *verbose {
			args = append(args, "-test.v")
		}
		if *runRE != "" {
			args = append(args, "-test.run="+*runRE)
		}
		args = append(args, extra...)
		progs = append(progs, qemu.Program{Name: p.Name, Binary: paths[i], Args: args, PkgDir: p.Dir})
	}
	for _, e := range execs {
		name := path.Base(e)
		out := filepath.Join(work, "exec-"+name)
		if err := qemu.BuildMain(ctx, e, out); err != nil {
			fmt.Fprintln(os.Stderr, "vmtest:", err)
			return 2
		}
		progs = append(progs, qemu.Program{Name: name, Binary: out, Args: progExtra})
	}
	vmEnv := []string(env)
	if v, ok := os.LookupEnv("HADIRECTOR_REQUIRE_PRIV"); ok {
		vmEnv = append(vmEnv, "HADIRECTOR_REQUIRE_PRIV="+v)
	}

	if *logPath == "" {
		*logPath = filepath.Join(root, "bin", "vmtest-console.log")
	}
	// Written under a private name and renamed at the end, so that concurrent runs (several
	// engineers, one machine) each leave a whole log rather than an interleaved one.
	var console io.Writer = os.Stdout
	if err := os.MkdirAll(filepath.Dir(*logPath), 0o755); err == nil {
		if f, err := os.CreateTemp(filepath.Dir(*logPath), ".vmtest-console-*.log"); err == nil {
			defer func() {
				f.Close()
				if err := os.Rename(f.Name(), *logPath); err != nil {
					os.Remove(f.Name())
				}
			}()
			console = io.MultiWriter(os.Stdout, f)
		}
	}

	res, err := qemu.Run(ctx, qemu.Config{
		Kernel:   kernel,
		Programs: progs,
		Env:      vmEnv,
		Bin:      binMap,
		Timeout:  *timeout,
		MemoryMB: *mem,
		CPUs:     *cpus,
		Console:  console,
		Progress: progress,
	})
	if err != nil {
		if errors.Is(err, qemu.ErrUnavailable) {
			return unavailable(err)
		}
		fmt.Fprintln(os.Stderr, "vmtest:", err)
		return 2
	}
	fmt.Fprintf(progress, "\nvmtest: kernel %s, boot to /init ready %v, VM %v, total %v; console log %s\n",
		res.Kernel.Version, res.Boot.Round(time.Millisecond), res.Elapsed.Round(time.Millisecond),
		time.Since(start).Round(time.Millisecond), *logPath)
	for _, p := range res.Programs {
		switch {
		case !p.Finished:
			fmt.Fprintf(progress, "vmtest: LOST %-30s no result (crash, power-off or timeout)\n", p.Name)
		case p.Exit != 0:
			fmt.Fprintf(progress, "vmtest: FAIL %-30s exit=%d %v\n", p.Name, p.Exit, p.Duration.Round(time.Millisecond))
		default:
			fmt.Fprintf(progress, "vmtest: ok   %-30s %v\n", p.Name, p.Duration.Round(time.Millisecond))
		}
	}
	if err := res.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintln(progress, "vmtest: PASS")
	return 0
}

// unavailable reports that the VM cannot run here: a skip, or a failure when CI requires
// privileged tests to run.
func unavailable(err error) int {
	if os.Getenv("HADIRECTOR_REQUIRE_PRIV") == "1" {
		fmt.Fprintf(os.Stderr, "vmtest: FAIL: HADIRECTOR_REQUIRE_PRIV=1 and the VM cannot run: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "vmtest: SKIP: %v\n(set up the facility — see internal/vmtest — or run as root; CI runs this)\n", err)
	return 0
}
