package config

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"math"
	"math/bits"
	"net"
	"net/netip"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hadirector/hadirector/internal/kaformat"
)

type validator struct {
	cfg  *Config
	r    *report
	seen map[string]bool

	// What must be unique across elements, mapped to the indexed path of the key that
	// claimed it first.
	scriptNames, fileNames, instanceNames, groupNames map[string]string
	vrids                                             map[vrKey]string
	vips                                              map[netip.Addr]string // address → the instance's element
	vmacs                                             map[string]string     // vmac name → the instance's key
	members                                           map[string]string     // instance name → its first group entry
	services                                          map[vsKey]string

	// A Checker's undo lists, per element path, how to take back the element's claims;
	// elem is the element being checked. Parse never takes a claim back (nil).
	undo map[string][]func()
	elem string
}

type vrKey struct {
	ifname string
	vrid   int
	family int
}

type vsKey struct {
	proto string
	addr  netip.AddrPort
	mark  int
}

func newValidator(cfg *Config, r *report, seen map[string]bool) *validator {
	return &validator{cfg: cfg, r: r, seen: seen,
		scriptNames: map[string]string{}, fileNames: map[string]string{}, instanceNames: map[string]string{}, groupNames: map[string]string{},
		vrids: map[vrKey]string{}, vips: map[netip.Addr]string{}, vmacs: map[string]string{}, members: map[string]string{},
		services: map[vsKey]string{},
	}
}

func validate(cfg *Config, r *report, seen map[string]bool) {
	v := newValidator(cfg, r, seen)
	v.global()
	for i := range cfg.Scripts {
		v.script(i)
	}
	for i := range cfg.TrackFiles {
		v.trackFile(i)
	}
	for i := range cfg.Instances {
		v.instance(i)
	}
	for i := range cfg.SyncGroups {
		v.syncGroup(i)
	}
	v.lvs()
	for i := range cfg.VirtualServers {
		v.virtualServer(i)
	}
	v.bgp()
}

// claim records that the key at path is the first to hold k.
func claim[K comparable](v *validator, m map[K]string, k K, path string) {
	m[k] = path
	if v.undo != nil {
		v.undo[v.elem] = append(v.undo[v.elem], func() { delete(m, k) })
	}
}

// forget takes back the claims of the element at path, so that it can be checked again
// or left out (Checker).
func (v *validator) forget(path string) {
	for _, undo := range v.undo[path] {
		undo()
	}
	delete(v.undo, path)
}

func oneOf(s string, allowed ...string) bool { return slices.Contains(allowed, s) }

func (v *validator) hook(path, cmd string) {
	if msg, ok := checkCommand(cmd); !ok {
		v.r.add(path, "%s", msg)
	}
}

func (v *validator) intRange(path string, n, lo, hi int) {
	if n < lo || n > hi {
		v.r.add(path, "%d is out of range %d..%d", n, lo, hi)
	}
}

func (v *validator) positive(path string, d Duration) {
	if d <= 0 {
		v.r.add(path, "must be greater than 0s")
	}
}

// unique reports name at path if it was already used by an earlier element,
// pointing at the first use.
func (v *validator) unique(first map[string]string, name, path string) {
	if prev, ok := first[name]; ok {
		v.r.add(path, "%q is already used at %s", name, v.r.place(prev))
		return
	}
	claim(v, first, name, path)
}

func (v *validator) global() {
	g := v.cfg.Global
	at := func(k string) string { return join("global", k) }
	if g.StatusSocket != "" {
		if !filepath.IsAbs(g.StatusSocket) {
			v.r.add(at("status_socket"), "%q must be an absolute path", g.StatusSocket)
		} else if len(g.StatusSocket) > 107 {
			// sun_path is 108 bytes including the terminating NUL.
			v.r.add(at("status_socket"), "path is %d bytes long; a unix socket path can have at most 107", len(g.StatusSocket))
		}
	}
	if g.MetricsListen != "" {
		if _, port, err := net.SplitHostPort(g.MetricsListen); err != nil {
			v.r.add(at("metrics_listen"), `%q is not host:port, such as "127.0.0.1:9650"`, g.MetricsListen)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			v.r.add(at("metrics_listen"), "%q has an invalid port", g.MetricsListen)
		}
	}
	if !oneOf(g.LogLevel, "debug", "info", "warn", "error") {
		v.r.add(at("log_level"), "%q is not one of debug, info, warn, error", g.LogLevel)
	}
	if !oneOf(g.LogFormat, "text", "json") {
		v.r.add(at("log_format"), "%q is not one of text, json", g.LogFormat)
	}
	v.positive(at("notify_timeout"), g.NotifyTimeout)
	if g.NotifyFIFO != "" && !filepath.IsAbs(g.NotifyFIFO) {
		v.r.add(at("notify_fifo"), "%q must be an absolute path", g.NotifyFIFO)
	}
	if g.ScriptUser == "" {
		v.r.add(at("script_user"), "must not be empty")
	}
	v.intRange(at("realtime_priority"), g.RealtimePriority, 0, 99)
	v.garpRepeat(at("garp_master_repeat"), g.GARPMasterRepeat)
}

func (v *validator) garpRepeat(path string, n int) {
	if n < 1 {
		v.r.add(path, "must be at least 1: the gratuitous ARPs are what move traffic to a new master")
	}
}

