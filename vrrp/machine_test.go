package vrrp

import (
	"net/netip"
	"strconv"
	"testing"
	"time"
)

var (
	t0    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ipA   = netip.MustParseAddr("192.0.2.1")
	ipB   = netip.MustParseAddr("192.0.2.2")
	ipC   = netip.MustParseAddr("192.0.2.3")
	cfgV3 = Config{Name: "VI_1", Version: 3, Priority: 100, Interval: time.Second, Preempt: true, PrimaryIP: ipB}
)

func adv(src netip.Addr, prio uint8, interval time.Duration) *Advert {
	return &Advert{Version: 3, Type: TypeAdvertisement, VRID: 51, Priority: prio, Interval: interval, Src: src, Dst: GroupV4}
}

func kinds(acts []Action) []string {
	var s []string
	for _, a := range acts {
		switch a.Kind {
		case ActSend:
			s = append(s, "send:"+strconv.Itoa(int(a.Priority)))
		case ActTransition:
			s = append(s, a.From.String()+">"+a.To.String())
		case ActAnnounce:
			s = append(s, "announce")
		}
	}
	return s
}

func eq(t *testing.T, what string, got []Action, want ...string) {
	t.Helper()
	g := kinds(got)
	if len(g) != len(want) {
		t.Fatalf("%s: actions %v, want %v", what, g, want)
	}
	for i := range g {
		if g[i] != want[i] {
			t.Fatalf("%s: actions %v, want %v", what, g, want)
		}
	}
}

func backupOf(t *testing.T, cfg Config) *Machine {
	t.Helper()
	m := NewMachine(cfg)
	eq(t, "startup", m.Step(t0, Event{Kind: EvStartup}), "INIT>BACKUP")
	return m
}

func TestStartupWaitsMasterDownInterval(t *testing.T) {
	m := backupOf(t, cfgV3)
	want := t0.Add(3*time.Second + 156*time.Second/256)
	if !m.Deadline().Equal(want) {
		t.Fatalf("deadline %v, want %v", m.Deadline().Sub(t0), want.Sub(t0))
	}
	eq(t, "early timer", m.Step(want.Add(-1), Event{Kind: EvTimer}))
	eq(t, "down timer", m.Step(want, Event{Kind: EvTimer}), "send:100", "BACKUP>MASTER")
	if !m.Deadline().Equal(want.Add(time.Second)) {
		t.Fatalf("advert timer %v", m.Deadline().Sub(want))
	}
}

func TestOwnerIsMasterAtOnce(t *testing.T) {
	c := cfgV3
	c.Priority = 255
	m := NewMachine(c)
	eq(t, "owner startup", m.Step(t0, Event{Kind: EvStartup}), "send:255", "INIT>MASTER")
	eq(t, "tracking ignored", m.Step(t0, Event{Kind: EvPriority, Priority: 50}))
}

// The advert timer must not drift: late processing does not push later adverts back.
func TestAdvertTimerDoesNotDrift(t *testing.T) {
	c := cfgV3
	c.Priority = 255
	m := NewMachine(c)
	m.Step(t0, Event{Kind: EvStartup})
	late := 3 * time.Millisecond
	for i := 1; i <= 5; i++ {
		m.Step(t0.Add(time.Duration(i)*time.Second+late), Event{Kind: EvTimer})
		if want := t0.Add(time.Duration(i+1) * time.Second); !m.Deadline().Equal(want) {
			t.Fatalf("advert %d: next at %v, want %v", i, m.Deadline().Sub(t0), want.Sub(t0))
		}
	}
	// More than an interval behind: restart the schedule rather than burst.
	m.Step(t0.Add(20*time.Second), Event{Kind: EvTimer})
	if want := t0.Add(21 * time.Second); !m.Deadline().Equal(want) {
		t.Fatalf("after stall: next at %v, want %v", m.Deadline().Sub(t0), want.Sub(t0))
	}
}

