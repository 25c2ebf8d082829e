package bgp

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// router is a second GoBGP on loopback standing in for the upstream router: it listens,
// and records the paths it receives and the Cease it gets.
type router struct {
	s     *server.BgpServer
	port  uint16
	mu    sync.Mutex
	paths []*apiutil.Path
	down  string
}

func newRouter(t *testing.T, addr string) *router {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	lvl := &slog.LevelVar{}
	lvl.Set(slog.LevelError)
	r := &router{s: server.NewBgpServer(server.LoggerOption(slog.Default(), lvl)), port: port}
	go r.s.Serve()
	ctx := context.Background()
	if err := r.s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: 64512, RouterId: "192.0.2.254", ListenPort: int32(port), ListenAddresses: []string{addr}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.s.StopBgp(context.Background(), &api.StopBgpRequest{}) })
	err = r.s.WatchEvent(ctx, server.WatchEventMessageCallbacks{
		OnPathUpdate: func(ps []*apiutil.Path, _ time.Time) {
			r.mu.Lock()
			r.paths = append(r.paths, ps...)
			r.mu.Unlock()
		},
		OnPeerUpdate: func(ev *apiutil.WatchEventMessage_PeerEvent, _ time.Time) {
			if ev.Type == apiutil.PEER_EVENT_STATE && ev.Peer.State.SessionState == bgp.BGP_FSM_IDLE {
				r.mu.Lock()
				r.down = ev.Peer.State.DisconnectReason.String()
				r.mu.Unlock()
			}
		},
	}, server.WatchUpdate(false, "", ""), server.WatchPeer())
	if err != nil {
		t.Fatal(err)
	}
	err = r.s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: addr, PeerAsn: 64513},
		Transport: &api.Transport{PassiveMode: true},
		Timers:    &api.Timers{Config: &api.TimersConfig{ConnectRetry: 1, HoldTime: 3, KeepaliveInterval: 1}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waitFor polls cond; the bound is a timeout, not a verdict on speed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// last returns the last path received for prefix.
func (r *router) last(prefix netip.Prefix) *apiutil.Path {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.paths) - 1; i >= 0; i-- {
		if p := r.paths[i]; p.Nlri.String() == prefix.String() {
			return p
		}
	}
	return nil
}

func attrsOf(p *apiutil.Path) (comms []uint32, med uint32, hasMED bool, nh netip.Addr) {
	for _, a := range p.Attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeCommunities:
			comms = a.Value
		case *bgp.PathAttributeMultiExitDisc:
			med, hasMED = a.Value, true
		case *bgp.PathAttributeNextHop:
			nh = a.Value
		case *bgp.PathAttributeMpReachNLRI:
			nh = a.Nexthop
		}
	}
	return
}

// TestSpeakerAgainstGoBGP: the speaker connects out to a listening router, announces a
// VIP with its communities and MED, re-announces it gracefully, withdraws it, and
// closes the session with a Cease.
func TestSpeakerAgainstGoBGP(t *testing.T) {
	r := newRouter(t, "127.0.0.1")
	sp, err := Start(Spec{ASN: 64513, RouterID: netip.MustParseAddr("192.0.2.1"), HoldTime: 3 * time.Second, Keepalive: time.Second,
		Peers: []PeerSpec{{Address: netip.MustParseAddr("127.0.0.1"), ASN: 64512, Port: r.port}}}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			sp.Stop()
		}
	}()
	waitFor(t, "the session", func() bool { return sp.Peers()[0].Up })
	if p := sp.Peers()[0]; p.State != "established" || p.ASN != 64512 || p.Since.IsZero() {
		t.Errorf("peer status %+v", p)
	}
	vip := netip.MustParsePrefix("203.0.113.10/32")
	if err := sp.Announce(Route{Prefix: vip, Communities: []uint32{64513<<16 | 100}, MED: 5}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the announcement", func() bool { p := r.last(vip); return p != nil && !p.Withdrawal })
	comms, med, hasMED, nh := attrsOf(r.last(vip))
	if !slices.Equal(comms, []uint32{64513<<16 | 100}) || !hasMED || med != 5 || nh != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("announcement: communities %x med %d (%v) next hop %v", comms, med, hasMED, nh)
	}
	if err := sp.Announce(Route{Prefix: vip, Communities: []uint32{64513<<16 | 100}, MED: 5, Graceful: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the graceful announcement", func() bool {
		c, _, _, _ := attrsOf(r.last(vip))
		return slices.Contains(c, GracefulShutdown)
	})
	if _, med, _, _ := attrsOf(r.last(vip)); med != ^uint32(0) {
		t.Errorf("graceful MED = %d", med)
	}
	if err := sp.Withdraw(vip); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the withdrawal", func() bool { return r.last(vip).Withdrawal })
	if c := sp.Counters(); c.Announcements != 2 || c.Withdrawals != 1 {
		t.Errorf("counters %+v", c)
	}
	stopped = true
	if err := sp.Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the Cease", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.down != ""
	})
	if r.down != api.PeerState_DISCONNECT_REASON_NOTIFICATION_RECEIVED.String() {
		t.Errorf("router saw the session end with %s, want a notification (Cease)", r.down)
	}
}

// TestSpeakerIPv6: an IPv6 VIP goes over an IPv6 session (MP-BGP, ipv6-unicast) with the
// session's address as its next hop.
func TestSpeakerIPv6(t *testing.T) {
	r := newRouter(t, "::1")
	sp, err := Start(Spec{ASN: 64513, RouterID: netip.MustParseAddr("192.0.2.1"), HoldTime: 3 * time.Second, Keepalive: time.Second,
		Peers: []PeerSpec{{Address: netip.MustParseAddr("::1"), ASN: 64512, Port: r.port}}}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Stop()
	waitFor(t, "the session", func() bool { return sp.Peers()[0].Up })
	vip := netip.MustParsePrefix("2001:db8::10/128")
	if err := sp.Announce(Route{Prefix: vip}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the announcement", func() bool { p := r.last(vip); return p != nil && !p.Withdrawal })
	p := r.last(vip)
	if _, _, _, nh := attrsOf(p); p.Family != bgp.RF_IPv6_UC || nh != netip.IPv6Loopback() {
		t.Errorf("IPv6 path: family %v next hop %v", p.Family, nh)
	}
	if err := sp.Withdraw(vip); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the withdrawal", func() bool { return r.last(vip).Withdrawal })
}

func TestPathFamilies(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		fam    bgp.Family
	}{{"203.0.113.10/32", bgp.RF_IPv4_UC}, {"2001:db8::10/128", bgp.RF_IPv6_UC}} {
		p, err := path(Route{Prefix: netip.MustParsePrefix(tc.prefix)}, false)
		if err != nil || p.Family != tc.fam {
			t.Errorf("%s: family %v err %v", tc.prefix, p.Family, err)
		}
	}
	if _, err := path(Route{Prefix: netip.MustParsePrefix("203.0.113.0/24")}, false); err == nil {
		t.Error("a /24 was accepted")
	}
	if _, err := Start(Spec{ASN: 1, RouterID: netip.MustParseAddr("2001:db8::1")}, slog.Default()); err == nil {
		t.Error("an IPv6 router id was accepted")
	}
}
