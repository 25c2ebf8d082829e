package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// TOS is the IPv4 TOS / IPv6 traffic class of adverts: DSCP CS6 (network control), as
// keepalived sends them.
const TOS = 0xc0

// Conn is a raw IP protocol 112 socket on one interface and address family, shared by
// every instance on that interface. It joins the VRRP group on that interface only, sends
// with TTL / hop limit 255 and multicast loop off, and reports the interface, TTL and
// destination of every packet it receives.
type Conn struct {
	ifi  *net.Interface
	six  bool
	v4   *ipv4.RawConn
	v6   *ipv6.PacketConn
	pc   net.PacketConn
	ipID atomic.Uint32
}

// Listen opens the socket for ifname. join selects multicast mode (join 224.0.0.18 or
// ff02::12 on this interface); unicast-only instances need not join.
func Listen(ifname string, ipv6Family, join bool) (*Conn, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("vrrp: interface %s: %w", ifname, err)
	}
	c := &Conn{ifi: ifi, six: ipv6Family}
	network, laddr := "ip4:112", "0.0.0.0"
	if ipv6Family {
		network, laddr = "ip6:112", "::"
	}
	c.pc, err = net.ListenPacket(network, laddr)
	if err != nil {
		return nil, fmt.Errorf("vrrp: raw socket on %s: %w", ifname, err)
	}
	if err := c.setup(join); err != nil {
		c.pc.Close()
		return nil, fmt.Errorf("vrrp: socket on %s: %w", ifname, err)
	}
	return c, nil
}

func (c *Conn) setup(join bool) error {
	// Bind to the device: a raw socket otherwise sees protocol 112 from every interface.
	// The IfIndex check on receipt stays as a second line.
	sc, err := c.pc.(*net.IPConn).SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := sc.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, c.ifi.Name)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("SO_BINDTODEVICE: %w", serr)
	}
	if c.six {
		p := ipv6.NewPacketConn(c.pc)
		c.v6 = p
		for _, f := range []func() error{
			// The kernel fills the checksum at offset 6 over the real pseudo-header.
			func() error { return p.SetChecksum(true, 6) },
			func() error { return p.SetMulticastHopLimit(255) },
			func() error { return p.SetHopLimit(255) },
			func() error { return p.SetMulticastLoopback(false) },
			func() error { return p.SetMulticastInterface(c.ifi) },
			func() error { return p.SetTrafficClass(TOS) },
			func() error {
				return p.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagSrc|ipv6.FlagInterface, true)
			},
		} {
			if err := f(); err != nil {
				return err
			}
		}
		if join {
			return p.JoinGroup(c.ifi, &net.IPAddr{IP: GroupV6.AsSlice()})
		}
		return nil
	}
	r, err := ipv4.NewRawConn(c.pc)
	if err != nil {
		return err
	}
	c.v4 = r
	for _, f := range []func() error{
		// With our own header (IP_HDRINCL) the TTL is in the header; the multicast TTL is
		// set too so nothing falls back to the default of 1.
		func() error { return r.SetMulticastTTL(255) },
		func() error { return r.SetMulticastLoopback(false) },
		func() error { return r.SetMulticastInterface(c.ifi) },
		func() error { return r.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true) },
	} {
		if err := f(); err != nil {
			return err
		}
	}
	if join {
		return r.JoinGroup(c.ifi, &net.IPAddr{IP: GroupV4.AsSlice()})
	}
	return nil
}

// Interface is the interface the socket is bound to.
func (c *Conn) Interface() *net.Interface { return c.ifi }

// Close closes the socket; a blocked Read returns.
func (c *Conn) Close() error { return c.pc.Close() }

// Send encodes a (whose Src and Dst must be set: Src is pinned as the packet's source
// because the v3 checksum covers it) and sends it to a.Dst.
func (c *Conn) Send(a *Advert) error {
	b, err := a.MarshalBinary()
	if err != nil {
		return err
	}
	if c.six {
		cm := &ipv6.ControlMessage{Src: a.Src.AsSlice(), IfIndex: c.ifi.Index, HopLimit: 255, TrafficClass: TOS}
		_, err = c.v6.WriteTo(b, cm, &net.IPAddr{IP: a.Dst.AsSlice(), Zone: c.ifi.Name})
	} else {
		// keepalived's header: TOS CS6, TTL 255, no options, no DF, an ID counter that
		// starts at 1 and is never 0 (the kernel would replace a 0): 1, 2, … 65535, 1, …
		id := int((c.ipID.Add(1)-1)%0xffff) + 1
		h := &ipv4.Header{Version: 4, Len: ipv4.HeaderLen, TOS: TOS, TotalLen: ipv4.HeaderLen + len(b),
			ID: id, TTL: 255, Protocol: Protocol, Src: a.Src.AsSlice(), Dst: a.Dst.AsSlice()}
		err = c.v4.WriteTo(h, b, &ipv4.ControlMessage{IfIndex: c.ifi.Index})
	}
	if err != nil {
		return fmt.Errorf("vrrp: send on %s to %v: %w", c.ifi.Name, a.Dst, err)
	}
	return nil
}

// ErrOtherInterface is returned by Read for a packet that arrived on another interface.
var ErrOtherInterface = errors.New("vrrp: packet from another interface")

// Read blocks for the next packet. buf must hold a whole packet (use 1500+).
func (c *Conn) Read(buf []byte) (Packet, error) {
	if c.six {
		n, cm, src, err := c.v6.ReadFrom(buf)
		if err != nil {
			return Packet{}, err
		}
		p := Packet{Payload: buf[:n]}
		if ip, ok := src.(*net.IPAddr); ok {
			p.Src, _ = netip.AddrFromSlice(ip.IP)
		}
		if cm != nil {
			p.TTL = cm.HopLimit
			p.Dst, _ = netip.AddrFromSlice(cm.Dst)
			if cm.IfIndex != c.ifi.Index {
				return p, ErrOtherInterface
			}
		}
		p.Src, p.Dst = p.Src.WithZone(""), p.Dst.WithZone("")
		return p, nil
	}
	h, payload, cm, err := c.v4.ReadFrom(buf)
	if err != nil {
		return Packet{}, err
	}
	p := Packet{Payload: payload, TTL: h.TTL}
	p.Src, _ = netip.AddrFromSlice(h.Src.To4())
	p.Dst, _ = netip.AddrFromSlice(h.Dst.To4())
	if cm != nil && cm.IfIndex != c.ifi.Index {
		return p, ErrOtherInterface
	}
	return p, nil
}
