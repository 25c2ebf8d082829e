//go:build !linux

package healthcheck

import (
	"net/netip"
	"syscall"
)

// recvErr is Linux's IP_RECVERR; elsewhere the system's defaults apply.
func recvErr(netip.AddrPort) func(network, address string, c syscall.RawConn) error { return nil }
