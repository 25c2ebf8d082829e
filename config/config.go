// Package config owns hadirector's configuration file: the Go types that
// mirror the TOML schema (../shared/config-reference.toml), strict decoding
// (an unknown key is an error), defaults, the resolution of inherited values,
// and validation that reports every problem at once with file and line.
//
// A *Config returned by Load or Parse is complete and valid: defaults are
// applied and inherited values are resolved, so consumers read fields
// directly and never consult [global] or the enclosing virtual server
// themselves. In particular:
//
//   - Instance.GARPMasterDelay, GARPMasterRepeat and GARPMasterRefresh hold
//     the instance's own value when it sets one and the [global] value
//     otherwise.
//   - RealServer.Forwarding is the virtual server's forwarding unless the
//     real server sets its own.
//   - RealServer.Check is the effective check: the virtual server's check
//     with the keys the real server's own check table sets laid over it, or
//     nil when neither has a check. RealServer.Checks are further checks, each
//     complete in itself; a real server with neither is always healthy, one
//     with several is up only while every one passes (RealServer.AllChecks).
//
// Hooks (notify_*, vrrp_script.script, check.command) stay command-line
// strings here; internal/cmdline turns one into argv, for the validation here and
// for whatever runs the hook. Nothing is ever run through a shell.
package config

import (
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/netip"
	"os"
	"strings"
)

// Config is a whole hadirector configuration file.
type Config struct {
	Global         Global          `toml:"global"`
	Scripts        []VRRPScript    `toml:"vrrp_script"`
	TrackFiles     []TrackFile     `toml:"vrrp_track_file"`
	Instances      []Instance      `toml:"vrrp_instance"`
	SyncGroups     []SyncGroup     `toml:"vrrp_sync_group"`
	LVS            LVS             `toml:"lvs"`
	VirtualServers []VirtualServer `toml:"virtual_server"`
	// BGP is nil without a [bgp] table: nothing is announced.
	BGP *BGP `toml:"bgp"`
}

// Global is the [global] table (keepalived's global_defs).
type Global struct {
	// RouterID defaults to the host name ("hadirector" if that is unknown).
	RouterID string `toml:"router_id"`
	// StatusSocket is the control socket's path; empty disables it.
	StatusSocket string `toml:"status_socket"`
	// MetricsListen is a host:port for net.Listen, kept as a string because
	// ":9650" (all addresses) is valid here and is not a netip.AddrPort.
	MetricsListen        string   `toml:"metrics_listen"`
	LogLevel             string   `toml:"log_level"`
	LogFormat            string   `toml:"log_format"`
	NotifyTimeout        Duration `toml:"notify_timeout"`
	NotifyFIFO           string   `toml:"notify_fifo"`
	ScriptUser           string   `toml:"script_user"`
	EnableScriptSecurity bool     `toml:"enable_script_security"`
	RealtimePriority     int      `toml:"realtime_priority"`
	LockMemory           bool     `toml:"lock_memory"`
	GARPMasterDelay      Duration `toml:"garp_master_delay"`
	GARPMasterRepeat     int      `toml:"garp_master_repeat"`
	GARPMasterRefresh    Duration `toml:"garp_master_refresh"`
}

// Level returns LogLevel as a slog.Level; validation guarantees it is one of
// the four names slog knows.
func (g Global) Level() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(g.LogLevel)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// VRRPScript is one [[vrrp_script]]: a tracked command whose result changes
// the priority of the instances that list it in track_script.
type VRRPScript struct {
	Name     string   `toml:"name"`
	Script   string   `toml:"script"`
	Interval Duration `toml:"interval"`
	Timeout  Duration `toml:"timeout"`
	// Weight 0 means a failing script puts the instance into FAULT;
	// otherwise it is added to the priority while the script fails (keepalived
	// semantics for a negative weight) or while it succeeds (positive).
	Weight int `toml:"weight"`
	Rise   int `toml:"rise"`
	Fall   int `toml:"fall"`
	// InitFail starts the script as failing (keepalived's init_fail): the instances
	// that track it take the failure's weight, or FAULT, until it has passed rise times.
	InitFail bool `toml:"init_fail"`
}

