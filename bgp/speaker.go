package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// Spec configures a Speaker.
type Spec struct {
	ASN       uint32
	RouterID  netip.Addr // IPv4
	HoldTime  time.Duration
	Keepalive time.Duration
	Peers     []PeerSpec
}

// PeerSpec is one upstream router. A peer carries the routes of its own address family
// (IPv4 VIPs over IPv4 sessions, IPv6 VIPs over IPv6 sessions).
type PeerSpec struct {
	Address       netip.Addr
	ASN           uint32
	Password      string // TCP MD5; empty: none
	BFD           bool
	BFDInterval   time.Duration
	BFDMultiplier int
	Multihop      int    // eBGP multihop TTL; 0: directly connected
	Port          uint16 // 0: 179
}

// Route is one VIP's announcement.
type Route struct {
	Prefix      netip.Prefix
	Communities []uint32
	MED         uint32
	// Graceful marks the announcement of a leaving director (RFC 8326): the
	// GRACEFUL_SHUTDOWN community, LOCAL_PREF 0 (iBGP) and the highest MED, so routers
	// move traffic to the other directors before the withdrawal.
	Graceful bool
}

// GracefulShutdown is the well-known GRACEFUL_SHUTDOWN community 65535:0 (RFC 8326).
const GracefulShutdown uint32 = 0xffff0000

// PeerStatus is a peer as status shows it.
type PeerStatus struct {
	Address   netip.Addr `json:"address"`
	ASN       uint32     `json:"asn"`
	State     string     `json:"state"` // idle, connect, active, opensent, openconfirm, established
	Up        bool       `json:"up"`
	Since     time.Time  `json:"since"` // of the current state: the uptime when up
	LastError string     `json:"last_error,omitempty"`
	Flaps     uint64     `json:"flaps"` // sessions lost after being established
}

// Counters are the speaker's totals since it started.
type Counters struct {
	Announcements uint64 `json:"announcements"`
	Withdrawals   uint64 `json:"withdrawals"`
}

// Speaker is an embedded GoBGP server that connects out to its peers (no listener, no
// gRPC) and announces host routes for the VIPs.
type Speaker struct {
	s      *server.BgpServer
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	peers map[netip.Addr]*PeerStatus
	order []netip.Addr

	announced, withdrawn atomic.Uint64
}

// Start starts the speaker and adds its peers; the sessions come up in the background.
func Start(spec Spec, log *slog.Logger) (*Speaker, error) {
	if !spec.RouterID.Is4() {
		return nil, fmt.Errorf("bgp: router id %v is not an IPv4 address", spec.RouterID)
	}
	lvl := &slog.LevelVar{}
	lvl.Set(slog.LevelWarn) // GoBGP's info lines are per-message chatter; ours say what changed
	s := server.NewBgpServer(server.LoggerOption(log.With("component", "gobgp"), lvl))
	ctx, cancel := context.WithCancel(context.Background())
	sp := &Speaker{s: s, log: log, cancel: cancel, done: make(chan struct{}), peers: map[netip.Addr]*PeerStatus{}}
	go func() { defer close(sp.done); s.Serve() }()
	fail := func(err error) (*Speaker, error) {
		sp.Stop()
		return nil, err
	}
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: spec.ASN, RouterId: spec.RouterID.String(), ListenPort: -1,
	}}); err != nil {
		return fail(fmt.Errorf("bgp: start: %w", err))
	}
	now := time.Now()
	for _, p := range spec.Peers {
		sp.peers[p.Address] = &PeerStatus{Address: p.Address, ASN: p.ASN, State: "idle", Since: now}
		sp.order = append(sp.order, p.Address)
	}
	if err := s.WatchEvent(ctx, server.WatchEventMessageCallbacks{OnPeerUpdate: sp.peerEvent}, server.WatchPeer()); err != nil {
		return fail(fmt.Errorf("bgp: watch peers: %w", err))
	}
	for _, p := range spec.Peers {
		if err := s.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(spec, p)}); err != nil {
			return fail(fmt.Errorf("bgp: add peer %s: %w", p.Address, err))
		}
	}
	return sp, nil
}

func apiPeer(spec Spec, p PeerSpec) *api.Peer {
	fam := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	if p.Address.Is6() {
		fam.Afi = api.Family_AFI_IP6
	}
	peer := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: p.Address.String(), PeerAsn: p.ASN, AuthPassword: p.Password},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime:          uint64(spec.HoldTime / time.Second),
			KeepaliveInterval: uint64(spec.Keepalive / time.Second),
			// Retry quickly: a director whose router restarted must be back in seconds
			// (GoBGP's defaults: 120 s between attempts, 30 s idle after a reset).
			ConnectRetry:           1,
			IdleHoldTimeAfterReset: 1,
			// Each announcement goes out at once, not batched for 30 s (the eBGP default).
			MinimumAdvertisementInterval: 0,
		}},
		AfiSafis: []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: fam, Enabled: true}}},
		// Graceful restart stays off: a dead director's stale routes would blackhole
		// traffic.
	}
	if p.Port != 0 {
		peer.Transport = &api.Transport{RemotePort: uint32(p.Port)}
	}
	if p.Multihop > 0 {
		peer.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(p.Multihop)}
	}
	if p.BFD {
		us := uint32(p.BFDInterval / time.Microsecond)
		peer.Bfd = &api.BfdPeerConfig{Enabled: true, DesiredMinimumTxInterval: us, RequiredMinimumReceive: us, DetectionMultiplier: uint32(p.BFDMultiplier)}
	}
	return peer
}

