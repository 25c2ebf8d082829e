package healthcheck

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/textproto"
	"time"
)

// DefaultHeloName is keepalived's helo_name default.
const DefaultHeloName = "smtpchecker.keepalived.org"

// maxSMTPReply bounds what a check reads of a server's replies, all of them together.
const maxSMTPReply = 64 << 10

// SMTP checks a mail server as keepalived's SMTP_CHECK does: connect, read the 220
// greeting, send HELO, expect 250, send QUIT and read its reply. Replies may span several
// lines ("220-..." continues, "220 ..." ends). Optionally over TLS: implicit (TLS, as on
// port 465) or upgraded with STARTTLS after an EHLO (StartTLS); keepalived has neither.
type SMTP struct {
	Addr netip.AddrPort
	// BindTo, when valid, is the source address (bindto).
	BindTo netip.Addr
	// HeloName (helo_name) is HELO's argument; "" means DefaultHeloName.
	HeloName string
	// TLS makes the TLS handshake right after the connect (SMTPS).
	TLS bool
	// StartTLS sends EHLO and STARTTLS after the greeting, makes the handshake, then HELO.
	// It is ignored with TLS.
	StartTLS bool
	// InsecureSkipVerify turns off certificate verification; it is on by default.
	InsecureSkipVerify bool
	// SNI is the TLS server name sent and verified; "" sends none and verifies the
	// certificate against Addr's address.
	SNI string
	// RootCAs verifies the server; nil means the system's roots.
	RootCAs *x509.CertPool
	// Timeout bounds the whole dialogue; 0 leaves it to the context.
	Timeout time.Duration
}

func (c *SMTP) String() string { return "smtp " + c.Addr.String() }

func (c *SMTP) helo() string {
	if c.HeloName == "" {
		return DefaultHeloName
	}
	return c.HeloName
}

func (c *SMTP) tlsConfig() *tls.Config {
	name := c.SNI
	if name == "" {
		name = c.Addr.Addr().String() // no SNI for an address; verified against it
	}
	return &tls.Config{ServerName: name, InsecureSkipVerify: c.InsecureSkipVerify, RootCAs: c.RootCAs}
}

// Check holds one dialogue on a new connection.
func (c *SMTP) Check(ctx context.Context) error {
	kind, target := "smtp", c.Addr.String()
	ctx, cancel := withTimeout(ctx, c.Timeout)
	defer cancel()
	conn, err := dial(ctx, c.Addr, c.BindTo)
	if err != nil {
		return fail(kind, target, "connect", err, c.Timeout)
	}
	defer conn.Close()
	return c.dialogue(ctx, conn)
}

// dialogue holds the SMTP dialogue on conn, which the caller closes. It reads what the
// server sends, untrusted bytes: FuzzSMTPGreeting feeds it.
func (c *SMTP) dialogue(ctx context.Context, conn net.Conn) error {
	kind, target := "smtp", c.Addr.String()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	handshake := func() error {
		tc := tls.Client(conn, c.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(kind, target, "tls handshake", ctxErr(ctx, err), c.Timeout)
		}
		conn = tc
		return nil
	}
	if c.TLS {
		if err := handshake(); err != nil {
			return err
		}
	}
	left := int64(maxSMTPReply)
	r := c.reader(conn, &left)
	// expect reads one reply and fails unless its code is want.
	expect := func(step string, want int) error {
		code, msg, err := r.ReadResponse(want)
		var te *textproto.Error
		switch {
		case errors.As(err, &te):
			return &Error{Check: kind, Target: target, Step: step, Reason: ReasonStatus,
				Detail: fmt.Sprintf("reply %d %s, want %d", code, firstLine(msg), want)}
		case err != nil:
			e := fail(kind, target, step, ctxErr(ctx, err), c.Timeout)
			var pe textproto.ProtocolError
			if errors.As(err, &pe) || errors.Is(err, io.ErrUnexpectedEOF) || left <= 0 {
				e.Reason = ReasonProtocol
			}
			return e
		}
		return nil
	}
	send := func(step, line string) error {
		if _, err := io.WriteString(conn, line+"\r\n"); err != nil {
			return fail(kind, target, step, ctxErr(ctx, err), c.Timeout)
		}
		return nil
	}
	if err := expect("greeting", 220); err != nil {
		return err
	}
	if c.StartTLS && !c.TLS {
		if err := send("ehlo", "EHLO "+c.helo()); err != nil {
			return err
		}
		if err := expect("ehlo", 250); err != nil {
			return err
		}
		if err := send("starttls", "STARTTLS"); err != nil {
			return err
		}
		if err := expect("starttls", 220); err != nil {
			return err
		}
		if err := handshake(); err != nil {
			return err
		}
		r = c.reader(conn, &left)
	}
	if err := send("helo", "HELO "+c.helo()); err != nil {
		return err
	}
	if err := expect("helo", 250); err != nil {
		return err
	}
	if err := send("quit", "QUIT"); err != nil {
		return err
	}
	// Like keepalived, any reply to QUIT will do; none (the connection closed) fails.
	if _, _, err := r.ReadResponse(0); err != nil {
		var te *textproto.Error
		if !errors.As(err, &te) {
			return fail(kind, target, "quit", ctxErr(ctx, err), c.Timeout)
		}
	}
	return nil
}

// reader reads replies from conn, at most *left bytes in all the check's readers.
func (c *SMTP) reader(conn net.Conn, left *int64) *textproto.Reader {
	return textproto.NewReader(bufio.NewReader(&limitedReader{conn, left}))
}

// limitedReader is io.LimitedReader with a budget shared across readers.
type limitedReader struct {
	r    io.Reader
	left *int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if *l.left <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if int64(len(p)) > *l.left {
		p = p[:*l.left]
	}
	n, err := l.r.Read(p)
	*l.left -= int64(n)
	return n, err
}

func firstLine(s string) string {
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i] + " ..."
		}
	}
	return s
}
