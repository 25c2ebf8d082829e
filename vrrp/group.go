package vrrp

import (
	"fmt"
	"time"
)

// Group is a sync group (keepalived's vrrp_sync_group): instances that move together.
// When one member becomes master the others follow; when one leaves master for backup the
// others do too; while any member has a fault of its own, every member is in Fault. A
// backup member whose down timer expires goes master only if every other member is master
// or wants to be (its own timer expired too, with no higher master heard since), as in
// keepalived (vrrp_sync_can_goto_master): a member that hears a higher master holds the
// group in Backup, instead of the group going master until that master's next advert,
// over and over. Like Machine it is pure.
type Group struct {
	Name    string
	Members []*Machine
}

// MemberActions is the actions one member must carry out.
type MemberActions struct {
	Member  int
	Actions []Action
}

// Step feeds ev to member i, then moves the other members as the group rules demand.
// The result lists each member's actions in the order they arose.
func (g *Group) Step(now time.Time, i int, ev Event) []MemberActions {
	var out []MemberActions
	type pending struct {
		member int
		acts   []Action
	}
	if m := g.Members[i]; ev.Kind == EvTimer && m.downTimerDue(now) {
		m.wantMaster = true
		if !g.othersWantMaster(i) {
			// Wait for the others; whichever member's timer completes the set takes the
			// group master, this one with it.
			m.deadline = now.Add(m.MasterDownInterval())
			return nil
		}
	}
	queue := []pending{{i, g.Members[i].Step(now, ev)}}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		// The fault rule below runs even when the step did nothing visible: a member whose
		// own fault clears while another's is still set stays in Fault, yet the other one
		// must then be let go when its own fault clears.
		if len(p.acts) > 0 {
			out = append(out, MemberActions{Member: p.member, Actions: p.acts})
		}
		for _, a := range p.acts {
			if a.Kind != ActTransition || (a.To != Master && a.To != Backup) {
				continue
			}
			// Only a member's own decision is propagated; a forced move to the same
			// state would otherwise bounce around the group.
			if a.From != Master && a.To == Backup {
				continue // leaving Initialize or Fault is handled by the fault rule
			}
			reason := fmt.Sprintf("sync group %s: %s went %s", g.Name, g.Members[p.member].cfg.Name, a.To)
			for k, m := range g.Members {
				if k == p.member {
					continue
				}
				if acts := m.Step(now, Event{Kind: EvGroup, State: a.To, Reason: reason}); len(acts) > 0 {
					queue = append(queue, pending{k, acts})
				}
			}
		}
		// Fault rule: a member is held in Fault while any other member has its own fault.
		for k, m := range g.Members {
			want := false
			for j, o := range g.Members {
				if j != k && o.ownFault {
					want = true
				}
			}
			if want == m.groupFault {
				continue
			}
			reason := fmt.Sprintf("sync group %s: fault cleared", g.Name)
			if want {
				reason = fmt.Sprintf("sync group %s: member in fault", g.Name)
			}
			m.groupFault = want
			if acts := m.faultChanged(now, reason); len(acts) > 0 {
				queue = append(queue, pending{k, acts})
			}
		}
	}
	return out
}

// othersWantMaster reports whether every member but i is master or wants to be.
func (g *Group) othersWantMaster(i int) bool {
	for k, m := range g.Members {
		if k != i && !m.wantsMaster() {
			return false
		}
	}
	return true
}
