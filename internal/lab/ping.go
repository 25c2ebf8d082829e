package lab

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Ping sends one ICMP echo request from the host to dst and waits up to timeout for the
// reply (the machines have no ping binary, and this needs no process). A link-local IPv6
// dst needs its zone, e.g. fe80::1%eth0.
func (h *Host) Ping(dst netip.Addr, timeout time.Duration) error {
	if err := ping(h, dst, timeout); err != nil {
		return fmt.Errorf("lab: ping %s from %s: %w", dst, h.Name, err)
	}
	return nil
}

func ping(h *Host, dst netip.Addr, timeout time.Duration) error {
	network, laddr, proto := "ip4:icmp", "0.0.0.0", 1
	var typ, reply icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if dst.Is6() && !dst.Is4In6() {
		network, laddr, proto = "ip6:ipv6-icmp", "::", 58
		typ, reply = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	dst = dst.Unmap()
	var c *icmp.PacketConn
	zone := dst.Zone()
	err := h.Do(func() (err error) {
		// A zone name means an interface of the host; the runtime would look it up in
		// the caller's namespace, so hand it the index.
		if zone != "" {
			ifi, err := net.InterfaceByName(zone)
			if err != nil {
				return err
			}
			zone = strconv.Itoa(ifi.Index)
		}
		c, err = icmp.ListenPacket(network, laddr)
		return err
	})
	if err != nil {
		return err
	}
	defer c.Close()

	id, seq := rand.IntN(1<<16), rand.IntN(1<<16)
	payload := []byte("hadirector-lab")
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: payload}}
	b, err := msg.Marshal(nil) // ICMPv6: the kernel fills in the checksum on raw sockets
	if err != nil {
		return err
	}
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := c.WriteTo(b, &net.IPAddr{IP: dst.AsSlice(), Zone: zone}); err != nil {
		return err
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("no reply within %v", timeout)
			}
			return err
		}
		src, ok := netip.AddrFromSlice(from.(*net.IPAddr).IP)
		if !ok || src.Unmap() != dst.WithZone("") {
			continue
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || m.Type != reply {
			continue
		}
		if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id && e.Seq == seq && bytes.Equal(e.Data, payload) {
			return nil
		}
	}
}
