package director

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hadirector/hadirector/config"
	"github.com/hadirector/hadirector/notify"
	"github.com/hadirector/hadirector/vip"
	"github.com/hadirector/hadirector/vrrp"
)

// instance is one VRRP instance at run time. Its fields belong to the loop goroutine;
// what other goroutines need is handed over as immutable snapshots (spec, rxEntry).
type instance struct {
	d      *Director
	cfg    *config.Instance
	sp     *spec
	m      *vrrp.Machine
	group  *group
	member int
	gone   bool // removed by a reload; events still queued for it are ignored

	six       bool
	src       netip.Addr       // source of our adverts; breaks priority ties
	dsts      []netip.Addr     // 224.0.0.18 / ff02::12, or the unicast peers
	sendIface string           // the interface of its socket: the configured one, or the vmac (multicast)
	mac       net.HardwareAddr // nil: the interface's own

	conn      Conn
	announcer Announcer
	// devAnnouncers announce the addresses of virtual_address entries on other interfaces.
	devAnnouncers map[string]Announcer
	effects       *effects

	transitions     int
	lastLowerMaster time.Time   // another master last heard while we were master
	router          atomic.Bool // the NAs' Router flag last decided (naRouter)
	routerSet       atomic.Bool // … once decided
	stats           struct{ sent, received, addrMismatch, sendErrors, garps, lowerMasters, restored atomic.Uint64 }
}

// spec is the part of an instance's configuration that its effects worker and receiver
// use. It is never modified: a reload makes a new one.
type spec struct {
	cfg      *config.Instance
	vips     []netip.Prefix
	vipAddrs []netip.Addr // advert address list (IPv6: link-local first)
	vipIface string       // where the VIPs live: the interface, or the vmac
	vipLabel string       // label of IPv4 VIPs, on vipIface
	// sets is every address that follows the master, in the order added: vips first.
	sets   []addrSet
	routes []vip.Route // virtual_routes, added after sets and removed before them
	rules  []vip.Rule  // virtual_rules, added after routes and removed before them
	expect vrrp.Expect
	peers  []netip.Addr // unicast: only these are heard
}

func newSpec(c *config.Instance) *spec {
	sp := &spec{cfg: c}
	sp.vips, sp.vipIface, _ = plan(c)
	// The label names its interface ("eth0:1"); on a vmac the same suffix follows the
	// vmac's name ("vr51.eth0:1"), which is how ifconfig users will look for it.
	if c.VirtualIPAddressLabel != "" {
		sp.vipLabel = sp.vipIface + strings.TrimPrefix(c.VirtualIPAddressLabel, c.Interface)
	}
	for _, p := range sp.vips {
		sp.vipAddrs = append(sp.vipAddrs, p.Addr())
	}
	sp.sets = []addrSet{{iface: sp.vipIface, opts: vip.AddrOptions{Label: sp.vipLabel}, vips: sp.vips}}
	for _, va := range c.VirtualAddress {
		set := addrSet{iface: va.Dev, vips: []netip.Prefix{va.Address},
			opts: vip.AddrOptions{Label: va.Label, Scope: scopes[va.Scope], Broadcast: va.Broadcast}}
		if va.Dev == "" || va.Dev == c.Interface {
			set.iface = sp.vipIface
			if va.Label != "" {
				set.opts.Label = sp.vipIface + strings.TrimPrefix(va.Label, c.Interface)
			}
		}
		if c.Advertised(va) {
			sp.vipAddrs = append(sp.vipAddrs, va.Address.Addr())
		}
		sp.sets = append(sp.sets, set)
	}
	for _, r := range c.VirtualRoutes {
		sp.routes = append(sp.routes, vip.Route{Dst: r.To, Via: r.Via, Src: r.Src, Dev: r.Dev, Table: r.Table, Metric: r.Metric,
			Type: strings.TrimPrefix(r.Type, "unicast")})
	}
	for _, r := range c.VirtualRules {
		six := r.From.IsValid() && r.From.Addr().Is6() || r.To.IsValid() && r.To.Addr().Is6() || !r.From.IsValid() && !r.To.IsValid() && c.Family() == 6
		sp.rules = append(sp.rules, vip.Rule{From: r.From, To: r.To, IIF: r.IIF, OIF: r.OIF, Fwmark: uint32(r.Fwmark),
			Priority: r.Priority, Table: r.Table, IPv6: six})
	}
	if len(c.VirtualIPAddressExcluded) > 0 {
		sp.sets = append(sp.sets, addrSet{iface: sp.vipIface, vips: c.VirtualIPAddressExcluded})
	}
	sp.expect = vrrp.Expect{Version: uint8(c.Version), VRID: uint8(c.VirtualRouterID), IPv6: c.Family() == 6,
		Interval: c.AdvertInt.Std(), Addrs: sp.vipAddrs, AcceptOldUnicastChecksum: c.OldUnicastChecksum != "reject"}
	if c.AuthPass != "" {
		sp.expect.AuthType = vrrp.AuthSimple
		copy(sp.expect.AuthData[:], c.AuthPass)
	}
	sp.peers = c.UnicastPeer
	return sp
}

