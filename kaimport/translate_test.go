package kaimport

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hadirector/hadirector/config"
	"github.com/hadirector/hadirector/internal/cmdline"
)

// importString imports src; a translation with nothing to run (EmptyError)
// is returned too, for tests of single elements.
func importString(t *testing.T, src string) *Result {
	t.Helper()
	res, err := importData("keepalived.conf", []byte(src), memOptions(memFS{}))
	if ee := (*EmptyError)(nil); errors.As(err, &ee) {
		return ee.Result
	}
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestNothingToRun: a keepalived.conf from which no instance and no virtual
// server could be translated is an error (`hadirector check` refuses such a
// file), carrying the warnings that say why.
func TestNothingToRun(t *testing.T) {
	for _, src := range []string{
		"",
		"global_defs {\n router_id x\n}\n",
		"vrrp_instance A {\n interface eth0\n virtual_router_id 1\n}\n",
		"global_defs {\n lvs_sync_daemon eth1 A\n}\nvrrp_instance A {\n interface eth0\n}\n",
	} {
		_, err := importData("keepalived.conf", []byte(src), memOptions(memFS{}))
		var ee *EmptyError
		if !errors.As(err, &ee) || !errors.Is(err, config.ErrNothingToRun) {
			t.Errorf("%q: %v, want an EmptyError", src, err)
			continue
		}
		if _, err := config.Parse("x.toml", ee.Result.TOML); err != nil {
			t.Errorf("%q: the translation does not parse: %v", src, err)
		}
		if src != "" && src[0] != 'g' && len(ee.Result.Warnings) == 0 {
			t.Errorf("%q: no warning says why", src)
		}
	}
}

// warned reports whether a warning about keyword was given.
func warned(res *Result, keyword string) bool {
	return slices.ContainsFunc(res.Warnings, func(w Warning) bool { return w.Keyword == keyword })
}

func findInstance(t *testing.T, res *Result, name string) config.Instance {
	t.Helper()
	for _, in := range res.Config.Instances {
		if in.Name == name {
			return in
		}
	}
	t.Fatalf("no instance %s in\n%s", name, res.TOML)
	return config.Instance{}
}

func TestInstanceSemantics(t *testing.T) {
	t.Run("state MASTER clears nopreempt and preempt_delay", func(t *testing.T) {
		res := importString(t, "vrrp_instance A {\n state MASTER\n nopreempt\n preempt_delay 10\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n")
		in := findInstance(t, res, "A")
		if in.NoPreempt || in.PreemptDelay != 0 || !warned(res, "nopreempt") || !warned(res, "preempt_delay") {
			t.Errorf("nopreempt %v preempt_delay %v, warnings %v", in.NoPreempt, in.PreemptDelay, res.Warnings)
		}
	})
	t.Run("BACKUP keeps nopreempt", func(t *testing.T) {
		res := importString(t, "vrrp_instance A {\n state BACKUP\n nopreempt\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n")
		if in := findInstance(t, res, "A"); !in.NoPreempt || len(res.Warnings) != 0 {
			t.Errorf("nopreempt %v, warnings %v", in.NoPreempt, res.Warnings)
		}
	})
	t.Run("version", func(t *testing.T) {
		res := importString(t, "global_defs {\n vrrp_version 3\n}\n"+
			"vrrp_instance V4 {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n"+
			"vrrp_instance V2 {\n version 2\n interface eth0\n virtual_router_id 2\n virtual_ipaddress {\n 192.0.2.2\n }\n advert_int 2.4\n authentication {\n auth_type PASS\n auth_pass 123456789\n }\n}\n"+
			"vrrp_instance V6 {\n version 2\n interface eth0\n virtual_router_id 3\n advert_int 0.333\n virtual_ipaddress {\n 2001:db8::1\n }\n authentication {\n auth_type PASS\n auth_pass x\n }\n}\n")
		if v := findInstance(t, res, "V4"); v.Version != 3 {
			t.Errorf("vrrp_version 3: version %d", v.Version)
		}
		v2 := findInstance(t, res, "V2")
		if v2.Version != 2 || v2.AdvertInt.Std() != 2*time.Second || v2.AuthPass != "12345678" {
			t.Errorf("V2: %+v", v2)
		}
		v6 := findInstance(t, res, "V6")
		if v6.Version != 3 || v6.AdvertInt.Std() != 330*time.Millisecond || v6.AuthPass != "" || !warned(res, "auth_pass") {
			t.Errorf("V6: %+v, warnings %v", v6, res.Warnings)
		}
		if len(res.Notes) != 2 { // the two roundings of advert_int
			t.Errorf("notes %v", res.Notes)
		}
	})
	t.Run("keepalived's defaults are written out", func(t *testing.T) {
		res := importString(t, "vrrp_instance A {\n interface eth0\n virtual_router_id 9\n virtual_ipaddress {\n 192.0.2.9\n }\n}\n")
		in := findInstance(t, res, "A")
		if in.Version != 2 || in.Priority != 100 || in.AdvertInt.Std() != time.Second || !strings.Contains(string(res.TOML), "version = 2") {
			t.Errorf("%+v", in)
		}
	})
	t.Run("addresses", func(t *testing.T) {
		res := importString(t, "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n"+
			" mcast_src_ip 192.0.2.10\n unicast_peer {\n 192.0.2.11\n 192.0.2.11\n 192.0.2.10\n 2001:db8::1\n 192.0.2.12 min_ttl 200\n }\n"+
			" virtual_ipaddress {\n 192.0.2.1/24 label eth0:a\n 192.0.2.1\n 192.0.2.2 dev eth1\n 192.0.2.3 dev eth0 scope link\n 224.0.0.5\n 2001:db8::5\n }\n"+
			" virtual_ipaddress_excluded {\n 192.0.2.50\n }\n}\n")
		in := findInstance(t, res, "A")
		wantVIPs := []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24")}
		wantAddrs := []config.VirtualAddress{{Address: netip.MustParsePrefix("192.0.2.2/32"), Dev: "eth1"},
			{Address: netip.MustParsePrefix("192.0.2.3/32"), Dev: "eth0", Scope: "link"}}
		wantPeers := []netip.Addr{netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.12")}
		if !slices.Equal(in.VirtualIPAddress, wantVIPs) || !slices.Equal(in.VirtualAddress, wantAddrs) ||
			!slices.Equal(in.VirtualIPAddressExcluded, []netip.Prefix{netip.MustParsePrefix("192.0.2.50/32")}) ||
			!slices.Equal(in.UnicastPeer, wantPeers) ||
			in.UnicastSrcIP != netip.MustParseAddr("192.0.2.10") || in.VirtualIPAddressLabel != "eth0:a" {
			t.Errorf("%+v", in)
		}
		for _, k := range []string{"192.0.2.1", "224.0.0.5", "2001:db8::5", "192.0.2.10", "2001:db8::1", "min_ttl"} {
			if !warned(res, k) {
				t.Errorf("no warning for %s: %v", k, res.Warnings)
			}
		}
	})
	t.Run("conflicts between instances", func(t *testing.T) {
		res := importString(t,
			"vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.1\n 192.0.2.2\n }\n}\n"+
				"vrrp_instance B {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.3\n }\n}\n"+
				"vrrp_instance C {\n interface eth0\n virtual_router_id 3\n virtual_ipaddress {\n 192.0.2.2\n 192.0.2.4\n }\n}\n"+
				"vrrp_instance D {\n interface eth0\n virtual_router_id 4\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n"+
				"vrrp_instance E {\n virtual_router_id 5\n virtual_ipaddress {\n 192.0.2.5\n }\n}\n"+
				"vrrp_instance F {\n interface eth0\n virtual_ipaddress {\n 192.0.2.6\n }\n}\n"+
				"vrrp_instance A {\n interface eth1\n virtual_router_id 7\n virtual_ipaddress {\n 192.0.2.7\n }\n}\n")
		var names []string
		for _, in := range res.Config.Instances {
			names = append(names, in.Name)
		}
		if !slices.Equal(names, []string{"A", "C"}) || len(findInstance(t, res, "C").VirtualIPAddress) != 1 {
			t.Errorf("instances %q\n%s", names, res.TOML)
		}
		if n := len(res.Warnings); n != 7 {
			t.Errorf("%d warnings: %v", n, res.Warnings)
		}
	})
}

func TestTracking(t *testing.T) {
	src := "vrrp_script s1 {\n script /bin/true\n weight -20\n}\n" +
		"vrrp_script s2 {\n script \"/bin/sh -c 'exit 0'\"\n}\n" +
		"vrrp_script bad {\n script \"</dev/tcp/127.0.0.1/80\"\n}\n" +
		"vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.1\n }\n" +
		" track_script {\n s1\n s2 weight 5\n bad\n nope\n }\n track_interface {\n eth1 weight -10\n eth2\n eth1\n eth3 weight 5 reverse\n }\n}\n" +
		"vrrp_instance B {\n interface eth0\n virtual_router_id 2\n virtual_ipaddress {\n 192.0.2.2\n }\n track_script {\n s1 weight -30\n s2\n }\n}\n" +
		"vrrp_instance OWNER {\n interface eth0\n priority 255\n nopreempt\n virtual_router_id 3\n virtual_ipaddress {\n 192.0.2.3\n }\n track_script {\n s1\n s2\n }\n track_interface {\n eth1 weight 10\n eth2\n }\n}\n" +
		"vrrp_instance G1 {\n interface eth0\n virtual_router_id 4\n virtual_ipaddress {\n 192.0.2.4\n }\n track_script {\n s1\n }\n track_interface {\n eth1 weight 10\n }\n}\n" +
		"vrrp_instance G2 {\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n 192.0.2.5\n }\n}\n" +
		"vrrp_sync_group G {\n group {\n G1\n G2\n G2\n missing\n }\n track_interface {\n bond0 weight -5\n }\n notify_master /bin/gm\n}\n"
	res := importString(t, src)
	scripts := map[string]int{}
	for _, s := range res.Config.Scripts {
		scripts[s.Name] = s.Weight
	}
	want := map[string]int{"s1": -20, "s1_weight_minus_30": -30, "s2": 5, "s2_weight_0": 0}
	if len(scripts) != len(want) {
		t.Errorf("scripts %v, want %v", scripts, want)
	}
	for k, w := range want {
		if got, ok := scripts[k]; !ok || got != w {
			t.Errorf("script %s: weight %d %v, want %d", k, got, ok, w)
		}
	}
	a := findInstance(t, res, "A")
	if !slices.Equal(trackNames(a.TrackScript), []string{"s1", "s2"}) ||
		!slices.Equal(a.TrackInterface, []config.TrackInterface{{Name: "eth1", Weight: -10}, {Name: "eth2", Weight: 0}, {Name: "eth3", Weight: 5, Reverse: true}}) {
		t.Errorf("A: %v %v", a.TrackScript, a.TrackInterface)
	}
	if b := findInstance(t, res, "B"); !slices.Equal(trackNames(b.TrackScript), []string{"s1_weight_minus_30", "s2_weight_0"}) {
		t.Errorf("B: %v", b.TrackScript)
	}
	// The address owner keeps only unweighted tracks (keepalived drops the
	// weighted ones) and always preempts.
	if o := findInstance(t, res, "OWNER"); o.NoPreempt || !slices.Equal(trackNames(o.TrackScript), []string{"s2_weight_0"}) ||
		!slices.Equal(o.TrackInterface, []config.TrackInterface{{Name: "eth2"}}) {
		t.Errorf("OWNER: %v %v %v", o.NoPreempt, o.TrackScript, o.TrackInterface)
	}
	// Sync group members: own interface weights zeroed, own weighted
	// scripts dropped (keepalived's vrrp_complete_instance), the group's
	// tracks added.
	if g1 := findInstance(t, res, "G1"); len(g1.TrackScript) != 0 ||
		!slices.Equal(g1.TrackInterface, []config.TrackInterface{{Name: "eth1"}, {Name: "bond0", Weight: -5}}) {
		t.Errorf("G1: %v %v", g1.TrackScript, g1.TrackInterface)
	}
	if len(res.Config.SyncGroups) != 1 || !slices.Equal(res.Config.SyncGroups[0].Group, []string{"G1", "G2"}) || res.Config.SyncGroups[0].NotifyMaster != "/bin/gm" {
		t.Errorf("sync groups %+v", res.Config.SyncGroups)
	}
	for _, k := range []string{"script", "bad", "nope", "eth1", "G2", "missing", "nopreempt"} {
		if !warned(res, k) {
			t.Errorf("no warning for %s", k)
		}
	}
}

func TestHooks(t *testing.T) {
	src := "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.1\n }\n" +
		" notify_master \"/usr/local/bin/n.sh master 'a b'\" root\n" +
		" notify_backup logger\n" +
		" notify_fault missing-tool\n" +
		" notify_stop \"/bin/echo \\\"x y\\\" \\\\z\"\n" +
		" notify \"/bin/sh -c 'echo $1 | logger'\"\n}\n"
	res := importString(t, src)
	in := findInstance(t, res, "A")
	for _, c := range []struct {
		got  string
		argv []string
	}{
		{in.NotifyMaster, []string{"/usr/local/bin/n.sh", "master", "a b"}},
		{in.NotifyBackup, []string{"/usr/bin/logger"}},
		{in.NotifyStop, []string{"/bin/echo", "x y", "z"}}, // keepalived unescapes twice
		{in.Notify, []string{"/bin/sh", "-c", "echo $1 | logger"}},
	} {
		argv, err := cmdline.Split(c.got)
		if err != nil || !slices.Equal(argv, c.argv) {
			t.Errorf("%s: %q %v, want %q", c.got, argv, err, c.argv)
		}
	}
	if in.NotifyFault != "" || !warned(res, "notify_fault") || !warned(res, "notify_master") {
		t.Errorf("fault %q, warnings %v", in.NotifyFault, res.Warnings)
	}
	// An empty program (found by the fuzzer: it used to panic).
	if res := importString(t, "vrrp_script s {\n script \"''\"\n}\n"); !warned(res, "script") || len(res.Config.Scripts) != 0 {
		t.Errorf("empty program: %v", res.Warnings)
	}
}

func TestVirtualServerSemantics(t *testing.T) {
	src := "virtual_server 192.0.2.1 80 {\n lb_kind DR\n delay_loop 4\n" +
		" real_server 198.51.100.1 8080 {\n HTTP_GET {\n url {\n path /a\n status_code 200 300-302\n }\n url {\n path /b\n }\n retry 2\n delay_before_retry 4\n connect_timeout 1.5\n }\n TCP_CHECK {\n }\n }\n" +
		" real_server 198.51.100.1 80 {\n }\n" +
		" real_server 2001:db8::1 80 {\n }\n}\n" +
		"virtual_server 192.0.2.1 81 {\n protocol UDP\n real_server 198.51.100.2 {\n MISC_CHECK {\n misc_path /bin/check\n }\n }\n}\n" +
		"virtual_server 192.0.2.2 0 {\n protocol TCP\n lb_algo sh\n flag-1\n flag-3\n mh-port\n ops\n quorum 5\n hysteresis 9\n sorry_server 192.0.2.250\n" +
		" real_server 198.51.100.3 0 {\n weight 2\n inhibit_on_failure\n }\n real_server 198.51.100.4 0 {\n }\n}\n" +
		"virtual_server fwmark 9 {\n lb_kind TUN type gue port 6080\n persistence_granularity 255.0.255.0\n real_server 2001:db8::9 443 {\n }\n}\n" +
		"virtual_server group NOPE {\n real_server 198.51.100.5 {\n }\n}\n" +
		"virtual_server 192.0.2.5 80 {\n protocol TCP\n}\n"
	res := importString(t, src)
	vss := res.Config.VirtualServers
	if len(vss) != 4 {
		t.Fatalf("%d virtual servers:\n%s", len(vss), res.TOML)
	}

	// DR: the real server's port is the service's, and the duplicate this
	// makes is removed, as keepalived does; an IPv6 real server of an IPv4
	// DR service is left out.
	vs := vss[0]
	if vs.Forwarding != "dr" || vs.Protocol != "udp" || vs.Scheduler != "wlc" || len(vs.RealServers) != 1 || vs.RealServers[0].Address.Port() != 80 {
		t.Errorf("vs 0: %+v", vs)
	}
	// Both url blocks are checked (url tables, keepalived's default status 2xx for /b)
	// and the TCP_CHECK is a second check; delay_before_retry 4 is the interval itself.
	c := vs.RealServers[0].Check
	wantStatus := []int{200, 300, 301, 302}
	if c == nil || c.Type != "http" || len(c.URLs) != 2 || c.URLs[0].Path != "/a" || !slices.Equal(c.URLs[0].ExpectStatus, wantStatus) ||
		c.URLs[1].Path != "/b" || len(c.URLs[1].ExpectStatus) != 100 || c.DelayBeforeRetry != 0 ||
		c.Interval.Std() != 4*time.Second || c.Timeout.Std() != 1500*time.Millisecond || c.Rise != 1 || c.Fall != 3 {
		t.Errorf("check %+v", c)
	}
	if cs := vs.RealServers[0].Checks; len(cs) != 1 || cs[0].Type != "tcp" || cs[0].Fall != 2 || cs[0].DelayBeforeRetry.Std() != time.Second {
		t.Errorf("further checks %+v", cs)
	}

	// NAT (keepalived's default) without a port: the service's port; MISC
	// retries 0 times and times out after delay_loop (60s by default).
	vs = vss[1]
	if vs.Forwarding != "nat" || vs.Protocol != "udp" || vs.RealServers[0].Address.Port() != 81 {
		t.Errorf("vs 1: %+v", vs)
	}
	if c := vs.RealServers[0].Check; c == nil || c.Type != "exec" || c.Command != "/bin/check" || c.Fall != 1 || c.Interval.Std() != time.Minute || c.Timeout.Std() != time.Minute {
		t.Errorf("misc check %+v", c)
	}

	// Port 0 makes keepalived's service persistent; flags follow the
	// scheduler; quorum is capped by the total weight, hysteresis by quorum.
	vs = vss[2]
	if vs.PersistenceTimeout.Std() != 360*time.Second || !slices.Equal(vs.SchedulerFlags, []string{"sh-fallback"}) || vs.OnePacket ||
		vs.Quorum != 3 || vs.Hysteresis != 2 || vs.SorryServer != netip.MustParseAddrPort("192.0.2.250:0") || vs.InhibitOnFailure {
		t.Errorf("vs 2: %+v", vs)
	}

	vs = vss[3]
	if vs.FWMark != 9 || vs.Forwarding != "tun" || vs.PersistenceNetmask.IsValid() || vs.RealServers[0].Address.Port() != 0 {
		t.Errorf("vs 3: %+v", vs)
	}
	for _, k := range []string{"real_server", "virtual_server", "flag-3", "mh-port", "ops", "inhibit_on_failure", "type", "persistence_granularity"} {
		if !warned(res, k) {
			t.Errorf("no warning for %s", k)
		}
	}
}

func TestVirtualServerGroup(t *testing.T) {
	src := "virtual_server_group G {\n 192.0.2.1-3 80\n 2001:db8::1 443\n fwmark 4\n 192.0.2.0/16 80\n bogus\n}\n" +
		"virtual_server group G {\n lb_kind DR\n protocol TCP\n persistence_timeout 60\n real_server 198.51.100.1 {\n }\n}\n"
	res := importString(t, src)
	var got []string
	for _, vs := range res.Config.VirtualServers {
		got = append(got, vs.String())
	}
	// 256 expanded: 2001:db8::1 is left out (an IPv4 DR real server cannot
	// serve it), and so are the repeats of 192.0.2.1-3 in 192.0.2.0/16 (from
	// the address written to the end of its prefix, as keepalived reads it).
	if len(got) != maxGroupExpansion-4 || !slices.Equal(got[:6], []string{"192.0.2.1:80", "192.0.2.2:80", "192.0.2.3:80", "fwmark 4", "192.0.2.0:80", "192.0.2.4:80"}) {
		t.Errorf("%d virtual servers, first %q", len(got), got[:min(len(got), 6)])
	}
	for _, k := range []string{"bogus", "192.0.2.0/16", "virtual_server", "real_server"} {
		if !warned(res, k) {
			t.Errorf("no warning for %s: %v", k, res.Warnings)
		}
	}
}

func TestLVSSyncDaemon(t *testing.T) {
	const rest = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n 192.0.2.100\n }\n}\n" +
		"virtual_server 192.0.2.100 80 {\n lb_algo rr\n lb_kind DR\n protocol TCP\n real_server 198.51.100.11 80 {\n weight 1\n }\n}\n"
	res := importString(t, "global_defs {\n lvs_sync_daemon eth1 VI_1 id 7 maxlen 1400 port 9000 ttl 2 group 239.0.0.81\n}\n"+rest)
	want := config.SyncDaemon{Interface: "eth1", Instance: "VI_1", SyncID: 7, MaxLen: 1400, Port: 9000, TTL: 2, Group: netip.MustParseAddr("239.0.0.81")}
	if sd := res.Config.LVS.SyncDaemon; sd == nil || *sd != want || len(res.Warnings) != 0 {
		t.Errorf("sync daemon %+v, want %+v; warnings %v\n%s", sd, want, res.Warnings, res.TOML)
	}
	// Defaults: the sync id is the instance's VRID, as keepalived's.
	res = importString(t, "global_defs {\n lvs_sync_daemon eth1 VI_1 ttl 0 group 192.0.2.1 bogus 1 maxlen\n}\n"+rest)
	if sd := res.Config.LVS.SyncDaemon; sd == nil || sd.SyncID != 51 || sd.TTL != 1 || sd.Group.IsValid() {
		t.Errorf("sync daemon %+v\n%s", sd, res.TOML)
	}
	// keepalived reports "1" too: after the positional instance and sync id,
	// a word that is no option is unknown.
	if n := len(res.Warnings); n != 5 {
		t.Errorf("%d warnings, want 5 (ttl, group, bogus, 1, maxlen): %v", n, res.Warnings)
	}
	// No instance named: keepalived runs both daemons all the time with sync
	// id 0; the closest is to follow the only instance, with sync id 0.
	res = importString(t, "global_defs {\n lvs_sync_daemon eth1\n}\n"+rest)
	if sd := res.Config.LVS.SyncDaemon; sd == nil || sd.Instance != "VI_1" || sd.SyncID != 0 || len(res.Notes) != 1 || len(res.Warnings) != 0 {
		t.Errorf("no instance: %+v, warnings %v, notes %v\n%s", sd, res.Warnings, res.Notes, res.TOML)
	}
}

