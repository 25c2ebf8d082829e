package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hadirector/hadirector/config"
	"github.com/hadirector/hadirector/director"
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
	empty := filepath.Join(dir, "empty.toml")
	os.WriteFile(empty, []byte("[global]\nstatus_socket = \"\"\n"), 0o644)
	standalone := filepath.Join(dir, "standalone.toml")
	os.WriteFile(standalone, []byte(standaloneConfig), 0o644)
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
		{[]string{"check", "-c", "../../examples/node-a.toml"}, 0, "ok: mode vrrp (each virtual server is programmed while the instance holding its address is master): 1 vrrp instance"},
		{[]string{"check", "-c", "../../examples/node-b.toml"}, 0, "ok: mode vrrp"},
		{[]string{"check", "-c", standalone}, 0, "ok: mode standalone (no vrrp_instance: every virtual server is programmed from the start and kept checked): 0 vrrp instances, 0 sync groups, 1 virtual server, 2 real servers"},
		{[]string{"check", "-c", empty}, 2, empty + ": nothing to run: no [[vrrp_instance]] and no [[virtual_server]]"},
		{[]string{"run", "-c", empty, "-state-dir", dir}, 2, empty + ": nothing to run"},
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

// TestConfigFilePermissions: a configuration file the group or others can change decides
// what runs as root, so run refuses it (exit 2) and check --host reports it — unless
// enable_script_security is off, where it is only a warning.
func TestConfigFilePermissions(t *testing.T) {
	// An interface no host has, no hooks, no IPVS: should run ever get past the check,
	// it touches nothing.
	const body = `[global]
status_socket = ""

[[vrrp_instance]]
name = "VI_1"
interface = "hd-none0"
virtual_router_id = 51
priority = 150
virtual_ipaddress = ["192.0.2.100/24"]
`
	dir := t.TempDir()
	f := filepath.Join(dir, "h.toml")
	if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f, 0o664); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd("run", "-c", f, "-state-dir", dir)
	if code != 2 || !strings.Contains(errOut, f+" is writable by group or others") {
		t.Errorf("run with a group-writable file: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, _, errOut = runCmd("check", "--host", "-c", f)
	if code != 2 || !strings.Contains(errOut, "unsafe configuration file") {
		t.Errorf("check --host with a group-writable file: exit %d\n%s", code, errOut)
	}
	code, out, _ = runCmd("check", "-c", f)
	if code != 0 || !strings.Contains(out, "ok:") {
		t.Errorf("check without --host looks at the content only: exit %d, %s", code, out)
	}
	if err := os.Chmod(f, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut = runCmd("check", "--host", "-c", f); strings.Contains(errOut, "unsafe configuration file") {
		t.Errorf("check --host refuses a 0644 file: exit %d\n%s", code, errOut)
	}

	// With enable_script_security off: a warning, not a refusal.
	if err := os.WriteFile(f, []byte(strings.Replace(body, "[global]", "[global]\nenable_script_security = false", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f, 0o666); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	if err := checkConfigFile(f, cfg, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Errorf("security off: %v", err)
	}
	if !strings.Contains(logs.String(), "configuration file is not protected") {
		t.Errorf("security off: no warning logged: %q", logs.String())
	}
	if code, _, errOut = runCmd("check", "--host", "-c", f); strings.Contains(errOut, "unsafe configuration file") {
		t.Errorf("check --host with security off reports the file: exit %d\n%s", code, errOut)
	}
}

const standaloneConfig = `[global]
status_socket = ""

[[virtual_server]]
address = "192.0.2.100:80"
  [virtual_server.check]
  type = "http"
  [[virtual_server.real_server]]
  address = "192.0.2.11:80"
  [[virtual_server.real_server]]
  address = "192.0.2.12:80"
`

// serveStatus answers GET /status and POST /drain on a unix socket at path, as the
// daemon does, until the test ends.
func serveStatus(t *testing.T, path string, st director.Status) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) { json.NewEncoder(w).Encode(st) })
	mux.HandleFunc("POST /drain", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "drained %s\n", r.URL.Query().Get("rs")) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

// TestStatusSocketChoice: without -c and without a file at the default path, status
// and drain use the default socket (the daemon may run with its file elsewhere); with
// -c the file must exist; every connection error names the socket; the text and the
// JSON say which mode the node is in.
func TestStatusSocketChoice(t *testing.T) {
	dir := t.TempDir()
	defer func(c, s string) { defaultConfig, defaultSocket = c, s }(defaultConfig, defaultSocket)
	defaultConfig = filepath.Join(dir, "hadirector.toml") // missing
	defaultSocket = filepath.Join(dir, "default.sock")

	code, out, errOut := runCmd("status")
	if code != 1 || !strings.Contains(errOut, "status socket "+defaultSocket+": ") || strings.Contains(errOut, "config:") {
		t.Errorf("status, no daemon: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, _, errOut = runCmd("status", "-c", defaultConfig)
	if code != 2 || !strings.Contains(errOut, "no such file") {
		t.Errorf("status -c MISSING: exit %d, %s", code, errOut)
	}

	st := director.Status{RouterID: "lb1", Mode: config.ModeStandalone, LVS: &director.LVSStatus{Services: []director.ServiceStatus{
		{Service: "tcp 192.0.2.100:80", Scheduler: "rr", Programmed: true, QuorumUp: true}}}}
	serveStatus(t, defaultSocket, st)
	code, out, errOut = runCmd("status")
	if code != 0 || !strings.Contains(out, "mode standalone") || !strings.Contains(out, "standalone director: no vrrp_instance") ||
		strings.Contains(out, "INSTANCE") || !strings.Contains(out, "tcp 192.0.2.100:80") {
		t.Errorf("status: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, out, _ = runCmd("status", "--json")
	var got director.Status
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil || got.Mode != config.ModeStandalone {
		t.Errorf("status --json: exit %d, %v, mode %q\n%s", code, err, got.Mode, out)
	}
	code, out, errOut = runCmd("drain", "192.0.2.100:80", "192.0.2.11:80")
	if code != 0 || !strings.Contains(out, "drained 192.0.2.11:80") {
		t.Errorf("drain: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	// A file at the default path is read: its status_socket wins.
	other := filepath.Join(dir, "other.sock")
	os.WriteFile(defaultConfig, []byte(strings.Replace(standaloneConfig, `status_socket = ""`, fmt.Sprintf("status_socket = %q", other), 1)), 0o644)
	code, _, errOut = runCmd("status")
	if code != 1 || !strings.Contains(errOut, "status socket "+other+": ") {
		t.Errorf("status with the default file: exit %d, %s", code, errOut)
	}
	serveStatus(t, other, director.Status{Mode: config.ModeVRRP, Instances: []director.InstanceStatus{{Name: "VI_1", State: "MASTER"}}})
	code, out, _ = runCmd("status")
	if code != 0 || !strings.Contains(out, "mode vrrp") || !strings.Contains(out, "VI_1") {
		t.Errorf("status with the default file: exit %d\n%s", code, out)
	}
}

// TestCheckHostScriptUser: check --host reports a script_user that does not exist when
// the file has hooks (they would fail to run), and does not look it up without hooks.
func TestCheckHostScriptUser(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "h.toml")
	body := strings.Replace(standaloneConfig, `status_socket = ""`, "status_socket = \"\"\nscript_user = \"hadirector-no-such-user\"", 1)
	os.WriteFile(f, []byte(body), 0o644)
	if _, _, errOut := runCmd("check", "--host", "-c", f); strings.Contains(errOut, "script_user") {
		t.Errorf("check --host without hooks looked script_user up:\n%s", errOut)
	}
	os.WriteFile(f, []byte(body+"  notify_down = \"/bin/true\"\n"), 0o644)
	if code, _, errOut := runCmd("check", "--host", "-c", f); code != 2 || !strings.Contains(errOut, `script_user "hadirector-no-such-user"`) {
		t.Errorf("check --host with a hook and a missing script_user: exit %d\n%s", code, errOut)
	}
}

// TestImportExit: import's output is a file `check` accepts, or exit 2 with no
// output and the reasons on stderr (a keepalived.conf from which nothing runnable
// could be translated, e.g. a sync daemon with no virtual server and an instance
// without a VRID).
func TestImportExit(t *testing.T) {
	dir := t.TempDir()
	nothing := filepath.Join(dir, "nothing.conf")
	os.WriteFile(nothing, []byte("global_defs {\n lvs_sync_daemon eth1 VI_1\n}\nvrrp_instance VI_1 {\n interface eth0\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n"), 0o644)
	code, out, errOut := runCmd("import", nothing)
	if code != 2 || out != "" || !strings.Contains(errOut, "nothing to run") || !strings.Contains(errOut, nothing+":4: vrrp_instance VI_1") {
		t.Errorf("import %s: exit %d, stdout %q, stderr:\n%s", nothing, code, out, errOut)
	}
	conf := "../../kaimport/testdata/sync-daemon-no-vs.conf"
	code, out, errOut = runCmd("import", conf)
	toml := filepath.Join(dir, "out.toml")
	os.WriteFile(toml, []byte(out), 0o644)
	if code != 0 || !strings.Contains(errOut, conf+":5: global_defs: keyword \"lvs_sync_daemon\" not translated") {
		t.Fatalf("import %s: exit %d, stderr:\n%s", conf, code, errOut)
	}
	if code, out, errOut := runCmd("check", "-c", toml); code != 0 {
		t.Errorf("check of the imported file: exit %d\n%s%s", code, out, errOut)
	}
}
