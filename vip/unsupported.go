//go:build !linux

package vip

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
)

// errUnsupported: claiming addresses needs Linux (netlink, AF_PACKET, macvlan). The
// portable parts (frames, state file) still build and test elsewhere.
var errUnsupported = errors.New("vip: needs Linux")

// NewManager needs Linux.
func NewManager(stateFile string, log *slog.Logger) (*Manager, error) { return nil, errUnsupported }

// Announcer needs Linux.
type Announcer struct{}

// NewAnnouncer needs Linux.
func NewAnnouncer(ifname string, mac net.HardwareAddr, log *slog.Logger) (*Announcer, error) {
	return nil, errUnsupported
}

// Burst needs Linux.
func (a *Announcer) Burst(vips []netip.Addr, repeat int) (int, error) { return 0, errUnsupported }

// MAC needs Linux.
func (a *Announcer) MAC() net.HardwareAddr { return nil }

// SetRouter needs Linux.
func (a *Announcer) SetRouter(on bool) {}

// IPv6Forwarding needs Linux.
func IPv6Forwarding(ifname string) (bool, error) { return false, errUnsupported }

// SetIPv6Forwarding needs Linux.
func SetIPv6Forwarding(ifname string, on bool) error { return errUnsupported }

// Close needs Linux.
func (a *Announcer) Close() error { return nil }

// EnsureVMAC needs Linux.
func EnsureVMAC(s VMACSpec, log *slog.Logger) (*net.Interface, error) {
	return nil, errUnsupported
}

// CheckVMAC needs Linux.
func CheckVMAC(parent, name string) error { return errUnsupported }

// RemoveVMACsOf needs Linux.
func RemoveVMACsOf(parent string, mac net.HardwareAddr) ([]string, error) { return nil, errUnsupported }

// RemoveVMAC needs Linux.
func RemoveVMAC(name string) error { return errUnsupported }
