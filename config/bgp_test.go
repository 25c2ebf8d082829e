package config

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

const bgpMinimal = `
[bgp]
asn = 64513

[[bgp.peer]]
address = "192.0.2.254"
asn = 64512

[[bgp.vip]]
prefix = "203.0.113.10/32"
`

func TestBGPDefaults(t *testing.T) {
	cfg := mustParse(t, bgpMinimal)
	b := cfg.BGP
	if b == nil {
		t.Fatal("no [bgp]")
	}
	if b.HoldTime != Duration(3*time.Second) || b.Keepalive != Duration(time.Second) || !b.GracefulShutdown || b.GracefulShutdownWait != 0 || b.RouterID.IsValid() {
		t.Errorf("bgp defaults: %+v", b)
	}
	p := b.Peers[0]
	if p.BFD || p.BFDInterval != Duration(300*time.Millisecond) || p.BFDMultiplier != 3 || p.Multihop != 0 || p.Password != "" {
		t.Errorf("peer defaults: %+v", p)
	}
	v := b.VIPs[0]
	if v.Prefix != netip.MustParsePrefix("203.0.113.10/32") || v.Mode != "ecmp" || v.Interface != "lo" || v.Rise != 3 || v.MED != 0 {
		t.Errorf("vip defaults: %+v", v)
	}
	// BGP VIPs alone are something to run: no vrrp_instance, so standalone.
	if cfg.Mode() != ModeStandalone {
		t.Errorf("Mode = %s", cfg.Mode())
	}
	roundTrip(t, cfg)
	if mustParse(t, minimal).BGP != nil {
		t.Error("a file without [bgp] has a BGP table")
	}
}

func TestBGPValidation(t *testing.T) {
	src := `
[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 1
virtual_ipaddress = ["192.0.2.1/24"]

[bgp]
asn = 0
router_id = "2001:db8::1"
hold_time = "2s"
keepalive = "5s"

[[bgp.peer]]
address = "192.0.2.254"
asn = 64512
bfd = true
bfd_interval = "1ms"
multihop = 2

[[bgp.peer]]
address = "192.0.2.254"
asn = 4294967296

[[bgp.vip]]
prefix = "203.0.113.0/24"
mode = "anycast"
track_file = ["nope"]
communities = ["65536:1", "x"]
rise = 0

[[bgp.vip]]
prefix = "203.0.113.10/32"
mode = "master"

[[bgp.vip]]
prefix = "203.0.113.11/32"
mode = "master"
instance = "VI_1"

[[bgp.vip]]
prefix = "203.0.113.11/32"
instance = "VI_1"
track_script = ["none"]
med = -1
`
	_, err := Parse("b.toml", []byte(src))
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse = %v, want problems", err)
	}
	got := err.Error()
	for _, want := range []string{
		"b.toml:9: bgp.asn: 0 is out of range 1..4294967295",
		"b.toml:10: bgp.router_id: 2001:db8::1 is not an IPv4 address",
		"b.toml:11: bgp.hold_time: 2s: want whole seconds",
		"b.toml:12: bgp.keepalive: 5s: want whole seconds, at least 1s and less than hold_time",
		"b.toml:17: bgp.peer[0].bfd: BFD is single hop only",
		"b.toml:18: bgp.peer[0].bfd_interval: 1ms is out of range",
		"b.toml:22: bgp.peer[1].address: \"192.0.2.254\" is already used at line 15",
		"b.toml:23: bgp.peer[1].asn: 4294967296 is out of range",
		"b.toml:26: bgp.vip[0].prefix: 203.0.113.0/24: a VIP is a /32 or /128",
		"b.toml:27: bgp.vip[0].mode: \"anycast\" is not one of ecmp, master",
		"b.toml:28: bgp.vip[0].track_file[0]: \"nope\" is no vrrp_track_file",
		"b.toml:29: bgp.vip[0].communities[0]: \"65536:1\" is not ASN:VALUE",
		"b.toml:29: bgp.vip[0].communities[1]: \"x\" is not ASN:VALUE",
		"b.toml:30: bgp.vip[0].rise: must be at least 1",
		"b.toml:32: bgp.vip[1].instance: is required with mode = \"master\"",
		"b.toml:39: bgp.vip[2].instance: instance \"VI_1\" does not hold 203.0.113.11",
		"b.toml:42: bgp.vip[3].prefix: \"203.0.113.11/32\" is already used at line 37",
		"b.toml:43: bgp.vip[3].instance: only with mode = \"master\"",
		"b.toml:44: bgp.vip[3].track_script[0]: \"none\" is no vrrp_script",
		"b.toml:45: bgp.vip[3].med: -1 is out of range",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing problem %q", want)
		}
	}
	if t.Failed() {
		t.Logf("got:\n%s", got)
	}
	if _, err := Parse("p.toml", []byte("[bgp]\nasn = 64513\n")); err == nil || !strings.Contains(err.Error(), "p.toml:1: bgp.peer: at least one [[bgp.peer]] is required") {
		t.Errorf("no peer: %v", err)
	}
}

