//go:build linux

package main

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/hadirector/hadirector/healthcheck"
)

func TestHist(t *testing.T) {
	var h hist
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := h.quantile(tc.q)
		if got < tc.want || float64(got) > float64(tc.want)*1.07 {
			t.Errorf("quantile(%v) = %v, want %v within +7%%", tc.q, got, tc.want)
		}
	}
	if h.max != time.Second {
		t.Errorf("max %v", h.max)
	}
	for v := uint64(0); v < 1<<20; v += 7 {
		if b := bucket(v); upper(b) < v || (b > 0 && upper(b-1) >= v) {
			t.Fatalf("value %d in bucket %d with bounds (%d, %d]", v, b, upper(b-1), upper(b))
		}
	}
}

func TestKeepalivedConf(t *testing.T) {
	o := options{interval: time.Second, timeout: time.Second, perAddr: 100, basePort: 20000}
	c := keepalivedConf(o, 150)
	for _, want := range []string{"delay_loop 1", "lb_kind NAT", "real_server 127.1.0.1 20000 {", "real_server 127.1.0.2 20049 {", "TCP_CHECK {", "connect_timeout 1"} {
		if !strings.Contains(c, want) {
			t.Errorf("keepalived.conf lacks %q", want)
		}
	}
	if backendAddr(149, 100, 20000).String() != "127.1.0.2:20049" || backendAddr(250*100, 100, 20000).String() != "127.1.1.1:20000" {
		t.Error("backendAddr")
	}
}

func TestKeepalivedConfUDPDNS(t *testing.T) {
	for kind, wants := range map[string][]string{
		"udp": {"protocol UDP", "UDP_CHECK {\n      require_reply\n      connect_timeout 1\n      retry 0\n    }"},
		"dns": {"protocol UDP", "DNS_CHECK {\n      type A\n      name bench.test\n      connect_timeout 1\n      retry 0\n    }"},
	} {
		o := options{interval: time.Second, timeout: time.Second, perAddr: 100, basePort: 20000, kind: kind}
		c := keepalivedConf(o, 2)
		for _, want := range wants {
			if !strings.Contains(c, want) {
				t.Errorf("%s: keepalived.conf lacks %q:\n%s", kind, want, c)
			}
		}
	}
}

// TestBackendsAnswer: the listener's UDP backends answer what the checkers send: the
// echo passes healthcheck.UDP with a required reply, the DNS answer healthcheck.DNS of
// type A; a datagram that is no query gets no answer (the check times out).
func TestBackendsAnswer(t *testing.T) {
	for _, tc := range []struct {
		serve func(int, []byte) bool
		check func(netip.AddrPort) healthcheck.Checker
		pass  bool
	}{
		{echo, func(a netip.AddrPort) healthcheck.Checker {
			return checker(options{kind: "udp", timeout: time.Second}, a)
		}, true},
		{answerDNS, func(a netip.AddrPort) healthcheck.Checker {
			return checker(options{kind: "dns", timeout: time.Second}, a)
		}, true},
		{answerDNS, func(a netip.AddrPort) healthcheck.Checker {
			return &healthcheck.UDP{Addr: a, RequireReply: true, Timeout: 200 * time.Millisecond}
		}, false},
	} {
		addr := netip.MustParseAddrPort("127.0.0.1:0")
		fd, err := listenUDP(addr)
		if err != nil {
			t.Fatal(err)
		}
		sa, _ := unix.Getsockname(fd)
		addr = netip.AddrPortFrom(addr.Addr(), uint16(sa.(*unix.SockaddrInet4).Port))
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 1500)
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
				if tc.serve(fd, buf) {
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		err = tc.check(addr).Check(context.Background())
		<-done
		unix.Close(fd)
		if (err == nil) != tc.pass {
			t.Errorf("%T against %p: %v, want pass %v", tc.check(addr), tc.serve, err, tc.pass)
		}
	}
}

// FuzzDNSAnswer: whatever arrives, dnsAnswer stays within the buffer, and what it answers
// is a DNS response with one A record for the question asked.
func FuzzDNSAnswer(f *testing.F) {
	for _, name := range []string{"bench.test.", "a.b.c.example.org.", "."} {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		b, _ := m.Pack()
		f.Add(b)
		m.SetEdns0(1232, false)
		b, _ = m.Pack()
		f.Add(b)
	}
	f.Add([]byte("keepalived check - keepalived c"))
	f.Fuzz(func(t *testing.T, in []byte) {
		buf := make([]byte, 1500)
		k := copy(buf, in)
		n := dnsAnswer(buf, k)
		if n == 0 {
			return
		}
		var q, a dns.Msg
		if q.Unpack(in) != nil {
			return // answered something miekg/dns does not read as a message: harmless here
		}
		if err := a.Unpack(buf[:n]); err != nil {
			t.Fatalf("answer to %x does not parse: %v", in, err)
		}
		if !a.Response || len(a.Answer) != 1 || len(a.Question) != 1 || a.Question[0] != q.Question[0] {
			t.Fatalf("answer %v to %v", &a, &q)
		}
	})
}
