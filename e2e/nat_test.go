package e2e

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// natExtra makes each director of a pair an LVS-NAT router: the outside VIP on eth0, the
// real servers' gateway 198.51.100.254 on eth1 (virtual_address dev), and a route towards
// a client network only the master holds.
const natExtra = `virtual_address = [{ address = "198.51.100.254/24", dev = "eth1", label = "eth1:gw" }]
virtual_routes = [{ to = "203.0.113.0/24", via = "192.0.2.50", dev = "eth0" }]`

var (
	gwAddr  = netip.MustParseAddr("198.51.100.254")
	cliAddr = netip.MustParseAddr("192.0.2.50")
)

func (n *node) hasRoute() bool {
	out, err := n.h.Run("ip", "route", "show", "203.0.113.0/24")
	return err == nil && strings.Contains(out, "via 192.0.2.50 dev eth0")
}

func (n *node) holdsAll() bool { return n.hasVIP() && n.h.HasAddr("eth1", gwAddr) && n.hasRoute() }

func (n *node) holdsNone() bool {
	return !n.hasVIP() && !n.h.HasAddr("eth1", gwAddr) && !n.hasRoute()
}

// TestNATPairKillMaster: kill -9 the master of a two-legged NAT pair → the backup holds
// the outside VIP, the inside gateway and the route; the real server (inside only, default
// route through the gateway VIP) reaches the client through it; the old master, restarted,
// holds none of them.
func TestNATPairKillMaster(t *testing.T) {
	p := newPair(t, 150, 100, natExtra, natExtra)
	p.a.h.AddNIC("eth1", "inside", "198.51.100.1/24")
	p.b.h.AddNIC("eth1", "inside", "198.51.100.2/24")
	rs := p.l.Host("rs")
	rs.AddNIC("eth1", "inside", "198.51.100.10/24")
	rs.MustRun(t, "ip", "route", "add", "default", "via", gwAddr.String())
	p.client.MustRun(t, "ip", "route", "add", "198.51.100.0/24", "via", vipAddr.String())
	for _, n := range []*node{p.a, p.b} {
		if err := n.h.SetSysctl("net.ipv4.ip_forward", "1"); err != nil {
			t.Fatal(err)
		}
	}
	p.elect()
	eventually(t, 5*time.Second, "a holds the VIP, the gateway and the route", p.a.holdsAll)
	if !p.b.holdsNone() {
		t.Fatal("the backup holds addresses or the route")
	}
	if err := rs.Ping(cliAddr, 5*time.Second); err != nil {
		t.Fatalf("real server → client through a: %v", err)
	}

	p.a.proc.Kill()
	// Presence, not timing: the timing of a takeover is TestKillMaster's.
	eventually(t, 10*time.Second, "b holds the VIP, the gateway and the route", p.b.holdsAll)
	if err := rs.Ping(cliAddr, 10*time.Second); err != nil {
		t.Fatalf("real server → client through b: %v", err)
	}

	// a restarts with a lower priority so that b stays master; its crash left all three.
	p.a.writeConfig(50, natExtra)
	p.a.start()
	eventually(t, 10*time.Second, "a, restarted, holds nothing", func() bool {
		return p.a.state() == "BACKUP" && p.a.holdsNone()
	})
	if !p.b.holdsAll() {
		t.Error("b lost an address or the route when a restarted")
	}
}

// TestVIPPutBackAfterDel: `ip addr del` of the master's VIP behind its back → the master
// puts it back and says so in its log; the backup stays without it.
func TestVIPPutBackAfterDel(t *testing.T) {
	p := newPair(t, 150, 100, "", "")
	p.elect()
	p.a.h.MustRun(t, "ip", "addr", "del", "192.0.2.100/24", "dev", "eth0")
	eventually(t, 10*time.Second, "a holds the VIP again", p.a.hasVIP)
	if _, err := p.a.proc.WaitForLine("VIP deleted behind our back; put back", 10*time.Second); err != nil {
		t.Errorf("no log line for the put-back VIP: %v", err)
	}
	if p.b.hasVIP() {
		t.Error("the backup holds the VIP")
	}
}
