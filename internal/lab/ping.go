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

// Ping sends ICMP echo requests from the host to dst, one every 200 ms, until a reply
// arrives (nil) or timeout passes (an error). The machines have no ping binary, and this
// needs no process. A link-local IPv6 dst needs its zone, e.g. fe80::1%eth0.
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

	// Like ping -i 0.2 -w timeout: a request lost while a link or a neighbour entry settles
	// must not fail the whole wait.
	id, seq0 := rand.IntN(1<<16), rand.IntN(1<<16)
	payload := []byte("hadirector-lab")
	to := &net.IPAddr{IP: dst.AsSlice(), Zone: zone}
	deadline := time.Now().Add(timeout)
	sent := 0
	send := func() error {
		msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: (seq0 + sent) & 0xffff, Data: payload}}
		b, err := msg.Marshal(nil) // ICMPv6: the kernel fills in the checksum on raw sockets
		if err != nil {
			return err
		}
		sent++
		_, err = c.WriteTo(b, to)
		return err
	}
	buf := make([]byte, 1500)
	var lastErr error
	for time.Now().Before(deadline) {
		// A send error (no route while a link is down) is retried like a lost request.
		if lastErr = send(); lastErr == nil {
			lastErr = fmt.Errorf("no reply within %v", timeout)
		}
		next := time.Now().Add(resend)
		if next.After(deadline) {
			next = deadline
		}
		if err := c.SetReadDeadline(next); err != nil {
			return err
		}
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
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
			e, ok := m.Body.(*icmp.Echo)
			if ok && e.ID == id && (e.Seq-seq0)&0xffff < sent && bytes.Equal(e.Data, payload) {
				return nil
			}
		}
	}
	return lastErr
}

// resend is the interval between echo requests of one Ping.
const resend = 200 * time.Millisecond