// The kernel refuses a lower threshold above the upper one, and alone (upper 0): such an
// lthreshold is left out with a warning rather than making a file config.Parse rejects.
func TestThresholds(t *testing.T) {
	for _, tc := range []struct {
		rs           string
		upper, lower int
		warn         bool
	}{
		{"uthreshold 10\n lthreshold 5", 10, 5, false},
		{"lthreshold 1", 0, 0, true},
		{"uthreshold 3\n lthreshold 5", 3, 0, true},
	} {
		res := importString(t, "virtual_server 192.0.2.100 80 {\n real_server 198.51.100.11 80 {\n "+tc.rs+"\n }\n}\n")
		if len(res.Config.VirtualServers) != 1 || len(res.Config.VirtualServers[0].RealServers) != 1 {
			t.Fatalf("%q: no real server in\n%s", tc.rs, res.TOML)
		}
		rs := res.Config.VirtualServers[0].RealServers[0]
		if rs.UpperThreshold != tc.upper || rs.LowerThreshold != tc.lower || warned(res, "lthreshold") != tc.warn {
			t.Errorf("%q: upper %d lower %d, warnings %v; want %d %d, warning %v", tc.rs, rs.UpperThreshold, rs.LowerThreshold, res.Warnings, tc.upper, tc.lower, tc.warn)
		}
	}
}

