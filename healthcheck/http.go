package healthcheck

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxBody is how much of a body an HTTP check reads to match ExpectBody when
// MaxBody is 0.
const DefaultMaxBody = 64 << 10

// HTTP checks an HTTP or HTTPS server the way `curl` would from a fresh process: a new
// connection (and a full TLS handshake) per check, one HTTP/1.1 request with
// "Connection: close", no redirects followed. The check passes when the status is one of
// ExpectStatus and, for GET with ExpectBody set, the first MaxBody bytes of the body match.
//
// The request goes to Addr whatever Host says: Host only sets the Host header and the
// default TLS server name, as with `curl --resolve` or keepalived's virtualhost.
type HTTP struct {
	Addr netip.AddrPort
	// TLS selects HTTPS.
	TLS bool
	// Method is GET (default) or HEAD (`curl -I`: headers only, nothing to match the body).
	Method string
	// Path is the request target, e.g. "/health?full=1"; default "/".
	Path string
	// Host is the Host header; empty means Addr, as curl sends for a URL with an address.
	Host string
	// ExpectStatus lists the passing status codes; empty means 200 only. A redirect is a
	// failure unless its status is listed: it is never followed.
	ExpectStatus []int
	// ExpectBody, when set, must match the body (GET only).
	ExpectBody *regexp.Regexp
	// MaxBody bounds the bytes read for ExpectBody; 0 means DefaultMaxBody.
	MaxBody int
	// InsecureSkipVerify turns off certificate verification (tls_verify = false).
	// Verification is on by default.
	InsecureSkipVerify bool
	// SNI is the TLS server name sent and verified; empty means Host without its port, or,
	// when Host is empty or an address, no SNI and verification against Addr's address.
	SNI string
	// RootCAs verifies the server; nil means the system's roots.
	RootCAs *x509.CertPool
	// BindTo, when valid, is the source address of the connection.
	BindTo netip.Addr
	// Timeout bounds the whole check: connect, TLS handshake, request, headers and body.
	// 0 leaves it to the context.
	Timeout time.Duration
}

func (h *HTTP) kind() string {
	if h.TLS {
		return "https"
	}
	return "http"
}

func (h *HTTP) String() string {
	return h.kind() + " " + h.method() + " " + h.Addr.String() + h.path()
}

func (h *HTTP) method() string {
	if h.Method == "" {
		return http.MethodGet
	}
	return h.Method
}

func (h *HTTP) path() string {
	if h.Path == "" {
		return "/"
	}
	return h.Path
}

// hostHeader is Host, or Addr without the scheme's default port, as curl writes it.
func (h *HTTP) hostHeader() string {
	if h.Host != "" {
		return h.Host
	}
	if (h.TLS && h.Addr.Port() == 443) || (!h.TLS && h.Addr.Port() == 80) {
		a := h.Addr.Addr()
		if a.Is6() {
			return "[" + a.String() + "]"
		}
		return a.String()
	}
	return h.Addr.String()
}

// serverName is the name sent as SNI and verified; "" means no SNI.
func (h *HTTP) serverName() string {
	if h.SNI != "" {
		return h.SNI
	}
	host := h.Host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	return host
}

func (h *HTTP) tlsConfig() *tls.Config {
	name := h.serverName()
	verifyName := name
	if verifyName == "" {
		// crypto/tls sends no SNI for an address but verifies the certificate against it.
		verifyName = h.Addr.Addr().String()
	}
	return &tls.Config{
		ServerName:         verifyName,
		InsecureSkipVerify: h.InsecureSkipVerify,
		RootCAs:            h.RootCAs,
		NextProtos:         []string{"http/1.1"},
		// No ClientSessionCache: every check makes a full handshake, so an expired or
		// replaced certificate is seen at the next check.
	}
}

// Check makes one request on a new connection.
func (h *HTTP) Check(ctx context.Context) error {
	kind, target := h.kind(), h.Addr.String()
	ctx, cancel := withTimeout(ctx, h.Timeout)
	defer cancel()

	u, err := url.ParseRequestURI(h.path())
	if err != nil {
		return &Error{Check: kind, Target: target, Step: "request", Reason: ReasonOther, Detail: "bad path: " + err.Error(), Err: err}
	}
	u.Scheme, u.Host = kind, target

	conn, err := dial(ctx, h.Addr, h.BindTo)
	if err != nil {
		return fail(kind, target, "connect", err, h.Timeout)
	}
	defer conn.Close()
	// One deadline for everything after the connect; cancelling ctx unblocks at once.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if h.TLS {
		tc := tls.Client(conn, h.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(kind, target, "tls handshake", ctxErr(ctx, err), h.Timeout)
		}
		conn = tc
	}

	req := &http.Request{
		Method:     h.method(),
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Host:       h.hostHeader(),
		Header: http.Header{
			"User-Agent": {"hadirector-healthcheck"},
			"Accept":     {"*/*"},
		},
		Close: true,
	}
	if err := req.Write(conn); err != nil {
		return fail(kind, target, "request", ctxErr(ctx, err), h.Timeout)
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 4096), req)
	if err != nil {
		e := fail(kind, target, "response", ctxErr(ctx, err), h.Timeout)
		if e.Reason == ReasonOther {
			e.Reason = ReasonProtocol
		}
		return e
	}
	defer resp.Body.Close()

	want := h.ExpectStatus
	if len(want) == 0 {
		want = []int{http.StatusOK}
	}
	if !slices.Contains(want, resp.StatusCode) {
		detail := "status " + resp.Status + ", want " + joinInts(want)
		if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode/100 == 3 {
			detail += " (redirect to " + loc + " not followed)"
		}
		return &Error{Check: kind, Target: target, Step: "response", Reason: ReasonStatus, Detail: detail}
	}
	if h.ExpectBody == nil || req.Method == http.MethodHead {
		return nil
	}
	limit := h.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)))
	if err != nil {
		return fail(kind, target, "body", ctxErr(ctx, err), h.Timeout)
	}
	if !h.ExpectBody.Match(body) {
		return &Error{Check: kind, Target: target, Step: "body", Reason: ReasonBody,
			Detail: fmt.Sprintf("no match for %q in the first %d bytes", h.ExpectBody.String(), len(body))}
	}
	return nil
}

// ctxErr reports a deadline that fired through SetDeadline as the timeout it is.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return err
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, " or ")
}
