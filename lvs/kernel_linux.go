package lvs

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"sync/atomic"

	"github.com/mdlayher/genetlink"
	"github.com/moby/ipvs"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// IPVS is the Kernel of a real Linux IPVS table.
//
// Services, destinations, counters and sync daemons are read and written with
// mdlayher/netlink on generic-netlink sockets of its own (nlconn_linux.go,
// nlmsg_linux.go): moby/ipvs v1.1.0 cannot batch writes, sends no destination
// address family (no cross-family tunnels), reads only the 32-bit counters, and
// pays for a poller-driven socket and a getsockname on every request (README.md
// has what that cost).
// moby/ipvs remains for the connection timeouts, and the VM tests read every
// table back through it as well, as an independent decoder.
type IPVS struct {
	conns []*nlConn
	pool  chan *nlConn
	mmu   sync.Mutex // one moby/ipvs handle, one request at a time
	moby  *ipvs.Handle
}

var _ BatchKernel = (*IPVS)(nil)

var silenceLogrus sync.Once

// OpenIPVS checks that the kernel has IPVS, loading ip_vs if it has to, and opens
// the table. Without IPVS it returns ErrNoIPVS and nothing else.
//
// The check comes first because moby/ipvs resolves the IPVS generic-netlink
// family once per process, in its first New: called before ip_vs is loaded it
// would keep a family id of 0 for good. moby/ipvs also logs through logrus, which
// is silenced here so that it never writes into our logs.
func OpenIPVS(opts IPVSOptions) (*IPVS, error) {
	id, err := detectIPVS()
	if errors.Is(err, ErrNoIPVS) && !opts.NoModprobe {
		if path, lerr := lookModprobe(); lerr == nil {
			_ = exec.Command(path, "-q", "ip_vs").Run()
			id, err = detectIPVS()
		}
	}
	if err != nil {
		return nil, err
	}
	silenceLogrus.Do(func() {
		logrus.SetOutput(io.Discard)
		logrus.SetLevel(logrus.PanicLevel)
	})

	n := opts.Sockets
	if n <= 0 {
		n = DefaultSockets
	}
	k := &IPVS{pool: make(chan *nlConn, n)}
	if k.moby, err = ipvs.New(opts.NetNS); err != nil {
		return nil, fmt.Errorf("lvs: open IPVS: %w", err)
	}
	for range n {
		c, err := dialNL(opts.NetNS, id)
		if err != nil {
			k.Close()
			return nil, fmt.Errorf("lvs: open IPVS: %w", err)
		}
		k.conns = append(k.conns, c)
		k.pool <- c
	}
	return k, nil
}

// HasIPVS reports whether the kernel has IPVS loaded, without loading it.
func HasIPVS() bool {
	_, err := detectIPVS()
	return err == nil
}

func detectIPVS() (uint16, error) {
	c, err := genetlink.Dial(nil)
	if err != nil {
		return 0, fmt.Errorf("lvs: look up the IPVS netlink family: %w", err)
	}
	defer c.Close()
	f, err := c.GetFamily("IPVS")
	switch {
	case err == nil:
		return f.ID, nil
	case errors.Is(err, unix.ENOENT):
		return 0, ErrNoIPVS
	}
	return 0, fmt.Errorf("lvs: look up the IPVS netlink family: %w", err)
}

func lookModprobe() (string, error) {
	if p, err := exec.LookPath("modprobe"); err == nil {
		return p, nil
	}
	return exec.LookPath("/sbin/modprobe")
}

func (k *IPVS) get() *nlConn  { return <-k.pool }
func (k *IPVS) put(c *nlConn) { k.pool <- c }

// Close releases the netlink sockets. It must not race with other calls.
func (k *IPVS) Close() error {
	for _, c := range k.conns {
		c.close()
	}
	if k.moby != nil {
		k.moby.Close()
	}
	k.conns, k.moby = nil, nil
	return nil
}

// Services implements Kernel: the table, without the counters.
func (k *IPVS) Services() (Table, error) {
	t, _, err := k.read(false)
	return t, err
}

// ListServices reads the services without their destinations: one dump, enough
// for Withdraw.
func (k *IPVS) ListServices() (Table, error) {
	c := k.get()
	svcs, _, err := c.services(false)
	k.put(c)
	if err != nil {
		return nil, fmt.Errorf("lvs: list services: %w", err)
	}
	t := make(Table, len(svcs))
	for _, s := range svcs {
		t.Add(s)
	}
	return t, nil
}

// Snapshot reads the whole table with its counters: one dump for the services and
// one per service for its destinations, spread over the sockets.
func (k *IPVS) Snapshot() (Table, Stats, error) { return k.read(true) }