// A block name used twice: the later block is left out with a warning naming the first, as
// keepalived skips it; a block without a name is left out too.
func TestBlockNames(t *testing.T) {
	inst := func(name string, vrid int) string {
		return fmt.Sprintf("vrrp_instance %s {\n interface eth0\n virtual_router_id %d\n virtual_ipaddress {\n 192.0.2.%d\n }\n}\n", name, vrid, vrid)
	}
	src := "vrrp_script chk {\n script /bin/true\n}\nvrrp_script chk {\n script /bin/false\n}\n" +
		inst("VI_1", 1) + inst("VI_1", 2) + "vrrp_instance {\n}\n" +
		"vrrp_sync_group G {\n group {\n VI_1\n }\n}\nvrrp_sync_group G {\n group {\n VI_1\n }\n}\n" +
		"virtual_server_group VG {\n 192.0.2.100 80\n}\nvirtual_server_group VG {\n 192.0.2.101 80\n}\n"
	res := importString(t, src)
	if n := len(res.Config.Instances); n != 1 || res.Config.Instances[0].VirtualRouterID != 1 {
		t.Errorf("instances %+v, want VI_1 with VRID 1 only", res.Config.Instances)
	}
	if n := len(res.Config.Scripts); n != 1 || res.Config.Scripts[0].Script != "/bin/true" {
		t.Errorf("scripts %+v, want the first chk only", res.Config.Scripts)
	}
	if n := len(res.Config.SyncGroups); n != 1 {
		t.Errorf("%d sync groups, want 1", n)
	}
	var dups, unnamed int
	for _, w := range res.Warnings {
		switch {
		case strings.Contains(w.Reason, "is already defined at keepalived.conf:"):
			dups++
		case strings.Contains(w.Reason, "needs exactly one name"):
			unnamed++
		}
	}
	if dups != 4 || unnamed != 1 {
		t.Errorf("%d duplicate and %d unnamed warnings, want 4 and 1: %v", dups, unnamed, res.Warnings)
	}
}

