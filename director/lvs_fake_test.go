package director

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hadirector/hadirector/healthcheck"
	"github.com/hadirector/hadirector/lvs"
	"github.com/hadirector/hadirector/vrrp"
)

// groupConfig is VI_1 on eth0 and VI_2 on eth1 in the sync group G, whose hooks exist.
const groupConfig = `
[global]
router_id = "t"
status_socket = ""

[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
priority = 100
advert_int = "1s"
virtual_ipaddress = ["192.0.2.100/24"]

[[vrrp_instance]]
name = "VI_2"
interface = "eth1"
virtual_router_id = 52
priority = 100
advert_int = "1s"
virtual_ipaddress = ["198.51.100.100/24"]

[[vrrp_sync_group]]
name = "G"
group = ["VI_1", "VI_2"]
notify_master = "/bin/true"
notify_backup = "/bin/true"
notify_fault = "/bin/true"
`

// TestSyncGroup: the members of a sync group move together — one hearing a higher
// priority takes the other to BACKUP, one losing its link takes the other to FAULT — and
// the group's hooks run once the members agree, after the members' own hooks and so after
// their VIPs have moved (they ran before the members' VIPs were added).
func TestSyncGroup(t *testing.T) {
	h := newHarness(t, groupConfig)
	h.start()
	start := h.log.since(0, false)
	inOrder(t, start, "notify INSTANCE VI_1 BACKUP", "notify GROUP G BACKUP")
	inOrder(t, start, "notify INSTANCE VI_2 BACKUP", "notify GROUP G BACKUP")
	m := h.log.mark()
	h.clock.Advance(masterDown)
	got := h.log.since(m, false)
	for _, want := range [][]string{
		{"send eth0 vrid=51 prio=100", "vip add eth0", "notify INSTANCE VI_1 MASTER"},
		{"send eth1 vrid=52 prio=100", "vip add eth1", "notify INSTANCE VI_2 MASTER"},
		{"notify INSTANCE VI_1 MASTER", "notify GROUP G MASTER"},
		{"notify INSTANCE VI_2 MASTER", "notify GROUP G MASTER"},
	} {
		inOrder(t, got, want...)
	}

	m = h.log.mark()
	h.os.conn(t, "eth0", false).deliver(t, vrrp.Advert{VRID: 51, Priority: 200, Src: peer, Addrs: []netip.Addr{vip1.Addr()}})
	quiesce(t)
	if a, b := h.state("VI_1"), h.state("VI_2"); a != vrrp.Backup || b != vrrp.Backup {
		t.Fatalf("after VI_1 heard a higher priority: %v and %v, want both BACKUP", a, b)
	}
	got = h.log.since(m, false)
	inOrder(t, got, "vip remove eth1 [198.51.100.100/24]", "notify INSTANCE VI_2 BACKUP")
	inOrder(t, got, "vip remove eth0 [192.0.2.100/24]", "notify INSTANCE VI_1 BACKUP")
	inOrder(t, got, "notify INSTANCE VI_1 BACKUP", "notify GROUP G BACKUP")
	inOrder(t, got, "notify INSTANCE VI_2 BACKUP", "notify GROUP G BACKUP")
	if n := len(matching(got, "notify GROUP G")); n != 1 || len(matching(got, "notify GROUP G BACKUP")) != 1 {
		t.Errorf("group hooks %q, want BACKUP once", matching(got, "notify GROUP"))
	}

	m = h.log.mark()
	h.os.setLink("eth1", false)
	quiesce(t)
	if a, b := h.state("VI_1"), h.state("VI_2"); a != vrrp.Fault || b != vrrp.Fault {
		t.Errorf("after eth1 lost its link: %v and %v, want both FAULT", a, b)
	}
	inOrder(t, h.log.since(m, false), "notify GROUP G FAULT")
	s := h.status()
	if len(s.Groups) != 1 || s.Groups[0].State != "FAULT" || strings.Join(s.Groups[0].Members, ",") != "VI_1,VI_2" {
		t.Errorf("group status %+v", s.Groups)
	}
}

// checkedConfig is oneInstance with two checked real servers, one with a down hook, and
// connection sync following VI_1.
const checkedConfig = `
[global]
router_id = "t"
status_socket = ""

[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
priority = 100
advert_int = "1s"
virtual_ipaddress = ["192.0.2.100/24"]

[lvs.sync_daemon]
interface = "eth1"
instance = "VI_1"

[[virtual_server]]
address = "192.0.2.100:80"
  [virtual_server.check]
  type = "tcp"
  [[virtual_server.real_server]]
  address = "192.0.2.11:80"
  notify_down = "/bin/true"
  [[virtual_server.real_server]]
  address = "192.0.2.12:80"
`

var (
	vs80 = netip.MustParseAddrPort("192.0.2.100:80")
	rs11 = netip.MustParseAddrPort("192.0.2.11:80")
	rs12 = netip.MustParseAddrPort("192.0.2.12:80")
)

