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

// ErrNoScheduler is returned when adding or changing a service whose scheduler the
// kernel does not have (its ip_vs_<name> module is not built or not loadable).
var ErrNoScheduler = errors.New("the kernel has no such IPVS scheduler")

// IPVSOptions configure OpenIPVS.
type IPVSOptions struct {
	// NetNS is the path of the network namespace whose table to manage, such
	// as /run/netns/x or /proc/<pid>/ns/net; empty means the process's own.
	NetNS string
	// Sockets is how many netlink sockets requests are spread over: Snapshot,
	// and ApplyOps with several workers, use them in parallel. 0 means
	// DefaultSockets.
	Sockets int
	// NoModprobe stops OpenIPVS from running `modprobe ip_vs` when IPVS is
	// missing.
	NoModprobe bool
}

// DefaultSockets is IPVSOptions.Sockets when it is zero. The kernel serializes
// IPVS requests on one mutex, so more sockets only overlap our encoding and
// parsing with its work: two are enough, and writes are batched anyway (README.md
// has the measurement).
const DefaultSockets = 2

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

// Counters are IPVS traffic counters, read from the kernel's 64-bit statistics
// (IPVS_*_ATTR_STATS64; kernels older than 4.1 only have 32-bit ones, which then
// wrap at 2³²). The kernel's estimator refreshes them, and the rates, about every
// two seconds.
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

// BatchKernel is a Kernel that applies a run of ops in one go (IPVS sends them in
// one netlink message batch). ApplyOps uses it when it can.
type BatchKernel interface {
	Kernel
	// ApplyBatch applies ops in order and returns one result per op, as Apply
	// would have.
	ApplyBatch(ops []Op) []error
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

// applyChunk is how many ops ApplyOps hands a BatchKernel at once.
const applyChunk = 256

// ApplyOps applies ops to k: the ops of each service in their order, different
// services in parallel on up to opts.Workers goroutines, in batches when k is a
// BatchKernel. It carries on past failures and returns them joined (the first few in
// full, then a count); it stops starting ops when ctx is cancelled.
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

	// work applies the groups next hands out until there are none.
	work := func(next func() ([]Op, bool)) {
		failedAdd := map[Key]bool{}
		settle := func(op Op, err error) {
			switch {
			case failedAdd[op.Service.Key]:
				err = ErrSkipped
			case err != nil && op.Kind == AddService:
				failedAdd[op.Service.Key] = true
			}
			report(op, err)
		}
		bk, batched := k.(BatchKernel)
		var chunk []Op
		flush := func() {
			if len(chunk) == 0 {
				return
			}
			for i, err := range bk.ApplyBatch(chunk) {
				settle(chunk[i], err)
			}
			chunk = chunk[:0]
		}
		for {
			g, ok := next()
			if !ok {
				break
			}
			for _, op := range g {
				switch {
				case failedAdd[op.Service.Key]:
					report(op, ErrSkipped)
				case batched:
					if chunk = append(chunk, op); len(chunk) >= applyChunk {
						flush()
					}
				default:
					settle(op, k.Apply(op))
				}
			}
		}
		if batched {
			flush()
		}
	}

	if workers == 1 {
		i := 0
		work(func() ([]Op, bool) {
			if i >= len(groups) || ctx.Err() != nil {
				return nil, false
			}
			i++
			return groups[i-1], true
		})
	} else {
		ch := make(chan []Op)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				work(func() ([]Op, bool) {
					g, ok := <-ch
					return g, ok
				})
			})
		}
	feed:
		for _, g := range groups {
			// select picks at random among ready cases: a worker waiting to receive
			// must not win over a context that has already ended.
			if ctx.Err() != nil {
				break
			}
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
// of the ops of each service. Diff emits the ops of a service together, and such
// a run is a group as it stands, a subslice of ops: copying every op into groups
// grown one append at a time made as much garbage as the full sync's encoding.
func groupOps(ops []Op) [][]Op {
	idx := map[Key]int{}
	var groups [][]Op
	for i := 0; i < len(ops); {
		k := ops[i].Service.Key
		j := i + 1
		for j < len(ops) && ops[j].Service.Key == k {
			j++
		}
		run := ops[i:j:j] // full: a later run of k is appended to a copy
		if g, ok := idx[k]; ok {
			groups[g] = append(groups[g], run...)
		} else {
			idx[k] = len(groups)
			groups = append(groups, run)
		}
		i = j
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
