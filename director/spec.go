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
		l.spec, l.dynamic, l.specOf = LVSSpec(l.d.cfg), dynamicRefs(l.d.cfg), l.d.cfg
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
			Checked:        len(rs.AllChecks()) > 0,
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

		DelayBeforeRetry: c.DelayBeforeRetry.Std(),
		Warmup:           c.Warmup.Std(),
		Payload:          c.Payload,
		PayloadText:      c.PayloadText,
		RequireReply:     c.RequireReply,
		Reply:            c.Reply,
		MinReplyLength:   c.MinReplyLength,
		MaxReplyLength:   c.MaxReplyLength,
		DNSType:          c.DNSType,
		DNSName:          c.DNSName,
		ExpectAddress:    c.ExpectAddress,
		HeloName:         c.HeloName,
		TLS:              c.TLS,
		StartTLS:         c.StartTLS,
		URLs:             urlSpecs(c.URLs),
		File:             c.File,
		Weight:           c.Weight,
		Reverse:          c.Reverse,
		MiscDynamic:      c.MiscDynamic,
	}
}

func urlSpecs(urls []config.URL) []healthcheck.URLSpec {
	var out []healthcheck.URLSpec
	for _, u := range urls {
		out = append(out, healthcheck.URLSpec{Path: u.Path, ExpectStatus: u.ExpectStatus, Digest: u.Digest,
			Regex: u.Regex, RegexNoMatch: u.RegexNoMatch, Virtualhost: u.Virtualhost})
	}
	return out
}

// checkTargets returns a health-check target for every check of every real server of
// cfg, in the order of the file; a real server's checks are told apart by ID.Check, their
// index in RealServer.AllChecks. Every target starts up (keepalived's default; see
// healthcheck.Target) unless its virtual server has alpha.
func checkTargets(cfg *config.Config) ([]healthcheck.Target, error) {
	var out []healthcheck.Target
	for i := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[i]
		service := checkService(vs.Address, vs.FWMark, vs.Protocol)
		for j := range vs.RealServers {
			rs := &vs.RealServers[j]
			for k, c := range rs.AllChecks() {
				t, err := healthcheck.TargetFromSpec(healthcheck.ID{Service: service, Backend: rs.Address, Check: k}, checkSpec(c))
				if err != nil {
					return nil, err
				}
				t.StartDown = vs.Alpha
				out = append(out, t)
			}
		}
	}
	return out, nil
}
