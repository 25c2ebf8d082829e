//go:build !linux

package healthcheck

import (
	"errors"
	"net/netip"
	"time"
)

// connEngine exists on Linux only; elsewhere TCP and UDP checks run on goroutines.
type connEngine struct{}

func newConnEngine(Clock) (*connEngine, error) { return nil, errors.ErrUnsupported }

func (*connEngine) supports(netip.AddrPort, netip.Addr) bool { return false }

func (*connEngine) start(netip.AddrPort, netip.Addr, time.Time, func(error, time.Time)) {}

func (*connEngine) exchange(netip.AddrPort, netip.Addr, exchange, time.Time, func(error, time.Time)) {
}

func (*connEngine) close() {}
