package lvs

import (
	"errors"
	"fmt"
	"net/netip"

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
	b, err := appendDaemon(nil, s)
	if err != nil {
		return fmt.Errorf("lvs: start sync daemon %s: %w", s, err)
	}
	c := k.get()
	err = c.exchange(ipvsCmdNewDaemon, unix.NLM_F_ACK, b, nil)
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
	nest := attrHeader(nil, ipvsCmdAttrDaemon)
	b := endNest(attrU32(nest, ipvsDaemonAttrState, uint32(r)), 0)
	c := k.get()
	err := c.exchange(ipvsCmdDelDaemon, unix.NLM_F_ACK, b, nil)
	k.put(c)
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("lvs: stop %s sync daemon: %w", r, err)
	}
	return nil
}

// Daemons implements SyncDaemons.
func (k *IPVS) Daemons() ([]SyncDaemon, error) {
	var out []SyncDaemon
	c := k.get()
	err := c.exchange(ipvsCmdGetDaemon, unix.NLM_F_DUMP, nil, func(msg []byte) error {
		if d := nested(msg, ipvsCmdAttrDaemon); d != nil {
			out = append(out, parseDaemon(d))
		}
		return nil
	})
	k.put(c)
	if err != nil {
		return nil, fmt.Errorf("lvs: list sync daemons: %w", err)
	}
	return out, nil
}

// appendDaemon appends the IPVS_CMD_ATTR_DAEMON nest that starts s.
func appendDaemon(b []byte, s SyncDaemon) ([]byte, error) {
	if s.Role != SyncMaster && s.Role != SyncBackup {
		return b, fmt.Errorf("unknown role %d", uint32(s.Role))
	}
	if s.Interface == "" || len(s.Interface) >= unix.IFNAMSIZ {
		return b, fmt.Errorf("interface name %q: want 1..%d bytes", s.Interface, unix.IFNAMSIZ-1)
	}
	if s.MaxLen < 0 || s.MaxLen > 65535 {
		return b, fmt.Errorf("max length %d is out of range", s.MaxLen)
	}
	nest := len(b)
	b = attrHeader(b, ipvsCmdAttrDaemon)
	b = attrU32(b, ipvsDaemonAttrState, uint32(s.Role))
	b = attr(b, ipvsDaemonAttrMcastIfn, append([]byte(s.Interface), 0))
	b = attrU32(b, ipvsDaemonAttrSyncID, uint32(s.SyncID))
	if s.MaxLen > 0 {
		b = attrU16(b, ipvsDaemonAttrSyncMaxLen, uint16(s.MaxLen))
	}
	if g := s.Group.Unmap(); g.IsValid() {
		if !g.IsMulticast() {
			return b[:nest], fmt.Errorf("group %s is not a multicast address", g)
		}
		if g.Is4() {
			a := g.As4()
			b = attr(b, ipvsDaemonAttrMcastGroup, a[:])
		} else {
			a := g.As16()
			b = attr(b, ipvsDaemonAttrMcastGroup6, a[:])
		}
	}
	if s.Port != 0 {
		b = attrU16(b, ipvsDaemonAttrMcastPort, s.Port)
	}
	if s.TTL != 0 {
		b = attr(b, ipvsDaemonAttrMcastTTL, []byte{s.TTL})
	}
	return endNest(b, nest), nil
}

// parseDaemon reads one IPVS_CMD_ATTR_DAEMON nest of a GET_DAEMON answer.
func parseDaemon(b []byte) SyncDaemon {
	var s SyncDaemon
	attrs(b, func(t uint16, v []byte) {
		switch t {
		case ipvsDaemonAttrState:
			s.Role = SyncRole(u32(v))
		case ipvsDaemonAttrMcastIfn:
			s.Interface = cString(v)
		case ipvsDaemonAttrSyncID:
			s.SyncID = uint8(u32(v))
		case ipvsDaemonAttrSyncMaxLen:
			s.MaxLen = int(u16(v))
		case ipvsDaemonAttrMcastGroup:
			if len(v) >= 4 {
				s.Group = netip.AddrFrom4([4]byte(v[:4]))
			}
		case ipvsDaemonAttrMcastGroup6:
			if len(v) >= 16 {
				s.Group = netip.AddrFrom16([16]byte(v[:16]))
			}
		case ipvsDaemonAttrMcastPort:
			s.Port = u16(v)
		case ipvsDaemonAttrMcastTTL:
			if len(v) >= 1 {
				s.TTL = v[0]
			}
		}
	})
	return s
}

func cString(v []byte) string {
	for i, c := range v {
		if c == 0 {
			return string(v[:i])
		}
	}
	return string(v)
}