// trackNames lists the names of track_script or track_file elements.
func trackNames(refs []config.TrackRef) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Name)
	}
	return out
}

func trackFiles(res *Result) map[string]config.TrackFile {
	out := map[string]config.TrackFile{}
	for _, f := range res.Config.TrackFiles {
		out[f.Name] = f
	}
	return out
}

// TestTrackFile follows keepalived 2.2's track_file.c and vrrp.c: the file's
// weight (default 1) unless the instance gives one, reverse as a negative
// weight, and the sync group and address owner corrections.
func TestTrackFile(t *testing.T) {
	const inst = "vrrp_instance %s {\n interface eth0\n virtual_router_id %d\n priority %d\n virtual_ipaddress {\n 192.0.2.%d\n }\n track_file {\n %s\n }\n}\n"
	for _, tc := range []struct {
		name     string
		file     string // the track_file block's contents
		track    string // the instance's track_file line
		priority int
		group    string // "" or the sync group's extra lines
		want     []config.TrackFile
		warn     string
	}{
		{name: "default weight", file: "file /run/m", track: "m", want: []config.TrackFile{{Name: "m", File: "/run/m", Weight: 1}}},
		{name: "file weight", file: "file /run/m\n weight -7", track: "m", want: []config.TrackFile{{Name: "m", File: "/run/m", Weight: -7}}},
		{name: "reverse", file: "file /run/m\n weight 3 reverse", track: "m", want: []config.TrackFile{{Name: "m", File: "/run/m", Weight: -3}}},
		{name: "instance weight keeps the file's reverse", file: "file /run/m\n weight 3 reverse", track: "m weight 4", want: []config.TrackFile{{Name: "m", File: "/run/m", Weight: -4}}},
		{name: "noreverse", file: "file /run/m\n weight 3 reverse", track: "m weight 4 noreverse", want: []config.TrackFile{{Name: "m", File: "/run/m", Weight: 4}}},
		{name: "weight 0", file: "file /run/m", track: "m weight 0", want: []config.TrackFile{{Name: "m", File: "/run/m", Weight: 0}}},
		{name: "0 reverse has no equivalent", file: "file /run/m", track: "m weight 0 reverse", want: nil, warn: "m"},
		{name: "second weight ignored", file: "file /run/m\n weight 2\n weight 5", track: "m", want: []config.TrackFile{{Name: "m", File: "/run/m", Weight: 2}}, warn: "weight"},
		{name: "weight out of range keeps the file's", file: "file /run/m\n weight 5", track: "m weight 300", want: []config.TrackFile{{Name: "m", File: "/run/m", Weight: 5}}, warn: "m"},
		{name: "not weight", file: "file /run/m", track: "m wait 3", want: nil, warn: "m"},
		{name: "relative file", file: "file m.txt", track: "m", want: nil, warn: "file"},
		{name: "second file ignored", file: "file /run/m\n file /run/n", track: "m", want: []config.TrackFile{{Name: "m", File: "/run/m", Weight: 1}}, warn: "file"},
		{name: "owner: weight 1 becomes 0", file: "file /run/m", track: "m", priority: 255, want: []config.TrackFile{{Name: "m", File: "/run/m", Weight: 0}}},
		{name: "owner: other weights dropped", file: "file /run/m\n weight 2", track: "m", priority: 255, want: nil},
		{name: "sync group: weight 1 becomes 0", file: "file /run/m", track: "m", group: " ", want: []config.TrackFile{{Name: "m", File: "/run/m", Weight: 0}}},
		{name: "sync group: other weights dropped", file: "file /run/m", track: "m weight -5", group: " ", want: nil},
		{name: "sync_group_tracking_weight keeps them", file: "file /run/m", track: "m weight -5", group: " sync_group_tracking_weight\n", want: []config.TrackFile{{Name: "m", File: "/run/m", Weight: -5}}},
		{name: "the group's weight replaces the instance's", file: "file /run/m", track: "m weight -5", group: " sync_group_tracking_weight\n track_file {\n m weight -9\n }\n", want: []config.TrackFile{{Name: "m", File: "/run/m", Weight: -9}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prio := cmp.Or(tc.priority, 100)
			src := "track_file m {\n " + tc.file + "\n}\n" + fmt.Sprintf(inst, "A", 1, prio, 1, tc.track)
			if tc.group != "" {
				src += fmt.Sprintf(inst, "B", 2, 100, 2, "") + "vrrp_sync_group G {\n group {\n A\n B\n }\n" + tc.group + "\n}\n"
			}
			res := importString(t, src)
			a := findInstance(t, res, "A")
			var got []config.TrackFile
			files := trackFiles(res)
			for _, ref := range a.TrackFile {
				got = append(got, files[ref.Name])
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("A tracks %+v, want %+v\n%s", got, tc.want, res.TOML)
			}
			if tc.warn != "" && !warned(res, tc.warn) || tc.warn == "" && len(res.Warnings) != 0 {
				t.Errorf("warnings %v, want one for %q", res.Warnings, tc.warn)
			}
		})
	}
	t.Run("init_file", func(t *testing.T) {
		for _, tc := range []struct {
			line string
			warn bool
		}{{"init_file", false}, {"init_file 0", false}, {"init_file 5", true}, {"init_file overwrite", true}, {"init_file 0 overwrite", true}} {
			res := importString(t, "vrrp_track_file m {\n file /run/m\n "+tc.line+"\n}\n"+fmt.Sprintf(inst, "A", 1, 100, 1, "m"))
			if warned(res, "init_file") != tc.warn || len(res.Config.TrackFiles) != 1 {
				t.Errorf("%s: warnings %v, want a warning %v\n%s", tc.line, res.Warnings, tc.warn, res.TOML)
			}
		}
	})
	t.Run("weights per instance", func(t *testing.T) {
		res := importString(t, "track_file m {\n file /run/m\n}\n"+
			fmt.Sprintf(inst, "A", 1, 100, 1, "m")+fmt.Sprintf(inst, "B", 2, 100, 2, "m weight -20")+fmt.Sprintf(inst, "C", 3, 100, 3, "m weight -20"))
		files := trackFiles(res)
		if len(files) != 2 || files["m"].Weight != 1 || files["m_weight_minus_20"].Weight != -20 ||
			!slices.Equal(trackNames(findInstance(t, res, "C").TrackFile), []string{"m_weight_minus_20"}) {
			t.Errorf("files %+v\n%s", files, res.TOML)
		}
	})
}