func (v *validator) script(i int) {
	s := v.cfg.Scripts[i]
	p := index("vrrp_script", i)
	at := func(k string) string { return join(p, k) }
	if s.Name == "" {
		v.r.add(at("name"), "is required")
	} else {
		v.unique(v.scriptNames, s.Name, at("name"))
	}
	if s.Script == "" {
		v.r.add(at("script"), "is required")
	} else {
		v.hook(at("script"), s.Script)
	}
	v.positive(at("interval"), s.Interval)
	v.positive(at("timeout"), s.Timeout)
	v.intRange(at("weight"), s.Weight, -253, 253)
	v.atLeast1(at("rise"), s.Rise)
	v.atLeast1(at("fall"), s.Fall)
}

// tracks checks the track_interface, track_script and track_file of the instance or sync
// group at path p.
func (v *validator) tracks(p string, ifs []TrackInterface, scripts, files []TrackRef) {
	at := func(k string) string { return join(p, k) }
	tracked := map[string]string{}
	for j, t := range ifs {
		tp := index(at("track_interface"), j)
		if t.Name == "" {
			v.r.add(join(tp, "name"), "is required")
		} else if msg := validInterface(t.Name); msg != "" {
			v.r.add(join(tp, "name"), "%s", msg)
		} else {
			v.unique(tracked, t.Name, join(tp, "name"))
		}
		v.intRange(join(tp, "weight"), t.Weight, -253, 253)
	}
	trackedFiles := map[string]string{}
	for j, f := range files {
		fp := index(at("track_file"), j)
		v.trackWeight(fp, f, 254) // as a [[vrrp_track_file]]'s own weight
		if !slices.ContainsFunc(v.cfg.TrackFiles, func(t TrackFile) bool { return t.Name == f.Name }) {
			v.r.add(fp, "no [[vrrp_track_file]] is named %q", f.Name)
			continue
		}
		v.unique(trackedFiles, f.Name, fp)
	}
	trackedScripts := map[string]string{}
	for j, s := range scripts {
		sp := index(at("track_script"), j)
		v.trackWeight(sp, s, 253)
		if !slices.ContainsFunc(v.cfg.Scripts, func(vs VRRPScript) bool { return vs.Name == s.Name }) {
			v.r.add(sp, "no [[vrrp_script]] is named %q", s.Name)
			continue
		}
		v.unique(trackedScripts, s.Name, sp)
	}
}

// trackWeight checks the instance's own weight on a track_script or track_file element.
func (v *validator) trackWeight(path string, r TrackRef, limit int) {
	if r.Weight != nil {
		v.intRange(join(path, "weight"), *r.Weight, -limit, limit)
	}
}

func (v *validator) trackFile(i int) {
	f := v.cfg.TrackFiles[i]
	p := index("vrrp_track_file", i)
	at := func(k string) string { return join(p, k) }
	if f.Name == "" {
		v.r.add(at("name"), "is required")
	} else {
		v.unique(v.fileNames, f.Name, at("name"))
	}
	if !filepath.IsAbs(f.File) {
		v.r.add(at("file"), "%q: an absolute path is required", f.File)
	}
	v.intRange(at("weight"), f.Weight, -254, 254)
}

func (v *validator) atLeast1(path string, n int) {
	if n < 1 {
		v.r.add(path, "must be at least 1")
	}
}

// vmac checks vmac_name and that the instance's vmac (named or default) is no earlier
// instance's vmac nor the interface of an instance up to this one (a later instance
// whose interface it is is told so by instance).
func (v *validator) vmac(i int, in *Instance, fam int) {
	at := func(k string) string { return join(index("vrrp_instance", i), k) }
	if in.VMACName != "" {
		if !in.UseVMAC {
			v.r.add(at("vmac_name"), "needs use_vmac = true")
			return
		}
		if msg := validInterface(in.VMACName); msg != "" {
			v.r.add(at("vmac_name"), "%s", msg)
			return
		}
	}
	if !in.UseVMAC || in.Interface == "" || fam == 0 || !v.seen[at("virtual_router_id")] {
		return
	}
	name, key := in.VMAC(), at("vmac_name")
	what := "vmac_name"
	if in.VMACName == "" {
		key, what = at("use_vmac"), fmt.Sprintf("the default vmac name %q", name)
	}
	for j := range v.cfg.Instances[:i+1] {
		if o := v.cfg.Instances[j].Interface; o == name {
			v.r.add(key, "%s is the interface of the instance at %s: a vmac needs a name of its own", what, v.r.place(index("vrrp_instance", j)))
			return
		}
	}
	if prev, ok := v.vmacs[name]; ok {
		v.r.add(key, "%s is also the vmac of the instance at %s: each instance needs its own (set vmac_name)", what, v.r.place(parent(prev)))
		return
	}
	claim(v, v.vmacs, name, key)
}

// validInterface reports what is wrong with a Linux interface name.
func validInterface(name string) string {
	switch {
	case len(name) > 15:
		return fmt.Sprintf("%q is longer than 15 bytes, the kernel's limit for interface names", name)
	case name == "." || name == "..":
		return fmt.Sprintf("%q is not a valid interface name", name)
	case strings.ContainsAny(name, "/: \t\n\x00"):
		return fmt.Sprintf("%q is not a valid interface name", name)
	}
	return ""
}

