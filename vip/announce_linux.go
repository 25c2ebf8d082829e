package vip

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"syscall"

	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
)

// Announcer sends gratuitous ARPs (IPv4 VIPs) and unsolicited neighbour advertisements
// (IPv6 VIPs) on one interface. It is safe for concurrent use.
//
// Both sockets are opened once, in NewAnnouncer, so that a Burst on failover costs no
// setup: the first frame leaves a few microseconds after the call. They are raw AF_PACKET
// sockets (mdlayher/packet, the socket mdlayher/arp itself uses) on which we write whole
// Ethernet frames. Unlike arp.Dial they need no IPv4 address on the interface (a VMAC
// interface normally has none until it holds the VIP), and they let the Ethernet source be
// any MAC (the virtual MAC with use_vmac).
//
// An Announcer is bound to the interface index it was created with: if the interface is
// deleted and created again, make a new Announcer.
type Announcer struct {
	ifname string
	mac    net.HardwareAddr
	log    *slog.Logger
	arp    *packet.Conn // bound to EtherType ARP
	ip6    *packet.Conn // bound to EtherType IPv6
	dstARP *packet.Addr
	dstNA  *packet.Addr
	router atomic.Bool // the NAs' Router flag
}

// NewAnnouncer opens the sockets for announcing VIPs on ifname. mac is the address to
// announce (the Ethernet source and the ARP sender / NA target link-layer address): nil
// means the interface's own MAC; with use_vmac it is the virtual MAC.
func NewAnnouncer(ifname string, mac net.HardwareAddr, log *slog.Logger) (*Announcer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("vip: announcer on %s: %w", ifname, err)
	}
	if mac == nil {
		mac = ifi.HardwareAddr
	}
	if len(mac) != 6 {
		return nil, fmt.Errorf("vip: announcer on %s: %w: %q", ifname, ErrBadMAC, mac)
	}
	// We only send. Binding to a protocol would otherwise queue every ARP and IPv6 frame
	// the interface receives on sockets nobody reads; the filter drops them in the kernel,
	// and is attached before bind so not one frame is queued.
	dropAll, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	if err != nil {
		return nil, fmt.Errorf("vip: announcer on %s: %w", ifname, err)
	}
	cfg := &packet.Config{Filter: dropAll}
	a := &Announcer{
		ifname: ifname,
		mac:    slices.Clone(mac),
		log:    log,
		dstARP: &packet.Addr{HardwareAddr: ethBroadcast},
		dstNA:  &packet.Addr{HardwareAddr: allNodesMAC},
	}
	if a.arp, err = packet.Listen(ifi, packet.Raw, etherTypeARP, cfg); err != nil {
		return nil, fmt.Errorf("vip: announcer on %s: ARP socket: %w", ifname, err)
	}
	if a.ip6, err = packet.Listen(ifi, packet.Raw, etherTypeIPv6, cfg); err != nil {
		a.arp.Close()
		return nil, fmt.Errorf("vip: announcer on %s: IPv6 socket: %w", ifname, err)
	}
	return a, nil
}

// MAC is the hardware address this Announcer announces.
func (a *Announcer) MAC() net.HardwareAddr { return slices.Clone(a.mac) }

// Burst announces every VIP repeat times, round by round (vip1, vip2, …, vip1, vip2, …)
// and back to back, as keepalived does with its default vrrp_garp_interval of 0. A VIP
// that fails does not stop the others; sent counts the frames the kernel accepted and err
// joins the first error of each failing VIP. Spacing bursts (garp_master_delay,
// garp_master_refresh) is the caller's job.
func (a *Announcer) Burst(vips []netip.Addr, repeat int) (sent int, err error) {
	if repeat <= 0 || len(vips) == 0 {
		return 0, nil
	}
	frames := make([][]byte, len(vips))
	errs := make([]error, len(vips))
	for round := range repeat {
		for i, v := range vips {
			if round == 0 {
				// Built as we go, so the first frame does not wait for the others.
				f, ferr := announceFrame(a.mac, v, a.router.Load())
				if ferr != nil {
					errs[i] = fmt.Errorf("vip: announce %s on %s: %w", v, a.ifname, ferr)
				}
				frames[i] = f
			}
			if frames[i] == nil {
				continue
			}
			conn, dst := a.arp, a.dstARP
			if v.Unmap().Is6() {
				conn, dst = a.ip6, a.dstNA
			}
			_, werr := conn.WriteTo(frames[i], dst)
			if errors.Is(werr, syscall.ENETDOWN) {
				// A packet socket reports a link that went down once, at the next send,
				// even when the link is back up by now: that frame is sent again.
				_, werr = conn.WriteTo(frames[i], dst)
			}
			if werr != nil {
				if errs[i] == nil {
					errs[i] = fmt.Errorf("vip: announce %s on %s: %w", v, a.ifname, werr)
				}
				continue
			}
			sent++
		}
	}
	a.log.Debug("announced VIPs", "interface", a.ifname, "vips", len(vips), "repeat", repeat, "sent", sent)
	return sent, errors.Join(errs...)
}

// SetRouter sets the Router flag of the neighbour advertisements of later bursts (off
// until set): on when this node routes for the link, see announce.go.
func (a *Announcer) SetRouter(on bool) { a.router.Store(on) }

// Close closes the sockets.
func (a *Announcer) Close() error {
	return errors.Join(a.arp.Close(), a.ip6.Close())
}
