package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults of Options.
const (
	DefaultTimeout  = 30 * time.Second
	DefaultGrace    = 2 * time.Second
	DefaultQueueLen = 64
	fifoQueueLen    = 1024
	stderrMax       = 4 << 10
)

// ErrStopped is returned by Drain once Run has returned: whatever was still queued was
// discarded and counted as dropped.
var ErrStopped = errors.New("notify: runner stopped")

// Options configure a Runner. Zero values mean the defaults.
type Options struct {
	Log            *slog.Logger
	DefaultTimeout time.Duration // notify_timeout
	KillGrace      time.Duration // SIGTERM to SIGKILL of a timed-out hook's process group
	FIFO           string        // notify_fifo; created (mode 0600) when missing
	User           string        // script_user: a name, "UID" or "UID:GID"; empty or the daemon's own user: no switch
	Security       bool          // enable_script_security: CheckProgram right before each run too
	QueueLen       int           // pending events kept per instance, group or real server
}

// Stats count what the runner did. Failed includes TimedOut; Dropped counts events whose
// hooks never ran (queue overflow, or still queued at shutdown).
type Stats struct {
	Ran         uint64        // hook processes started
	Duration    time.Duration // summed run time of the hooks that finished
	Failed      uint64        // non-zero exit, killed, could not start, refused by the security check
	TimedOut    uint64
	Dropped     uint64
	FIFOWritten uint64
	FIFODropped uint64 // no reader, reader too slow, or FIFO queue full
}

// Runner runs hooks in the order their events were submitted, one at a time per instance,
// group or real server, and concurrently across them. Submit never blocks, so the
// protocol never waits for a script.
type Runner struct {
	opts Options
	log  *slog.Logger
	fifo chan []byte // nil without notify_fifo

	// The hooks' credential, resolved from script_user on first need (ResolveUser or
	// the first hook): a host without /etc/passwd runs fine until a hook needs a name
	// looked up.
	credMu   sync.Mutex
	cred     *syscall.Credential
	credDone bool

	mu      sync.Mutex
	ctx     context.Context // Run's: owns every worker
	started bool
	stopped bool
	queues  map[string]*queue
	pending int           // events queued or running, plus FIFO lines not yet written
	idle    chan struct{} // closed while pending == 0
	wg      sync.WaitGroup
	done    chan struct{} // closed when Run returns

	ran, failed, timedOut, dropped, fifoWritten, fifoDropped atomic.Uint64
	busyNanos                                                atomic.Uint64
}

// queue holds the pending events of one key. A worker goroutine exists exactly while
// active is set; it exits (and the queue is forgotten) when the queue runs empty.
type queue struct {
	events  []Event
	active  bool
	dropped int // dropped since the worker last looked, so it can log them off the hot path
}

