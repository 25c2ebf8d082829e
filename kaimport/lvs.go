package kaimport

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hadirector/hadirector/config"
)

// keepalived's checker defaults (keepalived.conf(5), check_data.c).
const (
	defaultDelayLoop      = 60 * time.Second
	defaultConnectTimeout = 5 * time.Second
	defaultPersistence    = 360 * time.Second // persistence_timeout without a value
	maxGroupExpansion     = 256               // virtual servers one virtual_server_group may produce
	maxGroupTotal         = 4096              // and all of them together
)

// timing is the check timing a checker, real server or virtual server sets;
// unset values come from the enclosing level.
type timing struct {
	delayLoop      *time.Duration
	connectTimeout *time.Duration
	dbr            *time.Duration // delay_before_retry
	warmup         *time.Duration
	retry          *int
}

func (tm *timing) read(t *translator, c *node, ctx string) bool {
	switch c.keyword() {
	case "delay_loop":
		if d, ok := t.timer(c, ctx, 24*time.Hour); ok {
			if d == 0 {
				t.warn(c, ctx, "0 is not an interval: the enclosing or default value is used")
				return true
			}
			tm.delayLoop = &d
		}
	case "connect_timeout":
		if d, ok := t.timer(c, ctx, 24*time.Hour); ok {
			if d == 0 {
				t.warn(c, ctx, "0 is not a timeout: the enclosing or default value is used")
				return true
			}
			tm.connectTimeout = &d
		}
	case "delay_before_retry":
		if d, ok := t.timer(c, ctx, 24*time.Hour); ok {
			tm.dbr = &d
		}
	case "warmup":
		if d, ok := t.timer(c, ctx, 24*time.Hour); ok {
			tm.warmup = &d
		}
	case "retry", "nb_get_retry":
		if v, ok := t.number(c, ctx, 0, 1<<20); ok {
			tm.retry = &v
		}
	default:
		return false
	}
	return true
}

func firstDuration(def time.Duration, ds ...*time.Duration) time.Duration {
	for _, d := range ds {
		if d != nil {
			return *d
		}
	}
	return def
}

type sorryRef struct {
	node    *node
	addr    netip.Addr
	port    int
	hasPort bool
}

type vserver struct {
	node *node
	ctx  string

	addr       netip.Addr
	port       int
	fwmark     int
	groupName  string
	protocol   string
	scheduler  string
	schedNode  *node
	flags      []*node
	forwarding string
	persist    time.Duration
	persistSet bool
	netmask    *node
	mask       netip.Addr
	ops        *node
	sorry      *sorryRef
	inhibit    *bool
	quorum     int
	hysteresis int
	host       string
	timing     timing
	rss        []*rserver
	alpha      bool
	omega      *node
	quorumHook map[string]string // quorum_up, quorum_down

	// set while resolving
	badFlags  map[*node]bool       // the flags config refused
	flagNodes []*node              // the flags of conf.SchedulerFlags
	conf      config.VirtualServer // as config accepted it
	settled   map[string][]string  // the comments of conf's values, by output key
	comments  map[string][]string  // the others
	header    []string
	check     *check // the check every real server shares, if any
}

func (vs *vserver) comment(key, text string) {
	vs.comments[key] = append(vs.comments[key], text)
}

type rserver struct {
	node *node
	ctx  string

	addr       netip.Addr
	port       int
	hasPort    bool
	weight     int
	forwarding string
	upper      int
	lower      int
	hooks      map[string]string
	inhibit    *bool
	host       string
	timing     timing
	checkers   []*checker

	comments map[string][]string
	check    *check
	extra    []*check // the checks after the first ([[checks]])
	noBindTo bool     // config refused its check's bind_to
	refused  bool     // config refused the real server
}

type urlRef struct {
	node    *node
	path    string
	status  []int
	host    string
	regex   string
	noMatch bool
	digest  string
	// notes for the output, set while building the check
	note, regexNote string
}

type checker struct {
	node           *node
	ctx            string
	kind           string
	timing         timing
	port           *int
	bindTo         netip.Addr
	bindNode       *node
	urls           []urlRef
	host           string
	sni            bool
	command        string
	commandComment string
	misc           *time.Duration // misc_timeout
	dynamic        bool           // misc_dynamic
	usable         bool
	// UDP_CHECK, DNS_CHECK, SMTP_CHECK, FILE_CHECK
	payload      string
	requireReply bool
	reply        string
	minReply     int
	maxReply     int
	dnsType      string
	dnsName      string
	helo         string
	trackFile    string
	fileNode     *node
	fileWeight   *int
	fileReverse  bool
}

// check is a real server's check as written in the output.
type check struct {
	typ       string
	path      string
	status    []int
	host      string
	body      string
	tlsVerify bool
	sni       string
	port      int
	bindTo    netip.Addr
	command   string
	interval  time.Duration
	timeout   time.Duration
	rise      int
	fall      int
	dbr       time.Duration
	warmup    time.Duration
	urls      []urlRef // several url blocks, or one with what the flat keys cannot say
	dynamic   bool
	payload   string
	require   bool
	reply     string
	minReply  int
	maxReply  int
	dnsType   string
	dnsName   string
	helo      string
	file      string
	weight    int
	reverse   bool
	comments  map[string][]string
	src       *checker // the checker it translates
}

// config is the check as config reads the table that render writes.
func (c *check) config() *config.Check {
	cc := config.WithDefaults[config.Check]()
	cc.Type = c.typ
	if c.typ == "http" || c.typ == "https" {
		cc.Path, cc.Host, cc.ExpectStatus, cc.ExpectBody = c.path, c.host, slices.Clone(c.status), c.body
		if c.typ == "https" {
			cc.TLSVerify, cc.SNI = c.tlsVerify, c.sni
		}
	}
	cc.ConnectPort, cc.BindTo, cc.Command = c.port, c.bindTo, c.command
	cc.Interval, cc.Timeout, cc.Rise, cc.Fall = config.Duration(c.interval), config.Duration(c.timeout), c.rise, c.fall
	cc.DelayBeforeRetry, cc.Warmup, cc.MiscDynamic = config.Duration(c.dbr), config.Duration(c.warmup), c.dynamic
	cc.Payload, cc.RequireReply, cc.Reply, cc.MinReplyLength, cc.MaxReplyLength = c.payload, c.require, c.reply, c.minReply, c.maxReply
	cc.DNSType, cc.DNSName, cc.HeloName = c.dnsType, c.dnsName, c.helo
	cc.File, cc.Weight, cc.Reverse = c.file, c.weight, c.reverse
	for _, u := range c.urls {
		cc.URLs = append(cc.URLs, config.URL{Path: u.path, ExpectStatus: slices.Clone(u.status), Digest: u.digest, Regex: u.regex, RegexNoMatch: u.noMatch, Virtualhost: u.host})
	}
	return &cc
}