// TrackFile is one [[vrrp_track_file]] (keepalived's vrrp_track_file): a file holding a
// number, so an operator (or a tool) can move the priority — and force a failover —
// without stopping the daemon. The number times Weight, kept within -254..253, is added
// to the priority, and -254 means FAULT; with Weight 0 any non-zero number means FAULT
// (keepalived's semantics). A missing or unreadable file counts as 0.
type TrackFile struct {
	Name   string `toml:"name"`
	File   string `toml:"file"`
	Weight int    `toml:"weight"`
}

// Instance is one [[vrrp_instance]].
type Instance struct {
	Name            string   `toml:"name"`
	Interface       string   `toml:"interface"`
	VirtualRouterID int      `toml:"virtual_router_id"`
	Version         int      `toml:"version"`
	Priority        int      `toml:"priority"`
	AdvertInt       Duration `toml:"advert_int"`
	NoPreempt       bool     `toml:"nopreempt"`
	PreemptDelay    Duration `toml:"preempt_delay"`
	Accept          bool     `toml:"accept"`
	// UnicastSrcIP is the zero Addr when not set.
	UnicastSrcIP netip.Addr `toml:"unicast_src_ip"`
	// UnicastPeer empty means multicast adverts.
	UnicastPeer []netip.Addr `toml:"unicast_peer"`
	AuthPass    string       `toml:"auth_pass"`
	UseVMAC     bool         `toml:"use_vmac"`
	// VMACName is the name of the use_vmac macvlan as written (keepalived's use_vmac
	// NAME); empty means DefaultVMACName. VMAC returns the name in force.
	VMACName string `toml:"vmac_name"`
	// NARouter is the Router flag of the IPv6 VIPs' neighbour advertisements: "auto"
	// (default: set when the interface forwards, net.ipv6.conf.IF.forwarding=1, as the
	// kernel does for its own addresses), "on" or "off". With use_vmac the vmac's
	// forwarding follows, so the kernel's solicited NAs from it agree.
	NARouter string `toml:"na_router"`
	// OldUnicastChecksum is the compatibility key for keepalived's old_unicast_checksum
	// (VRRPv3 unicast adverts checksummed as if sent to 224.0.0.18): "reject" (default,
	// RFC 5798: dropped and counted), "accept" (accepted from peers), "send" (also sent in
	// that form, for peers that only understand it).
	OldUnicastChecksum string `toml:"old_unicast_checksum"`
	// VirtualIPAddress keeps the address bits as written (192.0.2.100/24 is
	// the address 192.0.2.100 with a /24 on-link route, not the network).
	VirtualIPAddress      []netip.Prefix `toml:"virtual_ipaddress"`
	VirtualIPAddressLabel string         `toml:"virtual_ipaddress_label"`
	// VirtualAddress are addresses that follow the master with options of their own
	// (keepalived's virtual_ipaddress "dev" and "label"); only those on the instance's
	// interface, of its family and not excluded are listed in adverts, as keepalived does.
	VirtualAddress []VirtualAddress `toml:"virtual_address"`
	// VirtualIPAddressExcluded follow the master on the instance's interface but are never
	// in adverts, so they may be of the other family (announced by GARP or NA).
	VirtualIPAddressExcluded []netip.Prefix `toml:"virtual_ipaddress_excluded"`
	// VirtualRoutes are held by the master only: added after the addresses, removed
	// before them.
	VirtualRoutes []VirtualRoute `toml:"virtual_routes"`
	// VirtualRules are policy-routing rules held by the master only, added after the
	// routes and removed before them.
	VirtualRules   []VirtualRule    `toml:"virtual_rules"`
	TrackInterface []TrackInterface `toml:"track_interface"`
	TrackScript    []TrackRef       `toml:"track_script"`
	TrackFile      []TrackRef       `toml:"track_file"`
	NotifyMaster   string           `toml:"notify_master"`
	NotifyBackup   string           `toml:"notify_backup"`
	NotifyFault    string           `toml:"notify_fault"`
	NotifyStop     string           `toml:"notify_stop"`
	Notify         string           `toml:"notify"`
	// The GARP settings are resolved during Load: the instance's own value if
	// it sets the key, the [global] value otherwise.
	GARPMasterDelay   Duration `toml:"garp_master_delay"`
	GARPMasterRepeat  int      `toml:"garp_master_repeat"`
	GARPMasterRefresh Duration `toml:"garp_master_refresh"`
}

