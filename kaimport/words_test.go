package kaimport

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hadirector/hadirector/internal/cmdline"
)

func TestSplitShell(t *testing.T) {
	for in, want := range map[string][]string{
		// keepalived.conf(5), "Quoted strings".
		`abcd" efg h jkl "mnop`: {"abcd efg h jkl mnop"},
		`abcd "efg h jkl" mnop`: {"abcd", "efg h jkl", "mnop"},
		`/bin/sh -c 'a "b" c'`:  {"/bin/sh", "-c", `a "b" c`},
		`a\ b \"c\" '\'' \\`:    {"a b", `"c"`, "'", `\`},
		`\n\t\x41\101\cA\E\q`:   {"\n\tAA\x01\x1bq"},
		`  lead   trail  `:      {"lead", "trail"},
		`""`:                    {""},
		`x"y"'z'`:               {"xyz"},
	} {
		got, err := splitShell(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{`"open`, `'open`, `trailing\`} {
		if got, err := splitShell(in); err == nil {
			t.Errorf("%s: %q, want an error", in, got)
		}
	}
}

func TestJoinCommand(t *testing.T) {
	for _, argv := range [][]string{
		{"/usr/bin/pgrep", "-x", "haproxy"},
		{"/bin/sh", "-c", "pidof x | grep -q y && echo 'ok'"},
		{"/x", "", "it's", `back\slash`, "new\nline", "$HOME", "a;b", "2>&1", "tab\there"},
	} {
		s := joinCommand(argv)
		got, err := cmdline.Split(s)
		if err != nil || !slices.Equal(got, argv) {
			t.Errorf("%q -> %s -> %q %v", argv, s, got, err)
		}
	}
}

// FuzzJoinCommand: whatever the words, hadirector's command splitter gives
// back exactly the words joinCommand wrote.
func FuzzJoinCommand(f *testing.F) {
	f.Add([]byte("/bin/sh\x00-c\x00echo 'a b' | cat"))
	f.Add([]byte("/x\x00\x00\\\x00\"\x00'"))
	f.Fuzz(func(t *testing.T, data []byte) {
		argv := strings.Split(string(data), "\x00")
		s := joinCommand(argv)
		got, err := cmdline.Split(s)
		if err != nil || !slices.Equal(got, argv) {
			t.Fatalf("%q -> %s -> %q %v", argv, s, got, err)
		}
	})
}

func TestParseTimer(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"3":        3 * time.Second,
		"0.5":      500 * time.Millisecond,
		"2.71828":  2718280 * time.Microsecond,
		"1.000001": time.Second + time.Microsecond,
		"0":        0,
		"5.":       5 * time.Second,
		".25":      250 * time.Millisecond,
	} {
		if got, ok := parseTimer(in, time.Hour); !ok || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", ".", "-1", "+1", "1.0000001", "1e3", "1s", "3601", "9999999999999"} {
		if got, ok := parseTimer(in, time.Hour); ok {
			t.Errorf("%q: %v accepted", in, got)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		60 * time.Second:        "60s",
		250 * time.Millisecond:  "250ms",
		2500 * time.Millisecond: "2.5s",
		time.Microsecond:        "0.000001s",
		0:                       "0s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(formatDuration(d)); err != nil || back != d {
			t.Errorf("%v does not parse back: %v %v", d, back, err)
		}
	}
}

func TestParseRange(t *testing.T) {
	for in, want := range map[string][2]string{
		"192.0.2.1":              {"192.0.2.1", "192.0.2.1"},
		"192.0.2.3-10":           {"192.0.2.3", "192.0.2.10"},
		"192.0.2.250-192.0.3.10": {"192.0.2.250", "192.0.3.10"},
		"192.0.2.8/29":           {"192.0.2.8", "192.0.2.15"},
		"2001:db8::2-9":          {"2001:db8::2", "2001:db8::9"},
		"2001:db8::2-ff":         {"2001:db8::2", "2001:db8::ff"},
		"2001:db8::/126":         {"2001:db8::", "2001:db8::3"},
	} {
		s, e, ok := parseRange(in)
		if !ok || s != netip.MustParseAddr(want[0]) || e != netip.MustParseAddr(want[1]) {
			t.Errorf("%q: %v-%v %v, want %v", in, s, e, ok, want)
		}
	}
	for _, in := range []string{"192.0.2.10-3", "192.0.2.1-256", "192.0.2.1-2001:db8::1", "x", "::ffff:192.0.2.1"} {
		if s, e, ok := parseRange(in); ok {
			t.Errorf("%q: %v-%v accepted", in, s, e)
		}
	}
}

func TestTOMLString(t *testing.T) {
	in := "a\"b\\c\nd\te\x00\x7f\xff"
	got := tomlString(in)
	if !bytes.Equal([]byte(got), []byte(`"a\"b\\c\nd\te\u0000\u007F`+"\uFFFD"+`"`)) {
		t.Errorf("tomlString = %s", got)
	}
}

func TestSearchPath(t *testing.T) {
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{"tool": 0o755, "data": 0o644} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	look := SearchPath("relative:" + filepath.Join(dir, "none") + ":" + dir)
	if p, err := look("tool"); err != nil || p != filepath.Join(dir, "tool") {
		t.Errorf("tool: %q %v", p, err)
	}
	for _, name := range []string{"data", "sub", "absent"} {
		if p, err := look(name); err == nil {
			t.Errorf("%s found at %s", name, p)
		}
	}
}
