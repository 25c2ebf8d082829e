package bgp

import (
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

var ready = Inputs{AddressUp: true, Programmed: true, Checked: true, TrackersOK: true, Master: true}

func announce() []Action { return []Action{{Kind: ActAnnounce, Reason: "ready"}} }

func withdraw(why string) []Action { return []Action{{Kind: ActWithdraw, Reason: why}} }

func expect(t *testing.T, what string, got, want []Action) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: actions %+v, want %+v", what, got, want)
	}
}

// TestAnnounceOnlyWhenReady: each input alone holds the announcement back, with its
// reason; the first time all hold the VIP is announced at once.
func TestAnnounceOnlyWhenReady(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Inputs)
		why  string
	}{
		{"address", func(in *Inputs) { in.AddressUp = false }, ReasonAddressDown},
		{"programmed", func(in *Inputs) { in.Programmed = false }, ReasonNotProgrammed},
		{"checked", func(in *Inputs) { in.Checked = false }, ReasonNotChecked},
		{"trackers", func(in *Inputs) { in.TrackersOK = false }, ReasonTracker},
	} {
		a := NewAnnouncement(t0, AnnouncementSpec{Mode: ECMP, Rise: 3})
		in := ready
		tc.mod(&in)
		for i := range 5 {
			expect(t, tc.name, a.Update(t0.Add(time.Duration(i)*time.Second), in, true), nil)
		}
		if why, _ := a.Reason(); why != tc.why || a.Announced() {
			t.Errorf("%s: reason %q announced %v, want %q", tc.name, why, a.Announced(), tc.why)
		}
		// Not a fault withdrawal: no rise to wait for, and a change between rounds is enough.
		expect(t, tc.name+" ready", a.Update(t0.Add(10*time.Second), ready, false), announce())
		if !a.Announced() {
			t.Errorf("%s: not announced", tc.name)
		}
	}
}

// TestWithdrawAtOnceThenRise: a fault withdraws on the change itself (not only on a
// round); the VIP comes back only after Rise good rounds in a row, and a bad round
// in between starts the count again; changes between rounds do not count.
func TestWithdrawAtOnceThenRise(t *testing.T) {
	a := NewAnnouncement(t0, AnnouncementSpec{Mode: ECMP, Rise: 3})
	expect(t, "start", a.Update(t0, ready, true), announce())
	bad := ready
	bad.TrackersOK = false
	expect(t, "fault", a.Update(t0.Add(time.Second), bad, false), withdraw(ReasonTracker))
	now := t0.Add(2 * time.Second)
	tick := func(in Inputs, round bool) []Action {
		now = now.Add(500 * time.Millisecond)
		return a.Update(now, in, round)
	}
	expect(t, "good 1", tick(ready, true), nil)
	expect(t, "good 2", tick(ready, true), nil)
	if why, _ := a.Reason(); why != ReasonRising {
		t.Errorf("reason while rising = %q", why)
	}
	expect(t, "bad again", tick(bad, true), nil)
	expect(t, "good 1'", tick(ready, true), nil)
	expect(t, "good 2'", tick(ready, true), nil)
	for range 5 {
		expect(t, "changes between rounds", tick(ready, false), nil)
	}
	expect(t, "good 3'", tick(ready, true), announce())
	expect(t, "steady", tick(ready, true), nil)
}

// TestMasterMode: announced while master and holding the address, withdrawn on losing
// mastership — and back at once on becoming master again (an election, not a fault).
func TestMasterMode(t *testing.T) {
	a := NewAnnouncement(t0, AnnouncementSpec{Mode: MasterOnly, Rise: 5})
	backup := ready
	backup.Master = false
	expect(t, "backup", a.Update(t0, backup, true), nil)
	if why, _ := a.Reason(); why != ReasonNotMaster {
		t.Errorf("reason = %q", why)
	}
	masterNoVIP := ready
	masterNoVIP.AddressUp = false
	expect(t, "master, VIP not yet added", a.Update(t0.Add(time.Second), masterNoVIP, false), nil)
	expect(t, "VIP added", a.Update(t0.Add(2*time.Second), ready, false), announce())
	expect(t, "leaving master", a.Update(t0.Add(3*time.Second), backup, false), withdraw(ReasonNotMaster))
	expect(t, "master again", a.Update(t0.Add(4*time.Second), ready, false), announce())
	// In ECMP mode Master is not an input.
	e := NewAnnouncement(t0, AnnouncementSpec{Mode: ECMP, Rise: 1})
	expect(t, "ecmp ignores Master", e.Update(t0, backup, false), announce())
}

