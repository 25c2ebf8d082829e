package healthcheck

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// smtpServer is a small SMTP server on loopback: it greets with greeting, answers HELO and
// EHLO with helo, STARTTLS with 220 when it has a certificate (and then speaks TLS), QUIT
// with 221, and records the commands of the last session.
type smtpServer struct {
	ln       net.Listener
	greeting string
	helo     string
	cert     *tls.Certificate
	implicit bool // TLS from the first byte

	mu   sync.Mutex
	cmds []string
}

func newSMTPServer(t *testing.T, greeting, helo string, cert *tls.Certificate, implicit bool) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &smtpServer{ln: ln, greeting: greeting, helo: helo, cert: cert, implicit: implicit}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpServer) addr(t *testing.T) netip.AddrPort { return addrPort(t, s.ln.Addr()) }

func (s *smtpServer) serve(c net.Conn) {
	defer func() { c.Close() }()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if s.implicit {
		c = tls.Server(c, &tls.Config{Certificates: []tls.Certificate{*s.cert}})
	}
	s.mu.Lock()
	s.cmds = nil
	s.mu.Unlock()
	r := bufio.NewReader(c)
	c.Write([]byte(s.greeting))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		s.mu.Lock()
		s.cmds = append(s.cmds, line)
		s.mu.Unlock()
		verb, _, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "HELO":
			c.Write([]byte(s.helo))
		case "EHLO":
			c.Write([]byte("250-mx.test\r\n250 STARTTLS\r\n"))
		case "STARTTLS":
			c.Write([]byte("220 go ahead\r\n"))
			c = tls.Server(c, &tls.Config{Certificates: []tls.Certificate{*s.cert}})
			r = bufio.NewReader(c)
		case "QUIT":
			c.Write([]byte("221 bye\r\n"))
			return
		default:
			c.Write([]byte("502 no\r\n"))
		}
	}
}

func (s *smtpServer) commands() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.cmds, "|")
}

func TestSMTP(t *testing.T) {
	ctx := context.Background()
	ok := newSMTPServer(t, "220-mx.test ESMTP\r\n220 ready\r\n", "250 mx.test\r\n", nil, false)
	if err := (&SMTP{Addr: ok.addr(t), Timeout: 5 * time.Second}).Check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ok.commands(); got != "HELO smtpchecker.keepalived.org|QUIT" {
		t.Errorf("commands %q", got)
	}
	if err := (&SMTP{Addr: ok.addr(t), HeloName: "lb1.test", Timeout: 5 * time.Second}).Check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ok.commands(); got != "HELO lb1.test|QUIT" {
		t.Errorf("commands with helo_name %q", got)
	}

	refuse := newSMTPServer(t, "554 no service\r\n", "250 mx.test\r\n", nil, false)
	wantReason(t, (&SMTP{Addr: refuse.addr(t), Timeout: 5 * time.Second}).Check(ctx), ReasonStatus, "smtp "+refuse.addr(t).String(), "greeting: reply 554 no service, want 220")
	badHelo := newSMTPServer(t, "220 ready\r\n", "501 syntax\r\n", nil, false)
	wantReason(t, (&SMTP{Addr: badHelo.addr(t), Timeout: 5 * time.Second}).Check(ctx), ReasonStatus, "helo: reply 501 syntax, want 250")
	garbage := newSMTPServer(t, "HTTP/1.1 400 Bad Request\r\n", "", nil, false)
	wantReason(t, (&SMTP{Addr: garbage.addr(t), Timeout: 5 * time.Second}).Check(ctx), ReasonProtocol, "greeting")

	silent := silentServer(t, "")
	wantReason(t, (&SMTP{Addr: silent, Timeout: 100 * time.Millisecond}).Check(ctx), ReasonTimeout, "greeting", "timed out after 100ms")
	closed := netip.MustParseAddrPort("127.0.0.1:1")
	wantReason(t, (&SMTP{Addr: closed, Timeout: 5 * time.Second}).Check(ctx), ReasonRefused, "connect")
}

func TestSMTPTLS(t *testing.T) {
	ctx := context.Background()
	cert, pool := selfSigned(t)
	implicit := newSMTPServer(t, "220 ready\r\n", "250 mx.test\r\n", &cert, true)
	if err := (&SMTP{Addr: implicit.addr(t), TLS: true, RootCAs: pool, Timeout: 5 * time.Second}).Check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := implicit.commands(); got != "HELO smtpchecker.keepalived.org|QUIT" {
		t.Errorf("implicit TLS: commands %q", got)
	}
	wantReason(t, (&SMTP{Addr: implicit.addr(t), TLS: true, Timeout: 5 * time.Second}).Check(ctx), ReasonTLS, "tls handshake")
	if err := (&SMTP{Addr: implicit.addr(t), TLS: true, InsecureSkipVerify: true, Timeout: 5 * time.Second}).Check(ctx); err != nil {
		t.Errorf("no verification: %v", err)
	}
	if err := (&SMTP{Addr: implicit.addr(t), TLS: true, SNI: "backend.test", RootCAs: pool, Timeout: 5 * time.Second}).Check(ctx); err != nil {
		t.Errorf("verified by name: %v", err)
	}

	upgrade := newSMTPServer(t, "220 ready\r\n", "250 mx.test\r\n", &cert, false)
	if err := (&SMTP{Addr: upgrade.addr(t), StartTLS: true, RootCAs: pool, Timeout: 5 * time.Second}).Check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := upgrade.commands(); got != "EHLO smtpchecker.keepalived.org|STARTTLS|HELO smtpchecker.keepalived.org|QUIT" {
		t.Errorf("STARTTLS: commands %q", got)
	}
	wantReason(t, (&SMTP{Addr: upgrade.addr(t), StartTLS: true, Timeout: 5 * time.Second}).Check(ctx), ReasonTLS, "tls handshake")
}

// FuzzSMTPGreeting: whatever a server greets with, the dialogue ends without panicking,
// and passes only when the greeting is a 220 reply: a "220 " (or "220") line, or a "220-"
// line and, later, a "220 " line, with any lines between (net/textproto takes lines
// without the code as text), from a server that answers HELO with 250 and QUIT with 221.
func FuzzSMTPGreeting(f *testing.F) {
	f.Fuzz(func(t *testing.T, greeting []byte) {
		client, server := net.Pipe()
		defer client.Close()
		go func() {
			defer server.Close()
			if _, err := server.Write(greeting); err != nil {
				return
			}
			r := bufio.NewReader(server)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				reply := "250 ok\r\n"
				if strings.HasPrefix(line, "QUIT") {
					reply = "221 bye\r\n"
				}
				if _, err := server.Write([]byte(reply)); err != nil {
					return
				}
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		c := &SMTP{Addr: netip.MustParseAddrPort("192.0.2.25:25")}
		err := c.dialogue(ctx, client)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("failure without a reason: %v", err)
			}
			return
		}
		final := func(l string) bool { return l == "220" || strings.HasPrefix(l, "220 ") }
		lines := strings.Split(string(greeting), "\n")
		lines = lines[:len(lines)-1] // the part after the last newline is no line
		for i := range lines {
			lines[i] = strings.TrimSuffix(lines[i], "\r")
		}
		if len(lines) > 0 && (final(lines[0]) || strings.HasPrefix(lines[0], "220-") && slices.ContainsFunc(lines[1:], final)) {
			return
		}
		t.Fatalf("passed with greeting %q", greeting)
	})
}
