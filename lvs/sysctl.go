package lvs

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/hadirector/hadirector/internal/sysctl"
)

// SysctlMode is how one of the director's kernel settings is handled.
type SysctlMode string

const (
	// SysctlAuto (also the empty mode) sets the value hadirector derives from the
	// configuration, or leaves the setting alone when the configuration does not
	// need it.
	SysctlAuto SysctlMode = "auto"
	SysctlOn   SysctlMode = "on"  // always 1
	SysctlOff  SysctlMode = "off" // always 0
	SysctlKeep SysctlMode = "keep"
)

// SysctlPolicy says how each setting is handled; the zero value is all auto.
type SysctlPolicy struct {
	IPForward               SysctlMode
	ExpireNodestConn        SysctlMode
	ExpireQuiescentTemplate SysctlMode
	Conntrack               SysctlMode
	SloppyTCP               SysctlMode
	SloppySCTP              SysctlMode
}

// Sysctl is one kernel setting to apply, with the reason, for the log and status.
type Sysctl struct {
	Name   string // dotted, as sysctl(8) writes it: "net.ipv4.vs.conntrack"
	Value  string
	Reason string
}

// Sysctl names.
const (
	SysctlIPv4Forward             = "net.ipv4.ip_forward"
	SysctlIPv6Forward             = "net.ipv6.conf.all.forwarding"
	SysctlExpireNodestConn        = "net.ipv4.vs.expire_nodest_conn"
	SysctlExpireQuiescentTemplate = "net.ipv4.vs.expire_quiescent_template"
	SysctlConntrack               = "net.ipv4.vs.conntrack"
	SysctlSloppyTCP               = "net.ipv4.vs.sloppy_tcp"
	SysctlSloppySCTP              = "net.ipv4.vs.sloppy_sctp"
)

// SysctlsFor returns the settings the master applies for spec under policy p, in a
// fixed order. Under auto:
//
//   - ip_forward is 1 when a real server or sorry server of an IPv4 service uses
//     NAT: the real servers' replies are routed back through the director
//     (net.ipv6.conf.all.forwarding likewise for IPv6 — note that it also stops the
//     director from accepting router advertisements). DR and TUN need no
//     forwarding: IPVS takes their packets on the input path.
//   - expire_nodest_conn is 1: hadirector removes failed real servers, and without
//     it the packets of their established connections are silently dropped until
//     the connection entries time out (15 minutes for TCP by default), instead of
//     the client getting a reset and reconnecting to a live server.
//   - expire_quiescent_template is 1 when a persistent service has
//     inhibit_on_failure: a failed real server stays at weight 0, and without it
//     the persistence templates keep sending returning clients to it.
//   - conntrack is left alone: it is needed only when netfilter must see IPVS
//     connections (stateful firewall rules or SNAT on the director), which the
//     configuration cannot know; set it on explicitly for that.
//   - sloppy_tcp and sloppy_sctp are left alone (the kernel's 0). On, a new master
//     schedules a connection from any packet, not only from a SYN (INIT): without
//     connection sync it picks up flows mid-stream — on the same real server only when
//     the scheduler's choice is consistent (mh with mh-port, sh), so it is a choice for
//     the operator, not something the configuration implies.
func SysctlsFor(spec *Spec, p SysctlPolicy) ([]Sysctl, error) {
	nat4, nat6, quiescentPersistence := false, false, false
	for i := range spec.Services {
		vs := &spec.Services[i]
		svc, err := ServiceFromSpec(vs)
		if err != nil {
			return nil, err
		}
		if vs.PersistenceTimeout > 0 && vs.InhibitOnFailure {
			quiescentPersistence = true
		}
		nat := vs.SorryServer.IsValid() && vs.Forwarding == "nat"
		for _, rs := range vs.RealServers {
			nat = nat || rs.Forwarding == "nat"
		}
		if nat {
			if svc.Family == IPv6 {
				nat6 = true
			} else {
				nat4 = true
			}
		}
	}

	var out []Sysctl
	add := func(name string, mode SysctlMode, auto bool, why string) error {
		switch mode {
		case SysctlAuto, "":
			if auto {
				out = append(out, Sysctl{Name: name, Value: "1", Reason: why})
			}
		case SysctlOn:
			out = append(out, Sysctl{Name: name, Value: "1", Reason: "configured on"})
		case SysctlOff:
			out = append(out, Sysctl{Name: name, Value: "0", Reason: "configured off"})
		case SysctlKeep:
		default:
			return fmt.Errorf("lvs: sysctl %s: mode %q is not one of auto, on, off, keep", name, mode)
		}
		return nil
	}
	return out, errors.Join(
		add(SysctlIPv4Forward, p.IPForward, nat4, "an IPv4 service uses NAT forwarding"),
		add(SysctlIPv6Forward, p.IPForward, nat6, "an IPv6 service uses NAT forwarding"),
		add(SysctlExpireNodestConn, p.ExpireNodestConn, true, "connections to removed real servers are reset rather than left to hang"),
		add(SysctlExpireQuiescentTemplate, p.ExpireQuiescentTemplate, quiescentPersistence, "a persistent service uses inhibit_on_failure (weight-0 real servers)"),
		add(SysctlConntrack, p.Conntrack, false, ""),
		add(SysctlSloppyTCP, p.SloppyTCP, false, ""),
		add(SysctlSloppySCTP, p.SloppySCTP, false, ""),
	)
}

// SysctlChange is a setting ApplySysctls changed.
type SysctlChange struct {
	Name string
	Old  string
	New  string
}

// DefaultSysctlRoot is where the settings live.
const DefaultSysctlRoot = string(sysctl.Proc)

// ReadSysctl returns the current value of a setting under root ("" for
// /proc/sys), trimmed.
func ReadSysctl(root, name string) (string, error) {
	v, err := sysctl.Dir(root).Get(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && strings.HasPrefix(name, "net.ipv4.vs.") {
			return "", fmt.Errorf("lvs: sysctl %s: %w", name, ErrNoIPVS)
		}
		return "", fmt.Errorf("lvs: %w", err)
	}
	return v, nil
}

// ApplySysctls writes the settings whose value differs under root ("" for
// /proc/sys) and returns what it changed, for the log. The net.ipv4.vs settings
// exist only once ip_vs is loaded, and like the IPVS table they belong to the
// network namespace of the process. It carries on past errors and returns them
// joined.
func ApplySysctls(root string, want []Sysctl) ([]SysctlChange, error) {
	var changed []SysctlChange
	var errs []error
	for _, s := range want {
		cur, err := ReadSysctl(root, s.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if cur == s.Value {
			continue
		}
		if err := sysctl.Dir(root).Set(s.Name, s.Value); err != nil {
			errs = append(errs, fmt.Errorf("lvs: %w", err))
			continue
		}
		changed = append(changed, SysctlChange{Name: s.Name, Old: cur, New: s.Value})
	}
	return changed, errors.Join(errs...)
}
