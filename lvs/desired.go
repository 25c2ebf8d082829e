package lvs

import (
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"time"

	"github.com/hadirector/hadirector/config"
)

// Health reports whether a real server of a virtual server is up. FromConfig asks
// only about real servers that have a check: one without (rs.Check == nil) is
// always up.
type Health func(vs *config.VirtualServer, rs *config.RealServer) bool

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
	// Quorum holds every service's state; pass it back to the next FromConfig.
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

// FromConfig builds the desired table from cfg and the health of the real servers.
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
func FromConfig(cfg *config.Config, healthy Health, prev map[Key]Quorum) (*Model, error) {
	m := &Model{
		Table: make(Table, len(cfg.VirtualServers)),
		Timeouts: Timeouts{
			TCP:    wholeSeconds(time.Duration(cfg.LVS.TimeoutTCP)),
			TCPFin: wholeSeconds(time.Duration(cfg.LVS.TimeoutTCPFin)),
			UDP:    wholeSeconds(time.Duration(cfg.LVS.TimeoutUDP)),
		},
		Quorum: make(map[Key]Quorum, len(cfg.VirtualServers)),
	}
	for i := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[i]
		svc, err := ServiceFromConfig(vs)
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
			d, err := destinationFromConfig(svc.Key, rs)
			if err != nil {
				return nil, fmt.Errorf("lvs: virtual server %s: %w", svc.Key, err)
			}
			up := rs.Check == nil || healthy == nil || healthy(vs, rs)
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

// ServiceFromConfig returns the service a virtual server declares, without its
// destinations. Its Key is how the rest of the program (health checks, status)
// names the service.
func ServiceFromConfig(vs *config.VirtualServer) (Service, error) {
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
		svc.Timeout = wholeSeconds(time.Duration(vs.PersistenceTimeout))
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

func destinationFromConfig(k Key, rs *config.RealServer) (Destination, error) {
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