func TestBackupLearnsIntervalV3(t *testing.T) {
	m := backupOf(t, cfgV3)
	now := t0.Add(time.Second)
	eq(t, "higher advert", m.Step(now, Event{Kind: EvAdvert, Advert: adv(ipC, 200, 100*time.Millisecond)}))
	if m.MasterAdverInterval() != 100*time.Millisecond {
		t.Fatalf("learned %v", m.MasterAdverInterval())
	}
	want := now.Add(300*time.Millisecond + 156*100*time.Millisecond/256)
	if !m.Deadline().Equal(want) {
		t.Fatalf("deadline %v, want %v", m.Deadline().Sub(now), want.Sub(now))
	}
	if ip, p := m.Master(); ip != ipC || p != 200 {
		t.Fatalf("master %v %d", ip, p)
	}
	// v2 never learns: intervals must match and mismatches are dropped by Validate.
	c := cfgV3
	c.Version = 2
	m2 := backupOf(t, c)
	m2.Step(now, Event{Kind: EvAdvert, Advert: adv(ipC, 200, 3*time.Second)})
	if m2.MasterAdverInterval() != time.Second {
		t.Fatalf("v2 learned %v", m2.MasterAdverInterval())
	}
}

// With preempt, a lower advert is discarded and changes nothing: no timer reset, nothing learned.
func TestPreemptDiscardChangesNothing(t *testing.T) {
	m := backupOf(t, cfgV3)
	d := m.Deadline()
	m.Step(t0.Add(time.Second), Event{Kind: EvAdvert, Advert: adv(ipA, 50, 200*time.Millisecond)})
	if !m.Deadline().Equal(d) || m.MasterAdverInterval() != time.Second {
		t.Fatalf("lower advert changed deadline %v->%v or interval %v", d, m.Deadline(), m.MasterAdverInterval())
	}
	// Equal priority from a lower address is lower too.
	m.Step(t0.Add(time.Second), Event{Kind: EvAdvert, Advert: adv(ipA, 100, time.Second)})
	if !m.Deadline().Equal(d) {
		t.Fatal("equal priority from a lower address reset the timer")
	}
	// Equal priority from a higher address wins.
	m.Step(t0.Add(time.Second), Event{Kind: EvAdvert, Advert: adv(ipC, 100, time.Second)})
	if m.Deadline().Equal(d) {
		t.Fatal("equal priority from a higher address did not reset the timer")
	}
}

func TestNopreemptAcceptsLower(t *testing.T) {
	c := cfgV3
	c.Preempt = false
	m := backupOf(t, c)
	now := t0.Add(time.Second)
	m.Step(now, Event{Kind: EvAdvert, Advert: adv(ipA, 50, time.Second)})
	if !m.Deadline().Equal(now.Add(m.MasterDownInterval())) {
		t.Fatal("nopreempt backup did not follow a lower master")
	}
}

// TestPreemptDelay: keepalived's rule (vrrp_state_backup): the first lower advert a
// backup hears starts the delay; lower adverts are followed until it has passed, then
// discarded, so the down timer makes it master Master_Down_Interval after the last one
// followed.
func TestPreemptDelay(t *testing.T) {
	c := cfgV3
	c.PreemptDelay = 10 * time.Second
	m := backupOf(t, c)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	for s := 1; s <= 10; s++ { // the delay runs from 1 s to 11 s
		m.Step(at(float64(s)), Event{Kind: EvAdvert, Advert: adv(ipA, 50, time.Second)})
		if want := at(float64(s)).Add(m.MasterDownInterval()); !m.Deadline().Equal(want) {
			t.Fatalf("lower advert at %d s, during preempt_delay: deadline %v, want %v", s, m.Deadline().Sub(t0), want.Sub(t0))
		}
	}
	d := m.Deadline()
	m.Step(at(11), Event{Kind: EvAdvert, Advert: adv(ipA, 50, time.Second)})
	if !m.Deadline().Equal(d) {
		t.Fatal("a lower advert after preempt_delay reset the timer")
	}
	eq(t, "preempt", m.Step(d, Event{Kind: EvTimer}), "send:100", "BACKUP>MASTER")
}

