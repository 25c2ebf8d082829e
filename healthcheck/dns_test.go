package healthcheck

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dnsmasq answers for the domain test on a loopback port: up.test has A 192.0.2.10,
// AAAA 2001:db8::10, an MX and a TXT record; other names in test are NXDOMAIN; other
// domains are REFUSED (no upstream).
func dnsmasq(t *testing.T, addr netip.AddrPort) func() {
	t.Helper()
	cmd := startDaemon(t, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
		"--bind-interfaces", "--listen-address="+addr.Addr().String(), fmt.Sprintf("--port=%d", addr.Port()),
		"--local=/test/", "--host-record=up.test,192.0.2.10,2001:db8::10", "--mx-host=up.test,mail.up.test,10",
		"--txt-record=up.test,hello", "--pid-file=", "--user=root", "--log-facility="+filepath.Join(t.TempDir(), "log"))
	waitUDPListening(t, addr)
	return func() { cmd.Process.Kill(); cmd.Wait() }
}

func TestDNSDnsmasq(t *testing.T) {
	addr := freeUDPPort(t)
	dnsmasq(t, addr)
	up4, up6 := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")
	for name, run := range udpRunners(t) {
		t.Run(name, func(t *testing.T) {
			check := func(typ uint16, qname string, expect netip.Addr) error {
				return run(&DNS{Addr: addr, Type: typ, Name: qname, ExpectAddr: expect, Timeout: 5 * time.Second})
			}
			for _, ok := range []struct {
				typ    uint16
				expect netip.Addr
			}{{dns.TypeA, netip.Addr{}}, {dns.TypeA, up4}, {dns.TypeAAAA, up6}, {dns.TypeMX, netip.Addr{}}, {dns.TypeTXT, netip.Addr{}}} {
				if err := check(ok.typ, "up.test", ok.expect); err != nil {
					t.Errorf("%s up.test (expect %v): %v", dns.TypeToString[ok.typ], ok.expect, err)
				}
			}
			wantReason(t, check(dns.TypeA, "up.test", netip.MustParseAddr("192.0.2.11")), ReasonBody, "dns "+addr.String(), "up.test. A: 192.0.2.11 not in the 1 answer records")
			wantReason(t, check(dns.TypeA, "nx.test", netip.Addr{}), ReasonStatus, "nx.test. A: rcode NXDOMAIN")
			// NOERROR without records (NODATA): keepalived passes it, we do not.
			wantReason(t, check(dns.TypeSOA, "up.test", netip.Addr{}), ReasonBody, "up.test. SOA: empty answer section")
			// keepalived's default query, the root's SOA; dnsmasq without upstream refuses.
			wantReason(t, check(0, "", netip.Addr{}), ReasonStatus, ". SOA: rcode REFUSED")
		})
	}
}

func TestDNSStopped(t *testing.T) {
	addr := freeUDPPort(t)
	stop := dnsmasq(t, addr)
	stop()
	for name, run := range udpRunners(t) {
		t.Run(name, func(t *testing.T) {
			wantReason(t, run(&DNS{Addr: addr, Type: dns.TypeA, Name: "up.test", Timeout: 5 * time.Second}), ReasonRefused, "connection refused")
		})
	}
}

// dnsServer answers queries on loopback with handle's datagrams.
func dnsServer(t *testing.T, handle func(q *dns.Msg) [][]byte) netip.AddrPort {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			var q dns.Msg
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			go func() {
				for _, b := range handle(&q) {
					c.WriteToUDPAddrPort(b, from)
				}
			}()
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func answerA(q *dns.Msg, id uint16, response bool) []byte {
	r := new(dns.Msg)
	r.SetReply(q)
	r.Id, r.Response = id, response
	r.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 10)}}
	b, err := r.Pack()
	if err != nil {
		panic(err)
	}
	return b
}

