//go:build vmtest

// Tests of the real kernel's IPVS, run by `make test-vm` inside the qemu VM (see
// internal/vmtest). Each test works in network namespaces of its own (internal/lab),
// so nothing is left in the VM's root table.

package lvs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/ipvs"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/hadirector/hadirector/internal/lab"
	"github.com/hadirector/hadirector/internal/privtest"
	"github.com/hadirector/hadirector/internal/vmtest"
)

// vmKernel opens the IPVS table of a fresh namespace (a lab host, so lo is up and
// destinations count as unicast), closed and deleted when the test ends.
func vmKernel(t *testing.T, sockets int) (*IPVS, *lab.Host) {
	t.Helper()
	vmtest.Need(t)
	l := lab.New(t)
	h := l.Host("dir", "192.0.2.1/24")
	k, err := OpenIPVS(IPVSOptions{NetNS: nsPath(h), Sockets: sockets})
	if err != nil {
		t.Fatalf("OpenIPVS: %v", err)
	}
	t.Cleanup(func() { k.Close() })
	return k, h
}

func nsPath(h *lab.Host) string { return "/run/netns/" + h.NS() }

// rawHandle is a plain moby/ipvs handle on h's namespace, to act behind lvs's back.
func rawHandle(t *testing.T, h *lab.Host) *ipvs.Handle {
	t.Helper()
	r, err := ipvs.New(nsPath(h))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func mustSync(t *testing.T, k Kernel, desired Table, owned func(Service) bool) []Op {
	t.Helper()
	ops, err := Reconcile(t.Context(), k, desired, owned, ApplyOptions{Workers: 4})
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return ops
}

func mustRead(t *testing.T, k Kernel) Table {
	t.Helper()
	got, err := k.Services()
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func diffReport(want, got Table) string {
	return "want:\n" + rulesString(want) + "got:\n" + rulesString(got)
}

// mobyRead reads the whole table through moby/ipvs.
func mobyRead(h *ipvs.Handle) (Table, error) {
	svcs, err := h.GetServices()
	if err != nil {
		return nil, err
	}
	t := Table{}
	for _, s := range svcs {
		svc, err := fromMobyService(s)
		if err != nil {
			return nil, err
		}
		e := t.Add(svc)
		ds, err := h.GetDestinations(s)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			dst, err := fromMobyDest(d)
			if err != nil {
				return nil, err
			}
			e.Destinations[dst.Addr] = dst
		}
	}
	return t, nil
}

func schedulerModule(name string) bool {
	var uts unix.Utsname
	if unix.Uname(&uts) != nil {
		return false
	}
	_, err := os.Stat(filepath.Join("/lib/modules", unix.ByteSliceToString(uts.Release[:]), "kernel/net/netfilter/ipvs", "ip_vs_"+name+".ko"))
	return err == nil
}

func TestVMOpenInfoAndLogrus(t *testing.T) {
	k, _ := vmKernel(t, 1)
	info, err := k.Info()
	if err != nil || info.Version == "" || info.ConnTableSize <= 0 {
		t.Fatalf("info %+v, %v", info, err)
	}
	t.Logf("IP Virtual Server version %s (size=%d)", info.Version, info.ConnTableSize)
	if logrus.StandardLogger().Out != io.Discard {
		t.Error("moby/ipvs's logrus still writes to our output")
	}
	if !HasIPVS() {
		t.Error("HasIPVS false in the VM")
	}
}

// availableSchedulers returns the schedulers the kernel has; the others are logged.
func availableSchedulers(t *testing.T, k *IPVS) []string {
	t.Helper()
	probe := AddrKey(TCP, netip.MustParseAddrPort("192.0.2.250:1"))
	var have []string
	for _, s := range allSchedulers {
		svc := Service{Key: probe, Scheduler: s}
		err := k.Apply(Op{Kind: AddService, Service: svc})
		switch {
		case err == nil:
			have = append(have, s)
			if err := k.Apply(Op{Kind: DeleteService, Service: svc}); err != nil {
				t.Fatal(err)
			}
		case errors.Is(err, ErrNoScheduler) && !schedulerModule(s):
			t.Logf("scheduler %s skipped: the kernel has no ip_vs_%s module (%v)", s, s, err)
		default:
			t.Errorf("scheduler %s: %v", s, err)
		}
	}
	return have
}

// Every scheduler the kernel has, with its flags, every forwarding method, thresholds,
// persistence with netmasks, one-packet scheduling, IPv6, SCTP and firewall marks:
// Apply, then Services reads back exactly the desired table, and a resync is empty.
func TestVMRoundTripSchedulersAndForwarding(t *testing.T) {
	k, _ := vmKernel(t, 4)
	scheds := availableSchedulers(t, k)
	want := Table{}
	for i, s := range scheds {
		v4 := AddrKey(TCP, netip.AddrPortFrom(netip.MustParseAddr("192.0.2.100"), uint16(1000+i)))
		svc := Service{Key: v4, Scheduler: s, Flags: FlagPersistent, Timeout: time.Duration(10+i) * time.Second, Netmask: 24}
		if s == "sh" || s == "mh" {
			svc.Flags |= FlagSched1 | FlagSched2
		}
		want.Add(svc,
			Destination{Addr: netip.AddrPortFrom(netip.MustParseAddr("198.51.100.11"), uint16(1000+i)), Forwarding: ForwardDR, Weight: 1},
			Destination{Addr: netip.MustParseAddrPort("198.51.100.12:8080"), Forwarding: ForwardNAT, Weight: 0, UpperThreshold: 100, LowerThreshold: 10},
			Destination{Addr: netip.AddrPortFrom(netip.MustParseAddr("198.51.100.13"), uint16(1000+i)), Forwarding: ForwardTunnel, Weight: 65535},
		)
		v6 := AddrKey(UDP, netip.AddrPortFrom(netip.MustParseAddr("2001:db8::100"), uint16(1000+i)))
		want.Add(Service{Key: v6, Scheduler: s, Flags: FlagOnePacket | FlagPersistent, Timeout: time.Hour, Netmask: 64},
			Destination{Addr: netip.AddrPortFrom(netip.MustParseAddr("2001:db8:1::11"), uint16(1000+i)), Forwarding: ForwardDR, Weight: 2},
			Destination{Addr: netip.MustParseAddrPort("[2001:db8:1::12]:53"), Forwarding: ForwardNAT, Weight: 3},
			Destination{Addr: netip.AddrPortFrom(netip.MustParseAddr("2001:db8:1::13"), uint16(1000+i)), Forwarding: ForwardTunnel, Weight: 4},
		)
	}
	want.Add(Service{Key: AddrKey(SCTP, netip.MustParseAddrPort("192.0.2.100:3868")), Scheduler: "wlc"},
		Destination{Addr: netip.MustParseAddrPort("198.51.100.11:3868"), Weight: 1})
	want.Add(Service{Key: MarkKey(IPv4, 7), Scheduler: "rr", Flags: FlagPersistent, Timeout: 300 * time.Second},
		Destination{Addr: netip.MustParseAddrPort("198.51.100.11:0"), Weight: 1})
	want.Add(Service{Key: MarkKey(IPv6, 7), Scheduler: "wrr"},
		Destination{Addr: netip.MustParseAddrPort("[2001:db8:1::11]:443"), Forwarding: ForwardNAT, Weight: 5})

	ops := mustSync(t, k, want, keysOf(want))
	got := mustRead(t, k)
	if !got.Equal(want) {
		t.Fatalf("read back differs after %d ops\n%s", len(ops), diffReport(want, got))
	}
	if again := mustSync(t, k, want, keysOf(want)); len(again) != 0 {
		t.Fatalf("resync not empty: %v", again)
	}

	// Every attribute changes in place: one UpdateService / UpdateDest each.
	changed := want.Clone()
	for _, key := range changed.Keys() {
		e := changed[key]
		e.Service.Flags &^= FlagPersistent
		for a, d := range e.Destinations {
			d.Forwarding = (d.Forwarding + 1) % 3
			d.Weight = (d.Weight + 7) % 65536
			e.Destinations[a] = d
		}
	}
	ops = mustSync(t, k, changed, keysOf(changed))
	for _, op := range ops {
		if op.Kind != UpdateService && op.Kind != UpdateDest {
			t.Fatalf("in-place change made %v", op)
		}
	}
	if got := mustRead(t, k); !got.Equal(changed) {
		t.Fatalf("after updates\n%s", diffReport(changed, got))
	}
	for _, op := range Withdraw(changed, keysOf(changed)) {
		if err := k.Apply(op); err != nil {
			t.Fatal(err)
		}
	}
	if got := mustRead(t, k); len(got) != 0 {
		t.Fatalf("withdraw left %d services", len(got))
	}
}

// The kernel rejects a lower threshold above the upper one even when the upper one is 0
// (no limit): record what it does, since the configuration allows that combination.
func TestVMThresholdQuirk(t *testing.T) {
	k, _ := vmKernel(t, 1)
	svc := Service{Key: vip80, Scheduler: "rr"}
	if err := k.Apply(Op{Kind: AddService, Service: svc}); err != nil {
		t.Fatal(err)
	}
	err := k.Apply(Op{Kind: AddDest, Service: svc, Dest: Destination{Addr: rs11, Weight: 1, LowerThreshold: 5}})
	t.Logf("lower_threshold 5 with upper_threshold 0: %v", err)
}

func TestVMTimeouts(t *testing.T) {
	k, h := vmKernel(t, 1)
	def, err := k.Timeouts()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel default timeouts: %s", def)
	seed := Timeouts{TCP: 30 * time.Second, TCPFin: 5 * time.Second, UDP: 60 * time.Second}
	if err := k.SetTimeouts(seed); err != nil {
		t.Fatal(err)
	}
	if got, _ := k.Timeouts(); got != seed {
		t.Fatalf("timeouts %s, want %s", got, seed)
	}
	// Zero fields leave the kernel's values alone.
	if err := k.SetTimeouts(Timeouts{TCPFin: 7 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if got, want := mustTimeouts(t, k), (Timeouts{TCP: 30 * time.Second, TCPFin: 7 * time.Second, UDP: 60 * time.Second}); got != want {
		t.Fatalf("timeouts %s, want %s", got, want)
	}
	// ipvsadm agrees.
	ipvsadm := privtest.Tool(t, "ipvsadm")
	out, err := h.Run(ipvsadm, "-Ln", "--timeout")
	if err != nil || strings.TrimSpace(out) != "Timeout (tcp tcpfin udp): 30 7 60" {
		t.Fatalf("ipvsadm --timeout: %q %v", out, err)
	}
}

func mustTimeouts(t *testing.T, k Kernel) Timeouts {
	t.Helper()
	got, err := k.Timeouts()
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Random models: Diff → Apply → read back equals desired, through a series of
// mutations, with foreign services (another tool's) in the same table untouched.
func TestVMRandomModels(t *testing.T) {
	k, h := vmKernel(t, 4)
	scheds := availableSchedulers(t, k)
	o := genOptions{maxServices: 15, maxDests: 6, schedulers: scheds}
	fo := o
	fo.foreign = true
	seeds := 25
	if testing.Short() {
		seeds = 5
	}
	raw := rawHandle(t, h)
	for seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(seed), 0x7e57))
		foreign := randTable(r, fo)
		// The foreign services go in with the raw moby API, as another tool would.
		for _, key := range foreign.Keys() {
			e := foreign[key]
			ms := toMobyService(e.Service)
			if err := raw.NewService(ms); err != nil {
				t.Fatalf("seed %d: foreign %s: %v", seed, key, err)
			}
			for _, d := range e.SortedDestinations() {
				if err := raw.NewDestination(ms, toMobyDest(d)); err != nil {
					t.Fatalf("seed %d: foreign %s: %v", seed, d.Addr, err)
				}
			}
		}

		desired := randTable(r, o)
		owned := keysOf(desired)
		for step := range 4 {
			ops := mustSync(t, k, desired, owned)
			got := mustRead(t, k)
			// moby/ipvs, an independent decoder, reads the same table.
			if viaMoby, err := mobyRead(raw); err != nil || !viaMoby.Equal(got) {
				t.Fatalf("seed %d step %d: moby/ipvs reads a different table (%v)\n%s", seed, step, err, diffReport(got, viaMoby))
			}
			if !got.Filter(owned).Equal(desired) {
				t.Fatalf("seed %d step %d: after %d ops\n%s", seed, step, len(ops), diffReport(desired, got.Filter(owned)))
			}
			// owned includes the services the last mutation dropped: they must be
			// gone, not left behind looking foreign.
			if !got.Filter(func(s Service) bool { return !owned(s) }).Equal(foreign) {
				t.Fatalf("seed %d step %d: foreign services changed", seed, step)
			}
			if again := mustSync(t, k, desired, owned); len(again) != 0 {
				t.Fatalf("seed %d step %d: resync not empty: %v", seed, step, again)
			}
			next := mutate(r, desired, o)
			// Services dropped from the config stay ours until synced away.
			owned = keysOf(desired, next)
			desired = next
		}
		for _, op := range Withdraw(mustRead(t, k), owned) {
			if err := k.Apply(op); err != nil {
				t.Fatal(err)
			}
		}
		if got := mustRead(t, k); !got.Equal(foreign) {
			t.Fatalf("seed %d: after withdraw\n%s", seed, diffReport(foreign, got))
		}
		if err := raw.Flush(); err != nil {
			t.Fatal(err)
		}
	}
}

// Drift: someone deletes a destination, or flushes the table (ipvsadm -C); the next
// reconcile repairs it with exactly the missing ops.
func TestVMDriftRepaired(t *testing.T) {
	k, h := vmKernel(t, 2)
	m, err := FromSpec(seedSpec(), allUp, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustSync(t, k, m.Table, m.Owns)
	raw := rawHandle(t, h)
	ms := toMobyService(m.Table[vip80].Service)
	md := toMobyDest(m.Table[vip80].Destinations[rs12])
	if err := raw.DelDestination(ms, md); err != nil {
		t.Fatal(err)
	}
	ops := mustSync(t, k, m.Table, m.Owns)
	if len(ops) != 1 || ops[0].Kind != AddDest || ops[0].Dest.Addr != rs12 {
		t.Fatalf("repair of one deleted destination: %v", ops)
	}
	// A weight changed behind our back is put back in place.
	md.Weight = 9
	if err := raw.UpdateDestination(ms, md); err != nil {
		t.Fatal(err)
	}
	if ops := mustSync(t, k, m.Table, m.Owns); len(ops) != 1 || ops[0].Kind != UpdateDest || ops[0].OldDest.Weight != 9 {
		t.Fatalf("repair of a changed weight: %v", ops)
	}
	if err := raw.Flush(); err != nil {
		t.Fatal(err)
	}
	if ops := mustSync(t, k, m.Table, m.Owns); len(ops) != 3 {
		t.Fatalf("repair after a flush: %v", ops)
	}
	if got := mustRead(t, k); !got.Equal(m.Table) {
		t.Fatalf("not repaired\n%s", diffReport(m.Table, got))
	}
}

// A service created with the raw moby API (another tool's) survives our sync and our
// withdraw exactly as it was, destinations and all.
func TestVMForeignUntouched(t *testing.T) {
	k, h := vmKernel(t, 2)
	raw := rawHandle(t, h)
	foreign := &ipvs.Service{Address: net.ParseIP("203.0.113.5").To4(), Protocol: unix.IPPROTO_TCP, Port: 443,
		SchedName: "wlc", AddressFamily: unix.AF_INET, Netmask: 0xffffffff, Flags: uint32(FlagPersistent), Timeout: 77}
	if err := raw.NewService(foreign); err != nil {
		t.Fatal(err)
	}
	fd := &ipvs.Destination{Address: net.ParseIP("203.0.113.9").To4(), Port: 443, Weight: 3, ConnectionFlags: ipvs.ConnFwdMasq, AddressFamily: unix.AF_INET}
	if err := raw.NewDestination(foreign, fd); err != nil {
		t.Fatal(err)
	}
	snapshot := func() string {
		s, err := raw.GetService(foreign)
		if err != nil {
			t.Fatalf("foreign service gone: %v", err)
		}
		ds, err := raw.GetDestinations(foreign)
		if err != nil || len(ds) != 1 {
			t.Fatalf("foreign destinations: %v %v", ds, err)
		}
		d := ds[0]
		return fmt.Sprintf("%s %d %s flags %x timeout %d mask %x | %s:%d w%d f%x", s.Address, s.Port, s.SchedName, s.Flags, s.Timeout, s.Netmask, d.Address, d.Port, d.Weight, d.ConnectionFlags)
	}
	before := snapshot()

	m, err := FromSpec(seedSpec(), allUp, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustSync(t, k, m.Table, m.Owns)
	ls, err := k.ListServices()
	if err != nil {
		t.Fatal(err)
	}
	if err := ApplyOps(t.Context(), k, Withdraw(ls, m.Owns), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	mustSync(t, k, m.Table, m.Owns)
	if after := snapshot(); after != before {
		t.Fatalf("foreign service changed:\n%s\n%s", before, after)
	}
	got := mustRead(t, k)
	if len(got) != 2 || !got.Filter(m.Owns).Equal(m.Table) {
		t.Fatalf("table\n%s", rulesString(got))
	}
}

// Format prints exactly what ipvsadm -Ln (and --stats) prints for the same table,
// and WriteRules what ipvsadm -Sn saves.
func TestVMFormatMatchesIpvsadm(t *testing.T) {
	k, h := vmKernel(t, 2)
	ipvsadm := privtest.Tool(t, "ipvsadm")
	tab, _ := formatTable()
	mustSync(t, k, tab, keysOf(tab))
	info, err := k.Info()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		opts FormatOptions
	}{
		{[]string{"-Ln"}, FormatOptions{Info: info}},
		{[]string{"-Ln", "--stats"}, FormatOptions{Info: info, Stats: true}},
		{[]string{"-Ln", "--stats", "--exact"}, FormatOptions{Info: info, Stats: true, Exact: true}},
	} {
		got, st, err := k.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := Format(&b, got, st, tc.opts); err != nil {
			t.Fatal(err)
		}
		want := h.MustRun(t, append([]string{ipvsadm}, tc.args...)...)
		if b.String() != want {
			t.Errorf("ipvsadm %s:\n%s\nFormat:\n%s", strings.Join(tc.args, " "), want, b.String())
		}
	}
	saved := h.MustRun(t, ipvsadm, "-Sn")
	var b strings.Builder
	_ = WriteRules(&b, tab, Timeouts{})
	if b.String() != saved {
		t.Errorf("ipvsadm -Sn:\n%s\nWriteRules:\n%s", saved, b.String())
	}
	back, _, err := ParseRules(strings.NewReader(saved))
	if err != nil {
		t.Fatalf("ParseRules(ipvsadm -Sn): %v", err)
	}
	if !back.Equal(tab) {
		t.Errorf("ipvsadm -Sn parsed back differs\n%s", diffReport(tab, back))
	}
}

// realServer starts a tiny HTTP server in h's namespace, on the VIP, that answers with
// the host's name.
func realServer(t *testing.T, h *lab.Host, vip netip.AddrPort) {
	t.Helper()
	for _, kv := range [][2]string{
		{"net.ipv4.conf.all.arp_ignore", "1"}, {"net.ipv4.conf.all.arp_announce", "2"},
		{"net.ipv4.conf.lo.arp_ignore", "1"}, {"net.ipv4.conf.lo.arp_announce", "2"},
	} {
		if err := h.SetSysctl(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	h.MustRun(t, "ip", "addr", "add", vip.Addr().String()+"/32", "dev", "lo")
	var ln net.Listener
	if err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp", vip.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, h.Name)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
}

// get makes one HTTP request from the client's namespace to the VIP on a new
// connection and returns the body (the real server's name).
func get(t *testing.T, client *lab.Host, vip netip.AddrPort) string {
	t.Helper()
	var c net.Conn
	if err := client.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", vip.String(), 10*time.Second)
		return err
	}); err != nil {
		t.Fatalf("client -> %s: %v", vip, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", vip.Addr()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("response from %s: %v", vip, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("response %d %q %v", resp.StatusCode, body, err)
	}
	return strings.TrimSpace(string(body))
}

// The real DR datapath: client, director, two real servers with the VIP on lo. The
// director's table comes from a spec through FromSpec and Reconcile; new
// connections are spread round robin, and after one real server goes down (one op)
// they all go to the other. Then persistence (one in-place op) pins the client.
func TestVMDRDatapath(t *testing.T) {
	vmtest.Need(t)
	l := lab.New(t)
	client := l.Host("client", "192.0.2.10/24")
	dir := l.Host("dir", "192.0.2.1/24")
	rs1, rs2 := l.Host("rs1", "192.0.2.11/24"), l.Host("rs2", "192.0.2.12/24")
	vip := netip.MustParseAddrPort("192.0.2.100:80")
	dir.MustRun(t, "ip", "addr", "add", vip.Addr().String()+"/32", "dev", "eth0")
	realServer(t, rs1, vip)
	realServer(t, rs2, vip)

	spec := &Spec{
		Timeouts: Timeouts{TCP: 30 * time.Second, TCPFin: 5 * time.Second, UDP: 60 * time.Second},
		Services: []ServiceSpec{{
			Address: vip, Protocol: "tcp", Scheduler: "rr", Forwarding: "dr", Quorum: 1,
			RealServers: []RealServerSpec{
				{Address: netip.MustParseAddrPort("192.0.2.11:80"), Forwarding: "dr", Weight: 1, Checked: true},
				{Address: netip.MustParseAddrPort("192.0.2.12:80"), Forwarding: "dr", Weight: 1, Checked: true},
			},
		}},
	}
	k, err := OpenIPVS(IPVSOptions{NetNS: nsPath(dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()

	// The director's sysctls, applied in its namespace.
	want, err := SysctlsFor(spec, SysctlPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	var changed []SysctlChange
	if err := dir.Do(func() (err error) { changed, err = ApplySysctls("", want); return err }); err != nil {
		t.Fatal(err)
	}
	t.Logf("sysctls changed: %+v", changed)

	up := map[netip.AddrPort]bool{rip(rs1): true, rip(rs2): true}
	healthy := func(_ *ServiceSpec, rs *RealServerSpec) bool { return up[rs.Address] }
	m, err := FromSpec(spec, healthy, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.SetTimeouts(m.Timeouts); err != nil {
		t.Fatal(err)
	}
	mustSync(t, k, m.Table, m.Owns)

	const n = 10
	seen := map[string]int{}
	var order []string
	for range n {
		name := get(t, client, vip)
		seen[name]++
		order = append(order, name)
	}
	if seen["rs1"] != n/2 || seen["rs2"] != n/2 {
		t.Fatalf("answers %v (%v), want %d each (round robin)", seen, order, n/2)
	}
	for i := 1; i < len(order); i++ {
		if order[i] == order[i-1] {
			t.Fatalf("not alternating: %v", order)
		}
	}

	up[rip(rs2)] = false
	m2, err := FromSpec(spec, healthy, m.Quorum)
	if err != nil {
		t.Fatal(err)
	}
	ops := mustSync(t, k, m2.Table, m2.Owns)
	if len(ops) != 1 || ops[0].Kind != DeleteDest {
		t.Fatalf("rs2 down: ops %v", ops)
	}
	for range n {
		if name := get(t, client, vip); name != "rs1" {
			t.Fatalf("after rs2 was removed a new connection went to %s", name)
		}
	}

	// Both up again, and persistent: one UpdateService, then every connection of
	// the client goes to the same real server.
	up[rip(rs2)] = true
	spec.Services[0].PersistenceTimeout = 300 * time.Second
	m3, err := FromSpec(spec, healthy, m2.Quorum)
	if err != nil {
		t.Fatal(err)
	}
	ops = mustSync(t, k, m3.Table, m3.Owns)
	if !slices.Equal(opKinds(ops), []OpKind{UpdateService, AddDest}) {
		t.Fatalf("persistence + rs2 back: ops %v", ops)
	}
	first := get(t, client, vip)
	for range n {
		if name := get(t, client, vip); name != first {
			t.Fatalf("persistent service: %s then %s", first, name)
		}
	}

	// The counters: 3n connections, visible once the kernel's estimator has run
	// (about every 2 s).
	var tab Table
	var st Stats
	for deadline := time.Now().Add(8 * time.Second); ; {
		if tab, st, err = k.Snapshot(); err != nil {
			t.Fatal(err)
		}
		if c := st[AddrKey(TCP, vip)].Conns; c >= 3*n+1 || time.Now().After(deadline) {
			if c != 3*n+1 {
				t.Errorf("service counted %d connections, want %d", c, 3*n+1)
			}
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	info, _ := k.Info()
	var b strings.Builder
	_ = Format(&b, tab, st, FormatOptions{Info: info, Stats: true})
	t.Logf("director table:\n%s", b.String())
}

// rip is the real server h as the configuration names it.
func rip(h *lab.Host) netip.AddrPort { return netip.AddrPortFrom(h.Addr(), 80) }
