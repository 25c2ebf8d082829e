// Package bgp owns the BGP side of a director: when a VIP may be announced (the pure
// Announcement state machine, on the caller's clock) and the speaker that announces it
// (an embedded GoBGP that only connects out). It takes its own spec types; the director
// maps the configuration to them.
package bgp

import (
	"time"
)

// Inputs are the conditions a VIP is announced under, as the director sees them now.
type Inputs struct {
	// AddressUp: the address is on its interface (in master mode: the instance has
	// added it).
	AddressUp bool
	// Programmed: every virtual server on the address is programmed and has quorum.
	Programmed bool
	// Checked: one full round of health checks of those virtual servers has passed.
	Checked bool
	// TrackersOK: every track file and track script of the VIP is OK.
	TrackersOK bool
	// Master: master mode only, the VIP's instance is master.
	Master bool
}

// Mode says who announces a VIP.
type Mode int

const (
	// ECMP: every ready director announces it; the router spreads flows over them.
	ECMP Mode = iota
	// MasterOnly: only the master of the VIP's VRRP instance announces it.
	MasterOnly
)

// Reasons a VIP is not announced, as status shows them.
const (
	ReasonNotMaster     = "instance not master"
	ReasonAddressDown   = "address not on its interface"
	ReasonNotProgrammed = "virtual server not programmed or without quorum"
	ReasonNotChecked    = "health checks have not completed a round"
	ReasonTracker       = "a tracker is not OK"
	ReasonRising        = "ready, waiting for rise good rounds"
	ReasonLeaving       = "leaving: graceful shutdown announced"
	ReasonLeft          = "left (drained or stopping)"
)

// reason is what keeps the VIP from being announced, "" when nothing does.
func (in Inputs) reason(m Mode) string {
	switch {
	case m == MasterOnly && !in.Master:
		return ReasonNotMaster
	case !in.AddressUp:
		return ReasonAddressDown
	case !in.Programmed:
		return ReasonNotProgrammed
	case !in.Checked:
		return ReasonNotChecked
	case !in.TrackersOK:
		return ReasonTracker
	}
	return ""
}

// ActionKind is what the speaker must do.
type ActionKind int

const (
	// ActAnnounce announces the VIP (again, with the graceful-shutdown attributes, when
	// Graceful is set).
	ActAnnounce ActionKind = iota + 1
	// ActWithdraw withdraws it.
	ActWithdraw
)

// Action is one step for the speaker.
type Action struct {
	Kind     ActionKind
	Graceful bool
	Reason   string
}

type phase int

const (
	withdrawn phase = iota
	announced
	leaving // announced with GRACEFUL_SHUTDOWN, withdrawn at the deadline
	left    // stays withdrawn until Rejoin
)

// AnnouncementSpec configures one VIP's Announcement.
type AnnouncementSpec struct {
	Mode Mode
	// Rise is how many good rounds in a row a VIP withdrawn for a fault needs before it
	// is announced again (at least 1).
	Rise int
	// Graceful: Leave re-announces with GRACEFUL_SHUTDOWN and withdraws after Wait.
	Graceful bool
	Wait     time.Duration
}

// Announcement decides when one VIP is announced. It is pure: the caller passes the time
// and the inputs, and carries out the actions it returns in order. The rules:
//   - a VIP is announced only when every input holds, and withdrawn at once when one
//     stops holding;
//   - after a withdrawal for a fault (anything but losing mastership) it is announced
//     again only once the inputs have held for Rise rounds in a row, so a flapping check
//     does not flap the route;
//   - Leave (SIGTERM, drain) re-announces it with GRACEFUL_SHUTDOWN, then withdraws it
//     Wait later (at once without Graceful), and it stays withdrawn until Rejoin.
type Announcement struct {
	spec     AnnouncementSpec
	phase    phase
	holdBack bool // withdrawn for a fault: Rise rounds before announcing
	good     int  // good rounds in a row while held back
	deadline time.Time
	reason   string
	since    time.Time
}

