package lvs

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Family is a service's address family.
type Family uint8

const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// Bits is the length of the family's addresses: the default (single-client)
// persistence netmask.
func (f Family) Bits() int {
	if f == IPv6 {
		return 128
	}
	return 32
}

func (f Family) String() string {
	switch f {
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	}
	return "family(" + strconv.Itoa(int(f)) + ")"
}

// FamilyOf returns the family of a.
func FamilyOf(a netip.Addr) Family {
	if a.Is4() || a.Is4In6() {
		return IPv4
	}
	return IPv6
}

// Protocol is a service's transport protocol, numbered as in IP headers. Firewall
// mark services have none (0).
type Protocol uint8

const (
	TCP  Protocol = 6
	UDP  Protocol = 17
	SCTP Protocol = 132
)

func (p Protocol) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case SCTP:
		return "sctp"
	case 0:
		return "none"
	}
	return "proto(" + strconv.Itoa(int(p)) + ")"
}

// ParseProtocol parses the configuration's names: tcp, udp, sctp.
func ParseProtocol(s string) (Protocol, error) {
	switch s {
	case "tcp":
		return TCP, nil
	case "udp":
		return UDP, nil
	case "sctp":
		return SCTP, nil
	}
	return 0, fmt.Errorf("lvs: unknown protocol %q", s)
}

// Flags are a service's IPVS flags (IP_VS_SVC_F_*). moby/ipvs v1.1.0 defines no
// constants for them.
type Flags uint32

const (
	FlagPersistent Flags = 0x1
	// FlagHashed is the kernel's bookkeeping: it reports it on every service.
	// Normalize clears it and it is never sent.
	FlagHashed    Flags = 0x2
	FlagOnePacket Flags = 0x4
	FlagSched1    Flags = 0x8
	FlagSched2    Flags = 0x10
	FlagSched3    Flags = 0x20

	// The sh and mh schedulers' flags are the generic scheduler flags
	// (ipvsadm -b sh-fallback etc.).
	FlagSHFallback = FlagSched1
	FlagSHPort     = FlagSched2
	FlagMHFallback = FlagSched1
	FlagMHPort     = FlagSched2
)

// SchedulerFlagNames returns ipvsadm's names for the scheduler flags in f:
// sh-fallback, sh-port, mh-fallback, mh-port for the schedulers that define them,
// flag-1..flag-3 otherwise.
func SchedulerFlagNames(scheduler string, f Flags) []string {
	var names []string
	one, two := "flag-1", "flag-2"
	switch scheduler {
	case "sh", "mh":
		one, two = scheduler+"-fallback", scheduler+"-port"
	}
	if f&FlagSched1 != 0 {
		names = append(names, one)
	}
	if f&FlagSched2 != 0 {
		names = append(names, two)
	}
	if f&FlagSched3 != 0 {
		names = append(names, "flag-3")
	}
	return names
}

// DefaultScheduler is the scheduler of a Service whose Scheduler is empty, as in
// ipvsadm.
const DefaultScheduler = "wlc"

// Key identifies a virtual service the way the kernel does: family, protocol,
// address and port, or family and firewall mark. Use AddrKey and MarkKey to build
// one; the zero fields of the other kind must stay zero.
type Key struct {
	Family   Family
	Protocol Protocol       // 0 for firewall-mark services
	Addr     netip.AddrPort // zero for firewall-mark services
	FWMark   uint32         // 0 for address services
}

// AddrKey is the key of the protocol service on a.
func AddrKey(p Protocol, a netip.AddrPort) Key {
	a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	return Key{Family: FamilyOf(a.Addr()), Protocol: p, Addr: a}
}

// MarkKey is the key of the firewall-mark service mark of family f.
func MarkKey(f Family, mark uint32) Key { return Key{Family: f, FWMark: mark} }

// IsFWMark reports whether k is a firewall-mark service.
func (k Key) IsFWMark() bool { return k.FWMark != 0 }

// String names the service for logs and errors: "tcp 192.0.2.100:80",
// "fwmark 7", "fwmark 7 ipv6".
func (k Key) String() string {
	if k.IsFWMark() {
		if k.Family == IPv6 {
			return fmt.Sprintf("fwmark %d ipv6", k.FWMark)
		}
		return fmt.Sprintf("fwmark %d", k.FWMark)
	}
	return k.Protocol.String() + " " + k.Addr.String()
}

