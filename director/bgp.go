package director

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hadirector/hadirector/bgp"
	"github.com/hadirector/hadirector/config"
	"github.com/hadirector/hadirector/healthcheck"
	"github.com/hadirector/hadirector/notify"
	"github.com/hadirector/hadirector/vip"
	"github.com/hadirector/hadirector/vrrp"
)

// bgpRound is how often every VIP's readiness is evaluated: one round for rise. It
// matches the track files' poll.
const bgpRound = trackFilePoll

// bgpState announces the [[bgp.vip]] prefixes through the speaker while each is ready
// (bgp.Announcement decides; loop only, except the speaker's own status).
type bgpState struct {
	d       *Director
	spec    bgp.Spec // as started: a change of [bgp] needs a restart
	speaker BGPSpeaker
	vips    []*bgpVIP
	drained bool
	stopped bool
}

type bgpVIP struct {
	cfg     config.BGPVIP
	ann     *bgp.Announcement
	route   bgp.Route
	master  bool // mode master: announced while cfg.Instance is master
	lastErr string
}

// gobgp starts the embedded GoBGP speaker.
type gobgp struct{}

func (gobgp) StartSpeaker(s bgp.Spec, log *slog.Logger) (BGPSpeaker, error) {
	sp, err := bgp.Start(s, log)
	if err != nil {
		return nil, err
	}
	return sp, nil
}

// bgpSpec maps the [bgp] table to the speaker's spec; routerID is the default for an
// unset router_id.
func bgpSpec(b *config.BGP, routerID netip.Addr) bgp.Spec {
	s := bgp.Spec{ASN: uint32(b.ASN), RouterID: b.RouterID, HoldTime: b.HoldTime.Std(), Keepalive: b.Keepalive.Std()}
	if !s.RouterID.IsValid() {
		s.RouterID = routerID
	}
	for _, p := range b.Peers {
		s.Peers = append(s.Peers, bgp.PeerSpec{
			Address: p.Address, ASN: uint32(p.ASN), Password: p.Password, BFD: p.BFD,
			BFDInterval: p.BFDInterval.Std(), BFDMultiplier: p.BFDMultiplier, Multihop: p.Multihop,
		})
	}
	return s
}

// firstIPv4 is the default router id: the host's first IPv4 address, loopback last.
func firstIPv4() netip.Addr {
	ifs, err := net.Interfaces()
	if err != nil {
		return netip.Addr{}
	}
	var lo netip.Addr
	for _, ifi := range ifs {
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(n.IP)
			if !ok || !ip.Unmap().Is4() {
				continue
			}
			if ifi.Flags&net.FlagLoopback == 0 {
				return ip.Unmap()
			}
			if !lo.IsValid() {
				lo = ip.Unmap()
			}
		}
	}
	return lo
}

func newBGPState(d *Director, cfg *config.Config) (*bgpState, error) {
	if cfg.BGP == nil {
		return nil, nil
	}
	b := &bgpState{d: d, spec: bgpSpec(cfg.BGP, firstIPv4())}
	if !b.spec.RouterID.Is4() {
		return nil, fmt.Errorf("director: bgp: no IPv4 address for the router id: set bgp.router_id")
	}
	now := d.clock.Now()
	for _, vc := range cfg.BGP.VIPs {
		v := &bgpVIP{cfg: vc, route: bgp.Route{Prefix: vc.Prefix, MED: uint32(vc.MED)}}
		for _, c := range vc.Communities {
			n, _ := config.Community(c) // validated
			v.route.Communities = append(v.route.Communities, n)
		}
		mode := bgp.ECMP
		if vc.Mode == "master" {
			mode, v.master = bgp.MasterOnly, true
		}
		v.ann = bgp.NewAnnouncement(now, bgp.AnnouncementSpec{Mode: mode, Rise: vc.Rise,
			Graceful: cfg.BGP.GracefulShutdown, Wait: cfg.BGP.GracefulShutdownWait.Std()})
		b.vips = append(b.vips, v)
	}
	return b, nil
}

