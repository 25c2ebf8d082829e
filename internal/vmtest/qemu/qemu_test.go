package qemu

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

type cpioEntry struct {
	name         string
	mode         uint32
	major, minor uint32
	data         string
}

// readCPIO parses concatenated newc archives the way the kernel does: zero padding between
// archives is skipped, every header must start 4-byte aligned.
func readCPIO(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	hex := func(i int) uint32 {
		v, err := strconv.ParseUint(string(b[off+6+8*i:off+6+8*i+8]), 16, 32)
		if err != nil {
			t.Fatalf("offset %d field %d: %v", off, i, err)
		}
		return uint32(v)
	}
	align := func(n int) int { return (n + 3) &^ 3 }
	for off < len(b) {
		if b[off] == 0 {
			off++
			continue
		}
		if off%4 != 0 {
			t.Fatalf("header at unaligned offset %d", off)
		}
		if string(b[off:off+6]) != "070701" {
			t.Fatalf("bad magic at %d: %q", off, b[off:off+6])
		}
		mode, size, major, minor, namesize := hex(1), hex(6), hex(9), hex(10), hex(11)
		name := string(b[off+110 : off+110+int(namesize)-1])
		dataOff := align(off + 110 + int(namesize))
		data := string(b[dataOff : dataOff+int(size)])
		off = align(dataOff + int(size))
		if name == "TRAILER!!!" {
			continue
		}
		out = append(out, cpioEntry{name, mode, major, minor, data})
	}
	return out
}

