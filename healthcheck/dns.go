package healthcheck

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// DNS sends one query to Addr over UDP and passes when the answer to it (same ID, a
// response) has rcode NOERROR and a non-empty answer section that, when ExpectAddr is set,
// holds that address (keepalived's DNS_CHECK, stricter: README.md, "DNS").
type DNS struct {
	Addr netip.AddrPort
	// BindTo, when valid, is the source address (bindto).
	BindTo netip.Addr
	// Type (type) is the query type, e.g. dns.TypeA; 0 means SOA, keepalived's default.
	// DNSType reads keepalived's names.
	Type uint16
	// Name (name) is the name queried; "" means the root, keepalived's default.
	Name string
	// ExpectAddr, when valid, must be the address of an A or AAAA record of the answer.
	ExpectAddr netip.Addr
	// Timeout bounds the wait for the answer; 0 leaves it to the context.
	Timeout time.Duration

	// query is the last query packed, for the next check to patch its ID into rather than
	// pack again.
	query atomic.Pointer[dnsQuery]
}

// dnsQuery is a packed query for a name and type, with ID 0.
type dnsQuery struct {
	name string
	typ  uint16
	msg  []byte
	err  error
}

// Check sends the query once and waits for the answer.
func (c *DNS) Check(ctx context.Context) error {
	ctx, cancel := withTimeout(ctx, c.Timeout)
	defer cancel()
	p := c.probe()
	return p.failure(runExchange(ctx, c.Addr, c.BindTo, p.x), c.Timeout)
}

func (c *DNS) String() string { return "dns " + c.Addr.String() + " " + c.question() }

func (c *DNS) probe() probe {
	return probe{check: "dns", addr: c.Addr, bindTo: c.BindTo, timeout: c.Timeout, x: newDNSExchange(c, uint16(rand.Uint32()))}
}

func (c *DNS) qtype() uint16 {
	if c.Type == 0 {
		return dns.TypeSOA
	}
	return c.Type
}

func (c *DNS) question() string {
	return dns.Fqdn(c.Name) + " " + dns.TypeToString[c.qtype()]
}

// dnsExchange is one query and the judgement of the replies to it.
type dnsExchange struct {
	c   *DNS
	id  uint16
	msg []byte
	err error // packing the query failed (a bad name)
}

// newDNSExchange makes c's query with ID id. The query is packed once for each name and
// type and copied for each check with its ID, which saves most of a check's allocations.
func newDNSExchange(c *DNS, id uint16) *dnsExchange {
	q := c.query.Load()
	if q == nil || q.name != c.Name || q.typ != c.qtype() {
		q = &dnsQuery{name: c.Name, typ: c.qtype()}
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(c.Name), q.typ)
		m.RecursionDesired = true // as keepalived sends it
		q.msg, q.err = m.Pack()
		c.query.Store(q)
	}
	x := &dnsExchange{c: c, id: id, err: q.err}
	if q.err == nil {
		x.msg = slices.Clone(q.msg)
		binary.BigEndian.PutUint16(x.msg, id)
	}
	return x
}

func (x *dnsExchange) request() ([]byte, error) {
	if x.err != nil {
		return nil, &Error{Check: "dns", Target: x.c.Addr.String(), Step: "query", Reason: ReasonOther, Detail: x.c.question() + ": " + x.err.Error(), Err: x.err}
	}
	return x.msg, nil
}

func (x *dnsExchange) fail(reason Reason, detail string, err error) error {
	return &Error{Check: "dns", Target: x.c.Addr.String(), Step: "answer", Reason: reason, Detail: x.c.question() + ": " + detail, Err: err}
}

// reply judges a datagram from the server. Like keepalived, it ignores what cannot be the
// answer to this query — shorter than a header, another ID, not a response — and waits on.
func (x *dnsExchange) reply(b []byte) (bool, error) {
	const headerLen = 12
	if len(b) < headerLen || binary.BigEndian.Uint16(b) != x.id || b[2]&0x80 == 0 {
		return false, nil
	}
	// The rcode is read from the header first: an error answer fails for its rcode even
	// when the rest does not parse.
	if rc := int(b[3] & 0x0f); rc != dns.RcodeSuccess {
		return true, x.fail(ReasonStatus, "rcode "+rcodeName(rc), nil)
	}
	var m dns.Msg
	if err := m.Unpack(b); err != nil {
		return true, x.fail(ReasonProtocol, "malformed answer: "+err.Error(), err)
	}
	if len(m.Answer) == 0 {
		return true, x.fail(ReasonBody, "empty answer section", nil)
	}
	if !x.c.ExpectAddr.IsValid() {
		return true, nil
	}
	for _, rr := range m.Answer {
		var ip []byte
		switch rr := rr.(type) {
		case *dns.A:
			ip = rr.A
		case *dns.AAAA:
			ip = rr.AAAA
		}
		if a, ok := netip.AddrFromSlice(ip); ok && a.Unmap() == x.c.ExpectAddr.Unmap() {
			return true, nil
		}
	}
	return true, x.fail(ReasonBody, fmt.Sprintf("%s not in the %d answer records", x.c.ExpectAddr, len(m.Answer)), nil)
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprint(rc)
}

func (x *dnsExchange) silence() error {
	return &Error{Check: "dns", Target: x.c.Addr.String(), Step: "answer", Reason: ReasonTimeout, Detail: x.c.question() + ": no answer in time"}
}