func checkID(rs netip.AddrPort) healthcheck.ID {
	return healthcheck.ID{Service: checkService(vs80, 0, "tcp"), Backend: rs}
}

// TestHealthReachesIPVS: the monitor's transitions reach the master's kernel table — a
// burst of them in one rebuild — and the real servers' hooks; a backup's table stays
// empty but its model follows, so it programs the right table when elected.
func TestHealthReachesIPVS(t *testing.T) {
	h := newHarness(t, strings.Replace(checkedConfig, "[lvs.sync_daemon]", "[lvs]\non_backup = \"withdraw\"\n\n[lvs.sync_daemon]", 1))
	h.becomeMaster("VI_1")
	mon := h.os.monitor
	m := h.log.mark()
	// Both transitions come while the loop is busy (here: running this event): one
	// rebuild of the table takes both.
	gen, _ := onLoop(t.Context(), h.d, func(time.Time) uint64 {
		mon.set(false, checkID(rs11), checkID(rs12))
		return h.d.lvs.gen
	})
	quiesce(t)
	if after, _ := onLoop(t.Context(), h.d, func(time.Time) uint64 { return h.d.lvs.gen }); after != gen+1 {
		t.Errorf("%d table generations for a burst of 2 transitions, want 1", after-gen)
	}
	got := h.log.since(m, false)
	inOrder(t, got, "notify REALSERVER 192.0.2.11:80 DOWN", "ipvs delete destination tcp 192.0.2.100:80 -> 192.0.2.11:80")
	inOrder(t, got, "notify REALSERVER 192.0.2.12:80 DOWN", "ipvs delete destination tcp 192.0.2.100:80 -> 192.0.2.12:80")
	if n := len(matching(got, "ipvs delete destination")); n != 2 {
		t.Errorf("%d destinations deleted, want 2: %q", n, got)
	}
	s := h.status()
	if s.LVS == nil || len(s.LVS.Services) != 1 || !s.LVS.Services[0].Programmed || s.LVS.Services[0].QuorumUp {
		t.Fatalf("LVS status %+v", s.LVS)
	}
	for _, rs := range s.LVS.Services[0].RealServers {
		if rs.Healthy || rs.InTable || !rs.Checked {
			t.Errorf("real server status %+v, want checked, unhealthy, out of the table", rs)
		}
	}

	m = h.log.mark()
	mon.set(true, checkID(rs12))
	quiesce(t)
	got = h.log.since(m, false)
	inOrder(t, got, "notify REALSERVER 192.0.2.12:80 UP", "ipvs add destination tcp 192.0.2.100:80 -> 192.0.2.12:80")

	// As a backup nothing is programmed, but health is still followed.
	h.os.conn(t, "eth0", false).deliver(t, vrrp.Advert{VRID: 51, Priority: 200, Src: peer, Addrs: []netip.Addr{vip1.Addr()}})
	quiesce(t)
	m = h.log.mark()
	mon.set(true, checkID(rs11))
	quiesce(t)
	if ops := matching(h.log.since(m, false), "ipvs"); len(ops) != 0 {
		t.Errorf("a backup programmed IPVS: %q", ops)
	}
	h.clock.Advance(masterDown)
	got = h.log.since(m, false)
	inOrder(t, got, "ipvs add service tcp 192.0.2.100:80", "ipvs add destination tcp 192.0.2.100:80 -> 192.0.2.11:80", "vip add")
}

// TestSyncDaemonsFollowInstance: the connection-sync daemons follow VI_1: the backup
// daemon from start-up; on becoming master the master daemon starts before the backup one
// stops (no update lost), and the reverse on leaving, where the services stay (a hot
// standby is what connection sync is for); at shutdown both stop, after the VIPs and the
// services are gone (the shutdown transition stopped them at once, racing with the VIPs'
// removal: connections of the last moments were not synced; seen under -race).
func TestSyncDaemonsFollowInstance(t *testing.T) {
	h := newHarness(t, checkedConfig)
	h.start()
	if got := matching(h.log.since(0, false), "syncd"); strings.Join(got, ",") != "syncd start backup" {
		t.Errorf("sync daemons at start-up %q, want the backup one", got)
	}
	m := h.log.mark()
	h.clock.Advance(masterDown)
	got := h.log.since(m, false)
	inOrder(t, got, "send eth0 vrid=51 prio=100", "syncd start master", "syncd stop backup")
	if s := h.status(); s.LVS == nil || s.LVS.SyncDaemon == nil || s.LVS.SyncDaemon.Role != "master" || len(s.LVS.SyncDaemon.Running) != 1 {
		t.Errorf("sync daemon status %+v", s.LVS.SyncDaemon)
	}

	m = h.log.mark()
	h.os.conn(t, "eth0", false).deliver(t, vrrp.Advert{VRID: 51, Priority: 200, Src: peer, Addrs: []netip.Addr{vip1.Addr()}})
	quiesce(t)
	got = h.log.since(m, false)
	inOrder(t, got, "vip remove eth0", "notify INSTANCE VI_1 BACKUP")
	inOrder(t, got, "syncd start backup", "syncd stop master")
	if ops := matching(got, "ipvs"); len(ops) != 0 {
		t.Errorf("the hot standby changed IPVS: %q", ops)
	}
	h.clock.Advance(masterDown)

	m = h.log.mark()
	h.shutdown()
	got = h.log.since(m, false)
	inOrder(t, got, "send eth0 vrid=51 prio=0", "vip remove eth0", "ipvs delete service tcp 192.0.2.100:80", "syncd stop", "notify drain")
	if n := len(matching(got, "syncd start")); n != 0 {
		t.Errorf("a daemon started at shutdown: %q", got)
	}
	if d, _ := h.os.kernel.sd.Daemons(); len(d) != 0 {
		t.Errorf("daemons still running after shutdown: %v", d)
	}
}

