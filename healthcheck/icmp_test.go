//go:build linux

package healthcheck

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hadirector/hadirector/internal/lab"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// TestICMPNamespaces pings, from a checker host, a host that answers and one that ignores
// echo requests (icmp_echo_ignore_all), over IPv4 and IPv6, with raw sockets and with ping
// sockets (ping_group_range decides). Many checks in flight at once share one socket per
// family.
func TestICMPNamespaces(t *testing.T) {
	l := lab.New(t)
	checker := l.Host("checker", "192.0.2.1/24", "2001:db8::1/64")
	l.Host("up", "192.0.2.2/24", "2001:db8::2/64")
	mute := l.Host("mute", "192.0.2.3/24", "2001:db8::3/64")
	for _, kv := range [][2]string{{"net.ipv4.icmp_echo_ignore_all", "1"}, {"net.ipv6.icmp.echo_ignore_all", "1"}} {
		if err := mute.SetSysctl(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	up := []netip.Addr{netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::2")}
	silent := []netip.Addr{netip.MustParseAddr("192.0.2.3"), netip.MustParseAddr("2001:db8::3")}

	for _, mode := range []struct {
		name, groups string
		raw          bool
	}{{"raw", "1 0", true}, {"ping", "0 2147483647", false}} {
		t.Run(mode.name, func(t *testing.T) {
			if err := checker.SetSysctl("net.ipv4.ping_group_range", mode.groups); err != nil {
				t.Fatal(err)
			}
			var opens atomic.Int32
			p := &Pinger{enter: func(fn func() error) error { opens.Add(1); return checker.Do(fn) }}

			// Checks of the silent host hold both sockets open until cancelled.
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			silentErrs := make(chan error, 2*len(silent))
			for _, a := range silent {
				for range 2 {
					wg.Add(1)
					go func() { defer wg.Done(); silentErrs <- (&ICMP{Addr: a, Pinger: p}).Check(ctx) }()
				}
			}
			waitFor(t, 10*time.Second, func() bool {
				p.mu.Lock()
				defer p.mu.Unlock()
				return p.socks[0] != nil && p.socks[1] != nil && p.socks[0].users == 2 && p.socks[1].users == 2
			})
			for i, s := range p.socks {
				if s.raw != mode.raw {
					t.Errorf("family %d: raw socket %v, want %v", i, s.raw, mode.raw)
				}
			}
			upErrs := make(chan error, 10*len(up))
			var upWG sync.WaitGroup
			for _, a := range up {
				for range 10 {
					upWG.Add(1)
					go func() {
						defer upWG.Done()
						upErrs <- (&ICMP{Addr: a, Pinger: p, Timeout: 10 * time.Second}).Check(context.Background())
					}()
				}
			}
			upWG.Wait()
			close(upErrs)
			for err := range upErrs {
				if err != nil {
					t.Errorf("ping of a host that answers: %v", err)
				}
			}
			cancel()
			wg.Wait()
			close(silentErrs)
			for err := range silentErrs {
				if err == nil {
					t.Error("ping of a host that ignores echo requests passed")
				}
			}
			if n := opens.Load(); n != 2 {
				t.Errorf("%d sockets opened for 24 checks in flight together, want one per family", n)
			}
			for _, a := range silent {
				wantReason(t, (&ICMP{Addr: a, Pinger: p, Timeout: 200 * time.Millisecond}).Check(context.Background()), ReasonTimeout, "icmp "+a.String(), "no echo reply in time")
			}
			p.mu.Lock()
			idle := p.socks[0] == nil && p.socks[1] == nil
			p.mu.Unlock()
			if !idle {
				t.Error("sockets still open with no check in flight")
			}
		})
	}
}

// TestPingerDeliver: a reply reaches the request it answers only if it comes from the
// target with the socket's identifier and the request's sequence number.
func TestPingerDeliver(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		p := &Pinger{}
		s := &pingSocket{raw: true, v6: v6, id: 7, wait: map[pingKey]chan struct{}{}}
		target, other := netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")
		reply, request := icmp.Type(ipv4.ICMPTypeEchoReply), icmp.Type(ipv4.ICMPTypeEcho)
		if v6 {
			target, other = netip.MustParseAddr("2001:db8::2"), netip.MustParseAddr("2001:db8::3")
			reply, request = ipv6.ICMPTypeEchoReply, ipv6.ICMPTypeEchoRequest
		}
		got := make(chan struct{}, 1)
		s.wait[pingKey{target, 5}] = got
		msg := func(typ icmp.Type, id, seq int) []byte {
			b, err := (&icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: pingPayload}}).Marshal(nil)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		for _, c := range []struct {
			name string
			from netip.Addr
			b    []byte
		}{
			{"another identifier", target, msg(reply, 8, 5)},
			{"another sequence number", target, msg(reply, 7, 6)},
			{"another source", other, msg(reply, 7, 5)},
			{"a request", target, msg(request, 7, 5)},
			{"garbage", target, []byte{0, 1}},
		} {
			p.deliver(s, c.from, c.b)
			select {
			case <-got:
				t.Errorf("v6=%v: %s was delivered", v6, c.name)
			default:
			}
		}
		p.deliver(s, target, msg(reply, 7, 5))
		select {
		case <-got:
		default:
			t.Errorf("v6=%v: the reply was not delivered", v6)
		}
	}
}

// FuzzPingerDeliver: a datagram on the ICMP socket, untrusted bytes, wakes the request
// waiting for it only when it is an echo reply with the socket's identifier and the
// request's sequence number, whatever else it holds.
func FuzzPingerDeliver(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		p := &Pinger{}
		s := &pingSocket{raw: true, v6: v6, id: 7, wait: map[pingKey]chan struct{}{}}
		target, proto, reply := netip.MustParseAddr("192.0.2.2"), 1, icmp.Type(ipv4.ICMPTypeEchoReply)
		if v6 {
			target, proto, reply = netip.MustParseAddr("2001:db8::2"), 58, ipv6.ICMPTypeEchoReply
		}
		got := make(chan struct{}, 1)
		s.wait[pingKey{target, 5}] = got
		p.deliver(s, target, b)
		select {
		case <-got:
		default:
			return
		}
		m, err := icmp.ParseMessage(proto, b)
		if err != nil || m.Type != reply {
			t.Fatalf("delivered %x, which is no echo reply (%v)", b, err)
		}
		if e, ok := m.Body.(*icmp.Echo); !ok || e.ID != 7 || e.Seq != 5 {
			t.Fatalf("delivered %x: %+v", b, m.Body)
		}
	})
}
