package director

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/hadirector/hadirector/healthcheck"
	"github.com/hadirector/hadirector/lvs"
	"github.com/hadirector/hadirector/vip"
	"github.com/hadirector/hadirector/vrrp"
)

// linuxHost is the host the director runs on: raw sockets, netlink, /proc/sys.
type linuxHost struct{}

func (linuxHost) Listen(ifname string, ipv6 bool) (Conn, error) {
	c, err := vrrp.Listen(ifname, ipv6, true)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (linuxHost) NewAnnouncer(ifname string, mac net.HardwareAddr, log *slog.Logger) (Announcer, error) {
	a, err := vip.NewAnnouncer(ifname, mac, log)
	if err != nil {
		return nil, err
	}
	return a, nil
}

func (linuxHost) Addrs(ifname string) ([]netip.Addr, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out, nil
}

func (linuxHost) EnsureVMAC(s vip.VMACSpec, log *slog.Logger) error {
	_, err := vip.EnsureVMAC(s, log)
	return err
}

func linkUp(l netlink.Link) bool {
	a := l.Attrs()
	return a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0
}

func (linuxHost) LinkUp(ifname string) (bool, error) {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return false, err
	}
	return linkUp(l), nil
}

func (linuxHost) WatchLinks(ctx context.Context, changed func(string, bool), failed func(error)) (func(), error) {
	ch := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	err := netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{ErrorCallback: failed})
	if err != nil {
		return nil, err
	}
	return func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case u, ok := <-ch:
				if !ok {
					return
				}
				up := linkUp(u.Link) && u.Header.Type != unix.RTM_DELLINK
				changed(u.Attrs().Name, up)
			}
		}
	}, nil
}

func (linuxHost) WatchAddrs(ctx context.Context, removed func(string, netip.Prefix), failed func(error)) (func(), error) {
	ch := make(chan netlink.AddrUpdate, 64)
	done := make(chan struct{})
	err := netlink.AddrSubscribeWithOptions(ch, done, netlink.AddrSubscribeOptions{ErrorCallback: failed})
	if err != nil {
		return nil, err
	}
	return func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case u, ok := <-ch:
				if !ok {
					return
				}
				if u.NewAddr {
					continue
				}
				ifi, err := net.InterfaceByIndex(u.LinkIndex)
				a, ok := netip.AddrFromSlice(u.LinkAddress.IP)
				if err != nil || !ok {
					continue // the interface went with the address
				}
				ones, _ := u.LinkAddress.Mask.Size()
				removed(ifi.Name, netip.PrefixFrom(a.Unmap(), ones))
			}
		}
	}, nil
}

func (linuxHost) OpenIPVS() (lvs.Kernel, error) {
	k, err := lvs.OpenIPVS(lvs.IPVSOptions{})
	if err != nil {
		return nil, err
	}
	return k, nil
}

func (linuxHost) ApplySysctls(want []lvs.Sysctl) ([]lvs.SysctlChange, error) {
	return lvs.ApplySysctls("", want)
}

func (linuxHost) IPv6Forwarding(ifname string) (bool, error) { return vip.IPv6Forwarding(ifname) }

func (linuxHost) SetIPv6Forwarding(ifname string, on bool) error {
	return vip.SetIPv6Forwarding(ifname, on)
}

func (linuxHost) NewMonitor(o healthcheck.Options) Monitor { return healthcheck.NewMonitor(o) }

// systemClock is the real clock.
type systemClock struct{}

func (systemClock) Now() time.Time                 { return time.Now() }
func (systemClock) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

type sysTimer struct{ t *time.Timer }

func (t sysTimer) C() <-chan time.Time        { return t.t.C }
func (t sysTimer) Stop() bool                 { return t.t.Stop() }
func (t sysTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }
