package config

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// BGP is the [bgp] table: the VIPs this director announces to its upstream routers over
// BGP (an embedded speaker that only connects out), so that N active directors sit
// behind the router's ECMP, or a VRRP master's VIP crosses an L3 fabric.
type BGP struct {
	ASN int `toml:"asn"`
	// RouterID is the zero Addr when not set: the director takes the host's first IPv4
	// address.
	RouterID  netip.Addr `toml:"router_id"`
	HoldTime  Duration   `toml:"hold_time"`
	Keepalive Duration   `toml:"keepalive"`
	// GracefulShutdown: on leaving (SIGTERM, drain) the VIPs are first re-announced with
	// the GRACEFUL_SHUTDOWN community (RFC 8326) at the lowest preference, then, after
	// GracefulShutdownWait, withdrawn.
	GracefulShutdown     bool      `toml:"graceful_shutdown"`
	GracefulShutdownWait Duration  `toml:"graceful_shutdown_wait"`
	Peers                []BGPPeer `toml:"peer"`
	VIPs                 []BGPVIP  `toml:"vip"`
}

// BGPPeer is one [[bgp.peer]]: an upstream router.
type BGPPeer struct {
	Address netip.Addr `toml:"address"`
	ASN     int        `toml:"asn"`
	// Password is the TCP MD5 signature key (RFC 2385); empty means none.
	Password      string   `toml:"password"`
	BFD           bool     `toml:"bfd"`
	BFDInterval   Duration `toml:"bfd_interval"`
	BFDMultiplier int      `toml:"bfd_multiplier"`
	// Multihop is the eBGP multihop TTL; 0 means a directly connected peer.
	Multihop int `toml:"multihop"`
}

// BGPVIP is one [[bgp.vip]]: a host prefix announced while it is ready to serve.
type BGPVIP struct {
	Prefix netip.Prefix `toml:"prefix"`
	// Mode "ecmp": every ready director announces it (the director holds the address
	// on Interface); "master": only the master of Instance does, while it holds the VIP.
	Mode        string   `toml:"mode"`
	Instance    string   `toml:"instance"`
	Interface   string   `toml:"interface"`
	TrackFile   []string `toml:"track_file"`
	TrackScript []string `toml:"track_script"`
	// Communities are "ASN:VALUE" standard communities added to the announcement.
	Communities []string `toml:"communities"`
	MED         int      `toml:"med"`
	// Rise is how many good rounds in a row a withdrawn VIP needs before it is
	// announced again.
	Rise int `toml:"rise"`
	// Hooks run, in order, when the VIP is announced and withdrawn; they get
	// BGP <prefix> ANNOUNCE|WITHDRAW appended.
	NotifyAnnounce string `toml:"notify_announce"`
	NotifyWithdraw string `toml:"notify_withdraw"`
}

func (b *BGP) setDefaults() {
	b.HoldTime = Duration(3 * time.Second)
	b.Keepalive = Duration(time.Second)
	b.GracefulShutdown = true
}

func (p *BGPPeer) setDefaults() {
	p.BFDInterval = Duration(300 * time.Millisecond)
	p.BFDMultiplier = 3
}

func (v *BGPVIP) setDefaults() {
	v.Mode = "ecmp"
	v.Interface = "lo"
	v.Rise = 3
}

// Community parses an "ASN:VALUE" standard community into its 32-bit value.
func Community(s string) (uint32, bool) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, false
	}
	hi, err1 := strconv.ParseUint(a, 10, 16)
	lo, err2 := strconv.ParseUint(b, 10, 16)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return uint32(hi)<<16 | uint32(lo), true
}

func (v *validator) bgp() {
	b := v.cfg.BGP
	if b == nil {
		return
	}
	at := func(k string) string { return join("bgp", k) }
	v.asn(at("asn"), b.ASN)
	if b.RouterID.IsValid() && !b.RouterID.Is4() {
		v.r.add(at("router_id"), "%s is not an IPv4 address", b.RouterID)
	}
	// BGP counts the hold time in whole seconds, and 1 and 2 are not allowed (RFC 4271).
	// 0 (no keepalives) is refused too: a dead director's routes would stay forever, and
	// GoBGP would read it as its 90 s default.
	if h := b.HoldTime.Std(); h < 3*time.Second || h > math.MaxUint16*time.Second || h%time.Second != 0 {
		v.r.add(at("hold_time"), "%s: want whole seconds, 3s..65535s", b.HoldTime)
	}
	if k := b.Keepalive.Std(); k%time.Second != 0 || k <= 0 || k >= b.HoldTime.Std() {
		v.r.add(at("keepalive"), "%s: want whole seconds, at least 1s and less than hold_time", b.Keepalive)
	}
	if len(b.Peers) == 0 {
		v.r.add(at("peer"), "at least one [[bgp.peer]] is required")
	}
	peers := map[string]string{}
	for i, p := range b.Peers {
		pp := index("bgp.peer", i)
		pat := func(k string) string { return join(pp, k) }
		if !p.Address.IsValid() {
			v.r.add(pat("address"), "is required")
		} else {
			v.unique(peers, p.Address.String(), pat("address"))
		}
		v.asn(pat("asn"), p.ASN)
		if len(p.Password) > 80 {
			v.r.add(pat("password"), "is %d bytes long; TCP MD5 keys have at most 80", len(p.Password))
		}
		if p.BFD {
			if d := p.BFDInterval.Std(); d < 10*time.Millisecond || d > time.Minute {
				v.r.add(pat("bfd_interval"), "%s is out of range 10ms..1m", p.BFDInterval)
			}
			v.intRange(pat("bfd_multiplier"), p.BFDMultiplier, 1, 255)
			if p.Multihop > 0 {
				v.r.add(pat("bfd"), "BFD is single hop only: not with multihop")
			}
		}
		v.intRange(pat("multihop"), p.Multihop, 0, 255)
	}
	prefixes := map[string]string{}
	for i := range b.VIPs {
		v.bgpVIP(index("bgp.vip", i), &b.VIPs[i], prefixes)
	}
}