// Family reports the address family of the instance's virtual addresses:
// 4, 6, or 0 when there are none (which validation rejects).
func (in Instance) Family() int {
	for _, p := range in.VirtualIPAddress {
		if p.IsValid() {
			return family(p.Addr())
		}
	}
	return 0
}

// VMAC is the name of the instance's use_vmac macvlan: vmac_name, or DefaultVMACName
// for its interface, VRID and family; "" without use_vmac.
func (in Instance) VMAC() string {
	switch {
	case !in.UseVMAC:
		return ""
	case in.VMACName != "":
		return in.VMACName
	}
	return DefaultVMACName(in.Interface, in.VirtualRouterID, in.Family() == 6)
}

// DefaultVMACName is the macvlan name of an instance with use_vmac and no vmac_name:
// "vr<VRID>.<parent>" for IPv4, "vr6.<VRID>.<parent>" for IPv6, so instances with the
// same VRID on different interfaces (legal: a VRID is per LAN) and of the two families
// get different names. A name longer than the kernel's 15 bytes keeps the prefix and
// as much of the parent's name as fits with four hex digits of a hash of the whole
// parent name after it, so it stays deterministic across nodes and restarts.
func DefaultVMACName(parent string, vrid int, ipv6 bool) string {
	prefix := fmt.Sprintf("vr%d.", vrid)
	if ipv6 {
		prefix = fmt.Sprintf("vr6.%d.", vrid)
	}
	if len(prefix)+len(parent) <= maxIfName {
		return prefix + parent
	}
	h := fnv.New32a()
	h.Write([]byte(parent))
	sum := h.Sum32()
	return fmt.Sprintf("%s%s%04x", prefix, parent[:maxIfName-len(prefix)-4], uint16(sum^sum>>16))
}

// maxIfName is the kernel's limit for interface names (IFNAMSIZ less the NUL).
const maxIfName = 15

// TrackInterface is one element of track_interface.
type TrackInterface struct {
	Name string `toml:"name"`
	// Weight 0 means the interface going down puts the instance into FAULT.
	Weight int `toml:"weight"`
	// Reverse is keepalived's "weight N reverse": the weight counts negated under the
	// same condition (a positive one is subtracted while the link is up, a negative
	// one added while it is down), and with weight 0 the link being up means FAULT.
	Reverse bool `toml:"reverse"`
}

// TrackRef is one element of track_script or track_file: the name of a [[vrrp_script]]
// or [[vrrp_track_file]], written as a plain string or as an inline table with the
// instance's own weight and reverse (keepalived's "NAME weight N [reverse]").
type TrackRef struct {
	Name string `toml:"name"`
	// Weight, when set, replaces the script's or file's own weight for this instance.
	Weight *int `toml:"weight"`
	// Reverse negates the weight, as on track_interface; for a file of weight 0 it
	// means FAULT while the file holds 0.
	Reverse bool `toml:"reverse"`
}

// WeightOr is the weight in force: the instance's own, else own (the script's or file's).
func (r TrackRef) WeightOr(own int) int {
	if r.Weight != nil {
		return *r.Weight
	}
	return own
}

// VirtualAddress is one virtual_address entry.
type VirtualAddress struct {
	Address netip.Prefix `toml:"address"`
	// Dev is the interface that holds the address; "" is the instance's (or its vmac).
	Dev string `toml:"dev"`
	// Label is the IPv4 address label; it must begin with the interface name.
	Label string `toml:"label"`
	// Scope is the address scope: global (default), site, link, host or nowhere.
	Scope string `toml:"scope"`
	// Broadcast is the IPv4 broadcast address (keepalived's brd); none when unset.
	Broadcast netip.Addr `toml:"broadcast"`
	// Excluded keeps the address out of adverts (keepalived's virtual_ipaddress_excluded).
	Excluded bool `toml:"excluded"`
}