func (v *validator) instance(i int) {
	in := &v.cfg.Instances[i]
	p := index("vrrp_instance", i)
	at := func(k string) string { return join(p, k) }

	if in.Name == "" {
		v.r.add(at("name"), "is required")
	} else {
		v.unique(v.instanceNames, in.Name, at("name"))
	}
	if in.Interface == "" {
		v.r.add(at("interface"), "is required")
	} else if msg := validInterface(in.Interface); msg != "" {
		v.r.add(at("interface"), "%s", msg)
	} else if prev, ok := v.vmacs[in.Interface]; ok {
		v.r.add(at("interface"), "%q is the vmac of the instance at %s: a vmac needs a name of its own", in.Interface, v.r.place(parent(prev)))
	}
	if !v.seen[at("virtual_router_id")] {
		v.r.add(at("virtual_router_id"), "is required (1..255)")
	} else {
		v.intRange(at("virtual_router_id"), in.VirtualRouterID, 1, 255)
	}
	versionOK := in.Version == 2 || in.Version == 3
	if !versionOK {
		v.r.add(at("version"), "%d is not a VRRP version: use 2 (RFC 3768) or 3 (RFC 5798)", in.Version)
	}
	v.intRange(at("priority"), in.Priority, 1, 255)
	v.advertInt(at("advert_int"), in)
	if in.PreemptDelay > Duration(1000*time.Second) {
		v.r.add(at("preempt_delay"), "%s is more than 1000s", in.PreemptDelay)
	}
	if !in.Accept && v.seen[at("accept")] {
		// no_accept would need packet filter rules dropping traffic to the VIPs, and an
		// LVS director must accept it: refused rather than silently ignored.
		v.r.add(at("accept"), "accept = false (keepalived's no_accept) is not supported: an LVS director's master must accept traffic for its VIPs")
	}

	fam := v.virtualIPs(p, in)
	if fam == 6 && in.Version == 2 {
		v.r.add(at("virtual_ipaddress"), "VRRPv2 (RFC 3768) carries IPv4 addresses only: use version = 3 for IPv6")
	}
	if fam != 0 && in.Interface != "" && v.seen[at("virtual_router_id")] {
		k := vrKey{in.Interface, in.VirtualRouterID, fam}
		if prev, ok := v.vrids[k]; ok {
			v.r.add(at("virtual_router_id"), "virtual_router_id %d on %s (IPv%d) is also used by the instance at %s", in.VirtualRouterID, in.Interface, fam, v.r.place(parent(prev)))
		} else {
			claim(v, v.vrids, k, at("virtual_router_id"))
		}
	}

	switch in.OldUnicastChecksum {
	case "reject", "accept":
	case "send":
		if in.Version != 3 || len(in.UnicastPeer) == 0 || fam != 4 {
			v.r.add(at("old_unicast_checksum"), `"send" applies to VRRPv3 IPv4 unicast instances only`)
		}
	default:
		v.r.add(at("old_unicast_checksum"), "%q is not reject, accept or send", in.OldUnicastChecksum)
	}
	if in.AuthPass != "" {
		if in.Version != 2 {
			v.r.add(at("auth_pass"), "authentication exists in VRRPv2 only (RFC 5798 removed it): set version = 2 or remove auth_pass")
		}
		if len(in.AuthPass) > 8 {
			v.r.add(at("auth_pass"), "%d bytes is too long: VRRPv2 carries at most 8", len(in.AuthPass))
		}
	}

	if in.UnicastSrcIP.IsValid() && fam != 0 && family(in.UnicastSrcIP) != fam {
		v.r.add(at("unicast_src_ip"), "%s is IPv%d but the virtual addresses are IPv%d", in.UnicastSrcIP, family(in.UnicastSrcIP), fam)
	}
	peers := map[netip.Addr]bool{}
	for j, a := range in.UnicastPeer {
		pp := index(at("unicast_peer"), j)
		switch {
		case !a.IsValid():
			v.r.add(pp, "empty string is not an address")
		case fam != 0 && family(a) != fam:
			v.r.add(pp, "%s is IPv%d but the virtual addresses are IPv%d", a, family(a), fam)
		case peers[a]:
			v.r.add(pp, "%s is listed twice", a)
		case a == in.UnicastSrcIP:
			v.r.add(pp, "%s is this node's own unicast_src_ip", a)
		}
		peers[a] = true
	}

	if l := in.VirtualIPAddressLabel; l != "" {
		switch {
		case len(l) > 15:
			v.r.add(at("virtual_ipaddress_label"), "%q is longer than 15 bytes, the kernel's limit for address labels", l)
		case in.Interface != "" && !strings.HasPrefix(l, in.Interface):
			v.r.add(at("virtual_ipaddress_label"), "%q must begin with the interface name %q (the kernel rejects other labels)", l, in.Interface)
		case fam == 6:
			v.r.add(at("virtual_ipaddress_label"), "labels exist for IPv4 addresses only")
		case in.UseVMAC && in.Interface != "":
			// On the vmac the label's suffix follows the vmac's name (director).
			if vl := in.VMAC() + strings.TrimPrefix(l, in.Interface); len(vl) > 15 {
				v.r.add(at("virtual_ipaddress_label"), "on the vmac the label is %q, longer than 15 bytes, the kernel's limit for address labels: shorten the label's suffix or set a shorter vmac_name", vl)
			}
		}
	}
	v.vmac(i, in, fam)
	if !oneOf(in.NARouter, "auto", "on", "off") {
		v.r.add(at("na_router"), "%q is not one of auto, on, off", in.NARouter)
	} else if fam == 4 && in.NARouter != "auto" {
		v.r.add(at("na_router"), "applies to IPv6 instances only (the Router flag of neighbour advertisements)")
	}

	v.tracks(p, in.TrackInterface, in.TrackScript, in.TrackFile)

	v.hook(at("notify_master"), in.NotifyMaster)
	v.hook(at("notify_backup"), in.NotifyBackup)
	v.hook(at("notify_fault"), in.NotifyFault)
	v.hook(at("notify_stop"), in.NotifyStop)
	v.hook(at("notify"), in.Notify)

	// Inherited GARP values were checked in [global].
	if v.seen[at("garp_master_repeat")] {
		v.garpRepeat(at("garp_master_repeat"), in.GARPMasterRepeat)
	}
}