// NewRunner checks the options (notify_fifo must be a FIFO or absent) and returns a
// runner whose hooks run once Run is called. script_user is not resolved here: see
// ResolveUser.
func NewRunner(opts Options) (*Runner, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.DefaultTimeout <= 0 {
		opts.DefaultTimeout = DefaultTimeout
	}
	if opts.KillGrace <= 0 {
		opts.KillGrace = DefaultGrace
	}
	if opts.QueueLen <= 0 {
		opts.QueueLen = DefaultQueueLen
	}
	r := &Runner{
		opts:   opts,
		log:    opts.Log,
		queues: make(map[string]*queue),
		idle:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	close(r.idle)
	if opts.FIFO != "" {
		if err := ensureFIFO(opts.FIFO); err != nil {
			return nil, err
		}
		r.fifo = make(chan []byte, fifoQueueLen)
	}
	return r, nil
}

// ResolveUser resolves script_user now, so that a missing user stops the daemon at start
// (or rejects a reload) rather than failing every hook later. Call it when the
// configuration has hooks; without, nothing needs the user and nothing is looked up. A
// success is kept; a failure is tried again next time (the user may be created meanwhile).
func (r *Runner) ResolveUser() error {
	_, err := r.credential()
	return err
}

func (r *Runner) credential() (*syscall.Credential, error) {
	r.credMu.Lock()
	defer r.credMu.Unlock()
	if r.credDone || r.opts.User == "" {
		return r.cred, nil
	}
	cred, err := credential(r.opts.User, os.Geteuid())
	if err != nil {
		return nil, err
	}
	r.cred, r.credDone = cred, true
	return cred, nil
}

// lookupUser is user.Lookup; tests replace it to prove what needs no lookup.
var lookupUser = user.Lookup

// credential is what hooks run as for script_user name when the daemon runs as euid: nil
// when that is who we are. "root" and numeric ids ("UID", "UID:GID"; a lone UID takes
// the group of the same number) are taken as they are, without a lookup: minimal images
// and initramfs often have no /etc/passwd at all, and numeric ids then leave the hooks
// without supplementary groups. Any other name is looked up with its groups.
func credential(name string, euid int) (*syscall.Credential, error) {
	uid, gid, numeric, err := numericUser(name)
	if err != nil {
		return nil, fmt.Errorf("notify: script_user %q: %w", name, err)
	}
	var u *user.User
	if !numeric {
		if u, err = lookupUser(name); err != nil {
			return nil, fmt.Errorf("notify: script_user %q: %w", name, err)
		}
		if uid, err = strconv.ParseUint(u.Uid, 10, 32); err != nil {
			return nil, fmt.Errorf("notify: script_user %q: uid %q: %w", name, u.Uid, err)
		}
	}
	if int(uid) == euid {
		return nil, nil
	}
	if euid != 0 {
		return nil, fmt.Errorf("notify: script_user %q: switching user needs root", name)
	}
	if numeric {
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	if gid, err = strconv.ParseUint(u.Gid, 10, 32); err != nil {
		return nil, fmt.Errorf("notify: script_user %q: gid %q: %w", name, u.Gid, err)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("notify: script_user %q: groups: %w", name, err)
	}
	for _, id := range ids {
		g, err := strconv.ParseUint(id, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("notify: script_user %q: group %q: %w", name, id, err)
		}
		cred.Groups = append(cred.Groups, uint32(g))
	}
	return cred, nil
}

// numericUser parses "root", "UID" and "UID:GID"; numeric is false for any other name.
func numericUser(name string) (uid, gid uint64, numeric bool, err error) {
	if name == "root" {
		return 0, 0, true, nil
	}
	us, gs, hasGID := strings.Cut(name, ":")
	uid, err = strconv.ParseUint(us, 10, 32)
	if err != nil {
		if hasGID {
			return 0, 0, false, fmt.Errorf("%q is not a numeric uid (write UID:GID or a user name)", us)
		}
		return 0, 0, false, nil
	}
	gid = uid
	if hasGID {
		if gid, err = strconv.ParseUint(gs, 10, 32); err != nil {
			return 0, 0, false, fmt.Errorf("%q is not a numeric gid", gs)
		}
	}
	return uid, gid, true, nil
}

// Submit queues ev's hooks and FIFO line and returns at once: it takes a mutex for a few
// map and slice operations and never waits for a hook, a pipe or a log writer. When the
// key's queue is full the oldest pending event is dropped, never ev itself, so the last
// state always gets reported.
func (r *Runner) Submit(ev Event) {
	hooks := ev.Hooks.Specific != "" || ev.Hooks.Generic != ""
	var line []byte
	if r.fifo != nil {
		line = ev.fifoLine()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		if hooks {
			r.dropped.Add(1)
		}
		if line != nil {
			r.fifoDropped.Add(1)
		}
		return
	}
	if line != nil {
		select {
		case r.fifo <- line:
			r.addPending(1)
		default:
			r.fifoDropped.Add(1)
		}
	}
	if !hooks {
		return
	}
	k := ev.key()
	q := r.queues[k]
	if q == nil {
		q = &queue{}
		r.queues[k] = q
	}
	if len(q.events) >= r.opts.QueueLen {
		q.events[0] = Event{}
		q.events = q.events[1:]
		q.dropped++
		r.dropped.Add(1)
	} else {
		r.addPending(1)
	}
	q.events = append(q.events, ev)
	if r.started && !q.active {
		r.startWorker(k, q)
	}
}

// addPending must be called with mu held.
func (r *Runner) addPending(n int) {
	if n == 0 {
		return
	}
	if r.pending == 0 {
		r.idle = make(chan struct{})
	}
	r.pending += n
	if r.pending == 0 {
		close(r.idle)
	}
}

// startWorker must be called with mu held, after Run started and before it stopped.
func (r *Runner) startWorker(k string, q *queue) {
	q.active = true
	r.wg.Add(1)
	go r.work(r.ctx, k, q)
}

// work runs the events of one key in order until its queue is empty.
func (r *Runner) work(ctx context.Context, k string, q *queue) {
	defer r.wg.Done()
	for {
		r.mu.Lock()
		if len(q.events) == 0 || ctx.Err() != nil {
			q.active = false
			if len(q.events) == 0 {
				delete(r.queues, k)
			}
			r.mu.Unlock()
			return
		}
		ev := q.events[0]
		q.events[0] = Event{}
		q.events = q.events[1:]
		dropped := q.dropped
		q.dropped = 0
		r.mu.Unlock()

		if dropped > 0 {
			r.log.Warn("notify queue full: dropped the oldest pending events",
				append(ev.logAttrs(), "dropped", dropped, "queue_len", r.opts.QueueLen)...)
		}
		r.deliver(ctx, &ev)

		r.mu.Lock()
		r.addPending(-1)
		r.mu.Unlock()
	}
}

// deliver runs ev's hooks: the state's own first, then the generic one, as keepalived does.
func (r *Runner) deliver(ctx context.Context, ev *Event) {
	env := ev.env()
	timeout := ev.Hooks.Timeout
	if timeout <= 0 {
		timeout = r.opts.DefaultTimeout
	}
	if ev.Hooks.Specific != "" {
		r.runHook(ctx, ev, false, env, timeout)
	}
	if ev.Hooks.Generic != "" && ctx.Err() == nil {
		r.runHook(ctx, ev, true, env, timeout)
	}
}

// Run runs queued and future hooks until ctx is cancelled. Then running hooks are
// terminated (SIGTERM, SIGKILL after the grace period), queued ones are discarded and
// counted as dropped, and Run returns once every goroutine it owns has ended. Call Drain
// before cancelling to let the last hooks (notify_stop) finish.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return errors.New("notify: Run called twice")
	}
	r.started = true
	r.ctx = ctx
	for k, q := range r.queues {
		if !q.active && len(q.events) > 0 {
			r.startWorker(k, q)
		}
	}
	if r.fifo != nil {
		r.wg.Add(1)
		go r.writeFIFO(ctx)
	}
	r.mu.Unlock()

	<-ctx.Done()

	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.wg.Wait()

	r.mu.Lock()
	n := 0
	for k, q := range r.queues {
		n += len(q.events)
		delete(r.queues, k)
	}
	r.dropped.Add(uint64(n))
	lines := 0
	for len(r.fifo) > 0 {
		<-r.fifo
		lines++
	}
	r.fifoDropped.Add(uint64(lines))
	r.addPending(-n - lines)
	r.mu.Unlock()
	if n > 0 {
		r.log.Warn("notify stopped with hooks still queued; they will not run", "dropped", n)
	}
	close(r.done)
	return nil
}

// Drain waits until every submitted hook has run and every FIFO line has been written,
// or until ctx is done. Shutdown submits the STOP events, drains with a deadline of the
// notify_stop timeout, then cancels Run.
func (r *Runner) Drain(ctx context.Context) error {
	r.mu.Lock()
	idle := r.idle
	r.mu.Unlock()
	select {
	case <-idle:
	case <-r.done:
	case <-ctx.Done():
		return fmt.Errorf("notify: drain: %w", ctx.Err())
	}
	select {
	case <-r.done:
		return ErrStopped
	default:
		return nil
	}
}

// Stats returns the counters; safe to call from any goroutine.
func (r *Runner) Stats() Stats {
	return Stats{
		Ran:         r.ran.Load(),
		Duration:    time.Duration(r.busyNanos.Load()),
		Failed:      r.failed.Load(),
		TimedOut:    r.timedOut.Load(),
		Dropped:     r.dropped.Load(),
		FIFOWritten: r.fifoWritten.Load(),
		FIFODropped: r.fifoDropped.Load(),
	}
}
