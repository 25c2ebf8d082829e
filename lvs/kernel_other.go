//go:build !linux

package lvs

// IPVS is the Kernel of a real Linux IPVS table; elsewhere there is none.
type IPVS struct{ Fake }

// OpenIPVS fails: IPVS exists only on Linux.
func OpenIPVS(IPVSOptions) (*IPVS, error) { return nil, ErrNoIPVS }

// HasIPVS reports false: IPVS exists only on Linux.
func HasIPVS() bool { return false }

// StartDaemon fails: IPVS exists only on Linux.
func (k *IPVS) StartDaemon(SyncDaemon) error { return ErrNoIPVS }

// StopDaemon fails: IPVS exists only on Linux.
func (k *IPVS) StopDaemon(SyncRole) error { return ErrNoIPVS }

// Daemons fails: IPVS exists only on Linux.
func (k *IPVS) Daemons() ([]SyncDaemon, error) { return nil, ErrNoIPVS }
