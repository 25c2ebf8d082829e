package kaimport

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hadirector/hadirector/config"
)

type translator struct {
	opt *Options
	rd  *reader

	warnings []Warning
	notes    []Note

	global *table
	lvs    *table
	syncd  *table // [lvs.sync_daemon], from the first of syncds when it can stand

	// defaultVersion is global_defs vrrp_version (0 when not set).
	defaultVersion int
	// scriptSecurity records that global_defs enabled script security.
	scriptSecurity bool

	scripts   []*script
	files     []*trackFile
	instances []*instance
	groups    []*syncGroup
	vsGroups  map[string]*vsGroup
	vservers  []*vserver

	// syncds are the lvs_sync_daemon lines (global_defs) and
	// lvs_sync_daemon_interface lines (vrrp_instance); keepalived keeps the
	// first it reads.
	syncds []*syncDaemon
	// top is the index of the top-level block being translated, for syncds'
	// reading order.
	top int

	// cfg holds the elements kept so far, as config sees them, and ck checks the
	// next one against them (check.go); places says where each came from, by the
	// indexed path config names it with.
	cfg    *config.Config
	ck     *config.Checker
	places map[string]string
}

func newTranslator(opt *Options, rd *reader) *translator {
	t := &translator{
		opt:      opt,
		rd:       rd,
		warnings: slices.Clone(rd.warnings),
		global:   &table{header: "[global]"},
		lvs:      &table{header: "[lvs]"},
		syncd:    &table{header: "[lvs.sync_daemon]"},
		vsGroups: map[string]*vsGroup{},
		cfg:      &config.Config{},
		places:   map[string]string{},
	}
	t.ck = config.NewChecker(t.cfg, t.place)
	return t
}

// warn reports a keyword (or element) that is not translated.
func (t *translator) warn(n *node, ctx, format string, args ...any) {
	t.warnKeyword(n, ctx, n.keyword(), format, args...)
}

func (t *translator) warnKeyword(n *node, ctx, keyword, format string, args ...any) {
	t.warnings = append(t.warnings, Warning{File: n.File, Line: n.Line, Context: ctx, Keyword: keyword, Reason: fmt.Sprintf(format, args...)})
}

// note records an approximation and returns the comment that goes with it.
func (t *translator) note(n *node, ctx, format string, args ...any) string {
	text := fmt.Sprintf(format, args...)
	t.notes = append(t.notes, Note{File: n.File, Line: n.Line, Context: ctx, Text: text})
	return "approximate: " + text
}

// unsupported reports a keyword hadirector has no equivalent for.
func (t *translator) unsupported(n *node, ctx string) {
	t.warn(n, ctx, "%s", reason(n.keyword()))
}

// leafKeywords are the keywords the importer translates that take a value,
// not a { } block.
var leafKeywords = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`router_id notify_fifo script_user enable_script_security
		vrrp_garp_master_delay vrrp_garp_master_repeat vrrp_garp_master_refresh vrrp_min_garp
		vrrp_rt_priority vrrp_no_swap vrrp_version lvs_timeouts lvs_sync_daemon
		script interval timeout weight rise fall
		state interface virtual_router_id priority advert_int version nopreempt preempt
		preempt_delay accept no_accept mcast_src_ip unicast_src_ip use_vmac
		notify_master notify_backup notify_fault notify_stop notify
		garp_master_delay garp_master_refresh garp_master_repeat old_unicast_checksum
		auth_type auth_pass sync_group_tracking_weight global_tracking
		lb_algo lvs_sched lb_kind lvs_method persistence_timeout persistence_granularity protocol
		ops sh-port sh-fallback mh-port mh-fallback flag-1 flag-2 flag-3 virtualhost quorum
		hysteresis sorry_server inhibit_on_failure delay_loop connect_timeout delay_before_retry
		retry nb_get_retry notify_up notify_down uthreshold lthreshold connect_port bindto
		bind_to connect_ip http_protocol enable_sni misc_path misc_timeout path status_code regex
		file init_file lvs_sync_daemon_interface alpha omega quorum_up quorum_down warmup digest
		regex_no_match misc_dynamic helo_name payload require_reply min_reply_length
		max_reply_length name type`) {
		leafKeywords[k] = true
	}
}

