package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[[vrrp_instance]]\nname = \"VI_1\"\nbogus = 1\n"), 0o644)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage"},
		{[]string{"nonsense"}, 2, "unknown command"},
		{[]string{"version"}, 0, "hadirector dev"},
		{[]string{"version", "extra"}, 2, "unexpected arguments"},
		{[]string{"check", "-no-such-flag"}, 2, "flag provided but not defined"},
		{[]string{"check", "-c", filepath.Join(dir, "missing.toml")}, 2, "no such file"},
		{[]string{"check", "-c", bad}, 2, "bad.toml:3: vrrp_instance \"VI_1\".bogus"},
		{[]string{"check", "-c", "../../examples/node-a.toml"}, 0, "ok: 1 vrrp instance"},
		{[]string{"check", "-c", "../../examples/node-b.toml"}, 0, "ok: 1 vrrp instance"},
		{[]string{"status", "-socket", filepath.Join(dir, "none.sock")}, 1, "is hadirector running?"},
		{[]string{"-h"}, 0, "commands:"},
		{[]string{"check", "-c", "../../examples/node-a.toml", "-peer", "../../examples/node-b.toml"}, 0, "agree"},
		{[]string{"check", "-c", "../../examples/node-a.toml", "-peer", "../../examples/node-a.toml"}, 2, "both nodes have priority 150"},
	} {
		code, out, errOut := runCmd(tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("hadirector %v: exit %d, want %d with %q\nstdout: %s\nstderr: %s", tc.args, code, tc.code, tc.want, out, errOut)
		}
	}
}

// TestCheckReportsEveryProblem: all problems at once, each with file and line.
func TestCheckReportsEveryProblem(t *testing.T) {
	f := filepath.Join(t.TempDir(), "h.toml")
	os.WriteFile(f, []byte(`[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 300
version = 2
advert_int = "100ms"
virtual_ipaddress = ["2001:db8::1/64"]
`), 0o644)
	code, _, errOut := runCmd("check", "-c", f)
	if code != 2 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"h.toml:4:", "h.toml:6:", "h.toml:7:"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("missing %s in\n%s", want, errOut)
		}
	}
}