// TestPreemptDelayRestarts: a master we do not beat ends the delay, and the next lower
// master starts it again; entering BACKUP again starts from scratch too.
func TestPreemptDelayRestarts(t *testing.T) {
	c := cfgV3
	c.PreemptDelay = 10 * time.Second
	m := backupOf(t, c)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	m.Step(at(1), Event{Kind: EvAdvert, Advert: adv(ipA, 50, time.Second)})  // delay until 11 s
	m.Step(at(2), Event{Kind: EvAdvert, Advert: adv(ipC, 200, time.Second)}) // ends it
	m.Step(at(3), Event{Kind: EvAdvert, Advert: adv(ipA, 50, time.Second)})  // delay until 13 s
	m.Step(at(12), Event{Kind: EvAdvert, Advert: adv(ipA, 50, time.Second)})
	if want := at(12).Add(m.MasterDownInterval()); !m.Deadline().Equal(want) {
		t.Fatalf("lower advert at 12 s, in the restarted delay: deadline %v, want %v", m.Deadline().Sub(t0), want.Sub(t0))
	}
	m.Step(at(13), Event{Kind: EvAdvert, Advert: adv(ipA, 50, time.Second)})
	if want := at(12).Add(m.MasterDownInterval()); !m.Deadline().Equal(want) {
		t.Fatalf("lower advert at 13 s, after the restarted delay: deadline %v, want %v", m.Deadline().Sub(t0), want.Sub(t0))
	}
	eq(t, "preempt", m.Step(m.Deadline(), Event{Kind: EvTimer}), "send:100", "BACKUP>MASTER")

	// Back to BACKUP through a higher master: the next lower one starts a new delay.
	now := m.Deadline().Add(-time.Millisecond)
	m.Step(now, Event{Kind: EvAdvert, Advert: adv(ipC, 200, time.Second)})
	if m.State() != Backup {
		t.Fatalf("state %v after a higher advert, want BACKUP", m.State())
	}
	later := now.Add(5 * time.Second)
	m.Step(later, Event{Kind: EvAdvert, Advert: adv(ipA, 50, time.Second)})
	if want := later.Add(m.MasterDownInterval()); !m.Deadline().Equal(want) {
		t.Fatalf("first lower advert after re-entering BACKUP: deadline %v, want %v", m.Deadline().Sub(t0), want.Sub(t0))
	}
}

// TestPreemptDelayAlone: with nobody heard, preempt_delay does not hold a backup off.
func TestPreemptDelayAlone(t *testing.T) {
	c := cfgV3
	c.PreemptDelay = 10 * time.Second
	m := backupOf(t, c)
	if want := t0.Add(m.MasterDownInterval()); !m.Deadline().Equal(want) {
		t.Fatalf("deadline %v, want Master_Down_Interval", m.Deadline().Sub(t0))
	}
	eq(t, "alone", m.Step(m.Deadline(), Event{Kind: EvTimer}), "send:100", "BACKUP>MASTER")
}

func TestPriorityZeroSkew(t *testing.T) {
	m := backupOf(t, cfgV3)
	now := t0.Add(time.Second)
	m.Step(now, Event{Kind: EvAdvert, Advert: adv(ipC, 0, time.Second)})
	if want := now.Add(156 * time.Second / 256); !m.Deadline().Equal(want) {
		t.Fatalf("deadline %v, want skew", m.Deadline().Sub(now))
	}
}

func master(t *testing.T) *Machine {
	t.Helper()
	m := backupOf(t, cfgV3)
	m.Step(m.Deadline(), Event{Kind: EvTimer})
	if m.State() != Master {
		t.Fatal("not master")
	}
	return m
}

func TestMasterRules(t *testing.T) {
	m := master(t)
	now := m.Deadline().Add(-time.Millisecond)
	d := m.Deadline()
	eq(t, "lower advert answered at once", m.Step(now, Event{Kind: EvAdvert, Advert: adv(ipA, 99, time.Second)}), "send:100", "announce")
	if !m.Deadline().Equal(d) {
		t.Fatal("answer moved the advert timer")
	}
	eq(t, "priority 0 from another master", m.Step(now, Event{Kind: EvAdvert, Advert: adv(ipA, 0, time.Second)}), "send:100")
	if !m.Deadline().Equal(now.Add(time.Second)) {
		t.Fatal("priority 0 did not reset the advert timer")
	}
	eq(t, "equal from lower address", m.Step(now, Event{Kind: EvAdvert, Advert: adv(ipA, 100, time.Second)}), "send:100", "announce")
	// The yielding master's last advert makes the winner re-announce (the case above): a
	// client that followed this master's gratuitous ARPs during a split brain points back.
	eq(t, "equal from higher address", m.Step(now, Event{Kind: EvAdvert, Advert: adv(ipC, 100, 500*time.Millisecond)}), "send:100", "MASTER>BACKUP")
	if m.MasterAdverInterval() != 500*time.Millisecond {
		t.Fatal("did not learn the new master's interval")
	}
	m = master(t)
	eq(t, "tracking lowers priority: re-advertise at once", m.Step(now, Event{Kind: EvPriority, Priority: 80}), "send:80")
	eq(t, "same priority: nothing", m.Step(now, Event{Kind: EvPriority, Priority: 80}))
	eq(t, "shutdown", m.Step(now, Event{Kind: EvShutdown}), "send:0", "MASTER>INIT")
	if !m.Deadline().IsZero() {
		t.Fatal("timer left armed after shutdown")
	}
}