// valueBlock reports a { } block after a line of a value block (an address
// of virtual_ipaddress, an interface of track_interface, …).
func (t *translator) valueBlock(n *node, ctx string) {
	if n.Block {
		t.warnKeyword(n, ctx, "{", "unexpected { } block after %s: its contents are ignored", n.keyword())
	}
}

// leafBlock reports a { } block after a keyword that takes none: keepalived
// would read its contents as if the braces were not there, which is never
// what was meant.
func (t *translator) leafBlock(n *node, ctx string) {
	if n.Block && leafKeywords[n.keyword()] {
		t.warnKeyword(n, ctx, "{", "unexpected { } block after %s: its contents are ignored", n.keyword())
	}
}

// sortWarnings puts the warnings in file order (files as they were read,
// then lines) and drops repeats.
func (t *translator) sortWarnings() {
	order := map[string]int{}
	for i, f := range t.rd.files {
		if _, ok := order[f]; !ok {
			order[f] = i
		}
	}
	slices.SortStableFunc(t.warnings, func(a, b Warning) int {
		if c := order[a.File] - order[b.File]; c != 0 {
			return c
		}
		return a.Line - b.Line
	})
	// A virtual_server_group repeats its template's problems for every
	// virtual server it makes: report each once.
	t.warnings = unique(t.warnings)
	t.notes = unique(t.notes)
}

