package config

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// A configuration Parse accepts passes the Checker element by element: the Checker is
// Parse's validation, with "set" meaning "not the zero value".
func TestCheckerAcceptsWhatParseAccepts(t *testing.T) {
	for _, file := range []string{"testdata/reference.toml"} {
		cfg, err := Load(file)
		if err != nil {
			t.Fatal(err)
		}
		ck := NewChecker(cfg, func(path string) string { return path })
		var probs []Problem
		for i := range cfg.Scripts {
			probs = append(probs, ck.Script(i)...)
		}
		for i := range cfg.TrackFiles {
			probs = append(probs, ck.TrackFile(i)...)
		}
		for i := range cfg.Instances {
			probs = append(probs, ck.Instance(i)...)
		}
		for i := range cfg.SyncGroups {
			probs = append(probs, ck.SyncGroup(i)...)
		}
		for i := range cfg.VirtualServers {
			probs = append(probs, ck.VirtualServer(i)...)
		}
		if cfg.LVS.SyncDaemon != nil {
			probs = append(probs, ck.SyncDaemon()...)
		}
		if len(probs) != 0 {
			t.Errorf("%s: %v", file, probs)
		}
	}
}

func checkerInstance(name, ifname string, vrid int, vip string) Instance {
	in := WithDefaults[Instance]()
	in.Name, in.Interface, in.VirtualRouterID = name, ifname, vrid
	in.VirtualIPAddress = []netip.Prefix{netip.MustParsePrefix(vip)}
	return in
}

// Each element is checked against the ones before it, with the key of each problem
// within the element; a failed element claims nothing from the ones after it, and
// checking an element again does not find it in conflict with itself.
func TestCheckerElementByElement(t *testing.T) {
	cfg := &Config{}
	ck := NewChecker(cfg, func(path string) string { return "<" + path + ">" })
	add := func(in Instance) []Problem {
		cfg.Instances = append(cfg.Instances, in)
		probs := ck.Instance(len(cfg.Instances) - 1)
		if len(probs) > 0 {
			cfg.Instances = cfg.Instances[:len(cfg.Instances)-1]
		}
		return probs
	}
	if p := add(checkerInstance("A", "eth0", 1, "192.0.2.1/32")); p != nil {
		t.Fatalf("A: %v", p)
	}
	if p := ck.Instance(0); p != nil {
		t.Errorf("A checked again: %v", p)
	}
	p := add(checkerInstance("B", "eth0", 1, "192.0.2.2/32"))
	if len(p) != 1 || p[0].Key != "virtual_router_id" || p[0].Msg != "virtual_router_id 1 on eth0 (IPv4) is also used by the instance at <vrrp_instance[0]>" {
		t.Errorf("B: %+v", p)
	}
	bad := checkerInstance("C", "a/b", 3, "192.0.2.3/32")
	bad.VirtualIPAddress = append(bad.VirtualIPAddress, netip.MustParsePrefix("224.0.0.1/32"))
	p = add(bad)
	var keys []string
	for _, x := range p {
		keys = append(keys, x.Key)
	}
	if !slices.Equal(keys, []string{"interface", "virtual_ipaddress[1]"}) {
		t.Errorf("C: %+v", p)
	}
	// C failed: its name and address are free.
	if p := add(checkerInstance("C", "eth0", 3, "192.0.2.3/32")); p != nil {
		t.Errorf("C after the failed C: %v", p)
	}
	// An unset key is the zero value: a missing VRID is required, not out of range.
	if p := add(checkerInstance("D", "eth0", 0, "192.0.2.4/32")); len(p) != 1 || p[0].Key != "virtual_router_id" || !strings.HasPrefix(p[0].Msg, "is required") {
		t.Errorf("D: %+v", p)
	}

	cfg.VirtualServers = []VirtualServer{WithDefaults[VirtualServer](), WithDefaults[VirtualServer]()}
	for i := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[i]
		vs.Address = netip.MustParseAddrPort("192.0.2.1:80")
		rs := WithDefaults[RealServer]()
		rs.Address, rs.Forwarding, rs.LowerThreshold = netip.MustParseAddrPort("198.51.100.1:80"), "dr", 5
		vs.RealServers = []RealServer{rs}
	}
	if p := ck.VirtualServer(0); len(p) != 1 || p[0].Key != "real_server[0].lower_threshold" {
		t.Errorf("virtual server 0: %+v", p)
	}
	cfg.VirtualServers[0].RealServers[0].LowerThreshold = 0
	if p := ck.VirtualServer(0); p != nil {
		t.Errorf("virtual server 0, fixed: %+v", p)
	}
	if p := ck.VirtualServer(1); len(p) != 2 || p[0].Msg != "tcp 192.0.2.1:80 is already defined at <virtual_server[0]>" {
		t.Errorf("virtual server 1: %+v", p)
	}
}

func TestKey(t *testing.T) {
	var in Instance
	var vs VirtualServer
	for _, c := range []struct{ got, want string }{
		{Key(&in, &in.Name), "name"}, // at the struct's own address
		{Key(&in, &in.AdvertInt), "advert_int"},
		{Key(&in, &in.GARPMasterRefresh), "garp_master_refresh"},
		{Key(&vs, &vs.Address), "address"},
		{Key(&vs, &vs.FWMark), "fwmark"}, // the tag's options are not part of the key
	} {
		if c.got != c.want {
			t.Errorf("Key: %q, want %q", c.got, c.want)
		}
	}
	if k := Keys[SyncDaemon](); !slices.Equal(k, []string{"interface", "instance", "sync_id", "max_len", "group", "port", "ttl", "preempt_wait"}) {
		t.Errorf("Keys[SyncDaemon]: %q", k)
	}
	for _, field := range []any{&vs.Address, in.Name, nil} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Key(&in, %T) did not panic", field)
				}
			}()
			Key(&in, field)
		}()
	}
}