func TestFault(t *testing.T) {
	m := master(t)
	now := m.Deadline()
	eq(t, "fault from master", m.Step(now, Event{Kind: EvFault, Fault: true}), "send:0", "MASTER>FAULT")
	eq(t, "adverts ignored in fault", m.Step(now, Event{Kind: EvAdvert, Advert: adv(ipA, 1, time.Second)}))
	eq(t, "fault cleared", m.Step(now, Event{Kind: EvFault, Fault: false}), "FAULT>BACKUP")
	m2 := NewMachine(cfgV3)
	m2.Step(t0, Event{Kind: EvFault, Fault: true})
	eq(t, "fault before startup", m2.Step(t0, Event{Kind: EvStartup}), "INIT>FAULT")
}

func TestSyncGroup(t *testing.T) {
	c1, c2 := cfgV3, cfgV3
	c1.Name, c2.Name = "VI_1", "VI_2"
	g := &Group{Name: "VG_1", Members: []*Machine{NewMachine(c1), NewMachine(c2)}}
	g.Step(t0, 0, Event{Kind: EvStartup})
	g.Step(t0, 1, Event{Kind: EvStartup})
	// VI_1 hears a higher master, VI_2 does not: VI_2's timer firing does not take the
	// group master, VI_1 holds it back (TestSyncGroupDoesNotThrash).
	g.Step(t0.Add(time.Second), 0, Event{Kind: EvAdvert, Advert: adv(ipC, 200, time.Second)})
	if out := g.Step(g.Members[1].Deadline(), 1, Event{Kind: EvTimer}); len(out) != 0 || g.Members[1].State() != Backup {
		t.Fatalf("VI_2 went on alone: %+v, state %v", out, g.Members[1].State())
	}
	// VI_1's master goes quiet: when VI_1's timer fires, VI_2 follows it to master.
	out := g.Step(g.Members[0].Deadline(), 0, Event{Kind: EvTimer})
	if len(out) != 2 || g.Members[0].State() != Master || g.Members[1].State() != Master {
		t.Fatalf("group master: %+v, states %v %v", out, g.Members[0].State(), g.Members[1].State())
	}
	// VI_1 now loses to a higher master: VI_2 goes backup with it.
	g.Step(t0.Add(5*time.Second), 0, Event{Kind: EvAdvert, Advert: adv(ipC, 200, time.Second)})
	if g.Members[0].State() != Backup || g.Members[1].State() != Backup {
		t.Fatalf("group backup: %v %v", g.Members[0].State(), g.Members[1].State())
	}
	// A fault in one holds all in fault until it clears, including when two members fault.
	now := t0.Add(6 * time.Second)
	g.Step(now, 0, Event{Kind: EvFault, Fault: true})
	g.Step(now, 1, Event{Kind: EvFault, Fault: true})
	g.Step(now, 0, Event{Kind: EvFault, Fault: false})
	if g.Members[0].State() != Fault || g.Members[1].State() != Fault {
		t.Fatalf("one member still faulty: %v %v", g.Members[0].State(), g.Members[1].State())
	}
	g.Step(now, 1, Event{Kind: EvFault, Fault: false})
	if g.Members[0].State() != Backup || g.Members[1].State() != Backup {
		t.Fatalf("after faults cleared: %v %v", g.Members[0].State(), g.Members[1].State())
	}
}