// VirtualRoute is one virtual_routes entry (keepalived's virtual_routes line).
type VirtualRoute struct {
	To  netip.Prefix `toml:"to"`
	Via netip.Addr   `toml:"via"`
	Src netip.Addr   `toml:"src"`
	Dev string       `toml:"dev"`
	// Table 0 is the main table.
	Table  int `toml:"table"`
	Metric int `toml:"metric"`
	// Type is unicast (default), blackhole, unreachable or prohibit.
	Type string `toml:"type"`
}

// VirtualRule is one virtual_rules entry: traffic that matches looks up table.
type VirtualRule struct {
	From     netip.Prefix `toml:"from"`
	To       netip.Prefix `toml:"to"`
	IIF      string       `toml:"iif"`
	OIF      string       `toml:"oif"`
	Fwmark   int          `toml:"fwmark"`
	Priority int          `toml:"priority"`
	Table    int          `toml:"table"`
}

// Advertised reports whether adverts of in list a.
func (in Instance) Advertised(a VirtualAddress) bool {
	return !a.Excluded && (a.Dev == "" || a.Dev == in.Interface) && a.Address.IsValid() && family(a.Address.Addr()) == in.Family()
}

// SyncGroup is one [[vrrp_sync_group]]: instances that change state together.
type SyncGroup struct {
	Name  string   `toml:"name"`
	Group []string `toml:"group"`
	// The group's trackers apply to every member, as keepalived's sync group
	// track_interface / track_script / track_file do: one failing moves them all.
	// A member must not track the same name itself.
	TrackInterface []TrackInterface `toml:"track_interface"`
	TrackScript    []TrackRef       `toml:"track_script"`
	TrackFile      []TrackRef       `toml:"track_file"`
	NotifyMaster   string           `toml:"notify_master"`
	NotifyBackup   string           `toml:"notify_backup"`
	NotifyFault    string           `toml:"notify_fault"`
	NotifyStop     string           `toml:"notify_stop"`
	Notify         string           `toml:"notify"`
}

// LVS is the [lvs] table: settings for the IPVS table as a whole.
type LVS struct {
	// Zero timeouts leave the kernel's values alone.
	TimeoutTCP        Duration `toml:"timeout_tcp"`
	TimeoutTCPFin     Duration `toml:"timeout_tcpfin"`
	TimeoutUDP        Duration `toml:"timeout_udp"`
	OnBackup          string   `toml:"on_backup"`
	ReconcileInterval Duration `toml:"reconcile_interval"`
	// The director's kernel settings, applied by the master: auto (derived from the
	// configuration; see lvs.SysctlsFor), on, off, or keep (never touched).
	SysctlIPForward               string `toml:"sysctl_ip_forward"`
	SysctlExpireNodestConn        string `toml:"sysctl_expire_nodest_conn"`
	SysctlExpireQuiescentTemplate string `toml:"sysctl_expire_quiescent_template"`
	SysctlConntrack               string `toml:"sysctl_conntrack"`
	// net.ipv4.vs.sloppy_tcp / sloppy_sctp: auto leaves them alone (the kernel's 0).
	SysctlSloppyTCP  string `toml:"sysctl_sloppy_tcp"`
	SysctlSloppySCTP string `toml:"sysctl_sloppy_sctp"`
	// SyncDaemon is nil without an [lvs.sync_daemon] table: no connection sync.
	SyncDaemon *SyncDaemon `toml:"sync_daemon"`
}

// SyncDaemon is the [lvs.sync_daemon] table (keepalived's lvs_sync_daemon): the kernel's
// IPVS connection-sync daemons, master daemon on the master of Instance and backup daemon
// on its backup.
type SyncDaemon struct {
	Interface string `toml:"interface"`
	// Instance is the VRRP instance whose state the daemons follow; resolved during Load
	// to the only instance when the file has one and does not set it.
	Instance string `toml:"instance"`
	// SyncID is resolved during Load to the instance's VRID when not set.
	SyncID int `toml:"sync_id"`
	// MaxLen is the UDP payload of a sync message; 0 lets the kernel derive it from the
	// interface's MTU.
	MaxLen int `toml:"max_len"`
	// Group is the zero Addr for the kernel's 224.0.0.81.
	Group netip.Addr `toml:"group"`
	Port  int        `toml:"port"`
	TTL   int        `toml:"ttl"`
	// PreemptWait holds off preemption by the followed instance after start-up until the
	// backup daemon has run this long (the instance's preempt_delay, if longer, wins).
	PreemptWait Duration `toml:"preempt_wait"`
}

