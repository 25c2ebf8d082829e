package vrrp

import (
	"fmt"
	"net/netip"
	"time"
)

// State of one VRRP instance (RFC 5798 §6.4, plus Fault from keepalived's tracking).
type State uint8

const (
	Initialize State = iota
	Backup
	Master
	Fault
)

var stateNames = [...]string{"INIT", "BACKUP", "MASTER", "FAULT"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", s)
}

// PriorityOwner is the priority of the router that owns the virtual addresses.
const PriorityOwner = 255

// Config is what the state machine needs of one instance.
type Config struct {
	Name     string // instance name, for reasons and logs
	Version  uint8  // 2 or 3
	Priority uint8  // configured priority, 1..255
	// Interval is Advertisement_Interval.
	Interval time.Duration
	// Preempt is Preempt_Mode (keepalived: true unless nopreempt).
	Preempt bool
	// PreemptDelay is keepalived's preempt_delay: a backup that hears a lower-priority
	// master (the first time after start-up or after entering BACKUP) keeps following it
	// for this long before it preempts; hearing a master it does not beat ends the delay,
	// and the next lower master starts it again (keepalived 2.2.7 vrrp_state_backup).
	PreemptDelay time.Duration
	// PrimaryIP is the source address of our adverts; it breaks priority ties.
	PrimaryIP netip.Addr
}

// EventKind names what happened to a machine.
type EventKind uint8

const (
	EvStartup  EventKind = iota // leave Initialize
	EvTimer                     // Deadline() has been reached
	EvAdvert                    // a validated advert for this VRID
	EvPriority                  // effective priority changed (weighted tracking)
	EvFault                     // own fault set or cleared (unweighted tracking, link state)
	EvGroup                     // sync group forces Master or Backup
	EvShutdown                  // stop: a master sends priority 0 first
)

// Event is one input to Step.
type Event struct {
	Kind     EventKind
	Advert   *Advert // EvAdvert
	Priority uint8   // EvPriority: new effective priority, 1..254
	Fault    bool    // EvFault: fault present
	State    State   // EvGroup: the state the group moves to
	Reason   string  // why, for the transition log
}

// ActionKind names what the caller must do.
type ActionKind uint8

const (
	// ActSend: send one advertisement with Action.Priority now.
	ActSend ActionKind = iota
	// ActTransition: the instance changed state; the caller claims or withdraws the VIPs,
	// announces them, programs IPVS and runs hooks. Sends in the same batch come first.
	ActTransition
	// ActAnnounce: a master saw a lower-priority advert (a healed split brain): send
	// gratuitous ARPs / NAs again so everybody points back at us.
	ActAnnounce
)

// Action is one output of Step, in the order it must be carried out.
type Action struct {
	Kind     ActionKind
	Priority uint8 // ActSend
	From, To State // ActTransition
	Reason   string
}

// Machine is one VRRP instance's state machine. It is pure: no goroutines, sockets or
// clock; the caller passes the time in and carries out the returned actions. Not safe
// for concurrent use.
type Machine struct {
	cfg      Config
	state    State
	priority uint8 // effective priority

	masterAdverInterval time.Duration
	deadline            time.Time // zero: no timer armed
	preemptAfter        time.Time // zero: no preempt_delay running

	ownFault, groupFault bool
	// wantMaster: a backup whose down timer expired without a higher master heard since,
	// held back by its sync group (see Group.Step).
	wantMaster bool

	// Facts for status.
	masterIP   netip.Addr
	masterPrio uint8
	since      time.Time
}

// NewMachine returns a machine in Initialize. Config must be valid (see config package).
func NewMachine(cfg Config) *Machine {
	return &Machine{cfg: cfg, priority: cfg.Priority, masterAdverInterval: cfg.Interval}
}

// Reconfigure applies a reloaded configuration without a new election: state, timers
// and what was learned from the master are kept. The caller re-applies tracking (which
// re-advertises a changed priority at once). Version, PrimaryIP and ownership changes
// need a new machine instead.
func (m *Machine) Reconfigure(now time.Time, cfg Config) {
	old := m.cfg
	m.cfg = cfg
	if cfg.Version == 2 || m.state != Backup {
		m.masterAdverInterval = cfg.Interval
	}
	if m.state == Master && cfg.Interval < old.Interval {
		// A shorter interval takes effect now, not after one more long wait.
		if next := now.Add(cfg.Interval); next.Before(m.deadline) {
			m.deadline = next
		}
	}
}

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Priority returns the effective priority.
func (m *Machine) Priority() uint8 { return m.priority }

// Deadline is when the caller must next call Step with EvTimer; zero if no timer is armed.
func (m *Machine) Deadline() time.Time { return m.deadline }

// MasterAdverInterval is the interval learned from the master (v3) or configured (v2).
func (m *Machine) MasterAdverInterval() time.Duration { return m.masterAdverInterval }

