package director

import (
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hadirector/hadirector/config"
	"github.com/hadirector/hadirector/internal/privtest"
	"github.com/hadirector/hadirector/lvs"
	"github.com/hadirector/hadirector/vrrp"
)

// Two services on the VIP 192.0.2.100, one on an address no instance holds, one by
// firewall mark.
const modeServices = `
[[virtual_server]]
address = "192.0.2.100:80"
  [[virtual_server.real_server]]
  address = "192.0.2.11:80"

[[virtual_server]]
address = "192.0.2.100:443"
  [[virtual_server.real_server]]
  address = "192.0.2.11:443"

[[virtual_server]]
address = "198.51.100.1:80"
  [[virtual_server.real_server]]
  address = "192.0.2.12:80"

[[virtual_server]]
fwmark = 7
  [[virtual_server.real_server]]
  address = "192.0.2.12:0"
`

const modeInstance = `
[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
priority = 100
virtual_ipaddress = ["192.0.2.100/24"]
`

func parse(t *testing.T, src string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("mode.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// testInstances are the configuration's instances as the director runs them, without a
// host: a state machine and the VIP list, each stepped out of Initialize into BACKUP (or
// MASTER when its priority is 255).
func testInstances(cfg *config.Config, t0 time.Time) []*instance {
	var out []*instance
	for i := range cfg.Instances {
		c := &cfg.Instances[i]
		in := &instance{cfg: c, sp: newSpec(c)}
		in.m = vrrp.NewMachine(machineConfig(c, netip.MustParseAddr("192.0.2.1"), 0))
		in.m.Step(t0, vrrp.Event{Kind: vrrp.EvStartup})
		out = append(out, in)
	}
	return out
}

// becomeMaster runs in's master-down timer out.
func becomeMaster(t *testing.T, in *instance) {
	t.Helper()
	if dl := in.m.Deadline(); !dl.IsZero() {
		in.m.Step(dl, vrrp.Event{Kind: vrrp.EvTimer})
	}
	if in.m.State() != vrrp.Master {
		t.Fatalf("instance is %s, not master", in.m.State())
	}
}

func active(t *testing.T, cfg *config.Config, ins []*instance) []string {
	t.Helper()
	m, err := lvs.FromSpec(LVSSpec(cfg), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range activeTable(cfg, ins, m.Table) {
		out = append(out, k.String())
	}
	slices.Sort(out)
	return out
}

// TestActiveTableModes: without any vrrp_instance every service is programmed from the
// start (a single director: "any instance is master" would never hold, and nothing
// would ever be programmed); with instances a service follows its VIP's instance and
// the others follow "any instance is master"; a VRRP configuration whose instances are
// not running (one failed to start on a reload) programs nothing — it is not standalone.
func TestActiveTableModes(t *testing.T) {
	all := []string{"fwmark 7", "tcp 192.0.2.100:443", "tcp 192.0.2.100:80", "tcp 198.51.100.1:80"}
	t0 := time.Unix(1000, 0)

	standalone := parse(t, modeServices)
	if got := standalone.Mode(); got != config.ModeStandalone {
		t.Fatalf("Mode = %q", got)
	}
	if got := active(t, standalone, nil); !slices.Equal(got, all) {
		t.Errorf("standalone: active %v, want every service %v", got, all)
	}

	vrrpCfg := parse(t, modeInstance+modeServices)
	if got := vrrpCfg.Mode(); got != config.ModeVRRP {
		t.Fatalf("Mode = %q", got)
	}
	ins := testInstances(vrrpCfg, t0)
	if got := active(t, vrrpCfg, ins); len(got) != 0 {
		t.Errorf("vrrp, backup: active %v, want none", got)
	}
	if got := active(t, vrrpCfg, nil); len(got) != 0 {
		t.Errorf("vrrp, no instance running: active %v, want none", got)
	}
	becomeMaster(t, ins[0])
	if got := active(t, vrrpCfg, ins); !slices.Equal(got, all) {
		t.Errorf("vrrp, master: active %v, want %v", got, all)
	}

	// Two instances: the VIP's services follow their own instance, the rest any master.
	two := parse(t, modeInstance+strings.NewReplacer(`"VI_1"`, `"VI_2"`, "51", "52", "192.0.2.100/24", "192.0.2.200/24").Replace(modeInstance)+modeServices)
	ins = testInstances(two, t0)
	becomeMaster(t, ins[1])
	if got, want := active(t, two, ins), []string{"fwmark 7", "tcp 198.51.100.1:80"}; !slices.Equal(got, want) {
		t.Errorf("vrrp, VI_2 master: active %v, want %v", got, want)
	}

	keep := parse(t, modeInstance+"[lvs]\non_backup = \"keep\"\n"+modeServices)
	if got := active(t, keep, testInstances(keep, t0)); !slices.Equal(got, all) {
		t.Errorf("vrrp, on_backup keep: active %v, want %v", got, all)
	}
}

// TestModeEmpty: a configuration with nothing to run is refused by New, naming the file.
func TestModeEmpty(t *testing.T) {
	cfg := parse(t, "[global]\nrouter_id = \"x\"\n")
	_, err := New(Options{Config: cfg, ConfigPath: "empty.toml", StateDir: t.TempDir(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if !errors.Is(err, config.ErrNothingToRun) || !strings.Contains(err.Error(), "empty.toml") {
		t.Errorf("New with nothing to run: %v", err)
	}
}

// TestStatusMode: the status document says which mode the node is in.
func TestStatusMode(t *testing.T) {
	d, err := New(Options{Config: parse(t, "[global]\nstatus_socket = \"\"\n"+modeServices), StateDir: t.TempDir(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if s := d.snapshot(time.Now()); s.Mode != config.ModeStandalone || len(s.Instances) != 0 {
		t.Errorf("status: mode %q, %d instances", s.Mode, len(s.Instances))
	}
}

// TestNewWithoutPasswd: on a root file system without /etc/passwd (minimal images,
// initramfs), New succeeds for a configuration without hooks — whatever script_user
// says — and with hooks as "root" or a numeric id; a named user with hooks is the one
// case that needs the lookup, and its failure names the user. The test runs itself again
// in a private mount namespace with an empty tmpfs over /etc.
func TestNewWithoutPasswd(t *testing.T) {
	if os.Getenv("HADIRECTOR_TEST_NO_PASSWD") == "1" {
		newWithoutPasswd(t)
		return
	}
	privtest.Root(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestNewWithoutPasswd$", "-test.v")
	cmd.Env = append(os.Environ(), "HADIRECTOR_TEST_NO_PASSWD=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS} // mounts made private
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestNewWithoutPasswd") {
		t.Fatalf("in a mount namespace without /etc/passwd: %v\n%s", err, out)
	}
}

func newWithoutPasswd(t *testing.T) {
	if err := syscall.Mount("tmpfs", "/etc", "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("tmpfs over /etc: %v", err)
	}
	if _, err := os.Stat("/etc/passwd"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("/etc/passwd is still there: %v", err)
	}
	hook := "\n[[virtual_server.real_server]]\naddress = \"192.0.2.13:80\"\nnotify_up = \"/bin/true\"\n"
	for _, tc := range []struct {
		name, user, more string
		err              string
	}{
		{"no hooks, default user", "root", "", ""},
		{"no hooks, named user", "nobody", "", ""},
		{"hooks, root", "root", hook, ""},
		{"hooks, numeric", "65534:65534", hook, ""},
		{"hooks, named user", "nobody", hook, `script_user "nobody"`},
	} {
		cfg := parse(t, "[global]\nstatus_socket = \"\"\nscript_user = \""+tc.user+"\"\n"+modeServices+tc.more)
		_, err := New(Options{Config: cfg, StateDir: filepath.Join(t.TempDir(), "state"), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.err)
		}
	}
}