func (c *check) comment(key, text string) {
	if c.comments == nil {
		c.comments = map[string][]string{}
	}
	c.comments[key] = append(c.comments[key], text)
}

type vsgEntry struct {
	node   *node
	fwmark int
	start  netip.Addr
	end    netip.Addr
	port   int
}

type vsGroup struct {
	node    *node
	entries []vsgEntry
}

func (t *translator) virtualServerGroup(n *node) {
	name, ok := t.blockName(n, func(name string) *node {
		if g := t.vsGroups[name]; g != nil {
			return g.node
		}
		return nil
	})
	if !ok {
		return
	}
	ctx := "virtual_server_group " + name
	g := &vsGroup{node: n}
	t.vsGroups[name] = g
	for _, c := range n.Children {
		t.valueBlock(c, ctx)
		if c.keyword() == "fwmark" {
			v, ok := parseUint(c.arg(1), 1, math.MaxUint32)
			if !ok {
				t.warn(c, ctx, "%q is not a firewall mark (1..%d)", c.arg(1), uint32(math.MaxUint32))
				continue
			}
			if len(c.Words) > 2 {
				t.warnKeyword(c, ctx, c.arg(2), "the real servers' addresses decide the family")
			}
			g.entries = append(g.entries, vsgEntry{node: c, fwmark: v})
			continue
		}
		start, end, ok := parseRange(c.keyword())
		if !ok {
			t.warn(c, ctx, "%q is not an address, an address range or a prefix", c.keyword())
			continue
		}
		port := 0
		if len(c.Words) > 1 {
			if port, ok = parsePort(c.arg(1)); !ok {
				t.warn(c, ctx, "port %q is not a number in 0..65535", c.arg(1))
				continue
			}
		}
		t.extra(c, ctx, 1)
		g.entries = append(g.entries, vsgEntry{node: c, start: start, end: end, port: port})
	}
}

// parseRange reads "ADDR", "ADDR-LAST" (last byte for IPv4, last group for
// IPv6, or a whole address) and "ADDR/LEN".
func parseRange(s string) (netip.Addr, netip.Addr, bool) {
	if p, err := netip.ParsePrefix(s); err == nil && !p.Addr().Is4In6() {
		start := p.Addr()
		b := start.AsSlice()
		for i := range b {
			netBits := max(0, min(8, p.Bits()-i*8)) // of this byte
			b[i] |= byte(0xff >> netBits)
		}
		end, _ := netip.AddrFromSlice(b)
		return start, end, true
	}
	first, last, isRange := strings.Cut(s, "-")
	start, ok := parseAddr(first)
	if !ok {
		return netip.Addr{}, netip.Addr{}, false
	}
	if !isRange {
		return start, start, true
	}
	end, ok := parseAddr(last)
	if !ok {
		b := start.AsSlice()
		if start.Is4() {
			v, ok := parseUint(last, 0, 255)
			if !ok {
				return netip.Addr{}, netip.Addr{}, false
			}
			b[3] = byte(v)
		} else {
			v, err := strconv.ParseUint(last, 16, 16)
			if err != nil {
				return netip.Addr{}, netip.Addr{}, false
			}
			b[14], b[15] = byte(v>>8), byte(v)
		}
		end, _ = netip.AddrFromSlice(b)
	}
	if end.BitLen() != start.BitLen() || end.Less(start) {
		return netip.Addr{}, netip.Addr{}, false
	}
	return start, end, true
}

func (t *translator) virtualServer(n *node) {
	vs := &vserver{node: n, ctx: label(n), quorum: 1}
	ctx := vs.ctx
	switch n.arg(1) {
	case "group":
		vs.groupName = n.arg(2)
		if vs.groupName == "" {
			t.warn(n, "", "no group name")
			return
		}
		t.extra(n, "", 2)
	case "fwmark":
		v, ok := parseUint(n.arg(2), 1, math.MaxUint32)
		if !ok {
			t.warn(n, "", "fwmark %q is not a firewall mark (1..%d): virtual server left out", n.arg(2), uint32(math.MaxUint32))
			return
		}
		vs.fwmark = v
		t.extra(n, "", 2)
	default:
		a, ok := parseAddr(n.arg(1))
		if !ok {
			t.warn(n, "", "%q is not an address, fwmark N or group NAME: virtual server left out", n.arg(1))
			return
		}
		vs.addr = a
		if len(n.Words) > 2 {
			if vs.port, ok = parsePort(n.arg(2)); !ok {
				t.warn(n, "", "port %q is not a number in 0..65535: virtual server left out", n.arg(2))
				return
			}
		}
		t.extra(n, "", 2)
	}
	for _, c := range n.Children {
		t.leafBlock(c, ctx)
		kw := c.keyword()
		if vs.timing.read(t, c, ctx) {
			continue
		}
		switch kw {
		case "lb_algo", "lvs_sched":
			vs.scheduler, vs.schedNode = strings.ToLower(c.arg(1)), c
		case "lb_kind", "lvs_method":
			if f := t.forwarding(c, ctx); f != "" {
				vs.forwarding = f
			}
		case "persistence_timeout":
			vs.persistSet = true
			vs.persist = defaultPersistence
			if len(c.Words) > 1 {
				if v, ok := t.number(c, ctx, 1, math.MaxInt32); ok {
					vs.persist = time.Duration(v) * time.Second
				}
			}
		case "persistence_granularity":
			vs.netmask = c
		case "protocol":
			switch p := strings.ToLower(c.arg(1)); p {
			case "tcp", "udp", "sctp":
				vs.protocol = p
			default:
				t.warn(c, ctx, "%q is not TCP, UDP or SCTP", c.arg(1))
			}
		case "ops":
			vs.ops = c
		case "sh-port", "sh-fallback", "mh-port", "mh-fallback", "flag-1", "flag-2", "flag-3":
			vs.flags = append(vs.flags, c)
		case "virtualhost":
			vs.host = c.arg(1)
		case "quorum":
			if v, ok := t.number(c, ctx, 1, math.MaxInt32); ok {
				vs.quorum = v
			}
		case "hysteresis":
			if v, ok := t.number(c, ctx, 0, math.MaxInt32); ok {
				vs.hysteresis = v
			}
		case "sorry_server":
			vs.sorry = t.sorryServer(c, ctx)
		case "inhibit_on_failure":
			if v, ok := t.flag(c, ctx); ok {
				vs.inhibit = &v
			}
		case "alpha":
			vs.alpha = true
		case "omega":
			vs.omega = c
		case "quorum_up", "quorum_down":
			if cmd, comment := t.command(c, ctx, true); cmd != "" {
				if vs.quorumHook == nil {
					vs.quorumHook = map[string]string{}
				}
				vs.quorumHook[kw] = cmd
				if comment != "" {
					vs.comment(kw, comment)
				}
			}
		case "real_server":
			if rs := t.realServer(c, ctx); rs != nil {
				vs.rss = append(vs.rss, rs)
			}
		default:
			t.unsupported(c, ctx)
		}
	}
	t.vservers = append(t.vservers, vs)
}