// addrSet is addresses that follow the master on one interface, with one set of options.
type addrSet struct {
	iface string
	opts  vip.AddrOptions
	vips  []netip.Prefix
}

// scopes are the address scopes by name (rtnetlink's RT_SCOPE_*; "" is global).
var scopes = map[string]uint8{"global": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}

// held is every address of sets, by interface.
func held(sets []addrSet) map[string][]netip.Prefix {
	out := map[string][]netip.Prefix{}
	for _, s := range sets {
		out[s.iface] = append(out[s.iface], s.vips...)
	}
	return out
}

func newInstance(d *Director, cfg *config.Config, c *config.Instance) (*instance, error) {
	in := &instance{d: d, cfg: c, sp: newSpec(c), six: c.Family() == 6}
	_, in.sendIface, in.mac = plan(c)
	if c.UseVMAC && len(c.UnicastPeer) > 0 {
		// Unicast adverts are sent to the peer's own address, so they reach the peer's
		// interface, not its vmac: both ends use the interface itself, as keepalived
		// requires (vmac_xmit_base). The VIPs stay on the vmac, announced from the
		// virtual MAC. A socket on the vmac never heard the peer: a split brain.
		in.sendIface = c.Interface
	}
	src, err := primaryAddr(d.ifaces, c, in.sp.vips)
	if err != nil {
		return nil, fmt.Errorf("instance %s: %w", c.Name, err)
	}
	if c.UseVMAC && in.six && len(c.UnicastPeer) == 0 && !c.UnicastSrcIP.IsValid() {
		// The vmac's own link-local address (see vip.VMACSource), not the parent's.
		src = vip.VMACSource(src, uint8(c.VirtualRouterID))
	}
	in.src = src
	switch {
	case len(c.UnicastPeer) > 0:
		in.dsts = c.UnicastPeer
	case in.six:
		in.dsts = []netip.Addr{vrrp.GroupV6}
	default:
		in.dsts = []netip.Addr{vrrp.GroupV4}
	}
	in.m = vrrp.NewMachine(machineConfig(c, src, preemptWait(cfg, c.Name)))
	in.effects = newEffects(in)
	return in, nil
}

// machineConfig is the state machine's configuration; wait is a floor for preempt_delay
// (see preemptWait).
func machineConfig(c *config.Instance, src netip.Addr, wait time.Duration) vrrp.Config {
	return vrrp.Config{Name: c.Name, Version: uint8(c.Version), Priority: uint8(c.Priority), Interval: c.AdvertInt.Std(),
		Preempt: !c.NoPreempt, PreemptDelay: max(c.PreemptDelay.Std(), wait), PrimaryIP: src}
}

// preemptWait is [lvs.sync_daemon] preempt_wait for the instance the sync daemons follow:
// after start-up that instance enters BACKUP, and so starts the backup daemon, at once;
// holding preemption off for this long gives the daemon that long to receive the master's
// connection table before this node takes the traffic.
func preemptWait(cfg *config.Config, name string) time.Duration {
	if sd := cfg.LVS.SyncDaemon; sd != nil && sd.Instance == name {
		return sd.PreemptWait.Std()
	}
	return 0
}