func (v *validator) advertInt(path string, in *Instance) {
	d := time.Duration(in.AdvertInt)
	switch in.Version {
	case 2:
		if d%time.Second != 0 || d < time.Second || d > 255*time.Second {
			v.r.add(path, "%s: VRRPv2 needs whole seconds from 1s to 255s", d)
		}
	case 3:
		if d%(10*time.Millisecond) != 0 || d < 10*time.Millisecond || d > 4095*10*time.Millisecond {
			v.r.add(path, "%s: VRRPv3 needs a multiple of 10ms from 10ms to 40.95s", d)
		}
	}
}

// virtualIPs checks the instance's virtual addresses and returns their family.
func (v *validator) virtualIPs(p string, in *Instance) int {
	at := join(p, "virtual_ipaddress")
	if len(in.VirtualIPAddress) == 0 {
		v.r.add(at, "at least one virtual address is required")
		return 0
	}
	fam := 0
	own := map[netip.Addr]bool{}
	for j, pfx := range in.VirtualIPAddress {
		ep := index(at, j)
		if !pfx.IsValid() {
			v.r.add(ep, "empty string is not an address")
			continue
		}
		a := pfx.Addr()
		f := family(a)
		switch {
		case fam == 0:
			fam = f
		case f != fam:
			v.r.add(ep, "%s mixes IPv%d into IPv%d virtual addresses: use two instances, one per address family, as RFC 5798 §5.2.9 requires one family per advert", pfx, f, fam)
			continue
		}
		if own[a] {
			v.r.add(ep, "%s is listed twice", a)
			continue
		}
		own[a] = true
		if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() {
			v.r.add(ep, "%s cannot be a virtual address", a)
			continue
		}
		if prev, ok := v.vips[a]; ok {
			v.r.add(ep, "%s is also a virtual address of the instance at %s", a, v.r.place(instancePath(prev)))
			continue
		}
		claim(v, v.vips, a, ep)
	}
	for j, va := range in.VirtualAddress {
		ep := index(join(p, "virtual_address"), j)
		v.followerIP(join(ep, "address"), va.Address, own)
		if va.Dev != "" {
			if msg := validInterface(va.Dev); msg != "" {
				v.r.add(join(ep, "dev"), "%s", msg)
			}
		}
		if l := va.Label; l != "" {
			dev := cmp.Or(va.Dev, in.Interface)
			switch {
			case len(l) > 15:
				v.r.add(join(ep, "label"), "%q is longer than 15 bytes, the kernel's limit for address labels", l)
			case !strings.HasPrefix(l, dev):
				v.r.add(join(ep, "label"), "%q must begin with the interface name %q (the kernel rejects other labels)", l, dev)
			case va.Address.IsValid() && !va.Address.Addr().Is4():
				v.r.add(join(ep, "label"), "labels exist for IPv4 addresses only")
			}
		}
		if va.Scope != "" && !slices.Contains([]string{"global", "site", "link", "host", "nowhere"}, va.Scope) {
			v.r.add(join(ep, "scope"), "%q is not one of global, site, link, host, nowhere", va.Scope)
		}
		if b := va.Broadcast; b.IsValid() && (!b.Is4() || va.Address.IsValid() && !va.Address.Addr().Is4()) {
			v.r.add(join(ep, "broadcast"), "%s: a broadcast address exists for IPv4 addresses only", b)
		}
	}
	for j, pfx := range in.VirtualIPAddressExcluded {
		v.followerIP(index(join(p, "virtual_ipaddress_excluded"), j), pfx, own)
	}
	for j, r := range in.VirtualRoutes {
		v.virtualRoute(index(join(p, "virtual_routes"), j), r)
	}
	for j, r := range in.VirtualRules {
		v.virtualRule(index(join(p, "virtual_rules"), j), r)
	}
	return fam
}

// virtualRoute checks one virtual_routes entry.
func (v *validator) virtualRoute(ep string, r VirtualRoute) {
	at := func(k string) string { return join(ep, k) }
	if !r.To.IsValid() {
		v.r.add(at("to"), "is required: a destination with a prefix length, such as \"0.0.0.0/0\"")
		return
	}
	fam := family(r.To.Addr())
	for _, k := range []string{"via", "src"} {
		a := r.Via
		if k == "src" {
			a = r.Src
		}
		if a.IsValid() && family(a) != fam {
			v.r.add(at(k), "%s is IPv%d but the destination %s is IPv%d", a, family(a), r.To, fam)
		}
	}
	switch r.Type {
	case "", "unicast":
		if !r.Via.IsValid() && r.Dev == "" {
			v.r.add(ep, "a unicast route needs via or dev")
		}
	case "blackhole", "unreachable", "prohibit":
		if r.Via.IsValid() || r.Dev != "" {
			v.r.add(at("type"), "a %s route has no via or dev", r.Type)
		}
	default:
		v.r.add(at("type"), "%q is not one of unicast, blackhole, unreachable, prohibit", r.Type)
	}
	if r.Dev != "" {
		if msg := validInterface(r.Dev); msg != "" {
			v.r.add(at("dev"), "%s", msg)
		}
	}
	if r.Table < 0 || r.Table > math.MaxUint32 || r.Table == 255 {
		v.r.add(at("table"), "%d is not a routing table: use 1..4294967295 other than 255 (local), or 0 for main", r.Table)
	}
	if r.Metric < 0 || r.Metric > math.MaxUint32 {
		v.r.add(at("metric"), "%d is out of range 0..4294967295", r.Metric)
	}
}

