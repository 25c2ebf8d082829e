package healthcheck

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hadirector/hadirector/config"
)

const checksConfig = `
[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
virtual_ipaddress = ["192.0.2.100/24"]

[[virtual_server]]
address = "192.0.2.100:80"
  [virtual_server.check]
  type = "http"
  method = "HEAD"
  path = "/healthz"
  host = "www.example.com"
  interval = "1s"
  timeout = "500ms"
  rise = 2
  fall = 4
  [[virtual_server.real_server]]
  address = "198.51.100.11:80"
  [[virtual_server.real_server]]
  address = "198.51.100.12:80"
    [virtual_server.real_server.check]
    type = "tcp"
    connect_port = 8080
    bind_to = "192.0.2.1"
  [[virtual_server.real_server]]
  address = "198.51.100.13:8080"
    [virtual_server.real_server.check]
    type = "exec"
    command = "/bin/sh -c 'test \"$HADIRECTOR_BACKEND_ADDR:$HADIRECTOR_BACKEND_PORT\" = 198.51.100.13:8080'"

[[virtual_server]]
address = "192.0.2.100:443"
  [virtual_server.check]
  type = "https"
  method = "GET"
  expect_status = [200, 204]
  expect_body = "^ok"
  tls_verify = false
  sni = "backend.test"
  [[virtual_server.real_server]]
  address = "198.51.100.11:443"

[[virtual_server]]
address = "192.0.2.100:53"
protocol = "udp"
  [[virtual_server.real_server]]
  address = "198.51.100.11:53"
`

func parse(t *testing.T, src string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestTargetsFromConfig(t *testing.T) {
	targets, err := TargetsFromConfig(parse(t, checksConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 4 {
		t.Fatalf("%d targets, want 4 (the UDP service has no check)", len(targets))
	}
	for _, tg := range targets {
		if tg.StartDown || tg.Spec == "" {
			t.Errorf("%v: StartDown %v Spec %q", tg.ID, tg.StartDown, tg.Spec)
		}
	}

	h, ok := targets[0].Checker.(*HTTP)
	if !ok {
		t.Fatalf("first target's checker is %T", targets[0].Checker)
	}
	if targets[0].ID != (ID{"192.0.2.100:80/tcp", netip.MustParseAddrPort("198.51.100.11:80")}) ||
		targets[0].Interval != time.Second || targets[0].Timeout != 500*time.Millisecond || targets[0].Rise != 2 || targets[0].Fall != 4 {
		t.Errorf("target %+v", targets[0])
	}
	if h.TLS || h.Method != "HEAD" || h.Path != "/healthz" || h.Host != "www.example.com" || h.Addr != netip.MustParseAddrPort("198.51.100.11:80") ||
		!slices.Equal(h.ExpectStatus, []int{200}) || h.Timeout != 500*time.Millisecond {
		t.Errorf("inherited http check %+v", h)
	}

	tc, ok := targets[1].Checker.(*TCP)
	if !ok || tc.Addr != netip.MustParseAddrPort("198.51.100.12:8080") || tc.BindTo != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("tcp check %+v", targets[1].Checker)
	}
	if targets[1].Rise != 2 || targets[1].Interval != time.Second {
		t.Errorf("the real server's check did not inherit the virtual server's timing: %+v", targets[1])
	}

	ex, ok := targets[2].Checker.(*Exec)
	if !ok || ex.Argv[0] != "/bin/sh" || len(ex.Argv) != 3 {
		t.Fatalf("exec check %+v", targets[2].Checker)
	}
	if err := ex.Check(context.Background()); err != nil {
		t.Errorf("exec check did not see its backend in the environment: %v", err)
	}

	hs, ok := targets[3].Checker.(*HTTP)
	if !ok || !hs.TLS || !hs.InsecureSkipVerify || hs.SNI != "backend.test" || hs.ExpectBody == nil || hs.ExpectBody.String() != "^ok" ||
		!slices.Equal(hs.ExpectStatus, []int{200, 204}) {
		t.Errorf("https check %+v", targets[3].Checker)
	}
	if targets[3].Service != "192.0.2.100:443/tcp" {
		t.Errorf("service %q", targets[3].Service)
	}
}

// TestTargetsFromConfigSpec: reloading the same file keeps every Spec, so Set keeps state;
// changing one key changes the Spec of exactly the checks it applies to.
func TestTargetsFromConfigSpec(t *testing.T) {
	a, err := TargetsFromConfig(parse(t, checksConfig))
	if err != nil {
		t.Fatal(err)
	}
	b, err := TargetsFromConfig(parse(t, checksConfig))
	if err != nil {
		t.Fatal(err)
	}
	c, err := TargetsFromConfig(parse(t, strings.Replace(checksConfig, `path = "/healthz"`, `path = "/ready"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if !sameCheck(normalize(a[i]), normalize(b[i])) {
			t.Errorf("%v: the same file gives a different check", a[i].ID)
		}
	}
	// The path is in the first virtual server's check: the Specs of its real servers
	// change (even the tcp and exec ones, which inherit path without using it: a harmless
	// restart of their counters), those of the other virtual server do not.
	if sameCheck(normalize(a[0]), normalize(c[0])) {
		t.Error("a changed path kept the Spec")
	}
	if !sameCheck(normalize(a[3]), normalize(c[3])) {
		t.Error("another virtual server's check changed Spec")
	}
}

func TestFromConfigErrors(t *testing.T) {
	rs := netip.MustParseAddrPort("198.51.100.11:80")
	for _, tc := range []struct {
		name string
		c    *config.Check
		want string
	}{
		{"nil", nil, "has no check"},
		{"unknown type", &config.Check{Type: "smtp"}, `unknown check type "smtp"`},
		{"HEAD with body", &config.Check{Type: "http", Method: "HEAD", ExpectBody: "ok"}, "expect_body needs method GET"},
		{"bad regexp", &config.Check{Type: "http", Method: "GET", ExpectBody: "("}, "expect_body"},
		{"empty command", &config.Check{Type: "exec"}, "without a command"},
		{"bad quoting", &config.Check{Type: "exec", Command: "/bin/true 'x"}, "command"},
	} {
		_, err := FromConfig(tc.c, rs)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}
