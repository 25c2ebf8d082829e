package lvs

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func sysctlNames(s []Sysctl) map[string]string {
	m := map[string]string{}
	for _, x := range s {
		m[x.Name] = x.Value
	}
	return m
}

func TestSysctlsFor(t *testing.T) {
	dr := seedSpec()
	nat := seedSpec()
	nat.Services[0].Forwarding = "nat"
	for i := range nat.Services[0].RealServers {
		nat.Services[0].RealServers[i].Forwarding = "nat"
	}
	quiescent := seedSpec()
	quiescent.Services[0].InhibitOnFailure = true
	nat6 := &Spec{Services: []ServiceSpec{{
		Address: netip.MustParseAddrPort("[2001:db8::100]:80"), Protocol: "tcp", Scheduler: "wlc", Forwarding: "dr", Quorum: 1,
		RealServers: []RealServerSpec{{Address: netip.MustParseAddrPort("[2001:db8:1::11]:80"), Forwarding: "nat", Weight: 1}},
	}}}
	for _, tc := range []struct {
		name string
		cfg  func() []Sysctl
		want map[string]string
	}{
		{"DR needs no forwarding", func() []Sysctl { s, _ := SysctlsFor(dr, SysctlPolicy{}); return s },
			map[string]string{SysctlExpireNodestConn: "1"}},
		{"NAT forwards", func() []Sysctl { s, _ := SysctlsFor(nat, SysctlPolicy{}); return s },
			map[string]string{SysctlIPv4Forward: "1", SysctlExpireNodestConn: "1"}},
		{"IPv6 NAT forwards IPv6", func() []Sysctl { s, _ := SysctlsFor(nat6, SysctlPolicy{}); return s },
			map[string]string{SysctlIPv6Forward: "1", SysctlExpireNodestConn: "1"}},
		{"inhibit + persistence expires templates", func() []Sysctl { s, _ := SysctlsFor(quiescent, SysctlPolicy{}); return s },
			map[string]string{SysctlExpireNodestConn: "1", SysctlExpireQuiescentTemplate: "1"}},
		{"explicit", func() []Sysctl {
			s, _ := SysctlsFor(nat, SysctlPolicy{IPForward: SysctlKeep, ExpireNodestConn: SysctlOff, ExpireQuiescentTemplate: SysctlOn, Conntrack: SysctlOn, SloppyTCP: SysctlOn, SloppySCTP: SysctlOff})
			return s
		}, map[string]string{SysctlExpireNodestConn: "0", SysctlExpireQuiescentTemplate: "1", SysctlConntrack: "1", SysctlSloppyTCP: "1", SysctlSloppySCTP: "0"}},
	} {
		if got := sysctlNames(tc.cfg()); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := SysctlsFor(dr, SysctlPolicy{Conntrack: "maybe"}); err == nil {
		t.Error("bad mode accepted")
	}
}

func TestApplySysctls(t *testing.T) {
	root := t.TempDir()
	write := func(rel, v string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("net/ipv4/ip_forward", "0\n")
	write("net/ipv4/vs/expire_nodest_conn", "1\n")
	// The dot of the VLAN interface eth0.100 is part of its directory's name.
	write("net/ipv4/conf/eth0.100/rp_filter", "1\n")
	const vlanRPFilter = "net.ipv4.conf.eth0.100.rp_filter"
	want := []Sysctl{{Name: SysctlIPv4Forward, Value: "1"}, {Name: SysctlExpireNodestConn, Value: "1"}, {Name: vlanRPFilter, Value: "2"}}
	changed, err := ApplySysctls(root, want)
	if err != nil || !reflect.DeepEqual(changed, []SysctlChange{{Name: SysctlIPv4Forward, Old: "0", New: "1"}, {Name: vlanRPFilter, Old: "1", New: "2"}}) {
		t.Fatalf("changed %v err %v", changed, err)
	}
	if v, _ := ReadSysctl(root, SysctlIPv4Forward); v != "1" {
		t.Fatalf("ip_forward %q", v)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "net/ipv4/conf/eth0.100/rp_filter")); string(b) != "2\n" {
		t.Fatalf("eth0.100 rp_filter holds %q", b)
	}
	if changed, err := ApplySysctls(root, want); err != nil || len(changed) != 0 {
		t.Fatalf("second apply: %v %v", changed, err)
	}
	// The IPVS settings are missing until ip_vs is loaded: say so.
	_, err = ApplySysctls(root, []Sysctl{{Name: SysctlConntrack, Value: "1"}})
	if !errors.Is(err, ErrNoIPVS) {
		t.Fatalf("missing vs sysctl: %v", err)
	}
}
