package config

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

const minimal = `
[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
virtual_ipaddress = ["192.0.2.100/24"]

[[virtual_server]]
address = "192.0.2.100:80"
  [[virtual_server.real_server]]
  address = "198.51.100.11:80"
    [virtual_server.real_server.check]
    type = "tcp"
`

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	cfg, err := Parse("test.toml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

func TestDefaults(t *testing.T) {
	cfg := mustParse(t, minimal)
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = defaultRouterID
	}
	g := cfg.Global
	wantGlobal := Global{
		RouterID:             host,
		StatusSocket:         "/run/hadirector/hadirector.sock",
		LogLevel:             "info",
		LogFormat:            "text",
		NotifyTimeout:        Duration(30 * time.Second),
		ScriptUser:           "root",
		EnableScriptSecurity: true,
		GARPMasterDelay:      Duration(5 * time.Second),
		GARPMasterRepeat:     5,
	}
	if g != wantGlobal {
		t.Errorf("global:\n got %+v\nwant %+v", g, wantGlobal)
	}
	in := cfg.Instances[0]
	wantInst := Instance{
		Name:               "VI_1",
		Interface:          "eth0",
		VirtualRouterID:    51,
		Version:            3,
		Priority:           100,
		AdvertInt:          Duration(time.Second),
		Accept:             true,
		OldUnicastChecksum: "reject",
		NARouter:           "auto",
		VirtualIPAddress:   []netip.Prefix{netip.MustParsePrefix("192.0.2.100/24")},
		GARPMasterDelay:    Duration(5 * time.Second),
		GARPMasterRepeat:   5,
	}
	if !reflect.DeepEqual(in, wantInst) {
		t.Errorf("instance:\n got %+v\nwant %+v", in, wantInst)
	}
	// The address bits stay as written: this is a host address, not a network.
	if got := in.VirtualIPAddress[0].Addr(); got != netip.MustParseAddr("192.0.2.100") {
		t.Errorf("VIP address = %s, want 192.0.2.100", got)
	}
	if in.Family() != 4 {
		t.Errorf("Family = %d, want 4", in.Family())
	}
	wantLVS := LVS{OnBackup: "withdraw", ReconcileInterval: Duration(30 * time.Second),
		SysctlIPForward: "auto", SysctlExpireNodestConn: "auto", SysctlExpireQuiescentTemplate: "auto", SysctlConntrack: "auto",
		SysctlSloppyTCP: "auto", SysctlSloppySCTP: "auto"}
	if cfg.LVS != wantLVS {
		t.Errorf("lvs = %+v, want %+v", cfg.LVS, wantLVS)
	}
	vs := cfg.VirtualServers[0]
	if vs.Protocol != "tcp" || vs.Scheduler != "wlc" || vs.Forwarding != "dr" || vs.Quorum != 1 || vs.Hysteresis != 0 || vs.PersistenceTimeout != 0 || vs.Check != nil {
		t.Errorf("virtual server defaults: %+v", vs)
	}
	rs := vs.RealServers[0]
	if rs.Weight != 1 || rs.Forwarding != "dr" {
		t.Errorf("real server defaults: %+v", rs)
	}
	wantCheck := Check{
		Type: "tcp", Method: "GET", Path: "/", ExpectStatus: []int{200}, TLSVerify: true,
		Interval: Duration(2 * time.Second), Timeout: Duration(3 * time.Second), Rise: 1, Fall: 3,
	}
	if !reflect.DeepEqual(*rs.Check, wantCheck) {
		t.Errorf("check:\n got %+v\nwant %+v", *rs.Check, wantCheck)
	}

	cfg = mustParse(t, `
[[vrrp_script]]
name = "chk"
script = "/bin/true"
`)
	wantScript := VRRPScript{Name: "chk", Script: "/bin/true", Interval: Duration(2 * time.Second), Timeout: Duration(time.Second), Rise: 2, Fall: 2}
	if cfg.Scripts[0] != wantScript {
		t.Errorf("vrrp_script = %+v, want %+v", cfg.Scripts[0], wantScript)
	}
}

func TestEmptyFile(t *testing.T) {
	cfg := mustParse(t, "")
	if got, want := cfg.Summary(), "0 vrrp instances, 0 sync groups, 0 virtual servers, 0 real servers"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
}

// TestMode: instances make a VRRP node; virtual servers alone a standalone director;
// neither is nothing to run, which Runnable reports naming the file.
func TestMode(t *testing.T) {
	vs := "[[virtual_server]]\naddress = \"192.0.2.100:80\"\n  [[virtual_server.real_server]]\n  address = \"192.0.2.11:80\"\n"
	in := "[[vrrp_instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvirtual_router_id = 51\nvirtual_ipaddress = [\"192.0.2.100/24\"]\n"
	for _, tc := range []struct {
		src  string
		want Mode
	}{
		{"", ModeEmpty},
		{"[[vrrp_script]]\nname = \"chk\"\nscript = \"/bin/true\"\n", ModeEmpty},
		{vs, ModeStandalone},
		{in, ModeVRRP},
		{in + vs, ModeVRRP},
	} {
		cfg := mustParse(t, tc.src)
		if got := cfg.Mode(); got != tc.want {
			t.Errorf("Mode of %q = %q, want %q", tc.src, got, tc.want)
		}
		err := cfg.Runnable("f.toml")
		if tc.want == ModeEmpty {
			if !errors.Is(err, ErrNothingToRun) || !strings.HasPrefix(err.Error(), "f.toml: ") {
				t.Errorf("Runnable of %q = %v", tc.src, err)
			}
		} else if err != nil {
			t.Errorf("Runnable of %q = %v", tc.src, err)
		}
	}
}

func TestReference(t *testing.T) {
	cfg, err := Load("testdata/reference.toml")
	if err != nil {
		t.Fatalf("the reference schema does not load:\n%v", err)
	}
	if got, want := cfg.Summary(), "1 vrrp instance, 1 sync group, 2 virtual servers, 2 real servers"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	if cfg.Scripts[0].Weight != -20 || cfg.SyncGroups[0].Group[0] != "VI_1" {
		t.Errorf("examples not decoded: %+v %+v", cfg.Scripts[0], cfg.SyncGroups[0])
	}
	vs := cfg.VirtualServers[0]
	if vs.Scheduler != "rr" || vs.PersistenceTimeout != Duration(300*time.Second) {
		t.Errorf("virtual server: %+v", vs)
	}
	// The real server's forwarding is "" in the reference: inherited.
	if rs := vs.RealServers[0]; rs.Forwarding != "dr" || rs.Check == nil || rs.Check.Type != "http" {
		t.Errorf("real server: %+v", rs)
	}
	roundTrip(t, cfg)
}

// roundTrip checks that a parsed configuration encodes to TOML that parses to
// the same configuration.
func roundTrip(t testing.TB, cfg *Config) {
	t.Helper()
	var first bytes.Buffer
	if err := toml.NewEncoder(&first).Encode(cfg); err != nil {
		t.Fatalf("encode: %v", err)
	}
	again, err := parse("roundtrip.toml", first.Bytes())
	if err != nil {
		t.Fatalf("re-parse of the encoded configuration failed: %v\n%s", err, first.String())
	}
	var second bytes.Buffer
	if err := toml.NewEncoder(&second).Encode(again); err != nil {
		t.Fatalf("encode: %v", err)
	}
	if first.String() != second.String() {
		t.Fatalf("round trip changed the configuration:\n%s\n---\n%s", first.String(), second.String())
	}
}