// VirtualServer is one [[virtual_server]]: an IPVS service. Exactly one of
// Address and FWMark is set.
type VirtualServer struct {
	Address        netip.AddrPort `toml:"address"`
	FWMark         int            `toml:"fwmark,omitzero"`
	Protocol       string         `toml:"protocol"`
	Scheduler      string         `toml:"scheduler"`
	SchedulerFlags []string       `toml:"scheduler_flags"`
	Forwarding     string         `toml:"forwarding"`
	// PersistenceTimeout zero means not persistent.
	PersistenceTimeout Duration `toml:"persistence_timeout"`
	// PersistenceNetmask is an IPv4 netmask such as 255.255.255.0, or the
	// zero Addr for the kernel's default (a single client address).
	PersistenceNetmask netip.Addr     `toml:"persistence_netmask"`
	OnePacket          bool           `toml:"one_packet"`
	SorryServer        netip.AddrPort `toml:"sorry_server"`
	InhibitOnFailure   bool           `toml:"inhibit_on_failure"`
	Quorum             int            `toml:"quorum"`
	Hysteresis         int            `toml:"hysteresis"`
	// QuorumUp and QuorumDown are hooks run when the service gains or loses quorum
	// (keepalived's quorum_up and quorum_down), in order with the other hooks.
	QuorumUp   string `toml:"quorum_up"`
	QuorumDown string `toml:"quorum_down"`
	// Alpha starts every checked real server down: it needs rise passing checks first
	// (keepalived's alpha). Omega runs quorum_down at shutdown while quorum is up
	// (keepalived's omega).
	Alpha bool `toml:"alpha"`
	Omega bool `toml:"omega"`
	// Check is the default check of the real servers, nil when there is none.
	Check       *Check       `toml:"check"`
	RealServers []RealServer `toml:"real_server"`
}

// String names the service the way operators and error messages do:
// "192.0.2.100:80" or "fwmark 7".
func (vs VirtualServer) String() string {
	if !vs.Address.IsValid() {
		return fmt.Sprintf("fwmark %d", vs.FWMark)
	}
	return vs.Address.String()
}

// RealServer is one [[virtual_server.real_server]].
type RealServer struct {
	Address netip.AddrPort `toml:"address"`
	Weight  int            `toml:"weight"`
	// Forwarding is resolved during Load to the virtual server's when empty.
	Forwarding     string `toml:"forwarding"`
	UpperThreshold int    `toml:"upper_threshold"`
	LowerThreshold int    `toml:"lower_threshold"`
	NotifyUp       string `toml:"notify_up"`
	NotifyDown     string `toml:"notify_down"`
	// Check is the effective health check after Load (see the package doc);
	// nil means the real server is always considered healthy.
	Check *Check `toml:"check"`
	// Checks are further checks ([[virtual_server.real_server.checks]]), each complete
	// in itself (nothing is inherited from the virtual server's check). The real server
	// is up only while Check and every one of Checks pass.
	Checks []Check `toml:"checks"`
}

// AllChecks lists the real server's checks: Check, if any, then Checks. A check's index
// here names it in health-check IDs, status and metrics.
func (rs *RealServer) AllChecks() []*Check {
	var out []*Check
	if rs.Check != nil {
		out = append(out, rs.Check)
	}
	for i := range rs.Checks {
		out = append(out, &rs.Checks[i])
	}
	return out
}