// start brings the speaker up, adds the ECMP addresses and runs the rounds.
func (b *bgpState) start(ctx context.Context, wg *sync.WaitGroup, starter BGPSpeakers) error {
	sp, err := starter.StartSpeaker(b.spec, b.d.log.With("component", "bgp"))
	if err != nil {
		return err
	}
	b.speaker = sp
	for _, v := range b.vips {
		if v.master {
			continue
		}
		// An ECMP VIP is this director's own address while it runs.
		added, err := b.d.vips.AddWith(v.cfg.Interface, []netip.Prefix{v.cfg.Prefix}, vip.AddrOptions{})
		if err != nil {
			sp.Stop()
			return fmt.Errorf("director: bgp: add %s to %s: %w", v.cfg.Prefix, v.cfg.Interface, err)
		}
		for _, p := range added {
			b.d.log.Info("VIP added", "vip", p, "interface", v.cfg.Interface)
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := b.d.clock.NewTimer(bgpRound)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C():
				t.Reset(bgpRound)
			}
			b.d.postWait(func(now time.Time) { b.evaluate(now, true) })
		}
	}()
	return nil
}

// evaluate feeds every VIP its inputs as they are now (loop only); round marks the
// periodic evaluation that counts towards rise.
func (b *bgpState) evaluate(now time.Time, round bool) {
	if b.stopped {
		return
	}
	for _, v := range b.vips {
		b.act(v, v.ann.Timer(now))
		b.act(v, v.ann.Update(now, b.inputs(v), round))
	}
}

// bgpChanged re-evaluates the VIPs between rounds, when a tracker or an instance changed:
// a fault withdraws at once (loop only).
func (d *Director) bgpChanged(now time.Time) {
	if d.bgp != nil {
		d.bgp.evaluate(now, false)
	}
}

// inputs are the conditions of v's announcement (loop only).
func (b *bgpState) inputs(v *bgpVIP) bgp.Inputs {
	in := bgp.Inputs{Programmed: true, Checked: true, TrackersOK: true}
	iface := v.cfg.Interface
	if v.master {
		// Looked up each time: a reload may have restarted the instance.
		inst := b.d.byName[v.cfg.Instance]
		if inst == nil {
			return in // gone: withdrawn, as not master
		}
		in.Master = inst.m.State() == vrrp.Master
		iface = inst.sp.vipIface
	}
	if addrs, err := b.d.ifaces.Addrs(iface); err == nil {
		in.AddressUp = slices.Contains(addrs, v.cfg.Prefix.Addr())
	}
	for _, name := range v.cfg.TrackFile {
		if tf := b.d.trackFile(name); tf == nil || tf.value.Load() != 0 {
			in.TrackersOK = false
		}
	}
	for _, name := range v.cfg.TrackScript {
		if ts := b.d.script(name); ts == nil || !ts.ok() {
			in.TrackersOK = false
		}
	}
	l := b.d.lvs
	if l == nil || l.model == nil {
		return in
	}
	active := l.activeTable()
	for i := range b.d.cfg.VirtualServers {
		vs := &b.d.cfg.VirtualServers[i]
		if !vs.Address.IsValid() || vs.Address.Addr() != v.cfg.Prefix.Addr() {
			continue
		}
		svc, err := lvsService(vs)
		if err != nil {
			continue
		}
		if _, ok := active[svc.Key]; !ok || !l.model.Quorum[svc.Key].Up {
			in.Programmed = false
		}
		service := checkService(vs.Address, vs.FWMark, vs.Protocol)
		for _, rs := range vs.RealServers {
			if rs.Check == nil {
				continue
			}
			if st, ok := l.mon.Stats(healthcheck.ID{Service: service, Backend: rs.Address}); !ok || st.Checks == 0 {
				in.Checked = false
			}
		}
	}
	return in
}

// act carries out an Announcement's actions through the speaker, in order.
func (b *bgpState) act(v *bgpVIP, acts []bgp.Action) {
	for _, a := range acts {
		var err error
		switch a.Kind {
		case bgp.ActAnnounce:
			r := v.route
			r.Graceful = a.Graceful
			err = b.speaker.Announce(r)
			b.d.log.Info("bgp announce", "vip", v.cfg.Prefix, "graceful", a.Graceful, "reason", a.Reason)
		case bgp.ActWithdraw:
			err = b.speaker.Withdraw(v.cfg.Prefix)
			b.d.log.Info("bgp withdraw", "vip", v.cfg.Prefix, "reason", a.Reason)
		}
		v.lastErr = ""
		if err != nil {
			v.lastErr = err.Error()
			b.d.log.Error("bgp", "vip", v.cfg.Prefix, "err", err)
		}
		b.hook(v, a)
	}
}

