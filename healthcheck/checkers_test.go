package healthcheck

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// wantReason fails t unless err is a checker *Error with reason r whose message contains
// every fragment.
func wantReason(t *testing.T, err error, r Reason, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("check passed, want a %s failure", r)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *healthcheck.Error", err, err)
	}
	if e.Reason != r || ReasonOf(err) != r {
		t.Errorf("reason %q, want %q (error: %v)", e.Reason, r, err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %q", err, f)
		}
	}
}

func addrPort(t *testing.T, a net.Addr) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// tcpServer accepts connections on 127.0.0.1, records their source addresses and closes
// them.
type tcpServer struct {
	ln    net.Listener
	mu    sync.Mutex
	peers []netip.AddrPort
}

func newTCPServer(t *testing.T) *tcpServer {
	t.Helper()
	s, err := listenTCPServer(t, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// listenTCPServer is newTCPServer on the given network and address.
func listenTCPServer(t *testing.T, network, address string) (*tcpServer, error) {
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	s := &tcpServer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.peers = append(s.peers, addrPort(t, c.RemoteAddr()))
			s.mu.Unlock()
			c.Close()
		}
	}()
	return s, nil
}

func (s *tcpServer) addr(t *testing.T) netip.AddrPort { return addrPort(t, s.ln.Addr()) }

func TestTCPUp(t *testing.T) {
	s := newTCPServer(t)
	c := &TCP{Addr: s.addr(t), Timeout: time.Second}
	for range 3 {
		if err := c.Check(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTCPRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := addrPort(t, ln.Addr())
	ln.Close()
	err = (&TCP{Addr: addr, Timeout: time.Second}).Check(context.Background())
	wantReason(t, err, ReasonRefused, "tcp "+addr.String(), "connect: connection refused")
}

func TestTCPBindTo(t *testing.T) {
	s := newTCPServer(t)
	src := netip.MustParseAddr("127.0.0.3")
	if err := (&TCP{Addr: s.addr(t), BindTo: src, Timeout: time.Second}).Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The server records the peer after accepting; give it a moment.
	waitFor(t, time.Second, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.peers) == 1 })
	if got := s.peers[0].Addr(); got != src {
		t.Errorf("server saw the check from %v, want %v", got, src)
	}
	// An address this host does not have cannot be bound.
	err := (&TCP{Addr: s.addr(t), BindTo: netip.MustParseAddr("192.0.2.1"), Timeout: time.Second}).Check(context.Background())
	wantReason(t, err, ReasonOther, "assign requested address")
}

// TestTCPLateLook: a connection established before the check looked is a success even if
// the deadline passed meanwhile (the checker was late, not the backend).
func TestTCPLateLook(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the last look is part of the Linux fast path")
	}
	s := newTCPServer(t)
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if err := (&TCP{Addr: s.addr(t)}).Check(ctx); err != nil {
		t.Fatalf("a live listener reached after the deadline: %v", err)
	}
}

// TestTCPTimeout connects to a listener whose accept queue is full: the kernel drops the
// SYN, so the connect can only time out.
func TestTCPTimeout(t *testing.T) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(netip.AddrFrom4(sa.(*syscall.SockaddrInet4).Addr), uint16(sa.(*syscall.SockaddrInet4).Port))
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	full := false
	for range 8 {
		c, err := net.DialTimeout("tcp", addr.String(), 200*time.Millisecond)
		if err != nil {
			full = true
			break
		}
		held = append(held, c)
	}
	if !full {
		t.Skip("the kernel kept accepting on a backlog-0 listener; cannot provoke a connect timeout here")
	}
	start := time.Now()
	err = (&TCP{Addr: addr, Timeout: 150 * time.Millisecond}).Check(context.Background())
	wantReason(t, err, ReasonTimeout, "connect: timed out after 150ms")
	if el := time.Since(start); el > 10*time.Second { // the kernel's SYN retries take minutes
		t.Errorf("timeout took %v", el)
	}
}

// httpServer is an httptest server that records what the checks sent.
type httpServer struct {
	*httptest.Server
	conns   atomic.Int64
	mu      sync.Mutex
	methods []string
	hosts   []string
	paths   []string
	remotes []string
	sni     []string
}