// Check is a health check of a real server.
type Check struct {
	Type         string     `toml:"type"`
	Method       string     `toml:"method"`
	Path         string     `toml:"path"`
	Host         string     `toml:"host"`
	ExpectStatus []int      `toml:"expect_status"`
	ExpectBody   string     `toml:"expect_body"`
	TLSVerify    bool       `toml:"tls_verify"`
	SNI          string     `toml:"sni"`
	ConnectPort  int        `toml:"connect_port"`
	BindTo       netip.Addr `toml:"bind_to"`
	Command      string     `toml:"command"`
	Interval     Duration   `toml:"interval"`
	Timeout      Duration   `toml:"timeout"`
	Rise         int        `toml:"rise"`
	Fall         int        `toml:"fall"`
	// DelayBeforeRetry spaces the retries after a failure of an up real server
	// (keepalived's delay_before_retry); 0: no extra checks.
	DelayBeforeRetry Duration `toml:"delay_before_retry"`
	// Warmup, when set, bounds the delay of the first check (keepalived's warmup);
	// otherwise first checks are spread over the interval.
	Warmup Duration `toml:"warmup"`
	// udp: Payload is keepalived's hex (spaces allowed), PayloadText the same as text;
	// at most one is set, neither sends keepalived's default datagram. Reply is the hex
	// a reply must start with (x: any nibble), bounded by the reply lengths.
	Payload        string `toml:"payload"`
	PayloadText    string `toml:"payload_text"`
	RequireReply   bool   `toml:"require_reply"`
	Reply          string `toml:"reply"`
	MinReplyLength int    `toml:"min_reply_length"`
	MaxReplyLength int    `toml:"max_reply_length"`
	// dns: keepalived's DNS_CHECK type and name (type is taken by the check's type).
	DNSType       string     `toml:"dns_type"`
	DNSName       string     `toml:"dns_name"`
	ExpectAddress netip.Addr `toml:"expect_address"`
	// smtp: HELO's argument; TLS at once (SMTPS) or STARTTLS after the greeting.
	HeloName string `toml:"helo_name"`
	TLS      bool   `toml:"tls"`
	StartTLS bool   `toml:"starttls"`
	// http(s): URLs are keepalived's url blocks; with any, path, expect_status and
	// expect_body of the check are not used: each URL says its own.
	URLs []URL `toml:"url"`
	// file: keepalived's FILE_CHECK: the number in File is a state (Weight 0) or, times
	// Weight (negated with Reverse), an offset to the real server's weight.
	File    string `toml:"file"`
	Weight  int    `toml:"weight"`
	Reverse bool   `toml:"reverse"`
	// exec: MiscDynamic makes the exit code set the weight (keepalived's misc_dynamic).
	MiscDynamic bool `toml:"misc_dynamic"`
}

// URL is one [[...check.url]] of an http(s) check (keepalived's url block); a check
// with URLs passes only when every one passes.
type URL struct {
	Path         string `toml:"path"`
	ExpectStatus []int  `toml:"expect_status"`
	// Digest is the MD5 of the whole body in hex, as keepalived's genhash prints it.
	Digest string `toml:"digest"`
	// Regex must match the body or, with RegexNoMatch, must not.
	Regex        string `toml:"regex"`
	RegexNoMatch bool   `toml:"regex_no_match"`
	// Virtualhost is the Host header of this URL; "" is the check's host.
	Virtualhost string `toml:"virtualhost"`
}

// Load reads and parses the configuration file at path. Problems in the file
// are reported as *Errors; failing to read it is an ordinary error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Mode is how a node runs its virtual servers, decided by the configuration alone.
type Mode string

const (
	// ModeVRRP: at least one vrrp_instance. A virtual server whose address is one of an
	// instance's VIPs is programmed while that instance is master; any other (a firewall
	// mark, an address no instance holds) while any instance is master.
	ModeVRRP Mode = "vrrp"
	// ModeStandalone: virtual servers and no vrrp_instance — one director and no HA, the
	// set-up of an ipvsadm script with a check loop beside it. Every virtual server is
	// programmed from the start and kept checked, as keepalived's checker does without a
	// VRRP instance; the VIPs are the host's own addresses (nothing adds them).
	ModeStandalone Mode = "standalone"
	// ModeEmpty: neither; there is nothing to run. Parse accepts such a file (an empty
	// keepalived.conf imports to one), but `check`, `run` and a reload refuse it: an empty
	// or truncated file is a mistake, and a reload to it would drop every VIP and service.
	ModeEmpty Mode = "empty"
)