// TestGracefulLeave: the graceful re-announcement, the wait on the clock, the withdrawal;
// nothing brings it back but Rejoin, and then only after Rise rounds.
func TestGracefulLeave(t *testing.T) {
	a := NewAnnouncement(t0, AnnouncementSpec{Mode: ECMP, Rise: 2, Graceful: true, Wait: 5 * time.Second})
	expect(t, "start", a.Update(t0, ready, true), announce())
	expect(t, "leave", a.Leave(t0.Add(time.Second)), []Action{{Kind: ActAnnounce, Graceful: true, Reason: ReasonLeaving}})
	if got := a.Deadline(); !got.Equal(t0.Add(6 * time.Second)) {
		t.Errorf("Deadline = %v", got)
	}
	expect(t, "before the deadline", a.Timer(t0.Add(5999*time.Millisecond)), nil)
	expect(t, "rounds while leaving", a.Update(t0.Add(5*time.Second), ready, true), nil)
	if !a.Announced() {
		t.Error("the graceful announcement should stand during the wait")
	}
	expect(t, "deadline", a.Timer(t0.Add(6*time.Second)), withdraw(ReasonLeft))
	if a.Announced() || !a.Left() || !a.Deadline().IsZero() {
		t.Errorf("after the wait: announced %v left %v deadline %v", a.Announced(), a.Left(), a.Deadline())
	}
	expect(t, "ready after leaving", a.Update(t0.Add(7*time.Second), ready, true), nil)
	expect(t, "rejoin", a.Rejoin(t0.Add(8*time.Second)), nil)
	expect(t, "round 1", a.Update(t0.Add(9*time.Second), ready, true), nil)
	expect(t, "round 2", a.Update(t0.Add(10*time.Second), ready, true), announce())
}

func TestLeaveVariants(t *testing.T) {
	// Wait 0: re-announce and withdraw in one go.
	a := NewAnnouncement(t0, AnnouncementSpec{Rise: 1, Graceful: true})
	a.Update(t0, ready, true)
	expect(t, "wait 0", a.Leave(t0), []Action{{Kind: ActAnnounce, Graceful: true, Reason: ReasonLeaving}, {Kind: ActWithdraw, Reason: ReasonLeft}})
	// graceful_shutdown = false: withdraw only.
	b := NewAnnouncement(t0, AnnouncementSpec{Rise: 1})
	b.Update(t0, ready, true)
	expect(t, "not graceful", b.Leave(t0), withdraw(ReasonLeft))
	// Never announced: nothing to say, and it stays out.
	c := NewAnnouncement(t0, AnnouncementSpec{Rise: 1, Graceful: true, Wait: time.Second})
	expect(t, "not announced", c.Leave(t0), nil)
	expect(t, "stays out", c.Update(t0, ready, true), nil)
	// A fault during the wait withdraws at once, and it stays out.
	d := NewAnnouncement(t0, AnnouncementSpec{Rise: 1, Graceful: true, Wait: time.Minute})
	d.Update(t0, ready, true)
	d.Leave(t0)
	bad := ready
	bad.AddressUp = false
	expect(t, "fault while leaving", d.Update(t0.Add(time.Second), bad, false), withdraw(ReasonAddressDown))
	expect(t, "no second withdrawal", d.Timer(t0.Add(time.Minute)), nil)
	if !d.Left() {
		t.Error("a VIP that faulted while leaving should stay left")
	}
	// Rejoin during the wait takes the graceful announcement back.
	e := NewAnnouncement(t0, AnnouncementSpec{Rise: 1, Graceful: true, Wait: time.Minute})
	e.Update(t0, ready, true)
	e.Leave(t0)
	expect(t, "rejoin while leaving", e.Rejoin(t0.Add(time.Second)), withdraw("rejoined while leaving"))
	expect(t, "back after rise", e.Update(t0.Add(2*time.Second), ready, true), announce())
}
