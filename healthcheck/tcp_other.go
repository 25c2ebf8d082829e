//go:build !linux

package healthcheck

import (
	"context"
	"net/netip"
)

// connectCheck has no fast path here: TCP.Check uses net.Dialer.
func connectCheck(context.Context, netip.AddrPort, netip.Addr) (bool, error) { return false, nil }
