package director

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hadirector/hadirector/config"
	"github.com/hadirector/hadirector/vrrp"
)

// vrrpOnly is one instance without virtual servers; %s is more of it.
const vrrpOnly = `
[global]
router_id = "t"
status_socket = ""

[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = %d
priority = 100
advert_int = "1s"
virtual_ipaddress = [%s]
`

func vrrpConfig(vrid int, vips ...string) string {
	q := make([]string, len(vips))
	for i, v := range vips {
		q[i] = strconv.Quote(v)
	}
	return fmt.Sprintf(vrrpOnly, vrid, strings.Join(q, ", "))
}

// TestReloadUnchanged: a reload with the same instance keeps it — its state, its timer and
// its VIPs — and asks nothing of the host: no call to any fake at all.
func TestReloadUnchanged(t *testing.T) {
	src := vrrpConfig(51, "192.0.2.100/24")
	h := newHarness(t, src)
	h.becomeMaster("VI_1")
	h.clock.Advance(300 * time.Millisecond) // between two adverts
	in := h.d.byName["VI_1"]
	type seen struct {
		st vrrp.State
		dl time.Time
	}
	before, _ := onLoop(t.Context(), h.d, func(time.Time) seen { return seen{in.m.State(), in.m.Deadline()} })
	m := h.log.mark()
	if err := h.reload(src + "\n# a comment\n"); err != nil {
		t.Fatal(err)
	}
	if got := h.log.since(m, true); len(got) != 0 {
		t.Errorf("an unchanged reload called the host: %q", got)
	}
	after, _ := onLoop(t.Context(), h.d, func(time.Time) seen { return seen{in.m.State(), in.m.Deadline()} })
	if h.d.byName["VI_1"] != in || after != before {
		t.Errorf("after the reload: %+v (same instance: %v), want %+v", after, h.d.byName["VI_1"] == in, before)
	}
	if h.d.reloads != 1 {
		t.Errorf("%d reloads, want 1", h.d.reloads)
	}
	// The advert timer runs on as before: the next advert is one interval after the last.
	m = h.log.mark()
	h.clock.Advance(700 * time.Millisecond)
	if n := len(matching(h.log.since(m, false), "send eth0 vrid=51 prio=100")); n != 1 {
		t.Errorf("%d adverts in the 700 ms after the reload, want 1", n)
	}
}

// TestReloadMovesChangedVIPs: a master whose VIP list changes removes the VIP that went,
// adds the new one and announces only that one: no re-election, no advert, no hook.
func TestReloadMovesChangedVIPs(t *testing.T) {
	h := newHarness(t, vrrpConfig(51, "192.0.2.100/24", "192.0.2.101/24"))
	h.becomeMaster("VI_1")
	m := h.log.mark()
	if err := h.reload(vrrpConfig(51, "192.0.2.100/24", "192.0.2.102/24")); err != nil {
		t.Fatal(err)
	}
	got := h.log.since(m, false)
	want := []string{`vip remove eth0 [192.0.2.101/24]`, `vip add eth0 [192.0.2.102/24] label=""`, `garp eth0 [192.0.2.102]`}
	if !slices.Equal(got, want) {
		t.Errorf("reload moving one VIP:\n got %q\nwant %q", got, want)
	}
	if v := h.os.vips("eth0"); !slices.Equal(v, []netip.Prefix{netip.MustParsePrefix("192.0.2.100/24"), netip.MustParsePrefix("192.0.2.102/24")}) {
		t.Errorf("VIPs on eth0 after the reload: %v", v)
	}
	if st := h.state("VI_1"); st != vrrp.Master {
		t.Errorf("state after the reload %v, want MASTER", st)
	}
	// The adverts carry the new list.
	m = h.log.mark()
	h.clock.Advance(time.Second)
	if n := len(matching(h.log.since(m, false), "send eth0 vrid=51 prio=100")); n != 1 {
		t.Errorf("%d adverts after the reload, want 1", n)
	}
}