// virtualRule checks one virtual_rules entry.
func (v *validator) virtualRule(ep string, r VirtualRule) {
	at := func(k string) string { return join(ep, k) }
	if r.From.IsValid() && r.To.IsValid() && family(r.From.Addr()) != family(r.To.Addr()) {
		v.r.add(at("to"), "%s and from %s are of two address families", r.To, r.From)
	}
	if r.Table < 1 || r.Table > math.MaxUint32 {
		v.r.add(at("table"), "%d is not a routing table: use 1..4294967295", r.Table)
	}
	if r.Priority < 1 || r.Priority > math.MaxUint32 {
		v.r.add(at("priority"), "is required (1..4294967295): a rule without one goes first, before the main table's")
	}
	if r.Fwmark < 0 || r.Fwmark > math.MaxUint32 {
		v.r.add(at("fwmark"), "%d is out of range 0..4294967295", r.Fwmark)
	}
	for _, kv := range [][2]string{{"iif", r.IIF}, {"oif", r.OIF}} {
		if kv[1] != "" {
			if msg := validInterface(kv[1]); msg != "" {
				v.r.add(at(kv[0]), "%s", msg)
			}
		}
	}
}

// instancePath is the vrrp_instance element of a path within it.
func instancePath(path string) string {
	if i := strings.IndexByte(path, ']'); i >= 0 {
		return path[:i+1]
	}
	return path
}

// followerIP checks an address that follows the master outside virtual_ipaddress (either
// family: it is not in adverts); own holds the instance's addresses so far.
func (v *validator) followerIP(ep string, pfx netip.Prefix, own map[netip.Addr]bool) {
	if !pfx.IsValid() {
		v.r.add(ep, "is required: an address with a prefix length, such as \"198.51.100.1/24\"")
		return
	}
	a := pfx.Addr()
	switch prev, dup := v.vips[a]; {
	case own[a]:
		v.r.add(ep, "%s is listed twice", a)
	case a.IsUnspecified() || a.IsMulticast() || a.IsLoopback():
		v.r.add(ep, "%s cannot be a virtual address", a)
	case dup:
		v.r.add(ep, "%s is also a virtual address of the instance at %s", a, v.r.place(instancePath(prev)))
	default:
		own[a] = true
		claim(v, v.vips, a, ep)
	}
}

func (v *validator) syncGroup(i int) {
	g := v.cfg.SyncGroups[i]
	p := index("vrrp_sync_group", i)
	at := func(k string) string { return join(p, k) }
	if g.Name == "" {
		v.r.add(at("name"), "is required")
	} else {
		v.unique(v.groupNames, g.Name, at("name"))
	}
	if len(g.Group) == 0 {
		v.r.add(at("group"), "must list at least one vrrp_instance")
	}
	for j, m := range g.Group {
		mp := index(at("group"), j)
		if m == "" || !slices.ContainsFunc(v.cfg.Instances, func(in Instance) bool { return in.Name == m }) {
			v.r.add(mp, "no [[vrrp_instance]] is named %q", m)
			continue
		}
		if prev, ok := v.members[m]; ok {
			v.r.add(mp, "vrrp_instance %q is already in the sync group at %s; an instance can be in one group only", m, v.r.place(parent(parent(prev))))
			continue
		}
		claim(v, v.members, m, mp)
	}
	v.tracks(p, g.TrackInterface, g.TrackScript, g.TrackFile)
	for _, in := range v.cfg.Instances {
		if !slices.Contains(g.Group, in.Name) {
			continue
		}
		for j, t := range g.TrackInterface {
			if slices.ContainsFunc(in.TrackInterface, func(o TrackInterface) bool { return o.Name == t.Name }) {
				v.r.add(join(index(at("track_interface"), j), "name"), "%q is also tracked by the member vrrp_instance %q: track it in one place", t.Name, in.Name)
			}
		}
		for _, k := range []struct {
			key        string
			group, own []TrackRef
		}{{"track_script", g.TrackScript, in.TrackScript}, {"track_file", g.TrackFile, in.TrackFile}} {
			for j, r := range k.group {
				if slices.ContainsFunc(k.own, func(o TrackRef) bool { return o.Name == r.Name }) {
					v.r.add(index(at(k.key), j), "%q is also tracked by the member vrrp_instance %q: track it in one place", r.Name, in.Name)
				}
			}
		}
	}
	v.hook(at("notify_master"), g.NotifyMaster)
	v.hook(at("notify_backup"), g.NotifyBackup)
	v.hook(at("notify_fault"), g.NotifyFault)
	v.hook(at("notify_stop"), g.NotifyStop)
	v.hook(at("notify"), g.Notify)
}

func (v *validator) lvs() {
	l := v.cfg.LVS
	if !oneOf(l.OnBackup, "withdraw", "keep") {
		v.r.add("lvs.on_backup", "%q is not one of withdraw, keep", l.OnBackup)
	}
	v.positive("lvs.reconcile_interval", l.ReconcileInterval)
	for k, val := range map[string]string{"sysctl_ip_forward": l.SysctlIPForward, "sysctl_expire_nodest_conn": l.SysctlExpireNodestConn,
		"sysctl_expire_quiescent_template": l.SysctlExpireQuiescentTemplate, "sysctl_conntrack": l.SysctlConntrack,
		"sysctl_sloppy_tcp": l.SysctlSloppyTCP, "sysctl_sloppy_sctp": l.SysctlSloppySCTP} {
		if !oneOf(val, "auto", "on", "off", "keep") {
			v.r.add("lvs."+k, "%q is not one of auto, on, off, keep", val)
		}
	}
	if l.SyncDaemon != nil {
		v.syncDaemon(l.SyncDaemon)
	}
}

