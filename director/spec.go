package director

import (
	"fmt"
	"net/netip"

	"github.com/hadirector/hadirector/config"
	"github.com/hadirector/hadirector/healthcheck"
	"github.com/hadirector/hadirector/lvs"
)

// This file is the one place that maps the configuration's schema to the spec types of
// the packages that do the work: lvs and healthcheck take their own plain structs and
// never import config, so the arrows run config → director → the rest.

// LVSSpec is what lvs.FromSpec and lvs.SysctlsFor build the desired kernel state from,
// for cfg. Commands that show or clean up the IPVS table of a configuration outside a
// running director (`hadirector lvs -c`, the demo) use it too.
func LVSSpec(cfg *config.Config) *lvs.Spec {
	s := &lvs.Spec{
		Timeouts: lvs.Timeouts{
			TCP:    cfg.LVS.TimeoutTCP.Std(),
			TCPFin: cfg.LVS.TimeoutTCPFin.Std(),
			UDP:    cfg.LVS.TimeoutUDP.Std(),
		},
		Services: make([]lvs.ServiceSpec, len(cfg.VirtualServers)),
	}
	for i := range cfg.VirtualServers {
		s.Services[i] = serviceSpec(&cfg.VirtualServers[i])
	}
	return s
}

// lvsSpec is LVSSpec of the current configuration, mapped once per configuration: the
// model is rebuilt from it on every batch of health transitions, on the loop (loop
// only; a configuration is never changed in place, a reload replaces it).
func (l *lvsState) lvsSpec() *lvs.Spec {
	if l.specOf != l.d.cfg {
		l.spec, l.specOf = LVSSpec(l.d.cfg), l.d.cfg
	}
	return l.spec
}

func serviceSpec(vs *config.VirtualServer) lvs.ServiceSpec {
	s := lvs.ServiceSpec{
		Address:            vs.Address,
		FWMark:             vs.FWMark,
		Protocol:           vs.Protocol,
		Scheduler:          vs.Scheduler,
		SchedulerFlags:     vs.SchedulerFlags,
		Forwarding:         vs.Forwarding,
		PersistenceTimeout: vs.PersistenceTimeout.Std(),
		PersistenceNetmask: vs.PersistenceNetmask,
		OnePacket:          vs.OnePacket,
		SorryServer:        vs.SorryServer,
		InhibitOnFailure:   vs.InhibitOnFailure,
		Quorum:             vs.Quorum,
		Hysteresis:         vs.Hysteresis,
		RealServers:        make([]lvs.RealServerSpec, len(vs.RealServers)),
	}
	for j := range vs.RealServers {
		rs := &vs.RealServers[j]
		s.RealServers[j] = lvs.RealServerSpec{
			Address:        rs.Address,
			Forwarding:     rs.Forwarding,
			Weight:         rs.Weight,
			UpperThreshold: rs.UpperThreshold,
			LowerThreshold: rs.LowerThreshold,
			Checked:        rs.Check != nil,
		}
	}
	return s
}

// lvsService is the service a virtual server declares (see lvs.ServiceFromSpec).
func lvsService(vs *config.VirtualServer) (lvs.Service, error) {
	s := serviceSpec(vs)
	return lvs.ServiceFromSpec(&s)
}

// checkService is the service part of the health-check IDs of a virtual server's real
// servers, as logged: "192.0.2.100:80/tcp" or "fwmark 7".
func checkService(addr netip.AddrPort, fwmark int, protocol string) string {
	if !addr.IsValid() {
		return fmt.Sprintf("fwmark %d", fwmark)
	}
	return addr.String() + "/" + protocol
}

// checkSpec is the health check c as healthcheck takes it; every key of config.Check
// has its field (a test keeps it so), which makes a changed key a changed
// Target.Spec.
func checkSpec(c *config.Check) *healthcheck.CheckSpec {
	return &healthcheck.CheckSpec{
		Type:         c.Type,
		Method:       c.Method,
		Path:         c.Path,
		Host:         c.Host,
		ExpectStatus: c.ExpectStatus,
		ExpectBody:   c.ExpectBody,
		TLSVerify:    c.TLSVerify,
		SNI:          c.SNI,
		ConnectPort:  c.ConnectPort,
		BindTo:       c.BindTo,
		Command:      c.Command,
		Interval:     c.Interval.Std(),
		Timeout:      c.Timeout.Std(),
		Rise:         c.Rise,
		Fall:         c.Fall,
	}
}

// checkTargets returns a health-check target for every real server of cfg that has a
// check, in the order of the file. Every target starts up (keepalived's default; see
// healthcheck.Target).
func checkTargets(cfg *config.Config) ([]healthcheck.Target, error) {
	var out []healthcheck.Target
	for i := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[i]
		service := checkService(vs.Address, vs.FWMark, vs.Protocol)
		for _, rs := range vs.RealServers {
			if rs.Check == nil {
				continue
			}
			t, err := healthcheck.TargetFromSpec(healthcheck.ID{Service: service, Backend: rs.Address}, checkSpec(rs.Check))
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
	}
	return out, nil
}