// read is Snapshot; without withStats it decodes no counters and returns no Stats.
func (k *IPVS) read(withStats bool) (Table, Stats, error) {
	c := k.get()
	svcs, counters, err := c.services(withStats)
	k.put(c)
	if err != nil {
		return nil, nil, fmt.Errorf("lvs: list services: %w", err)
	}
	entries := make([]*Entry, len(svcs))
	var stats []*ServiceStats // only withStats: a resync has no use for counters
	if withStats {
		stats = make([]*ServiceStats, len(svcs))
	}
	errs := make([]error, len(svcs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(k.conns), len(svcs)) {
		wg.Go(func() {
			c := k.get()
			defer k.put(c)
			for {
				j := int(next.Add(1) - 1)
				if j >= len(svcs) {
					return
				}
				entries[j] = &Entry{Service: svcs[j]}
				ds, ss, err := c.dests(svcs[j], withStats)
				entries[j].Destinations, errs[j] = ds, err
				if withStats {
					stats[j] = &ServiceStats{Counters: counters[j], Dests: ss}
				}
			}
		})
	}
	wg.Wait()
	t := make(Table, len(svcs))
	var st Stats
	if withStats {
		st = make(Stats, len(svcs))
	}
	for j, e := range entries {
		if err := errs[j]; err != nil {
			// A service deleted between the two reads is simply gone.
			if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) {
				continue
			}
			return nil, nil, fmt.Errorf("lvs: list destinations of %s: %w", e.Service.Key, err)
		}
		t[e.Service.Key] = e
		if withStats {
			st[e.Service.Key] = stats[j]
		}
	}
	return t, st, nil
}

// Apply implements Kernel.
func (k *IPVS) Apply(op Op) error { return k.ApplyBatch([]Op{op})[0] }

// ApplyBatch implements BatchKernel: the ops go out in as few netlink messages as
// fit, on one socket, and the kernel applies them in order.
func (k *IPVS) ApplyBatch(ops []Op) []error {
	c := k.get()
	errs := c.apply(ops)
	k.put(c)
	for i, err := range errs {
		errs[i] = opError(ops[i], err)
	}
	return errs
}

// opError turns the kernel's errno into the package's errors, keeping the errno.
func opError(op Op, err error) error {
	if err == nil {
		return nil
	}
	notFound := errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT)
	switch {
	case notFound && (op.Kind == DeleteService || op.Kind == DeleteDest):
		return nil
	case notFound && (op.Kind == AddService || op.Kind == UpdateService):
		// The service is looked up only for updates, and an unknown scheduler
		// is the only ENOENT of an add.
		if op.Kind == AddService || errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("lvs: %s: %w %q (%w)", op, ErrNoScheduler, op.Service.Normalize().Scheduler, err)
		}
		return fmt.Errorf("lvs: %s: service %w (%w)", op, ErrNotFound, err)
	case notFound:
		return fmt.Errorf("lvs: %s: %w (%w)", op, ErrNotFound, err)
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("lvs: %s: %w (%w)", op, ErrExists, err)
	}
	return fmt.Errorf("lvs: %s: %w", op, err)
}

// Timeouts implements Kernel.
func (k *IPVS) Timeouts() (Timeouts, error) {
	k.mmu.Lock()
	defer k.mmu.Unlock()
	c, err := k.moby.GetConfig()
	if err != nil {
		return Timeouts{}, fmt.Errorf("lvs: read timeouts: %w", err)
	}
	return Timeouts{TCP: c.TimeoutTCP, TCPFin: c.TimeoutTCPFin, UDP: c.TimeoutUDP}, nil
}

// SetTimeouts implements Kernel.
func (k *IPVS) SetTimeouts(t Timeouts) error {
	t = truncTimeouts(t)
	k.mmu.Lock()
	defer k.mmu.Unlock()
	if err := k.moby.SetConfig(&ipvs.Config{TimeoutTCP: t.TCP, TimeoutTCPFin: t.TCPFin, TimeoutUDP: t.UDP}); err != nil {
		return fmt.Errorf("lvs: set timeouts %s: %w", t, err)
	}
	return nil
}

// Info asks the kernel for its IPVS version and connection table size.
func (k *IPVS) Info() (Info, error) {
	c := k.get()
	defer k.put(c)
	var info Info
	err := c.exchange(ipvsCmdGetInfo, 0, nil, func(msg []byte) error {
		var err error
		info, err = parseInfo(msg)
		return err
	})
	if err != nil {
		return Info{}, fmt.Errorf("lvs: info: %w", err)
	}
	return info, nil
}