// TestSyncDaemonSources covers keepalived's other spellings of the sync
// daemon and the cases hadirector's schema cannot take.
func TestSyncDaemonSources(t *testing.T) {
	const vs = "virtual_server 192.0.2.100 80 {\n lb_kind DR\n real_server 198.51.100.11 80 {\n }\n}\n"
	inst := func(name string, vrid int, extra string) string {
		return fmt.Sprintf("vrrp_instance %s {\n interface eth0\n virtual_router_id %d\n virtual_ipaddress {\n 192.0.2.%d\n }\n%s}\n", name, vrid, vrid, extra)
	}
	for _, tc := range []struct {
		name string
		src  string
		want *config.SyncDaemon
		warn bool
	}{
		{"lvs_sync_daemon_interface: sync id 0", inst("VI_1", 51, " lvs_sync_daemon_interface eth1\n") + vs,
			&config.SyncDaemon{Interface: "eth1", Instance: "VI_1", SyncID: 0, Port: 8848, TTL: 1}, false},
		{"the first one read wins", inst("VI_1", 51, "") + inst("VI_2", 52, " lvs_sync_daemon_interface eth2\n") + "global_defs {\n lvs_sync_daemon eth1 VI_1\n}\n" + vs,
			&config.SyncDaemon{Interface: "eth2", Instance: "VI_2", SyncID: 0, Port: 8848, TTL: 1}, true},
		{"positional sync id", "global_defs {\n lvs_sync_daemon eth1 VI_1 9\n}\n" + inst("VI_1", 51, "") + vs,
			&config.SyncDaemon{Interface: "eth1", Instance: "VI_1", SyncID: 9, Port: 8848, TTL: 1}, false},
		{"inst keyword", "global_defs {\n lvs_sync_daemon eth1 inst VI_2\n}\n" + inst("VI_1", 51, "") + inst("VI_2", 52, "") + vs,
			&config.SyncDaemon{Interface: "eth1", Instance: "VI_2", SyncID: 52, Port: 8848, TTL: 1}, false},
		{"IPv6 group", "global_defs {\n lvs_sync_daemon eth1 VI_1 group ff02::81\n}\n" + inst("VI_1", 51, "") + vs,
			&config.SyncDaemon{Interface: "eth1", Instance: "VI_1", SyncID: 51, Port: 8848, TTL: 1, Group: netip.MustParseAddr("ff02::81")}, false},
		{"a second lvs_sync_daemon is ignored", "global_defs {\n lvs_sync_daemon eth1 VI_1\n lvs_sync_daemon eth2 VI_1\n}\n" + inst("VI_1", 51, "") + vs,
			&config.SyncDaemon{Interface: "eth1", Instance: "VI_1", SyncID: 51, Port: 8848, TTL: 1}, true},
		{"no virtual_server", "global_defs {\n lvs_sync_daemon eth1 VI_1\n}\n" + inst("VI_1", 51, ""), nil, true},
		{"unknown instance", "global_defs {\n lvs_sync_daemon eth1 VI_9\n}\n" + inst("VI_1", 51, "") + vs, nil, true},
		{"instance left out", "global_defs {\n lvs_sync_daemon eth1 VI_1\n}\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n}\n" + vs, nil, true},
		{"no instance, two instances", "global_defs {\n lvs_sync_daemon eth1\n}\n" + inst("VI_1", 51, "") + inst("VI_2", 52, "") + vs, nil, true},
		{"interface name too long", "global_defs {\n lvs_sync_daemon eth1234567890123 VI_1\n}\n" + inst("VI_1", 51, "") + vs, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := importString(t, tc.src)
			got := res.Config.LVS.SyncDaemon
			if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Errorf("sync daemon %+v, want %+v\n%s", got, tc.want, res.TOML)
			}
			if w := slices.ContainsFunc(res.Warnings, func(w Warning) bool { return strings.HasPrefix(w.Keyword, "lvs_sync_daemon") }); w != tc.warn {
				t.Errorf("warnings %v, want one: %v", res.Warnings, tc.warn)
			}
		})
	}
}