// Compare orders keys as ipvsadm lists services: address services before mark
// services, then by mark, family, protocol, address and port.
func (k Key) Compare(o Key) int {
	return cmp.Or(
		cmp.Compare(k.FWMark, o.FWMark),
		cmp.Compare(k.Family, o.Family),
		cmp.Compare(k.Protocol, o.Protocol),
		k.Addr.Compare(o.Addr),
	)
}

// Service is a virtual service: its identity and its attributes.
type Service struct {
	Key
	// Scheduler is the kernel scheduler's name (rr, wrr, lc, wlc, lblc, lblcr,
	// dh, sh, sed, nq, mh, fo, ovf, twos); empty means DefaultScheduler.
	Scheduler string
	Flags     Flags
	// Timeout is the persistence timeout, in whole seconds; it only means
	// something with FlagPersistent.
	Timeout time.Duration
	// Netmask is the persistence granularity as a prefix length (ipvsadm -M):
	// clients in the same prefix stick to the same real server. 0 means the
	// family's full length (one client address), the kernel's default.
	Netmask int
}

// Normalize returns s in the form the kernel reports it and Diff compares:
// HASHED cleared, the default scheduler and netmask filled in, the timeout
// truncated to seconds, and timeout and netmask reset when s is not persistent
// (the kernel keeps them but ignores them).
func (s Service) Normalize() Service {
	s.Flags &^= FlagHashed
	if s.Scheduler == "" {
		s.Scheduler = DefaultScheduler
	}
	full := s.Family.Bits()
	if s.Flags&FlagPersistent == 0 {
		s.Timeout = 0
		s.Netmask = full
	} else {
		s.Timeout = s.Timeout.Truncate(time.Second)
		if s.Netmask <= 0 || s.Netmask > full {
			s.Netmask = full
		}
	}
	return s
}

// Describe is the service's key and attributes in ipvsadm's words, for logs:
// "tcp 192.0.2.100:80 rr persistent 300".
func (s Service) Describe() string {
	s = s.Normalize()
	var b strings.Builder
	b.WriteString(s.Key.String())
	b.WriteString(" ")
	b.WriteString(s.Scheduler)
	if f := SchedulerFlagNames(s.Scheduler, s.Flags); len(f) > 0 {
		b.WriteString(" (" + strings.Join(f, ",") + ")")
	}
	if s.Flags&FlagPersistent != 0 {
		fmt.Fprintf(&b, " persistent %d", int64(s.Timeout/time.Second))
		if s.Netmask != s.Family.Bits() {
			fmt.Fprintf(&b, " mask /%d", s.Netmask)
		}
	}
	if s.Flags&FlagOnePacket != 0 {
		b.WriteString(" ops")
	}
	return b.String()
}

// Forwarding is a destination's packet-forwarding method. The zero value is
// direct routing, ipvsadm's default.
type Forwarding uint8

const (
	ForwardDR     Forwarding = iota // direct routing, "gatewaying" (ipvsadm -g)
	ForwardNAT                      // masquerading (ipvsadm -m)
	ForwardTunnel                   // IP-in-IP tunnelling (ipvsadm -i)
	// ForwardLocal and ForwardBypass are only ever reported by the kernel.
	ForwardLocal
	ForwardBypass
)

func (f Forwarding) String() string {
	switch f {
	case ForwardDR:
		return "dr"
	case ForwardNAT:
		return "nat"
	case ForwardTunnel:
		return "tun"
	case ForwardLocal:
		return "local"
	case ForwardBypass:
		return "bypass"
	}
	return "forwarding(" + strconv.Itoa(int(f)) + ")"
}

// ipvsadmName is the Forward column of ipvsadm -L.
func (f Forwarding) ipvsadmName() string {
	switch f {
	case ForwardDR:
		return "Route"
	case ForwardNAT:
		return "Masq"
	case ForwardTunnel:
		return "Tunnel"
	case ForwardLocal:
		return "Local"
	case ForwardBypass:
		return "Bypass"
	}
	return "?"
}