// Master returns the address and priority of the current master as last seen, or ours.
func (m *Machine) Master() (netip.Addr, uint8) { return m.masterIP, m.masterPrio }

// Name is the instance name.
func (m *Machine) Name() string { return m.cfg.Name }

// Since is when the current state was entered.
func (m *Machine) Since() time.Time { return m.since }

// SkewTime is RFC 5798 §6.1 Skew_Time for the effective priority.
func (m *Machine) SkewTime() time.Duration {
	return SkewTime(m.cfg.Version, m.priority, m.masterAdverInterval)
}

// MasterDownInterval is RFC 5798 §6.1 Master_Down_Interval.
func (m *Machine) MasterDownInterval() time.Duration {
	return 3*m.masterAdverInterval + m.SkewTime()
}

// SkewTime computes Skew_Time: (256 − Priority) × Master_Adver_Interval / 256 in v3, and
// (256 − Priority) / 256 seconds in v2 (RFC 3768 §6.1).
func SkewTime(version uint8, priority uint8, masterAdverInterval time.Duration) time.Duration {
	if version == 2 {
		return time.Duration(256-int64(priority)) * time.Second / 256
	}
	return time.Duration(256-int64(priority)) * masterAdverInterval / 256
}

// Step feeds one event at time now and returns what to do, in order.
func (m *Machine) Step(now time.Time, ev Event) []Action {
	switch ev.Kind {
	case EvStartup:
		if m.state != Initialize {
			return nil
		}
		if m.ownFault || m.groupFault {
			return m.enterFault(now, "fault at start-up")
		}
		return m.elect(now, "start-up")
	case EvTimer:
		return m.timer(now)
	case EvAdvert:
		if ev.Advert == nil {
			return nil
		}
		return m.advert(now, ev.Advert)
	case EvPriority:
		return m.setPriority(ev.Priority)
	case EvFault:
		m.ownFault = ev.Fault
		return m.faultChanged(now, ev.Reason)
	case EvGroup:
		return m.group(now, ev)
	case EvShutdown:
		var acts []Action
		if m.state == Master {
			acts = append(acts, Action{Kind: ActSend, Priority: 0})
		}
		m.deadline = time.Time{}
		return append(acts, m.transition(now, Initialize, "shutdown"))
	}
	return nil
}

// elect leaves Initialize or Fault: the owner takes over at once, everybody else waits
// Master_Down_Interval as a backup (RFC 5798 §6.4.1).
func (m *Machine) elect(now time.Time, reason string) []Action {
	if m.priority == PriorityOwner {
		return m.becomeMaster(now, reason+", address owner")
	}
	m.masterAdverInterval = m.cfg.Interval
	m.masterIP, m.masterPrio = netip.Addr{}, 0
	m.deadline = now.Add(m.MasterDownInterval())
	return []Action{m.transition(now, Backup, reason)}
}

func (m *Machine) becomeMaster(now time.Time, reason string) []Action {
	m.deadline = now.Add(m.cfg.Interval)
	m.masterAdverInterval = m.cfg.Interval
	m.masterIP, m.masterPrio = m.cfg.PrimaryIP, m.priority
	// The advert goes first: it must never wait for VIPs, IPVS or hooks.
	return []Action{{Kind: ActSend, Priority: m.priority}, m.transition(now, Master, reason)}
}

func (m *Machine) becomeBackup(now time.Time, a *Advert, reason string) []Action {
	m.learn(a)
	m.deadline = now.Add(m.MasterDownInterval())
	return []Action{m.transition(now, Backup, reason)}
}

func (m *Machine) learn(a *Advert) {
	m.wantMaster = false // a master worth following is heard (or we are leaving master)
	if a == nil {
		return
	}
	if m.cfg.Version == 3 {
		m.masterAdverInterval = a.Interval
	}
	m.masterIP, m.masterPrio = a.Src, a.Priority
}

func (m *Machine) transition(now time.Time, to State, reason string) Action {
	from := m.state
	m.state = to
	m.since = now
	m.wantMaster = false
	m.preemptAfter = time.Time{} // keepalived clears preempt_time on entering BACKUP
	return Action{Kind: ActTransition, From: from, To: to, Reason: reason}
}

func (m *Machine) timer(now time.Time) []Action {
	if m.deadline.IsZero() || now.Before(m.deadline) {
		return nil
	}
	switch m.state {
	case Backup:
		return m.becomeMaster(now, "master down timer expired")
	case Master:
		// Schedule from the previous deadline, not from now, so adverts do not drift; if
		// we fell more than an interval behind, restart the schedule instead of bursting.
		next := m.deadline.Add(m.cfg.Interval)
		if !next.After(now) {
			next = now.Add(m.cfg.Interval)
		}
		m.deadline = next
		return []Action{{Kind: ActSend, Priority: m.priority}}
	}
	m.deadline = time.Time{}
	return nil
}

