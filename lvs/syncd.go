package lvs

import (
	"errors"
	"fmt"
	"net/netip"
)

// SyncRole is the side of IPVS connection synchronization a kernel sync daemon runs:
// the master multicasts its connection entries, the backup receives them into its own
// table. The kernel runs at most one daemon of each role per network namespace, and both
// at once if asked.
type SyncRole uint32

// The kernel's IP_VS_STATE_MASTER and IP_VS_STATE_BACKUP.
const (
	SyncMaster SyncRole = 1
	SyncBackup SyncRole = 2
)

func (r SyncRole) String() string {
	switch r {
	case SyncMaster:
		return "master"
	case SyncBackup:
		return "backup"
	}
	return fmt.Sprintf("role(%d)", uint32(r))
}

// The kernel's defaults for a sync daemon started without them.
var (
	DefaultSyncGroup  = netip.MustParseAddr("224.0.0.81") // IP_VS_SYNC_GROUP
	DefaultSyncGroup6 = netip.MustParseAddr("ff02::8")    // IP_VS_SYNC_GROUP6
)

const (
	DefaultSyncPort = 8848 // IP_VS_SYNC_PORT
	DefaultSyncTTL  = 1
)

// SyncDaemon is one kernel sync daemon: `ipvsadm --start-daemon ROLE --mcast-interface
// IFACE --syncid ID [--sync-maxlen N] [--mcast-group G] [--mcast-port P] [--mcast-ttl T]`.
type SyncDaemon struct {
	Role      SyncRole   `json:"role"`
	Interface string     `json:"interface"`
	SyncID    uint8      `json:"sync_id"`
	MaxLen    int        `json:"max_len,omitempty"` // UDP payload; 0 = derived from the interface's MTU
	Group     netip.Addr `json:"group,omitzero"`    // zero = DefaultSyncGroup
	Port      uint16     `json:"port,omitempty"`    // 0 = DefaultSyncPort
	TTL       uint8      `json:"ttl,omitempty"`     // 0 = DefaultSyncTTL
}

// Normalize fills in the kernel's defaults, so that a daemon read back from the kernel
// compares equal to the one that was started. MaxLen stays as it is: the kernel reports
// the length it derived from the MTU, so Same ignores a zero MaxLen.
func (s SyncDaemon) Normalize() SyncDaemon {
	if !s.Group.IsValid() {
		s.Group = DefaultSyncGroup
	}
	s.Group = s.Group.Unmap()
	if s.Port == 0 {
		s.Port = DefaultSyncPort
	}
	if s.TTL == 0 {
		s.TTL = DefaultSyncTTL
	}
	return s
}

// Same reports whether the running daemon r is what s asks for.
func (s SyncDaemon) Same(r SyncDaemon) bool {
	a, b := s.Normalize(), r.Normalize()
	if a.MaxLen == 0 {
		b.MaxLen = 0
	}
	return a == b
}

func (s SyncDaemon) String() string {
	n := s.Normalize()
	out := fmt.Sprintf("%s on %s syncid %d group %s:%d ttl %d", n.Role, n.Interface, n.SyncID, n.Group, n.Port, n.TTL)
	if n.MaxLen > 0 {
		out += fmt.Sprintf(" maxlen %d", n.MaxLen)
	}
	return out
}

// SyncDaemons is the kernel's sync-daemon control of one network namespace.
type SyncDaemons interface {
	// StartDaemon starts a daemon; it fails with ErrExists if one of that role runs.
	StartDaemon(SyncDaemon) error
	// StopDaemon stops the daemon of a role; one that does not run is not an error.
	StopDaemon(SyncRole) error
	// Daemons lists the running daemons.
	Daemons() ([]SyncDaemon, error)
}

// SetSyncRole makes want.Role's daemon run as want (restarting one of that role that runs
// with other settings) and then stops the other role's daemon. The
// new role's daemon starts before the old one stops: the kernel runs both at once, so
// no connection update is lost in the switch. It returns what it changed.
func SetSyncRole(k SyncDaemons, want SyncDaemon) (changes []string, err error) {
	running, err := k.Daemons()
	if err != nil {
		return nil, err
	}
	var cur *SyncDaemon
	other := false
	for i, r := range running {
		switch r.Role {
		case want.Role:
			cur = &running[i]
		default:
			other = true
		}
	}
	if cur != nil && !want.Same(*cur) {
		if err := k.StopDaemon(want.Role); err != nil {
			return changes, err
		}
		changes = append(changes, "stopped "+cur.String())
		cur = nil
	}
	if cur == nil {
		if err := k.StartDaemon(want); err != nil {
			return changes, err
		}
		changes = append(changes, "started "+want.String())
	}
	if other {
		o := SyncMaster
		if want.Role == SyncMaster {
			o = SyncBackup
		}
		if err := k.StopDaemon(o); err != nil {
			return changes, err
		}
		changes = append(changes, "stopped "+o.String())
	}
	return changes, nil
}

// StopSyncDaemons stops every running daemon and returns the roles it stopped.
func StopSyncDaemons(k SyncDaemons) ([]SyncRole, error) {
	running, err := k.Daemons()
	if err != nil {
		return nil, err
	}
	var stopped []SyncRole
	var errs []error
	for _, r := range running {
		if err := k.StopDaemon(r.Role); err != nil {
			errs = append(errs, err)
			continue
		}
		stopped = append(stopped, r.Role)
	}
	return stopped, errors.Join(errs...)
}