// TestSyncGroupDoesNotThrash: a group member that hears a higher master holds the whole
// group in Backup, even while another member's down timer expires because its own peer
// is lower (keepalived's vrrp_sync_can_goto_master: go master only if every member wants
// to). Going master there would only last until the next advert of the higher master,
// over and over. Once the holding member no longer hears a higher master, the group goes
// master.
func TestSyncGroupDoesNotThrash(t *testing.T) {
	c1, c2 := cfgV3, cfgV3
	c1.Name, c2.Name = "VI_1", "VI_2"
	c1.Priority, c2.Priority = 150, 150
	g := &Group{Name: "VG_1", Members: []*Machine{NewMachine(c1), NewMachine(c2)}}
	g.Step(t0, 0, Event{Kind: EvStartup})
	g.Step(t0, 1, Event{Kind: EvStartup})
	g.Step(t0, 1, Event{Kind: EvPriority, Priority: 90}) // VI_2's tracking: 150 - 60
	// The peer (ipC) is master of both at 100: lower than VI_1, higher than VI_2.
	masterAt := time.Time{}
	run := func(from, to time.Time) {
		for now := from; now.Before(to); now = now.Add(10 * time.Millisecond) {
			if now.Sub(t0)%time.Second == 0 {
				for k := range g.Members {
					g.Step(now, k, Event{Kind: EvAdvert, Advert: adv(ipC, 100, time.Second)})
				}
			}
			for k, m := range g.Members {
				if d := m.Deadline(); !d.IsZero() && !now.Before(d) {
					for _, ma := range g.Step(now, k, Event{Kind: EvTimer}) {
						for _, a := range ma.Actions {
							if a.Kind == ActTransition && a.To == Master && masterAt.IsZero() {
								masterAt = now
							}
						}
					}
				}
			}
		}
	}
	run(t0, t0.Add(30*time.Second))
	if !masterAt.IsZero() {
		t.Fatalf("group went master %v after start while VI_2 hears a higher master", masterAt.Sub(t0))
	}
	if g.Members[0].State() != Backup || g.Members[1].State() != Backup {
		t.Fatalf("states %v %v, want both Backup", g.Members[0].State(), g.Members[1].State())
	}
	// VI_2's priority is back above the peer's: both go master within one more
	// Master_Down_Interval of VI_2, and stay.
	back := t0.Add(30 * time.Second)
	g.Step(back, 1, Event{Kind: EvPriority, Priority: 150})
	run(back, back.Add(10*time.Second))
	if masterAt.IsZero() || masterAt.Sub(back) > g.Members[1].MasterDownInterval()+time.Second {
		t.Fatalf("group master %v after VI_2's priority came back", masterAt.Sub(back))
	}
	if g.Members[0].State() != Master || g.Members[1].State() != Master {
		t.Fatalf("states %v %v, want both Master", g.Members[0].State(), g.Members[1].State())
	}
}

func TestReconfigureKeepsState(t *testing.T) {
	m := master(t)
	now := m.Deadline().Add(-500 * time.Millisecond)
	c := cfgV3
	c.Interval = 100 * time.Millisecond
	m.Reconfigure(now, c)
	if m.State() != Master || !m.Deadline().Equal(now.Add(100*time.Millisecond)) {
		t.Fatalf("state %v deadline %v", m.State(), m.Deadline().Sub(now))
	}
	b := backupOf(t, cfgV3)
	b.Step(t0.Add(time.Second), Event{Kind: EvAdvert, Advert: adv(ipC, 200, 300*time.Millisecond)})
	d := b.Deadline()
	b.Reconfigure(t0.Add(2*time.Second), c)
	if b.State() != Backup || !b.Deadline().Equal(d) || b.MasterAdverInterval() != 300*time.Millisecond {
		t.Fatalf("backup changed: %v %v %v", b.State(), b.Deadline(), b.MasterAdverInterval())
	}
}

// TestSyncGroupFaultAtStartup: members that start with faults of their own (a group-wide
// tracker down) all leave Fault once every fault has cleared, in whatever order.
func TestSyncGroupFaultAtStartup(t *testing.T) {
	c1, c2 := cfgV3, cfgV3
	c1.Name, c2.Name = "VI_1", "VI_2"
	g := &Group{Name: "VG_1", Members: []*Machine{NewMachine(c1), NewMachine(c2)}}
	for i := range g.Members {
		g.Step(t0, i, Event{Kind: EvFault, Fault: true})
	}
	for i := range g.Members {
		g.Step(t0, i, Event{Kind: EvStartup})
	}
	now := t0.Add(time.Second)
	g.Step(now, 0, Event{Kind: EvFault, Fault: false})
	if g.Members[0].State() != Fault {
		t.Fatalf("VI_1 left Fault while VI_2 is faulty: %v", g.Members[0].State())
	}
	g.Step(now, 1, Event{Kind: EvFault, Fault: false})
	if g.Members[0].State() != Backup || g.Members[1].State() != Backup {
		t.Fatalf("after faults cleared: %v %v", g.Members[0].State(), g.Members[1].State())
	}
}