func TestInheritance(t *testing.T) {
	cfg := mustParse(t, `
[global]
garp_master_delay = "2s"
garp_master_repeat = 3
garp_master_refresh = "60s"

[[vrrp_instance]]
name = "inherits"
interface = "eth0"
virtual_router_id = 1
virtual_ipaddress = ["192.0.2.1/24"]

[[vrrp_instance]]
name = "overrides"
interface = "eth0"
virtual_router_id = 2
virtual_ipaddress = ["192.0.2.2/24"]
garp_master_delay = "0s"
garp_master_repeat = 1
garp_master_refresh = "0s"

[[virtual_server]]
address = "192.0.2.1:443"
forwarding = "nat"
  [virtual_server.check]
  type = "https"
  path = "/healthz"
  expect_status = [200, 204]
  timeout = "1s"
  [[virtual_server.real_server]]
  address = "198.51.100.1:8443"
  [[virtual_server.real_server]]
  address = "198.51.100.2:8443"
  forwarding = "tun"
    [virtual_server.real_server.check]
    path = "/other"
    fall = 5
`)
	a, b := cfg.Instances[0], cfg.Instances[1]
	if a.GARPMasterDelay != Duration(2*time.Second) || a.GARPMasterRepeat != 3 || a.GARPMasterRefresh != Duration(time.Minute) {
		t.Errorf("inherited GARP: %v %v %v", a.GARPMasterDelay, a.GARPMasterRepeat, a.GARPMasterRefresh)
	}
	if b.GARPMasterDelay != 0 || b.GARPMasterRepeat != 1 || b.GARPMasterRefresh != 0 {
		t.Errorf("overridden GARP: %v %v %v", b.GARPMasterDelay, b.GARPMasterRepeat, b.GARPMasterRefresh)
	}

	vs := cfg.VirtualServers[0]
	r1, r2 := vs.RealServers[0], vs.RealServers[1]
	if r1.Forwarding != "nat" || r2.Forwarding != "tun" {
		t.Errorf("forwarding = %q, %q; want nat, tun", r1.Forwarding, r2.Forwarding)
	}
	if !reflect.DeepEqual(r1.Check, vs.Check) || r1.Check == vs.Check {
		t.Errorf("real server 1 should have a copy of the virtual server's check: %+v", r1.Check)
	}
	want := *vs.Check
	want.Path = "/other"
	want.Fall = 5
	if !reflect.DeepEqual(*r2.Check, want) {
		t.Errorf("merged check:\n got %+v\nwant %+v", *r2.Check, want)
	}
	// The copies must not share the slice.
	r1.Check.ExpectStatus[0] = 999
	if vs.Check.ExpectStatus[0] != 200 || r2.Check.ExpectStatus[0] != 200 {
		t.Error("checks share ExpectStatus")
	}
}

func TestNamesAndAddresses(t *testing.T) {
	cfg := mustParse(t, `
[[vrrp_instance]]
name = "VI_6"
interface = "eth0"
virtual_router_id = 51
advert_int = "20ms"
unicast_src_ip = "2001:db8::1"
unicast_peer = ["2001:db8::2", "2001:db8::3"]
virtual_ipaddress = ["2001:db8::100/64"]
track_interface = [{ name = "eth1", weight = -30 }, { name = "eth2" }]

[[virtual_server]]
fwmark = 7
protocol = "udp"
one_packet = true
  [[virtual_server.real_server]]
  address = "[2001:db8::11]:0"
`)
	in := cfg.Instances[0]
	if in.Family() != 6 || in.AdvertInt != Duration(20*time.Millisecond) || len(in.UnicastPeer) != 2 || in.UnicastSrcIP != netip.MustParseAddr("2001:db8::1") {
		t.Errorf("instance: %+v", in)
	}
	if !reflect.DeepEqual(in.TrackInterface, []TrackInterface{{Name: "eth1", Weight: -30}, {Name: "eth2"}}) {
		t.Errorf("track_interface = %+v", in.TrackInterface)
	}
	if vs := cfg.VirtualServers[0]; vs.FWMark != 7 || vs.Address.IsValid() || vs.String() != "fwmark 7" {
		t.Errorf("virtual server: %+v", vs)
	}
}