// plan derives, without touching the host, the VIPs an instance holds (IPv6: a link-local
// one first), the interface that holds them, and the MAC they are announced with (nil:
// the interface's own).
func plan(c *config.Instance) (vips []netip.Prefix, iface string, mac net.HardwareAddr) {
	vips = append(vips, c.VirtualIPAddress...)
	vrid := uint8(c.VirtualRouterID)
	six := c.Family() == 6
	if six && !slices.ContainsFunc(vips, func(p netip.Prefix) bool { return p.Addr().IsLinkLocalUnicast() }) {
		// RFC 5798 §5.2.9: the first address of an IPv6 advert is the virtual router's
		// link-local address. keepalived only warns; we add one, derived from the virtual
		// MAC (EUI-64 of 00-00-5E-00-02-{VRID}) so both routers pick the same.
		ll := netip.AddrFrom16([16]byte{0xfe, 0x80, 8: 0x02, 0x00, 0x5e, 0xff, 0xfe, 0x00, 0x02, vrid})
		vips = append([]netip.Prefix{netip.PrefixFrom(ll, 64)}, vips...)
	} else if six {
		// A configured link-local goes first, whatever the order written.
		i := slices.IndexFunc(vips, func(p netip.Prefix) bool { return p.Addr().IsLinkLocalUnicast() })
		vips[0], vips[i] = vips[i], vips[0]
	}
	iface = c.Interface
	if c.UseVMAC {
		mac = vip.VirtualMAC(vrid, six)
		iface = c.VMAC()
	}
	return vips, iface, mac
}

// primaryAddr picks the advert source: unicast_src_ip, else the interface's first address
// of the family that is not one of our VIPs (for IPv6 its link-local address).
func primaryAddr(ifaces Interfaces, c *config.Instance, vips []netip.Prefix) (netip.Addr, error) {
	if c.UnicastSrcIP.IsValid() {
		return c.UnicastSrcIP, nil
	}
	addrs, err := ifaces.Addrs(c.Interface)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %s: %w", c.Interface, err)
	}
	six := c.Family() == 6
	for _, ip := range addrs {
		isVIP := false
		for _, v := range vips {
			isVIP = isVIP || v.Addr() == ip
		}
		if isVIP || ip.Is4() == six || (six && !ip.IsLinkLocalUnicast()) {
			continue
		}
		return ip, nil
	}
	if six {
		return netip.Addr{}, fmt.Errorf("interface %s has no IPv6 link-local address to send adverts from", c.Interface)
	}
	return netip.Addr{}, fmt.Errorf("interface %s has no IPv4 address to send adverts from (set unicast_src_ip or add one)", c.Interface)
}

// send transmits one advert to every destination. Called on the loop goroutine only.
func (in *instance) send(prio uint8) {
	sp := in.sp
	a := vrrp.Advert{Version: uint8(in.cfg.Version), Type: vrrp.TypeAdvertisement, VRID: uint8(in.cfg.VirtualRouterID),
		Priority: prio, Interval: in.cfg.AdvertInt.Std(), Addrs: sp.vipAddrs, Src: in.src,
		AuthType: sp.expect.AuthType, AuthData: sp.expect.AuthData, OldUnicastChecksum: in.cfg.OldUnicastChecksum == "send"}
	for _, dst := range in.dsts {
		a.Dst = dst
		if err := in.conn.Send(&a); err != nil {
			if in.stats.sendErrors.Add(1) == 1 || in.stats.sendErrors.Load()%100 == 0 {
				in.d.log.Error("send advert", "instance", in.cfg.Name, "err", err, "errors", in.stats.sendErrors.Load())
			}
			continue
		}
		in.stats.sent.Add(1)
	}
}

type effectKind uint8

const (
	effTransition effectKind = iota
	effAnnounce
	effReconfigure // a reload changed the spec: move VIPs if master
	effGroupHook   // the instance's sync group changed state
	effRestore     // an address of ours was deleted by someone else: put it back if master
)

type effect struct {
	kind     effectKind
	sp       *spec    // the configuration in force when the effect was queued
	lvs      *desired // the IPVS table after this transition (nil without LVS)
	from, to vrrp.State
	prio     uint8
	at       time.Time
	assert   bool       // effAnnounce: a lower-priority master was seen
	hook     *groupHook // effGroupHook
	gone     []addrSet  // effRestore: the deleted address
}

// effects is an instance's ordered queue of slow work (netlink, GARP, hooks): one worker,
// so effects of successive transitions never reorder, and the protocol never waits.
type effects struct {
	in     *instance
	mu     sync.Mutex
	queue  []effect
	wake   chan struct{}
	closed bool
	done   chan struct{}

	master     bool
	sp         *spec           // the latest spec seen by the worker
	after      <-chan struct{} // set by a reload: the replaced instance's worker must finish first
	cancelGARP context.CancelFunc
	timers     sync.WaitGroup // the GARP repeat timers; the worker waits for them before done
}

