//go:build !linux

package healthcheck

import (
	"errors"
	"net/netip"
	"time"
)

// connEngine exists on Linux only; elsewhere TCP checks run on goroutines.
type connEngine struct{}

func newConnEngine() (*connEngine, error) { return nil, errors.ErrUnsupported }

func (*connEngine) supports(netip.AddrPort, netip.Addr) bool { return false }

func (*connEngine) start(netip.AddrPort, netip.Addr, time.Time, func(error)) {}

func (*connEngine) close() {}