// hook submits notify_announce or notify_withdraw when the VIP goes in or out (the
// graceful re-announcement of a leaving VIP is neither); the runner keeps one VIP's
// hooks in order.
func (b *bgpState) hook(v *bgpVIP, a bgp.Action) {
	ev := notify.Event{Kind: notify.BGP, Name: v.cfg.Prefix.String()}
	switch {
	case a.Kind == bgp.ActAnnounce && !a.Graceful:
		ev.State, ev.PrevState, ev.Hooks.Specific = notify.Announce, notify.Withdraw, v.cfg.NotifyAnnounce
	case a.Kind == bgp.ActWithdraw:
		ev.State, ev.PrevState, ev.Hooks.Specific = notify.Withdraw, notify.Announce, v.cfg.NotifyWithdraw
	default:
		return
	}
	b.d.notify.Submit(ev)
}

// leave runs the graceful leave of every VIP: the GRACEFUL_SHUTDOWN announcements now,
// the withdrawals once graceful_shutdown_wait has passed (loop only).
func (b *bgpState) leave(now time.Time) (deadline time.Time) {
	for _, v := range b.vips {
		b.act(v, v.ann.Leave(now))
		if dl := v.ann.Deadline(); dl.After(deadline) {
			deadline = dl
		}
	}
	return deadline
}

// stop leaves gracefully, waits out graceful_shutdown_wait, closes the sessions with a
// Cease and removes the ECMP addresses — before the VRRP instances release theirs. It
// runs after the loop has ended.
func (b *bgpState) stop() {
	now := b.d.clock.Now()
	if dl := b.leave(now); !dl.IsZero() {
		b.d.log.Info("bgp graceful shutdown: waiting before the withdrawal", "wait", dl.Sub(now))
		sleep(context.Background(), b.d.clock, dl.Sub(now))
		now = b.d.clock.Now()
		for _, v := range b.vips {
			b.act(v, v.ann.Timer(now))
		}
	}
	b.stopped = true
	if err := b.speaker.Stop(); err != nil {
		b.d.log.Error("bgp: stop", "err", err)
	}
	for _, v := range b.vips {
		if v.master {
			continue
		}
		if _, err := b.d.vips.Remove(v.cfg.Interface, []netip.Prefix{v.cfg.Prefix}); err != nil {
			b.d.log.Error("remove VIPs at shutdown", "vip", v.cfg.Prefix, "err", err)
		}
	}
}

// DrainBGP withdraws this director from every upstream router as a stop would
// (graceful announcement, graceful_shutdown_wait, withdrawal) but keeps running and
// keeps the sessions; undrain (on = false) lets the VIPs back once they have risen.
func (d *Director) DrainBGP(ctx context.Context, on bool) error {
	res, err := onLoop(ctx, d, func(now time.Time) error {
		b := d.bgp
		if b == nil {
			return fmt.Errorf("no [bgp] in the configuration")
		}
		if b.drained == on {
			return nil
		}
		b.drained = on
		for _, v := range b.vips {
			if on {
				b.act(v, v.ann.Leave(now))
			} else {
				b.act(v, v.ann.Rejoin(now))
			}
		}
		d.log.Info("bgp drain", "drained", on)
		return nil
	})
	if err != nil {
		return fmt.Errorf("director: bgp drain: %w", err)
	}
	if res != nil {
		return fmt.Errorf("director: bgp drain: %w", res)
	}
	return nil
}

// BGPStatus is the [bgp] side of status.
type BGPStatus struct {
	ASN      uint32           `json:"asn"`
	RouterID netip.Addr       `json:"router_id"`
	Drained  bool             `json:"drained"`
	Peers    []bgp.PeerStatus `json:"peers"`
	VIPs     []BGPVIPStatus   `json:"vips"`
	Counters bgp.Counters     `json:"counters"`
}

// BGPVIPStatus is one [[bgp.vip]]: announced, or why not.
type BGPVIPStatus struct {
	Prefix    netip.Prefix `json:"prefix"`
	Mode      string       `json:"mode"`
	Announced bool         `json:"announced"`
	Reason    string       `json:"reason,omitempty"` // why it is not announced
	Since     time.Time    `json:"since"`
	LastError string       `json:"last_error,omitempty"`
}

// status describes the VIPs (loop only) and the speaker's peers.
func (b *bgpState) status() *BGPStatus {
	st := &BGPStatus{ASN: b.spec.ASN, RouterID: b.spec.RouterID, Drained: b.drained}
	if b.speaker != nil {
		st.Peers, st.Counters = b.speaker.Peers(), b.speaker.Counters()
	}
	for _, v := range b.vips {
		why, since := v.ann.Reason()
		st.VIPs = append(st.VIPs, BGPVIPStatus{Prefix: v.cfg.Prefix, Mode: v.cfg.Mode, Announced: v.ann.Announced(),
			Reason: why, Since: since, LastError: v.lastErr})
	}
	return st
}
