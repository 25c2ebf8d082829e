package director

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/hadirector/hadirector/bgp"
	"github.com/hadirector/hadirector/healthcheck"
	"github.com/hadirector/hadirector/lvs"
	"github.com/hadirector/hadirector/notify"
	"github.com/hadirector/hadirector/vip"
	"github.com/hadirector/hadirector/vrrp"
)

// The director reaches the host, the hooks and time only through these interfaces, each
// just what it calls. Options leaves them nil for the Linux implementations (host_linux.go);
// the tests give in-memory fakes that record what they were asked, in order.

// Transport opens the VRRP sockets: one per interface and family, joined to the group.
type Transport interface {
	Listen(ifname string, ipv6 bool) (Conn, error)
}

// Conn is one VRRP socket (*vrrp.Conn).
type Conn interface {
	Send(*vrrp.Advert) error
	// Read blocks for the next packet; vrrp.ErrOtherInterface for one from elsewhere.
	Read(buf []byte) (vrrp.Packet, error)
	Close() error
	Interface() *net.Interface
}

// Addresses adds and removes the VIPs (*vip.Manager).
type Addresses interface {
	AddWith(ifname string, vips []netip.Prefix, o vip.AddrOptions) (added []netip.Prefix, err error)
	// AddRoutes and RemoveRoutes handle virtual_routes; RemoveRoutes touches only the
	// routes recorded as ours, so it is also the crash clean-up.
	AddRoutes(routes []vip.Route) (added []vip.Route, err error)
	RemoveRoutes(routes []vip.Route) (removed []vip.Route, err error)
	// AddRules and RemoveRules are the same for virtual_rules.
	AddRules(rules []vip.Rule) (added []vip.Rule, err error)
	RemoveRules(rules []vip.Rule) (removed []vip.Rule, err error)
	Remove(ifname string, vips []netip.Prefix) (removed []netip.Prefix, err error)
	// CleanupStale removes what an earlier run left of vips (all but the owner's).
	CleanupStale(ifname string, vips []netip.Prefix, owner bool) (removed []netip.Prefix, err error)
	Close() error
}

// Announcers makes the gratuitous ARP / unsolicited NA senders of the instances.
type Announcers interface {
	NewAnnouncer(ifname string, mac net.HardwareAddr, log *slog.Logger) (Announcer, error)
}

// Announcer is one interface's GARP/NA sender (*vip.Announcer).
type Announcer interface {
	Burst(vips []netip.Addr, repeat int) (sent int, err error)
	SetRouter(on bool)
	Close() error
}

// Interfaces is what the director asks of the host's interfaces: their addresses (the
// advert source), the vmacs of use_vmac, and link state.
type Interfaces interface {
	Addrs(ifname string) ([]netip.Addr, error)
	EnsureVMAC(s vip.VMACSpec, log *slog.Logger) error
	LinkUp(ifname string) (bool, error)
	// WatchLinks subscribes to link changes; run delivers them to changed until ctx
	// ends, and the caller runs it on a goroutine of its own.
	WatchLinks(ctx context.Context, changed func(ifname string, up bool), failed func(error)) (run func(), err error)
	// WatchAddrs subscribes to address deletions; run delivers them to removed until ctx
	// ends.
	WatchAddrs(ctx context.Context, removed func(ifname string, p netip.Prefix), failed func(error)) (run func(), err error)
}

// IPVS opens the kernel's IPVS table.
type IPVS interface {
	OpenIPVS() (lvs.Kernel, error)
}

// Sysctls writes the kernel settings: the master's LVS settings and IPv6 forwarding of
// the interfaces (the NAs' Router flag).
type Sysctls interface {
	ApplySysctls(want []lvs.Sysctl) ([]lvs.SysctlChange, error)
	IPv6Forwarding(ifname string) (bool, error)
	SetIPv6Forwarding(ifname string, on bool) error
}

// Hooks runs the notify scripts (*notify.Runner).
type Hooks interface {
	Submit(notify.Event)
	Run(ctx context.Context) error
	Drain(ctx context.Context) error
	Stats() notify.Stats
	ResolveUser() error
}

// Monitors makes the real servers' health monitor.
type Monitors interface {
	NewMonitor(healthcheck.Options) Monitor
}

// Monitor is the health monitor (*healthcheck.Monitor).
type Monitor interface {
	Set([]healthcheck.Target) error
	Run(ctx context.Context) error
	Up(healthcheck.ID) (up, known bool)
	Stats(healthcheck.ID) (healthcheck.Stats, bool)
}

// BGPSpeakers starts the BGP speaker of a [bgp] configuration (the embedded GoBGP).
type BGPSpeakers interface {
	StartSpeaker(bgp.Spec, *slog.Logger) (BGPSpeaker, error)
}

// BGPSpeaker announces and withdraws the VIPs (*bgp.Speaker).
type BGPSpeaker interface {
	Announce(bgp.Route) error
	Withdraw(netip.Prefix) error
	Peers() []bgp.PeerStatus
	Counters() bgp.Counters
	// Stop closes the sessions with a Cease.
	Stop() error
}

// Clock is the director's time: the loop's deadlines, the workers' timers and the
// rate-limited logs.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer the director uses.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
	Reset(d time.Duration) bool
}

// sleep waits for d on c, or until ctx ends.
func sleep(ctx context.Context, c Clock, d time.Duration) {
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C():
	}
}
