package director

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hadirector/hadirector/bgp"
	"github.com/hadirector/hadirector/healthcheck"
	"github.com/hadirector/hadirector/vrrp"
)

// fakeSpeaker records the speaker calls in the harness's call log.
type fakeSpeaker struct {
	log  *callLog
	mu   sync.Mutex
	spec bgp.Spec
}

func (f *fakeSpeaker) StartSpeaker(s bgp.Spec, _ *slog.Logger) (BGPSpeaker, error) {
	f.mu.Lock()
	f.spec = s
	f.mu.Unlock()
	f.log.add("bgp start asn=%d router_id=%s peers=%d", s.ASN, s.RouterID, len(s.Peers))
	return f, nil
}

func (f *fakeSpeaker) Announce(r bgp.Route) error {
	f.log.add("bgp announce %s graceful=%v communities=%x med=%d", r.Prefix, r.Graceful, r.Communities, r.MED)
	return nil
}

func (f *fakeSpeaker) Withdraw(p netip.Prefix) error {
	f.log.add("bgp withdraw %s", p)
	return nil
}

func (f *fakeSpeaker) Peers() []bgp.PeerStatus {
	return []bgp.PeerStatus{{Address: netip.MustParseAddr("192.0.2.254"), ASN: 64512, State: "established", Up: true}}
}

func (f *fakeSpeaker) Counters() bgp.Counters { return bgp.Counters{} }

func (f *fakeSpeaker) Stop() error {
	f.log.add("bgp stop")
	return nil
}

func newBGPHarness(t *testing.T, src string) *harness {
	t.Helper()
	h := &harness{t: t, os: newFakeOS(), clock: newFakeClock(t), out: &syncBuffer{}}
	h.log = h.os.log
	o := h.os.options(h.clock)
	o.BGP = &fakeSpeaker{log: h.log}
	o.Config, o.ConfigPath, o.StateDir = parse(t, src), "test.toml", t.TempDir()
	o.Log = slog.New(slog.NewTextHandler(h.out, nil))
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	h.os.mu.Lock()
	h.os.addrs["lo"] = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	h.os.mu.Unlock()
	return h
}

// bgpCalls are the speaker and address calls since mark.
func (h *harness) bgpCalls(mark int) []string {
	var out []string
	for _, c := range h.log.since(mark, false) {
		if strings.HasPrefix(c, "bgp ") || strings.HasPrefix(c, "notify BGP ") || strings.HasPrefix(c, "vip ") && !strings.HasPrefix(c, "vip close") {
			out = append(out, c)
		}
	}
	return out
}