// TestDNSStrays: datagrams that are not the answer (too short, another ID, a query) are
// ignored, and the answer after them counts.
func TestDNSStrays(t *testing.T) {
	addr := dnsServer(t, func(q *dns.Msg) [][]byte {
		return [][]byte{{1, 2, 3}, answerA(q, q.Id+1, true), answerA(q, q.Id, false), answerA(q, q.Id, true)}
	})
	for name, run := range udpRunners(t) {
		t.Run(name, func(t *testing.T) {
			if err := run(&DNS{Addr: addr, Type: dns.TypeA, Name: "up.test", ExpectAddr: netip.MustParseAddr("192.0.2.10"), Timeout: 5 * time.Second}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDNSLate: an answer that comes after the timeout is a timeout. The server answers only
// once the check has returned, so the verdict cannot depend on how fast anything ran.
func TestDNSLate(t *testing.T) {
	release := make(chan struct{})
	addr := dnsServer(t, func(q *dns.Msg) [][]byte {
		<-release
		return [][]byte{answerA(q, q.Id, true)}
	})
	defer close(release)
	for name, run := range udpRunners(t) {
		t.Run(name, func(t *testing.T) {
			wantReason(t, run(&DNS{Addr: addr, Type: dns.TypeA, Name: "up.test", Timeout: 100 * time.Millisecond}), ReasonTimeout, "up.test. A: no answer in time")
		})
	}
}

// TestMonitorDNSFakeClock: a DNS target under the Monitor's fake clock, on the engine: the
// resolver stops (refused at once), is marked down after fall checks, restarts on the same
// port and is up again after rise.
func TestMonitorDNSFakeClock(t *testing.T) {
	addr := freeUDPPort(t)
	stop := dnsmasq(t, addr)
	h := newHarness(t, Options{})
	a := ID{Service: "192.0.2.100:53/udp", Backend: addr}
	const iv = 10 * time.Second
	if err := h.m.Set([]Target{{ID: a, Checker: &DNS{Addr: addr, Type: dns.TypeA, Name: "up.test"}, Interval: iv, Timeout: time.Hour, Rise: 1, Fall: 2}}); err != nil {
		t.Fatal(err)
	}
	h.run()
	slot := h.start.Add(Phase(a, iv))
	at := func(i int) {
		t.Helper()
		n := len(h.resultsFor(a))
		h.clk.Set(slot.Add(time.Duration(i) * iv))
		waitFor(t, 10*time.Second, func() bool { return len(h.resultsFor(a)) == n+1 })
		h.quiet()
	}
	at(0)
	stop()
	at(1)
	at(2)
	dnsmasq(t, addr)
	at(3)
	var got []Reason
	for _, r := range h.resultsFor(a) {
		got = append(got, ReasonOf(r.Err))
	}
	if fmt.Sprint(got) != fmt.Sprint([]Reason{"", ReasonRefused, ReasonRefused, ""}) {
		t.Errorf("results %v, want success, refused, refused, success", got)
	}
	tr := h.transitions()
	if len(tr) != 2 || tr[0].Up || !tr[0].At.Equal(slot.Add(2*iv)) || !tr[1].Up || !tr[1].At.Equal(slot.Add(3*iv)) {
		t.Errorf("transitions %+v, want down at %v and up at %v", tr, slot.Add(2*iv), slot.Add(3*iv))
	}
}

// fuzzDNS is the check the fuzz target judges replies for; fuzzID its query's ID.
var fuzzDNS = &DNS{Addr: netip.MustParseAddrPort("192.0.2.53:53"), Type: dns.TypeA, Name: "up.test", ExpectAddr: netip.MustParseAddr("192.0.2.10")}

const fuzzID = 0x1234

// FuzzDNSReply: the decoder of a resolver's datagrams never panics, and passes a datagram
// only when it is an answer to the query that holds the expected address.
// testdata/fuzz/FuzzDNSReply holds answers of dnsmasq 2.90 (go test -run TestDNSCorpus
// -update-corpus rewrites them).
func FuzzDNSReply(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		done, err := newDNSExchange(fuzzDNS, fuzzID).reply(b)
		if !done {
			if err != nil {
				t.Fatalf("not done but failed: %v", err)
			}
			return
		}
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("failure without a reason: %v", err)
			}
			return
		}
		var m dns.Msg
		if m.Unpack(b) != nil || m.Id != fuzzID || !m.Response || m.Rcode != dns.RcodeSuccess || len(m.Answer) == 0 {
			t.Fatalf("passed a datagram that is not a good answer: %v", m.String())
		}
	})
}

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzDNSReply from dnsmasq's answers")

// TestDNSCorpus: the fuzz corpus holds dnsmasq's answers to queries with fuzzID, and the
// decoder's verdicts on them are those of the checks above.
func TestDNSCorpus(t *testing.T) {
	seeds := []struct {
		typ  uint16
		name string
		want Reason
	}{
		{dns.TypeA, "up.test", ""},
		{dns.TypeAAAA, "up.test", ReasonBody},
		{dns.TypeMX, "up.test", ReasonBody},
		{dns.TypeTXT, "up.test", ReasonBody},
		{dns.TypeA, "nx.test", ReasonStatus},
		{dns.TypeSOA, "up.test", ReasonBody},
		{dns.TypeSOA, "", ReasonStatus},
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDNSReply")
	file := func(typ uint16, name string) string {
		if name == "" {
			name = "root"
		}
		return filepath.Join(dir, "dnsmasq-"+dns.TypeToString[typ]+"-"+name)
	}
	if *updateCorpus {
		addr := freeUDPPort(t)
		dnsmasq(t, addr)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, s := range seeds {
			q := newDNSExchange(&DNS{Type: s.typ, Name: s.name}, fuzzID)
			c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
			if err != nil {
				t.Fatal(err)
			}
			c.Write(q.msg)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 2048)
			n, err := c.Read(buf)
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file(s.typ, s.name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", buf[:n]), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, s := range seeds {
		text, err := os.ReadFile(file(s.typ, s.name))
		if err != nil {
			t.Fatal(err)
		}
		body, ok := strings.CutPrefix(string(text), "go test fuzz v1\n[]byte(")
		body, ok2 := strings.CutSuffix(body, ")\n")
		b, err := strconv.Unquote(body)
		if !ok || !ok2 || err != nil {
			t.Fatalf("%s: not a corpus file of one []byte", file(s.typ, s.name))
		}
		done, verr := newDNSExchange(fuzzDNS, fuzzID).reply([]byte(b))
		if !done || ReasonOf(verr) != s.want {
			t.Errorf("%s: done %v, %v; want reason %q", file(s.typ, s.name), done, verr, s.want)
		}
	}
}