func newEffects(in *instance) *effects {
	return &effects{in: in, sp: in.sp, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (e *effects) push(ef effect) {
	e.mu.Lock()
	if !e.closed {
		e.queue = append(e.queue, ef)
	}
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// close lets the worker finish what is queued and stop.
func (e *effects) close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *effects) wait(d time.Duration) bool {
	t := e.in.d.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-e.done:
		return true
	case <-t.C():
		return false
	}
}

func (e *effects) run(ctx context.Context) {
	defer close(e.done)
	// The repeat timers live on ctx: they end, and are waited for, with the worker.
	ctx, cancel := context.WithCancel(ctx)
	defer e.timers.Wait()
	defer cancel()
	if e.after != nil {
		// The instance this one replaces is still withdrawing the same VIPs.
		t := e.in.d.clock.NewTimer(2 * time.Second)
		select {
		case <-e.after:
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return
		}
		t.Stop()
	}
	for {
		e.mu.Lock()
		q := e.queue
		e.queue = nil
		closed := e.closed
		e.mu.Unlock()
		for i, ef := range q {
			e.apply(ctx, ef, q[i+1:])
		}
		if closed {
			if len(q) == 0 {
				return
			}
			// Closing may have spent its wake-up on this batch: look again at once.
			continue
		}
		select {
		case <-e.wake:
		case <-ctx.Done():
			return
		}
	}
}

// superseded reports whether a later state transition is already queued behind the one
// being applied (later holds the rest of the worker's current batch).
func (e *effects) superseded(later []effect) bool {
	has := func(q []effect) bool {
		return slices.ContainsFunc(q, func(x effect) bool { return x.kind == effTransition })
	}
	if has(later) {
		return true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return has(e.queue)
}

func (e *effects) apply(ctx context.Context, ef effect, later []effect) {
	in := e.in
	old := e.sp
	if ef.sp != nil {
		e.sp = ef.sp
	}
	sp := e.sp
	log := in.d.log.With("instance", sp.cfg.Name)
	switch {
	case ef.kind == effAnnounce:
		if e.master {
			e.burst(log, sp.sets)
			if ef.assert {
				e.reannounce(ctx, sp.cfg.AdvertInt.Std())
			}
		}
	case ef.kind == effReconfigure:
		if e.master {
			e.moveVIPs(log, old, sp)
		}
	case ef.kind == effRestore:
		if !e.master {
			return
		}
		added := e.addSets(log, ef.gone)
		for _, s := range added {
			for _, p := range s.vips {
				in.stats.restored.Add(1)
				log.Warn("VIP deleted behind our back; put back", "vip", p, "interface", s.iface)
			}
		}
		e.burst(log, added)
	case ef.kind == effGroupHook:
		if ef.hook.left.Add(-1) == 0 {
			in.d.notify.Submit(ef.hook.ev)
		}
	case ef.to == vrrp.Master:
		// IPVS first: no packet may reach the VIP before the service is there.
		e.syncLVS(ctx, ef)
		// A master that has already yielded (a transient master: its timer expired during
		// a stall, and the real master's advert came while IPVS was being programmed) must
		// not claim the VIPs: its gratuitous ARPs would follow the real master's
		// re-announcement and leave the LAN pointing at a node that is about to drop the
		// address. The queued transition withdraws IPVS again.
		if e.superseded(later) {
			log.Warn("left master before claiming the VIPs; not claiming them", "vips", sp.vips)
			e.notify(ef)
			return
		}
		e.master = true
		added := e.addSets(log, sp.sets)
		follow(log, sp.routes, in.d.vips.AddRoutes, "route added", "master")
		follow(log, sp.rules, in.d.vips.AddRules, "rule added", "master")
		// The burst follows the address at once: clients and routers must flush their
		// caches before they try the old master.
		e.burst(log, sp.sets)
		for _, s := range added {
			for _, p := range s.vips {
				log.Info("VIP added", "vip", p, "interface", s.iface)
			}
		}
		e.scheduleGARP(ctx)
		if in.d.bgp != nil {
			// A master-mode VIP is announced once its address is up: now, not next round.
			in.d.post(in.d.bgpChanged)
		}
		e.notify(ef)
	default:
		if e.cancelGARP != nil {
			e.cancelGARP()
			e.cancelGARP = nil
		}
		if (e.master || ef.from == vrrp.Master) && sp.cfg.Priority != vrrp.PriorityOwner {
			// The owner's addresses are its own and never removed.
			follow(log, sp.rules, in.d.vips.RemoveRules, "rule removed", "not master")
			follow(log, sp.routes, in.d.vips.RemoveRoutes, "route removed", "not master")
			e.removeSets(log, sp.sets, "")
		}
		e.master = false
		e.syncLVS(ctx, ef)
		e.notify(ef)
	}
}

func (e *effects) syncLVS(ctx context.Context, ef effect) {
	if l := e.in.d.lvs; l != nil && ef.lvs != nil {
		if err := l.sync(ctx, ef.lvs, false); err != nil {
			e.in.d.log.Error("lvs: sync", "instance", e.sp.cfg.Name, "err", err)
			l.wake()
		}
	}
}

// moveVIPs applies a reloaded VIP list while master: only the difference moves, and only
// the new addresses are announced — no GARP storm for addresses that never moved.
func (e *effects) moveVIPs(log *slog.Logger, old, sp *spec) {
	vips := e.in.d.vips
	follow(log, without(old.rules, sp.rules), vips.RemoveRules, "rule removed", "reload")
	follow(log, without(old.routes, sp.routes), vips.RemoveRoutes, "route removed", "reload")
	e.removeSets(log, missing(old.sets, sp.sets), "reload")
	added := e.addSets(log, missing(sp.sets, old.sets))
	follow(log, without(sp.routes, old.routes), vips.AddRoutes, "route added", "reload")
	follow(log, without(sp.rules, old.rules), vips.AddRules, "rule added", "reload")
	e.burst(log, added)
	for _, s := range added {
		for _, p := range s.vips {
			log.Info("VIP added", "vip", p, "interface", s.iface, "reason", "reload")
		}
	}
}

// missing returns the addresses of sets that are not in other with the same interface
// and options.
func missing(sets, other []addrSet) []addrSet {
	var out []addrSet
	for _, s := range sets {
		d := addrSet{iface: s.iface, opts: s.opts}
		for _, p := range s.vips {
			if !slices.ContainsFunc(other, func(o addrSet) bool {
				return o.iface == s.iface && o.opts == s.opts && slices.Contains(o.vips, p)
			}) {
				d.vips = append(d.vips, p)
			}
		}
		if len(d.vips) > 0 {
			out = append(out, d)
		}
	}
	return out
}

// follow adds or removes the routes or rules items with do, and logs each one done as msg.
func follow[T fmt.Stringer](log *slog.Logger, items []T, do func([]T) ([]T, error), msg, reason string) {
	if len(items) == 0 {
		return
	}
	done, err := do(items)
	if err != nil {
		log.Error(msg, "err", err)
	}
	for _, r := range done {
		log.Info(msg, "what", r.String(), "reason", reason)
	}
}

// without is the items of a that are not in b.
func without[T comparable](a, b []T) []T {
	return slices.DeleteFunc(slices.Clone(a), func(x T) bool { return slices.Contains(b, x) })
}

// addSets adds sets in order and returns what it added.
func (e *effects) addSets(log *slog.Logger, sets []addrSet) []addrSet {
	var out []addrSet
	for _, s := range sets {
		added, err := e.in.d.vips.AddWith(s.iface, s.vips, s.opts)
		if err != nil {
			log.Error("add VIPs", "interface", s.iface, "err", err)
		}
		if len(added) > 0 {
			out = append(out, addrSet{iface: s.iface, opts: s.opts, vips: added})
		}
	}
	return out
}

// removeSets removes sets in the reverse order of addSets; reason is logged when set.
func (e *effects) removeSets(log *slog.Logger, sets []addrSet, reason string) {
	for _, s := range slices.Backward(sets) {
		removed, err := e.in.d.vips.Remove(s.iface, s.vips)
		if err != nil {
			log.Error("remove VIPs", "interface", s.iface, "err", err)
		}
		for _, p := range removed {
			if reason != "" {
				log.Info("VIP removed", "vip", p, "interface", s.iface, "reason", reason)
			} else {
				log.Info("VIP removed", "vip", p, "interface", s.iface)
			}
		}
	}
}

// notify hands the transition to the hook runner, after the addresses have moved, so a
// notify_master script sees the VIP in place.
func (e *effects) notify(ef effect) {
	c := e.sp.cfg
	hooks := map[vrrp.State]string{vrrp.Master: c.NotifyMaster, vrrp.Backup: c.NotifyBackup, vrrp.Fault: c.NotifyFault, vrrp.Initialize: c.NotifyStop}
	prev := notifyState(ef.from)
	if ef.from == vrrp.Initialize {
		prev = "" // first state after start
	}
	e.in.d.notify.Submit(notify.Event{Kind: notify.Instance, Name: c.Name, State: notifyState(ef.to), PrevState: prev,
		Priority: int(ef.prio), VIPs: slices.Clone(e.sp.vips), VRID: c.VirtualRouterID, Interface: c.Interface,
		Hooks: notify.Hooks{Specific: hooks[ef.to], Generic: c.Notify}})
}

func (e *effects) burst(log *slog.Logger, sets []addrSet) {
	byIface := map[string][]netip.Addr{}
	var order []string
	for _, s := range sets {
		if _, ok := byIface[s.iface]; !ok {
			order = append(order, s.iface)
		}
		for _, p := range s.vips {
			byIface[s.iface] = append(byIface[s.iface], p.Addr())
		}
	}
	for _, ifname := range order {
		a := e.in.announcer
		if ifname != e.sp.vipIface {
			a = e.in.devAnnouncers[ifname]
		}
		if a == nil {
			continue
		}
		if e.in.six || slices.ContainsFunc(byIface[ifname], func(a netip.Addr) bool { return a.Is6() }) {
			a.SetRouter(e.in.naRouter(e.sp, log))
		}
		n, err := a.Burst(byIface[ifname], e.sp.cfg.GARPMasterRepeat)
		e.in.stats.garps.Add(uint64(n))
		if err != nil {
			log.Error("gratuitous ARP", "interface", ifname, "err", err, "sent", n)
		}
	}
}

// naRouter decides the Router flag of the instance's neighbour advertisements from
// na_router: "on", "off", or "auto", as the kernel does for its own addresses: set when
// the configured interface forwards (net.ipv6.conf.IF.forwarding). With use_vmac the
// vmac's forwarding is set to the flag, so the kernel's own NAs from the vmac (its answers
// to solicitations for the VIPs) carry it too; without use_vmac the kernel answers from
// the interface by that interface's forwarding, which hadirector leaves alone. Read at
// each burst, so a change of the sysctl shows in the next announcement. A flag that
// changes is logged once.
func (in *instance) naRouter(sp *spec, log *slog.Logger) bool {
	c := sp.cfg
	var r bool
	switch c.NARouter {
	case "on":
		r = true
	case "off":
	default:
		fwd, err := in.d.sysctls.IPv6Forwarding(c.Interface)
		if err != nil {
			log.Error("na_router auto", "err", err)
		}
		r = fwd
	}
	if c.UseVMAC {
		if cur, err := in.d.sysctls.IPv6Forwarding(sp.vipIface); err != nil || cur != r {
			if err := in.d.sysctls.SetIPv6Forwarding(sp.vipIface, r); err != nil {
				log.Error("vmac forwarding", "err", err)
			}
		}
	}
	if first := !in.routerSet.Swap(true); first || in.router.Swap(r) != r {
		in.router.Store(r)
		log.Info("neighbour advertisement router flag", "router", r, "na_router", c.NARouter, "interface", c.Interface)
	}
	return r
}

// reannounce sends one more burst after d. The lower master we answered may have sent its
// own gratuitous ARPs after ours, before our advert reached it; it yields on that advert
// and (see superseded) claims nothing after that, so a burst one advert interval later
// is the last word and the LAN points back at us.
func (e *effects) reannounce(ctx context.Context, d time.Duration) {
	t := e.in.d.clock.NewTimer(d)
	e.timers.Add(1)
	go func() {
		defer e.timers.Done()
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C():
			e.push(effect{kind: effAnnounce})
		}
	}()
}

// scheduleGARP repeats the burst after garp_master_delay and then every
// garp_master_refresh, until this mastership ends.
func (e *effects) scheduleGARP(ctx context.Context) {
	delay, refresh := e.sp.cfg.GARPMasterDelay.Std(), e.sp.cfg.GARPMasterRefresh.Std()
	if delay <= 0 && refresh <= 0 {
		return
	}
	gctx, cancel := context.WithCancel(ctx)
	e.cancelGARP = cancel
	first := delay
	if first <= 0 {
		first = refresh
	}
	t := e.in.d.clock.NewTimer(first)
	e.timers.Add(1)
	go func() {
		defer e.timers.Done()
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return
			case <-t.C():
			}
			e.push(effect{kind: effAnnounce})
			if refresh <= 0 {
				return
			}
			// A ticker's schedule: every refresh after the first repeat.
			t.Reset(refresh)
		}
	}()
}