// forwarding reads lb_kind / lvs_method NAT|DR|TUN [tunnel options].
func (t *translator) forwarding(c *node, ctx string) string {
	f := strings.ToLower(c.arg(1))
	switch f {
	case "nat", "dr", "tun":
	default:
		t.warn(c, ctx, "%q is not NAT, DR or TUN", c.arg(1))
		return ""
	}
	if len(c.Words) > 2 {
		t.warnKeyword(c, ctx, c.Words[2], "tunnel options %q: hadirector uses plain IPIP tunnels", strings.Join(c.Words[2:], " "))
	}
	return f
}

func (t *translator) sorryServer(c *node, ctx string) *sorryRef {
	a, ok := parseAddr(c.arg(1))
	if !ok {
		t.warn(c, ctx, "%q is not an IP address", c.arg(1))
		return nil
	}
	s := &sorryRef{node: c, addr: a}
	if len(c.Words) > 2 {
		if s.port, ok = parsePort(c.arg(2)); !ok {
			t.warn(c, ctx, "port %q is not a number in 0..65535", c.arg(2))
			return nil
		}
		s.hasPort = s.port != 0
	}
	t.extra(c, ctx, 2)
	return s
}

func (t *translator) realServer(n *node, vsctx string) *rserver {
	a, ok := parseAddr(n.arg(1))
	if !ok {
		t.warn(n, vsctx, "%q is not an IP address: real server left out", n.arg(1))
		return nil
	}
	rs := &rserver{node: n, ctx: within(vsctx, label(n)), addr: a, weight: 1, hooks: map[string]string{}, comments: map[string][]string{}}
	if len(n.Words) > 2 {
		if rs.port, ok = parsePort(n.arg(2)); !ok {
			t.warn(n, vsctx, "port %q is not a number in 0..65535: real server left out", n.arg(2))
			return nil
		}
		rs.hasPort = rs.port != 0
	}
	t.extra(n, vsctx, 2)
	ctx := rs.ctx
	for _, c := range n.Children {
		t.leafBlock(c, ctx)
		kw := c.keyword()
		if rs.timing.read(t, c, ctx) {
			continue
		}
		switch kw {
		case "weight":
			if v, ok := t.number(c, ctx, 0, math.MaxUint16); ok {
				rs.weight = v
			}
		case "lvs_method", "lb_kind":
			if f := t.forwarding(c, ctx); f != "" {
				rs.forwarding = f
			}
		case "notify_up", "notify_down":
			if cmd, comment := t.command(c, ctx, true); cmd != "" {
				rs.hooks[kw] = cmd
				if comment != "" {
					rs.comments[kw] = append(rs.comments[kw], comment)
				}
			}
		case "uthreshold":
			if v, ok := t.number(c, ctx, 0, math.MaxInt32); ok {
				rs.upper = v
			}
		case "lthreshold":
			if v, ok := t.number(c, ctx, 0, math.MaxInt32); ok {
				rs.lower = v
			}
		case "inhibit_on_failure":
			if v, ok := t.flag(c, ctx); ok {
				rs.inhibit = &v
			}
		case "virtualhost":
			rs.host = c.arg(1)
		case "HTTP_GET", "SSL_GET", "TCP_CHECK", "SMTP_CHECK", "MISC_CHECK", "UDP_CHECK", "DNS_CHECK", "PING_CHECK", "FILE_CHECK":
			rs.checkers = append(rs.checkers, t.checker(c, ctx, rs))
		default:
			t.unsupported(c, ctx)
		}
	}
	return rs
}