// NewAnnouncement returns a withdrawn VIP that may be announced as soon as it is ready.
func NewAnnouncement(now time.Time, s AnnouncementSpec) *Announcement {
	s.Rise = max(s.Rise, 1)
	return &Announcement{spec: s, reason: ReasonNotChecked, since: now}
}

// Update takes the inputs as they are now. round marks a periodic evaluation, the only
// kind that counts towards Rise; evaluations on a change between rounds withdraw at once
// and announce a VIP that is not held back.
func (a *Announcement) Update(now time.Time, in Inputs, round bool) []Action {
	why := in.reason(a.spec.Mode)
	switch a.phase {
	case left:
		return nil
	case announced, leaving:
		if why == "" {
			return nil
		}
		wasLeaving := a.phase == leaving
		a.set(now, withdrawn, why)
		a.holdBack, a.good = why != ReasonNotMaster, 0
		if wasLeaving {
			a.phase = left
		}
		return []Action{{Kind: ActWithdraw, Reason: why}}
	}
	if why != "" {
		a.good = 0
		if a.reason != why {
			a.reason, a.since = why, now
		}
		return nil
	}
	if a.holdBack {
		if round {
			a.good++
		}
		if a.good < a.spec.Rise {
			if a.reason != ReasonRising {
				a.reason, a.since = ReasonRising, now
			}
			return nil
		}
	}
	a.set(now, announced, "")
	a.holdBack, a.good = false, 0
	return []Action{{Kind: ActAnnounce, Reason: "ready"}}
}

// Leave starts the graceful leave: the VIP is re-announced with GRACEFUL_SHUTDOWN and
// withdrawn at Deadline (at once when the wait is 0, or without Graceful).
func (a *Announcement) Leave(now time.Time) []Action {
	switch a.phase {
	case left, leaving:
		return nil
	case withdrawn:
		a.set(now, left, ReasonLeft)
		return nil
	}
	if !a.spec.Graceful {
		a.set(now, left, ReasonLeft)
		return []Action{{Kind: ActWithdraw, Reason: ReasonLeft}}
	}
	acts := []Action{{Kind: ActAnnounce, Graceful: true, Reason: ReasonLeaving}}
	if a.spec.Wait <= 0 {
		a.set(now, left, ReasonLeft)
		return append(acts, Action{Kind: ActWithdraw, Reason: ReasonLeft})
	}
	a.set(now, leaving, ReasonLeaving)
	a.deadline = now.Add(a.spec.Wait)
	return acts
}

// Rejoin ends a leave (undrain): the VIP is announced again once it is ready and has
// held for Rise rounds.
func (a *Announcement) Rejoin(now time.Time) []Action {
	var acts []Action
	if a.phase == leaving {
		// The graceful announcement must not stand: withdraw, then rise as after a fault.
		acts = []Action{{Kind: ActWithdraw, Reason: "rejoined while leaving"}}
	}
	if a.phase == left || a.phase == leaving {
		a.set(now, withdrawn, ReasonRising)
		a.holdBack, a.good = true, 0
	}
	return acts
}

// Timer handles the deadline of a graceful leave.
func (a *Announcement) Timer(now time.Time) []Action {
	if a.phase != leaving || now.Before(a.deadline) {
		return nil
	}
	a.set(now, left, ReasonLeft)
	return []Action{{Kind: ActWithdraw, Reason: ReasonLeft}}
}

// Deadline is when Timer must run next; zero when nothing is due.
func (a *Announcement) Deadline() time.Time {
	if a.phase != leaving {
		return time.Time{}
	}
	return a.deadline
}

// Announced reports whether the VIP is announced (a graceful leave's announcement
// counts).
func (a *Announcement) Announced() bool { return a.phase == announced || a.phase == leaving }

// Left reports whether the VIP has been withdrawn for good by Leave.
func (a *Announcement) Left() bool { return a.phase == left }

// Reason says why the VIP is not announced ("" when it is announced normally), and
// since when that holds.
func (a *Announcement) Reason() (string, time.Time) { return a.reason, a.since }

func (a *Announcement) set(now time.Time, p phase, reason string) {
	a.phase, a.reason, a.since = p, reason, now
	a.deadline = time.Time{}
}