func (v *validator) syncDaemon(sd *SyncDaemon) {
	const p = "lvs.sync_daemon"
	at := func(k string) string { return join(p, k) }
	if len(v.cfg.VirtualServers) == 0 {
		v.r.add(p, "needs a [[virtual_server]]: the daemons sync the connections of IPVS services")
	}
	switch {
	case sd.Interface == "":
		v.r.add(at("interface"), "is required")
	case len(sd.Interface) > 15 || strings.ContainsAny(sd.Interface, "/ \t\n") || sd.Interface == "." || sd.Interface == "..":
		v.r.add(at("interface"), "%q is not an interface name", sd.Interface)
	}
	switch {
	case sd.Instance == "" && len(v.cfg.Instances) != 1:
		v.r.add(at("instance"), "is required: name the vrrp_instance whose state the sync daemons follow")
	case sd.Instance != "" && !slices.ContainsFunc(v.cfg.Instances, func(in Instance) bool { return in.Name == sd.Instance }):
		v.r.add(at("instance"), "no [[vrrp_instance]] is named %q", sd.Instance)
	}
	v.intRange(at("sync_id"), sd.SyncID, 0, 255)
	if sd.MaxLen != 0 && (sd.MaxLen < 256 || sd.MaxLen > 65507) {
		v.r.add(at("max_len"), "%d is out of range 256..65507 (0 = from the interface's MTU)", sd.MaxLen)
	}
	if sd.Group.IsValid() && !sd.Group.IsMulticast() {
		v.r.add(at("group"), "%s is not a multicast address", sd.Group)
	}
	v.intRange(at("port"), sd.Port, 1, 65535)
	v.intRange(at("ttl"), sd.TTL, 1, 255)
	if sd.PreemptWait < 0 || sd.PreemptWait > Duration(1000*time.Second) {
		v.r.add(at("preempt_wait"), "%s is out of range 0s..1000s", sd.PreemptWait)
	}
}

var (
	protocols   = []string{"tcp", "udp", "sctp"}
	schedulers  = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf", "twos"}
	forwardings = []string{"dr", "nat", "tun"}
	checkTypes  = []string{"tcp", "udp", "dns", "ping", "smtp", "http", "https", "exec", "file"}
	// checkKeyTypes are the check keys that apply to some types only: set to anything but
	// their zero default on another type, they are an error. The keys older than these
	// types are not listed: files that set them on any type have always loaded.
	checkKeyTypes = map[string][]string{
		"url": {"http", "https"}, "misc_dynamic": {"exec"},
		"payload": {"udp"}, "payload_text": {"udp"}, "require_reply": {"udp"}, "reply": {"udp"},
		"min_reply_length": {"udp"}, "max_reply_length": {"udp"},
		"dns_type": {"dns"}, "dns_name": {"dns"}, "expect_address": {"dns"},
		"helo_name": {"smtp"}, "tls": {"smtp"}, "starttls": {"smtp"},
		"file": {"file"}, "weight": {"file"}, "reverse": {"file"},
	}
)

