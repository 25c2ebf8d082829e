package director

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/hadirector/hadirector/vrrp"
)

// twoLegs is an LVS-NAT director: the outside VIP on eth0, the real servers' gateway on
// eth1 (virtual_address dev), a second outside address, and an IPv6 VIP the IPv4
// instance carries without listing it in adverts.
const twoLegs = `
[global]
router_id = "t"
status_socket = ""

[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
priority = 100
advert_int = "1s"
virtual_ipaddress = ["192.0.2.100/24"]
virtual_address = [
  { address = "198.51.100.254/24", dev = "eth1", label = "eth1:gw", scope = "link", broadcast = "198.51.100.255" },
  { address = "192.0.2.101/24", label = "eth0:2" },
]
virtual_ipaddress_excluded = ["2001:db8::100/64"]
virtual_routes = [
  { to = "203.0.113.0/24", via = "198.51.100.1", dev = "eth1", table = 100 },
  { to = "192.0.2.128/25", type = "blackhole" },
]
virtual_rules = [{ from = "198.51.100.0/24", table = 100, priority = 100 }]

[[virtual_server]]
address = "192.0.2.100:80"
  [[virtual_server.real_server]]
  address = "198.51.100.11:80"
`

// TestAdvertListsOwnInterfaceOnly: adverts list the instance's addresses on its own
// interface and of its family, as keepalived does; the others still follow the master.
func TestAdvertListsOwnInterfaceOnly(t *testing.T) {
	c := parse(t, twoLegs)
	sp := newSpec(&c.Instances[0])
	want := []netip.Addr{netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("192.0.2.101")}
	if !slices.Equal(sp.vipAddrs, want) {
		t.Errorf("advert addresses %v, want %v", sp.vipAddrs, want)
	}
	var got []string
	for _, s := range sp.sets {
		got = append(got, fmt.Sprintf("%s %q %v", s.iface, s.opts.Label, s.vips))
	}
	wantSets := []string{`eth0 "" [192.0.2.100/24]`, `eth1 "eth1:gw" [198.51.100.254/24]`, `eth0 "eth0:2" [192.0.2.101/24]`, `eth0 "" [2001:db8::100/64]`}
	if !slices.Equal(got, wantSets) {
		t.Errorf("address sets %q, want %q", got, wantSets)
	}
}

// TestAddressesFollowMaster: every address set and route is cleaned at start; on entry
// IPVS, the addresses, the routes, the announcements (each on its own interface), the
// hook; on exit the reverse: routes, addresses (last set first), IPVS, the hook.
func TestAddressesFollowMaster(t *testing.T) {
	h := newHarness(t, twoLegs)
	h.start()
	inOrder(t, h.log.since(0, false), "vip cleanup eth0 [192.0.2.100/24]", "vip cleanup eth1 [198.51.100.254/24]",
		"vip cleanup eth0 [192.0.2.101/24]", "vip cleanup eth0 [2001:db8::100/64]",
		"rule remove [priority 100 from 198.51.100.0/24 table 100]",
		"route remove [203.0.113.0/24 via 198.51.100.1 dev eth1 table 100 blackhole 192.0.2.128/25]", "announcer eth0", "announcer eth1",
		"notify INSTANCE VI_1 BACKUP")
	m := h.log.mark()
	h.clock.Advance(masterDown)
	if st := h.state("VI_1"); st != vrrp.Master {
		t.Fatalf("%v after the master-down interval, want MASTER", st)
	}
	inOrder(t, h.log.since(m, false), "send eth0", "ipvs add service tcp 192.0.2.100:80", "vip add eth0 [192.0.2.100/24]", `vip add eth1 [198.51.100.254/24] label="eth1:gw"`, "vip options eth1 [198.51.100.254/24] scope=253 brd=198.51.100.255",
		`vip add eth0 [192.0.2.101/24] label="eth0:2"`, "vip add eth0 [2001:db8::100/64]",
		"route add [203.0.113.0/24 via 198.51.100.1 dev eth1 table 100 blackhole 192.0.2.128/25]", "rule add [priority 100 from 198.51.100.0/24 table 100]",
		"garp eth0 [192.0.2.100 192.0.2.101 2001:db8::100]", "garp eth1 [198.51.100.254]", "notify INSTANCE VI_1 MASTER")
	if v := h.os.vips("eth1"); !slices.Equal(v, []netip.Prefix{netip.MustParsePrefix("198.51.100.254/24")}) {
		t.Errorf("VIPs on eth1 %v", v)
	}
	m = h.log.mark()
	h.os.conn(t, "eth0", false).deliver(t, vrrp.Advert{VRID: 51, Priority: 200, Src: peer, Addrs: []netip.Addr{vip1.Addr()}})
	quiesce(t)
	inOrder(t, h.log.since(m, false), "rule remove [priority 100 from 198.51.100.0/24 table 100]", "route remove [203.0.113.0/24 via 198.51.100.1 dev eth1 table 100 blackhole 192.0.2.128/25]", "vip remove eth0 [2001:db8::100/64]", "vip remove eth0 [192.0.2.101/24]",
		"vip remove eth1 [198.51.100.254/24]", "vip remove eth0 [192.0.2.100/24]", "ipvs delete service tcp 192.0.2.100:80", "notify INSTANCE VI_1 BACKUP")
	if len(h.os.routes) != 0 {
		t.Errorf("routes left: %v", h.os.routes)
	}
	for _, ifname := range []string{"eth0", "eth1"} {
		if v := h.os.vips(ifname); len(v) != 0 {
			t.Errorf("VIPs left on %s: %v", ifname, v)
		}
	}
}

// TestVIPPutBack: an address of the master's deleted by someone else is put back and
// announced, and counted; on a backup the same deletion is left alone.
func TestVIPPutBack(t *testing.T) {
	h := newHarness(t, twoLegs)
	h.becomeMaster("VI_1")
	gw := netip.MustParsePrefix("198.51.100.254/24")
	m := h.log.mark()
	h.os.delAddr("eth1", gw)
	quiesce(t)
	inOrder(t, h.log.since(m, false), `vip add eth1 [198.51.100.254/24] label="eth1:gw"`, "garp eth1 [198.51.100.254]")
	if v := h.os.vips("eth1"); !slices.Equal(v, []netip.Prefix{gw}) {
		t.Errorf("VIPs on eth1 %v, want the gateway back", v)
	}
	if n := h.d.byName["VI_1"].stats.restored.Load(); n != 1 {
		t.Errorf("restored counter %d, want 1", n)
	}

	h.os.conn(t, "eth0", false).deliver(t, vrrp.Advert{VRID: 51, Priority: 200, Src: peer, Addrs: []netip.Addr{vip1.Addr()}})
	quiesce(t)
	m = h.log.mark()
	h.os.delAddr("eth0", vip1)
	quiesce(t)
	if got := matching(h.log.since(m, false), "vip add"); len(got) != 0 {
		t.Errorf("a backup put an address back: %q", got)
	}
}
