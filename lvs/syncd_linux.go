package lvs

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// IPVS_CMD_NEW_DAEMON, DEL_DAEMON, GET_DAEMON and the attributes nested in
// IPVS_CMD_ATTR_DAEMON (include/uapi/linux/ip_vs.h). moby/ipvs has none of them.
const (
	ipvsCmdNewDaemon = 9
	ipvsCmdDelDaemon = 10
	ipvsCmdGetDaemon = 11

	ipvsCmdAttrDaemon = 3

	ipvsDaemonAttrState       = 1 // u32: IP_VS_STATE_MASTER / BACKUP
	ipvsDaemonAttrMcastIfn    = 2 // NUL-terminated interface name
	ipvsDaemonAttrSyncID      = 3 // u32
	ipvsDaemonAttrSyncMaxLen  = 4 // u16
	ipvsDaemonAttrMcastGroup  = 5 // IPv4, network order
	ipvsDaemonAttrMcastGroup6 = 6 // 16 bytes
	ipvsDaemonAttrMcastPort   = 7 // u16, host order
	ipvsDaemonAttrMcastTTL    = 8 // u8
)

var _ SyncDaemons = (*IPVS)(nil)

// StartDaemon implements SyncDaemons.
func (k *IPVS) StartDaemon(s SyncDaemon) error {
	b, err := encodeDaemon(s)
	if err != nil {
		return fmt.Errorf("lvs: start sync daemon %s: %w", s, err)
	}
	c := k.get()
	err = c.exchange(ipvsCmdNewDaemon, netlink.Acknowledge, b, nil)
	k.put(c)
	switch {
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("lvs: start sync daemon %s: %w (%w)", s, ErrExists, err)
	case err != nil:
		return fmt.Errorf("lvs: start sync daemon %s: %w", s, err)
	}
	return nil
}

// StopDaemon implements SyncDaemons.
func (k *IPVS) StopDaemon(r SyncRole) error {
	ae := netlink.NewAttributeEncoder()
	ae.Nested(ipvsCmdAttrDaemon, func(ae *netlink.AttributeEncoder) error {
		ae.Uint32(ipvsDaemonAttrState, uint32(r))
		return nil
	})
	b, err := ae.Encode()
	if err == nil {
		c := k.get()
		err = c.exchange(ipvsCmdDelDaemon, netlink.Acknowledge, b, nil)
		k.put(c)
	}
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("lvs: stop %s sync daemon: %w", r, err)
	}
	return nil
}

// Daemons implements SyncDaemons.
func (k *IPVS) Daemons() ([]SyncDaemon, error) {
	var out []SyncDaemon
	c := k.get()
	err := c.exchange(ipvsCmdGetDaemon, netlink.Dump, nil, func(msg []byte) error {
		d, err := parseDaemon(msg)
		out = append(out, d)
		return err
	})
	k.put(c)
	if err != nil {
		return nil, fmt.Errorf("lvs: list sync daemons: %w", err)
	}
	return out, nil
}

// encodeDaemon is the IPVS_CMD_ATTR_DAEMON nest that starts s.
func encodeDaemon(s SyncDaemon) ([]byte, error) {
	if s.Role != SyncMaster && s.Role != SyncBackup {
		return nil, fmt.Errorf("unknown role %d", uint32(s.Role))
	}
	if s.Interface == "" || len(s.Interface) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("interface name %q: want 1..%d bytes", s.Interface, unix.IFNAMSIZ-1)
	}
	if s.MaxLen < 0 || s.MaxLen > 65535 {
		return nil, fmt.Errorf("max length %d is out of range", s.MaxLen)
	}
	g := s.Group.Unmap()
	if g.IsValid() && !g.IsMulticast() {
		return nil, fmt.Errorf("group %s is not a multicast address", g)
	}
	ae := netlink.NewAttributeEncoder()
	ae.Nested(ipvsCmdAttrDaemon, func(ae *netlink.AttributeEncoder) error {
		ae.Uint32(ipvsDaemonAttrState, uint32(s.Role))
		ae.String(ipvsDaemonAttrMcastIfn, s.Interface)
		ae.Uint32(ipvsDaemonAttrSyncID, uint32(s.SyncID))
		if s.MaxLen > 0 {
			ae.Uint16(ipvsDaemonAttrSyncMaxLen, uint16(s.MaxLen))
		}
		switch {
		case g.Is4():
			ae.Bytes(ipvsDaemonAttrMcastGroup, g.AsSlice())
		case g.IsValid():
			ae.Bytes(ipvsDaemonAttrMcastGroup6, g.AsSlice())
		}
		if s.Port != 0 {
			ae.Uint16(ipvsDaemonAttrMcastPort, s.Port)
		}
		if s.TTL != 0 {
			ae.Uint8(ipvsDaemonAttrMcastTTL, s.TTL)
		}
		return nil
	})
	return ae.Encode()
}

// parseDaemon decodes one answer to GET_DAEMON (the attributes after the genl
// header): the same nest NEW_DAEMON takes.
func parseDaemon(msg []byte) (SyncDaemon, error) {
	var s SyncDaemon
	err := decodeNest(msg, ipvsCmdAttrDaemon, func(ad *netlink.AttributeDecoder) error {
		for ad.Next() {
			switch ad.Type() {
			case ipvsDaemonAttrState:
				s.Role = SyncRole(ad.Uint32())
			case ipvsDaemonAttrMcastIfn:
				s.Interface = ad.String()
			case ipvsDaemonAttrSyncID:
				s.SyncID = uint8(ad.Uint32())
			case ipvsDaemonAttrSyncMaxLen:
				s.MaxLen = int(ad.Uint16())
			case ipvsDaemonAttrMcastGroup, ipvsDaemonAttrMcastGroup6:
				ad.Do(func(b []byte) error {
					a, ok := netip.AddrFromSlice(b)
					if !ok {
						return fmt.Errorf("lvs: group attribute of %d bytes", len(b))
					}
					s.Group = a
					return nil
				})
			case ipvsDaemonAttrMcastPort:
				s.Port = ad.Uint16()
			case ipvsDaemonAttrMcastTTL:
				s.TTL = ad.Uint8()
			}
		}
		return nil
	})
	return s, err
}
