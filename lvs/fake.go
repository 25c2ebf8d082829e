package lvs

import (
	"errors"
	"sync"
	"time"
)

var errFakeClosed = errors.New("lvs: fake kernel is closed")

// Fake is an in-memory Kernel for tests, with the kernel's rules (see ApplyTo) and
// injectable errors.
type Fake struct {
	mu          sync.Mutex
	table       Table
	timeouts    Timeouts
	stats       Stats
	fail        func(Op) error
	servicesErr error
	applied     []Op
	closed      bool
}

// NewFake returns an empty Fake with the kernel's default timeouts (900 120 300).
func NewFake() *Fake {
	return &Fake{
		table:    Table{},
		timeouts: Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second},
	}
}

// Load replaces the table, for example with another tool's services.
func (f *Fake) Load(t Table) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.table = t.Clone()
}

// FailWith makes Apply return fn(op) instead of applying op whenever fn returns an
// error; nil removes it.
func (f *Fake) FailWith(fn func(Op) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fn
}

// FailServices makes Services (and Snapshot) return err; nil removes it.
func (f *Fake) FailServices(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.servicesErr = err
}

// SetStats sets what Snapshot reports.
func (f *Fake) SetStats(s Stats) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats = s
}

// Applied returns the ops applied successfully so far, in order.
func (f *Fake) Applied() []Op {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Op(nil), f.applied...)
}

// Services implements Kernel.
func (f *Fake) Services() (Table, error) {
	t, _, err := f.Snapshot()
	return t, err
}

// Snapshot returns the table and the stats set with SetStats.
func (f *Fake) Snapshot() (Table, Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, nil, errFakeClosed
	}
	if f.servicesErr != nil {
		return nil, nil, f.servicesErr
	}
	return f.table.Clone(), f.stats, nil
}

// Apply implements Kernel.
func (f *Fake) Apply(op Op) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errFakeClosed
	}
	if f.fail != nil {
		if err := f.fail(op); err != nil {
			return err
		}
	}
	if err := ApplyTo(f.table, op); err != nil {
		return err
	}
	f.applied = append(f.applied, op)
	return nil
}

// ApplyBatch implements BatchKernel.
func (f *Fake) ApplyBatch(ops []Op) []error {
	errs := make([]error, len(ops))
	for i, op := range ops {
		errs[i] = f.Apply(op)
	}
	return errs
}

// Timeouts implements Kernel.
func (f *Fake) Timeouts() (Timeouts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.timeouts, nil
}

// SetTimeouts implements Kernel.
func (f *Fake) SetTimeouts(t Timeouts) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.timeouts = truncTimeouts(t).Merge(f.timeouts)
	return nil
}

// Info reports a kernel like Debian's.
func (f *Fake) Info() (Info, error) { return Info{Version: "1.2.1", ConnTableSize: 4096}, nil }

// Close implements Kernel.
func (f *Fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func truncTimeouts(t Timeouts) Timeouts {
	return Timeouts{TCP: t.TCP.Truncate(time.Second), TCPFin: t.TCPFin.Truncate(time.Second), UDP: t.UDP.Truncate(time.Second)}
}

// FakeSyncDaemons is an in-memory SyncDaemons with the kernel's rules: one daemon per
// role, starting a running role fails with ErrExists, stopping a stopped one succeeds.
// It records every call in order.
type FakeSyncDaemons struct {
	mu      sync.Mutex
	running map[SyncRole]SyncDaemon
	calls   []string
}

// StartDaemon implements SyncDaemons.
func (f *FakeSyncDaemons) StartDaemon(s SyncDaemon) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "start "+s.Role.String())
	if _, ok := f.running[s.Role]; ok {
		return ErrExists
	}
	if f.running == nil {
		f.running = map[SyncRole]SyncDaemon{}
	}
	f.running[s.Role] = s.Normalize()
	return nil
}

// StopDaemon implements SyncDaemons.
func (f *FakeSyncDaemons) StopDaemon(r SyncRole) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "stop "+r.String())
	delete(f.running, r)
	return nil
}

// Daemons implements SyncDaemons, master first.
func (f *FakeSyncDaemons) Daemons() ([]SyncDaemon, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []SyncDaemon
	for _, r := range []SyncRole{SyncMaster, SyncBackup} {
		if s, ok := f.running[r]; ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// Calls returns the calls made so far and forgets them.
func (f *FakeSyncDaemons) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}