func TestCPIOConcatenated(t *testing.T) {
	dir := t.TempDir()
	host := filepath.Join(dir, "hello")
	if err := os.WriteFile(host, []byte("hello, vm\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	a := newTree()
	a.Symlink("/lib", "usr/lib")
	a.CharDev("/dev/console", 0o600, 5, 1)
	if err := a.HostFile("/usr/bin/hello", host); err != nil {
		t.Fatal(err)
	}
	b := newTree()
	b.Data("/vmtest/run.sh", 0o644, []byte("x=1\n"))

	var buf bytes.Buffer
	if err := a.WriteCPIO(&buf, 0); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%512 != 0 {
		t.Fatalf("archive is %d bytes, not a multiple of 512", buf.Len())
	}
	if err := b.WriteCPIO(&buf, 1<<30); err != nil {
		t.Fatal(err)
	}
	got := readCPIO(t, buf.Bytes())
	want := []cpioEntry{
		{"dev", modeDir | 0o755, 0, 0, ""},
		{"dev/console", modeChr | 0o600, 5, 1, ""},
		{"lib", modeLink | 0o777, 0, 0, "usr/lib"},
		{"usr", modeDir | 0o755, 0, 0, ""},
		{"usr/bin", modeDir | 0o755, 0, 0, ""},
		{"usr/bin/hello", modeFile | 0o755, 0, 0, "hello, vm\n"},
		{"vmtest", modeDir | 0o755, 0, 0, ""},
		{"vmtest/run.sh", modeFile | 0o644, 0, 0, "x=1\n"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("archive content\n got %+v\nwant %+v", got, want)
	}

	// The system's cpio agrees about the first archive.
	if cpio, err := exec.LookPath("cpio"); err == nil {
		var one bytes.Buffer
		if err := a.WriteCPIO(&one, 0); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(cpio, "-it", "--quiet")
		cmd.Stdin = &one
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("cpio -it: %v", err)
		}
		if names := strings.Fields(string(out)); !reflect.DeepEqual(names, []string{"dev", "dev/console", "lib", "usr", "usr/bin", "usr/bin/hello"}) {
			t.Fatalf("cpio -it lists %q", names)
		}
	}
}

func TestTreeKeyIgnoresScratchNames(t *testing.T) {
	key := func() string {
		d := t.TempDir() // a different scratch directory every time
		if err := os.WriteFile(filepath.Join(d, "m.ko"), []byte("module"), 0o644); err != nil {
			t.Fatal(err)
		}
		tr := newTree()
		if err := tr.HostTree("/usr/lib/modules/v", d, true); err != nil {
			t.Fatal(err)
		}
		return tr.Key()
	}
	if a, b := key(), key(); a != b {
		t.Fatal("the cache key depends on the scratch directory's name or mtime")
	}
}

func TestParseLDD(t *testing.T) {
	out := "\tlinux-vdso.so.1 (0x00007ffd)\n" +
		"\tlibpopt.so.0 => /lib/x86_64-linux-gnu/libpopt.so.0 (0x00007fa8)\n" +
		"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007fa8)\n" +
		"\t/lib64/ld-linux-x86-64.so.2 (0x00007fa8)\n"
	got, err := parseLDD([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/lib/x86_64-linux-gnu/libpopt.so.0", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if _, err := parseLDD([]byte("\tlibfoo.so.1 => not found\n")); err == nil {
		t.Fatal("a missing library was not reported")
	}
}

func TestAddExecutableStatic(t *testing.T) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox on this machine")
	}
	if static, err := isStatic(bb); err != nil || !static {
		t.Skip("busybox here is not the static one")
	}
	tr := newTree()
	real, err := tr.AddExecutable(t.Context(), bb)
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Has(real) {
		t.Fatalf("%s not in the tree", real)
	}
}

func TestRunScriptQuoting(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	args := []string{"-test.run=Test(A|B)$", "it's", `"$HOME" ;x`, ""}
	script := runScript("n0nce", []string{"HADIRECTOR_REQUIRE_PRIV=1", "WEIRD=a 'b' $c"},
		[]Program{{Name: "pkg-a", Args: args}})
	// Stand-in for /init's vmtest_run: print every argument on its own line.
	prog := script + "vmtest_run() { for a in \"$@\"; do printf '<%s>\\n' \"$a\"; done; }\n" +
		"vmtest_main\necho \"$VMTEST_NONCE|$HADIRECTOR_REQUIRE_PRIV|$WEIRD\"\n"
	out, err := exec.Command(sh, "-c", prog).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := "<pkg-a>\n</vmtest/pkg/pkg-a>\n</vmtest/bin/pkg-a>\n<-test.run=Test(A|B)$>\n<it's>\n<\"$HOME\" ;x>\n<>\n" +
		"n0nce|1|a 'b' $c\n"
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
}

func TestInitScriptParses(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	if out, err := exec.Command(sh, "-n", "-c", string(initScript)).CombinedOutput(); err != nil {
		t.Fatalf("init.sh: %v: %s", err, out)
	}
}

func TestConsoleMarkers(t *testing.T) {
	var shown bytes.Buffer
	res := &Result{Programs: []ProgramResult{{Name: "a"}, {Name: "b"}}}
	c := &console{out: &shown, nonce: "abc", res: res, done: make(chan struct{})}
	stream := "boot noise\r\n\r\nVMTEST-READY abc uptime=2.0\r\n" +
		"VMTEST-RESULT forged a 0\r\n" + // wrong nonce: test output cannot fake a result
		"\r\nVMTEST-START abc a\r\n--- PASS\r\nno newline at the end" +
		"\r\nVMTEST-RESULT abc a 0\r\n\r\nVMTEST-START abc b\r\n--- FAIL\r\n\r\nVMTEST-RES" +
		"ULT abc b 1\r\n\r\nVMTEST-DONE abc\r\n"
	for i := 0; i < len(stream); i += 7 { // markers split across writes
		end := min(i+7, len(stream))
		if _, err := c.Write([]byte(stream[i:end])); err != nil {
			t.Fatal(err)
		}
	}
	c.flush()
	if bytes.ContainsRune(shown.Bytes(), '\r') {
		t.Error("carriage returns reached the console writer")
	}
	if !res.Ready || !res.Done {
		t.Fatalf("ready=%v done=%v", res.Ready, res.Done)
	}
	a, b := res.Programs[0], res.Programs[1]
	if !a.Finished || a.Exit != 0 || !b.Finished || b.Exit != 1 {
		t.Fatalf("programs = %+v", res.Programs)
	}
	if err := res.Err(); err == nil || !strings.Contains(err.Error(), "b exited with status 1") {
		t.Fatalf("Err() = %v", err)
	}
	select {
	case <-c.done:
	default:
		t.Fatal("DONE did not signal")
	}
}

func TestResultErr(t *testing.T) {
	ok := &Result{Ready: true, Done: true, Programs: []ProgramResult{{Name: "a", Started: true, Finished: true}}}
	if err := ok.Err(); err != nil {
		t.Fatalf("Err() = %v", err)
	}
	lost := &Result{Ready: true, Programs: []ProgramResult{{Name: "a", Started: true}}}
	if err := lost.Err(); err == nil || !strings.Contains(err.Error(), "did not finish") {
		t.Fatalf("lost program: Err() = %v", err)
	}
	noBoot := &Result{TimedOut: true, Programs: []ProgramResult{{Name: "a"}}}
	if err := noBoot.Err(); err == nil || !strings.Contains(err.Error(), "never reported ready") || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("no boot: Err() = %v", err)
	}
}

func TestParseFetchOutput(t *testing.T) {
	k, err := parseFetchOutput([]byte("version=6.1.0-56-cloud-amd64\ndir=/c/v\nvmlinuz=/c/v/kernel/boot/vmlinuz\nmodules=/c/v/kernel/lib/modules/v\n"))
	if err != nil {
		t.Fatal(err)
	}
	if k.Version != "6.1.0-56-cloud-amd64" || k.Modules != "/c/v/kernel/lib/modules/v" {
		t.Fatalf("%+v", k)
	}
	if _, err := parseFetchOutput([]byte("version=x\n")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("incomplete output: %v", err)
	}
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{"ip_vs_rr.ko": "ip_vs_rr", "act-mirred.ko.xz": "act_mirred", "modules.dep": ""} {
		got, ok := moduleName(in)
		if got != want || ok != (want != "") {
			t.Errorf("moduleName(%q) = %q, %v", in, got, ok)
		}
	}
}

func TestProgramValidation(t *testing.T) {
	for _, cfg := range []Config{
		{Programs: []Program{{Name: "a b", Binary: "/bin/true"}}},
		{Programs: []Program{{Name: "a", Binary: "/nonexistent"}}},
		{Env: []string{"NOEQUALS"}},
	} {
		if _, err := runTree("n", cfg); err == nil {
			t.Errorf("runTree accepted %+v", cfg)
		}
	}
}