func (v *validator) virtualServer(i int) {
	vs := &v.cfg.VirtualServers[i]
	p := index("virtual_server", i)
	at := func(k string) string { return join(p, k) }

	hasMark := v.seen[at("fwmark")]
	switch {
	case vs.Address.IsValid() && hasMark:
		v.r.add(at("fwmark"), "set either address or fwmark, not both")
	case !vs.Address.IsValid() && !hasMark:
		v.r.add(at("address"), "address or fwmark is required")
	case hasMark && (vs.FWMark < 1 || uint64(vs.FWMark) > math.MaxUint32):
		v.r.add(at("fwmark"), "%d is out of range 1..%d", vs.FWMark, uint64(math.MaxUint32))
	}
	fam := 0
	if vs.Address.IsValid() {
		fam = family(vs.Address.Addr())
		if a := vs.Address.Addr(); a.IsUnspecified() || a.IsMulticast() {
			v.r.add(at("address"), "%s cannot be a service address", a)
		}
		if vs.Address.Port() == 0 && vs.PersistenceTimeout == 0 {
			v.r.add(at("address"), "port 0 (all ports) is only allowed with persistence_timeout")
		}
	}
	if !oneOf(vs.Protocol, protocols...) {
		v.r.add(at("protocol"), "%q is not one of %s", vs.Protocol, strings.Join(protocols, ", "))
	} else if vs.Address.IsValid() || hasMark {
		k := vsKey{vs.Protocol, vs.Address, vs.FWMark}
		if prev, ok := v.services[k]; ok {
			v.r.add(at("address"), "%s %s is already defined at %s", vs.Protocol, vs, v.r.place(parent(prev)))
		} else {
			claim(v, v.services, k, at("address"))
		}
	}
	if !oneOf(vs.Scheduler, schedulers...) {
		v.r.add(at("scheduler"), "%q is not one of %s", vs.Scheduler, strings.Join(schedulers, " "))
	}
	flags := map[string]bool{}
	for j, f := range vs.SchedulerFlags {
		fp := index(at("scheduler_flags"), j)
		sched, _, _ := strings.Cut(f, "-")
		switch {
		case !oneOf(f, "sh-fallback", "sh-port", "mh-fallback", "mh-port"):
			v.r.add(fp, "%q is not one of sh-fallback, sh-port, mh-fallback, mh-port", f)
		case sched != vs.Scheduler:
			v.r.add(fp, "%q applies to scheduler %q only", f, sched)
		case flags[f]:
			v.r.add(fp, "%q is listed twice", f)
		}
		flags[f] = true
	}
	if !oneOf(vs.Forwarding, forwardings...) {
		v.r.add(at("forwarding"), "%q is not one of dr, nat, tun", vs.Forwarding)
	}
	if m := vs.PersistenceNetmask; m.IsValid() {
		switch {
		case !m.Is4():
			v.r.add(at("persistence_netmask"), "%s is not an IPv4 netmask", m)
		case fam == 6:
			v.r.add(at("persistence_netmask"), "netmasks apply to IPv4 services only")
		default:
			b := m.As4()
			n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
			if n == 0 || bits.LeadingZeros32(^n) != bits.OnesCount32(n) {
				v.r.add(at("persistence_netmask"), "%s is not a netmask such as 255.255.255.0", m)
			}
		}
	}
	if vs.OnePacket && vs.Protocol != "udp" {
		v.r.add(at("one_packet"), "one-packet scheduling applies to udp services only")
	}
	if vs.SorryServer.IsValid() && fam != 0 && family(vs.SorryServer.Addr()) != fam {
		v.r.add(at("sorry_server"), "%s is IPv%d but the service is IPv%d", vs.SorryServer, family(vs.SorryServer.Addr()), fam)
	}
	if vs.Quorum < 1 {
		v.r.add(at("quorum"), "must be at least 1")
	} else if vs.Hysteresis < 0 || vs.Hysteresis >= vs.Quorum {
		v.r.add(at("hysteresis"), "%d is out of range 0..%d (it must be less than quorum)", vs.Hysteresis, vs.Quorum-1)
	}
	v.hook(at("quorum_up"), vs.QuorumUp)
	v.hook(at("quorum_down"), vs.QuorumDown)
	if vs.Omega && vs.QuorumDown == "" {
		v.r.add(at("omega"), "needs a quorum_down hook to run at shutdown")
	}
	if vs.Check != nil {
		v.checkKeys(at("check"), vs.Check, fam)
	}
	v.realServers(p, vs, fam)
}

func (v *validator) realServers(p string, vs *VirtualServer, fam int) {
	seen := map[netip.AddrPort]string{}
	vsCheckComplete := false // the virtual server's check was checked for completeness
	for j := range vs.RealServers {
		rs := &vs.RealServers[j]
		rp := index(join(p, "real_server"), j)
		at := func(k string) string { return join(rp, k) }
		if !rs.Address.IsValid() {
			v.r.add(at("address"), "is required")
		} else {
			a := rs.Address.Addr()
			if fam != 0 && family(a) != fam && rs.Forwarding != "tun" {
				v.r.add(at("address"), "%s is IPv%d but the service is IPv%d (only tun can cross families)", a, family(a), fam)
			}
			if prev, ok := seen[rs.Address]; ok {
				v.r.add(at("address"), "%s is already a real server of this service at %s", rs.Address, v.r.place(prev))
			} else {
				seen[rs.Address] = at("address")
			}
		}
		v.intRange(at("weight"), rs.Weight, 0, 65535)
		if v.seen[at("forwarding")] && rs.Forwarding != "" && !oneOf(rs.Forwarding, forwardings...) {
			v.r.add(at("forwarding"), "%q is not one of dr, nat, tun", rs.Forwarding)
		}
		v.intRange(at("upper_threshold"), rs.UpperThreshold, 0, math.MaxInt32)
		v.intRange(at("lower_threshold"), rs.LowerThreshold, 0, math.MaxInt32)
		if rs.UpperThreshold == 0 && rs.LowerThreshold > 0 {
			v.r.add(at("lower_threshold"), "needs an upper_threshold (the kernel refuses a lower threshold alone)")
		}
		if rs.UpperThreshold > 0 && rs.LowerThreshold > rs.UpperThreshold {
			v.r.add(at("lower_threshold"), "%d is above upper_threshold %d", rs.LowerThreshold, rs.UpperThreshold)
		}
		v.hook(at("notify_up"), rs.NotifyUp)
		v.hook(at("notify_down"), rs.NotifyDown)

		for k := range rs.Checks {
			cp := index(at("checks"), k)
			v.checkKeys(cp, &rs.Checks[k], fam)
			v.checkComplete(cp, &rs.Checks[k])
		}
		if rs.Check == nil {
			continue
		}
		cp := at("check")
		if v.seen[cp] {
			v.checkKeys(cp, rs.Check, fam)
		} else {
			// Entirely inherited: the virtual server's check is reported once.
			if vsCheckComplete {
				continue
			}
			vsCheckComplete = true
			cp = join(p, "check")
		}
		v.checkComplete(cp, rs.Check)
	}
}