func TestBGPHooks(t *testing.T) {
	src := bgpMinimal + "notify_announce = \"bgp.sh up\"\nnotify_withdraw = \"/usr/local/bin/bgp.sh down\"\n"
	if _, err := Parse("h.toml", []byte(src)); err == nil || !strings.Contains(err.Error(), `h.toml:11: bgp.vip[0].notify_announce: program "bgp.sh" must be an absolute path`) {
		t.Errorf("relative hook: %v", err)
	}
	cfg := mustParse(t, strings.Replace(src, `"bgp.sh up"`, `"/usr/local/bin/bgp.sh up"`, 1))
	want := []Hook{
		{`bgp.vip "203.0.113.10/32" notify_announce`, "/usr/local/bin/bgp.sh up"},
		{`bgp.vip "203.0.113.10/32" notify_withdraw`, "/usr/local/bin/bgp.sh down"},
	}
	if got := cfg.Hooks(); !slices.Equal(got, want) {
		t.Errorf("Hooks = %q, want %q", got, want)
	}
}

// TestBGPECMPServices: the virtual servers on an ECMP VIP must be Maglev-consistent across
// directors; with everything set the file loads.
func TestBGPECMPServices(t *testing.T) {
	vs := `
[[virtual_server]]
address = "203.0.113.10:80"
scheduler = "rr"
  [[virtual_server.real_server]]
  address = "198.51.100.1:80"
`
	_, err := Parse("e.toml", []byte(bgpMinimal+vs))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`e.toml:14: virtual_server "203.0.113.10:80".scheduler: "rr": a virtual server on ECMP VIP 203.0.113.10 needs "mh"`,
		`e.toml:12: virtual_server "203.0.113.10:80".scheduler_flags: a virtual server on ECMP VIP 203.0.113.10 needs ["mh-fallback", "mh-port"]`,
		`e.toml:12: virtual_server "203.0.113.10:80".inhibit_on_failure: a virtual server on ECMP VIP 203.0.113.10 needs true`,
		`e.toml:10: bgp.vip[0].prefix: an ECMP VIP with virtual servers needs lvs.sysctl_sloppy_tcp = "on" (not "auto")`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	good := strings.Replace(vs, `scheduler = "rr"`, "scheduler = \"mh\"\nscheduler_flags = [\"mh-fallback\", \"mh-port\"]\ninhibit_on_failure = true", 1)
	mustParse(t, "[lvs]\nsysctl_sloppy_tcp = \"on\"\n"+bgpMinimal+good)
}

func TestCommunity(t *testing.T) {
	for s, want := range map[string]uint32{"65535:0": 0xffff0000, "64513:100": 64513<<16 | 100, "0:1": 1} {
		if got, ok := Community(s); !ok || got != want {
			t.Errorf("Community(%q) = %#x, %v", s, got, ok)
		}
	}
	for _, s := range []string{"", "1", "1:", ":1", "65536:0", "1:65536", "-1:2", "a:b"} {
		if _, ok := Community(s); ok {
			t.Errorf("Community(%q) accepted", s)
		}
	}
}
