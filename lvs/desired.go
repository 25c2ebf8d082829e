package lvs

import (
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"time"
)

// Spec is what the desired model is built from: the virtual servers and the global
// timeouts as the configuration declares them. The package owns it so that it does not
// depend on the configuration's schema; the director maps one to the other.
type Spec struct {
	// Timeouts are rounded up to whole seconds; zero ones leave the kernel's alone.
	Timeouts Timeouts
	Services []ServiceSpec
}

// ServiceSpec is one virtual server.
type ServiceSpec struct {
	// Address is the zero value for a firewall-mark service, which FWMark names.
	Address        netip.AddrPort
	FWMark         int
	Protocol       string // tcp, udp or sctp; for an address only
	Scheduler      string
	SchedulerFlags []string // sh-fallback, sh-port, mh-fallback, mh-port
	// Forwarding is the sorry server's.
	Forwarding string
	// PersistenceTimeout zero means not persistent. PersistenceNetmask is an IPv4
	// netmask, or the zero Addr for the kernel's default (one client address).
	PersistenceTimeout time.Duration
	PersistenceNetmask netip.Addr
	OnePacket          bool
	SorryServer        netip.AddrPort // the zero value for none
	InhibitOnFailure   bool
	Quorum             int
	Hysteresis         int
	RealServers        []RealServerSpec
}

// String names the service the way operators and error messages do:
// "192.0.2.100:80" or "fwmark 7".
func (vs ServiceSpec) String() string {
	if !vs.Address.IsValid() {
		return fmt.Sprintf("fwmark %d", vs.FWMark)
	}
	return vs.Address.String()
}

// RealServerSpec is one real server of a virtual server.
type RealServerSpec struct {
	Address        netip.AddrPort // port 0: the virtual server's
	Forwarding     string         // dr, nat or tun
	Weight         int
	UpperThreshold int
	LowerThreshold int
	// Checked says that a health check decides whether it is up; one without is
	// always up.
	Checked bool
}

// Health reports whether a real server of a virtual server is up. FromSpec asks
// only about real servers that have a check (Checked): one without is always up.
type Health func(vs *ServiceSpec, rs *RealServerSpec) bool

// Quorum is a service's quorum state (keepalived's quorum_state_up): whether the
// total weight of its healthy real servers is enough.
type Quorum struct {
	Up bool
	// Weight is the total configured weight of the healthy real servers.
	Weight int
	// Threshold is the weight the state flips at: while up, quorum is lost below
	// quorum-hysteresis; while down, it is regained at quorum+hysteresis.
	Threshold int
	// Sorry reports that the sorry server is the service's pool.
	Sorry bool
}

// QuorumChange is a quorum transition, for the log and notify hooks.
type QuorumChange struct {
	Service Key
	Quorum
	// Initial is set when there was no previous state (start-up, or a service
	// new in a reloaded configuration); keepalived says "Starting with quorum
	// up/down" then.
	Initial bool
}

// Model is the desired state of the kernel.
type Model struct {
	Table    Table
	Timeouts Timeouts
	// Quorum holds every service's state; pass it back to the next FromSpec.
	Quorum map[Key]Quorum
	// Changes are the quorum transitions since the previous state, in Key order.
	Changes []QuorumChange
}

// Owns reports whether s is one of the model's services, the ones the
// configuration declares. It is the owned argument of Diff and Withdraw.
func (m *Model) Owns(s Service) bool {
	_, ok := m.Table[s.Key]
	return ok
}

// FromSpec builds the desired table from spec and the health of the real servers.
// It is a pure function: prev is the Quorum of the previous model (nil at
// start-up) because quorum with hysteresis depends on the previous state.
//
// The rules, keepalived's:
//
//   - Every declared virtual server is in the table, even with no real server
//     up, as in keepalived: the service keeps its counters and its place in
//     `ipvsadm -L`, and clients are refused at once either way (IPVS answers ICMP
//     port unreachable when it has no destination).
//   - A healthy real server is a destination with its configured weight. A down
//     one is absent, or present with weight 0 when inhibit_on_failure is set (its
//     established connections continue; set expire_quiescent_template with
//     persistence, see Sysctls).
//   - Quorum: the weight of the healthy real servers is compared with quorum;
//     quorum is lost below quorum-hysteresis and regained at quorum+hysteresis (a
//     service starts as if down). Losing quorum alone changes nothing in the pool —
//     it is reported in Changes for the notify hooks.
//   - With a sorry_server, losing quorum swaps the pool for the sorry server
//     (weight 1, the virtual server's forwarding); the real servers are removed,
//     or kept at weight 0 with inhibit_on_failure. Regaining quorum swaps back.
//     Diff adds before it deletes, so the pool is never empty during a swap.
//   - A real server's (or sorry server's) port 0 means the virtual server's port,
//     as a missing port does in ipvsadm -r.
//   - A firewall-mark service takes the family of its first real server (or of
//     the sorry server), IPv4 when there is none: the configuration has no key for
//     it yet.
func FromSpec(spec *Spec, healthy Health, prev map[Key]Quorum) (*Model, error) {
	m := &Model{
		Table: make(Table, len(spec.Services)),
		Timeouts: Timeouts{
			TCP:    wholeSeconds(spec.Timeouts.TCP),
			TCPFin: wholeSeconds(spec.Timeouts.TCPFin),
			UDP:    wholeSeconds(spec.Timeouts.UDP),
		},
		Quorum: make(map[Key]Quorum, len(spec.Services)),
	}
	for i := range spec.Services {
		vs := &spec.Services[i]
		svc, err := ServiceFromSpec(vs)
		if err != nil {
			return nil, err
		}
		if _, dup := m.Table[svc.Key]; dup {
			return nil, fmt.Errorf("lvs: virtual server %s is declared twice", svc.Key)
		}
		e := m.Table.Add(svc)

		fwd, err := ParseForwarding(vs.Forwarding)
		if err != nil {
			return nil, fmt.Errorf("lvs: virtual server %s: %w", svc.Key, err)
		}
		type member struct {
			dst     Destination
			healthy bool
		}
		members := make([]member, 0, len(vs.RealServers))
		weight := 0
		for j := range vs.RealServers {
			rs := &vs.RealServers[j]
			d, err := destinationFromSpec(svc.Key, rs)
			if err != nil {
				return nil, fmt.Errorf("lvs: virtual server %s: %w", svc.Key, err)
			}
			up := !rs.Checked || healthy == nil || healthy(vs, rs)
			if up {
				weight += d.Weight
			}
			members = append(members, member{d, up})
		}

		q := quorum(vs.Quorum, vs.Hysteresis, weight, prev, svc.Key)
		sorry := vs.SorryServer.IsValid() && !q.Up
		for _, mb := range members {
			d := mb.dst
			switch {
			case mb.healthy && !sorry:
			case vs.InhibitOnFailure:
				d.Weight = 0
			default:
				continue
			}
			e.Destinations[d.Addr] = d
		}
		if sorry {
			q.Sorry = true
			a := portOr(vs.SorryServer, svc.Key)
			e.Destinations[a] = Destination{Addr: a, Forwarding: fwd, Weight: 1}
		}

		m.Quorum[svc.Key] = q
		p, known := prev[svc.Key]
		if !known || p.Up != q.Up {
			m.Changes = append(m.Changes, QuorumChange{Service: svc.Key, Quorum: q, Initial: !known})
		}
	}
	slices.SortFunc(m.Changes, func(a, b QuorumChange) int { return a.Service.Compare(b.Service) })
	return m, nil
}