func (t *translator) checker(n *node, rsctx string, rs *rserver) *checker {
	ck := &checker{node: n, ctx: within(rsctx, n.keyword()), kind: n.keyword(), usable: true}
	ctx := ck.ctx
	t.extra(n, rsctx, 0)
	for _, c := range n.Children {
		t.leafBlock(c, ctx)
		kw := c.keyword()
		if ck.timing.read(t, c, ctx) {
			continue
		}
		switch {
		case kw == "connect_port":
			if v, ok := t.number(c, ctx, 1, math.MaxUint16); ok {
				ck.port = &v
			}
		case kw == "bindto" || kw == "bind_to":
			if a, ok := parseAddr(c.arg(1)); ok {
				ck.bindTo, ck.bindNode = a, c
			} else {
				t.warn(c, ctx, "%q is not an IP address", c.arg(1))
			}
		case kw == "connect_ip":
			if a, ok := parseAddr(c.arg(1)); !ok || a != rs.addr {
				t.unsupported(c, ctx)
			}
		case (ck.kind == "HTTP_GET" || ck.kind == "SSL_GET") && kw == "url":
			if u, ok := t.url(c, ctx); ok {
				ck.urls = append(ck.urls, u)
			}
		case (ck.kind == "HTTP_GET" || ck.kind == "SSL_GET") && kw == "virtualhost":
			ck.host = c.arg(1)
		case (ck.kind == "HTTP_GET" || ck.kind == "SSL_GET") && kw == "http_protocol":
			if c.arg(1) != "1.1" {
				t.unsupported(c, ctx)
			}
		case ck.kind == "SSL_GET" && kw == "enable_sni":
			ck.sni = true
		case ck.kind == "MISC_CHECK" && kw == "misc_path":
			ck.command, ck.commandComment = t.command(c, ctx, false)
		case ck.kind == "MISC_CHECK" && kw == "misc_timeout":
			if d, ok := t.timer(c, ctx, 24*time.Hour); ok && d > 0 {
				ck.misc = &d
			}
		case ck.kind == "MISC_CHECK" && kw == "misc_dynamic":
			ck.dynamic = true
		case ck.kind == "UDP_CHECK" && kw == "payload":
			ck.payload = strings.Join(c.Words[1:], "")
		case ck.kind == "UDP_CHECK" && kw == "require_reply":
			ck.requireReply, ck.reply = true, strings.Join(c.Words[1:], "")
		case ck.kind == "UDP_CHECK" && kw == "min_reply_length":
			if v, ok := t.number(c, ctx, 0, 65507); ok {
				ck.minReply = v
			}
		case ck.kind == "UDP_CHECK" && kw == "max_reply_length":
			if v, ok := t.number(c, ctx, 0, 65507); ok {
				ck.maxReply = v
			}
		case ck.kind == "DNS_CHECK" && kw == "type":
			ck.dnsType = strings.ToUpper(c.arg(1))
		case ck.kind == "DNS_CHECK" && kw == "name":
			ck.dnsName = c.arg(1)
		case ck.kind == "SMTP_CHECK" && kw == "helo_name":
			ck.helo = c.arg(1)
		case ck.kind == "FILE_CHECK" && kw == "track_file":
			ck.trackFile, ck.fileNode = c.arg(1), c
		case ck.kind == "FILE_CHECK" && kw == "weight":
			if v, ok := t.signed(c, ctx, -254, 254); ok {
				ck.fileWeight = &v
			}
			if len(c.Words) > 2 {
				ck.fileReverse = c.arg(2) == "reverse"
			}
		default:
			t.unsupported(c, ctx)
		}
	}
	switch {
	case ck.kind == "MISC_CHECK" && ck.command == "":
		t.warn(n, rsctx, "MISC_CHECK without a usable misc_path: the real server gets no check from it")
		ck.usable = false
	case (ck.kind == "HTTP_GET" || ck.kind == "SSL_GET") && len(ck.urls) == 0:
		t.warn(n, rsctx, "%s without a url { path }: keepalived ignores it too", ck.kind)
		ck.usable = false
	case ck.kind == "FILE_CHECK" && ck.trackFile == "":
		t.warn(n, rsctx, "FILE_CHECK without a track_file: the real server gets no check from it")
		ck.usable = false
	}
	return ck
}

func (t *translator) url(n *node, ctx string) (urlRef, bool) {
	ctx = within(ctx, "url")
	u := urlRef{node: n}
	for _, c := range n.Children {
		t.leafBlock(c, ctx)
		switch c.keyword() {
		case "path":
			u.path = c.arg(1)
		case "status_code":
			u.status = t.statusCodes(c, ctx)
		case "virtualhost":
			u.host = c.arg(1)
		case "regex":
			if _, err := regexp.Compile(c.arg(1)); err != nil || c.arg(1) == "" || !validText(c.arg(1)) {
				t.warn(c, ctx, "%q is not a Go (RE2) regular expression", c.arg(1))
				continue
			}
			u.regex = c.arg(1)
		case "regex_no_match":
			u.noMatch = true
		case "digest":
			if d := strings.ToLower(c.arg(1)); len(d) == 32 && strings.Trim(d, "0123456789abcdef") == "" {
				u.digest = d
			} else {
				t.warn(c, ctx, "%q is not an MD5 digest (32 hex digits)", c.arg(1))
			}
		default:
			t.unsupported(c, ctx)
		}
	}
	if u.path == "" || !validText(u.path) {
		t.warn(n, ctx, "url without a path: keepalived ignores it too")
		return u, false
	}
	if u.noMatch && u.regex == "" {
		t.warnKeyword(n, ctx, "regex_no_match", "without a regex: nothing to match")
		u.noMatch = false
	}
	return u, true
}

// statusCodes reads "status_code 200 300-399 …".
func (t *translator) statusCodes(c *node, ctx string) []int {
	var codes []int
	for _, w := range c.Words[1:] {
		lo, hi, isRange := strings.Cut(w, "-")
		if !isRange {
			hi = lo
		}
		a, ok1 := parseUint(lo, 100, 599)
		b, ok2 := parseUint(hi, 100, 599)
		if !ok1 || !ok2 || b < a {
			t.warnKeyword(c, ctx, c.keyword(), "%q is not a status code or range in 100..599", w)
			continue
		}
		for v := a; v <= b; v++ {
			codes = append(codes, v)
		}
	}
	slices.Sort(codes)
	return slices.Compact(codes)
}

// resolveLVS expands virtual_server groups, applies keepalived's defaults
// and corrections, and checks what hadirector's schema requires.
func (t *translator) resolveLVS() {
	var all []*vserver
	expanded := 0
	for _, vs := range t.vservers {
		if vs.groupName == "" {
			all = append(all, vs)
			continue
		}
		if expanded >= maxGroupTotal {
			t.warn(vs.node, vs.ctx, "virtual_server_group references already made %d virtual servers: left out", maxGroupTotal)
			continue
		}
		more := t.expandGroup(vs)
		expanded += len(more)
		all = append(all, more...)
	}
	var kept []*vserver
	for _, vs := range all {
		vs.comments = map[string][]string{}
		if !t.checkVirtualServer(vs) {
			continue
		}
		kept = append(kept, vs)
	}
	t.vservers = kept
	if len(kept) > 0 {
		t.lvs.set(config.Key(&lvsT, &lvsT.OnBackup), tomlString("keep"), "keepalived programs IPVS on both nodes (hot standby); \"withdraw\" removes the services from the backup")
	}
}