// keepalived's use_vmac NAME becomes vmac_name; what hadirector cannot take is warned
// about and the output still passes config.Parse.
func TestUseVMACName(t *testing.T) {
	res := importString(t,
		"vrrp_instance A {\n interface eth0\n virtual_router_id 51\n use_vmac vrrp.51\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n"+
			"vrrp_instance B {\n interface eth1\n virtual_router_id 51\n use_vmac\n virtual_ipaddress {\n 198.51.100.1\n }\n}\n"+
			"vrrp_instance C {\n interface eth2\n virtual_router_id 51\n use_vmac vrrp.51 02:00:00:00:00:01\n virtual_ipaddress {\n 203.0.113.1\n }\n}\n"+
			"vrrp_instance D {\n interface eth3\n virtual_router_id 51\n use_vmac a-name-far-too-long\n virtual_ipaddress {\n 203.0.113.2\n }\n}\n"+
			"vrrp_instance E {\n interface bond0\n virtual_router_id 52\n use_vmac\n virtual_ipaddress {\n 203.0.113.3/24 label bond0:vip10\n }\n}\n"+
			"vrrp_instance F {\n interface eth4\n virtual_router_id 51\n use_vmac group 7 name group\n virtual_ipaddress {\n 203.0.113.4\n }\n}\n")
	for name, want := range map[string]string{"A": "vrrp.51", "B": "vr51.eth1", "C": "vr51.eth2", "D": "vr51.eth3", "E": "vr52.bond0", "F": "group"} {
		in := findInstance(t, res, name)
		if !in.UseVMAC || in.VMAC() != want {
			t.Errorf("%s: use_vmac %v, vmac %q, want %q\n%s", name, in.UseVMAC, in.VMAC(), want, res.TOML)
		}
	}
	if !strings.Contains(string(res.TOML), `vmac_name = "vrrp.51"`) {
		t.Errorf("no vmac_name in\n%s", res.TOML)
	}
	if in := findInstance(t, res, "E"); in.VirtualIPAddressLabel != "" {
		t.Errorf("E keeps the label %q, too long on its vmac", in.VirtualIPAddressLabel)
	}
	var reasons []string
	for _, w := range res.Warnings {
		reasons = append(reasons, w.Reason)
	}
	for _, want := range []string{
		`MAC "02:00:00:00:00:01"`, // C: a MAC
		"vmac_name is also the vmac of the instance at keepalived.conf:1", // C: the name is A's
		`"a-name-far-too-long" is longer than 15 bytes`,                   // D
		`on the vmac the label is "vr52.bond0:vip10"`,                     // E
		"group 7: hadirector leaves the vmac in the default link group",   // F
	} {
		if !slices.ContainsFunc(reasons, func(r string) bool { return strings.Contains(r, want) }) {
			t.Errorf("no warning %q in %q", want, reasons)
		}
	}
	if _, err := config.Parse("out.toml", res.TOML); err != nil {
		t.Errorf("the output does not pass config.Parse: %v\n%s", err, res.TOML)
	}
}