// TestReloadIdentityChange: a new VRID is another virtual router: the old instance stops
// as on shutdown (priority 0, VIPs removed, stop hook) and the new one starts as BACKUP
// on the same socket, then becomes master.
func TestReloadIdentityChange(t *testing.T) {
	h := newHarness(t, vrrpConfig(51, "192.0.2.100/24"))
	h.becomeMaster("VI_1")
	old := h.d.byName["VI_1"]
	m := h.log.mark()
	if err := h.reload(vrrpConfig(52, "192.0.2.100/24")); err != nil {
		t.Fatal(err)
	}
	got := h.log.since(m, false)
	inOrder(t, got, "send eth0 vrid=51 prio=0", "vip remove eth0 [192.0.2.100/24]", "notify INSTANCE VI_1 STOP", "announcer close eth0")
	inOrder(t, got, "vip cleanup eth0", "announcer eth0", "notify INSTANCE VI_1 BACKUP")
	if n := len(matching(got, "listen")); n != 0 {
		t.Errorf("the socket on eth0 was opened again: %q", got)
	}
	if h.d.byName["VI_1"] == old || h.d.byName["VI_1"].cfg.VirtualRouterID != 52 {
		t.Fatal("the instance was not restarted with VRID 52")
	}
	m = h.log.mark()
	h.clock.Advance(masterDown)
	inOrder(t, h.log.since(m, false), "send eth0 vrid=52 prio=100", "vip add eth0 [192.0.2.100/24]", "notify INSTANCE VI_1 MASTER")
}

// TestReloadRefused: a configuration the director refuses (a hook that does not exist),
// or one whose new instance cannot be prepared (its socket fails), changes nothing: the
// running instance keeps its state and VIPs, and what was prepared is released.
func TestReloadRefused(t *testing.T) {
	src := vrrpConfig(51, "192.0.2.100/24")
	h := newHarness(t, src)
	h.becomeMaster("VI_1")
	in, cfg := h.d.byName["VI_1"], h.d.cfg

	m := h.log.mark()
	bad := strings.Replace(src, `priority = 100`, "priority = 100\nnotify_master = \"/nonexistent/hook\"", 1)
	if err := h.reload(bad); err == nil || !strings.Contains(err.Error(), "notify_master") {
		t.Errorf("reload with a missing hook: %v", err)
	}
	if got := h.log.since(m, true); len(got) != 0 {
		t.Errorf("a refused reload called the host: %q", got)
	}

	h.os.failOpen["eth1"] = errors.New("no socket for you")
	m = h.log.mark()
	second := src + strings.NewReplacer(`"VI_1"`, `"VI_2"`, `"eth0"`, `"eth1"`, "192.0.2.100", "198.51.100.100").Replace(vrrpOnlyInstance(52))
	if err := h.reload(second); err == nil || !strings.Contains(err.Error(), "no socket for you") {
		t.Errorf("reload whose socket fails: %v", err)
	}
	if got := h.log.since(m, false); slices.ContainsFunc(got, func(e string) bool {
		return strings.HasPrefix(e, "send") || strings.HasPrefix(e, "vip add") || strings.HasPrefix(e, "vip remove") || strings.HasPrefix(e, "notify")
	}) {
		t.Errorf("a failed reload changed the running instance: %q", got)
	}
	if h.d.byName["VI_1"] != in || h.d.cfg != cfg || len(h.d.instances) != 1 || h.d.reloads != 0 {
		t.Errorf("a failed reload changed the director: %d instances, %d reloads", len(h.d.instances), h.d.reloads)
	}
	if st := h.state("VI_1"); st != vrrp.Master {
		t.Errorf("state after failed reloads %v, want MASTER", st)
	}
}

// vrrpOnlyInstance is vrrpOnly's instance alone, for a second one.
func vrrpOnlyInstance(vrid int) string {
	_, inst, _ := strings.Cut(vrrpConfig(vrid, "192.0.2.100/24"), "[[vrrp_instance]]")
	return "\n[[vrrp_instance]]" + inst
}

// TestReloadVirtualServers: the first virtual servers a reload brings open IPVS off the
// loop and are programmed on the master at once (they were not until the next transition
// or reload); one a reload drops is deleted from the kernel (it is still ours), and the
// others stay as they are.
func TestReloadVirtualServers(t *testing.T) {
	base := vrrpConfig(51, "192.0.2.100/24")
	h := newHarness(t, base)
	h.becomeMaster("VI_1")
	vs := func(port int) string {
		return fmt.Sprintf("\n[[virtual_server]]\naddress = \"192.0.2.100:%d\"\n  [[virtual_server.real_server]]\n  address = \"192.0.2.11:%d\"\n", port, port)
	}
	m := h.log.mark()
	if err := h.reload(base + vs(80) + vs(443)); err != nil {
		t.Fatal(err)
	}
	got := h.log.since(m, false)
	inOrder(t, got, "ipvs open", "monitor set 0", "ipvs add service tcp 192.0.2.100:443", "ipvs add destination tcp 192.0.2.100:443")
	inOrder(t, got, "ipvs open", "ipvs add service tcp 192.0.2.100:80", "ipvs add destination tcp 192.0.2.100:80")
	if n := len(matching(got, "vip")) + len(matching(got, "send")); n != 0 {
		t.Errorf("adding virtual servers touched the VIPs or the election: %q", got)
	}
	m = h.log.mark()
	if err := h.reload(base + vs(80)); err != nil {
		t.Fatal(err)
	}
	if got := matching(h.log.since(m, false), "ipvs"); len(got) != 1 || got[0] != "ipvs delete service tcp 192.0.2.100:443" {
		t.Errorf("dropping a virtual server: %q, want its deletion alone", got)
	}
	if tb, _ := h.os.kernel.Fake.Services(); len(tb) != 1 {
		t.Errorf("kernel table after the reload: %v", tb)
	}
}

