package healthcheck

import (
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/hadirector/hadirector/internal/cmdline"
)

// CheckSpec is a real server's effective health check, as the configuration declares
// it. The package owns it so that it does not depend on the configuration's schema;
// the director maps one to the other, field by field.
type CheckSpec struct {
	Type         string // tcp, http, https or exec
	Method       string // "" for GET
	Path         string
	Host         string
	ExpectStatus []int
	ExpectBody   string // a regular expression; GET only
	TLSVerify    bool
	SNI          string
	ConnectPort  int // 0: the real server's port
	BindTo       netip.Addr
	Command      string // exec: a command line, split without a shell
	Interval     time.Duration
	Timeout      time.Duration
	Rise         int
	Fall         int
}

// FromSpec builds the checker that the check c describes for the real server rs. A nil
// c means the real server has no check and is an error here: such a backend is always
// healthy and has no target.
func FromSpec(c *CheckSpec, rs netip.AddrPort) (Checker, error) {
	if c == nil {
		return nil, fmt.Errorf("healthcheck: %s has no check", rs)
	}
	addr := rs
	if c.ConnectPort != 0 {
		addr = netip.AddrPortFrom(rs.Addr(), uint16(c.ConnectPort))
	}
	timeout := c.Timeout
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

// TargetFromSpec builds the Target id for a real server's effective check. Every
// target starts up (keepalived's default; see Target).
func TargetFromSpec(id ID, c *CheckSpec) (Target, error) {
	ch, err := FromSpec(c, id.Backend)
	if err != nil {
		return Target{}, err
	}
	return Target{
		ID:       id,
		Checker:  ch,
		Interval: c.Interval,
		Timeout:  c.Timeout,
		Rise:     c.Rise,
		Fall:     c.Fall,
		// %+v renders every field, so any change of the check's keys changes the Spec.
		Spec: fmt.Sprintf("%+v", *c),
	}, nil
}
