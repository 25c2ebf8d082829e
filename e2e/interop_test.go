package e2e

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hadirector/hadirector/internal/bench"
	"github.com/hadirector/hadirector/internal/lab"
	"github.com/hadirector/hadirector/internal/privtest"
	"github.com/hadirector/hadirector/vrrp"
)

// Interop: a hadirector node and a keepalived node (Debian's 2.2.7) as the two routers of
// one VRID, as during a node-by-node migration. The configurations come from the bench
// package, so the failover benchmark runs exactly what these tests prove to work.

// kaSlack is what these tests allow beyond the protocol's limits: keepalived's own start-up
// and its notify FIFO come on top of the scheduling slack of the other e2e tests.
const kaSlack = 500 * time.Millisecond

// interop is one VRID with one node of each implementation and a client.
type interop struct {
	t       *testing.T
	l       *lab.Lab
	had, ka *bench.Daemon
	client  *lab.Host
	ival    time.Duration
	version int
}

// newInterop builds hadirector on 192.0.2.1 and keepalived on 192.0.2.2 (VRID 51, VIP
// 192.0.2.100/24); mod adjusts each node's instance (priorities, unicast, checksum form).
func newInterop(t *testing.T, version int, ival time.Duration, hadPrio, kaPrio int, mod func(had, ka *bench.Instance)) *interop {
	t.Helper()
	kaBin := privtest.Tool(t, "keepalived")
	l := lab.New(t)
	p := &interop{t: t, l: l, ival: ival, version: version}
	hh := l.Host("had", "192.0.2.1/24")
	hk := l.Host("ka", "192.0.2.2/24")
	p.client = l.Host("client", "192.0.2.50/24")
	// Realtime for both, as in the other e2e tests (the machine is shared); keepalived's
	// RLIMIT_RTTIME watchdog is raised because with its default (10 ms) it SIGKILLs its
	// own VRRP child on a busy VM, which is not what these tests are about.
	base := bench.Instance{Version: version, VRID: 51, Interval: ival, VIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.100/24")},
		Realtime: true, KeepalivedRTTime: 1000000}
	hi, ki := base, base
	hi.Priority, ki.Priority = hadPrio, kaPrio
	if mod != nil {
		mod(&hi, &ki)
	}
	p.had = bench.NewDaemon(t, bench.Hadirector, lab.Build(t, "./cmd/hadirector"), hh, hi)
	p.ka = bench.NewDaemon(t, bench.Keepalived, kaBin, hk, ki)
	return p
}

// unicast makes both nodes send to each other only.
func unicast(had, ka *bench.Instance) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	had.UnicastSrc, had.UnicastPeers = a, []netip.Addr{b}
	ka.UnicastSrc, ka.UnicastPeers = b, []netip.Addr{a}
}

func (p *interop) other(d *bench.Daemon) *bench.Daemon {
	if d == p.had {
		return p.ka
	}
	return p.had
}

// mdi is d's Master_Down_Interval as a backup (v3: it learns the master's interval, which
// is the same here).
func (p *interop) mdi(d *bench.Daemon) time.Duration {
	return 3*p.ival + vrrp.SkewTime(uint8(p.version), uint8(d.Inst.Priority), p.ival)
}

func (p *interop) skew(d *bench.Daemon) time.Duration {
	return vrrp.SkewTime(uint8(p.version), uint8(d.Inst.Priority), p.ival)
}

// soleMaster reports whether m is master with the VIP and its peer, if running, is backup
// without it.
func (p *interop) soleMaster(m *bench.Daemon) bool {
	o := p.other(m)
	if m.State() != "MASTER" || !m.HasVIP() || o.HasVIP() {
		return false
	}
	return !o.Running() || o.State() == "BACKUP"
}

// elect starts both and waits until m is the only master, then checks that it stays so for
// five advert intervals (at least three seconds): no split brain, no flapping.
func (p *interop) elect(m *bench.Daemon) {
	p.t.Helper()
	p.had.Start()
	p.ka.Start()
	p.settle(m, p.mdi(m)+kaSlack+time.Second)
}

func (p *interop) settle(m *bench.Daemon, timeout time.Duration) {
	p.t.Helper()
	p.waitFor(timeout, m.Host.Name+" ("+string(m.Impl)+") the only master", func() bool { return p.soleMaster(m) })
	// A few intervals, at least a second.
	stable(p.t, min(max(5*p.ival, time.Second), 3*time.Second), m.Host.Name+" stays the only master", func() bool { return p.soleMaster(m) })
}