// TestReloadInstances: an instance a reload removes stops as on shutdown; one it adds
// starts as BACKUP on its own socket; settings that need a restart are named in the log.
func TestReloadInstances(t *testing.T) {
	base := vrrpConfig(51, "192.0.2.100/24")
	second := strings.NewReplacer(`"VI_1"`, `"VI_2"`, `"eth0"`, `"eth1"`, "192.0.2.100", "198.51.100.100").Replace(vrrpOnlyInstance(52))
	h := newHarness(t, base)
	h.becomeMaster("VI_1")
	m := h.log.mark()
	if err := h.reload(strings.Replace(base, `status_socket = ""`, `status_socket = "/run/x.sock"`, 1) + second); err != nil {
		t.Fatal(err)
	}
	got := h.log.since(m, false)
	inOrder(t, got, "vip cleanup eth1", "listen eth1", "announcer eth1", "notify INSTANCE VI_2 BACKUP")
	if n := len(matching(got, "send")) + len(matching(got, "vip add")) + len(matching(got, "vip remove")); n != 0 {
		t.Errorf("adding an instance touched the running one: %q", got)
	}
	if len(h.out.lines(`key=global.status_socket`)) != 1 {
		t.Error("the log does not say that status_socket takes effect at the next restart")
	}
	if st := h.state("VI_2"); st != vrrp.Backup {
		t.Errorf("VI_2 is %v, want BACKUP", st)
	}
	m = h.log.mark()
	if err := h.reload(strings.Replace(second, "[[vrrp_instance]]", vrrpHeader+"\n[[vrrp_instance]]", 1)); err != nil {
		t.Fatal(err)
	}
	got = h.log.since(m, false)
	inOrder(t, got, "send eth0 vrid=51 prio=0", "vip remove eth0 [192.0.2.100/24]", "notify INSTANCE VI_1 STOP", "announcer close eth0")
	inOrder(t, got, "close socket eth0")
	if _, ok := h.d.byName["VI_1"]; ok || len(h.d.instances) != 1 {
		t.Errorf("instances after removing VI_1: %v", names(h.d.instances))
	}
	// The socket of eth0 is gone with its last instance; VI_2 runs on.
	m = h.log.mark()
	h.clock.Advance(masterDown)
	inOrder(t, h.log.since(m, false), "send eth1 vrid=52 prio=100", "vip add eth1", "notify INSTANCE VI_2 MASTER")
}

// vrrpHeader is vrrpOnly's [global] section.
var vrrpHeader, _, _ = strings.Cut(vrrpOnly, "[[vrrp_instance]]")

// TestReloadTrackScript: a reload that changes a track script starts the new one; its
// result moves the priority as the old one did.
func TestReloadTrackScript(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tf")
	src := trackingConfig(file)
	h := newHarness(t, src)
	h.d.scripts[0].check = &fakeCheck{log: h.log, name: "chk"}
	h.becomeMaster("VI_1")
	chk := &fakeCheck{log: h.log, name: "chk2"}
	chk.fail.Store(true)
	h.d.scriptCheck = func(config.VRRPScript, []string) checker { return chk }
	if err := h.d.Reload(context.Background(), parse(t, strings.Replace(src, `weight = -30`, `weight = -40`, 1))); err != nil {
		t.Fatal(err)
	}
	quiesce(t)
	if ts, _ := onLoop(t.Context(), h.d, func(time.Time) *trackScript { return h.d.scripts[0] }); ts.cfg.Weight != -40 || ts.check != chk {
		t.Fatalf("script weight %d after the reload, want -40", ts.cfg.Weight)
	}
	h.clock.Advance(2 * time.Second)
	if p := h.advertPriority(); p != "60" {
		t.Errorf("priority %s with the reloaded script failing, want 60", p)
	}
}