func wantCalls(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

const ecmpConfig = `
[global]
router_id = "t"
status_socket = ""

[[vrrp_track_file]]
name = "maint"
file = %q
weight = 0

[bgp]
asn = 64513
router_id = "192.0.2.1"
graceful_shutdown_wait = "2s"

[[bgp.peer]]
address = "192.0.2.254"
asn = 64512

[[bgp.vip]]
prefix = "203.0.113.10/32"
track_file = ["maint"]
communities = ["64513:100"]
med = 7
rise = 3
`

// TestBGPECMP: the director adds the VIP to lo, announces it on the first round, withdraws
// it when its track file goes bad, holds it back for rise rounds, and on SIGTERM leaves
// gracefully (announcement, wait, withdrawal, Cease) before removing the address.
func TestBGPECMP(t *testing.T) {
	file := filepath.Join(t.TempDir(), "maint")
	h := newBGPHarness(t, fmt.Sprintf(ecmpConfig, file))
	m := h.log.mark()
	h.start()
	wantCalls(t, "start", h.bgpCalls(m),
		"bgp start asn=64513 router_id=192.0.2.1 peers=1",
		"vip add lo [203.0.113.10/32] label=\"\"")
	m = h.log.mark()
	h.clock.Advance(bgpRound)
	announce := "bgp announce 203.0.113.10/32 graceful=false communities=[fc010064] med=7"
	wantCalls(t, "first round", h.bgpCalls(m), announce, "notify BGP 203.0.113.10/32 ANNOUNCE")
	if s := h.status().BGP; s == nil || len(s.VIPs) != 1 || !s.VIPs[0].Announced || len(s.Peers) != 1 || !s.Peers[0].Up {
		t.Fatalf("status: %+v", s)
	}
	metrics := gatherMetrics(t, h.d)
	for k, want := range map[string]float64{
		`hadirector_bgp_peer_up{peer="192.0.2.254"}`:             1,
		`hadirector_bgp_vip_announced{prefix="203.0.113.10/32"}`: 1,
	} {
		if v, ok := metrics[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}

	m = h.log.mark()
	if err := os.WriteFile(file, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(trackFilePoll) // withdrawn within one poll of the file
	wantCalls(t, "track file bad", h.bgpCalls(m), "bgp withdraw 203.0.113.10/32", "notify BGP 203.0.113.10/32 WITHDRAW")
	if v := h.status().BGP.VIPs[0]; v.Announced || v.Reason != bgp.ReasonTracker {
		t.Errorf("status after the fault: %+v", v)
	}

	m = h.log.mark()
	if err := os.WriteFile(file, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The file is read and the rounds run every 500 ms: the VIP is back on the third
	// round that sees the file good, which is the third or fourth after the write.
	h.clock.Advance(2 * bgpRound)
	wantCalls(t, "rounds 1 and 2 of rise", h.bgpCalls(m))
	if v := h.status().BGP.VIPs[0]; v.Reason != bgp.ReasonRising {
		t.Errorf("reason while rising: %q", v.Reason)
	}
	h.clock.Advance(2 * bgpRound)
	wantCalls(t, "round 3", h.bgpCalls(m), announce, "notify BGP 203.0.113.10/32 ANNOUNCE")

	m = h.log.mark()
	h.bgpShutdown(func() {
		// The graceful announcement stands for graceful_shutdown_wait on the director's clock.
		wantCalls(t, "leaving", h.bgpCalls(m), "bgp announce 203.0.113.10/32 graceful=true communities=[fc010064] med=7")
	})
	wantCalls(t, "stop", h.bgpCalls(m),
		"bgp announce 203.0.113.10/32 graceful=true communities=[fc010064] med=7",
		"bgp withdraw 203.0.113.10/32",
		"notify BGP 203.0.113.10/32 WITHDRAW",
		"bgp stop",
		"vip remove lo [203.0.113.10/32]")
}

// TestBGPDrain: drain leaves like a stop but keeps running; undrain brings the VIP back
// after rise rounds.
func TestBGPDrain(t *testing.T) {
	file := filepath.Join(t.TempDir(), "maint")
	src := strings.Replace(fmt.Sprintf(ecmpConfig, file), `graceful_shutdown_wait = "2s"`, `graceful_shutdown_wait = "1s"`, 1)
	h := newBGPHarness(t, src)
	h.start()
	h.clock.Advance(bgpRound)
	m := h.log.mark()
	if err := h.d.DrainBGP(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	quiesce(t)
	h.clock.Advance(time.Second + bgpRound)
	wantCalls(t, "drain", h.bgpCalls(m),
		"bgp announce 203.0.113.10/32 graceful=true communities=[fc010064] med=7",
		"bgp withdraw 203.0.113.10/32",
		"notify BGP 203.0.113.10/32 WITHDRAW")
	if s := h.status().BGP; !s.Drained || s.VIPs[0].Announced || s.VIPs[0].Reason != bgp.ReasonLeft {
		t.Errorf("drained status: %+v", s)
	}
	h.clock.Advance(5 * bgpRound)
	wantCalls(t, "stays drained", h.bgpCalls(m)[3:])
	m = h.log.mark()
	if err := h.d.DrainBGP(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(3 * bgpRound)
	wantCalls(t, "undrain", h.bgpCalls(m), "bgp announce 203.0.113.10/32 graceful=false communities=[fc010064] med=7", "notify BGP 203.0.113.10/32 ANNOUNCE")
	h.bgpShutdown(func() {})
}

// bgpShutdown stops the director as SIGTERM does; during is called once the graceful
// leave has begun, and the clock then runs until Run returns.
func (h *harness) bgpShutdown(during func()) {
	h.t.Helper()
	m := h.log.mark()
	done := make(chan struct{})
	go func() { h.shutdown(); close(done) }()
	for len(h.bgpCalls(m)) == 0 {
		quiesce(h.t)
	}
	during()
	for {
		select {
		case <-done:
			return
		default:
			h.clock.Advance(bgpRound)
		}
	}
}

const masterConfig = `
[global]
router_id = "t"
status_socket = ""

[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
priority = 100
advert_int = "1s"
virtual_ipaddress = ["203.0.113.10/32"]

[bgp]
asn = 64513
router_id = "192.0.2.1"
graceful_shutdown = false

[[bgp.peer]]
address = "192.0.2.254"
asn = 64512

[[bgp.vip]]
prefix = "203.0.113.10/32"
mode = "master"
instance = "VI_1"
`

// TestBGPMasterMode: the VIP is announced after the master adds it, and withdrawn
// before it is removed when the instance yields to a higher priority.
func TestBGPMasterMode(t *testing.T) {
	h := newBGPHarness(t, masterConfig)
	h.start()
	m := h.log.mark()
	h.clock.Advance(2 * time.Second)
	wantCalls(t, "backup", h.bgpCalls(m))
	h.clock.Advance(2 * time.Second) // master down interval: 3.6 s
	calls := h.bgpCalls(m)
	iAdd := slices.Index(calls, `vip add eth0 [203.0.113.10/32] label=""`)
	iAnn := slices.Index(calls, "bgp announce 203.0.113.10/32 graceful=false communities=[] med=0")
	if iAdd < 0 || iAnn < iAdd {
		t.Fatalf("becoming master: %q", calls)
	}
	m = h.log.mark()
	conn := h.os.conn(t, "eth0", false)
	conn.deliver(t, vrrp.Advert{Version: 3, VRID: 51, Priority: 200, Interval: time.Second, Src: netip.MustParseAddr("192.0.2.2"), Addrs: []netip.Addr{netip.MustParseAddr("203.0.113.10")}})
	h.clock.Advance(bgpRound)
	wantCalls(t, "yielding", h.bgpCalls(m), "bgp withdraw 203.0.113.10/32", "notify BGP 203.0.113.10/32 WITHDRAW", "vip remove eth0 [203.0.113.10/32]")
}

const ecmpServiceConfig = `
[global]
router_id = "t"
status_socket = ""

[lvs]
sysctl_sloppy_tcp = "on"

[[virtual_server]]
address = "203.0.113.10:80"
scheduler = "mh"
scheduler_flags = ["mh-fallback", "mh-port"]
inhibit_on_failure = true
  [virtual_server.check]
  type = "tcp"
  [[virtual_server.real_server]]
  address = "198.51.100.11:80"

[bgp]
asn = 64513
router_id = "192.0.2.1"
graceful_shutdown = false

[[bgp.peer]]
address = "192.0.2.254"
asn = 64512

[[bgp.vip]]
prefix = "203.0.113.10/32"
rise = 2
`

// TestBGPQuorum: the VIP of a virtual server is withdrawn as soon as the service loses
// quorum (on the health transition, not at the next round) and announced again once it has
// held quorum for rise rounds.
func TestBGPQuorum(t *testing.T) {
	h := newBGPHarness(t, ecmpServiceConfig)
	h.start()
	m := h.log.mark()
	h.clock.Advance(bgpRound)
	wantCalls(t, "ready", h.bgpCalls(m), "bgp announce 203.0.113.10/32 graceful=false communities=[] med=0", "notify BGP 203.0.113.10/32 ANNOUNCE")
	id := healthcheck.ID{Service: "203.0.113.10:80/tcp", Backend: netip.MustParseAddrPort("198.51.100.11:80")}
	m = h.log.mark()
	h.os.monitor.set(false, id)
	quiesce(t) // at once: no round needed
	wantCalls(t, "quorum lost", h.bgpCalls(m), "bgp withdraw 203.0.113.10/32", "notify BGP 203.0.113.10/32 WITHDRAW")
	if v := h.status().BGP.VIPs[0]; v.Reason != bgp.ReasonNotProgrammed {
		t.Errorf("reason %q", v.Reason)
	}
	m = h.log.mark()
	h.os.monitor.set(true, id)
	h.clock.Advance(bgpRound)
	wantCalls(t, "rise 1", h.bgpCalls(m))
	h.clock.Advance(bgpRound)
	wantCalls(t, "rise 2", h.bgpCalls(m), "bgp announce 203.0.113.10/32 graceful=false communities=[] med=0", "notify BGP 203.0.113.10/32 ANNOUNCE")
}

// TestBGPSpec: every key of [bgp] and [[bgp.peer]] reaches the speaker; router_id falls
// back to the host's address.
func TestBGPSpec(t *testing.T) {
	cfg := parse(t, `
[bgp]
asn = 64513
hold_time = "9s"
keepalive = "3s"

[[bgp.peer]]
address = "2001:db8::1"
asn = 64512
password = "s3cret"
bfd = true
bfd_interval = "100ms"
bfd_multiplier = 5

[[bgp.peer]]
address = "192.0.2.254"
asn = 4200000000
multihop = 4

[[bgp.vip]]
prefix = "203.0.113.10/32"
`)
	got := bgpSpec(cfg.BGP, netip.MustParseAddr("192.0.2.7"))
	want := bgp.Spec{ASN: 64513, RouterID: netip.MustParseAddr("192.0.2.7"), HoldTime: 9 * time.Second, Keepalive: 3 * time.Second,
		Peers: []bgp.PeerSpec{
			{Address: netip.MustParseAddr("2001:db8::1"), ASN: 64512, Password: "s3cret", BFD: true, BFDInterval: 100 * time.Millisecond, BFDMultiplier: 5},
			{Address: netip.MustParseAddr("192.0.2.254"), ASN: 4200000000, BFDInterval: 300 * time.Millisecond, BFDMultiplier: 3, Multihop: 4},
		}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("bgpSpec:\n got %+v\nwant %+v", got, want)
	}
	cfg.BGP.RouterID = netip.MustParseAddr("192.0.2.1")
	if got := bgpSpec(cfg.BGP, netip.MustParseAddr("192.0.2.7")); got.RouterID != cfg.BGP.RouterID {
		t.Errorf("router_id %v not taken", got.RouterID)
	}
}