// expandGroup makes one virtual server per address (or fwmark) of the
// virtual_server_group the template refers to.
func (t *translator) expandGroup(tmpl *vserver) []*vserver {
	g := t.vsGroups[tmpl.groupName]
	if g == nil {
		t.warn(tmpl.node, tmpl.ctx, "no virtual_server_group %s: the virtual server is left out", tmpl.groupName)
		return nil
	}
	var out []*vserver
	clone := func(e vsgEntry) *vserver {
		vs := *tmpl
		vs.rss = make([]*rserver, len(tmpl.rss))
		for i, rs := range tmpl.rss {
			c := *rs
			c.comments = map[string][]string{}
			vs.rss[i] = &c
		}
		vs.header = []string{fmt.Sprintf("from virtual_server_group %s at %s:%d", tmpl.groupName, e.node.File, e.node.Line)}
		return &vs
	}
	for _, e := range g.entries {
		if e.fwmark != 0 {
			if len(out) >= maxGroupExpansion {
				t.warnKeyword(e.node, "virtual_server_group "+tmpl.groupName, e.node.keyword(), "more than %d virtual servers: the rest is left out", maxGroupExpansion)
				return out
			}
			vs := clone(e)
			vs.fwmark = e.fwmark
			out = append(out, vs)
			continue
		}
		for a := e.start; ; a = a.Next() {
			if len(out) >= maxGroupExpansion {
				t.warnKeyword(e.node, "virtual_server_group "+tmpl.groupName, e.node.keyword(), "more than %d virtual servers: the rest is left out", maxGroupExpansion)
				return out
			}
			vs := clone(e)
			vs.addr, vs.port = a, e.port
			out = append(out, vs)
			if a == e.end || !a.IsValid() {
				break
			}
		}
	}
	return out
}

// checkVirtualServer applies keepalived's defaults and corrections to one virtual server
// and keeps it if config accepts it, after leaving out the real servers and settings
// config refuses.
func (t *translator) checkVirtualServer(vs *vserver) bool {
	n, ctx := vs.node, vs.ctx
	if len(vs.rss) == 0 {
		t.warn(n, ctx, "no real servers: keepalived ignores the virtual server too")
		return false
	}
	if vs.protocol == "" && vs.fwmark == 0 {
		vs.protocol = "udp"
		vs.comment(vserverKey(&vserverT.Protocol), "keepalived's default when protocol is not set")
	}
	if vs.protocol == "" {
		vs.protocol = "tcp" // fwmark services have no protocol; this is the schema's default
	}
	if vs.addr.IsValid() && vs.port == 0 && vs.persist == 0 {
		vs.persist = defaultPersistence
		vs.comment(vserverKey(&vserverT.PersistenceTimeout), "keepalived makes a port-0 service persistent (360s)")
	}
	if vs.schedNode == nil {
		vs.scheduler = "wlc"
		vs.comment(vserverKey(&vserverT.Scheduler), "keepalived's default")
	}
	if vs.forwarding == "" {
		vs.forwarding = "nat"
		vs.comment(vserverKey(&vserverT.Forwarding), "keepalived's default when lb_kind is not set")
	}
	if m := vs.netmask; m != nil {
		if a, ok := parseAddr(m.arg(1)); ok {
			vs.mask = a
		} else {
			t.warn(m, ctx, "%q is not a netmask such as 255.255.255.0", m.arg(1))
			vs.netmask = nil
		}
	}
	// Real servers: ports as keepalived corrects them.
	for _, rs := range vs.rss {
		if rs.forwarding == "" {
			rs.forwarding = vs.forwarding
		}
		t.realServerPort(vs, rs)
	}

	i := len(t.cfg.VirtualServers)
	t.places[elemPath(cfgKey(&cfgT.VirtualServers), i)] = source(n)
	err := admit(t, &t.cfg.VirtualServers, func() (config.VirtualServer, error) { return t.settleVirtualServer(vs, i) }, t.ck.VirtualServer,
		func(p config.Problem) func() { return t.mendVirtualServer(vs, p) }, nil)
	if err != nil {
		t.warn(n, ctx, "%v; the virtual server is left out", err)
		return false
	}
	t.inhibit(vs)
	t.shareCheck(vs)
	return true
}