func TestProblems(t *testing.T) {
	const inst = "[[vrrp_instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvirtual_router_id = 51\nvirtual_ipaddress = [\"192.0.2.100/24\"]\n" // lines 1-5
	const vs = "[[virtual_server]]\naddress = \"192.0.2.100:80\"\n"                                                                             // lines 1-2
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"syntax error", "[global]\nlog_level = \n", []string{
			`f.toml:2: syntax error: expected value but found '\n' instead`}},
		{"duplicate key", "[global]\nlog_level = \"info\"\nlog_level = \"debug\"\n", []string{
			`f.toml:3: syntax error: Key 'global.log_level' has already been defined.`}},
		{"unknown top-level key", "\n\nbogus = 1\n", []string{
			`f.toml:3: bogus: unknown key`}},
		{"unknown table", "[global]\n[bogus]\nx = 1\ny = 2\n", []string{
			`f.toml:2: bogus: unknown key`}},
		{"case matters", "[global]\nLog_Level = \"info\"\n", []string{
			`f.toml:2: global.Log_Level: unknown key (keys are case-sensitive: "log_level")`}},
		{"keepalived keyword", inst + "state = \"MASTER\"\n", []string{
			`f.toml:6: vrrp_instance "VI_1".state: unknown key (there is no initial state: the highest priority becomes master; use priority and nopreempt)`}},
		{"unknown key in second instance", inst + "\n" + strings.NewReplacer("VI_1", "VI_2", "51", "52", ".100", ".101").Replace(inst) + "adver_int = \"1s\"\n", []string{
			`f.toml:12: vrrp_instance "VI_2".adver_int: unknown key (did you mean "advert_int"?)`}},
		{"unknown key in unnamed element", "[[vrrp_script]]\nscript = \"/bin/true\"\nnmae = \"x\"\n", []string{
			`f.toml:1: vrrp_script[0].name: is required`,
			`f.toml:3: vrrp_script[0].nmae: unknown key (did you mean "name"?)`}},
		{"unknown key in inline table", inst + "track_interface = [\n  { name = \"eth1\", weight = -30 },\n  { name = \"eth2\", wieght = 5 },\n]\n", []string{
			`f.toml:8: vrrp_instance "VI_1".track_interface "eth2".wieght: unknown key (did you mean "weight"?)`}},
		{"after multi-line array", "[[vrrp_instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvirtual_router_id = 51\nvirtual_ipaddress = [\n  \"192.0.2.100/24\", # first\n  \"192.0.2.101/24\",\n]\npriority = 0\n", []string{
			`f.toml:9: vrrp_instance "VI_1".priority: 0 is out of range 1..255`}},
		{"element of multi-line array", "[[vrrp_instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvirtual_router_id = 51\nvirtual_ipaddress = [\n  \"192.0.2.100/24\",\n  \"192.0.2.300/24\",\n  \"2001:db8::1/64\",\n]\n", []string{
			`f.toml:7: vrrp_instance "VI_1".virtual_ipaddress[1]: "192.0.2.300/24" is not an address with a prefix length, such as "192.0.2.100/24"`,
			`f.toml:8: vrrp_instance "VI_1".virtual_ipaddress[2]: 2001:db8::1/64 mixes IPv6 into IPv4 virtual addresses: use two instances, one per address family, as RFC 5798 §5.2.9 requires one family per advert`}},
		{"virtual_address", inst + "virtual_address = [\n  { address = \"198.51.100.1/24\", dev = \"eth1\", label = \"eth0:gw\" },\n  { dev = \"eth1\" },\n  { address = \"192.0.2.100/24\", dev = \"eth1\", bogus = 1, scope = \"universe\" },\n]\nvirtual_ipaddress_excluded = [\"2001:db8::1/64\", \"224.0.0.1/32\"]\n", []string{
			`f.toml:7: vrrp_instance "VI_1".virtual_address[0].label: "eth0:gw" must begin with the interface name "eth1" (the kernel rejects other labels)`,
			`f.toml:8: vrrp_instance "VI_1".virtual_address[1].address: is required: an address with a prefix length, such as "198.51.100.1/24"`,
			`f.toml:9: vrrp_instance "VI_1".virtual_address[2].bogus: unknown key`,
			`f.toml:9: vrrp_instance "VI_1".virtual_address[2].address: 192.0.2.100 is listed twice`,
			`f.toml:9: vrrp_instance "VI_1".virtual_address[2].scope: "universe" is not one of global, site, link, host, nowhere`,
			`f.toml:11: vrrp_instance "VI_1".virtual_ipaddress_excluded[1]: 224.0.0.1 cannot be a virtual address`}},
		{"virtual_rules", inst + "virtual_rules = [\n  { from = \"198.51.100.0/24\", to = \"2001:db8::/32\", table = 100, priority = 10 },\n  { from = \"198.51.100.0/24\" },\n]\n", []string{
			`f.toml:7: vrrp_instance "VI_1".virtual_rules[0].to: 2001:db8::/32 and from 198.51.100.0/24 are of two address families`,
			`f.toml:8: vrrp_instance "VI_1".virtual_rules[1].table: 0 is not a routing table: use 1..4294967295`,
			`f.toml:8: vrrp_instance "VI_1".virtual_rules[1].priority: is required (1..4294967295): a rule without one goes first, before the main table's`}},
		{"virtual_routes", inst + "virtual_routes = [\n  { to = \"0.0.0.0/0\" },\n  { to = \"198.51.100.0/24\", via = \"2001:db8::1\", type = \"blackhole\" },\n  { to = \"203.0.113.0/24\", dev = \"eth1\", table = 255 },\n]\n", []string{
			`f.toml:7: vrrp_instance "VI_1".virtual_routes[0]: a unicast route needs via or dev`,
			`f.toml:8: vrrp_instance "VI_1".virtual_routes[1].via: 2001:db8::1 is IPv6 but the destination 198.51.100.0/24 is IPv4`,
			`f.toml:8: vrrp_instance "VI_1".virtual_routes[1].type: a blackhole route has no via or dev`,
			`f.toml:9: vrrp_instance "VI_1".virtual_routes[2].table: 255 is not a routing table: use 1..4294967295 other than 255 (local), or 0 for main`}},
		{"after multi-line string", "[global]\nrouter_id = \"\"\"\nlb1\n\"\"\"\nlog_format = \"xml\"\n", []string{
			`f.toml:5: global.log_format: "xml" is not one of text, json`}},
		{"byte order mark and CRLF", "\ufeff[global]\r\n\r\nlog_level = \"x\"\r\n", []string{
			`f.toml:3: global.log_level: "x" is not one of debug, info, warn, error`}},
		{"multi-line inline table", "[[vrrp_instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvirtual_router_id = 51\nvirtual_ipaddress = [\"192.0.2.100/24\"]\ntrack_interface = [\n  {\n    name = \"eth1\",\n    bogus = 1,\n  },\n]\n", []string{
			`f.toml:9: vrrp_instance "VI_1".track_interface "eth1".bogus: unknown key`}},
		{"dotted keys", "global.log_level = \"loud\"\n", []string{
			`f.toml:1: global.log_level: "loud" is not one of debug, info, warn, error`}},
		{"nested array of tables", vs + "[[virtual_server.real_server]]\naddress = \"198.51.100.1:80\"\n[[virtual_server]]\naddress = \"192.0.2.100:443\"\n[[virtual_server.real_server]]\naddress = \"198.51.100.1:443\"\n[[virtual_server.real_server]]\naddress = \"198.51.100.2:443\"\nweight = -1\n", []string{
			`f.toml:11: virtual_server "192.0.2.100:443".real_server "198.51.100.2:443".weight: -1 is out of range 0..65535`}},
		{"wrong types", "[global]\nnotify_timeout = 5\nrealtime_priority = 1.5\nlock_memory = \"yes\"\nlog_level = 1\n", []string{
			`f.toml:2: global.notify_timeout: expected a duration string such as "1s", got integer 5`,
			`f.toml:3: global.realtime_priority: expected an integer, got float 1.5`,
			`f.toml:4: global.lock_memory: expected true or false, got string "yes"`,
			`f.toml:5: global.log_level: expected a string, got integer 1`}},
		{"bad durations", "[global]\nnotify_timeout = \"30\"\ngarp_master_delay = \"-1s\"\n", []string{
			`f.toml:2: global.notify_timeout: invalid duration "30": want a number with a unit, such as "1s" or "100ms"`,
			`f.toml:3: global.garp_master_delay: duration "-1s" must not be negative`}},
		{"table for array", "[vrrp_instance]\nname = \"x\"\n", []string{
			`f.toml:1: vrrp_instance: expected an array of tables, got a table (write [[vrrp_instance]] for each element)`}},
		{"array for table", "[[global]]\n", []string{
			`f.toml:1: global: expected a table, got an array of tables (write [global], not [[global]])`}},
		{"global values", "[global]\nstatus_socket = \"run/x.sock\"\nmetrics_listen = \"9650\"\nnotify_timeout = \"0s\"\nnotify_fifo = \"fifo\"\nscript_user = \"\"\nrealtime_priority = 100\ngarp_master_repeat = 0\n", []string{
			`f.toml:2: global.status_socket: "run/x.sock" must be an absolute path`,
			`f.toml:3: global.metrics_listen: "9650" is not host:port, such as "127.0.0.1:9650"`,
			`f.toml:4: global.notify_timeout: must be greater than 0s`,
			`f.toml:5: global.notify_fifo: "fifo" must be an absolute path`,
			`f.toml:6: global.script_user: must not be empty`,
			`f.toml:7: global.realtime_priority: 100 is out of range 0..99`,
			`f.toml:8: global.garp_master_repeat: must be at least 1: the gratuitous ARPs are what move traffic to a new master`}},
		{"missing instance keys", "\n[[vrrp_instance]]\npriority = 100\n", []string{
			`f.toml:2: vrrp_instance[0].name: is required`,
			`f.toml:2: vrrp_instance[0].interface: is required`,
			`f.toml:2: vrrp_instance[0].virtual_router_id: is required (1..255)`,
			`f.toml:2: vrrp_instance[0].virtual_ipaddress: at least one virtual address is required`}},
		{"duplicate key in instance", inst + "virtual_router_id = 0\n", []string{
			`f.toml:6: syntax error: Key 'vrrp_instance.virtual_router_id' has already been defined.`}},
		{"instance values", strings.Replace(inst, "51", "256", 1) + "version = 4\npriority = 256\npreempt_delay = \"1001s\"\n", []string{
			`f.toml:4: vrrp_instance "VI_1".virtual_router_id: 256 is out of range 1..255`,
			`f.toml:6: vrrp_instance "VI_1".version: 4 is not a VRRP version: use 2 (RFC 3768) or 3 (RFC 5798)`,
			`f.toml:7: vrrp_instance "VI_1".priority: 256 is out of range 1..255`,
			`f.toml:8: vrrp_instance "VI_1".preempt_delay: 16m41s is more than 1000s`}},
		{"interface name", strings.Replace(inst, "eth0", "a-very-long-interface", 1), []string{
			`f.toml:3: vrrp_instance "VI_1".interface: "a-very-long-interface" is longer than 15 bytes, the kernel's limit for interface names`}},
		{"advert_int v2", inst + "version = 2\nadvert_int = \"1500ms\"\n", []string{
			`f.toml:7: vrrp_instance "VI_1".advert_int: 1.5s: VRRPv2 needs whole seconds from 1s to 255s`}},
		{"no_accept", inst + "accept = false\n", []string{
			`f.toml:6: vrrp_instance "VI_1".accept: accept = false (keepalived's no_accept) is not supported: an LVS director's master must accept traffic for its VIPs`}},
		{"advert_int v3 step", inst + "advert_int = \"15ms\"\n", []string{
			`f.toml:6: vrrp_instance "VI_1".advert_int: 15ms: VRRPv3 needs a multiple of 10ms from 10ms to 40.95s`}},
		{"advert_int v3 range", inst + "advert_int = \"41s\"\n", []string{
			`f.toml:6: vrrp_instance "VI_1".advert_int: 41s: VRRPv3 needs a multiple of 10ms from 10ms to 40.95s`}},
		{"v2 ipv6", strings.Replace(inst, "192.0.2.100/24", "2001:db8::100/64", 1) + "version = 2\n", []string{
			`f.toml:5: vrrp_instance "VI_1".virtual_ipaddress: VRRPv2 (RFC 3768) carries IPv4 addresses only: use version = 3 for IPv6`}},
		{"vip without length", strings.Replace(inst, "192.0.2.100/24", "192.0.2.100", 1), []string{
			`f.toml:5: vrrp_instance "VI_1".virtual_ipaddress[0]: "192.0.2.100" has no prefix length: write it as "192.0.2.100/32" or with the subnet's length, such as "192.0.2.100/24"`}},
		{"vip twice", strings.Replace(inst, `"192.0.2.100/24"`, `"192.0.2.100/24", "192.0.2.100/32", "127.0.0.1/8"`, 1), []string{
			`f.toml:5: vrrp_instance "VI_1".virtual_ipaddress[1]: 192.0.2.100 is listed twice`,
			`f.toml:5: vrrp_instance "VI_1".virtual_ipaddress[2]: 127.0.0.1 cannot be a virtual address`}},
		{"no vips", strings.Replace(inst, `"192.0.2.100/24"`, ``, 1), []string{
			`f.toml:5: vrrp_instance "VI_1".virtual_ipaddress: at least one virtual address is required`}},
		{"shared vrid and vip", inst + "\n" + strings.Replace(inst, "VI_1", "VI_2", 1), []string{
			`f.toml:10: vrrp_instance "VI_2".virtual_router_id: virtual_router_id 51 on eth0 (IPv4) is also used by the instance at line 1`,
			`f.toml:11: vrrp_instance "VI_2".virtual_ipaddress[0]: 192.0.2.100 is also a virtual address of the instance at line 1`,
		}},
		{"same vrid other family is fine", inst + "\n" + strings.Replace(strings.Replace(inst, "VI_1", "VI_2", 1), "192.0.2.100/24", "2001:db8::100/64", 1) + "priority = 0\n", []string{
			`f.toml:12: vrrp_instance "VI_2".priority: 0 is out of range 1..255`}},
		{"duplicate name", inst + strings.Replace(inst, "51", "52", 1), []string{
			`f.toml:7: vrrp_instance "VI_1".name: "VI_1" is already used at line 2`,
			`f.toml:10: vrrp_instance "VI_1".virtual_ipaddress[0]: 192.0.2.100 is also a virtual address of the instance at line 1`}},
		{"auth_pass", inst + "auth_pass = \"123456789\"\n", []string{
			`f.toml:6: vrrp_instance "VI_1".auth_pass: authentication exists in VRRPv2 only (RFC 5798 removed it): set version = 2 or remove auth_pass`,
			`f.toml:6: vrrp_instance "VI_1".auth_pass: 9 bytes is too long: VRRPv2 carries at most 8`}},
		{"unicast families", inst + "unicast_src_ip = \"2001:db8::1\"\nunicast_peer = [\"192.0.2.2\", \"2001:db8::2\", \"192.0.2.2\", \"\"]\n", []string{
			`f.toml:6: vrrp_instance "VI_1".unicast_src_ip: 2001:db8::1 is IPv6 but the virtual addresses are IPv4`,
			`f.toml:7: vrrp_instance "VI_1".unicast_peer[1]: 2001:db8::2 is IPv6 but the virtual addresses are IPv4`,
			`f.toml:7: vrrp_instance "VI_1".unicast_peer[2]: 192.0.2.2 is listed twice`,
			`f.toml:7: vrrp_instance "VI_1".unicast_peer[3]: empty string is not an address`}},
		{"bad addresses", inst + "unicast_src_ip = \"192.0.2.256\"\nunicast_peer = [\"::ffff:192.0.2.1\"]\n", []string{
			`f.toml:6: vrrp_instance "VI_1".unicast_src_ip: "192.0.2.256" is not an IP address`,
			`f.toml:7: vrrp_instance "VI_1".unicast_peer[0]: "::ffff:192.0.2.1" is an IPv4-mapped IPv6 address; write 192.0.2.1`}},
		{"vmac_name without use_vmac", inst + "vmac_name = \"vr51\"\n", []string{
			`f.toml:6: vrrp_instance "VI_1".vmac_name: needs use_vmac = true`}},
		{"vmac_name", inst + "use_vmac = true\nvmac_name = \"vmac/51\"\n" + strings.NewReplacer("VI_1", "VI_2", ".100", ".101", "eth0", "eth1").Replace(inst) + "use_vmac = true\nvmac_name = \"a-very-long-vmac-name\"\n", []string{
			`f.toml:7: vrrp_instance "VI_1".vmac_name: "vmac/51" is not a valid interface name`,
			`f.toml:14: vrrp_instance "VI_2".vmac_name: "a-very-long-vmac-name" is longer than 15 bytes, the kernel's limit for interface names`}},
		{"vmac_name twice", inst + "use_vmac = true\nvmac_name = \"vrrp.51\"\n" + strings.NewReplacer("VI_1", "VI_2", ".100", ".101", "eth0", "eth1").Replace(inst) + "use_vmac = true\nvmac_name = \"vrrp.51\"\n", []string{
			`f.toml:14: vrrp_instance "VI_2".vmac_name: vmac_name is also the vmac of the instance at line 1: each instance needs its own (set vmac_name)`}},
		{"vmac_name is an interface", inst + "use_vmac = true\nvmac_name = \"eth1\"\n" + strings.NewReplacer("VI_1", "VI_2", ".100", ".101", "eth0", "eth1").Replace(inst), []string{
			`f.toml:10: vrrp_instance "VI_2".interface: "eth1" is the vmac of the instance at line 1: a vmac needs a name of its own`}},
		{"vmac_name is the interface of an earlier instance", strings.NewReplacer("VI_1", "VI_2", ".100", ".101", "eth0", "eth1").Replace(inst) + inst + "use_vmac = true\nvmac_name = \"eth1\"\n", []string{
			`f.toml:12: vrrp_instance "VI_1".vmac_name: vmac_name is the interface of the instance at line 1: a vmac needs a name of its own`}},
		{"default vmac name taken", inst + "use_vmac = true\nvmac_name = \"vr51.eth1\"\n" + strings.NewReplacer("VI_1", "VI_2", ".100", ".101", "eth0", "eth1").Replace(inst) + "use_vmac = true\n", []string{
			`f.toml:13: vrrp_instance "VI_2".use_vmac: the default vmac name "vr51.eth1" is also the vmac of the instance at line 1: each instance needs its own (set vmac_name)`}},
		{"vmac label too long", strings.Replace(inst, "eth0", "bond0", 1) + "use_vmac = true\nvirtual_ipaddress_label = \"bond0:vip10\"\n", []string{
			`f.toml:7: vrrp_instance "VI_1".virtual_ipaddress_label: on the vmac the label is "vr51.bond0:vip10", longer than 15 bytes, the kernel's limit for address labels: shorten the label's suffix or set a shorter vmac_name`}},
		{"na_router", inst + "na_router = \"yes\"\n" + strings.NewReplacer("VI_1", "VI_2", ".100", ".101", "eth0", "eth1").Replace(inst) + "na_router = \"on\"\n", []string{
			`f.toml:6: vrrp_instance "VI_1".na_router: "yes" is not one of auto, on, off`,
			`f.toml:12: vrrp_instance "VI_2".na_router: applies to IPv6 instances only (the Router flag of neighbour advertisements)`}},
		{"label", inst + "virtual_ipaddress_label = \"eth1:0\"\n", []string{
			`f.toml:6: vrrp_instance "VI_1".virtual_ipaddress_label: "eth1:0" must begin with the interface name "eth0" (the kernel rejects other labels)`}},
		{"tracking", inst + "track_interface = [{ name = \"eth1\", weight = 254 }, { name = \"eth1\" }, { weight = 1 }]\ntrack_script = [\"chk_nope\"]\n", []string{
			`f.toml:6: vrrp_instance "VI_1".track_interface "eth1".weight: 254 is out of range -253..253`,
			`f.toml:6: vrrp_instance "VI_1".track_interface "eth1".name: "eth1" is already used at line 6`,
			`f.toml:6: vrrp_instance "VI_1".track_interface[2].name: is required`,
			`f.toml:7: vrrp_instance "VI_1".track_script[0]: no [[vrrp_script]] is named "chk_nope"`}},
		{"track refs", inst + "track_script = [\"chk_nope\", { name = \"chk\", weight = 300, reverse = true }, { name = \"chk\", weight = \"x\" }]\ntrack_file = [{ name = \"tf\", weight = -255 }, \"tf\"]\n[[vrrp_script]]\nname = \"chk\"\nscript = \"/bin/true\"\n[[vrrp_track_file]]\nname = \"tf\"\nfile = \"/run/tf\"\n", []string{
			`f.toml:6: vrrp_instance "VI_1".track_script[2].weight: expected an integer, got string "x"`,
			`f.toml:6: vrrp_instance "VI_1".track_script[0]: no [[vrrp_script]] is named "chk_nope"`,
			`f.toml:6: vrrp_instance "VI_1".track_script[1].weight: 300 is out of range -253..253`,
			`f.toml:6: vrrp_instance "VI_1".track_script[2]: "chk" is already used at line 6`,
			`f.toml:7: vrrp_instance "VI_1".track_file[0].weight: -255 is out of range -254..254`,
			`f.toml:7: vrrp_instance "VI_1".track_file[1]: "tf" is already used at line 7`}},
		{"sync group tracks", inst + "track_interface = [{ name = \"eth1\" }]\n[[vrrp_sync_group]]\nname = \"G\"\ngroup = [\"VI_1\"]\ntrack_interface = [{ name = \"eth1\" }, { name = \"eth2\", weight = 300 }]\ntrack_script = [\"nope\"]\n", []string{
			`f.toml:10: vrrp_sync_group "G".track_interface[1].weight: 300 is out of range -253..253`,
			`f.toml:10: vrrp_sync_group "G".track_interface[0].name: "eth1" is also tracked by the member vrrp_instance "VI_1": track it in one place`,
			`f.toml:11: vrrp_sync_group "G".track_script[0]: no [[vrrp_script]] is named "nope"`}},
		{"scripts", "[[vrrp_script]]\nname = \"chk\"\nscript = \"pgrep haproxy\"\ninterval = \"0s\"\ntimeout = \"0s\"\nweight = -254\nrise = 0\nfall = 0\n[[vrrp_script]]\nname = \"chk\"\n", []string{
			`f.toml:3: vrrp_script "chk".script: program "pgrep" must be an absolute path (hooks are run directly, without a shell or $PATH)`,
			`f.toml:4: vrrp_script "chk".interval: must be greater than 0s`,
			`f.toml:5: vrrp_script "chk".timeout: must be greater than 0s`,
			`f.toml:6: vrrp_script "chk".weight: -254 is out of range -253..253`,
			`f.toml:7: vrrp_script "chk".rise: must be at least 1`,
			`f.toml:8: vrrp_script "chk".fall: must be at least 1`,
			`f.toml:9: vrrp_script "chk".script: is required`,
			`f.toml:10: vrrp_script "chk".name: "chk" is already used at line 2`}},
		{"hooks", inst + "notify_master = \"notify.sh master\"\nnotify_backup = \"/bin/notify 'unterminated\"\nnotify = \"/bin/notify >/dev/null 2>&1\"\nnotify_stop = \"/bin/notify '|'\"\n", []string{
			`f.toml:6: vrrp_instance "VI_1".notify_master: program "notify.sh" must be an absolute path (hooks are run directly, without a shell or $PATH)`,
			`f.toml:7: vrrp_instance "VI_1".notify_backup: unterminated single quote`,
			`f.toml:8: vrrp_instance "VI_1".notify: ">/dev/null" would be passed as an argument: hooks run without a shell; use /bin/sh -c '...' if one is needed`}},
		{"sync groups", inst + "[[vrrp_sync_group]]\nname = \"G1\"\ngroup = [\"VI_1\", \"VI_9\"]\nnotify = \"x\"\n[[vrrp_sync_group]]\nname = \"G2\"\ngroup = [\"VI_1\"]\n[[vrrp_sync_group]]\n", []string{
			`f.toml:8: vrrp_sync_group "G1".group[1]: no [[vrrp_instance]] is named "VI_9"`,
			`f.toml:9: vrrp_sync_group "G1".notify: program "x" must be an absolute path (hooks are run directly, without a shell or $PATH)`,
			`f.toml:12: vrrp_sync_group "G2".group[0]: vrrp_instance "VI_1" is already in the sync group at line 6; an instance can be in one group only`,
			`f.toml:13: vrrp_sync_group[2].name: is required`,
			`f.toml:13: vrrp_sync_group[2].group: must list at least one vrrp_instance`}},
		{"lvs", "[lvs]\non_backup = \"drop\"\nreconcile_interval = \"0s\"\ntimeout_tcp = \"-5s\"\n", []string{
			`f.toml:2: lvs.on_backup: "drop" is not one of withdraw, keep`,
			`f.toml:3: lvs.reconcile_interval: must be greater than 0s`,
			`f.toml:4: lvs.timeout_tcp: duration "-5s" must not be negative`}},
		{"address or fwmark", "[[virtual_server]]\nprotocol = \"tcp\"\n[[virtual_server]]\naddress = \"192.0.2.1:80\"\nfwmark = 1\n[[virtual_server]]\nfwmark = 0\n", []string{
			`f.toml:1: virtual_server[0].address: address or fwmark is required`,
			`f.toml:5: virtual_server "192.0.2.1:80".fwmark: set either address or fwmark, not both`,
			`f.toml:7: virtual_server[2].fwmark: 0 is out of range 1..4294967295`}},
		{"virtual server values", vs + "protocol = \"icmp\"\nscheduler = \"random\"\nscheduler_flags = [\"sh-port\", \"bogus\"]\nforwarding = \"masq\"\npersistence_netmask = \"255.0.255.0\"\none_packet = true\nsorry_server = \"[2001:db8::1]:80\"\nquorum = 2\nhysteresis = 2\n", []string{
			`f.toml:3: virtual_server "192.0.2.100:80".protocol: "icmp" is not one of tcp, udp, sctp`,
			`f.toml:4: virtual_server "192.0.2.100:80".scheduler: "random" is not one of rr wrr lc wlc lblc lblcr dh sh sed nq mh fo ovf twos`,
			`f.toml:5: virtual_server "192.0.2.100:80".scheduler_flags[0]: "sh-port" applies to scheduler "sh" only`,
			`f.toml:5: virtual_server "192.0.2.100:80".scheduler_flags[1]: "bogus" is not one of sh-fallback, sh-port, mh-fallback, mh-port`,
			`f.toml:6: virtual_server "192.0.2.100:80".forwarding: "masq" is not one of dr, nat, tun`,
			`f.toml:7: virtual_server "192.0.2.100:80".persistence_netmask: 255.0.255.0 is not a netmask such as 255.255.255.0`,
			`f.toml:8: virtual_server "192.0.2.100:80".one_packet: one-packet scheduling applies to udp services only`,
			`f.toml:9: virtual_server "192.0.2.100:80".sorry_server: [2001:db8::1]:80 is IPv6 but the service is IPv4`,
			`f.toml:11: virtual_server "192.0.2.100:80".hysteresis: 2 is out of range 0..1 (it must be less than quorum)`}},
		{"duplicate service and port 0", vs + "[[virtual_server]]\naddress = \"192.0.2.100:80\"\n[[virtual_server]]\naddress = \"192.0.2.100:80\"\nprotocol = \"udp\"\n[[virtual_server]]\naddress = \"192.0.2.100:0\"\n", []string{
			`f.toml:4: virtual_server "192.0.2.100:80".address: tcp 192.0.2.100:80 is already defined at line 1`,
			`f.toml:9: virtual_server "192.0.2.100:0".address: port 0 (all ports) is only allowed with persistence_timeout`}},
		{"real servers", vs + "[[virtual_server.real_server]]\naddress = \"198.51.100.1:80\"\nweight = 65536\nforwarding = \"gre\"\nupper_threshold = 5\nlower_threshold = 6\nnotify_up = \"up.sh\"\n[[virtual_server.real_server]]\naddress = \"198.51.100.1:80\"\n[[virtual_server.real_server]]\naddress = \"[2001:db8::1]:80\"\n[[virtual_server.real_server]]\naddress = \"198.51.100.1\"\n[[virtual_server.real_server]]\nweight = 0\n", []string{
			`f.toml:5: virtual_server "192.0.2.100:80".real_server "198.51.100.1:80".weight: 65536 is out of range 0..65535`,
			`f.toml:6: virtual_server "192.0.2.100:80".real_server "198.51.100.1:80".forwarding: "gre" is not one of dr, nat, tun`,
			`f.toml:8: virtual_server "192.0.2.100:80".real_server "198.51.100.1:80".lower_threshold: 6 is above upper_threshold 5`,
			`f.toml:9: virtual_server "192.0.2.100:80".real_server "198.51.100.1:80".notify_up: program "up.sh" must be an absolute path (hooks are run directly, without a shell or $PATH)`,
			`f.toml:11: virtual_server "192.0.2.100:80".real_server "198.51.100.1:80".address: 198.51.100.1:80 is already a real server of this service at line 4`,
			`f.toml:13: virtual_server "192.0.2.100:80".real_server "[2001:db8::1]:80".address: 2001:db8::1 is IPv6 but the service is IPv4 (only tun can cross families)`,
			`f.toml:15: virtual_server "192.0.2.100:80".real_server[3].address: "198.51.100.1" is not an address:port such as "192.0.2.1:80" or "[2001:db8::1]:80"`,
			`f.toml:16: virtual_server "192.0.2.100:80".real_server[4].address: is required`}},
		{"checks", vs + "  [virtual_server.check]\n  type = \"icmp\"\n  method = \"POST\"\n  path = \"healthz\"\n  expect_status = [99]\n  expect_body = \"(\"\n  connect_port = 70000\n  bind_to = \"2001:db8::1\"\n  interval = \"0s\"\n  rise = 0\n  bogus = true\n", []string{
			`f.toml:4: virtual_server "192.0.2.100:80".check.type: "icmp" is not one of tcp, udp, dns, ping, smtp, http, https, exec, file`,
			`f.toml:5: virtual_server "192.0.2.100:80".check.method: "POST" is not one of GET, HEAD`,
			`f.toml:6: virtual_server "192.0.2.100:80".check.path: "healthz" must begin with /`,
			`f.toml:7: virtual_server "192.0.2.100:80".check.expect_status[0]: 99 is out of range 100..599`,
			"f.toml:8: virtual_server \"192.0.2.100:80\".check.expect_body: not a regular expression: error parsing regexp: missing closing ): `(`",
			`f.toml:9: virtual_server "192.0.2.100:80".check.connect_port: 70000 is out of range 0..65535`,
			`f.toml:10: virtual_server "192.0.2.100:80".check.bind_to: 2001:db8::1 is IPv6 but the service is IPv4`,
			`f.toml:11: virtual_server "192.0.2.100:80".check.interval: must be greater than 0s`,
			`f.toml:12: virtual_server "192.0.2.100:80".check.rise: must be at least 1`,
			`f.toml:13: virtual_server "192.0.2.100:80".check.bogus: unknown key`}},
		{"checks of every type", vs + "quorum_up = \"up.sh\"\nomega = true\n  [virtual_server.check]\n  type = \"udp\"\n  payload = \"6g\"\n  reply = \"ab\"\n  max_reply_length = 70000\n  misc_dynamic = true\n  [[virtual_server.real_server]]\n  address = \"198.51.100.1:80\"\n    [[virtual_server.real_server.checks]]\n    type = \"dns\"\n    dns_type = \"BOGUS\"\n    [[virtual_server.real_server.checks]]\n    type = \"smtp\"\n    tls = true\n    starttls = true\n    [[virtual_server.real_server.checks]]\n    type = \"file\"\n    [[virtual_server.real_server.checks]]\n    type = \"http\"\n      [[virtual_server.real_server.checks.url]]\n      path = \"x\"\n      digest = \"abc\"\n      regex_no_match = true\n", []string{
			`f.toml:3: virtual_server "192.0.2.100:80".quorum_up: program "up.sh" must be an absolute path (hooks are run directly, without a shell or $PATH)`,
			`f.toml:4: virtual_server "192.0.2.100:80".omega: needs a quorum_down hook to run at shutdown`,
			`f.toml:7: virtual_server "192.0.2.100:80".check.payload: hex "6g": bad digit 'g' at offset 1`,
			`f.toml:8: virtual_server "192.0.2.100:80".check.reply: needs require_reply = true`,
			`f.toml:9: virtual_server "192.0.2.100:80".check.max_reply_length: 70000 is out of range 0..65507`,
			`f.toml:10: virtual_server "192.0.2.100:80".check.misc_dynamic: applies to exec checks only, not udp`,
			`f.toml:15: virtual_server "192.0.2.100:80".real_server "198.51.100.1:80".checks[0].dns_type: "BOGUS" is not a DNS query type such as A, AAAA, MX, NS, SOA or TXT`,
			`f.toml:19: virtual_server "192.0.2.100:80".real_server "198.51.100.1:80".checks[1].starttls: set either tls (SMTPS) or starttls, not both`,
			`f.toml:20: virtual_server "192.0.2.100:80".real_server "198.51.100.1:80".checks[2].file: is required for a file check`,
			`f.toml:25: virtual_server "192.0.2.100:80".real_server "198.51.100.1:80".checks[3].url[0].path: "x" must begin with /`,
			`f.toml:26: virtual_server "192.0.2.100:80".real_server "198.51.100.1:80".checks[3].url[0].digest: "abc" is not an MD5 digest (32 hex digits, as genhash prints it)`,
			`f.toml:27: virtual_server "192.0.2.100:80".real_server "198.51.100.1:80".checks[3].url[0].regex_no_match: needs a regex`}},
		{"incomplete checks", vs + "  [virtual_server.check]\n  path = \"/\"\n  [[virtual_server.real_server]]\n  address = \"198.51.100.1:80\"\n  [[virtual_server.real_server]]\n  address = \"198.51.100.2:80\"\n  [[virtual_server.real_server]]\n  address = \"198.51.100.3:80\"\n    [virtual_server.real_server.check]\n    type = \"exec\"\n    command = \"\"\n", []string{
			`f.toml:3: virtual_server "192.0.2.100:80".check.type: is required (tcp, udp, dns, ping, smtp, http, https, exec, file)`,
			`f.toml:13: virtual_server "192.0.2.100:80".real_server "198.51.100.3:80".check.command: is required for an exec check`}},
		{"inline real server check", vs + "real_server = [\n  { address = \"198.51.100.1:80\" },\n  { address = \"198.51.100.2:80\", check = { type = \"tcp\", fall = 0 } },\n]\n", []string{
			`f.toml:5: virtual_server "192.0.2.100:80".real_server "198.51.100.2:80".check.fall: must be at least 1`}},
		{"quoted keys", "[global]\n\"log level\" = \"x\"\n'odd.key' = 1\n", []string{
			`f.toml:2: global."log level": unknown key (did you mean "log_level"?)`,
			`f.toml:3: global."odd.key": unknown key`}},
		{"value of wrong shape", inst + "priority = { high = true }\ntrack_script = \"chk\"\n", []string{
			`f.toml:6: vrrp_instance "VI_1".priority: expected an integer, got table`,
			`f.toml:7: vrrp_instance "VI_1".track_script: expected an array, got string "chk"`}},
		{"failed value does not cascade", "[[vrrp_instance]]\nname = 1\ninterface = 2\nvirtual_router_id = \"51\"\nvirtual_ipaddress = [\"x\"]\n", []string{
			`f.toml:2: vrrp_instance[0].name: expected a string, got integer 1`,
			`f.toml:3: vrrp_instance[0].interface: expected a string, got integer 2`,
			`f.toml:4: vrrp_instance[0].virtual_router_id: expected an integer, got string "51"`,
			`f.toml:5: vrrp_instance[0].virtual_ipaddress[0]: "x" is not an address with a prefix length, such as "192.0.2.100/24"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("f.toml", []byte(tt.src))
			if err == nil {
				t.Fatalf("no error; config %+v", cfg)
			}
			if cfg != nil {
				t.Error("config returned together with an error")
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, not *Errors: %v", err, err)
			}
			got := strings.Split(err.Error(), "\n")
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestAllProblemsAtOnce(t *testing.T) {
	_, err := Parse("multi.toml", []byte(`[global]
log_level = "verbose"

[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 300
priority = "high"
virtual_ipaddress = ["192.0.2.100/24"]
bogus = 1

[[virtual_server]]
address = "192.0.2.100:80"
scheduler = "fastest"
`))
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want *Errors, got %T: %v", err, err)
	}
	want := []Problem{
		{File: "multi.toml", Line: 2, Key: "global.log_level", Msg: `"verbose" is not one of debug, info, warn, error`},
		{File: "multi.toml", Line: 7, Key: `vrrp_instance "VI_1".virtual_router_id`, Msg: "300 is out of range 1..255"},
		{File: "multi.toml", Line: 8, Key: `vrrp_instance "VI_1".priority`, Msg: `expected an integer, got string "high"`},
		{File: "multi.toml", Line: 10, Key: `vrrp_instance "VI_1".bogus`, Msg: "unknown key"},
		{File: "multi.toml", Line: 14, Key: `virtual_server "192.0.2.100:80".scheduler`, Msg: `"fastest" is not one of rr wrr lc wlc lblc lblcr dh sh sed nq mh fo ovf twos`},
	}
	if !reflect.DeepEqual(errs.Problems, want) {
		t.Errorf("problems:\n%s", err)
	}
}

func TestLoad(t *testing.T) {
	_, err := Load("testdata/does-not-exist.toml")
	var errs *Errors
	if err == nil || errors.As(err, &errs) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if got := (Problem{File: "f", Msg: "m"}).String(); got != "f: m" {
		t.Errorf("problem without line or key = %q", got)
	}
}

func TestSummary(t *testing.T) {
	cfg := &Config{
		Instances:  make([]Instance, 3),
		SyncGroups: make([]SyncGroup, 1),
		VirtualServers: []VirtualServer{
			{RealServers: make([]RealServer, 3)},
			{RealServers: make([]RealServer, 1)},
		},
	}
	if got, want := cfg.Summary(), "3 vrrp instances, 1 sync group, 2 virtual servers, 4 real servers"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
}

func TestLogLevel(t *testing.T) {
	for _, l := range []string{"debug", "info", "warn", "error"} {
		if got := (Global{LogLevel: l}).Level().String(); !strings.EqualFold(got, l) {
			t.Errorf("Level(%q) = %s", l, got)
		}
	}
}

func TestDuration(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("1m30s")); err != nil || d.Std() != 90*time.Second {
		t.Errorf("UnmarshalText = %v, %v", d, err)
	}
	if b, _ := d.MarshalText(); string(b) != "1m30s" {
		t.Errorf("MarshalText = %s", b)
	}
	if err := d.UnmarshalText([]byte("soon")); err == nil {
		t.Error("UnmarshalText accepted \"soon\"")
	}
}

func TestLineIndex(t *testing.T) {
	src := `# comment [not a table]
a = """
x = 1
[fake]
"""
b = '''
'''
"quoted.key" = 1 # trailing [comment]
[t]
arr = [ # open
  1, [2, 3],
  { k = "v" }, # done
]
[[x]]
[x.y]
z = 1
[[x]]
[[x.w]]
[[x.w]]
inl = { p.q = 1, r = [ { s = 2 } ] }
`
	want := map[string]int{
		`a`: 2, `b`: 6, `"quoted.key"`: 8, `t`: 9, `t.arr`: 10,
		`t.arr[0]`: 11, `t.arr[1]`: 11, `t.arr[1][1]`: 11, `t.arr[2]`: 12, `t.arr[2].k`: 12,
		`x`: 14, `x[0]`: 14, `x[0].y`: 15, `x[0].y.z`: 16, `x[1]`: 17,
		`x[1].w`: 18, `x[1].w[0]`: 18, `x[1].w[1]`: 19, `x[1].w[1].inl.p.q`: 20, `x[1].w[1].inl.r[0].s`: 20,
	}
	got := indexLines([]byte(src))
	for k, l := range want {
		if got[k] != l {
			t.Errorf("line of %s = %d, want %d", k, got[k], l)
		}
	}
	for _, k := range []string{"x", "fake", "[fake]"} {
		if _, ok := got[k+".x"]; ok {
			t.Errorf("indexed %s.x from inside a string", k)
		}
	}
	if _, ok := got["fake"]; ok {
		t.Error("indexed a table header inside a multi-line string")
	}
}

func TestQuotedKeyLines(t *testing.T) {
	_, err := Parse("q.toml", []byte("\n\"\\e\\u00e9x\\x41\" = 1\n[global]\n\"tab\\there\" = 2\n"))
	want := "q.toml:2: \"\\x1béxA\": unknown key\nq.toml:4: global.\"tab\\there\": unknown key"
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}

func TestSyncDaemon(t *testing.T) {
	const inst = "[[virtual_server]]\naddress = \"192.0.2.100:80\"\n[[vrrp_instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvirtual_router_id = 51\nvirtual_ipaddress = [\"192.0.2.100/24\"]\n" // lines 1-7
	// Defaults: the only instance, its VRID, the kernel's group/port/ttl, and the services
	// kept on the backup (synced entries need them).
	cfg, err := Parse("f.toml", []byte(inst+"[lvs.sync_daemon]\ninterface = \"eth1\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := SyncDaemon{Interface: "eth1", Instance: "VI_1", SyncID: 51, Port: 8848, TTL: 1}
	if sd := cfg.LVS.SyncDaemon; sd == nil || *sd != want {
		t.Errorf("sync daemon %+v, want %+v", sd, want)
	}
	if cfg.LVS.OnBackup != "keep" {
		t.Errorf("on_backup %q with a sync daemon, want keep", cfg.LVS.OnBackup)
	}
	roundTrip(t, cfg)
	// An explicit on_backup stays; an explicit sync_id wins over the VRID.
	cfg, err = Parse("f.toml", []byte(inst+"[lvs]\non_backup = \"withdraw\"\n[lvs.sync_daemon]\ninterface = \"eth1\"\nsync_id = 0\ngroup = \"ff02::8\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if sd := cfg.LVS.SyncDaemon; cfg.LVS.OnBackup != "withdraw" || sd.SyncID != 0 || sd.Group != netip.MustParseAddr("ff02::8") {
		t.Errorf("explicit settings lost: on_backup %q, %+v", cfg.LVS.OnBackup, sd)
	}
	// Without the table: no sync, on_backup's own default.
	if cfg, err = Parse("f.toml", []byte(inst)); err != nil || cfg.LVS.SyncDaemon != nil || cfg.LVS.OnBackup != "withdraw" {
		t.Errorf("no table: %+v %v", cfg.LVS, err)
	}

	two := inst + "[[vrrp_instance]]\nname = \"VI_2\"\ninterface = \"eth0\"\nvirtual_router_id = 52\nvirtual_ipaddress = [\"192.0.2.101/24\"]\n" // lines 1-12
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"every bad value", inst + "[lvs]\nsysctl_sloppy_tcp = \"yes\"\n[lvs.sync_daemon]\ninstance = \"VI_9\"\nsync_id = 256\nmax_len = 100\ngroup = \"192.0.2.1\"\nport = 0\nttl = 0\npreempt_wait = \"1001s\"\nbogus = 1\n", []string{
			`f.toml:9: lvs.sysctl_sloppy_tcp: "yes" is not one of auto, on, off, keep`,
			`f.toml:10: lvs.sync_daemon.interface: is required`,
			`f.toml:11: lvs.sync_daemon.instance: no [[vrrp_instance]] is named "VI_9"`,
			`f.toml:12: lvs.sync_daemon.sync_id: 256 is out of range 0..255`,
			`f.toml:13: lvs.sync_daemon.max_len: 100 is out of range 256..65507 (0 = from the interface's MTU)`,
			`f.toml:14: lvs.sync_daemon.group: 192.0.2.1 is not a multicast address`,
			`f.toml:15: lvs.sync_daemon.port: 0 is out of range 1..65535`,
			`f.toml:16: lvs.sync_daemon.ttl: 0 is out of range 1..255`,
			`f.toml:17: lvs.sync_daemon.preempt_wait: 16m41s is out of range 0s..1000s`,
			`f.toml:18: lvs.sync_daemon.bogus: unknown key`}},
		{"instance required with two", two + "[lvs.sync_daemon]\ninterface = \"eth1\"\n", []string{
			`f.toml:13: lvs.sync_daemon.instance: is required: name the vrrp_instance whose state the sync daemons follow`}},
		{"no virtual server", "[lvs.sync_daemon]\ninterface = \"eth1\"\ninstance = \"VI_1\"\n", []string{
			`f.toml:1: lvs.sync_daemon: needs a [[virtual_server]]: the daemons sync the connections of IPVS services`,
			`f.toml:3: lvs.sync_daemon.instance: no [[vrrp_instance]] is named "VI_1"`}},
		{"bad interface", inst + "[lvs.sync_daemon]\ninterface = \"a/b\"\n", []string{
			`f.toml:9: lvs.sync_daemon.interface: "a/b" is not an interface name`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(tc.src))
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want *Errors", err)
			}
			var got []string
			for _, p := range errs.Problems {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestVMACNames(t *testing.T) {
	for _, c := range []struct {
		parent string
		vrid   int
		six    bool
		want   string
	}{
		{"eth0", 51, false, "vr51.eth0"},
		{"eth0", 51, true, "vr6.51.eth0"},
		{"eth1", 51, false, "vr51.eth1"},
		{"ens1f0np0", 255, false, "vr255.ens1f0np0"}, // 15 bytes: fits
		{"enp3s0f0", 255, true, "vr6.255.enp4735"},
		{"enp3s0f1", 255, true, "vr6.255.enp40a2"},
	} {
		got := DefaultVMACName(c.parent, c.vrid, c.six)
		if got != c.want {
			t.Errorf("DefaultVMACName(%q, %d, %v) = %q, want %q", c.parent, c.vrid, c.six, got, c.want)
		}
		if len(got) > 15 {
			t.Errorf("DefaultVMACName(%q, %d, %v) = %q: %d bytes, over IFNAMSIZ", c.parent, c.vrid, c.six, got, len(got))
		}
	}
	// Same VRID on two interfaces, and both families: four instances, four vmacs.
	cfg := mustParse(t, `
[[vrrp_instance]]
name = "A"
interface = "eth0"
virtual_router_id = 51
use_vmac = true
virtual_ipaddress = ["192.0.2.100/24"]
[[vrrp_instance]]
name = "B"
interface = "eth1"
virtual_router_id = 51
use_vmac = true
virtual_ipaddress = ["198.51.100.100/24"]
[[vrrp_instance]]
name = "C"
interface = "eth0"
virtual_router_id = 51
use_vmac = true
virtual_ipaddress = ["2001:db8::100/64"]
[[vrrp_instance]]
name = "D"
interface = "eth1"
virtual_router_id = 53
use_vmac = true
vmac_name = "vrrp.51"
virtual_ipaddress = ["203.0.113.100/24"]
[[vrrp_instance]]
name = "E"
interface = "eth1"
virtual_router_id = 52
virtual_ipaddress = ["203.0.113.101/24"]
`)
	var got []string
	for _, in := range cfg.Instances {
		got = append(got, in.VMAC())
	}
	if want := []string{"vr51.eth0", "vr51.eth1", "vr6.51.eth0", "vrrp.51", ""}; !slices.Equal(got, want) {
		t.Errorf("VMAC() = %q, want %q", got, want)
	}
}
