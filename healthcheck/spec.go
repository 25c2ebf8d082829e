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

	"github.com/hadirector/hadirector/internal/kaformat"
)

// CheckSpec is a real server's effective health check, as the configuration declares
// it. The package owns it so that it does not depend on the configuration's schema;
// the director maps one to the other, field by field.
type CheckSpec struct {
	Type         string // tcp, udp, dns, ping, smtp, http, https, exec or file
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
	// DelayBeforeRetry is Target.RetryInterval; Warmup is Target.Warmup.
	DelayBeforeRetry time.Duration
	Warmup           time.Duration
	// udp: Payload and Reply in keepalived's hex (kaformat.Hex), or PayloadText as is.
	Payload        string
	PayloadText    string
	RequireReply   bool
	Reply          string
	MinReplyLength int
	MaxReplyLength int
	// dns: DNSType is a name DNSType knows, "" for SOA.
	DNSType       string
	DNSName       string
	ExpectAddress netip.Addr
	// smtp; TLSVerify and SNI apply as to https.
	HeloName string
	TLS      bool
	StartTLS bool
	// http(s): keepalived's url blocks; with any, Path, ExpectStatus and ExpectBody are
	// not used.
	URLs []URLSpec
	// file
	File    string
	Weight  int
	Reverse bool
	// exec: the exit code sets the weight (Exec.Dynamic).
	MiscDynamic bool
}

// URLSpec is one url block of an http(s) check (see URL).
type URLSpec struct {
	Path         string
	ExpectStatus []int
	Digest       string
	Regex        string // a regular expression
	RegexNoMatch bool
	Virtualhost  string
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
	case "udp":
		return udpFromSpec(c, addr, rs)
	case "dns":
		d := &DNS{Addr: addr, BindTo: c.BindTo, Name: c.DNSName, ExpectAddr: c.ExpectAddress, Timeout: timeout}
		if c.DNSType != "" {
			t, err := kaformat.DNSType(c.DNSType)
			if err != nil {
				return nil, fmt.Errorf("healthcheck: %s: dns_type: %w", rs, err)
			}
			d.Type = t
		}
		return d, nil
	case "ping":
		return &ICMP{Addr: rs.Addr(), Timeout: timeout}, nil
	case "smtp":
		return &SMTP{Addr: addr, BindTo: c.BindTo, HeloName: c.HeloName, TLS: c.TLS, StartTLS: c.StartTLS,
			InsecureSkipVerify: !c.TLSVerify, SNI: c.SNI, Timeout: timeout}, nil
	case "file":
		return &File{Path: c.File, Weight: c.Weight, Reverse: c.Reverse}, nil
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
		for _, u := range c.URLs {
			hu := URL{Path: u.Path, ExpectStatus: slices.Clone(u.ExpectStatus), Digest: u.Digest, RegexNoMatch: u.RegexNoMatch, Host: u.Virtualhost}
			if u.Regex != "" {
				re, err := regexp.Compile(u.Regex)
				if err != nil {
					return nil, fmt.Errorf("healthcheck: %s: url %s: regex: %w", rs, u.Path, err)
				}
				hu.Regex = re
			}
			h.URLs = append(h.URLs, hu)
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
		return &Exec{Argv: argv, Timeout: timeout, Dynamic: c.MiscDynamic, Env: []string{
			"HADIRECTOR_BACKEND_ADDR=" + addr.Addr().String(),
			"HADIRECTOR_BACKEND_PORT=" + strconv.Itoa(int(addr.Port())),
		}}, nil
	}
	return nil, fmt.Errorf("healthcheck: %s: unknown check type %q", rs, c.Type)
}

// udpFromSpec is FromSpec for a udp check of rs at addr.
func udpFromSpec(c *CheckSpec, addr, rs netip.AddrPort) (Checker, error) {
	u := &UDP{Addr: addr, BindTo: c.BindTo, RequireReply: c.RequireReply, MinReply: c.MinReplyLength, MaxReply: c.MaxReplyLength, Timeout: c.Timeout}
	switch {
	case c.Payload != "":
		p, _, err := kaformat.Hex(c.Payload, false)
		if err != nil {
			return nil, fmt.Errorf("healthcheck: %s: payload: %w", rs, err)
		}
		u.Payload = p
	case c.PayloadText != "":
		u.Payload = []byte(c.PayloadText)
	}
	if c.Reply != "" {
		r, m, err := kaformat.Hex(c.Reply, true)
		if err != nil {
			return nil, fmt.Errorf("healthcheck: %s: reply: %w", rs, err)
		}
		u.Reply, u.ReplyMask = r, m
	}
	return u, nil
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
		// keepalived's delay_before_retry and warmup.
		RetryInterval: c.DelayBeforeRetry,
		Warmup:        c.Warmup,
		// %+v renders every field, so any change of the check's keys changes the Spec.
		Spec: fmt.Sprintf("%+v", *c),
	}, nil
}
