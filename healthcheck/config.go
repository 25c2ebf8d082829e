package healthcheck

import (
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"

	"github.com/hadirector/hadirector/config"
	"github.com/hadirector/hadirector/internal/cmdline"
)

// FromConfig builds the checker that the check c describes for the real server rs. c is
// an effective check from a loaded configuration (config.RealServer.Check); a nil c means
// the real server has no check and is an error here: such a backend is always healthy and
// has no target.
func FromConfig(c *config.Check, rs netip.AddrPort) (Checker, error) {
	if c == nil {
		return nil, fmt.Errorf("healthcheck: %s has no check", rs)
	}
	addr := rs
	if c.ConnectPort != 0 {
		addr = netip.AddrPortFrom(rs.Addr(), uint16(c.ConnectPort))
	}
	timeout := c.Timeout.Std()
	switch c.Type {
	case "tcp":
		return &TCP{Addr: addr, BindTo: c.BindTo, Timeout: timeout}, nil
	case "http", "https":
		h := &HTTP{
			Addr:               addr,
			TLS:                c.Type == "https",
			Method:             c.Method,
			Path:               c.Path,
			Host:               c.Host,
			ExpectStatus:       slices.Clone(c.ExpectStatus),
			InsecureSkipVerify: !c.TLSVerify,
			SNI:                c.SNI,
			BindTo:             c.BindTo,
			Timeout:            timeout,
		}
		if h.Method == "" {
			h.Method = http.MethodGet
		}
		if c.ExpectBody != "" {
			if h.Method != http.MethodGet {
				return nil, fmt.Errorf("healthcheck: %s: expect_body needs method GET (a %s response has no body)", rs, h.Method)
			}
			re, err := regexp.Compile(c.ExpectBody)
			if err != nil {
				return nil, fmt.Errorf("healthcheck: %s: expect_body: %w", rs, err)
			}
			h.ExpectBody = re
		}
		return h, nil
	case "exec":
		argv, err := cmdline.Split(c.Command)
		if err != nil {
			return nil, fmt.Errorf("healthcheck: %s: command: %w", rs, err)
		}
		if len(argv) == 0 {
			return nil, fmt.Errorf("healthcheck: %s: exec check without a command", rs)
		}
		// keepalived's MISC_CHECK passes nothing; the backend in the environment lets one
		// script serve a virtual server's default check for all its real servers.
		return &Exec{Argv: argv, Timeout: timeout, Env: []string{
			"HADIRECTOR_BACKEND_ADDR=" + addr.Addr().String(),
			"HADIRECTOR_BACKEND_PORT=" + strconv.Itoa(int(addr.Port())),
		}}, nil
	}
	return nil, fmt.Errorf("healthcheck: %s: unknown check type %q", rs, c.Type)
}

// ServiceName is the service key of the targets of a virtual server, as logged:
// "192.0.2.100:80/tcp" or "fwmark 7".
func ServiceName(vs *config.VirtualServer) string {
	if !vs.Address.IsValid() {
		return vs.String()
	}
	return vs.String() + "/" + vs.Protocol
}

// TargetsFromConfig returns a Target for every real server of cfg that has a check, in
// the order of the file. Every target starts up (keepalived's default; see Target).
func TargetsFromConfig(cfg *config.Config) ([]Target, error) {
	var out []Target
	for i := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[i]
		for _, rs := range vs.RealServers {
			if rs.Check == nil {
				continue
			}
			t, err := TargetFromConfig(ServiceName(vs), rs.Address, rs.Check)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
	}
	return out, nil
}

// TargetFromConfig builds the Target for one real server's effective check.
func TargetFromConfig(service string, rs netip.AddrPort, c *config.Check) (Target, error) {
	ch, err := FromConfig(c, rs)
	if err != nil {
		return Target{}, err
	}
	return Target{
		ID:       ID{Service: service, Backend: rs},
		Checker:  ch,
		Interval: c.Interval.Std(),
		Timeout:  c.Timeout.Std(),
		Rise:     c.Rise,
		Fall:     c.Fall,
		// %+v renders every field, so any change of the check's keys changes the Spec.
		Spec: fmt.Sprintf("%+v", *c),
	}, nil
}