func newHTTPServer(t *testing.T, h http.HandlerFunc, cert *tls.Certificate) *httpServer {
	t.Helper()
	s := &httpServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.methods = append(s.methods, r.Method)
		s.hosts = append(s.hosts, r.Host)
		s.paths = append(s.paths, r.URL.RequestURI())
		s.remotes = append(s.remotes, r.RemoteAddr)
		s.mu.Unlock()
		h(w, r)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	if cert == nil {
		s.Start()
	} else {
		s.TLS = &tls.Config{
			Certificates: []tls.Certificate{*cert},
			GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
				s.mu.Lock()
				s.sni = append(s.sni, hi.ServerName)
				s.mu.Unlock()
				return nil, nil
			},
		}
		s.StartTLS()
	}
	t.Cleanup(s.Close)
	return s
}

func (s *httpServer) addr(t *testing.T) netip.AddrPort { return addrPort(t, s.Listener.Addr()) }

func (s *httpServer) last() (method, host, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.methods) == 0 {
		return "", "", ""
	}
	n := len(s.methods) - 1
	return s.methods[n], s.hosts[n], s.paths[n]
}

func (s *httpServer) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.methods)
}

func status(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

func TestHTTPStatus(t *testing.T) {
	ok := newHTTPServer(t, status(200, "fine"), nil)
	bad := newHTTPServer(t, status(500, "broken"), nil)
	if err := (&HTTP{Addr: ok.addr(t), Timeout: time.Second}).Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := (&HTTP{Addr: bad.addr(t), Timeout: time.Second}).Check(context.Background())
	wantReason(t, err, ReasonStatus, "http "+bad.addr(t).String(), "status 500 Internal Server Error, want 200")
	// 500 passes when it is expected.
	if err := (&HTTP{Addr: bad.addr(t), ExpectStatus: []int{200, 500}, Timeout: time.Second}).Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestHTTPMethodPathHost(t *testing.T) {
	s := newHTTPServer(t, status(200, "hello"), nil)
	ctx := context.Background()

	if err := (&HTTP{Addr: s.addr(t), Method: "HEAD", Path: "/health?deep=1", Timeout: time.Second}).Check(ctx); err != nil {
		t.Fatal(err)
	}
	m, h, p := s.last()
	if m != "HEAD" || p != "/health?deep=1" || h != s.addr(t).String() {
		t.Errorf("HEAD check sent %s %s Host %s, want HEAD /health?deep=1 Host %s", m, p, h, s.addr(t))
	}

	if err := (&HTTP{Addr: s.addr(t), Host: "www.example.com", Timeout: time.Second}).Check(ctx); err != nil {
		t.Fatal(err)
	}
	m, h, p = s.last()
	if m != "GET" || p != "/" || h != "www.example.com" {
		t.Errorf("GET check sent %s %s Host %s, want GET / Host www.example.com", m, p, h)
	}

	// HEAD has no body, so a body pattern cannot fail it (FromSpec refuses the pair).
	if err := (&HTTP{Addr: s.addr(t), Method: "HEAD", ExpectBody: regexp.MustCompile("nothing"), Timeout: time.Second}).Check(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestHTTPHostHeaderDefaultPort(t *testing.T) {
	h := &HTTP{Addr: netip.MustParseAddrPort("192.0.2.1:80")}
	if got := h.hostHeader(); got != "192.0.2.1" {
		t.Errorf("Host %q, want 192.0.2.1 (curl omits the default port)", got)
	}
	h = &HTTP{Addr: netip.MustParseAddrPort("[2001:db8::1]:443"), TLS: true}
	if got := h.hostHeader(); got != "[2001:db8::1]" {
		t.Errorf("Host %q, want [2001:db8::1]", got)
	}
}

func TestHTTPBody(t *testing.T) {
	s := newHTTPServer(t, status(200, `{"status":"ok","db":"up"}`), nil)
	ctx := context.Background()
	if err := (&HTTP{Addr: s.addr(t), ExpectBody: regexp.MustCompile(`"db":"up"`), Timeout: time.Second}).Check(ctx); err != nil {
		t.Fatal(err)
	}
	err := (&HTTP{Addr: s.addr(t), ExpectBody: regexp.MustCompile(`"db":"down"`), Timeout: time.Second}).Check(ctx)
	wantReason(t, err, ReasonBody, `no match for "\"db\":\"down\""`)

	// Only MaxBody bytes are read: a marker past them is not seen.
	big := newHTTPServer(t, status(200, strings.Repeat("x", 100<<10)+"MARKER"), nil)
	err = (&HTTP{Addr: big.addr(t), ExpectBody: regexp.MustCompile("MARKER"), Timeout: time.Second}).Check(ctx)
	wantReason(t, err, ReasonBody, fmt.Sprintf("first %d bytes", DefaultMaxBody))
	if err := (&HTTP{Addr: big.addr(t), ExpectBody: regexp.MustCompile("MARKER"), MaxBody: 200 << 10, Timeout: time.Second}).Check(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestHTTPRedirectNotFollowed(t *testing.T) {
	s := newHTTPServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			http.Redirect(w, r, "/elsewhere", http.StatusMovedPermanently)
			return
		}
		w.WriteHeader(200)
	}, nil)
	err := (&HTTP{Addr: s.addr(t), Timeout: time.Second}).Check(context.Background())
	wantReason(t, err, ReasonStatus, "status 301", "redirect to /elsewhere not followed")
	if n := s.requests(); n != 1 {
		t.Errorf("server got %d requests, want 1 (no redirect followed)", n)
	}
	if err := (&HTTP{Addr: s.addr(t), ExpectStatus: []int{301}, Timeout: time.Second}).Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestHTTPFreshConnection: every check opens its own connection, like curl, so a server
// that died is noticed at the next check rather than hidden by a pooled connection.
func TestHTTPFreshConnection(t *testing.T) {
	s := newHTTPServer(t, status(200, "ok"), nil)
	c := &HTTP{Addr: s.addr(t), Timeout: time.Second}
	for range 5 {
		if err := c.Check(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.conns.Load(); n != 5 {
		t.Errorf("5 checks used %d connections, want 5", n)
	}
}

// silentServer accepts connections and never writes; with headers set, it writes the
// response headers and then stalls in the body.
func silentServer(t *testing.T, headers string) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			if headers != "" {
				go func() {
					buf := make([]byte, 4096)
					c.Read(buf)
					io.WriteString(c, headers)
				}()
			}
		}
	}()
	return addrPort(t, ln.Addr())
}

func TestHTTPTimeout(t *testing.T) {
	for _, tc := range []struct {
		name, headers, step string
		body                bool
	}{
		{"no answer", "", "response", false},
		{"stalled body", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", "body", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := silentServer(t, tc.headers)
			c := &HTTP{Addr: addr, Timeout: 200 * time.Millisecond}
			if tc.body {
				c.ExpectBody = regexp.MustCompile("complete")
			}
			start := time.Now()
			err := c.Check(context.Background())
			wantReason(t, err, ReasonTimeout, tc.step+": timed out after 200ms")
			if el := time.Since(start); el < 200*time.Millisecond || el > 10*time.Second { // the server never answers
				t.Errorf("the check took %v, want about its 200ms timeout", el)
			}
		})
	}
	// The caller's context bounds the check too.
	addr := silentServer(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	wantReason(t, (&HTTP{Addr: addr}).Check(ctx), ReasonTimeout)
}

func TestHTTPNotHTTP(t *testing.T) {
	// A server that answers garbage.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "SSH-2.0-OpenSSH_9.2\r\n")
			c.Close()
		}
	}()
	err = (&HTTP{Addr: addrPort(t, ln.Addr()), Timeout: time.Second}).Check(context.Background())
	wantReason(t, err, ReasonProtocol, "response: ")
}

// selfSigned makes a certificate for backend.test and 127.0.0.1.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "backend.test"},
		DNSNames:              []string{"backend.test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestHTTPS(t *testing.T) {
	cert, pool := selfSigned(t)
	s := newHTTPServer(t, status(200, "secure"), &cert)
	addr := s.addr(t)
	ctx := context.Background() // (5s timeouts: a handshake under -race on a busy machine can take 1s)
	lastSNI := func() string {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.sni[len(s.sni)-1]
	}

	// Verification is on by default: a self-signed certificate fails.
	err := (&HTTP{Addr: addr, TLS: true, Host: "backend.test", Timeout: 5 * time.Second}).Check(ctx)
	wantReason(t, err, ReasonTLS, "https "+addr.String(), "tls handshake: ", "x509: certificate signed by unknown authority")
	if got := lastSNI(); got != "backend.test" {
		t.Errorf("SNI %q, want backend.test (from Host)", got)
	}

	// tls_verify = false passes, and still sends SNI.
	if err := (&HTTP{Addr: addr, TLS: true, Host: "backend.test", InsecureSkipVerify: true, Timeout: 5 * time.Second}).Check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := lastSNI(); got != "backend.test" {
		t.Errorf("SNI %q, want backend.test", got)
	}

	// An explicit SNI wins over Host; the Host header is still Host.
	if err := (&HTTP{Addr: addr, TLS: true, Host: "www.example.com:8443", SNI: "backend.test", RootCAs: pool, Timeout: 5 * time.Second}).Check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := lastSNI(); got != "backend.test" {
		t.Errorf("SNI %q, want backend.test", got)
	}
	if _, h, _ := s.last(); h != "www.example.com:8443" {
		t.Errorf("Host %q, want www.example.com:8443", h)
	}

	// Trusted issuer but the wrong name: a hostname error.
	err = (&HTTP{Addr: addr, TLS: true, Host: "wrong.test", RootCAs: pool, Timeout: 5 * time.Second}).Check(ctx)
	wantReason(t, err, ReasonTLS, "wrong.test")

	// No Host, no SNI: nothing sent, and the certificate is verified against the address.
	if err := (&HTTP{Addr: addr, TLS: true, RootCAs: pool, Timeout: 5 * time.Second}).Check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := lastSNI(); got != "" {
		t.Errorf("SNI %q, want none for an address", got)
	}

	// Plain HTTP to a TLS port is a protocol failure (the server answers 400 to it).
	err = (&HTTP{Addr: addr, Timeout: 5 * time.Second}).Check(ctx)
	if err == nil {
		t.Error("plain HTTP to an HTTPS server passed")
	}
	// TLS to a plain HTTP server fails in the handshake.
	plain := newHTTPServer(t, status(200, ""), nil)
	wantReason(t, (&HTTP{Addr: plain.addr(t), TLS: true, InsecureSkipVerify: true, Timeout: 5 * time.Second}).Check(ctx), ReasonTLS, "tls handshake")
}

func TestHTTPBindTo(t *testing.T) {
	s := newHTTPServer(t, status(200, ""), nil)
	if err := (&HTTP{Addr: s.addr(t), BindTo: netip.MustParseAddr("127.0.0.4"), Timeout: time.Second}).Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !strings.HasPrefix(s.remotes[0], "127.0.0.4:") {
		t.Errorf("request came from %s, want 127.0.0.4", s.remotes[0])
	}
}

func TestExec(t *testing.T) {
	ctx := context.Background()
	if err := (&Exec{Argv: []string{"/bin/true"}, Timeout: time.Second}).Check(ctx); err != nil {
		t.Fatal(err)
	}
	wantReason(t, (&Exec{Argv: []string{"/bin/false"}, Timeout: time.Second}).Check(ctx), ReasonExit, "exec /bin/false", "exit status 1")

	start := time.Now()
	wantReason(t, (&Exec{Argv: []string{"/bin/sleep", "60"}, Timeout: 100 * time.Millisecond}).Check(ctx), ReasonTimeout, "timed out after 100ms")
	if el := time.Since(start); el > 10*time.Second { // the command would run for a minute
		t.Errorf("timed-out exec took %v", el)
	}
	wantReason(t, (&Exec{Argv: []string{"/nonexistent/check"}, Timeout: time.Second}).Check(ctx), ReasonOther, "start")
	wantReason(t, (&Exec{Timeout: time.Second}).Check(ctx), ReasonOther, "empty command")

	// The environment is PATH and Env only, nothing inherited.
	t.Setenv("HADIRECTOR_LEAK", "1")
	env := &Exec{Argv: []string{"/bin/sh", "-c", `test "$X" = y && test -z "$HADIRECTOR_LEAK" && test "$PATH" = /usr/sbin:/usr/bin:/sbin:/bin`}, Env: []string{"X=y"}, Timeout: time.Second}
	if err := env.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestExecKillsGroup: on timeout the script's children die with it (the process group is
// killed), and the check does not wait for a grandchild holding stdout.
func TestExecKillsGroup(t *testing.T) {
	start := time.Now()
	err := (&Exec{Argv: []string{"/bin/sh", "-c", "sleep 30 & sleep 30"}, Timeout: 100 * time.Millisecond}).Check(context.Background())
	wantReason(t, err, ReasonTimeout)
	if el := time.Since(start); el > 10*time.Second { // the children hold stdout for 30 s
		t.Errorf("took %v", el)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Reason
	}{
		{context.DeadlineExceeded, ReasonTimeout},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, ReasonRefused},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, ReasonReset},
		{&net.OpError{Op: "dial", Err: syscall.EHOSTUNREACH}, ReasonUnreachable},
		{&net.OpError{Op: "dial", Err: syscall.ENETUNREACH}, ReasonUnreachable},
		{&net.OpError{Op: "dial", Err: syscall.ETIMEDOUT}, ReasonTimeout},
		{x509.UnknownAuthorityError{}, ReasonTLS},
		{errors.New("whatever"), ReasonOther},
		{nil, ""},
	} {
		if got := ReasonOf(tc.err); got != tc.want {
			t.Errorf("ReasonOf(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(time.Millisecond)
	}
}
