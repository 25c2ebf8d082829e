//go:build vmtest

package vm

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hadirector/hadirector/director"
	"github.com/hadirector/hadirector/internal/lab"
	"github.com/hadirector/hadirector/lvs"
)

// dnsName is what the resolvers answer: rs1 with 203.0.113.1, rs2 with 203.0.113.2, so a
// client tells which one answered.
const dnsName = "www.example.org."

var dnsService = netip.AddrPortFrom(vip, 53)

// dnsConf is a standalone director with the UDP DNS service: both dnsmasq real servers in
// DR mode behind a DNS_CHECK-like check of type A for dnsName.
func dnsConf(n *node) string {
	return fmt.Sprintf(`# %s: written by e2e/vm TestUDPDNS
[global]
router_id = %q
status_socket = %q
log_format = "json"

[[virtual_server]]
address = %q
protocol = "udp"
scheduler = "rr"
forwarding = "dr"
  [virtual_server.check]
  type = "dns"
  dns_type = "A"
  dns_name = %q
  interval = %q
  timeout = %q
  rise = 1
  fall = %d

  [[virtual_server.real_server]]
  address = %q

  [[virtual_server.real_server]]
  address = %q
`, n.h.Name, n.h.Name, n.sock, dnsService, dnsName, checkInterval, checkTimeout, checkFall, rsAddr(0, 53), rsAddr(1, 53))
}

// resolver runs dnsmasq on real server i, answering dnsName with 203.0.113.<i+1> on every
// address of the host (the VIP on lo included: DR delivers the query to it).
func resolver(t *testing.T, h *lab.Host, i int) *lab.Proc {
	t.Helper()
	return h.Start(t, "dnsmasq", "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
		"--port=53", fmt.Sprintf("--address=/%s/203.0.113.%d", strings.TrimSuffix(dnsName, "."), i+1),
		"--pid-file=", "--user=root", "--group=root", "--log-facility=-")
}

// query asks dnsName through the VIP from the client and returns the answer's address.
func query(c *client, timeout time.Duration) (string, error) {
	m := new(dns.Msg)
	m.SetQuestion(dnsName, dns.TypeA)
	var in *dns.Msg
	err := c.h.Do(func() (err error) {
		cl := &dns.Client{Net: "udp4", Timeout: timeout}
		in, _, err = cl.Exchange(m, dnsService.String())
		return err
	})
	if err != nil {
		return "", err
	}
	for _, rr := range in.Answer {
		if a, ok := rr.(*dns.A); ok {
			return a.A.String(), nil
		}
	}
	return "", fmt.Errorf("no A record in %v", in)
}

// TestUDPDNS: a UDP DNS service with two dnsmasq real servers behind the VIP in DR mode,
// checked by DNS queries. Both are in the kernel table and answer in turn; one resolver
// stopped is taken out within fall × interval + timeout (its check's failure logged before
// the IPVS delete), after which every query through the VIP is answered by the other; started
// again, it is put back and answers again.
func TestUDPDNS(t *testing.T) {
	p := newLAN(t)
	lb := newNode(p, p.l.Host("lb", "192.0.2.1/24"), 150)
	p.addServersAndClient()
	lb.h.MustRun(t, "ip", "addr", "add", vip.String()+"/24", "dev", "eth0")
	if err := writeFile(lb.cfg, dnsConf(lb)); err != nil {
		t.Fatal(err)
	}
	var res []*lab.Proc
	for i, rs := range p.rs {
		res = append(res, resolver(t, rs.h, i))
	}
	lb.proc = lb.h.Start(t, "hadirector-lb", p.bin, "run", "-c", lb.cfg, "-state-dir", lb.dir)

	svc := lvs.AddrKey(lvs.UDP, dnsService).String()
	rs1, rs2 := rsAddr(0, 53).String(), rsAddr(1, 53).String()
	both := func() bool {
		v := lb.view()[svc]
		return len(v) == 2 && v[rs1] == 1 && v[rs2] == 1
	}
	only := func(rs string) func() bool {
		return func() bool {
			v := lb.view()[svc]
			_, in := v[rs]
			return len(v) == 1 && in
		}
	}
	eventually(t, 10*time.Second, "the DNS service with both resolvers in the kernel table", both)
	answers := func(n int) map[string]int {
		t.Helper()
		seen := map[string]int{}
		for range n {
			a, err := query(p.client, 2*time.Second)
			if err != nil {
				t.Fatalf("query %s through %s: %v", dnsName, dnsService, err)
			}
			seen[a]++
		}
		return seen
	}
	// Each query comes from a new source port: a new IPVS connection, so round robin.
	if seen := answers(4); seen["203.0.113.1"] == 0 || seen["203.0.113.2"] == 0 {
		t.Errorf("round robin through the VIP: %v", seen)
	}

	down := time.Duration(checkFall)*checkInterval + checkTimeout + slack
	up := checkInterval + slack
	mark := lb.mark()
	if err := res[0].Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if _, err := res[0].Wait(5 * time.Second); err != nil {
		t.Fatalf("dnsmasq on rs1 did not stop: %v", err)
	}
	d := eventually(t, down, "rs1 (resolver stopped) out of the kernel table", only(rs2))
	t.Logf("rs1 removed after %v (limit %v)", d.Round(time.Millisecond), down)
	// The check's verdict came first, then the one IPVS op that removed it.
	downAt, opAt := -1, -1
	for _, l := range lb.logs(mark) {
		switch {
		case l.Msg == "backend down" && l.Backend == rs1 && downAt < 0:
			downAt = l.index
		case l.Msg == "ipvs" && strings.HasPrefix(l.Op, "delete destination udp") && strings.Contains(l.Op, rs1) && opAt < 0:
			opAt = l.index
		}
	}
	if downAt < 0 || opAt < 0 || downAt > opAt {
		t.Errorf("log order: backend down at line %d, IPVS delete at %d; want the check's transition first", downAt, opAt)
	}
	if seen := answers(4); seen["203.0.113.2"] != 4 {
		t.Errorf("with rs1 out, answers %v; want all from rs2", seen)
	}

	res[0] = resolver(t, p.rs[0].h, 0)
	d = eventually(t, up+2*time.Second, "rs1 (resolver started) back in the kernel table", both)
	t.Logf("rs1 added back after %v", d.Round(time.Millisecond))
	if seen := answers(4); seen["203.0.113.1"] == 0 || seen["203.0.113.2"] == 0 {
		t.Errorf("round robin after recovery: %v", seen)
	}
	st := lb.status()
	if st.LVS == nil || len(st.LVS.Services) != 1 {
		t.Fatalf("status %+v", st.LVS)
	}
	for _, rs := range st.LVS.Services[0].RealServers {
		if len(rs.CheckList) != 1 || rs.CheckList[0].Type != "dns" || !rs.CheckList[0].Up {
			t.Errorf("status of %s: checks %+v", rs.Address, rs.CheckList)
		}
		if rs.Address.String() == rs1 && !slices.ContainsFunc(rs.CheckList, func(c director.CheckStatus) bool { return c.Failures > 0 }) {
			t.Errorf("status of rs1 counts no failed check: %+v", rs.CheckList)
		}
	}
}
