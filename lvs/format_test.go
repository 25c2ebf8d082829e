package lvs

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func formatTable() (Table, Stats) {
	t := seedTable()
	udp := AddrKey(UDP, netip.MustParseAddrPort("192.0.2.100:53"))
	t.Add(Service{Key: udp, Scheduler: "sh", Flags: FlagSHFallback | FlagSHPort | FlagOnePacket | FlagPersistent, Timeout: 60 * time.Second, Netmask: 24},
		Destination{Addr: netip.MustParseAddrPort("198.51.100.21:53"), Forwarding: ForwardNAT, Weight: 100})
	t.Add(Service{Key: MarkKey(IPv4, 7), Scheduler: "wlc"},
		Destination{Addr: netip.MustParseAddrPort("198.51.100.31:0"), Forwarding: ForwardTunnel, Weight: 3})
	v6 := AddrKey(SCTP, netip.MustParseAddrPort("[2001:db8::100]:3868"))
	t.Add(Service{Key: v6, Scheduler: "mh", Flags: FlagMHPort | FlagPersistent, Timeout: 10 * time.Second, Netmask: 64},
		Destination{Addr: netip.MustParseAddrPort("[2001:db8:1::11]:3868"), Weight: 0})
	t.Add(Service{Key: MarkKey(IPv6, 9), Scheduler: "rr"})
	st := Stats{
		vip80: {Counters: Counters{Conns: 12, PacketsIn: 123456789, PacketsOut: 99999999, BytesIn: 1_500_000_000, BytesOut: 300_000_000_000_000},
			Dests: map[netip.AddrPort]DestStats{rs11: {Counters: Counters{Conns: 12, PacketsIn: 5}, ActiveConns: 3, InactiveConns: 7}}},
	}
	return t, st
}

func TestFormatList(t *testing.T) {
	tab, st := formatTable()
	var b bytes.Buffer
	if err := Format(&b, tab, st, FormatOptions{Info: Info{Version: "1.2.1", ConnTableSize: 4096}}); err != nil {
		t.Fatal(err)
	}
	want := `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.0.2.100:80 rr persistent 300
  -> 198.51.100.11:80             Route   1      3          7         
  -> 198.51.100.12:80             Route   1      0          0         
UDP  192.0.2.100:53 sh (sh-fallback,sh-port) persistent 60 mask 255.255.255.0 ops
  -> 198.51.100.21:53             Masq    100    0          0         
SCTP [2001:db8::100]:3868 mh (mh-port) persistent 10 mask 64
  -> [2001:db8:1::11]:3868        Route   0      0          0         
FWM  7 wlc
  -> 198.51.100.31:0              Tunnel  3      0          0         
FWM  9 IPv6 rr
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestFormatStats(t *testing.T) {
	tab, st := formatTable()
	var b bytes.Buffer
	if err := Format(&b, Table{vip80: tab[vip80], MarkKey(IPv4, 7): tab[MarkKey(IPv4, 7)]}, st, FormatOptions{Stats: true, Info: Info{Version: "1.2.1", ConnTableSize: 4096}}); err != nil {
		t.Fatal(err)
	}
	want := `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  192.0.2.100:80                     12  123456K 99999999    1500M     300T
  -> 198.51.100.11:80                   12        5        0        0        0
  -> 198.51.100.12:80                    0        0        0        0        0
FWM  7                                   0        0        0        0        0
  -> 198.51.100.31:0                     0        0        0        0        0
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	_ = Format(&b, Table{vip80: tab[vip80]}, st, FormatOptions{Stats: true, Exact: true})
	if !strings.Contains(b.String(), "TCP  192.0.2.100:80                     12 123456789 99999999 1500000000 300000000000000\n") {
		t.Fatalf("exact:\n%s", b.String())
	}
}

func TestFormatJSON(t *testing.T) {
	tab, st := formatTable()
	var b bytes.Buffer
	to := Timeouts{TCP: 30 * time.Second, TCPFin: 5 * time.Second, UDP: 60 * time.Second}
	if err := Format(&b, tab, st, FormatOptions{JSON: true, Info: Info{Version: "1.2.1", ConnTableSize: 4096}, Owned: keysOf(seedTable()), Timeouts: &to}); err != nil {
		t.Fatal(err)
	}
	var l Listing
	if err := json.Unmarshal(b.Bytes(), &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Services) != 5 || l.Version != "1.2.1" || l.Timeouts.TCPFin != 5 {
		t.Fatalf("%+v", l)
	}
	s := l.Services[0]
	if s.Name != "tcp 192.0.2.100:80" || s.Address != "192.0.2.100:80" || s.Protocol != "tcp" || !s.Persistent ||
		s.PersistenceTimeout != 300 || s.Owned == nil || !*s.Owned || s.Stats.Conns != 12 ||
		len(s.Destinations) != 2 || s.Destinations[0].Stats.ActiveConns != 3 || s.Destinations[0].Forwarding != "dr" {
		t.Fatalf("%+v", s)
	}
	if o := l.Services[1].Owned; o == nil || *o {
		t.Fatalf("udp service owned: %v", o)
	}
	if f := l.Services[1].SchedulerFlags; len(f) != 2 || f[0] != "sh-fallback" {
		t.Fatalf("flags %v", f)
	}
	if l.Services[4].Name != "fwmark 9 ipv6" || l.Services[4].Destinations == nil {
		t.Fatalf("%+v", l.Services[4])
	}
}

func TestLargeNum(t *testing.T) {
	for _, tc := range []struct {
		v    uint64
		want string
	}{
		{0, "        0"},
		{99_999_999, " 99999999"},
		{100_000_000, "  100000K"},
		{999_999_999, "  999999K"},
		{1_000_000_000, "    1000M"},
		{99_999_999_999, "   99999M"},
		{100_000_000_000, "     100G"},
		{100_000_000_000_000, "     100T"},
	} {
		if got := largeNum(tc.v, false); got != tc.want {
			t.Errorf("%d: %q, want %q", tc.v, got, tc.want)
		}
	}
}