// Describe says in a few words what the mode means, for `check` and the start-up log.
func (m Mode) Describe() string {
	switch m {
	case ModeVRRP:
		return "each virtual server is programmed while the instance holding its address is master"
	case ModeStandalone:
		return "no vrrp_instance: every virtual server is programmed from the start and kept checked"
	}
	return ErrNothingToRun.Error()
}

// Mode reports how this configuration runs (see [Mode]).
func (c *Config) Mode() Mode {
	switch {
	case len(c.Instances) > 0:
		return ModeVRRP
	case len(c.VirtualServers) > 0 || c.BGP != nil && len(c.BGP.VIPs) > 0:
		return ModeStandalone
	}
	return ModeEmpty
}

// ErrNothingToRun is what `check`, `run` and a reload return for a configuration in
// [ModeEmpty].
var ErrNothingToRun = errors.New("nothing to run: no [[vrrp_instance]] and no [[virtual_server]]")

// Runnable returns ErrNothingToRun, naming the file, for a configuration with nothing to
// run, and nil otherwise.
func (c *Config) Runnable(path string) error {
	if c.Mode() == ModeEmpty {
		return fmt.Errorf("%s: %w", path, ErrNothingToRun)
	}
	return nil
}

// Summary describes the configuration in one line for logs and `check`.
func (c *Config) Summary() string {
	rs := 0
	for _, vs := range c.VirtualServers {
		rs += len(vs.RealServers)
	}
	return strings.Join([]string{
		plural(len(c.Instances), "vrrp instance", "vrrp instances"),
		plural(len(c.SyncGroups), "sync group", "sync groups"),
		plural(len(c.VirtualServers), "virtual server", "virtual servers"),
		plural(rs, "real server", "real servers"),
	}, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func family(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	if a.Is6() {
		return 6
	}
	return 0
}

// Hook is one command line of the configuration that hadirector will run.
type Hook struct {
	Where string // e.g. `vrrp_instance "VI_1" notify_master`
	Cmd   string
}

// Hooks lists every non-empty command line: notify hooks of instances, sync groups and
// real servers, vrrp_script scripts and exec checks. Used to check them all the same way.
func (c *Config) Hooks() []Hook {
	var out []Hook
	add := func(where, cmd string) {
		if cmd != "" {
			out = append(out, Hook{where, cmd})
		}
	}
	for _, in := range c.Instances {
		w := fmt.Sprintf("vrrp_instance %q ", in.Name)
		add(w+"notify_master", in.NotifyMaster)
		add(w+"notify_backup", in.NotifyBackup)
		add(w+"notify_fault", in.NotifyFault)
		add(w+"notify_stop", in.NotifyStop)
		add(w+"notify", in.Notify)
	}
	for _, g := range c.SyncGroups {
		w := fmt.Sprintf("vrrp_sync_group %q ", g.Name)
		add(w+"notify_master", g.NotifyMaster)
		add(w+"notify_backup", g.NotifyBackup)
		add(w+"notify_fault", g.NotifyFault)
		add(w+"notify_stop", g.NotifyStop)
		add(w+"notify", g.Notify)
	}
	for _, s := range c.Scripts {
		add(fmt.Sprintf("vrrp_script %q script", s.Name), s.Script)
	}
	for _, vs := range c.VirtualServers {
		add(fmt.Sprintf("virtual_server %q quorum_up", vs.String()), vs.QuorumUp)
		add(fmt.Sprintf("virtual_server %q quorum_down", vs.String()), vs.QuorumDown)
		for _, rs := range vs.RealServers {
			w := fmt.Sprintf("virtual_server %q real_server %q ", vs.String(), rs.Address)
			add(w+"notify_up", rs.NotifyUp)
			add(w+"notify_down", rs.NotifyDown)
			for _, c := range rs.AllChecks() {
				if c.Type == "exec" {
					add(w+"check.command", c.Command)
				}
			}
		}
	}
	if c.BGP != nil {
		for _, v := range c.BGP.VIPs {
			add(fmt.Sprintf("bgp.vip %q notify_announce", v.Prefix), v.NotifyAnnounce)
			add(fmt.Sprintf("bgp.vip %q notify_withdraw", v.Prefix), v.NotifyWithdraw)
		}
	}
	return out
}