func unique[T comparable](list []T) []T {
	seen := map[T]bool{}
	out := list[:0]
	for _, v := range list {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func within(ctx, what string) string {
	if ctx == "" {
		return what
	}
	return ctx + " > " + what
}

// label names a block in warnings: its keyword and arguments.
func label(n *node) string { return strings.Join(n.Words, " ") }

func (t *translator) translate(nodes []*node) {
	// global_defs first: instances take their default VRRP version from it
	// wherever it is in the file, as keepalived does.
	for i, n := range nodes {
		if n.keyword() == "global_defs" {
			t.top = i
			t.globalDefs(n)
		}
	}
	for i, n := range nodes {
		t.top = i
		switch n.keyword() {
		case "global_defs":
		case "vrrp_script":
			t.vrrpScript(n)
		case "track_file", "vrrp_track_file":
			t.trackFileBlock(n)
		case "vrrp_instance":
			t.vrrpInstance(n)
		case "vrrp_sync_group":
			t.syncGroup(n)
		case "virtual_server_group":
			t.virtualServerGroup(n)
		case "virtual_server":
			t.virtualServer(n)
		default:
			t.unsupported(n, "")
		}
	}
	t.resolveVRRP()
	t.resolveLVS()
	t.resolveSyncDaemon()
}

// number reads the single integer argument of n in lo..hi.
func (t *translator) number(n *node, ctx string, lo, hi int) (int, bool) {
	v, ok := parseUint(n.arg(1), lo, hi)
	if !ok {
		t.warn(n, ctx, "%q is not a number in %d..%d", n.arg(1), lo, hi)
	}
	return v, ok
}

// signed reads the single signed integer argument of n in lo..hi.
func (t *translator) signed(n *node, ctx string, lo, hi int) (int, bool) {
	v, ok := parseInt(n.arg(1), lo, hi)
	if !ok {
		t.warn(n, ctx, "%q is not a number in %d..%d", n.arg(1), lo, hi)
	}
	return v, ok
}

// timer reads the single <TIMER> argument of n, at most max.
func (t *translator) timer(n *node, ctx string, max time.Duration) (time.Duration, bool) {
	d, ok := parseTimer(n.arg(1), max)
	if !ok {
		t.warn(n, ctx, "%q is not a number of seconds up to %s", n.arg(1), formatDuration(max))
	}
	return d, ok
}

// flag reads a keyword with an optional <BOOL> argument (default true).
func (t *translator) flag(n *node, ctx string) (bool, bool) {
	if len(n.Words) < 2 {
		return true, true
	}
	v, ok := parseBool(n.arg(1))
	if !ok {
		t.warn(n, ctx, "%q is not one of on, off, true, false, yes, no", n.arg(1))
	}
	return v, ok
}

// extra reports arguments after the ones a keyword takes.
func (t *translator) extra(n *node, ctx string, want int) {
	if len(n.Words) > want+1 {
		t.warnKeyword(n, ctx, n.keyword(), "extra words %q ignored", strings.Join(n.Words[want+1:], " "))
	}
}

// command turns the command line of a script keyword into a hadirector hook,
// or returns "" after reporting why it cannot; the second result is a comment
// for the output when the program was found by a PATH search. keepalived
// re-reads such lines with shell-like quoting: the first word after the
// keyword is the command line (split again into the program and its
// arguments); for notify scripts the next two words are the user and group to
// run it as.
func (t *translator) command(n *node, ctx string, userGroup bool) (string, string) {
	words, err := splitShell(n.Raw)
	if err != nil {
		t.warn(n, ctx, "the command line cannot be read: %v", err)
		return "", ""
	}
	if len(words) < 2 || strings.TrimSpace(words[1]) == "" {
		t.warn(n, ctx, "no command given")
		return "", ""
	}
	argv, err := splitShell(words[1])
	if err != nil || len(argv) == 0 {
		t.warn(n, ctx, "the command %q cannot be read", words[1])
		return "", ""
	}
	if rest := words[2:]; len(rest) > 0 {
		if userGroup {
			t.warn(n, ctx, "%q after the command is keepalived's user [group] to run it as, not arguments: hadirector runs every hook as [global] script_user (quote the whole command line if these were meant as arguments); the command is kept", strings.Join(rest, " "))
		} else {
			t.warn(n, ctx, "%q after the command is ignored by keepalived too: quote the whole command line to pass arguments", strings.Join(rest, " "))
		}
	}
	for _, a := range argv {
		if !validText(a) {
			t.warn(n, ctx, "the command %q has an argument that is not valid UTF-8 or holds a NUL byte", words[1])
			return "", ""
		}
	}
	prog := argv[0]
	comment := ""
	switch {
	case prog == "":
		t.warn(n, ctx, "the command %q names no program", words[1])
		return "", ""
	case filepath.IsAbs(prog):
	case strings.ContainsAny(prog[:1], "<>|&;($`") || strings.Contains(prog, "$("):
		t.warn(n, ctx, "%q is shell syntax: keepalived 2 runs scripts without a shell too (write /bin/sh -c '...' if one is needed)", words[1])
		return "", ""
	case strings.Contains(prog, "/"):
		t.warn(n, ctx, "program %q is a relative path: hadirector needs an absolute one", prog)
		return "", ""
	default:
		if t.opt.LookPath == nil {
			t.warn(n, ctx, "program %q has no directory: hadirector runs hooks without $PATH; write its absolute path", prog)
			return "", ""
		}
		p, err := t.opt.LookPath(prog)
		if err != nil || !filepath.IsAbs(p) || !validText(p) {
			t.warn(n, ctx, "program %q has no directory and was not found in PATH: write its absolute path", prog)
			return "", ""
		}
		argv = append([]string{p}, argv[1:]...)
		comment = fmt.Sprintf("keepalived finds %s by searching its PATH; resolved on the importing host", prog)
	}
	return joinCommand(argv), comment
}

// reasons explains, for the keywords people use most, why they have no
// equivalent; any other keyword gets the generic reason.
var reasons = map[string]string{
	// global_defs
	"notification_email":              "hadirector sends no e-mail: use notify hooks",
	"notification_email_from":         "hadirector sends no e-mail: use notify hooks",
	"smtp_server":                     "hadirector sends no e-mail: use notify hooks",
	"smtp_connect_timeout":            "hadirector sends no e-mail: use notify hooks",
	"smtp_helo_name":                  "hadirector sends no e-mail: use notify hooks",
	"smtp_alert":                      "hadirector sends no e-mail: use notify hooks",
	"smtp_alert_vrrp":                 "hadirector sends no e-mail: use notify hooks",
	"smtp_alert_checker":              "hadirector sends no e-mail: use notify hooks",
	"no_email_faults":                 "hadirector sends no e-mail: use notify hooks",
	"enable_snmp_vrrp":                "hadirector has no SNMP agent: see metrics_listen",
	"enable_snmp_checker":             "hadirector has no SNMP agent: see metrics_listen",
	"enable_snmp_rfc":                 "hadirector has no SNMP agent: see metrics_listen",
	"enable_snmp_rfcv2":               "hadirector has no SNMP agent: see metrics_listen",
	"enable_snmp_rfcv3":               "hadirector has no SNMP agent: see metrics_listen",
	"enable_traps":                    "hadirector has no SNMP agent: see metrics_listen",
	"snmp_socket":                     "hadirector has no SNMP agent: see metrics_listen",
	"enable_dbus":                     "hadirector has no D-Bus interface: see status_socket",
	"vrrp_strict":                     "hadirector follows the RFCs by default; strict mode's extra refusals have no switch, and its no_accept default is not supported (the master always accepts traffic for its VIPs)",
	"vrrp_iptables":                   "hadirector installs no firewall rules (no_accept is not supported)",
	"nftables":                        "hadirector installs no firewall rules (no_accept is not supported)",
	"vrrp_ipsets":                     "hadirector installs no firewall rules (no_accept is not supported)",
	"lvs_sync_daemon":                 "keepalived reads lvs_sync_daemon in global_defs only",
	"lvs_flush":                       "hadirector never flushes the IPVS table: it only touches the services it configures",
	"lvs_flush_on_stop":               "hadirector removes only the services it configures",
	"vrrp_mcast_group4":               "hadirector always uses 224.0.0.18",
	"vrrp_mcast_group6":               "hadirector always uses ff02::12",
	"vrrp_notify_fifo":                "hadirector has one notify_fifo for every event: set notify_fifo",
	"lvs_notify_fifo":                 "hadirector has one notify_fifo for every event: set notify_fifo",
	"notify_fifo_script":              "hadirector runs no FIFO reader script: start the reader separately",
	"vrrp_notify_fifo_script":         "hadirector runs no FIFO reader script: start the reader separately",
	"lvs_notify_fifo_script":          "hadirector runs no FIFO reader script: start the reader separately",
	"checker_rt_priority":             "hadirector is one process: realtime_priority covers it",
	"checker_no_swap":                 "hadirector is one process: lock_memory covers it",
	"vrrp_priority":                   "hadirector sets no nice value: use the systemd unit's Nice=",
	"checker_priority":                "hadirector sets no nice value: use the systemd unit's Nice=",
	"vrrp_cpu_affinity":               "use the systemd unit's CPUAffinity=",
	"checker_cpu_affinity":            "use the systemd unit's CPUAffinity=",
	"vrrp_garp_interval":              "hadirector sends each burst at once",
	"vrrp_gna_interval":               "hadirector sends each burst at once",
	"vrrp_garp_lower_prio_delay":      "hadirector answers a lower-priority advert with an advert and one burst",
	"vrrp_garp_lower_prio_repeat":     "hadirector answers a lower-priority advert with an advert and one burst",
	"vrrp_garp_master_refresh_repeat": "a refresh sends garp_master_repeat messages",
	"vrrp_skip_check_adv_addr":        "hadirector always compares the address list (a difference is logged, not dropped)",
	"vrrp_check_unicast_src":          "hadirector always checks that unicast adverts come from a listed peer",
	"dynamic_interfaces":              "hadirector follows interfaces through netlink",
	"default_interface":               "hadirector has no static addresses",
	// blocks and top-level keywords
	"static_ipaddress":         "hadirector manages no static addresses: configure them with the system's network tools",
	"static_routes":            "hadirector manages no routes: configure them with the system's network tools",
	"static_rules":             "hadirector manages no rules: configure them with the system's network tools",
	"track_process":            "hadirector has no process tracking: use a vrrp_script (e.g. /usr/bin/pgrep -x NAME)",
	"vrrp_track_process":       "hadirector has no process tracking: use a vrrp_script (e.g. /usr/bin/pgrep -x NAME)",
	"track_bfd":                "hadirector has no BFD",
	"bfd_instance":             "hadirector has no BFD",
	"BFD_CHECK":                "hadirector has no BFD",
	"linkbeat_interfaces":      "hadirector follows link state through netlink",
	"linkbeat_use_polling":     "hadirector follows link state through netlink",
	"garp_group":               "hadirector sends each burst at once",
	"track_group":              "hadirector manages no static addresses",
	"net_namespace":            "run hadirector in the namespace instead (ip netns exec, or the unit's NetworkNamespacePath=)",
	"net_namespace_ipvs":       "hadirector programs IPVS in its own namespace",
	"instance":                 "name the configuration file and status_socket per instance instead",
	"use_pid_dir":              "hadirector writes no pid file (systemd tracks it)",
	"interface_up_down_delays": "hadirector reacts to link changes at once",
	"SSL":                      "hadirector's HTTPS check presents no client certificate",
	// vrrp_instance
	"dont_track_primary":         "hadirector always tracks the instance's interface",
	"skip_check_adv_addr":        "hadirector always compares the address list (a difference is logged, not dropped)",
	"strict_mode":                "hadirector follows the RFCs by default; strict mode's extra refusals have no switch, and its no_accept default is not supported (the master always accepts traffic for its VIPs)",
	"mcast_dst_ip":               "hadirector always uses 224.0.0.18 / ff02::12",
	"unicast_ttl":                "hadirector sends adverts with TTL 255 as the RFCs require",
	"check_unicast_src":          "hadirector always checks that unicast adverts come from a listed peer",
	"track_src_ip":               "hadirector has no source-address tracking",
	"debug":                      "use global log_level",
	"native_ipv6":                "the virtual addresses decide the address family",
	"promote_secondaries":        "set net.ipv4.conf.<if>.promote_secondaries with sysctl",
	"use_vmac_addr":              "hadirector puts only the instance's VIPs on its virtual MAC interface",
	"vmac_xmit_base":             "hadirector sends multicast adverts from the virtual MAC interface, and unicast ones (as vmac_xmit_base does) from the interface itself",
	"use_ipvlan":                 "hadirector has no ipvlan mode (use_vmac is a macvlan)",
	"vrf":                        "hadirector has no VRF support",
	"down_timer_adverts":         "hadirector uses the RFC's Master_Down_Interval (3 adverts plus skew)",
	"lower_prio_no_advert":       "hadirector answers a lower-priority advert at once (split-brain repair)",
	"higher_prio_send_advert":    "hadirector does not advertise before yielding to a higher priority",
	"garp_lower_prio_delay":      "hadirector answers a lower-priority advert with an advert and one burst",
	"garp_lower_prio_repeat":     "hadirector answers a lower-priority advert with an advert and one burst",
	"garp_master_refresh_repeat": "a refresh sends garp_master_repeat messages",
	"garp_extra_if":              "hadirector announces VIPs on the instance's interface only",
	"notify_master_rx_lower_pri": "hadirector has no hook for a lower-priority advert",
	"notify_deleted":             "hadirector has no reload-deletion hook",
	"notify_priority_changes":    "hadirector writes state changes only to notify_fifo",
	"unicast_fault_no_peer":      "an instance without unicast_peer uses multicast",
	"kernel_rx_buf_size":         "hadirector keeps the kernel's socket buffer size",
	// virtual_server / real_server / checkers
	"ha_suspend":               "hadirector checks real servers on both nodes",
	"persistence_engine":       "hadirector sets no IPVS persistence engine",
	"snmp_name":                "hadirector has no SNMP agent",
	"sorry_server_inhibit":     "the sorry server is removed, not weighted 0, when real servers return",
	"sorry_server_lvs_method":  "the sorry server uses the virtual server's forwarding",
	"ip_family":                "the real servers' addresses decide the family of a fwmark service",
	"log_all_failures":         "hadirector logs check transitions only",
	"checker_log_all_failures": "hadirector logs check transitions only",
	"fast_recovery":            "hadirector requests a check's URLs one after the other",
	"http_protocol":            "hadirector's HTTP check speaks HTTP/1.1",
	"regex_options":            "hadirector's expect_body is a Go regexp without options",
	"regex_stack":              "hadirector's expect_body is a Go regexp without options",
	"regex_min_offset":         "hadirector's expect_body is matched against the whole body",
	"regex_max_offset":         "hadirector's expect_body is matched against the whole body",
	"connect_ip":               "hadirector checks the real server's own address",
	"bind_if":                  "hadirector binds checks by address only (bind_to)",
	"bind_port":                "hadirector picks the check's source port",
	"host":                     "hadirector's check connects to the real server only (use connect_port), not to other hosts",
	"user":                     "hadirector runs every hook as [global] script_user",
}

func reason(keyword string) string {
	if r := reasons[keyword]; r != "" {
		return r
	}
	return "no hadirector equivalent"
}

// globalDefs translates global_defs into [global] (and [lvs] for lvs_timeouts).
func (t *translator) globalDefs(n *node) {
	const ctx = "global_defs"
	g := t.global
	if g.source == "" {
		g.source = fmt.Sprintf("global_defs at %s:%d", n.File, n.Line)
	}
	for j, c := range n.Children {
		t.leafBlock(c, ctx)
		switch c.keyword() {
		case "router_id":
			if c.arg(1) == "" {
				t.warn(c, ctx, "no value")
				continue
			}
			t.extra(c, ctx, 1)
			g.set(config.Key(&globalT, &globalT.RouterID), tomlString(c.arg(1)))
		case "notify_fifo":
			p := c.arg(1)
			if !filepath.IsAbs(p) || !validText(p) {
				t.warn(c, ctx, "%q is not an absolute path", p)
				continue
			}
			if len(c.Words) > 2 {
				t.warnKeyword(c, ctx, c.keyword(), "user/group %q: hadirector creates the FIFO as itself (mode 0600)", strings.Join(c.Words[2:], " "))
			}
			g.set(config.Key(&globalT, &globalT.NotifyFIFO), tomlString(p))
		case "script_user":
			u := c.arg(1)
			if u == "" || !validText(u) {
				t.warn(c, ctx, "no user name")
				continue
			}
			if len(c.Words) > 2 {
				t.warnKeyword(c, ctx, c.keyword(), "group %q: hooks run with the user's own group", c.arg(2))
			}
			g.set(config.Key(&globalT, &globalT.ScriptUser), tomlString(u))
		case "enable_script_security":
			t.extra(c, ctx, 0)
			t.scriptSecurity = true
			g.set(config.Key(&globalT, &globalT.EnableScriptSecurity), "true")
		case "vrrp_garp_master_delay":
			if d, ok := t.timer(c, ctx, 255*time.Second); ok {
				g.set(config.Key(&globalT, &globalT.GARPMasterDelay), tomlDuration(d))
			}
		case "vrrp_garp_master_repeat":
			if v, ok := t.number(c, ctx, 0, 255); ok {
				if v == 0 {
					t.warn(c, ctx, "0: hadirector always sends at least one gratuitous ARP per VIP (it is what moves traffic); the default 5 is kept")
					continue
				}
				g.set(config.Key(&globalT, &globalT.GARPMasterRepeat), tomlInt(v))
			}
		case "vrrp_garp_master_refresh":
			if d, ok := t.timer(c, ctx, 24*time.Hour); ok {
				g.set(config.Key(&globalT, &globalT.GARPMasterRefresh), tomlDuration(d))
			}
		case "vrrp_min_garp":
			if v, ok := t.flag(c, ctx); ok && v {
				g.set(config.Key(&globalT, &globalT.GARPMasterRepeat), "1", "keepalived vrrp_min_garp: one gratuitous ARP per VIP, no second burst")
				g.set(config.Key(&globalT, &globalT.GARPMasterDelay), tomlDuration(0))
			}
		case "vrrp_rt_priority":
			if v, ok := t.number(c, ctx, 1, 99); ok {
				g.set(config.Key(&globalT, &globalT.RealtimePriority), tomlInt(v))
			}
		case "vrrp_no_swap":
			t.extra(c, ctx, 0)
			g.set(config.Key(&globalT, &globalT.LockMemory), "true")
		case "vrrp_version":
			if v, ok := t.number(c, ctx, 2, 3); ok {
				t.defaultVersion = v
			}
		case "lvs_timeouts":
			t.lvsTimeouts(c, ctx)
		case "lvs_sync_daemon":
			t.lvsSyncDaemon(c, ctx, j)
		default:
			t.unsupported(c, ctx)
		}
	}
}

// lvsTimeouts translates "lvs_timeouts [tcp SECS] [tcpfin SECS] [udp SECS]".
func (t *translator) lvsTimeouts(n *node, ctx string) {
	keys := map[string]string{"tcp": config.Key(&lvsT, &lvsT.TimeoutTCP), "tcpfin": config.Key(&lvsT, &lvsT.TimeoutTCPFin), "udp": config.Key(&lvsT, &lvsT.TimeoutUDP)}
	for i := 1; i < len(n.Words); i += 2 {
		key, ok := keys[n.Words[i]]
		if !ok || i+1 >= len(n.Words) {
			t.warnKeyword(n, ctx, n.keyword(), "%q is not tcp, tcpfin or udp followed by seconds", strings.Join(n.Words[i:], " "))
			return
		}
		secs, ok := parseUint(n.Words[i+1], 0, 86400*31) // 0 leaves the kernel's value, in both
		if !ok {
			t.warnKeyword(n, ctx, n.keyword(), "%s %q is not a number of seconds", n.Words[i], n.Words[i+1])
			continue
		}
		t.lvs.set(key, tomlDuration(time.Duration(secs)*time.Second))
	}
}