func quorum(quorum, hysteresis, weight int, prev map[Key]Quorum, k Key) Quorum {
	wasUp := prev[k].Up
	var up bool
	if wasUp {
		up = weight > 0 && weight >= quorum-hysteresis
	} else {
		up = weight >= quorum+hysteresis
	}
	th := quorum + hysteresis
	if up {
		th = quorum - hysteresis
	}
	return Quorum{Up: up, Weight: weight, Threshold: th}
}

// ServiceFromSpec returns the service a virtual server declares, without its
// destinations. Its Key is how the rest of the program (health checks, status)
// names the service.
func ServiceFromSpec(vs *ServiceSpec) (Service, error) {
	var svc Service
	if vs.Address.IsValid() {
		p, err := ParseProtocol(vs.Protocol)
		if err != nil {
			return svc, fmt.Errorf("lvs: virtual server %s: %w", vs, err)
		}
		svc.Key = AddrKey(p, vs.Address)
	} else {
		if vs.FWMark <= 0 || uint64(vs.FWMark) > 1<<32-1 {
			return svc, fmt.Errorf("lvs: virtual server %s: fwmark out of range", vs)
		}
		fam := IPv4
		switch {
		case len(vs.RealServers) > 0:
			fam = FamilyOf(vs.RealServers[0].Address.Addr())
		case vs.SorryServer.IsValid():
			fam = FamilyOf(vs.SorryServer.Addr())
		}
		svc.Key = MarkKey(fam, uint32(vs.FWMark))
	}
	svc.Scheduler = vs.Scheduler
	for _, f := range vs.SchedulerFlags {
		switch f {
		case "sh-fallback", "mh-fallback":
			svc.Flags |= FlagSched1
		case "sh-port", "mh-port":
			svc.Flags |= FlagSched2
		default:
			return svc, fmt.Errorf("lvs: virtual server %s: unknown scheduler flag %q", vs, f)
		}
	}
	if vs.PersistenceTimeout > 0 {
		svc.Flags |= FlagPersistent
		svc.Timeout = wholeSeconds(vs.PersistenceTimeout)
		if m := vs.PersistenceNetmask; m.IsValid() {
			if !m.Is4() || svc.Family != IPv4 {
				return svc, fmt.Errorf("lvs: virtual server %s: persistence_netmask %s applies to IPv4 services only", vs, m)
			}
			b := m.As4()
			n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
			svc.Netmask = bits.LeadingZeros32(^n)
		}
	}
	if vs.OnePacket {
		svc.Flags |= FlagOnePacket
	}
	return svc.Normalize(), nil
}

func destinationFromSpec(k Key, rs *RealServerSpec) (Destination, error) {
	fwd, err := ParseForwarding(rs.Forwarding)
	if err != nil {
		return Destination{}, err
	}
	if rs.Weight < 0 || rs.Weight > 65535 {
		return Destination{}, fmt.Errorf("real server %s: weight %d is out of range 0..65535", rs.Address, rs.Weight)
	}
	if rs.UpperThreshold < 0 || rs.LowerThreshold < 0 {
		return Destination{}, fmt.Errorf("real server %s: negative threshold", rs.Address)
	}
	return Destination{
		Addr:           portOr(rs.Address, k),
		Forwarding:     fwd,
		Weight:         rs.Weight,
		UpperThreshold: uint32(rs.UpperThreshold),
		LowerThreshold: uint32(rs.LowerThreshold),
	}, nil
}

// portOr gives a without a port the service's port, as ipvsadm -r does.
func portOr(a netip.AddrPort, k Key) netip.AddrPort {
	a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	if a.Port() == 0 && !k.IsFWMark() {
		return netip.AddrPortFrom(a.Addr(), k.Addr.Port())
	}
	return a
}

// wholeSeconds rounds d up to whole seconds, the kernel's unit.
func wholeSeconds(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return (d + time.Second - 1).Truncate(time.Second)
}
