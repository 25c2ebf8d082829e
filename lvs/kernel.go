package lvs

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
)

// ErrNoIPVS is returned by OpenIPVS when the kernel has no IPVS: the ip_vs module
// is neither loaded nor loadable. It is the one error callers show for that case.
var ErrNoIPVS = errors.New("kernel has no IPVS: load ip_vs")

// Kernel is the IPVS table of one network namespace. Implementations are safe
// for concurrent use: ApplyOps applies the ops of different services in
// parallel.
type Kernel interface {
	// Services reads the whole table, normalized, including services that are
	// not ours.
	Services() (Table, error)
	// Apply performs one op. Deleting a service or destination that does not
	// exist succeeds: the table is then as the op wanted it.
	Apply(Op) error
	// Timeouts reads the connection timeouts.
	Timeouts() (Timeouts, error)
	// SetTimeouts sets the non-zero fields of t.
	SetTimeouts(t Timeouts) error
	Close() error
}

// Info is what the kernel says about its IPVS: the header line of ipvsadm -L.
type Info struct {
	Version       string // "1.2.1"
	ConnTableSize int    // the connection hash table's size (ip_vs conn_tab_bits)
}

// Counters are IPVS traffic counters. Through moby/ipvs v1.1.0 Conns, PacketsIn
// and PacketsOut are the kernel's 32-bit counters and wrap at 2³²; feed them
// through Unwrap32 for monotonic metrics. Bytes are 64-bit. The kernel refreshes
// the rates (and, for some paths, the counters) about every two seconds.
type Counters struct {
	Conns      uint64 `json:"conns"`
	PacketsIn  uint64 `json:"packets_in"`
	PacketsOut uint64 `json:"packets_out"`
	BytesIn    uint64 `json:"bytes_in"`
	BytesOut   uint64 `json:"bytes_out"`
	CPS        uint64 `json:"cps"`
	PPSIn      uint64 `json:"pps_in"`
	PPSOut     uint64 `json:"pps_out"`
	BPSIn      uint64 `json:"bps_in"`
	BPSOut     uint64 `json:"bps_out"`
}

// DestStats are a destination's counters and connection counts.
type DestStats struct {
	Counters
	ActiveConns   uint64 `json:"active_conns"`
	InactiveConns uint64 `json:"inactive_conns"`
}

// ServiceStats are a service's counters and those of its destinations.
type ServiceStats struct {
	Counters
	Dests map[netip.AddrPort]DestStats
}

// Stats are the counters of a table, by service.
type Stats map[Key]*ServiceStats

// Unwrap32 extends a 32-bit kernel counter to 64 bits: prev is the previous
// extended value and raw the new 32-bit reading. It assumes the counter wrapped at
// most once since prev was read (at 10 Gbit/s of minimum-size packets, a
// 32-bit packet counter wraps every ~5 minutes; poll faster than that).
func Unwrap32(prev uint64, raw uint32) uint64 {
	v := prev&^0xffffffff | uint64(raw)
	if v < prev {
		v += 1 << 32
	}
	return v
}

// ApplyOptions tune ApplyOps.
type ApplyOptions struct {
	// Workers is how many services are changed at once; 0 means 1. The ops of
	// one service are always applied in order by one worker.
	Workers int
	// Each, if set, is called after every op with its result (nil on success),
	// one call at a time. Ops skipped because their service could not be added are
	// reported with ErrSkipped.
	Each func(Op, error)
}

// ErrSkipped is reported for the ops of a service whose AddService failed.
var ErrSkipped = errors.New("skipped: the service could not be added")

// maxJoined caps how many op errors ApplyOps returns in detail.
const maxJoined = 8

// ApplyOps applies ops to k: the ops of each service in their order, different
// services in parallel on up to opts.Workers goroutines. It carries on past
// failures and returns them joined (the first few in full, then a count); it
// stops starting ops when ctx is cancelled.
func ApplyOps(ctx context.Context, k Kernel, ops []Op, opts ApplyOptions) error {
	groups := groupOps(ops)
	workers := max(1, min(opts.Workers, len(groups)))

	var (
		mu     sync.Mutex
		errs   []error
		failed int
	)
	report := func(op Op, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil && !errors.Is(err, ErrSkipped) {
			failed++
			if len(errs) < maxJoined {
				errs = append(errs, err)
			}
		}
		if opts.Each != nil {
			opts.Each(op, err)
		}
	}
	run := func(g []Op) {
		for i, op := range g {
			if ctx.Err() != nil {
				return
			}
			err := k.Apply(op)
			report(op, err)
			if err != nil && op.Kind == AddService {
				for _, rest := range g[i+1:] {
					report(rest, ErrSkipped)
				}
				return
			}
		}
	}

	if workers == 1 {
		for _, g := range groups {
			run(g)
		}
	} else {
		ch := make(chan []Op)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for g := range ch {
					run(g)
				}
			})
		}
	feed:
		for _, g := range groups {
			select {
			case ch <- g:
			case <-ctx.Done():
				break feed
			}
		}
		close(ch)
		wg.Wait()
	}

	if failed > maxJoined {
		errs = append(errs, fmt.Errorf("lvs: and %d more failed ops", failed-maxJoined))
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// groupOps splits ops into per-service runs, keeping the order of services and
// of the ops of each service.
func groupOps(ops []Op) [][]Op {
	idx := map[Key]int{}
	var groups [][]Op
	for _, op := range ops {
		i, ok := idx[op.Service.Key]
		if !ok {
			i = len(groups)
			idx[op.Service.Key] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], op)
	}
	return groups
}

// Reconcile reads k, diffs it against desired and applies the ops; it returns the
// ops it tried. A second Reconcile right after a successful one returns no ops.
func Reconcile(ctx context.Context, k Kernel, desired Table, owned func(Service) bool, opts ApplyOptions) ([]Op, error) {
	actual, err := k.Services()
	if err != nil {
		return nil, err
	}
	ops := Diff(desired, actual, owned)
	return ops, ApplyOps(ctx, k, ops, opts)
}