// settleVirtualServer applies keepalived's rules that depend on what is left of the
// virtual server (its real servers decide the quorum, its scheduler the meaning of the
// flags) and returns it as config sees it; i is its index in the configuration. Its
// comments go to vs.settled, replaced at each call.
func (t *translator) settleVirtualServer(vs *vserver, i int) (config.VirtualServer, error) {
	vs.rss = slices.DeleteFunc(vs.rss, func(rs *rserver) bool { return rs.refused })
	if len(vs.rss) == 0 {
		return config.VirtualServer{}, errors.New("no usable real server")
	}
	vs.settled = map[string][]string{}
	comment := func(field any, text string) {
		k := vserverKey(field)
		vs.settled[k] = append(vs.settled[k], text)
	}
	c := config.WithDefaults[config.VirtualServer]()
	if vs.fwmark != 0 {
		c.FWMark = vs.fwmark
	} else {
		c.Address = netip.AddrPortFrom(vs.addr, uint16(vs.port))
	}
	c.Protocol, c.Scheduler, c.Forwarding = vs.protocol, vs.scheduler, vs.forwarding
	c.PersistenceTimeout, c.PersistenceNetmask, c.OnePacket = config.Duration(vs.persist), vs.mask, vs.ops != nil

	vs.flagNodes = nil
	for _, f := range vs.flags {
		name := f.keyword()
		switch {
		case vs.badFlags[f]:
			continue
		case name == "flag-1" && (vs.scheduler == "sh" || vs.scheduler == "mh"):
			name = vs.scheduler + "-fallback"
		case name == "flag-2" && (vs.scheduler == "sh" || vs.scheduler == "mh"):
			name = vs.scheduler + "-port"
		}
		switch {
		case strings.HasPrefix(name, "flag-"):
			t.warn(f, vs.ctx, "has no meaning for scheduler %s", vs.scheduler)
		case slices.Contains(c.SchedulerFlags, name):
		default:
			c.SchedulerFlags = append(c.SchedulerFlags, name)
			vs.flagNodes = append(vs.flagNodes, f)
		}
	}

	weights := 0
	for j, rs := range vs.rss {
		t.places[elemPath(elemPath(cfgKey(&cfgT.VirtualServers), i)+"."+vserverKey(&vserverT.RealServers), j)] = source(rs.node)
		t.realServerCheck(vs, rs)
		r := config.WithDefaults[config.RealServer]()
		r.Address, r.Weight, r.Forwarding = netip.AddrPortFrom(rs.addr, uint16(rs.port)), rs.weight, rs.forwarding
		r.UpperThreshold, r.LowerThreshold = rs.upper, rs.lower
		r.NotifyUp, r.NotifyDown = rs.hooks["notify_up"], rs.hooks["notify_down"]
		if rs.check != nil {
			r.Check = rs.check.config()
		}
		for _, x := range rs.extra {
			r.Checks = append(r.Checks, *x.config())
		}
		c.RealServers = append(c.RealServers, r)
		weights += rs.weight
	}
	c.Quorum, c.Hysteresis = vs.quorum, vs.hysteresis
	c.Alpha, c.QuorumUp, c.QuorumDown = vs.alpha, vs.quorumHook["quorum_up"], vs.quorumHook["quorum_down"]
	if vs.omega != nil && c.QuorumDown == "" {
		t.warn(vs.omega, vs.ctx, "omega without a usable quorum_down: nothing to run at shutdown")
	}
	c.Omega = vs.omega != nil && c.QuorumDown != ""
	if c.Quorum > weights {
		comment(&vserverT.Quorum, fmt.Sprintf("keepalived lowers quorum %d to the real servers' total weight %d", c.Quorum, weights))
		c.Quorum = max(weights, 1)
	}
	if c.Hysteresis >= c.Quorum {
		comment(&vserverT.Hysteresis, fmt.Sprintf("keepalived lowers hysteresis %d to quorum - 1", c.Hysteresis))
		c.Hysteresis = c.Quorum - 1
	}

	if s := vs.sorry; s != nil {
		port := s.port
		switch {
		case vs.forwarding != "nat" && vs.fwmark != 0:
			port = 0
		case vs.forwarding != "nat" || !s.hasPort && vs.fwmark == 0:
			port = vs.port
		}
		c.SorryServer = netip.AddrPortFrom(s.addr, uint16(port))
	}
	vs.conf = c
	return c, nil
}

// mendVirtualServer returns how to leave out what problem p of the virtual server names
// (a real server, a setting), or nil when only leaving out the virtual server will do.
func (t *translator) mendVirtualServer(vs *vserver, p config.Problem) func() {
	ctx, why := vs.ctx, problemText(p)
	key, j, rest := splitKey(p.Key)
	switch key {
	case vserverKey(&vserverT.Scheduler):
		if vs.schedNode == nil || vs.scheduler == "wlc" {
			return nil
		}
		return func() {
			t.warn(vs.schedNode, ctx, "%s; wlc (the default) is used", why)
			vs.scheduler = "wlc"
		}
	case vserverKey(&vserverT.SchedulerFlags):
		if j < 0 || j >= len(vs.flagNodes) {
			return nil
		}
		return func() {
			f := vs.flagNodes[j]
			t.warn(f, ctx, "%s; left out", why)
			if vs.badFlags == nil {
				vs.badFlags = map[*node]bool{}
			}
			vs.badFlags[f] = true
		}
	case vserverKey(&vserverT.PersistenceNetmask):
		if vs.netmask == nil {
			return nil
		}
		return func() {
			t.warn(vs.netmask, ctx, "%s; left out", why)
			vs.netmask, vs.mask = nil, netip.Addr{}
		}
	case vserverKey(&vserverT.OnePacket):
		if vs.ops == nil {
			return nil
		}
		return func() {
			t.warn(vs.ops, ctx, "%s; left out (keepalived resets it too)", why)
			vs.ops = nil
		}
	case vserverKey(&vserverT.SorryServer):
		if vs.sorry == nil {
			return nil
		}
		return func() {
			t.warn(vs.sorry.node, ctx, "%s; left out", why)
			vs.sorry = nil
		}
	case vserverKey(&vserverT.QuorumUp), vserverKey(&vserverT.QuorumDown), vserverKey(&vserverT.Omega):
		if len(vs.quorumHook) == 0 {
			return nil
		}
		return func() {
			t.warn(vs.node, ctx, "%s; quorum_up, quorum_down and omega are left out", why)
			vs.quorumHook, vs.omega = nil, nil
		}
	case vserverKey(&vserverT.RealServers):
		if j >= 0 && j < len(vs.rss) {
			return t.mendRealServer(vs, j, rest, why)
		}
	}
	return nil
}

// mendRealServer returns how to mend the problem (why) at key (within the real server)
// of real server j: leave out the setting, or else the real server.
func (t *translator) mendRealServer(vs *vserver, j int, key, why string) func() {
	rs := vs.rss[j]
	head, k, rest := splitKey(key)
	drop := func(ck *checker) func() {
		return func() {
			if ck.usable {
				t.warn(ck.node, rs.ctx, "%s; the check is left out", why)
				ck.usable = false
			}
		}
	}
	switch {
	case head == rserverKey(&rserverT.LowerThreshold) && rs.lower > 0:
		return func() {
			t.warnKeyword(rs.node, rs.ctx, "lthreshold", "%s; left out", why)
			rs.lower = 0
		}
	case head == rserverKey(&rserverT.Check) && rest == checkKey(&checkT.BindTo) && rs.check != nil && rs.check.bindTo.IsValid():
		return func() {
			ck := rs.check.src
			t.warn(ck.bindNode, ck.ctx, "%s; left out", why)
			rs.noBindTo = true
		}
	case head == rserverKey(&rserverT.Check) && rs.check != nil:
		return drop(rs.check.src)
	case head == rserverKey(&rserverT.Checks) && k >= 0 && k < len(rs.extra):
		return drop(rs.extra[k].src)
	}
	return func() {
		if !rs.refused {
			t.warn(rs.node, vs.ctx, "%s; the real server is left out", why)
			rs.refused = true
		}
	}
}