// TestDrain: draining a real server sets its weight to 0 in the master's table, and
// undraining restores it; the drain survives a reload; an unknown server is an error.
func TestDrain(t *testing.T) {
	h := newHarness(t, oneInstance)
	h.becomeMaster("VI_1")
	rs := netip.MustParseAddrPort("192.0.2.11:80")
	ctx := context.Background()
	m := h.log.mark()
	if err := h.d.Drain(ctx, vs80, rs, true); err != nil {
		t.Fatal(err)
	}
	quiesce(t)
	inOrder(t, h.log.since(m, false), "ipvs update destination tcp 192.0.2.100:80 -> 192.0.2.11:80 dr weight 0")
	st := h.status()
	if r := st.LVS.Services[0].RealServers[0]; !r.Drained || r.Weight != 0 {
		t.Errorf("drained real server status %+v", r)
	}
	m = h.log.mark()
	if err := h.reload(oneInstance + "\n"); err != nil {
		t.Fatal(err)
	}
	if ops := matching(h.log.since(m, false), "ipvs"); len(ops) != 0 {
		t.Errorf("a reload undid the drain: %q", ops)
	}
	m = h.log.mark()
	if err := h.d.Drain(ctx, vs80, rs, false); err != nil {
		t.Fatal(err)
	}
	quiesce(t)
	inOrder(t, h.log.since(m, false), "ipvs update destination tcp 192.0.2.100:80 -> 192.0.2.11:80 dr weight 1")
	if err := h.d.Drain(ctx, vs80, netip.MustParseAddrPort("192.0.2.99:80"), true); err == nil {
		t.Error("draining an unknown real server succeeded")
	}

	v := newHarness(t, vrrpConfig(51, "192.0.2.100/24"))
	v.start()
	if err := v.d.Drain(ctx, vs80, rs, true); err == nil {
		t.Error("draining without virtual servers succeeded")
	}
}

// TestIPVSRecovery: services of ours that a killed run left in the kernel are withdrawn
// before anything runs (another tool's stay); an op the kernel refuses when the node
// becomes master is retried a second later (it waited for the next reconcile, 30 s), and
// the error shows in the status until then.
func TestIPVSRecovery(t *testing.T) {
	h := newHarness(t, oneInstance)
	left := lvs.Table{}
	for _, a := range []string{"192.0.2.100:80", "203.0.113.1:80"} {
		svc := lvs.Service{Key: lvs.AddrKey(lvs.TCP, netip.MustParseAddrPort(a)), Scheduler: "wlc"}
		left[svc.Key] = &lvs.Entry{Service: svc, Destinations: map[netip.AddrPort]lvs.Destination{}}
	}
	h.os.kernel.Load(left)
	h.start()
	start := h.log.since(0, false)
	inOrder(t, start, "ipvs open", "ipvs delete service tcp 192.0.2.100:80", "listen eth0")
	if n := len(matching(start, "ipvs delete")); n != 1 {
		t.Errorf("withdrawn at start-up: %q, want ours alone", matching(start, "ipvs"))
	}

	refuse := errors.New("no memory")
	h.os.kernel.FailWith(func(op lvs.Op) error {
		if op.Kind == lvs.AddDest {
			return refuse
		}
		return nil
	})
	h.clock.Advance(masterDown)
	if s := h.status().LVS; s.Errors == 0 || !strings.Contains(s.LastError, "no memory") {
		t.Errorf("LVS status after a refused op: %+v", s)
	}
	h.os.kernel.FailWith(nil)
	m := h.log.mark()
	h.clock.Advance(time.Second)
	inOrder(t, h.log.since(m, false), "ipvs add destination tcp 192.0.2.100:80 -> 192.0.2.11:80")
	if tb, _ := h.os.kernel.Fake.Services(); len(tb[lvs.AddrKey(lvs.TCP, vs80)].Destinations) != 1 {
		t.Errorf("after the retry the kernel has %v", tb)
	}
}