// peerEvent records a peer's state change (GoBGP's watcher goroutine).
func (sp *Speaker) peerEvent(ev *apiutil.WatchEventMessage_PeerEvent, at time.Time) {
	if ev.Type != apiutil.PEER_EVENT_STATE {
		return
	}
	st := ev.Peer.State
	state := fsmState(st.SessionState)
	sp.mu.Lock()
	p := sp.peers[st.NeighborAddress]
	if p == nil || p.State == state {
		sp.mu.Unlock()
		return
	}
	from := p.State
	if p.Up && state != "established" {
		p.Flaps++
	}
	p.State, p.Up, p.Since = state, state == "established", at
	if st.DisconnectMessage != "" {
		p.LastError = st.DisconnectMessage
	}
	sp.mu.Unlock()
	sp.log.Info("bgp peer state", "peer", st.NeighborAddress, "from", from, "to", state, "reason", st.DisconnectMessage)
}

func fsmState(s bgp.FSMState) string {
	switch s {
	case bgp.BGP_FSM_IDLE:
		return "idle"
	case bgp.BGP_FSM_CONNECT:
		return "connect"
	case bgp.BGP_FSM_ACTIVE:
		return "active"
	case bgp.BGP_FSM_OPENSENT:
		return "opensent"
	case bgp.BGP_FSM_OPENCONFIRM:
		return "openconfirm"
	case bgp.BGP_FSM_ESTABLISHED:
		return "established"
	}
	return s.String()
}

// Peers returns the peers' status in the order of the spec.
func (sp *Speaker) Peers() []PeerStatus {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	out := make([]PeerStatus, len(sp.order))
	for i, a := range sp.order {
		out[i] = *sp.peers[a]
	}
	return out
}

// Counters returns the announcements and withdrawals made.
func (sp *Speaker) Counters() Counters {
	return Counters{Announcements: sp.announced.Load(), Withdrawals: sp.withdrawn.Load()}
}

// path is the GoBGP path of r; the next hop is left for GoBGP to fill with the
// session's local address.
func path(r Route, withdrawal bool) (*apiutil.Path, error) {
	if !r.Prefix.IsValid() || r.Prefix.Bits() != r.Prefix.Addr().BitLen() {
		return nil, fmt.Errorf("bgp: %v is not a host prefix", r.Prefix)
	}
	nlri, err := bgp.NewIPAddrPrefix(r.Prefix)
	if err != nil {
		return nil, fmt.Errorf("bgp: %v: %w", r.Prefix, err)
	}
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP)}
	fam := bgp.RF_IPv4_UC
	if r.Prefix.Addr().Is4() {
		nh, err := bgp.NewPathAttributeNextHop(netip.IPv4Unspecified())
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, nh)
	} else {
		fam = bgp.RF_IPv6_UC
		mp, err := bgp.NewPathAttributeMpReachNLRI(fam, []bgp.PathNLRI{{NLRI: nlri}}, netip.IPv6Unspecified())
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, mp)
	}
	med := r.MED
	comms := slices.Clone(r.Communities)
	if r.Graceful {
		med = ^uint32(0)
		comms = append(comms, GracefulShutdown)
		attrs = append(attrs, bgp.NewPathAttributeLocalPref(0))
	}
	attrs = append(attrs, bgp.NewPathAttributeMultiExitDisc(med))
	if len(comms) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeCommunities(comms))
	}
	return &apiutil.Path{Family: fam, Nlri: nlri, Attrs: attrs, Withdrawal: withdrawal}, nil
}

// Announce announces r to every peer of its family, replacing an earlier announcement
// of the prefix.
func (sp *Speaker) Announce(r Route) error {
	p, err := path(r, false)
	if err != nil {
		return err
	}
	if _, err := sp.s.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{p}}); err != nil {
		return fmt.Errorf("bgp: announce %s: %w", r.Prefix, err)
	}
	sp.announced.Add(1)
	return nil
}

// Withdraw withdraws the prefix from every peer.
func (sp *Speaker) Withdraw(prefix netip.Prefix) error {
	p, err := path(Route{Prefix: prefix}, true)
	if err != nil {
		return err
	}
	if err := sp.s.DeletePath(apiutil.DeletePathRequest{Paths: []*apiutil.Path{p}}); err != nil {
		return fmt.Errorf("bgp: withdraw %s: %w", prefix, err)
	}
	sp.withdrawn.Add(1)
	return nil
}

// Stop closes every session with a Cease notification and stops the server.
func (sp *Speaker) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := sp.s.StopBgp(ctx, &api.StopBgpRequest{})
	sp.cancel()
	select {
	case <-sp.done:
	case <-ctx.Done():
		err = errors.Join(err, errors.New("bgp: the server did not stop"))
	}
	return err
}
