package healthcheck

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// UDP sends one datagram to Addr and judges the answer (keepalived's UDP_CHECK). Without
// RequireReply the check passes unless the socket reports an error before Timeout: an ICMP
// port (or host, network) unreachable makes the kernel refuse the connected socket, and a
// silent port is up. With RequireReply a reply must arrive in time, and, when Reply is set,
// match it.
type UDP struct {
	Addr netip.AddrPort
	// BindTo, when valid, is the source address (bindto).
	BindTo netip.Addr
	// Payload is the datagram sent (payload, hex in keepalived). Nil sends keepalived's
	// default: 32 bytes of "keepalived check - " repeated.
	Payload []byte
	// RequireReply (require_reply) fails the check when no reply arrives in time.
	RequireReply bool
	// Reply (require_reply's hex bytes), when set, must match the reply as keepalived
	// compares: the first min(len(reply), len(Reply)) bytes, ignoring the bits set in
	// ReplyMask (the nibbles written x in keepalived's hex; nil: none), and the reply's
	// length must lie in [MinReply, MaxReply].
	Reply, ReplyMask []byte
	// MinReply and MaxReply (min_reply_length, max_reply_length) bound the reply's length
	// when Reply is set; MaxReply 0 means 255, keepalived's default.
	MinReply, MaxReply int
	// Timeout bounds the wait for a reply; 0 leaves it to the context.
	Timeout time.Duration
}

// defaultUDPPayload is what keepalived sends when UDP_CHECK has no payload.
var defaultUDPPayload = []byte(strings.Repeat("keepalived check - ", 2)[:32])

// Check sends the payload once and waits for the verdict.
func (c *UDP) Check(ctx context.Context) error {
	ctx, cancel := withTimeout(ctx, c.Timeout)
	defer cancel()
	return c.probe().failure(runExchange(ctx, c.Addr, c.BindTo, c), c.Timeout)
}

func (c *UDP) String() string { return "udp " + c.Addr.String() }

func (c *UDP) probe() probe {
	return probe{check: "udp", addr: c.Addr, bindTo: c.BindTo, timeout: c.Timeout, x: c}
}

func (c *UDP) request() ([]byte, error) {
	if c.Payload == nil {
		return defaultUDPPayload, nil
	}
	return c.Payload, nil
}

func (c *UDP) reply(b []byte) (bool, error) {
	if c.Reply == nil {
		return true, nil
	}
	maxLen := c.MaxReply
	if maxLen == 0 {
		maxLen = 255
	}
	if len(b) < c.MinReply || len(b) > maxLen {
		return true, c.mismatch(fmt.Sprintf("reply of %d bytes, want %d to %d", len(b), c.MinReply, maxLen))
	}
	for i := range min(len(b), len(c.Reply)) {
		var mask byte
		if i < len(c.ReplyMask) {
			mask = c.ReplyMask[i]
		}
		if (b[i]^c.Reply[i])&^mask != 0 {
			return true, c.mismatch(fmt.Sprintf("reply byte %d is %#02x, want %#02x", i, b[i], c.Reply[i]))
		}
	}
	return true, nil
}

func (c *UDP) mismatch(detail string) error {
	return &Error{Check: "udp", Target: c.Addr.String(), Step: "reply", Reason: ReasonBody, Detail: detail}
}

func (c *UDP) silence() error {
	if !c.RequireReply {
		return nil
	}
	return &Error{Check: "udp", Target: c.Addr.String(), Step: "reply", Reason: ReasonTimeout, Detail: "no reply in time"}
}