func (v *validator) asn(path string, n int) {
	if n < 1 || n > math.MaxUint32 {
		v.r.add(path, "%d is out of range 1..%d", n, uint64(math.MaxUint32))
	}
}

func (v *validator) bgpVIP(p string, vp *BGPVIP, prefixes map[string]string) {
	at := func(k string) string { return join(p, k) }
	switch {
	case !vp.Prefix.IsValid():
		v.r.add(at("prefix"), "is required")
	case vp.Prefix.Bits() != vp.Prefix.Addr().BitLen():
		v.r.add(at("prefix"), "%s: a VIP is a /32 or /128", vp.Prefix)
	default:
		v.unique(prefixes, vp.Prefix.String(), at("prefix"))
	}
	switch vp.Mode {
	case "ecmp":
		if vp.Instance != "" {
			v.r.add(at("instance"), "only with mode = \"master\"")
		}
		if vp.Prefix.IsValid() {
			v.ecmpServices(at("prefix"), vp.Prefix.Addr())
		}
	case "master":
		v.masterVIP(at("instance"), vp)
	default:
		v.r.add(at("mode"), "%q is not one of ecmp, master", vp.Mode)
	}
	if msg := validInterface(vp.Interface); msg != "" || vp.Interface == "" {
		v.r.add(at("interface"), "%q is not a valid interface name", vp.Interface)
	}
	for j, name := range vp.TrackFile {
		if !slices.ContainsFunc(v.cfg.TrackFiles, func(f TrackFile) bool { return f.Name == name }) {
			v.r.add(index(at("track_file"), j), "%q is no vrrp_track_file", name)
		}
	}
	for j, name := range vp.TrackScript {
		if !slices.ContainsFunc(v.cfg.Scripts, func(s VRRPScript) bool { return s.Name == name }) {
			v.r.add(index(at("track_script"), j), "%q is no vrrp_script", name)
		}
	}
	for j, c := range vp.Communities {
		if _, ok := Community(c); !ok {
			v.r.add(index(at("communities"), j), "%q is not ASN:VALUE with both in 0..65535", c)
		}
	}
	if vp.MED < 0 || vp.MED > math.MaxUint32 {
		v.r.add(at("med"), "%d is out of range 0..%d", vp.MED, uint64(math.MaxUint32))
	}
	v.atLeast1(at("rise"), vp.Rise)
	if vp.NotifyAnnounce != "" {
		v.hook(at("notify_announce"), vp.NotifyAnnounce)
	}
	if vp.NotifyWithdraw != "" {
		v.hook(at("notify_withdraw"), vp.NotifyWithdraw)
	}
}

// masterVIP checks that a master-mode VIP names an instance that holds its address.
func (v *validator) masterVIP(path string, vp *BGPVIP) {
	if vp.Instance == "" {
		v.r.add(path, "is required with mode = \"master\"")
		return
	}
	for _, in := range v.cfg.Instances {
		if in.Name != vp.Instance {
			continue
		}
		if vp.Prefix.IsValid() && !slices.ContainsFunc(in.VirtualIPAddress, func(q netip.Prefix) bool { return q.Addr() == vp.Prefix.Addr() }) {
			v.r.add(path, "instance %q does not hold %s in virtual_ipaddress", vp.Instance, vp.Prefix.Addr())
		}
		return
	}
	v.r.add(path, "%q is no vrrp_instance", vp.Instance)
}

// ecmpServices refuses the virtual servers on an ECMP VIP that would not survive the
// router moving flows between directors: every director must build the same Maglev table
// (scheduler mh with mh-port and mh-fallback; inhibit_on_failure keeps a failed real
// server's slot), and a director must take over a flow it never saw the SYN of
// (sysctl_sloppy_tcp = "on").
func (v *validator) ecmpServices(path string, vip netip.Addr) {
	on := false
	for i := range v.cfg.VirtualServers {
		vs := &v.cfg.VirtualServers[i]
		if !vs.Address.IsValid() || vs.Address.Addr() != vip {
			continue
		}
		on = true
		p := index("virtual_server", i)
		if vs.Scheduler != "mh" {
			v.r.add(join(p, "scheduler"), "%q: a virtual server on ECMP VIP %s needs \"mh\", so every director schedules a flow alike", vs.Scheduler, vip)
		}
		if !slices.Contains(vs.SchedulerFlags, "mh-port") || !slices.Contains(vs.SchedulerFlags, "mh-fallback") {
			v.r.add(join(p, "scheduler_flags"), "a virtual server on ECMP VIP %s needs [\"mh-fallback\", \"mh-port\"]", vip)
		}
		if !vs.InhibitOnFailure {
			v.r.add(join(p, "inhibit_on_failure"), "a virtual server on ECMP VIP %s needs true: a failed real server must keep its Maglev slot on every director", vip)
		}
	}
	if on && v.cfg.LVS.SysctlSloppyTCP != "on" {
		v.r.add(path, "an ECMP VIP with virtual servers needs lvs.sysctl_sloppy_tcp = \"on\" (not %q), so a director takes over flows it never saw the SYN of", v.cfg.LVS.SysctlSloppyTCP)
	}
}