// waitFor is eventually with both daemons' logs in the failure message: timeout is what
// the protocol promises, and polling goes on for eventually's grace beyond it (on a busy
// machine the daemons' start-up and the test's polling lag).
func (p *interop) waitFor(timeout time.Duration, what string, cond func() bool) {
	p.t.Helper()
	start := time.Now()
	deadline := start.Add(timeout + grace)
	for !cond() {
		if time.Now().After(deadline) {
			p.t.Fatalf("not within %v (+%v grace): %s (hadirector %s, keepalived %s)\nhadirector:\n%s\nkeepalived:\n%s", timeout, grace, what,
				p.had.State(), p.ka.State(), lastLines(p.had.Output(), 15), lastLines(p.ka.Output(), 15))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if d := time.Since(start); d > timeout {
		p.t.Logf("seen after %v (limit %v; start-up and polling lag under load): %s", d.Round(time.Millisecond), timeout, what)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// kill kill -9s the master m at a random moment of its advert cycle and checks that the
// other node takes over within its Master_Down_Interval.
func (p *interop) kill(m *bench.Daemon) {
	p.t.Helper()
	b := p.other(m)
	time.Sleep(time.Duration(rand.Int64N(int64(p.ival))))
	killed := time.Now()
	m.Kill()
	p.waitFor(p.mdi(b)+kaSlack, b.Host.Name+" takes over after kill -9 of "+m.Host.Name, func() bool { return b.State() == "MASTER" && b.HasVIP() })
	at, _ := b.BecameMaster(killed)
	// a's last advert left up to one interval before the kill.
	if d := at.Sub(killed); d < p.mdi(b)-p.ival || d > p.mdi(b)+kaSlack {
		p.t.Errorf("%s took over %v after kill -9; want within [%v, %v]", b.Host.Name, d, p.mdi(b)-p.ival, p.mdi(b)+kaSlack)
	}
	m.RemoveVIPs() // kill -9 leaves them, as on a real node
}

// term stops the master m with SIGTERM: it must send priority 0, so the other node takes
// over after its Skew_Time, not its Master_Down_Interval, and m must leave no VIP behind.
func (p *interop) term(m *bench.Daemon) {
	p.t.Helper()
	b := p.other(m)
	time.Sleep(time.Duration(rand.Int64N(int64(p.ival))))
	stopped := time.Now()
	if err := m.Term(); err != nil {
		p.t.Fatal(err)
	}
	p.waitFor(p.skew(b)+kaSlack, b.Host.Name+" takes over after SIGTERM of "+m.Host.Name, func() bool { return b.State() == "MASTER" && b.HasVIP() })
	if at, _ := b.BecameMaster(stopped); at.Sub(stopped) > p.skew(b)+kaSlack {
		p.t.Errorf("%s took over %v after SIGTERM; Skew_Time is %v", b.Host.Name, at.Sub(stopped), p.skew(b))
	}
	if code, err := m.Wait(5 * time.Second); err != nil || code != 0 {
		p.t.Errorf("%s exit after SIGTERM: code %d, %v", m.Host.Name, code, err)
	}
	if m.HasVIP() {
		p.t.Errorf("%s kept the VIP after a clean stop", m.Host.Name)
	}
}

// restart starts m again while the other node is master; with the higher priority it
// preempts.
func (p *interop) restart(m *bench.Daemon) {
	p.t.Helper()
	m.Start()
	p.settle(m, p.mdi(m)+kaSlack+time.Second)
}

// TestInteropV3 is the migration pair with VRRPv3 and 0.1 s adverts, in both directions of
// priority: election, kill -9 of the master, its return (preemption), SIGTERM of the
// master.
func TestInteropV3(t *testing.T) {
	for _, tc := range []struct {
		name            string
		hadPrio, kaPrio int
	}{
		{"hadirector-master", 150, 100},
		{"keepalived-master", 100, 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newInterop(t, 3, 100*time.Millisecond, tc.hadPrio, tc.kaPrio, nil)
			m, b := p.had, p.ka
			if tc.kaPrio > tc.hadPrio {
				m, b = p.ka, p.had
			}
			p.elect(m)
			p.kill(m)
			stable(t, 5*p.ival, b.Host.Name+" stays master alone", func() bool { return p.soleMaster(b) })
			p.restart(m)
			p.term(m)
			stable(t, 5*p.ival, b.Host.Name+" stays master alone", func() bool { return p.soleMaster(b) })
		})
	}
}

// TestInteropV3Unicast: the same pair with unicast_peer on both sides.
func TestInteropV3Unicast(t *testing.T) {
	for _, tc := range []struct {
		name            string
		hadPrio, kaPrio int
	}{
		{"hadirector-master", 150, 100},
		{"keepalived-master", 100, 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newInterop(t, 3, 100*time.Millisecond, tc.hadPrio, tc.kaPrio, unicast)
			m := p.had
			if tc.kaPrio > tc.hadPrio {
				m = p.ka
			}
			p.elect(m)
			p.kill(m)
			p.restart(m)
		})
	}
}

// TestInteropV2 runs VRRPv2 with 1 s adverts: election and kill -9 with hadirector as
// master, election and SIGTERM with keepalived as master (and PASS authentication). The
// subtests run in parallel: they mostly wait for second-scale protocol timers.
func TestInteropV2(t *testing.T) {
	t.Run("hadirector-master-kill", func(t *testing.T) {
		t.Parallel()
		p := newInterop(t, 2, time.Second, 150, 100, nil)
		p.elect(p.had)
		p.kill(p.had)
		stable(t, 2*time.Second, "keepalived stays master alone", func() bool { return p.soleMaster(p.ka) })
	})
	t.Run("keepalived-master-auth-term", func(t *testing.T) {
		t.Parallel()
		p := newInterop(t, 2, time.Second, 100, 150, func(had, ka *bench.Instance) {
			had.AuthPass, ka.AuthPass = "secret12", "secret12"
		})
		p.elect(p.ka)
		p.term(p.ka)
		stable(t, 2*time.Second, "hadirector stays master alone", func() bool { return p.soleMaster(p.had) })
	})
	t.Run("unicast", func(t *testing.T) {
		t.Parallel()
		p := newInterop(t, 2, time.Second, 150, 100, unicast)
		p.elect(p.had)
		p.term(p.had)
	})
}

// TestInteropOldUnicastChecksum covers keepalived's old_unicast_checksum (VRRPv3 unicast
// adverts checksummed as if sent to 224.0.0.18, keepalived ≤ 1.3.6) against hadirector's
// compatibility key:
//
//   - "reject" (default) drops the old form (drop reason old_unicast_checksum) and a
//     keepalived configured with old_unicast_checksum accepts only the old form, so neither
//     hears the other and both become master: a split brain, which is the expected and
//     documented consequence of pairing the default with such a peer.
//   - "accept" hears the old form but still sends the new one, which that keepalived drops
//     ("Invalid VRRPv3 checksum"): the pair works only while keepalived is the master.
//   - "send" sends and accepts the old form: it pairs with a keepalived configured with
//     old_unicast_checksum in both directions, and a default keepalived detects the old
//     form, switches itself to it ("Setting unicast VRRPv3 checksum to old version") and
//     pairs too.
func TestInteropOldUnicastChecksum(t *testing.T) {
	const ival = 100 * time.Millisecond
	withKeys := func(hadKey, kaKey string) func(had, ka *bench.Instance) {
		return func(had, ka *bench.Instance) {
			unicast(had, ka)
			had.OldUnicastChecksum, ka.OldUnicastChecksum = hadKey, kaKey
		}
	}
	t.Run("reject", func(t *testing.T) {
		p := newInterop(t, 3, ival, 100, 150, withKeys("", "send"))
		p.had.Start()
		p.ka.Start()
		both := func() bool {
			return p.had.State() == "MASTER" && p.ka.State() == "MASTER" && p.had.HasVIP() && p.ka.HasVIP()
		}
		p.waitFor(p.mdi(p.had)+kaSlack+time.Second, "both master (split brain)", both)
		stable(t, 10*ival, "both stay master", both)
		out := p.had.Output()
		if !strings.Contains(out, `"msg":"advert dropped"`) || !strings.Contains(out, `"reason":"old_unicast_checksum"`) {
			t.Errorf("hadirector did not log the old_unicast_checksum drop:\n%s", lastLines(out, 20))
		}
		if !strings.Contains(p.ka.Output(), "Invalid VRRPv3 checksum") {
			t.Errorf("keepalived did not reject hadirector's new-form adverts:\n%s", lastLines(p.ka.Output(), 20))
		}
	})
	t.Run("accept", func(t *testing.T) {
		p := newInterop(t, 3, ival, 100, 150, withKeys("accept", "send"))
		p.elect(p.ka)
		if strings.Contains(p.had.Output(), `"reason":"old_unicast_checksum"`) {
			t.Error("hadirector dropped old-form adverts with old_unicast_checksum = \"accept\"")
		}
		p.kill(p.ka)
	})
	t.Run("accept-one-way", func(t *testing.T) {
		// With hadirector as master, the old-form-only keepalived cannot hear it.
		p := newInterop(t, 3, ival, 150, 100, withKeys("accept", "send"))
		p.had.Start()
		p.ka.Start()
		both := func() bool { return p.had.State() == "MASTER" && p.ka.State() == "MASTER" }
		p.waitFor(p.mdi(p.ka)+kaSlack+time.Second, "both master: keepalived drops the new form", both)
		stable(t, 10*ival, "both stay master", both)
	})
	t.Run("send-default-peer", func(t *testing.T) {
		p := newInterop(t, 3, ival, 150, 100, withKeys("send", ""))
		p.elect(p.had)
		if !strings.Contains(p.ka.Output(), "Setting unicast VRRPv3 checksum to old version") {
			t.Errorf("keepalived did not detect the old form:\n%s", lastLines(p.ka.Output(), 20))
		}
		// keepalived now sends the old form too; hadirector must still hear it.
		p.term(p.had)
		p.restart(p.had)
	})
	t.Run("send-old-peer", func(t *testing.T) {
		p := newInterop(t, 3, ival, 150, 100, withKeys("send", "send"))
		p.elect(p.had)
		p.kill(p.had)
		p.restart(p.had)
	})
}
