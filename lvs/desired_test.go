package lvs

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// seedSpec is the seed's manual setup as a spec (the configuration's
// [[virtual_server]] with a default http check, mapped by the director):
//
//	ipvsadm --set 30 5 60
//	ipvsadm -A -t 192.0.2.100:80 -s rr -p 300
//	ipvsadm -a -t 192.0.2.100:80 -r 198.51.100.11 -g -w 1
//	ipvsadm -a -t 192.0.2.100:80 -r 198.51.100.12 -g -w 1
func seedSpec() *Spec {
	return &Spec{
		Timeouts: Timeouts{TCP: 30 * time.Second, TCPFin: 5 * time.Second, UDP: 60 * time.Second},
		Services: []ServiceSpec{{
			Address: netip.MustParseAddrPort("192.0.2.100:80"), Protocol: "tcp", Scheduler: "rr", Forwarding: "dr",
			PersistenceTimeout: 300 * time.Second, Quorum: 1,
			RealServers: []RealServerSpec{
				{Address: netip.MustParseAddrPort("198.51.100.11:80"), Forwarding: "dr", Weight: 1, Checked: true},
				{Address: netip.MustParseAddrPort("198.51.100.12:80"), Forwarding: "dr", Weight: 1, Checked: true},
			},
		}},
	}
}

const seedRules = `
ipvsadm --set 30 5 60
ipvsadm -A -t 192.0.2.100:80 -s rr -p 300
ipvsadm -a -t 192.0.2.100:80 -r 198.51.100.11 -g -w 1
ipvsadm -a -t 192.0.2.100:80 -r 198.51.100.12 -g -w 1
`

func allUp(*ServiceSpec, *RealServerSpec) bool { return true }