// realServerPort applies keepalived's port rules: with DR and TUN a real
// server listens on the service's port (a fwmark service has none); with NAT
// a missing port is the service's.
func (t *translator) realServerPort(vs *vserver, rs *rserver) {
	switch {
	case rs.forwarding == "nat":
		if !rs.hasPort && vs.fwmark == 0 {
			rs.port = vs.port
		}
	case vs.fwmark != 0:
		if rs.hasPort {
			rs.comments["address"] = append(rs.comments["address"], fmt.Sprintf("keepalived clears the port (%d) of a %s real server of a fwmark service", rs.port, strings.ToUpper(rs.forwarding)))
		}
		rs.port = 0
	default:
		if rs.hasPort && rs.port != vs.port {
			rs.comments["address"] = append(rs.comments["address"], fmt.Sprintf("keepalived resets the port (%d) of a %s real server to the service's", rs.port, strings.ToUpper(rs.forwarding)))
		}
		rs.port = vs.port
	}
}

// inhibit turns keepalived's per-real-server inhibit_on_failure into the
// virtual server's.
func (t *translator) inhibit(vs *vserver) {
	v := false
	if vs.inhibit != nil {
		v = *vs.inhibit
	} else {
		all := true
		for _, rs := range vs.rss {
			all = all && rs.inhibit != nil && *rs.inhibit
		}
		v = all
	}
	for _, rs := range vs.rss {
		if rs.inhibit != nil && *rs.inhibit != v {
			t.warnKeyword(rs.node, rs.ctx, "inhibit_on_failure", "hadirector sets inhibit_on_failure per virtual server (%v here)", v)
		}
	}
	vs.inhibit = &v
}

// realServerCheck translates the real server's usable checkers: the first is its check,
// the others its [[checks]] (all must pass, as in keepalived).
func (t *translator) realServerCheck(vs *vserver, rs *rserver) {
	rs.check, rs.extra = nil, nil
	for _, ck := range rs.checkers {
		if !ck.usable {
			continue
		}
		c := t.buildCheck(vs, rs, ck)
		if c == nil {
			continue
		}
		if rs.check == nil {
			rs.check = c
		} else {
			rs.extra = append(rs.extra, c)
		}
	}
}

func (t *translator) buildCheck(vs *vserver, rs *rserver, ck *checker) *check {
	c := &check{rise: 1, tlsVerify: true, src: ck}
	switch ck.kind {
	case "HTTP_GET":
		c.typ = "http"
	case "SSL_GET":
		c.typ = "https"
		c.tlsVerify = false
		c.comment(checkKey(&checkT.TLSVerify), "keepalived's SSL_GET does not verify the server's certificate")
	case "TCP_CHECK":
		c.typ = "tcp"
	case "SMTP_CHECK":
		c.typ, c.helo = "smtp", ck.helo
	case "UDP_CHECK":
		c.typ, c.payload, c.require, c.reply, c.minReply, c.maxReply = "udp", ck.payload, ck.requireReply, ck.reply, ck.minReply, ck.maxReply
	case "DNS_CHECK":
		c.typ, c.dnsType, c.dnsName = "dns", ck.dnsType, ck.dnsName
		if c.dnsType == "SOA" {
			c.dnsType = ""
		}
	case "PING_CHECK":
		c.typ = "ping"
	case "FILE_CHECK":
		return t.fileCheck(rs, ck, c)
	case "MISC_CHECK":
		c.typ = "exec"
		c.command = ck.command
		c.dynamic = ck.dynamic
		if ck.commandComment != "" {
			c.comment(checkKey(&checkT.Command), ck.commandComment)
		}
	}

	// Timing. keepalived checks every delay_loop; after a failure it retries
	// `retry` times, delay_before_retry apart, and marks the server down
	// when all of them failed; one success brings it back. hadirector's
	// check runs every interval and goes down after `fall` consecutive
	// failures, up after `rise` successes. So interval = delay_loop, rise =
	// 1, fall = retry + 1 (the first failure plus the retries) — the same
	// number of failures and the same load on a healthy server. Only the
	// spacing of the retries is lost: they happen every interval, not every
	// delay_before_retry, so a dead server is removed (retry ×
	// (delay_loop − delay_before_retry)) later than keepalived would. That
	// is written next to the value whenever it differs.
	c.interval = firstDuration(defaultDelayLoop, ck.timing.delayLoop, rs.timing.delayLoop, vs.timing.delayLoop)
	defaultRetry, defaultDBR := 1, time.Second
	switch ck.kind {
	case "MISC_CHECK":
		defaultRetry = 0
	case "HTTP_GET", "SSL_GET":
		defaultDBR = 3 * time.Second
	case "DNS_CHECK": // check_dns.c: DNS_DEFAULT_RETRY, delay_before_retry = delay_loop
		defaultRetry, defaultDBR = 3, c.interval
	}
	retry := defaultRetry
	for _, r := range []*int{ck.timing.retry, rs.timing.retry, vs.timing.retry} {
		if r != nil {
			retry = *r
			break
		}
	}
	dbr := firstDuration(defaultDBR, ck.timing.dbr, rs.timing.dbr, vs.timing.dbr)
	c.fall = retry + 1
	switch {
	case retry > 0 && dbr > 0 && dbr < c.interval:
		c.dbr = dbr
	case retry > 0 && dbr > c.interval:
		c.comment(checkKey(&checkT.Fall), t.note(ck.node, rs.ctx, "keepalived retries %d time(s) %s apart (delay_before_retry) before marking the server down; a retry here never comes later than the next check, %s (interval) after a failure, so a failure is acted on after %s instead of %s",
			retry, formatDuration(dbr), formatDuration(c.interval), formatDuration(time.Duration(retry)*c.interval), formatDuration(time.Duration(retry)*dbr)))
	}
	if w := firstDuration(0, ck.timing.warmup, rs.timing.warmup, vs.timing.warmup); w > 0 {
		c.warmup = min(w, c.interval)
		if w > c.interval {
			c.comment(checkKey(&checkT.Warmup), t.note(ck.node, rs.ctx, "warmup %s is longer than the interval; the first check comes within the interval", formatDuration(w)))
		}
	}
	if ck.kind == "MISC_CHECK" {
		c.timeout = firstDuration(c.interval, ck.misc)
	} else {
		c.timeout = firstDuration(defaultConnectTimeout, ck.timing.connectTimeout, rs.timing.connectTimeout, vs.timing.connectTimeout)
	}

	if ck.port != nil {
		c.port = *ck.port
	}
	if !rs.noBindTo {
		c.bindTo = ck.bindTo
	}

	if c.typ == "http" || c.typ == "https" {
		t.httpURLs(vs, rs, ck, c)
	}
	return c
}