// What stands is config's decision: a warning quotes config's problem, and what is left
// of an element after a part is left out is settled again (here the family, hence the
// version, follows the addresses that are left).
func TestConfigDecides(t *testing.T) {
	res := importString(t,
		"vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n ff02::1\n 192.0.2.1\n }\n}\n"+
			"vrrp_instance B {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.2\n }\n}\n"+
			"virtual_server 192.0.2.1 80 {\n lb_algo fastest\n real_server 198.51.100.1 80 {\n }\n real_server 2001:db8::1 80 {\n }\n}\n")
	a := findInstance(t, res, "A")
	if a.Version != 2 || !slices.Equal(a.VirtualIPAddress, []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}) {
		t.Errorf("A: version %d, addresses %v", a.Version, a.VirtualIPAddress)
	}
	if len(res.Config.Instances) != 1 {
		t.Errorf("instances %+v", res.Config.Instances)
	}
	vs := res.Config.VirtualServers
	if len(vs) != 1 || vs[0].Scheduler != "wlc" || len(vs[0].RealServers) != 1 {
		t.Errorf("virtual servers %+v", vs)
	}
	var got []string
	for _, w := range res.Warnings {
		got = append(got, fmt.Sprintf("%d %s: %s", w.Line, w.Keyword, w.Reason))
	}
	want := []string{
		"5 ff02::1: virtual_ipaddress: ff02::1 cannot be a virtual address; the address is left out",
		"9 vrrp_instance: virtual_router_id: virtual_router_id 1 on eth0 (IPv4) is also used by the instance at keepalived.conf:1; the instance is left out",
		`17 lb_algo: scheduler: "fastest" is not one of rr wrr lc wlc lblc lblcr dh sh sed nq mh fo ovf twos; wlc (the default) is used`,
		"20 real_server: real_server.address: 2001:db8::1 is IPv6 but the service is IPv4 (only tun can cross families); the real server is left out",
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The virtual servers of a group share the template's sorry server, and each gets the
// port keepalived gives it: with DR, its own service's (the first used to get the last
// one's).
func TestVirtualServerGroupSorryPort(t *testing.T) {
	res := importString(t, "virtual_server_group G {\n 192.0.2.1 80\n 192.0.2.2 443\n}\n"+
		"virtual_server group G {\n lb_kind DR\n protocol TCP\n sorry_server 192.0.2.250 8080\n real_server 198.51.100.1 {\n }\n}\n")
	var got []string
	for _, vs := range res.Config.VirtualServers {
		got = append(got, vs.SorryServer.String())
	}
	if want := []string{"192.0.2.250:80", "192.0.2.250:443"}; !slices.Equal(got, want) {
		t.Errorf("sorry servers %q, want %q", got, want)
	}
}

// TestCheckersRefused: a checker config refuses (a payload that is not hex, a DNS type it
// does not know) is left out with config's reason, and the real server keeps its other
// checks; quorum hooks config refuses are left out, the virtual server kept.
func TestCheckersRefused(t *testing.T) {
	res := importString(t, "virtual_server 192.0.2.1 53 {\n protocol UDP\n lb_kind DR\n"+
		" real_server 198.51.100.1 53 {\n UDP_CHECK {\n payload zz\n }\n DNS_CHECK {\n type BOGUS\n }\n PING_CHECK {\n }\n }\n}\n")
	vss := res.Config.VirtualServers
	if len(vss) != 1 || len(vss[0].RealServers) != 1 {
		t.Fatalf("virtual servers %+v\n%s", vss, res.TOML)
	}
	rs := vss[0].RealServers[0]
	if rs.Check == nil || rs.Check.Type != "ping" || len(rs.Checks) != 0 {
		t.Errorf("checks %+v %+v, want the PING_CHECK alone", rs.Check, rs.Checks)
	}
	for _, kw := range []string{"UDP_CHECK", "DNS_CHECK"} {
		if !slices.ContainsFunc(res.Warnings, func(w Warning) bool {
			return w.Keyword == kw && strings.Contains(w.Reason, "the check is left out")
		}) {
			t.Errorf("no warning that %s is left out: %v", kw, res.Warnings)
		}
	}
}
