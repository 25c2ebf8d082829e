package healthcheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// Checker checks one backend once. A nil error means healthy; any error means unhealthy and
// says why. Check must return by the context's deadline (plus the time it takes to clean
// up) and must be safe for concurrent use, although the Monitor never runs two checks of
// the same target at once.
type Checker interface {
	Check(ctx context.Context) error
}

// CheckerFunc adapts a function to the Checker interface.
type CheckerFunc func(ctx context.Context) error

// Check calls f(ctx).
func (f CheckerFunc) Check(ctx context.Context) error { return f(ctx) }

// Reason classifies why a check failed, in a small fixed set fit for a metrics label.
type Reason string

// The reasons a check can fail for.
const (
	ReasonTimeout     Reason = "timeout"     // no answer within the timeout
	ReasonRefused     Reason = "refused"     // connection refused (RST to the SYN)
	ReasonReset       Reason = "reset"       // connection reset or closed mid-check
	ReasonUnreachable Reason = "unreachable" // no route, host or network unreachable
	ReasonTLS         Reason = "tls"         // handshake or certificate verification failed
	ReasonStatus      Reason = "status"      // HTTP status, SMTP reply code or DNS rcode not the expected one
	ReasonBody        Reason = "body"        // the content did not match (HTTP body, UDP reply, DNS answer)
	ReasonProtocol    Reason = "protocol"    // not a well-formed response
	ReasonExit        Reason = "exit"        // exec: the program exited non-zero or was killed
	ReasonOther       Reason = "error"       // anything else (cannot bind, cannot start, ...)
)

// Error is the error every checker in this package returns: what was checked, at which
// step it failed, and why. Callers branch on Reason; Err is the underlying error, if any,
// for errors.Is and errors.As.
type Error struct {
	Check  string // "tcp", "udp", "dns", "icmp", "smtp", "http", "https" or "exec"
	Target string // address or program
	Step   string // "connect", "tls handshake", "request", "response", "body", "run", ...
	Reason Reason
	Detail string // human-readable cause, e.g. "status 500, want 200"
	Err    error
}

func (e *Error) Error() string {
	if e.Step == "" {
		return fmt.Sprintf("healthcheck: %s %s: %s", e.Check, e.Target, e.Detail)
	}
	return fmt.Sprintf("healthcheck: %s %s: %s: %s", e.Check, e.Target, e.Step, e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of an error returned by a checker: the Reason of an *Error
// in its chain, else a classification of err itself.
func ReasonOf(err error) Reason {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	r, _ := classify(err, 0)
	return r
}

// fail builds the *Error for an I/O failure, classifying err. timeout is the check's own
// timeout, quoted in the message when the failure is a timeout.
func fail(check, target, step string, err error, timeout time.Duration) *Error {
	r, detail := classify(err, timeout)
	return &Error{Check: check, Target: target, Step: step, Reason: r, Detail: detail, Err: err}
}

// classify maps an I/O error to a Reason and a short description without the address
// noise of *net.OpError ("dial tcp 127.0.0.1:1->...: connect: ").
func classify(err error, timeout time.Duration) (Reason, string) {
	var (
		verr  *tls.CertificateVerificationError
		uerr  x509.UnknownAuthorityError
		herr  x509.HostnameError
		cerr  x509.CertificateInvalidError
		alert tls.AlertError
		rerr  tls.RecordHeaderError
		errno syscall.Errno
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), isTimeout(err):
		if timeout > 0 {
			return ReasonTimeout, fmt.Sprintf("timed out after %v", timeout)
		}
		return ReasonTimeout, "timed out"
	case errors.Is(err, context.Canceled):
		return ReasonOther, "canceled"
	case errors.As(err, &verr), errors.As(err, &uerr), errors.As(err, &herr), errors.As(err, &cerr),
		errors.As(err, &alert), errors.As(err, &rerr):
		return ReasonTLS, err.Error()
	case errors.As(err, &errno):
		switch errno {
		case syscall.ECONNREFUSED:
			return ReasonRefused, "connection refused"
		case syscall.ECONNRESET, syscall.EPIPE, syscall.ECONNABORTED:
			return ReasonReset, errno.Error()
		case syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.EHOSTDOWN, syscall.ENETDOWN:
			return ReasonUnreachable, errno.Error()
		case syscall.ETIMEDOUT:
			return ReasonTimeout, "timed out (" + errno.Error() + ")"
		}
		return ReasonOther, opDetail(err)
	case errors.Is(err, net.ErrClosed):
		return ReasonReset, "connection closed"
	}
	return ReasonOther, opDetail(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// opDetail strips *net.OpError's "dial tcp a->b: " prefix, keeping the operation and cause.
func opDetail(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Op + ": " + op.Err.Error()
	}
	return err.Error()
}

// withTimeout bounds ctx by d when d > 0 and ctx does not already end sooner (the Monitor
// sets the same deadline: a second timer per check would be waste).
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return ctx, func() {}
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}