// ParseForwarding parses the configuration's names: dr, nat, tun.
func ParseForwarding(s string) (Forwarding, error) {
	switch s {
	case "dr", "":
		return ForwardDR, nil
	case "nat":
		return ForwardNAT, nil
	case "tun":
		return ForwardTunnel, nil
	}
	return 0, fmt.Errorf("lvs: unknown forwarding method %q", s)
}

// Destination is a real server of a service.
type Destination struct {
	Addr       netip.AddrPort
	Forwarding Forwarding
	// Weight 0 quiesces the destination: no new connections, existing ones
	// continue.
	Weight int
	// Thresholds of active connections (0 = none): above Upper the
	// destination gets no new connections until it falls below Lower.
	UpperThreshold uint32
	LowerThreshold uint32
}

// Describe is the destination in ipvsadm's words, for logs.
func (d Destination) Describe() string {
	s := fmt.Sprintf("%s %s weight %d", d.Addr, d.Forwarding, d.Weight)
	if d.UpperThreshold != 0 || d.LowerThreshold != 0 {
		s += fmt.Sprintf(" thresholds %d/%d", d.UpperThreshold, d.LowerThreshold)
	}
	return s
}

// Timeouts are the kernel's connection timeouts (ipvsadm --set tcp tcpfin udp), in
// whole seconds. Zero leaves the kernel's value alone.
type Timeouts struct {
	TCP    time.Duration
	TCPFin time.Duration
	UDP    time.Duration
}

func (t Timeouts) String() string {
	return fmt.Sprintf("tcp %d tcpfin %d udp %d", int64(t.TCP/time.Second), int64(t.TCPFin/time.Second), int64(t.UDP/time.Second))
}

// Merge returns cur with the non-zero fields of t laid over it: what the kernel
// holds after SetTimeouts(t).
func (t Timeouts) Merge(cur Timeouts) Timeouts {
	if t.TCP != 0 {
		cur.TCP = t.TCP
	}
	if t.TCPFin != 0 {
		cur.TCPFin = t.TCPFin
	}
	if t.UDP != 0 {
		cur.UDP = t.UDP
	}
	return cur
}

// Entry is one service of a Table with its destinations.
type Entry struct {
	Service      Service
	Destinations map[netip.AddrPort]Destination
}

// SortedDestinations returns the destinations ordered by address and port.
func (e *Entry) SortedDestinations() []Destination {
	ds := slices.Collect(maps.Values(e.Destinations))
	slices.SortFunc(ds, func(a, b Destination) int { return a.Addr.Compare(b.Addr) })
	return ds
}

// Table is an IPVS table: services by key, each with its destinations.
type Table map[Key]*Entry

// Add puts s with dests into t, replacing any service with the same key, and
// returns the entry.
func (t Table) Add(s Service, dests ...Destination) *Entry {
	e := &Entry{Service: s, Destinations: make(map[netip.AddrPort]Destination, len(dests))}
	for _, d := range dests {
		e.Destinations[d.Addr] = d
	}
	t[s.Key] = e
	return e
}

// Keys returns the keys of t in Key.Compare order.
func (t Table) Keys() []Key {
	ks := slices.Collect(maps.Keys(t))
	slices.SortFunc(ks, Key.Compare)
	return ks
}

// Clone returns a deep copy of t.
func (t Table) Clone() Table {
	if t == nil {
		return nil
	}
	c := make(Table, len(t))
	for k, e := range t {
		c[k] = &Entry{Service: e.Service, Destinations: maps.Clone(e.Destinations)}
	}
	return c
}

// Equal reports whether t and u hold the same services (compared normalized)
// with the same destinations.
func (t Table) Equal(u Table) bool {
	if len(t) != len(u) {
		return false
	}
	for k, e := range t {
		f, ok := u[k]
		if !ok || e.Service.Normalize() != f.Service.Normalize() || !maps.Equal(e.Destinations, f.Destinations) {
			return false
		}
	}
	return true
}

// Filter returns the entries of t (shared, not copied) whose service keep
// accepts.
func (t Table) Filter(keep func(Service) bool) Table {
	c := make(Table)
	for k, e := range t {
		if keep(e.Service) {
			c[k] = e
		}
	}
	return c
}

// Destinations counts the destinations of all services.
func (t Table) Destinations() int {
	n := 0
	for _, e := range t {
		n += len(e.Destinations)
	}
	return n
}