// httpURLs translates the url blocks of an HTTP_GET or SSL_GET: one that the flat keys
// can say (path, expect_status, expect_body) is written with them, as before; several,
// or one with a digest or regex_no_match, are written as [[url]] tables.
func (t *translator) httpURLs(vs *vserver, rs *rserver, ck *checker, c *check) {
	u := ck.urls[0]
	tables := len(ck.urls) > 1 || u.digest != "" || u.noMatch
	hosts := []string{ck.host, rs.host, vs.host}
	if !tables {
		hosts = append([]string{u.host}, hosts...)
	}
	for _, h := range hosts {
		if h != "" {
			c.host = h
			break
		}
	}
	if !validText(c.host) {
		c.host = ""
	}
	if ck.sni {
		if c.host != "" {
			c.sni = c.host
		} else {
			t.warnKeyword(ck.node, ck.ctx, "enable_sni", "no virtualhost to send as the server name")
		}
	}
	if tables {
		c.path = "/"
		for _, u := range ck.urls {
			if !strings.HasPrefix(u.path, "/") {
				u.note = t.note(u.node, ck.ctx, "keepalived sends the path %q as written; hadirector needs a leading /", u.path)
				u.path = "/" + u.path
			}
			if len(u.status) == 0 {
				for s := 200; s <= 299; s++ {
					u.status = append(u.status, s)
				}
			}
			if u.regex != "" {
				u.regexNote = t.note(u.node, ck.ctx, "keepalived's regex is PCRE, this is a Go regexp (RE2): check that it means the same")
			}
			if !validText(u.host) {
				u.host = ""
			}
			c.urls = append(c.urls, u)
		}
		return
	}
	c.path = u.path
	if !strings.HasPrefix(c.path, "/") {
		c.comment(checkKey(&checkT.Path), t.note(u.node, ck.ctx, "keepalived sends the path %q as written; hadirector needs a leading /", u.path))
		c.path = "/" + c.path
	}
	c.status = u.status
	if len(c.status) == 0 {
		for s := 200; s <= 299; s++ {
			c.status = append(c.status, s)
		}
		c.comment(checkKey(&checkT.ExpectStatus), "keepalived's default: any 2xx")
	}
	c.body = u.regex
	if c.body != "" {
		c.comment(checkKey(&checkT.ExpectBody), t.note(u.node, ck.ctx, "keepalived's regex is PCRE, this is a Go regexp (RE2): check that it means the same"))
	}
}

// fileCheck translates a FILE_CHECK: the file and weight of its track_file, the check's
// own weight (and reverse) if it sets one. keepalived watches the file with inotify;
// here it is read every second and acted on at once (rise = fall = 1).
func (t *translator) fileCheck(rs *rserver, ck *checker, c *check) *check {
	var tf *trackFile
	for _, f := range t.files {
		if f.name == ck.trackFile {
			tf = f
		}
	}
	if tf == nil || tf.path == "" {
		t.warn(ck.fileNode, ck.ctx, "no track_file %q with a file: the real server gets no check from it", ck.trackFile)
		return nil
	}
	c.typ, c.file, c.weight, c.reverse = "file", tf.path, tf.weight, tf.reverse
	if ck.fileWeight != nil {
		c.weight, c.reverse = *ck.fileWeight, ck.fileReverse
	}
	c.interval, c.timeout, c.rise, c.fall = time.Second, time.Second, 1, 1
	c.comment(checkKey(&checkT.Interval), t.note(ck.node, rs.ctx, "keepalived watches %s with inotify; here it is read every second", tf.path))
	return c
}

// shareCheck moves a check every real server has to the virtual server.
func (t *translator) shareCheck(vs *vserver) {
	first := vs.rss[0].check
	if first == nil {
		return
	}
	for _, rs := range vs.rss[1:] {
		if rs.check == nil || !sameCheck(first, rs.check) {
			return
		}
	}
	vs.check = first
	for _, rs := range vs.rss {
		rs.check = nil
	}
}

func sameCheck(a, b *check) bool {
	return a.typ == b.typ && a.path == b.path && slices.Equal(a.status, b.status) && a.host == b.host &&
		a.body == b.body && a.tlsVerify == b.tlsVerify && a.sni == b.sni && a.port == b.port &&
		a.bindTo == b.bindTo && a.command == b.command && a.interval == b.interval &&
		a.timeout == b.timeout && a.rise == b.rise && a.fall == b.fall && fmt.Sprint(a.comments) == fmt.Sprint(b.comments) &&
		a.dbr == b.dbr && a.warmup == b.warmup && fmt.Sprint(a.urls) == fmt.Sprint(b.urls) && a.dynamic == b.dynamic &&
		a.payload == b.payload && a.require == b.require && a.reply == b.reply && a.minReply == b.minReply &&
		a.maxReply == b.maxReply && a.dnsType == b.dnsType && a.dnsName == b.dnsName && a.helo == b.helo &&
		a.file == b.file && a.weight == b.weight && a.reverse == b.reverse
}
