package director

import (
	"context"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hadirector/hadirector/config"
	"github.com/hadirector/hadirector/healthcheck"
	"github.com/hadirector/hadirector/lvs"
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

func TestCheckTargets(t *testing.T) {
	targets, err := checkTargets(parse(t, checksConfig))
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

	h, ok := targets[0].Checker.(*healthcheck.HTTP)
	if !ok {
		t.Fatalf("first target's checker is %T", targets[0].Checker)
	}
	if targets[0].ID != (healthcheck.ID{Service: "192.0.2.100:80/tcp", Backend: netip.MustParseAddrPort("198.51.100.11:80")}) ||
		targets[0].Interval != time.Second || targets[0].Timeout != 500*time.Millisecond || targets[0].Rise != 2 || targets[0].Fall != 4 {
		t.Errorf("target %+v", targets[0])
	}
	if h.TLS || h.Method != "HEAD" || h.Path != "/healthz" || h.Host != "www.example.com" || h.Addr != netip.MustParseAddrPort("198.51.100.11:80") ||
		!slices.Equal(h.ExpectStatus, []int{200}) || h.Timeout != 500*time.Millisecond {
		t.Errorf("inherited http check %+v", h)
	}

	tc, ok := targets[1].Checker.(*healthcheck.TCP)
	if !ok || tc.Addr != netip.MustParseAddrPort("198.51.100.12:8080") || tc.BindTo != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("tcp check %+v", targets[1].Checker)
	}
	if targets[1].Rise != 2 || targets[1].Interval != time.Second {
		t.Errorf("the real server's check did not inherit the virtual server's timing: %+v", targets[1])
	}

	ex, ok := targets[2].Checker.(*healthcheck.Exec)
	if !ok || ex.Argv[0] != "/bin/sh" || len(ex.Argv) != 3 {
		t.Fatalf("exec check %+v", targets[2].Checker)
	}
	if err := ex.Check(context.Background()); err != nil {
		t.Errorf("exec check did not see its backend in the environment: %v", err)
	}

	hs, ok := targets[3].Checker.(*healthcheck.HTTP)
	if !ok || !hs.TLS || !hs.InsecureSkipVerify || hs.SNI != "backend.test" || hs.ExpectBody == nil || hs.ExpectBody.String() != "^ok" ||
		!slices.Equal(hs.ExpectStatus, []int{200, 204}) {
		t.Errorf("https check %+v", targets[3].Checker)
	}
	if targets[3].Service != "192.0.2.100:443/tcp" {
		t.Errorf("service %q", targets[3].Service)
	}
}

