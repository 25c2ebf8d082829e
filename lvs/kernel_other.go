//go:build !linux

package lvs

// IPVSOptions configure OpenIPVS.
type IPVSOptions struct {
	NetNS      string
	Sockets    int
	NoModprobe bool
}

// IPVS is the Kernel of a real Linux IPVS table; elsewhere there is none.
type IPVS struct{ Fake }

// OpenIPVS fails: IPVS exists only on Linux.
func OpenIPVS(IPVSOptions) (*IPVS, error) { return nil, ErrNoIPVS }

// HasIPVS reports false: IPVS exists only on Linux.
func HasIPVS() bool { return false }

// DefaultSockets is IPVSOptions.Sockets when it is zero.
const DefaultSockets = 2

// StartDaemon fails: IPVS exists only on Linux.
func (k *IPVS) StartDaemon(SyncDaemon) error { return ErrNoIPVS }

// StopDaemon fails: IPVS exists only on Linux.
func (k *IPVS) StopDaemon(SyncRole) error { return ErrNoIPVS }

// Daemons fails: IPVS exists only on Linux.
func (k *IPVS) Daemons() ([]SyncDaemon, error) { return nil, ErrNoIPVS }