// checkKeys validates the keys that the check table at path sets itself; keys
// it inherits were validated where they were written.
func (v *validator) checkKeys(path string, c *Check, fam int) {
	own := func(k string) bool { return v.seen[join(path, k)] }
	at := func(k string) string { return join(path, k) }
	if own("type") && c.Type != "" && !oneOf(c.Type, checkTypes...) {
		v.r.add(at("type"), "%q is not one of %s", c.Type, strings.Join(checkTypes, ", "))
	}
	if oneOf(c.Type, checkTypes...) {
		rc := reflect.ValueOf(c).Elem()
		for _, f := range schemaFields(reflect.TypeFor[Check]()) {
			types, ok := checkKeyTypes[f.name]
			if ok && own(f.name) && !rc.Field(f.index).IsZero() && !oneOf(c.Type, types...) {
				v.r.add(at(f.name), "applies to %s checks only, not %s", strings.Join(types, ", "), c.Type)
			}
		}
	}
	v.checkTypeKeys(path, c, own)
	if own("method") && !oneOf(c.Method, "GET", "HEAD") {
		v.r.add(at("method"), "%q is not one of GET, HEAD", c.Method)
	}
	if own("path") && !strings.HasPrefix(c.Path, "/") {
		v.r.add(at("path"), "%q must begin with /", c.Path)
	}
	if own("expect_status") {
		if len(c.ExpectStatus) == 0 {
			v.r.add(at("expect_status"), "must list at least one status code")
		}
		for i, s := range c.ExpectStatus {
			v.intRange(index(at("expect_status"), i), s, 100, 599)
		}
	}
	if own("expect_body") && c.ExpectBody != "" {
		if _, err := regexp.Compile(c.ExpectBody); err != nil {
			v.r.add(at("expect_body"), "not a regular expression: %v", err)
		}
	}
	if own("connect_port") {
		v.intRange(at("connect_port"), c.ConnectPort, 0, 65535)
	}
	if own("bind_to") && c.BindTo.IsValid() && fam != 0 && family(c.BindTo) != fam {
		v.r.add(at("bind_to"), "%s is IPv%d but the service is IPv%d", c.BindTo, family(c.BindTo), fam)
	}
	if own("command") {
		v.hook(at("command"), c.Command)
	}
	if own("interval") {
		v.positive(at("interval"), c.Interval)
	}
	if own("timeout") {
		v.positive(at("timeout"), c.Timeout)
	}
	if own("rise") {
		v.atLeast1(at("rise"), c.Rise)
	}
	if own("fall") {
		v.atLeast1(at("fall"), c.Fall)
	}
}

// checkTypeKeys validates the keys of the newer check types that the check table at
// path sets itself.
func (v *validator) checkTypeKeys(path string, c *Check, own func(string) bool) {
	at := func(k string) string { return join(path, k) }
	if c.Payload != "" {
		if _, _, err := kaformat.Hex(c.Payload, false); err != nil {
			v.r.add(at("payload"), "%s", strings.TrimPrefix(err.Error(), "healthcheck: "))
		}
	}
	if c.PayloadText != "" && c.Payload != "" {
		v.r.add(at("payload_text"), "set either payload (hex) or payload_text, not both")
	}
	if own("reply") && c.Reply != "" {
		if _, _, err := kaformat.Hex(c.Reply, true); err != nil {
			v.r.add(at("reply"), "%s", strings.TrimPrefix(err.Error(), "healthcheck: "))
		} else if !c.RequireReply {
			v.r.add(at("reply"), "needs require_reply = true")
		}
	}
	if own("min_reply_length") {
		v.intRange(at("min_reply_length"), c.MinReplyLength, 0, 65507)
	}
	if own("max_reply_length") {
		v.intRange(at("max_reply_length"), c.MaxReplyLength, 0, 65507)
		if c.MaxReplyLength > 0 && c.MaxReplyLength < c.MinReplyLength {
			v.r.add(at("max_reply_length"), "%d is below min_reply_length %d", c.MaxReplyLength, c.MinReplyLength)
		}
	}
	if _, err := kaformat.DNSType(c.DNSType); own("dns_type") && c.DNSType != "" && err != nil {
		v.r.add(at("dns_type"), "%q is not a DNS query type such as A, AAAA, MX, NS, SOA or TXT", c.DNSType)
	}
	if own("starttls") && c.StartTLS && c.TLS {
		v.r.add(at("starttls"), "set either tls (SMTPS) or starttls, not both")
	}
	if own("file") && c.File != "" && !strings.HasPrefix(c.File, "/") {
		v.r.add(at("file"), "%q must be an absolute path", c.File)
	}
	if own("warmup") && c.Warmup > c.Interval {
		v.r.add(at("warmup"), "%s is longer than the interval %s", c.Warmup, c.Interval)
	}
	for i, u := range c.URLs {
		up := index(at("url"), i)
		uat := func(k string) string { return join(up, k) }
		if !strings.HasPrefix(u.Path, "/") {
			v.r.add(uat("path"), "%q must begin with /", u.Path)
		}
		for j, s := range u.ExpectStatus {
			v.intRange(index(uat("expect_status"), j), s, 100, 599)
		}
		if _, err := hex.DecodeString(u.Digest); u.Digest != "" && (len(u.Digest) != 32 || err != nil) {
			v.r.add(uat("digest"), "%q is not an MD5 digest (32 hex digits, as genhash prints it)", u.Digest)
		}
		if u.Regex != "" {
			if _, err := regexp.Compile(u.Regex); err != nil {
				v.r.add(uat("regex"), "not a regular expression: %v", err)
			}
		} else if u.RegexNoMatch {
			v.r.add(uat("regex_no_match"), "needs a regex")
		}
	}
}

// checkComplete validates what an effective check needs as a whole.
func (v *validator) checkComplete(path string, c *Check) {
	switch {
	case c.Type == "":
		v.r.add(join(path, "type"), "is required (%s)", strings.Join(checkTypes, ", "))
	case c.Type == "exec" && c.Command == "":
		v.r.add(join(path, "command"), "is required for an exec check")
	case c.Type == "file" && c.File == "":
		v.r.add(join(path, "file"), "is required for a file check")
	}
}
