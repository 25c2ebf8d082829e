package lvs

import (
	"math/rand/v2"
	"net/netip"
	"time"
)

// Random models for the property tests (and the VM tests, which share this file).
// Everything is drawn from TEST-NET ranges: services of ours on 192.0.2.0/24 and
// 2001:db8::/64 with marks 1..999, foreign ones on 203.0.113.0/24 and
// 2001:db8:f::/64 with marks 1000.., real servers on 198.51.100.0/24 and
// 2001:db8:1::/64.

// genOptions bound the random tables.
type genOptions struct {
	maxServices int
	maxDests    int
	schedulers  []string
	foreign     bool // draw keys from the foreign ranges
}

var allSchedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf", "twos"}

func randKey(r *rand.Rand, foreign bool) Key {
	v4, v6, mark := netip.MustParseAddr("192.0.2.0"), netip.MustParseAddr("2001:db8::"), uint32(1+r.IntN(999))
	if foreign {
		v4, v6, mark = netip.MustParseAddr("203.0.113.0"), netip.MustParseAddr("2001:db8:f::"), uint32(1000+r.IntN(1000))
	}
	switch r.IntN(8) {
	case 0:
		return MarkKey(IPv4, mark)
	case 1:
		return MarkKey(IPv6, mark)
	}
	p := []Protocol{TCP, TCP, UDP, SCTP}[r.IntN(4)]
	port := uint16(1 + r.IntN(3))
	if r.IntN(2) == 0 {
		return AddrKey(p, netip.AddrPortFrom(nthAddr(v4, 1+r.IntN(200)), port))
	}
	return AddrKey(p, netip.AddrPortFrom(nthAddr(v6, 1+r.IntN(200)), port))
}

func nthAddr(base netip.Addr, n int) netip.Addr {
	b := base.AsSlice()
	for i := len(b) - 1; n > 0 && i >= 0; i-- {
		v := int(b[i]) + n
		b[i] = byte(v)
		n = v >> 8
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func randService(r *rand.Rand, k Key, o genOptions) Service {
	scheds := o.schedulers
	if len(scheds) == 0 {
		scheds = allSchedulers
	}
	s := Service{Key: k, Scheduler: scheds[r.IntN(len(scheds))]}
	if s.Scheduler == "sh" || s.Scheduler == "mh" {
		s.Flags |= Flags(r.IntN(4)) * FlagSched1 // 0, SCHED1, SCHED2, both
	}
	if r.IntN(2) == 0 {
		s.Flags |= FlagPersistent
		s.Timeout = time.Duration(1+r.IntN(3600)) * time.Second
		if r.IntN(3) == 0 {
			if k.Family == IPv4 {
				s.Netmask = 8 + r.IntN(25)
			} else {
				s.Netmask = 32 + r.IntN(97)
			}
		}
	}
	if k.Protocol == UDP && r.IntN(3) == 0 {
		s.Flags |= FlagOnePacket
	}
	return s.Normalize()
}

func randDest(r *rand.Rand, fam Family) Destination {
	base := netip.MustParseAddr("198.51.100.0")
	if fam == IPv6 {
		base = netip.MustParseAddr("2001:db8:1::")
	}
	d := Destination{
		Addr:       netip.AddrPortFrom(nthAddr(base, 1+r.IntN(60)), uint16(80+r.IntN(3))),
		Forwarding: []Forwarding{ForwardDR, ForwardNAT, ForwardTunnel}[r.IntN(3)],
		Weight:     r.IntN(101),
	}
	if r.IntN(4) == 0 {
		d.UpperThreshold = uint32(1 + r.IntN(1000))
		d.LowerThreshold = uint32(r.IntN(int(d.UpperThreshold) + 1))
	}
	return d
}

func randTable(r *rand.Rand, o genOptions) Table {
	t := Table{}
	n := r.IntN(o.maxServices + 1)
	for range n {
		k := randKey(r, o.foreign)
		if _, dup := t[k]; dup {
			continue
		}
		e := t.Add(randService(r, k, o))
		for range r.IntN(o.maxDests + 1) {
			d := randDest(r, k.Family)
			e.Destinations[d.Addr] = d
		}
	}
	return t
}

// mutate returns a copy of t with random changes of every kind Diff knows.
func mutate(r *rand.Rand, t Table, o genOptions) Table {
	c := t.Clone()
	for _, k := range c.Keys() {
		e := c[k]
		switch r.IntN(10) {
		case 0:
			delete(c, k)
			continue
		case 1:
			e.Service = randService(r, k, o)
		}
		for _, d := range e.SortedDestinations() {
			switch r.IntN(8) {
			case 0:
				delete(e.Destinations, d.Addr)
			case 1:
				d.Weight = r.IntN(101)
				e.Destinations[d.Addr] = d
			case 2:
				nd := randDest(r, k.Family)
				nd.Addr = d.Addr
				e.Destinations[d.Addr] = nd
			}
		}
		if r.IntN(3) == 0 {
			d := randDest(r, k.Family)
			e.Destinations[d.Addr] = d
		}
	}
	for range r.IntN(3) {
		k := randKey(r, o.foreign)
		if _, ok := c[k]; !ok {
			e := c.Add(randService(r, k, o))
			for range r.IntN(o.maxDests + 1) {
				d := randDest(r, k.Family)
				e.Destinations[d.Addr] = d
			}
		}
	}
	return c
}

// merge returns the union of tables with disjoint keys.
func merge(ts ...Table) Table {
	m := Table{}
	for _, t := range ts {
		for k, e := range t.Clone() {
			m[k] = e
		}
	}
	return m
}

// keysOf returns an ownership function for the keys of the tables.
func keysOf(ts ...Table) func(Service) bool {
	set := map[Key]bool{}
	for _, t := range ts {
		for k := range t {
			set[k] = true
		}
	}
	return func(s Service) bool { return set[s.Key] }
}

// oneDest picks a destination of t deterministically, if there is one.
func oneDest(t Table) (Key, Destination, bool) {
	for _, k := range t.Keys() {
		if ds := t[k].SortedDestinations(); len(ds) > 0 {
			return k, ds[0], true
		}
	}
	return Key{}, Destination{}, false
}

func opKinds(ops []Op) []OpKind {
	ks := make([]OpKind, len(ops))
	for i, op := range ops {
		ks[i] = op.Kind
	}
	return ks
}
