package vip

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NewManager returns a Manager that records its VIPs in stateFile (JSON, e.g.
// DefaultStateFile; created with its directory if missing) and changes addresses through
// netlink sockets opened now, in the calling thread's network namespace.
func NewManager(stateFile string, log *slog.Logger) (*Manager, error) {
	ops, err := newNetlinkOps()
	if err != nil {
		return nil, fmt.Errorf("vip: netlink: %w", err)
	}
	m, err := newManager(stateFile, log, ops)
	if err != nil {
		ops.close()
		return nil, err
	}
	ops.log = m.log
	return m, nil
}

type netlinkOps struct {
	h *netlink.Handle
	// rt is a second route socket for the one request netlink.Handle cannot make (setting
	// an IPv4 devconf value); a Handle's own sockets are not exported.
	rt  *nl.SocketHandle
	log *slog.Logger
	// promoted remembers the interfaces (by index) on which promote_secondaries is set.
	promoted map[int]bool
}

func newNetlinkOps() (*netlinkOps, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	s, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		h.Close()
		return nil, err
	}
	return &netlinkOps{h: h, rt: &nl.SocketHandle{Socket: s}, promoted: map[int]bool{}}, nil
}

func (o *netlinkOps) close() error {
	o.h.Close()
	o.rt.Close()
	return nil
}

func (o *netlinkOps) link(ifname string) (netlink.Link, error) {
	l, err := o.h.LinkByName(ifname)
	if _, ok := errors.AsType[netlink.LinkNotFoundError](err); ok {
		return nil, errNoInterface
	}
	return l, err
}

func (o *netlinkOps) list(ifname string) ([]netip.Prefix, error) {
	l, err := o.link(ifname)
	if err != nil {
		return nil, err
	}
	addrs, err := o.h.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Prefix, 0, len(addrs))
	for _, a := range addrs {
		if p, ok := toPrefix(a.IPNet); ok {
			out = append(out, p)
		}
	}
	return out, nil
}

func (o *netlinkOps) add(ifname string, p netip.Prefix, opts AddrOptions) error {
	l, err := o.link(ifname)
	if err != nil {
		return err
	}
	a := &netlink.Addr{IPNet: toIPNet(p), Label: opts.Label, Scope: int(opts.Scope)}
	if opts.Broadcast.IsValid() {
		a.Broadcast = opts.Broadcast.AsSlice()
	}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	} else {
		o.promoteSecondaries(l)
	}
	err = o.h.AddrAdd(l, a)
	if errors.Is(err, unix.EEXIST) {
		return errExists
	}
	return err
}

func (o *netlinkOps) del(ifname string, p netip.Prefix) error {
	l, err := o.link(ifname)
	if errors.Is(err, errNoInterface) {
		return nil
	}
	if err != nil {
		return err
	}
	err = o.h.AddrDel(l, &netlink.Addr{IPNet: toIPNet(p)})
	if errors.Is(err, unix.EADDRNOTAVAIL) {
		return nil
	}
	return err
}

// ipv4DevconfPromoteSecondaries is IPV4_DEVCONF_PROMOTE_SECONDARIES from linux/ip.h.
const ipv4DevconfPromoteSecondaries = 20

// promoteSecondaries sets net.ipv4.conf.<ifname>.promote_secondaries, as keepalived does
// on interfaces that carry VIPs. Without it, deleting the primary address of a subnet (a
// VIP that happened to be first, or the interface's own address being renumbered) silently
// deletes every secondary address of that subnet: the other VIPs. It is done through
// netlink rather than /proc/sys so that it acts in the Manager's namespace, not the
// calling thread's. A failure is logged, not returned: the VIP is still worth adding.
func (o *netlinkOps) promoteSecondaries(l netlink.Link) {
	idx := l.Attrs().Index
	if o.promoted[idx] {
		return
	}
	req := &nl.NetlinkRequest{
		NlMsghdr: unix.NlMsghdr{
			Len:   unix.SizeofNlMsghdr,
			Type:  unix.RTM_SETLINK,
			Flags: unix.NLM_F_REQUEST | unix.NLM_F_ACK,
		},
		Sockets: map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: o.rt},
	}
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(idx)
	req.AddData(msg)
	spec := nl.NewRtAttr(unix.IFLA_AF_SPEC, nil)
	spec.AddRtAttr(unix.AF_INET, nil).
		AddRtAttr(unix.IFLA_INET_CONF, nil).
		AddRtAttr(ipv4DevconfPromoteSecondaries, nl.Uint32Attr(1))
	req.AddData(spec)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		if o.log != nil {
			o.log.Warn("cannot set promote_secondaries; removing a primary address will also remove the VIPs of its subnet",
				"interface", l.Attrs().Name, "err", err)
		}
		return
	}
	o.promoted[idx] = true
}

func toIPNet(p netip.Prefix) *net.IPNet {
	a := p.Addr()
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(p.Bits(), a.BitLen())}
}

func toPrefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	ones, bits := n.Mask.Size()
	if bits != a.BitLen() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones), true
}

// routeTypes are the route types by name (rtnetlink's RTN_*).
var routeTypes = map[string]int{"": unix.RTN_UNICAST, "blackhole": unix.RTN_BLACKHOLE, "unreachable": unix.RTN_UNREACHABLE, "prohibit": unix.RTN_PROHIBIT}

func (o *netlinkOps) route(r Route) (*netlink.Route, error) {
	nr := &netlink.Route{Dst: toIPNet(r.Dst), Table: r.Table, Priority: r.Metric, Type: routeTypes[r.Type]}
	if r.Via.IsValid() {
		nr.Gw = r.Via.AsSlice()
	}
	if r.Src.IsValid() {
		nr.Src = r.Src.AsSlice()
	}
	if r.Dev != "" {
		l, err := o.link(r.Dev)
		if err != nil {
			return nil, err
		}
		nr.LinkIndex = l.Attrs().Index
	}
	return nr, nil
}

func (o *netlinkOps) routeAdd(r Route) error {
	nr, err := o.route(r)
	if err != nil {
		return err
	}
	err = o.h.RouteAdd(nr)
	if errors.Is(err, unix.EEXIST) {
		return errRouteExists
	}
	return err
}

func (o *netlinkOps) routeDel(r Route) error {
	nr, err := o.route(r)
	if errors.Is(err, errNoInterface) {
		return nil // its routes went with the interface
	}
	if err != nil {
		return err
	}
	err = o.h.RouteDel(nr)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	return err
}

func (o *netlinkOps) rule(r Rule) *netlink.Rule {
	nr := netlink.NewRule()
	nr.Family = unix.AF_INET
	if r.IPv6 {
		nr.Family = unix.AF_INET6
	}
	if r.From.IsValid() {
		nr.Src = toIPNet(r.From)
	}
	if r.To.IsValid() {
		nr.Dst = toIPNet(r.To)
	}
	nr.IifName, nr.OifName, nr.Table = r.IIF, r.OIF, r.Table
	if r.Priority != 0 {
		nr.Priority = r.Priority
	}
	if r.Fwmark != 0 {
		nr.Mark = r.Fwmark
	}
	return nr
}

func (o *netlinkOps) ruleAdd(r Rule) error {
	err := o.h.RuleAdd(o.rule(r))
	if errors.Is(err, unix.EEXIST) {
		return errRouteExists
	}
	return err
}

func (o *netlinkOps) ruleDel(r Rule) error {
	err := o.h.RuleDel(o.rule(r))
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}