// TestCheckTargetsSpec: reloading the same file keeps every Spec, so Set keeps state;
// changing one key changes the Spec of exactly the checks it applies to.
func TestCheckTargetsSpec(t *testing.T) {
	a, err := checkTargets(parse(t, checksConfig))
	if err != nil {
		t.Fatal(err)
	}
	b, err := checkTargets(parse(t, checksConfig))
	if err != nil {
		t.Fatal(err)
	}
	c, err := checkTargets(parse(t, strings.Replace(checksConfig, `path = "/healthz"`, `path = "/ready"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if !sameCheck(a[i], b[i]) {
			t.Errorf("%v: the same file gives a different check", a[i].ID)
		}
	}
	// The path is in the first virtual server's check: the Specs of its real servers
	// change (even the tcp and exec ones, which inherit path without using it: a harmless
	// restart of their counters), those of the other virtual server do not.
	if sameCheck(a[0], c[0]) {
		t.Error("a changed path kept the Spec")
	}
	if !sameCheck(a[3], c[3]) {
		t.Error("another virtual server's check changed Spec")
	}
}

// sameCheck is what the Monitor compares to keep a target's state across a reload: the
// timing and the Spec.
func sameCheck(a, b healthcheck.Target) bool {
	return a.ID == b.ID && a.Interval == b.Interval && a.Timeout == b.Timeout && a.Rise == b.Rise && a.Fall == b.Fall && a.Spec == b.Spec
}

// Every key of a check reaches healthcheck.CheckSpec, under the same name and of the
// same kind (durations become time.Duration): the Spec renders the CheckSpec, so a key
// that did not would not restart the check when a reload changes it.
func TestCheckSpecCoversCheck(t *testing.T) {
	ct, st := reflect.TypeFor[config.Check](), reflect.TypeFor[healthcheck.CheckSpec]()
	if ct.NumField() != st.NumField() {
		t.Errorf("config.Check has %d fields, healthcheck.CheckSpec %d", ct.NumField(), st.NumField())
	}
	for i := range ct.NumField() {
		f := ct.Field(i)
		g, ok := st.FieldByName(f.Name)
		if !ok {
			t.Errorf("config.Check.%s has no field in healthcheck.CheckSpec", f.Name)
			continue
		}
		if f.Type.Kind() != g.Type.Kind() {
			t.Errorf("%s: %s in config.Check, %s in healthcheck.CheckSpec", f.Name, f.Type, g.Type)
		}
	}
	ut, us := reflect.TypeFor[config.URL](), reflect.TypeFor[healthcheck.URLSpec]()
	for i := range ut.NumField() {
		if g, ok := us.FieldByName(ut.Field(i).Name); !ok || g.Type != ut.Field(i).Type {
			t.Errorf("config.URL.%s has no field of its type in healthcheck.URLSpec", ut.Field(i).Name)
		}
	}
	if ut.NumField() != us.NumField() {
		t.Errorf("config.URL has %d fields, healthcheck.URLSpec %d", ut.NumField(), us.NumField())
	}
	// And checkSpec copies each one: a check with every field set maps to a CheckSpec
	// with no zero field.
	c := config.Check{Type: "http", Method: "GET", Path: "/", Host: "h", ExpectStatus: []int{200}, ExpectBody: "ok",
		TLSVerify: true, SNI: "s", ConnectPort: 8080, BindTo: netip.MustParseAddr("192.0.2.1"), Command: "/bin/true",
		Interval: config.Duration(time.Second), Timeout: config.Duration(time.Second), Rise: 2, Fall: 3,
		DelayBeforeRetry: config.Duration(time.Second), Warmup: config.Duration(time.Second), Payload: "01", PayloadText: "x",
		RequireReply: true, Reply: "01", MinReplyLength: 1, MaxReplyLength: 2, DNSType: "A", DNSName: "n",
		ExpectAddress: netip.MustParseAddr("192.0.2.2"), HeloName: "h", TLS: true, StartTLS: true,
		URLs: []config.URL{{Path: "/"}}, File: "/f", Weight: 1, Reverse: true, MiscDynamic: true}
	cv := reflect.ValueOf(c)
	for i := range cv.NumField() {
		if cv.Field(i).IsZero() {
			t.Fatalf("test check leaves %s zero", ct.Field(i).Name)
		}
	}
	sv := reflect.ValueOf(*checkSpec(&c))
	for i := range sv.NumField() {
		if sv.Field(i).IsZero() {
			t.Errorf("checkSpec drops %s", st.Field(i).Name)
		}
	}
}

// The seed's virtual server maps to the lvs spec with the configuration's defaults and
// inheritance resolved: the real servers take the virtual server's forwarding and
// check, the default weight and quorum.
func TestLVSSpec(t *testing.T) {
	cfg := parse(t, `
[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
virtual_ipaddress = ["192.0.2.100/24"]

[lvs]
timeout_tcp = "30s"
timeout_tcpfin = "5s"
timeout_udp = "60s"

[[virtual_server]]
address = "192.0.2.100:80"
protocol = "tcp"
scheduler = "rr"
forwarding = "dr"
persistence_timeout = "300s"
  [virtual_server.check]
  type = "http"
  [[virtual_server.real_server]]
  address = "198.51.100.11:80"
  weight = 1
  [[virtual_server.real_server]]
  address = "198.51.100.12:80"

[[virtual_server]]
fwmark = 7
protocol = "udp"
scheduler = "mh"
scheduler_flags = ["mh-port"]
persistence_timeout = "60s"
persistence_netmask = "255.255.255.0"
one_packet = true
sorry_server = "198.51.100.250:0"
inhibit_on_failure = true
quorum = 4
hysteresis = 1
  [[virtual_server.real_server]]
  address = "198.51.100.13:443"
  forwarding = "nat"
  weight = 5
  upper_threshold = 100
  lower_threshold = 10

[[virtual_server]]
address = "192.0.2.100:443"
  [[virtual_server.real_server]]
  address = "198.51.100.11:443"
`)
	want := &lvs.Spec{
		Timeouts: lvs.Timeouts{TCP: 30 * time.Second, TCPFin: 5 * time.Second, UDP: 60 * time.Second},
		Services: []lvs.ServiceSpec{{
			Address: netip.MustParseAddrPort("192.0.2.100:80"), Protocol: "tcp", Scheduler: "rr", Forwarding: "dr",
			PersistenceTimeout: 300 * time.Second, Quorum: 1,
			RealServers: []lvs.RealServerSpec{
				{Address: netip.MustParseAddrPort("198.51.100.11:80"), Forwarding: "dr", Weight: 1, Checked: true},
				{Address: netip.MustParseAddrPort("198.51.100.12:80"), Forwarding: "dr", Weight: 1, Checked: true},
			},
		}, {
			FWMark: 7, Protocol: "udp", Scheduler: "mh", SchedulerFlags: []string{"mh-port"}, Forwarding: "dr",
			PersistenceTimeout: time.Minute, PersistenceNetmask: netip.MustParseAddr("255.255.255.0"), OnePacket: true,
			SorryServer: netip.MustParseAddrPort("198.51.100.250:0"), InhibitOnFailure: true, Quorum: 4, Hysteresis: 1,
			RealServers: []lvs.RealServerSpec{
				{Address: netip.MustParseAddrPort("198.51.100.13:443"), Forwarding: "nat", Weight: 5, UpperThreshold: 100, LowerThreshold: 10},
			},
		}, {
			Address: netip.MustParseAddrPort("192.0.2.100:443"), Protocol: "tcp", Scheduler: "wlc", Forwarding: "dr", Quorum: 1,
			RealServers: []lvs.RealServerSpec{{Address: netip.MustParseAddrPort("198.51.100.11:443"), Forwarding: "dr", Weight: 1}},
		}},
	}
	if got := LVSSpec(cfg); !reflect.DeepEqual(got, want) {
		t.Errorf("LVSSpec\n%+v\nwant\n%+v", got, want)
	}
	// A real server without a check is always up: the health function is asked about
	// the checked ones only.
	var asked []netip.AddrPort
	m, err := lvs.FromSpec(LVSSpec(cfg), func(_ *lvs.ServiceSpec, rs *lvs.RealServerSpec) bool {
		asked = append(asked, rs.Address)
		return false
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []netip.AddrPort{netip.MustParseAddrPort("198.51.100.11:80"), netip.MustParseAddrPort("198.51.100.12:80")}; !slices.Equal(asked, want) {
		t.Errorf("asked about %v, want %v", asked, want)
	}
	https := m.Table[lvs.AddrKey(lvs.TCP, netip.MustParseAddrPort("192.0.2.100:443"))]
	if https == nil || https.Service.Scheduler != "wlc" || len(https.Destinations) != 1 {
		t.Errorf("192.0.2.100:443 (default scheduler, always up): %+v", https)
	}
}

// The model's spec is mapped once per configuration and again after a reload.
func TestLVSStateSpecFollowsReload(t *testing.T) {
	const vs = `
[[virtual_server]]
address = "192.0.2.100:80"
  [[virtual_server.real_server]]
  address = "198.51.100.11:80"
`
	a := parse(t, vs)
	b := parse(t, strings.Replace(vs, "198.51.100.11:80", "198.51.100.12:80", 1))
	l := &lvsState{d: &Director{cfg: a}}
	first := l.lvsSpec()
	if l.lvsSpec() != first || !reflect.DeepEqual(first, LVSSpec(a)) {
		t.Fatal("the same configuration was mapped again, or differently")
	}
	l.d.cfg = b
	if got := l.lvsSpec(); got.Services[0].RealServers[0].Address != netip.MustParseAddrPort("198.51.100.12:80") {
		t.Fatalf("after a reload: %+v", got.Services[0].RealServers)
	}
}