// The seed's ipvsadm setup is expressible one to one: the spec gives
// exactly the table and timeouts that the ipvsadm commands give.
func TestFromSpecSeedIsIpvsadmSetup(t *testing.T) {
	m, err := FromSpec(seedSpec(), allUp, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, wantTO, err := ParseRules(strings.NewReader(seedRules))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Table.Equal(want) {
		t.Fatalf("table\n%v\nwant\n%v", rulesString(m.Table), rulesString(want))
	}
	if m.Timeouts != wantTO || wantTO != (Timeouts{TCP: 30 * time.Second, TCPFin: 5 * time.Second, UDP: 60 * time.Second}) {
		t.Fatalf("timeouts %v, want %v", m.Timeouts, wantTO)
	}
	var b strings.Builder
	if err := WriteRules(&b, m.Table, m.Timeouts); err != nil {
		t.Fatal(err)
	}
	wantSaved := "--set 30 5 60\n" +
		"-A -t 192.0.2.100:80 -s rr -p 300\n" +
		"-a -t 192.0.2.100:80 -r 198.51.100.11:80 -g -w 1\n" +
		"-a -t 192.0.2.100:80 -r 198.51.100.12:80 -g -w 1\n"
	if b.String() != wantSaved {
		t.Fatalf("rules\n%s\nwant\n%s", b.String(), wantSaved)
	}
	if !m.Quorum[vip80].Up || len(m.Changes) != 1 || !m.Changes[0].Initial || !m.Changes[0].Up {
		t.Fatalf("quorum %v changes %v", m.Quorum, m.Changes)
	}
	if !m.Owns(Service{Key: vip80}) || m.Owns(Service{Key: vip443}) {
		t.Fatal("Owns")
	}
}

func rulesString(t Table) string {
	var b strings.Builder
	_ = WriteRules(&b, t, Timeouts{})
	return b.String()
}

func TestFromSpecAttributes(t *testing.T) {
	spec := &Spec{Services: []ServiceSpec{
		{
			Address: netip.MustParseAddrPort("192.0.2.100:53"), Protocol: "udp", Scheduler: "sh",
			SchedulerFlags: []string{"sh-fallback", "sh-port"}, Forwarding: "nat",
			PersistenceTimeout: 1500 * time.Millisecond, PersistenceNetmask: netip.MustParseAddr("255.255.255.0"),
			OnePacket: true, Quorum: 1,
			RealServers: []RealServerSpec{
				{Address: netip.MustParseAddrPort("198.51.100.11:0"), Forwarding: "nat", Weight: 5, UpperThreshold: 100, LowerThreshold: 10},
				{Address: netip.MustParseAddrPort("198.51.100.12:5353"), Forwarding: "tun", Weight: 1},
			},
		},
		{
			FWMark: 7, Protocol: "tcp", Scheduler: "mh", SchedulerFlags: []string{"mh-port"}, Forwarding: "dr", Quorum: 1,
			RealServers: []RealServerSpec{{Address: netip.MustParseAddrPort("[2001:db8:1::11]:443"), Forwarding: "dr", Weight: 1}},
		},
		{FWMark: 8, Protocol: "tcp", Scheduler: "wlc", Forwarding: "dr", Quorum: 1},
	}}
	m, err := FromSpec(spec, allUp, nil)
	if err != nil {
		t.Fatal(err)
	}
	udp := AddrKey(UDP, netip.MustParseAddrPort("192.0.2.100:53"))
	e := m.Table[udp]
	if e == nil {
		t.Fatalf("no %s in %v", udp, m.Table.Keys())
	}
	wantSvc := Service{Key: udp, Scheduler: "sh", Flags: FlagPersistent | FlagSHFallback | FlagSHPort | FlagOnePacket, Timeout: 2 * time.Second, Netmask: 24}
	if e.Service != wantSvc {
		t.Errorf("service %+v, want %+v", e.Service, wantSvc)
	}
	wantDests := map[netip.AddrPort]Destination{
		netip.MustParseAddrPort("198.51.100.11:53"):   {Addr: netip.MustParseAddrPort("198.51.100.11:53"), Forwarding: ForwardNAT, Weight: 5, UpperThreshold: 100, LowerThreshold: 10},
		netip.MustParseAddrPort("198.51.100.12:5353"): {Addr: netip.MustParseAddrPort("198.51.100.12:5353"), Forwarding: ForwardTunnel, Weight: 1},
	}
	if !reflect.DeepEqual(e.Destinations, wantDests) {
		t.Errorf("destinations %v, want %v", e.Destinations, wantDests)
	}
	mark := m.Table[MarkKey(IPv6, 7)]
	if mark == nil || mark.Service.Flags != FlagMHPort || mark.Service.Scheduler != "mh" {
		t.Errorf("fwmark 7 (IPv6 from its real server): %+v", mark)
	}
	if m.Table[MarkKey(IPv4, 8)] == nil {
		t.Errorf("fwmark 8 without real servers should be IPv4: %v", m.Table.Keys())
	}
	if m.Quorum[MarkKey(IPv4, 8)].Up {
		t.Errorf("an empty service has no quorum")
	}
}

// health is a mutable health map for the quorum scenarios.
type health map[netip.AddrPort]bool

func (h health) fn(_ *ServiceSpec, rs *RealServerSpec) bool { return h[rs.Address] }

// quorumSpec: quorum 4, hysteresis 1, a sorry server, three checked real servers.
func quorumSpec() *Spec {
	rs := func(a string, w int) RealServerSpec {
		return RealServerSpec{Address: netip.MustParseAddrPort(a), Forwarding: "dr", Weight: w, Checked: true}
	}
	return &Spec{Services: []ServiceSpec{{
		Address: netip.MustParseAddrPort("192.0.2.100:80"), Protocol: "tcp", Scheduler: "wrr", Forwarding: "dr",
		Quorum: 4, Hysteresis: 1, SorryServer: netip.MustParseAddrPort("198.51.100.250:0"),
		RealServers: []RealServerSpec{rs("198.51.100.11:80", 2), rs("198.51.100.12:80", 2), rs("198.51.100.13:80", 1)},
	}}}
}

var sorry80 = netip.MustParseAddrPort("198.51.100.250:80")

// pool returns the destinations' addresses and weights as a map for comparing.
func pool(m *Model, k Key) map[netip.AddrPort]int {
	p := map[netip.AddrPort]int{}
	for a, d := range m.Table[k].Destinations {
		p[a] = d.Weight
	}
	return p
}

// Quorum with hysteresis, keepalived's rules: quorum 4, hysteresis 1 — lost below
// 3, regained at 5. The sorry server replaces the pool while quorum is lost.
func TestFromSpecQuorumHysteresisSorry(t *testing.T) {
	for _, inhibit := range []bool{false, true} {
		spec := quorumSpec()
		spec.Services[0].InhibitOnFailure = inhibit
		h := health{rs11: true, rs12: true, rs13: true}
		var prev map[Key]Quorum
		steps := []struct {
			name   string
			set    map[netip.AddrPort]bool
			up     bool
			change bool
			pool   map[netip.AddrPort]int // without inhibit
			inhPol map[netip.AddrPort]int // with inhibit_on_failure
		}{
			{"start all up (5 >= 4+1)", nil, true, true,
				map[netip.AddrPort]int{rs11: 2, rs12: 2, rs13: 1}, map[netip.AddrPort]int{rs11: 2, rs12: 2, rs13: 1}},
			{"rs13 down: 4 >= 4-1 keeps quorum", map[netip.AddrPort]bool{rs13: false}, true, false,
				map[netip.AddrPort]int{rs11: 2, rs12: 2}, map[netip.AddrPort]int{rs11: 2, rs12: 2, rs13: 0}},
			{"rs12 down: 2 < 3 loses quorum, sorry server in", map[netip.AddrPort]bool{rs12: false}, false, true,
				map[netip.AddrPort]int{sorry80: 1}, map[netip.AddrPort]int{rs11: 0, rs12: 0, rs13: 0, sorry80: 1}},
			{"rs12 up: 4 < 4+1 stays down", map[netip.AddrPort]bool{rs12: true}, false, false,
				map[netip.AddrPort]int{sorry80: 1}, map[netip.AddrPort]int{rs11: 0, rs12: 0, rs13: 0, sorry80: 1}},
			{"rs13 up: 5 regains quorum, sorry server out", map[netip.AddrPort]bool{rs13: true}, true, true,
				map[netip.AddrPort]int{rs11: 2, rs12: 2, rs13: 1}, map[netip.AddrPort]int{rs11: 2, rs12: 2, rs13: 1}},
			{"all down", map[netip.AddrPort]bool{rs11: false, rs12: false, rs13: false}, false, true,
				map[netip.AddrPort]int{sorry80: 1}, map[netip.AddrPort]int{rs11: 0, rs12: 0, rs13: 0, sorry80: 1}},
		}
		for _, st := range steps {
			for a, v := range st.set {
				h[a] = v
			}
			m, err := FromSpec(spec, h.fn, prev)
			if err != nil {
				t.Fatal(err)
			}
			q := m.Quorum[vip80]
			if q.Up != st.up || q.Sorry == st.up {
				t.Errorf("inhibit=%v %s: quorum %+v, want up=%v", inhibit, st.name, q, st.up)
			}
			if got := len(m.Changes) == 1; got != st.change {
				t.Errorf("inhibit=%v %s: changes %v", inhibit, st.name, m.Changes)
			}
			want := st.pool
			if inhibit {
				want = st.inhPol
			}
			if got := pool(m, vip80); !reflect.DeepEqual(got, want) {
				t.Errorf("inhibit=%v %s: pool %v, want %v", inhibit, st.name, got, want)
			}
			prev = m.Quorum
		}
	}
}

// Without a sorry server, losing quorum changes nothing in the pool (keepalived
// runs quorum_down and keeps serving from what is left).
func TestFromSpecQuorumWithoutSorryKeepsPool(t *testing.T) {
	spec := quorumSpec()
	spec.Services[0].SorryServer = netip.AddrPort{}
	h := health{rs11: true, rs12: false, rs13: false}
	m, err := FromSpec(spec, h.fn, map[Key]Quorum{vip80: {Up: true}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Quorum[vip80].Up || len(m.Changes) != 1 || m.Changes[0].Initial || m.Changes[0].Up {
		t.Fatalf("quorum %+v changes %+v", m.Quorum[vip80], m.Changes)
	}
	if got := pool(m, vip80); !reflect.DeepEqual(got, map[netip.AddrPort]int{rs11: 2}) {
		t.Fatalf("pool %v", got)
	}
}

// A real server without a check is always up; the health function is not asked.
func TestFromSpecNoCheckIsAlwaysUp(t *testing.T) {
	spec := &Spec{Services: []ServiceSpec{{
		Address: netip.MustParseAddrPort("192.0.2.100:80"), Protocol: "tcp", Scheduler: "wlc", Forwarding: "dr", Quorum: 1,
		RealServers: []RealServerSpec{{Address: netip.MustParseAddrPort("198.51.100.11:80"), Forwarding: "dr", Weight: 1}},
	}}}
	asked := false
	m, err := FromSpec(spec, func(*ServiceSpec, *RealServerSpec) bool { asked = true; return false }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if asked || len(m.Table[vip80].Destinations) != 1 {
		t.Fatalf("asked=%v pool %v", asked, pool(m, vip80))
	}
	if m.Table[vip80].Service.Scheduler != "wlc" {
		t.Errorf("default scheduler %q", m.Table[vip80].Service.Scheduler)
	}
}

// FromSpec then Diff against the kernel: a health transition is one op.
func TestFromSpecHealthChangeIsOneOp(t *testing.T) {
	spec := seedSpec()
	h := health{rs11: true, rs12: true}
	m1, _ := FromSpec(spec, h.fn, nil)
	k := NewFake()
	if _, err := Reconcile(t.Context(), k, m1.Table, m1.Owns, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	h[rs12] = false
	m2, _ := FromSpec(spec, h.fn, m1.Quorum)
	ops, err := Reconcile(t.Context(), k, m2.Table, m2.Owns, ApplyOptions{})
	if err != nil || len(ops) != 1 || ops[0].Kind != DeleteDest || ops[0].Dest.Addr != rs12 {
		t.Fatalf("ops %v err %v", ops, err)
	}
}
