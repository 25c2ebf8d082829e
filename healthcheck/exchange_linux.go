package healthcheck

import (
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// recvErr has a UDP socket report every ICMP error about its peer (IP_RECVERR), as the
// engine's sockets do.
func recvErr(addr netip.AddrPort) func(network, address string, c syscall.RawConn) error {
	level, opt := unix.IPPROTO_IP, unix.IP_RECVERR
	if !addr.Addr().Unmap().Is4() {
		level, opt = unix.IPPROTO_IPV6, unix.IPV6_RECVERR
	}
	return func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), level, opt, 1) })
	}
}