// downTimerDue reports whether a timer event at now would make this backup master.
func (m *Machine) downTimerDue(now time.Time) bool {
	return m.state == Backup && !m.deadline.IsZero() && !now.Before(m.deadline)
}

// wantsMaster reports whether the machine is master or would be, were it alone: a backup
// whose down timer expired and has heard no master to follow since.
func (m *Machine) wantsMaster() bool {
	return m.state == Master || m.state == Backup && m.wantMaster
}

// higher reports whether the advert's sender wins against us: a higher priority, or the
// same priority and a higher primary address (RFC 5798 §6.4.3).
func (m *Machine) higher(a *Advert) bool {
	if a.Priority != m.priority {
		return a.Priority > m.priority
	}
	return a.Src.Compare(m.cfg.PrimaryIP) > 0
}

func (m *Machine) advert(now time.Time, a *Advert) []Action {
	switch m.state {
	case Backup:
		if a.Priority == 0 {
			// The master is leaving: take over after Skew_Time (RFC 5798 §6.4.2).
			m.deadline = now.Add(m.SkewTime())
			return nil
		}
		// With preempt, a lower advert is discarded (no timer reset, nothing learned) and
		// the down timer makes us master. Ties are broken by address here too, so the
		// steady state never depends on start order. preempt_delay accepts lower adverts
		// for that long from the first one heard, as keepalived does: the takeover comes
		// Master_Down_Interval after the last advert accepted, so at most the delay plus
		// Master_Down_Interval after the lower master was first heard.
		if !m.cfg.Preempt || m.higher(a) {
			m.learn(a)
			m.deadline = now.Add(m.MasterDownInterval())
			if m.higher(a) {
				m.preemptAfter = time.Time{}
			}
			return nil
		}
		if m.cfg.PreemptDelay > 0 && m.preemptAfter.IsZero() {
			m.preemptAfter = now.Add(m.cfg.PreemptDelay)
		}
		if now.Before(m.preemptAfter) {
			m.learn(a)
			m.deadline = now.Add(m.MasterDownInterval())
		}
		return nil
	case Master:
		if a.Priority == 0 {
			// Another master is leaving (split brain healing, or a restart): keep the
			// backups' timers fed at once (RFC 5798 §6.4.3).
			m.deadline = now.Add(m.cfg.Interval)
			return []Action{{Kind: ActSend, Priority: m.priority}}
		}
		if m.higher(a) {
			// Two masters: a split brain healing, or the other preempting. Clients may
			// have followed our gratuitous ARPs, so one last advert of ours goes first:
			// the winner sees a lower master and re-announces (below). Without it, when
			// its advert reaches us before one of ours reaches it, nobody re-announces
			// and clients keep sending to us until their neighbor entries expire.
			return append([]Action{{Kind: ActSend, Priority: m.priority}},
				m.becomeBackup(now, a, fmt.Sprintf("higher priority advert from %v (priority %d)", a.Src, a.Priority))...)
		}
		// A lower master exists: answer at once so it yields within one packet, and
		// re-announce because the network may have followed it.
		return []Action{{Kind: ActSend, Priority: m.priority}, {Kind: ActAnnounce, Reason: fmt.Sprintf("lower priority advert from %v (priority %d)", a.Src, a.Priority)}}
	}
	return nil
}

func (m *Machine) setPriority(p uint8) []Action {
	if m.cfg.Priority == PriorityOwner {
		return nil // the owner's priority is not subject to tracking
	}
	p = min(max(p, 1), PriorityOwner-1)
	if p == m.priority {
		return nil
	}
	m.priority = p
	if m.state == Master {
		m.masterPrio = p
		return []Action{{Kind: ActSend, Priority: p}}
	}
	return nil
}

func (m *Machine) faultChanged(now time.Time, reason string) []Action {
	faulty := m.ownFault || m.groupFault
	switch {
	case m.state == Initialize:
		return nil // EvStartup decides
	case faulty && m.state != Fault:
		return m.enterFault(now, reason)
	case !faulty && m.state == Fault:
		return m.elect(now, reason)
	}
	return nil
}

func (m *Machine) enterFault(now time.Time, reason string) []Action {
	var acts []Action
	if m.state == Master {
		// Let the backup take over after Skew_Time instead of Master_Down_Interval.
		acts = append(acts, Action{Kind: ActSend, Priority: 0})
	}
	m.deadline = time.Time{}
	return append(acts, m.transition(now, Fault, reason))
}

func (m *Machine) group(now time.Time, ev Event) []Action {
	switch {
	case ev.State == Master && m.state == Backup:
		return m.becomeMaster(now, ev.Reason)
	case ev.State == Backup && m.state == Master:
		return m.becomeBackup(now, nil, ev.Reason)
	}
	return nil
}
