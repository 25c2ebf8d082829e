package lvs

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestKeyOrderIsIpvsadms(t *testing.T) {
	keys := []Key{
		MarkKey(IPv6, 1),
		AddrKey(UDP, netip.MustParseAddrPort("192.0.2.1:53")),
		MarkKey(IPv4, 2),
		AddrKey(TCP, netip.MustParseAddrPort("[2001:db8::1]:80")),
		AddrKey(TCP, netip.MustParseAddrPort("192.0.2.1:443")),
		AddrKey(TCP, netip.MustParseAddrPort("192.0.2.1:80")),
		MarkKey(IPv4, 1),
		AddrKey(TCP, netip.MustParseAddrPort("192.0.2.0:8080")),
	}
	slices.SortFunc(keys, Key.Compare)
	var got []string
	for _, k := range keys {
		got = append(got, k.String())
	}
	want := []string{
		"tcp 192.0.2.0:8080", "tcp 192.0.2.1:80", "tcp 192.0.2.1:443", "udp 192.0.2.1:53",
		"tcp [2001:db8::1]:80", "fwmark 1", "fwmark 1 ipv6", "fwmark 2",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%v\nwant %v", got, want)
	}
}

func TestAddrKeyUnmaps(t *testing.T) {
	k := AddrKey(TCP, netip.MustParseAddrPort("[::ffff:192.0.2.1]:80"))
	if k.Family != IPv4 || k.Addr.String() != "192.0.2.1:80" {
		t.Fatalf("%+v", k)
	}
}

func TestNormalize(t *testing.T) {
	v6 := AddrKey(TCP, netip.MustParseAddrPort("[2001:db8::1]:80"))
	for _, tc := range []struct{ in, want Service }{
		{Service{Key: vip80}, Service{Key: vip80, Scheduler: "wlc", Netmask: 32}},
		{Service{Key: v6, Flags: FlagHashed, Timeout: 5 * time.Second, Netmask: 64}, Service{Key: v6, Scheduler: "wlc", Netmask: 128}},
		{Service{Key: v6, Scheduler: "rr", Flags: FlagPersistent | FlagHashed, Timeout: 5500 * time.Millisecond}, Service{Key: v6, Scheduler: "rr", Flags: FlagPersistent, Timeout: 5 * time.Second, Netmask: 128}},
		{Service{Key: vip80, Flags: FlagPersistent, Netmask: 40}, Service{Key: vip80, Scheduler: "wlc", Flags: FlagPersistent, Netmask: 32}},
		{Service{Key: vip80, Flags: FlagPersistent, Netmask: 24}, Service{Key: vip80, Scheduler: "wlc", Flags: FlagPersistent, Netmask: 24}},
	} {
		if got := tc.in.Normalize(); got != tc.want {
			t.Errorf("%+v: %+v, want %+v", tc.in, got, tc.want)
		}
		if got := tc.in.Normalize().Normalize(); got != tc.want {
			t.Errorf("Normalize is not idempotent for %+v", tc.in)
		}
	}
}

func TestSchedulerFlagNames(t *testing.T) {
	for _, tc := range []struct {
		sched string
		f     Flags
		want  []string
	}{
		{"sh", FlagSched1 | FlagSched2, []string{"sh-fallback", "sh-port"}},
		{"mh", FlagSched2, []string{"mh-port"}},
		{"rr", FlagSched1 | FlagSched3 | FlagPersistent, []string{"flag-1", "flag-3"}},
		{"sh", FlagPersistent, nil},
	} {
		if got := SchedulerFlagNames(tc.sched, tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("%s %x: %v, want %v", tc.sched, tc.f, got, tc.want)
		}
	}
}

func TestTimeoutsMerge(t *testing.T) {
	cur := Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}
	got := Timeouts{TCPFin: 5 * time.Second}.Merge(cur)
	if got != (Timeouts{TCP: 900 * time.Second, TCPFin: 5 * time.Second, UDP: 300 * time.Second}) {
		t.Fatal(got)
	}
	if s := got.String(); s != "tcp 900 tcpfin 5 udp 300" {
		t.Fatal(s)
	}
}

func TestParseNames(t *testing.T) {
	for _, s := range []string{"tcp", "udp", "sctp"} {
		p, err := ParseProtocol(s)
		if err != nil || p.String() != s {
			t.Errorf("%s: %v %v", s, p, err)
		}
	}
	for _, s := range []string{"dr", "nat", "tun"} {
		f, err := ParseForwarding(s)
		if err != nil || f.String() != s {
			t.Errorf("%s: %v %v", s, f, err)
		}
	}
	if _, err := ParseProtocol("icmp"); err == nil {
		t.Error("icmp")
	}
	if _, err := ParseForwarding("fullnat"); err == nil {
		t.Error("fullnat")
	}
}
