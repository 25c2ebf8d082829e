package healthcheck

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"hash"
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
// With URLs set, each URL is requested in turn, each on a new connection, and the check
// passes only when all pass (keepalived's url blocks); the fields above are then defaults
// for the URLs' Host.
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
	// Timeout bounds the whole check: connect, TLS handshake, request, headers and body,
	// of every URL. 0 leaves it to the context.
	Timeout time.Duration
	// URLs (keepalived's url blocks), when set, replace Path, ExpectStatus and ExpectBody.
	URLs []URL
}

// URL is one request of an HTTP check with several (keepalived's url block).
type URL struct {
	// Path (path) is the request target; default "/".
	Path string
	// ExpectStatus (status_code) lists the passing status codes; empty means 200 only.
	ExpectStatus []int
	// Digest (digest), when set, is the MD5 of the whole body in hex, as keepalived's
	// genhash prints it (case does not matter).
	Digest string
	// Regex (regex), when set, must match the first MaxBody bytes of the body, or, with
	// RegexNoMatch (regex_no_match), must not.
	Regex        *regexp.Regexp
	RegexNoMatch bool
	// Host (virtualhost) is the Host header (and default SNI) of this request; "" means
	// the check's Host.
	Host string
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

// Check makes one request on a new connection, or one per URL, in order.
func (h *HTTP) Check(ctx context.Context) error {
	ctx, cancel := withTimeout(ctx, h.Timeout)
	defer cancel()
	if len(h.URLs) == 0 {
		return h.get(ctx, URL{Path: h.Path, ExpectStatus: h.ExpectStatus, Regex: h.ExpectBody}, "")
	}
	for _, u := range h.URLs {
		one := *h
		one.Path = u.Path
		if u.Host != "" {
			one.Host = u.Host
		}
		if err := one.get(ctx, u, " (url "+one.path()+")"); err != nil {
			return err
		}
	}
	return nil
}

// get requests h.Path from h.Host and judges the response by u; where names the URL in
// error details.
func (h *HTTP) get(ctx context.Context, u URL, where string) error {
	kind, target := h.kind(), h.Addr.String()

	reqURL, err := url.ParseRequestURI(h.path())
	if err != nil {
		return &Error{Check: kind, Target: target, Step: "request", Reason: ReasonOther, Detail: "bad path: " + err.Error(), Err: err}
	}
	reqURL.Scheme, reqURL.Host = kind, target

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
		URL:        reqURL,
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

	want := u.ExpectStatus
	if len(want) == 0 {
		want = []int{http.StatusOK}
	}
	if !slices.Contains(want, resp.StatusCode) {
		detail := "status " + resp.Status + ", want " + joinInts(want)
		if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode/100 == 3 {
			detail += " (redirect to " + loc + " not followed)"
		}
		return &Error{Check: kind, Target: target, Step: "response", Reason: ReasonStatus, Detail: detail + where}
	}
	if (u.Regex == nil && u.Digest == "") || req.Method == http.MethodHead {
		return nil
	}
	limit := h.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	// The regex sees the first limit bytes; the digest, like keepalived's, the whole body.
	var body []byte
	var sum hash.Hash
	if u.Digest != "" {
		sum = md5.New()
	}
	if err := readBody(resp.Body, limit, &body, sum); err != nil {
		return fail(kind, target, "body", ctxErr(ctx, err), h.Timeout)
	}
	if sum != nil {
		if got := hex.EncodeToString(sum.Sum(nil)); !strings.EqualFold(got, u.Digest) {
			return &Error{Check: kind, Target: target, Step: "body", Reason: ReasonBody,
				Detail: fmt.Sprintf("MD5 digest %s, want %s%s", got, strings.ToLower(u.Digest), where)}
		}
	}
	if u.Regex != nil && u.Regex.Match(body) == u.RegexNoMatch {
		detail := fmt.Sprintf("no match for %q in the first %d bytes", u.Regex.String(), len(body))
		if u.RegexNoMatch {
			detail = fmt.Sprintf("%q matches the body (regex_no_match)", u.Regex.String())
		}
		return &Error{Check: kind, Target: target, Step: "body", Reason: ReasonBody, Detail: detail + where}
	}
	return nil
}

// readBody reads r to its end when sum is set (feeding sum), else its first limit bytes,
// and keeps the first limit bytes in *body.
func readBody(r io.Reader, limit int, body *[]byte, sum hash.Hash) error {
	if sum == nil {
		b, err := io.ReadAll(io.LimitReader(r, int64(limit)))
		*body = b
		return err
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		sum.Write(buf[:n])
		if keep := min(n, limit-len(*body)); keep > 0 {
			*body = append(*body, buf[:keep]...)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
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
