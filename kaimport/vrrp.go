package kaimport

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hadirector/hadirector/config"
)

type script struct {
	node       *node
	ctx        string
	name       string
	cmd        string
	cmdComment string
	interval   time.Duration
	timeout    time.Duration
	timeoutSet bool
	weight     int
	rise, fall int
	initFail   bool
	reverse    bool
	dropped    bool
	// An instance that overrides the script's weight gets a copy with its
	// own weight, since hadirector's track_script has none.
	weightVariants
	refused []string // the tables config refused
}

// weightVariants maps an effective weight to the name of the table (a
// [[vrrp_script]] or [[vrrp_track_file]]) carrying it, in the order they
// were asked for.
type weightVariants struct {
	variants map[int]string
	order    []int
}

type trackRef struct {
	node      *node
	refused   bool // by config
	ctx       string
	name      string
	weight    int
	weightSet bool
	reverse   bool   // weight N reverse
	revSet    bool   // reverse or noreverse was written
	fromGroup string // the sync group it was pushed down from
}

type vipRef struct {
	node    *node
	refused bool // by config
	prefix  netip.Prefix
	dev     string
	label   string
	scope   string
	brd     netip.Addr
	// excluded: from virtual_ipaddress_excluded.
	excluded bool
}

// section is the keepalived block v was read from.
func (v vipRef) section() string {
	if v.excluded {
		return "virtual_ipaddress_excluded"
	}
	return "virtual_ipaddress"
}

// plain reports whether v needs none of virtual_address's options.
func (v vipRef) plain(iface string) bool {
	return (v.dev == "" || v.dev == iface) && (v.scope == "" || v.scope == "global") && !v.brd.IsValid()
}

type addrRef struct {
	node    *node
	refused bool // by config
	addr    netip.Addr
}

type instance struct {
	node *node
	ctx  string
	name string

	iface           string
	vrid            int
	state           string
	priority        int
	advert          time.Duration
	advertNode      *node
	version         int
	nopreempt       bool
	nopreemptNode   *node
	preemptDelay    time.Duration
	preemptNode     *node
	src             netip.Addr
	srcNode         *node
	unicast         bool
	peers           []addrRef
	auth            string
	authNode        *node
	vmac            bool
	vmacName        string // use_vmac NAME
	vmacNode        *node
	oldChecksum     string // "", "send" (the bare keyword) or "never"
	oldChecksumNode *node
	vips            []vipRef
	// vipAt maps an index of virtual_ipaddress, virtual_address or
	// virtual_ipaddress_excluded (by key) to its vips index (settleInstance).
	vipAt          map[string][]int
	routes         []routeRef
	rules          []ruleRef
	trackIfs       []trackRef
	trackScripts   []trackRef
	trackFileRefs  []fileRef
	trackFileNames []string  // resolved: the [[vrrp_track_file]] names
	trackFileKept  []fileRef // the track of each of trackFileNames
	hooks          map[string]string
	garpDelay      *time.Duration
	garpRefresh    *time.Duration
	garpRepeat     *int

	group   *syncGroup
	dropped bool
	index   int // in translator.cfg.Instances, once kept
	// badLabels are the labels config refused.
	badLabels map[string]bool
	// writeChecksum: old_unicast_checksum is written out (settled).
	writeChecksum bool
	// conf is the instance as config accepted it; settled holds the comments that
	// go with its values (output key → comments), comments the others.
	conf     config.Instance
	settled  map[string][]string
	comments map[string][]string
}

func (in *instance) comment(key, text string) {
	in.comments[key] = append(in.comments[key], text)
}

type syncGroup struct {
	node           *node
	ctx            string
	name           string
	members        []addrName
	hooks          map[string]string
	trackIfs       []trackRef
	trackScripts   []trackRef
	trackFileRefs  []fileRef
	trackingWeight bool
	kept           []*instance
	conf           config.SyncGroup // as config accepted it
	comments       map[string][]string
}

type addrName struct {
	node *node
	name string
}

// useVMAC reads use_vmac's arguments: keepalived's interface name (vmac_name) and
// options; a MAC address (a word with ':') is not supported.
func (t *translator) useVMAC(in *instance, c *node, ctx string) {
	words := c.Words[1:]
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case (w == "name" || w == "group") && i+1 < len(words):
			// keepalived's "name NAME" (for a name that is also a keyword) and
			// "group GROUP_ID".
			i++
			if w == "group" {
				t.warn(c, ctx, "group %s: hadirector leaves the vmac in the default link group", words[i])
				continue
			}
			w = words[i]
			if in.vmacName != "" {
				t.warn(c, ctx, "%q: the vmac is already named %s", w, in.vmacName)
			} else if !validText(w) {
				t.warn(c, ctx, "the name is not valid UTF-8: the default name is used")
			} else {
				in.vmacName = w
			}
		case strings.Contains(w, ":"):
			t.warn(c, ctx, "MAC %q: hadirector uses the RFC's virtual MAC 00-00-5E-00-01-{VRID} (-02- for IPv6)", w)
		case w == "netlink_notify_msg":
			t.warn(c, ctx, "%s: hadirector does not send that netlink message", w)
		case in.vmacName != "":
			t.warn(c, ctx, "%q: the vmac is already named %s", w, in.vmacName)
		case !validText(w):
			t.warn(c, ctx, "the name is not valid UTF-8: the default name is used")
		default:
			in.vmacName = w
		}
	}
}

func (t *translator) vrrpScript(n *node) {
	name, ok := t.blockName(n, func(name string) *node {
		for _, s := range t.scripts {
			if s.name == name {
				return s.node
			}
		}
		return nil
	})
	if !ok {
		return
	}
	ctx := "vrrp_script " + name
	s := &script{node: n, ctx: ctx, name: name, interval: time.Second, rise: 1, fall: 1}
	t.scripts = append(t.scripts, s)
	for _, c := range n.Children {
		t.leafBlock(c, ctx)
		switch c.keyword() {
		case "script":
			s.cmd, s.cmdComment = t.command(c, ctx, false)
		case "interval":
			if d, ok := t.timer(c, ctx, 24*time.Hour); ok {
				s.interval = max(d, time.Second) // keepalived turns 0 into 1
			}
		case "timeout":
			if d, ok := t.timer(c, ctx, 24*time.Hour); ok && d > 0 {
				s.timeout, s.timeoutSet = d, true
			}
		case "weight":
			if v, ok := t.signed(c, ctx, -253, 253); ok {
				s.weight, s.reverse = v, c.arg(2) == "reverse" // the default of every track of it
			}
		case "rise":
			if v, ok := t.number(c, ctx, 1, 1<<20); ok {
				s.rise = v
			}
		case "fall":
			if v, ok := t.number(c, ctx, 1, 1<<20); ok {
				s.fall = v
			}
		case "init_fail":
			s.initFail = true
			t.valueBlock(c, ctx)
		default:
			t.unsupported(c, ctx)
		}
	}
	if !s.timeoutSet {
		s.timeout = s.interval // keepalived's default timeout is the interval
	}
	if s.cmd == "" {
		s.dropped = true
		t.warn(n, ctx, "no usable script: left out, and the instances tracking it lose that track")
	}
}

func (t *translator) vrrpInstance(n *node) {
	name, ok := t.blockName(n, func(name string) *node {
		for _, o := range t.instances {
			if o.name == name {
				return o.node
			}
		}
		return nil
	})
	if !ok {
		return
	}
	ctx := "vrrp_instance " + name
	in := &instance{node: n, ctx: ctx, name: name, priority: 100, hooks: map[string]string{}, comments: map[string][]string{}}
	t.instances = append(t.instances, in)
	for _, c := range n.Children {
		t.leafBlock(c, ctx)
		kw := c.keyword()
		switch kw {
		case "state":
			switch c.arg(1) {
			case "MASTER", "BACKUP":
				if in.state != "MASTER" {
					in.state = c.arg(1)
				}
			default:
				t.warn(c, ctx, "%q is not MASTER or BACKUP (keepalived takes BACKUP)", c.arg(1))
			}
		case "interface":
			if c.arg(1) == "" || !validText(c.arg(1)) {
				t.warn(c, ctx, "no interface name, or one that is not valid UTF-8")
				continue
			}
			t.extra(c, ctx, 1)
			in.iface = c.arg(1)
		case "virtual_router_id":
			if v, ok := t.number(c, ctx, 1, 255); ok {
				in.vrid = v
			}
		case "priority":
			if v, ok := t.number(c, ctx, 1, 255); ok {
				in.priority = v
			}
		case "advert_int":
			if d, ok := t.timer(c, ctx, 255*time.Second); ok {
				in.advert, in.advertNode = d, c
			}
		case "version":
			if v, ok := t.number(c, ctx, 2, 3); ok {
				in.version = v
			}
		case "nopreempt":
			in.nopreempt, in.nopreemptNode = true, c
		case "preempt":
			in.nopreempt, in.nopreemptNode = false, nil
		case "preempt_delay":
			if d, ok := t.timer(c, ctx, 1000*time.Second); ok {
				in.preemptDelay, in.preemptNode = d, c
			}
		case "accept":
		case "no_accept":
			t.warn(c, ctx, "an LVS director's master must accept traffic for its VIPs: hadirector always accepts")
		case "mcast_src_ip", "unicast_src_ip":
			a, ok := parseAddr(c.arg(1))
			if !ok {
				t.warn(c, ctx, "%q is not an IP address", c.arg(1))
				continue
			}
			in.src, in.srcNode = a, c
			if kw == "unicast_src_ip" {
				in.unicast = true
			}
		case "unicast_peer":
			in.unicast = true
			t.unicastPeers(in, c)
		case "authentication":
			t.authentication(in, c)
		case "use_vmac":
			in.vmac, in.vmacNode = true, c
			t.useVMAC(in, c, ctx)
		case "virtual_ipaddress":
			t.virtualIPAddresses(in, c, false)
		case "virtual_ipaddress_excluded":
			t.virtualIPAddresses(in, c, true)
		case "virtual_routes":
			t.virtualRoutes(in, c)
		case "virtual_rules":
			t.virtualRules(in, c)
		case "track_interface":
			in.trackIfs = append(in.trackIfs, t.trackInterfaces(c, ctx)...)
		case "track_script":
			in.trackScripts = append(in.trackScripts, t.trackScripts(c, ctx)...)
		case "track_file":
			in.trackFileRefs = append(in.trackFileRefs, t.trackFileRefs(c, ctx)...)
		case "lvs_sync_daemon_interface":
			t.lvsSyncDaemonInterface(in, c)
		case "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify":
			if cmd, comment := t.command(c, ctx, true); cmd != "" {
				in.hooks[kw] = cmd
				if comment != "" {
					in.comment(kw, comment)
				}
			}
		case "garp_master_delay":
			if d, ok := t.timer(c, ctx, 255*time.Second); ok {
				in.garpDelay = &d
			}
		case "garp_master_refresh":
			if d, ok := t.timer(c, ctx, 24*time.Hour); ok {
				in.garpRefresh = &d
			}
		case "garp_master_repeat":
			if v, ok := t.number(c, ctx, 0, 255); ok {
				if v == 0 {
					t.warn(c, ctx, "0: hadirector always sends at least one gratuitous ARP per VIP; the global value is kept")
					continue
				}
				in.garpRepeat = &v
			}
		case "old_unicast_checksum":
			switch c.arg(1) {
			case "":
				in.oldChecksum = "send"
			case "never":
				in.oldChecksum = "never"
			default:
				t.warn(c, ctx, "%q is not never", c.arg(1))
				continue
			}
			in.oldChecksumNode = c
		default:
			t.unsupported(c, ctx)
		}
	}
}

func (t *translator) unicastPeers(in *instance, n *node) {
	ctx := within(in.ctx, "unicast_peer")
	for _, c := range n.Children {
		t.valueBlock(c, ctx)
		a, ok := parseAddr(c.keyword())
		if !ok {
			t.warn(c, ctx, "%q is not an IP address", c.keyword())
			continue
		}
		for i := 1; i < len(c.Words); i += 2 {
			t.warnKeyword(c, within(ctx, c.keyword()), c.Words[i], "hadirector accepts adverts with TTL 255 only, as the RFCs require")
		}
		in.peers = append(in.peers, addrRef{node: c, addr: a})
	}
}

func (t *translator) authentication(in *instance, n *node) {
	ctx := within(in.ctx, "authentication")
	typ := ""
	var pass *node
	for _, c := range n.Children {
		t.leafBlock(c, ctx)
		switch c.keyword() {
		case "auth_type":
			typ = c.arg(1)
			if typ != "PASS" && typ != "AH" {
				t.warn(c, ctx, "%q is not PASS or AH", typ)
			}
			if typ == "AH" {
				t.warn(c, ctx, "IPsec AH authentication is not supported (RFC 3768 removed authentication): the instance runs without it")
			}
		case "auth_pass":
			pass = c
		default:
			t.unsupported(c, ctx)
		}
	}
	if typ != "PASS" || pass == nil {
		return
	}
	if pass.arg(1) == "" || !validText(pass.arg(1)) {
		t.warn(pass, ctx, "no usable password")
		return
	}
	in.auth, in.authNode = pass.arg(1), pass
}

func (t *translator) virtualIPAddresses(in *instance, n *node, excluded bool) {
	ctx := within(in.ctx, n.keyword())
	for _, c := range n.Children {
		t.valueBlock(c, ctx)
		v := vipRef{node: c, excluded: excluded}
		s := c.keyword()
		var ok bool
		if strings.Contains(s, "/") {
			var err error
			v.prefix, err = netip.ParsePrefix(s)
			ok = err == nil && !v.prefix.Addr().Is4In6()
		} else {
			var a netip.Addr
			if a, ok = parseAddr(s); ok {
				v.prefix = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if !ok {
			t.warn(c, ctx, "%q is not an IP address with an optional /prefix length", s)
			continue
		}
		ectx := within(ctx, s)
		for i := 1; i < len(c.Words); i++ {
			w := c.Words[i]
			switch w {
			case "dev", "label", "scope", "brd", "broadcast", "peer", "preferred_lft":
				if i+1 >= len(c.Words) {
					t.warnKeyword(c, ectx, w, "no value")
					continue
				}
				val := c.Words[i+1]
				i++
				switch w {
				case "dev":
					v.dev = val
				case "label":
					v.label = val
				case "scope":
					v.scope = val
				case "brd", "broadcast":
					b, err := netip.ParseAddr(val)
					if err != nil || !b.Is4() {
						t.warnKeyword(c, ectx, w, "%s %s: not an IPv4 address; the address is added without one", w, val)
						continue
					}
					v.brd = b
				default:
					t.warnKeyword(c, ectx, w, "%s %s: hadirector adds the address with its prefix only", w, val)
				}
			case "home", "-nodad", "nodad", "mngtmpaddr", "noprefixroute", "autojoin", "no_track", "use_vmac":
				t.warnKeyword(c, ectx, w, "hadirector adds the address with its prefix only")
			default:
				t.warnKeyword(c, ectx, w, "not an address option")
			}
		}
		in.vips = append(in.vips, v)
	}
}

// trackInterfaces reads "IFNAME [weight N [reverse|noreverse]]" lines.
func (t *translator) trackInterfaces(n *node, ctx string) []trackRef {
	ctx = within(ctx, "track_interface")
	var refs []trackRef
	for _, c := range n.Children {
		r, ok := t.trackLine(c, ctx)
		if !ok {
			continue
		}
		if !validText(r.name) {
			t.warn(c, ctx, "the name is not valid UTF-8")
			continue
		}
		refs = append(refs, r)
	}
	return refs
}

// trackScripts reads "NAME [weight N [reverse|noreverse]]" lines.
func (t *translator) trackScripts(n *node, ctx string) []trackRef {
	ctx = within(ctx, "track_script")
	var refs []trackRef
	for _, c := range n.Children {
		if r, ok := t.trackLine(c, ctx); ok {
			refs = append(refs, r)
		}
	}
	return refs
}

func (t *translator) trackLine(c *node, ctx string) (trackRef, bool) {
	r := trackRef{node: c, ctx: ctx, name: c.keyword()}
	w := c.Words[1:]
	if len(w) > 0 && w[0] == "weight" {
		if len(w) < 2 {
			t.warn(c, ctx, "weight without a value")
			return r, false
		}
		v, ok := parseInt(w[1], -253, 253)
		if !ok {
			t.warn(c, ctx, "weight %q is not a number in -253..253", w[1])
			return r, false
		}
		r.weight, r.weightSet = v, true
		w = w[2:]
		if len(w) > 0 && (w[0] == "noreverse" || w[0] == "no_reverse") {
			r.revSet = true
			w = w[1:]
		} else if len(w) > 0 && w[0] == "reverse" {
			r.reverse, r.revSet = true, true
			w = w[1:]
		}
	}
	if len(w) > 0 {
		t.warn(c, ctx, "%q is not weight N [reverse]: the track is left out", strings.Join(w, " "))
		return r, false
	}
	t.valueBlock(c, ctx)
	return r, true
}

func (t *translator) syncGroup(n *node) {
	name, ok := t.blockName(n, func(name string) *node {
		for _, o := range t.groups {
			if o.name == name {
				return o.node
			}
		}
		return nil
	})
	if !ok {
		return
	}
	ctx := "vrrp_sync_group " + name
	g := &syncGroup{node: n, ctx: ctx, name: name, hooks: map[string]string{}, comments: map[string][]string{}}
	t.groups = append(t.groups, g)
	for _, c := range n.Children {
		t.leafBlock(c, ctx)
		kw := c.keyword()
		switch kw {
		case "group":
			if g.members != nil {
				t.warn(c, ctx, "the group is already listed: keepalived skips this one too")
				continue
			}
			g.members = []addrName{}
			for _, m := range c.Children {
				t.extra(m, within(ctx, "group"), 0)
				g.members = append(g.members, addrName{node: m, name: m.keyword()})
			}
		case "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify":
			if cmd, comment := t.command(c, ctx, true); cmd != "" {
				g.hooks[kw] = cmd
				if comment != "" {
					g.comments[kw] = append(g.comments[kw], comment)
				}
			}
		case "track_interface":
			g.trackIfs = append(g.trackIfs, t.trackInterfaces(c, ctx)...)
		case "track_script":
			g.trackScripts = append(g.trackScripts, t.trackScripts(c, ctx)...)
		case "track_file":
			g.trackFileRefs = append(g.trackFileRefs, t.trackFileRefs(c, ctx)...)
		case "sync_group_tracking_weight", "global_tracking":
			g.trackingWeight = true
		default:
			if !c.Block && len(c.Words) == 1 {
				t.warn(c, ctx, "not a keyword: keepalived 2 lists members inside group { }, so it ignores this line too")
				continue
			}
			t.unsupported(c, ctx)
		}
	}
}

// resolveVRRP keeps, of the instances and sync groups, what config accepts (leaving out,
// with a warning quoting config, what it refuses), after keepalived's own corrections.
func (t *translator) resolveVRRP() {
	scripts := map[string]*script{}
	for _, s := range t.scripts {
		if !s.dropped {
			scripts[s.name] = s
		}
	}
	for _, in := range t.instances {
		t.checkInstance(in)
	}

	byName := map[string]*instance{}
	for _, in := range t.instances {
		if !in.dropped {
			byName[in.name] = in
		}
	}
	for _, g := range t.groups {
		t.checkSyncGroup(g, byName)
	}

	files := map[string]*trackFile{}
	for _, f := range t.files {
		if !f.dropped {
			files[f.name] = f
		}
	}
	for _, in := range t.instances {
		if in.dropped {
			continue
		}
		owner := in.group != nil && slices.ContainsFunc(in.group.kept, func(m *instance) bool { return m.priority == 255 })
		t.tracking(in, scripts, owner)
		t.trackFiles(in, files, owner)
	}
	t.checkTracks()
}

// checkInstance applies keepalived's corrections to one instance and keeps it if config
// accepts it, after leaving out the addresses, peers and settings config refuses.
func (t *translator) checkInstance(in *instance) {
	ctx := in.ctx
	if in.state != "" {
		in.comment(instanceKey(&instanceT.Priority), fmt.Sprintf("keepalived: state %s (there is no initial state here: the highest priority is master)", in.state))
	}
	if in.nopreempt {
		switch {
		case in.priority == 255:
			t.warn(in.nopreemptNode, ctx, "keepalived ignores nopreempt at priority 255 (the address owner always preempts)")
			in.nopreempt = false
		case in.state == "MASTER":
			t.warn(in.nopreemptNode, ctx, "keepalived ignores nopreempt with state MASTER (\"nopreempt will not work with initial state MASTER - clearing\"): the translation preempts, as keepalived did")
			in.nopreempt = false
		}
	}
	if in.preemptNode != nil && in.preemptDelay > 0 {
		switch {
		case in.state == "MASTER":
			t.warn(in.preemptNode, ctx, "keepalived ignores preempt_delay with state MASTER")
			in.preemptDelay = 0
		case in.nopreempt:
			t.warn(in.preemptNode, ctx, "keepalived ignores preempt_delay with nopreempt")
			in.preemptDelay = 0
		}
	}
	in.index = len(t.cfg.Instances)
	t.places[elemPath(cfgKey(&cfgT.Instances), in.index)] = source(in.node)
	err := admit(t, &t.cfg.Instances, func() (config.Instance, error) { return t.settleInstance(in), nil }, t.ck.Instance,
		func(p config.Problem) func() { return t.mendInstance(in, p) }, refusesFamily)
	if err != nil {
		t.warn(in.node, ctx, "%v; the instance is left out", err)
		in.dropped = true
	}
}

// refusesFamily reports whether config refused the first virtual address, which decides
// the family that config's other problems with the instance may depend on.
func refusesFamily(probs []config.Problem) bool {
	return slices.ContainsFunc(probs, func(p config.Problem) bool {
		key, j, _ := splitKey(p.Key)
		return key == instanceKey(&instanceT.VirtualIPAddress) && j == 0
	})
}

// settleInstance applies keepalived's rules that depend on what is left of the instance
// (the addresses decide the family, the family the version, the version the advert
// interval and the authentication) and returns the instance as config sees it. Its
// comments go to in.settled, replaced at each call.
func (t *translator) settleInstance(in *instance) config.Instance {
	ctx := in.ctx
	in.settled = map[string][]string{}
	comment := func(field any, text string) {
		k := instanceKey(field)
		in.settled[k] = append(in.settled[k], text)
	}
	in.vips = slices.DeleteFunc(in.vips, func(v vipRef) bool { return v.refused })
	in.peers = slices.DeleteFunc(in.peers, func(p addrRef) bool { return p.refused })
	c := config.WithDefaults[config.Instance]()
	c.Name, c.Interface, c.VirtualRouterID, c.Priority = in.name, in.iface, in.vrid, in.priority
	in.vipAt = map[string][]int{}
	for i, v := range in.vips {
		var key string
		switch {
		case !v.plain(in.iface):
			key = instanceKey(&instanceT.VirtualAddress)
			c.VirtualAddress = append(c.VirtualAddress, config.VirtualAddress{Address: v.prefix, Dev: v.dev, Label: v.label,
				Scope: v.scope, Broadcast: v.brd, Excluded: v.excluded})
		case v.excluded:
			key = instanceKey(&instanceT.VirtualIPAddressExcluded)
			c.VirtualIPAddressExcluded = append(c.VirtualIPAddressExcluded, v.prefix)
		default:
			key = instanceKey(&instanceT.VirtualIPAddress)
			c.VirtualIPAddress = append(c.VirtualIPAddress, v.prefix)
		}
		in.vipAt[key] = append(in.vipAt[key], i)
	}
	in.routes = slices.DeleteFunc(in.routes, func(r routeRef) bool { return r.refused })
	for _, r := range in.routes {
		c.VirtualRoutes = append(c.VirtualRoutes, r.route)
	}
	in.rules = slices.DeleteFunc(in.rules, func(r ruleRef) bool { return r.refused })
	for _, r := range in.rules {
		c.VirtualRules = append(c.VirtualRules, r.rule)
	}
	fam := c.Family()

	// Version: the instance's, else global_defs vrrp_version, else 2; IPv6 always runs
	// VRRPv3 in keepalived.
	c.Version = cmp.Or(in.version, t.defaultVersion, 2)
	if fam == 6 && c.Version == 2 {
		c.Version = 3
		if in.version == 2 {
			comment(&instanceT.Version, "keepalived runs IPv6 instances as VRRPv3 whatever version says")
		}
	}
	if in.version == 0 {
		src := "keepalived's default version, written out"
		switch {
		case fam == 6:
			src = "keepalived runs IPv6 instances as VRRPv3"
		case t.defaultVersion != 0:
			src = "from global_defs vrrp_version"
		}
		comment(&instanceT.Version, src)
	}

	// advert_int fitted to what the version carries, rounded as keepalived does.
	d := in.advert
	if in.advertNode == nil {
		d = time.Second
	}
	var r time.Duration
	if c.Version == 2 {
		r = min(max((d+time.Second/2).Truncate(time.Second), time.Second), 255*time.Second)
	} else {
		r = min(max((d+5*time.Millisecond).Truncate(10*time.Millisecond), 10*time.Millisecond), 40950*time.Millisecond)
	}
	if r != d && in.advertNode != nil {
		comment(&instanceT.AdvertInt, t.note(in.advertNode, ctx, "advert_int %s is not possible in VRRPv%d: %s", formatDuration(d), c.Version, formatDuration(r)))
	}
	c.AdvertInt = config.Duration(r)

	c.NoPreempt, c.PreemptDelay = in.nopreempt, config.Duration(in.preemptDelay)
	c.UnicastSrcIP = in.src
	for _, p := range in.peers {
		c.UnicastPeer = append(c.UnicastPeer, p.addr)
	}
	if in.unicast && len(in.peers) == 0 {
		comment(&instanceT.VirtualIPAddress, t.note(in.node, ctx, "unicast was configured but no usable unicast_peer is left: the instance uses multicast"))
	}
	c.AuthPass = in.auth
	if len(in.auth) > 8 {
		comment(&instanceT.AuthPass, fmt.Sprintf("keepalived uses the first 8 bytes of %q", in.auth))
		c.AuthPass = truncateUTF8(in.auth, 8)
	}
	c.UseVMAC, c.VMACName = in.vmac, in.vmacName
	// old_unicast_checksum is about VRRPv3 IPv4 unicast adverts; "send" elsewhere is
	// config's to refuse, "never" elsewhere (the default) is only reported.
	unicast3 := c.Version == 3 && fam == 4 && len(c.UnicastPeer) > 0
	in.writeChecksum = true
	switch {
	case in.oldChecksumNode == nil && unicast3:
		c.OldUnicastChecksum = "accept"
		comment(&instanceT.OldUnicastChecksum, t.note(in.node, ctx, "keepalived detects a peer's pre-1.3.6 VRRPv3 unicast checksum by itself; accept is the closest setting (send if the peer needs it)"))
	case in.oldChecksumNode == nil:
		in.writeChecksum = false
	case in.oldChecksum == "never" && !unicast3:
		t.warn(in.oldChecksumNode, ctx, "applies to VRRPv3 IPv4 unicast instances only")
		in.writeChecksum = false
	case in.oldChecksum == "never":
		c.OldUnicastChecksum = "reject"
	default:
		c.OldUnicastChecksum = in.oldChecksum
	}
	c.VirtualIPAddressLabel = t.vipLabel(in, comment)
	c.NotifyMaster, c.NotifyBackup, c.NotifyFault = in.hooks["notify_master"], in.hooks["notify_backup"], in.hooks["notify_fault"]
	c.NotifyStop, c.Notify = in.hooks["notify_stop"], in.hooks["notify"]
	if in.garpDelay != nil {
		c.GARPMasterDelay = config.Duration(*in.garpDelay)
	}
	if in.garpRepeat != nil {
		c.GARPMasterRepeat = *in.garpRepeat
	}
	if in.garpRefresh != nil {
		c.GARPMasterRefresh = config.Duration(*in.garpRefresh)
	}
	in.conf = c
	return c
}

// mendInstance returns how to leave out what problem p of the instance names (an
// address, a peer, a setting), or nil when only leaving out the instance will do.
func (t *translator) mendInstance(in *instance, p config.Problem) func() {
	ctx := in.ctx
	why := problemText(p)
	key, j, _ := splitKey(p.Key)
	switch key {
	case instanceKey(&instanceT.VirtualIPAddress), instanceKey(&instanceT.VirtualAddress), instanceKey(&instanceT.VirtualIPAddressExcluded):
		if j < 0 || j >= len(in.vipAt[key]) {
			return nil
		}
		i := in.vipAt[key][j]
		return func() {
			if v := &in.vips[i]; !v.refused {
				t.warnKeyword(v.node, within(ctx, v.section()), v.node.keyword(), "%s; the address is left out", why)
				v.refused = true
			}
		}
	case instanceKey(&instanceT.VirtualRoutes):
		if j < 0 || j >= len(in.routes) {
			return nil
		}
		return func() {
			if r := &in.routes[j]; !r.refused {
				t.warnKeyword(r.node, within(ctx, "virtual_routes"), r.node.keyword(), "%s; the route is left out", why)
				r.refused = true
			}
		}
	case instanceKey(&instanceT.VirtualRules):
		if j < 0 || j >= len(in.rules) {
			return nil
		}
		return func() {
			if r := &in.rules[j]; !r.refused {
				t.warnKeyword(r.node, within(ctx, "virtual_rules"), r.node.keyword(), "%s; the rule is left out", why)
				r.refused = true
			}
		}
	case instanceKey(&instanceT.UnicastPeer):
		if j < 0 || j >= len(in.peers) {
			return nil
		}
		return func() {
			if r := &in.peers[j]; !r.refused {
				t.warnKeyword(r.node, within(ctx, "unicast_peer"), r.node.keyword(), "%s; the peer is left out", why)
				r.refused = true
			}
		}
	case instanceKey(&instanceT.UnicastSrcIP):
		if !in.src.IsValid() {
			return nil
		}
		return func() {
			t.warn(in.srcNode, ctx, "%s; left out", why)
			in.src = netip.Addr{}
		}
	case instanceKey(&instanceT.AuthPass):
		if in.auth == "" {
			return nil
		}
		return func() {
			t.warn(in.authNode, within(ctx, "authentication"), "%s; the instance runs without it (keepalived ignores it too)", why)
			in.auth = ""
		}
	case instanceKey(&instanceT.OldUnicastChecksum):
		if in.oldChecksumNode == nil {
			return nil
		}
		return func() {
			t.warn(in.oldChecksumNode, ctx, "%s; left out", why)
			in.oldChecksumNode, in.oldChecksum = nil, ""
		}
	case instanceKey(&instanceT.VMACName):
		if in.vmacName == "" {
			return nil
		}
		return func() {
			t.warn(in.vmacNode, ctx, "%s; the default name is used", why)
			in.vmacName = ""
		}
	case instanceKey(&instanceT.VirtualIPAddressLabel):
		l := in.conf.VirtualIPAddressLabel
		if l == "" {
			return nil
		}
		return func() {
			for _, v := range in.vips {
				if v.label == l {
					t.warnKeyword(v.node, within(ctx, "virtual_ipaddress > "+v.node.keyword()), "label", "%s; the label is left out", why)
				}
			}
			if in.badLabels == nil {
				in.badLabels = map[string]bool{}
			}
			in.badLabels[l] = true
		}
	}
	return nil
}

// vipLabel turns keepalived's per-address labels into the instance's one
// virtual_ipaddress_label: the first one config has not refused.
func (t *translator) vipLabel(in *instance, comment func(field any, text string)) string {
	label := ""
	for _, v := range in.vips {
		l := v.label
		if v.excluded || !v.plain(in.iface) {
			continue // labelled in virtual_address, or not at all (excluded)
		}
		switch {
		case l == "" || in.badLabels[l]:
		case !validText(l):
			t.warnKeyword(v.node, within(in.ctx, "virtual_ipaddress > "+v.node.keyword()), "label", "the label is not valid UTF-8")
		case label == "":
			label = l
		case l != label:
			t.warnKeyword(v.node, within(in.ctx, "virtual_ipaddress > "+v.node.keyword()), "label", "hadirector puts one label (%s) on all of an instance's IPv4 VIPs", label)
		}
	}
	if label == "" {
		return ""
	}
	for _, v := range in.vips {
		if v.label != label && !v.excluded && v.plain(in.iface) {
			comment(&instanceT.VirtualIPAddressLabel, t.note(in.node, in.ctx, "keepalived labelled some addresses only; hadirector labels every VIP %s", label))
			break
		}
	}
	return label
}

func truncateUTF8(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:min(n, len(s))]
}

// tracking settles an instance's tracked interfaces and scripts as
// keepalived's vrrp_complete_instance and sync_group_tracking_init do: in a
// sync group without sync_group_tracking_weight, a weighted tracked interface
// gets weight 0 and a weighted track script is dropped; an address owner
// drops both; a sync group's tracks apply to every member, with weight 0 when
// a member is an address owner (groupOwner).
func (t *translator) tracking(in *instance, scripts map[string]*script, groupOwner bool) {
	zero := in.group != nil && !in.group.trackingWeight
	owner := in.priority == 255
	adjust := func(r *trackRef, key string) bool {
		weighted := r.weight != 0
		if !r.weightSet && key == instanceKey(&instanceT.TrackScript) {
			if s := scripts[r.name]; s != nil {
				weighted = s.weight != 0
			}
		}
		switch {
		case !weighted:
		case r.fromGroup != "":
			if groupOwner {
				in.comment(key, fmt.Sprintf("keepalived tracks %s of sync group %s with weight 0 (a failure means FAULT): a member is an address owner", r.name, r.fromGroup))
				r.weight, r.weightSet = 0, true
			}
		case owner:
			in.comment(key, fmt.Sprintf("keepalived ignores the weighted track %s of an address owner (priority 255): left out", r.name))
			return false
		case zero && key == instanceKey(&instanceT.TrackScript):
			in.comment(key, fmt.Sprintf("keepalived ignores the weighted track script %s of a member of sync group %s (no sync_group_tracking_weight): left out", r.name, in.group.name))
			return false
		case zero:
			in.comment(key, fmt.Sprintf("keepalived sets the weight of %s to 0 in sync group %s (no sync_group_tracking_weight): a failure means FAULT", r.name, in.group.name))
			r.weight, r.weightSet = 0, true
		}
		return true
	}

	ifs := map[string]bool{}
	var trackIfs []trackRef
	all := in.trackIfs
	if in.group != nil {
		for _, r := range in.group.trackIfs {
			r.fromGroup = in.group.name
			all = append(all, r)
		}
	}
	for _, r := range all {
		if ifs[r.name] {
			t.warn(r.node, r.ctx, "interface %s is already tracked", r.name)
			continue
		}
		if !adjust(&r, instanceKey(&instanceT.TrackInterface)) {
			continue
		}
		ifs[r.name] = true
		trackIfs = append(trackIfs, r)
	}
	in.trackIfs = trackIfs

	names := map[string]bool{}
	var trackScripts []trackRef
	all = in.trackScripts
	if in.group != nil {
		for _, r := range in.group.trackScripts {
			r.fromGroup = in.group.name
			all = append(all, r)
		}
	}
	for _, r := range all {
		s := scripts[r.name]
		switch {
		case s == nil:
			t.warn(r.node, r.ctx, "no vrrp_script %s was translated", r.name)
			continue
		case names[r.name]:
			t.warn(r.node, r.ctx, "script %s is already tracked", r.name)
			continue
		}
		if !adjust(&r, instanceKey(&instanceT.TrackScript)) {
			continue
		}
		names[r.name] = true
		if !r.revSet {
			r.reverse = s.reverse // keepalived: a track takes the script's reverse unless it says
		}
		w := s.weight
		if r.weightSet {
			w = r.weight
		}
		r.name = s.variant(s.name, w, t.scriptNames())
		if r.name != s.name {
			in.comment(instanceKey(&instanceT.TrackScript), fmt.Sprintf("%s is vrrp_script %s with weight %d (hadirector's track_script has no weight of its own)", r.name, s.name, w))
		} else if w != s.weight {
			in.comment(instanceKey(&instanceT.TrackScript), fmt.Sprintf("%s is tracked with weight %d (hadirector's track_script has no weight of its own)", r.name, w))
		}
		trackScripts = append(trackScripts, r)
	}
	in.trackScripts = trackScripts
}

// variant returns the name of the table for weight w: the first weight asked
// for keeps the name, others get a copy named NAME_weight_W.
func (s *weightVariants) variant(name string, w int, taken map[string]bool) string {
	if name, ok := s.variants[w]; ok {
		return name
	}
	if s.variants == nil {
		s.variants = map[int]string{}
	}
	if len(s.variants) > 0 {
		base := name + "_weight_" + strings.ReplaceAll(strconv.Itoa(w), "-", "minus_")
		name = base
		for i := 2; taken[name]; i++ {
			name = fmt.Sprintf("%s_%d", base, i)
		}
	}
	taken[name] = true
	s.variants[w] = name
	s.order = append(s.order, w)
	return name
}

// scriptNames is every [[vrrp_script]] name in use so far.
func (t *translator) scriptNames() map[string]bool {
	taken := map[string]bool{}
	for _, s := range t.scripts {
		taken[s.name] = true
		for _, n := range s.variants {
			taken[n] = true
		}
	}
	return taken
}

// blockName is the one name of a named block (vrrp_instance NAME { … }); prev finds the
// block defined earlier under that name, if any. ok is false, after a warning, when the
// block is to be left out: no name or several, a name that is not UTF-8, or a name already
// taken (keepalived skips the later block too).
func (t *translator) blockName(n *node, prev func(name string) *node) (name string, ok bool) {
	if len(n.Words) != 2 || n.arg(1) == "" {
		t.warn(n, "", "needs exactly one name, got %q", strings.Join(n.Words[1:], " "))
		return "", false
	}
	name = n.arg(1)
	if !validText(name) {
		t.warn(n, "", "the name is not valid UTF-8")
		return "", false
	}
	if o := prev(name); o != nil {
		t.warn(n, "", "%q is already defined at %s:%d: keepalived skips it too", name, o.File, o.Line)
		return "", false
	}
	return name, true
}

// checkSyncGroup keeps the members of the group that config accepts (translated
// instances, each in one group), and the group if one is left.
func (t *translator) checkSyncGroup(g *syncGroup, byName map[string]*instance) {
	members := slices.Clone(g.members)
	refused := make([]bool, len(members))
	t.places[elemPath(cfgKey(&cfgT.SyncGroups), len(t.cfg.SyncGroups))] = source(g.node)
	settle := func() (config.SyncGroup, error) {
		for i := len(members) - 1; i >= 0; i-- {
			if refused[i] {
				members, refused = slices.Delete(members, i, i+1), slices.Delete(refused, i, i+1)
			}
		}
		c := config.SyncGroup{Name: g.name, NotifyMaster: g.hooks["notify_master"], NotifyBackup: g.hooks["notify_backup"],
			NotifyFault: g.hooks["notify_fault"], NotifyStop: g.hooks["notify_stop"], Notify: g.hooks["notify"]}
		for _, m := range members {
			c.Group = append(c.Group, m.name)
		}
		g.conf = c
		return c, nil
	}
	mend := func(p config.Problem) func() {
		key, j, _ := splitKey(p.Key)
		if key != config.Key(&syncGroupT, &syncGroupT.Group) || j < 0 || j >= len(members) {
			return nil
		}
		return func() {
			if m := members[j]; !refused[j] {
				t.warnKeyword(m.node, within(g.ctx, "group"), m.name, "%s; left out", problemText(p))
				refused[j] = true
			}
		}
	}
	if err := admit(t, &t.cfg.SyncGroups, settle, t.ck.SyncGroup, mend, nil); err != nil {
		t.warn(g.node, g.ctx, "%v; the group is left out", err)
		return
	}
	for _, m := range members {
		in := byName[m.name]
		in.group = g
		g.kept = append(g.kept, in)
	}
}

// variant is one [[vrrp_script]] or [[vrrp_track_file]] table of a script or track file.
type variant struct {
	name   string
	weight int
}

// list is the tables: one per weight the instances track it with, or the element's
// own name and weight when none does.
func (s *weightVariants) list(name string, weight int) []variant {
	if len(s.order) == 0 {
		return []variant{{name, weight}}
	}
	out := make([]variant, len(s.order))
	for i, w := range s.order {
		out[i] = variant{s.variants[w], w}
	}
	return out
}

// checkTracks keeps the script and track file tables config accepts, then the tracks of
// each instance that config accepts (a track of a table left out is left out too).
func (t *translator) checkTracks() {
	for _, s := range t.scripts {
		if s.dropped {
			continue
		}
		for _, v := range s.list(s.name, s.weight) {
			c := config.WithDefaults[config.VRRPScript]()
			c.Name, c.Script, c.Weight, c.Rise, c.Fall = v.name, s.cmd, v.weight, s.rise, s.fall
			c.InitFail = s.initFail
			c.Interval, c.Timeout = config.Duration(s.interval), config.Duration(s.timeout)
			t.places[elemPath(cfgKey(&cfgT.Scripts), len(t.cfg.Scripts))] = source(s.node)
			if err := admit(t, &t.cfg.Scripts, func() (config.VRRPScript, error) { return c, nil }, t.ck.Script, nil, nil); err != nil {
				t.warn(s.node, s.ctx, "%v; %s is left out", err, v.name)
				s.refused = append(s.refused, v.name)
			}
		}
	}
	for _, f := range t.files {
		if f.dropped {
			continue
		}
		for _, v := range f.tableList() {
			c := config.TrackFile{Name: v.name, File: f.path, Weight: v.weight}
			t.places[elemPath(cfgKey(&cfgT.TrackFiles), len(t.cfg.TrackFiles))] = source(f.node)
			if err := admit(t, &t.cfg.TrackFiles, func() (config.TrackFile, error) { return c, nil }, t.ck.TrackFile, nil, nil); err != nil {
				t.warn(f.node, f.ctx, "%v; %s is left out", err, v.name)
				f.refused = append(f.refused, v.name)
			}
		}
	}
	for _, in := range t.instances {
		if in.dropped {
			continue
		}
		c := &t.cfg.Instances[in.index]
	check:
		for {
			refused := func(r trackRef) bool { return r.refused }
			in.trackIfs = slices.DeleteFunc(in.trackIfs, refused)
			in.trackScripts = slices.DeleteFunc(in.trackScripts, refused)
			for j := len(in.trackFileKept) - 1; j >= 0; j-- {
				if in.trackFileKept[j].refused {
					in.trackFileKept, in.trackFileNames = slices.Delete(in.trackFileKept, j, j+1), slices.Delete(in.trackFileNames, j, j+1)
				}
			}
			c.TrackInterface = nil
			for _, r := range in.trackIfs {
				c.TrackInterface = append(c.TrackInterface, config.TrackInterface{Name: r.name, Weight: r.weight, Reverse: r.reverse})
			}
			c.TrackScript = nil
			for _, r := range in.trackScripts {
				c.TrackScript = append(c.TrackScript, config.TrackRef{Name: r.name, Reverse: r.reverse})
			}
			c.TrackFile = nil
			for _, name := range in.trackFileNames {
				c.TrackFile = append(c.TrackFile, config.TrackRef{Name: name})
			}
			probs := t.ck.Instance(in.index)
			if len(probs) == 0 {
				break
			}
			var fixes []func()
			for _, p := range probs {
				fix := t.mendTrack(in, p)
				if fix == nil {
					break check // a bug: the configuration check at the end reports it
				}
				fixes = append(fixes, fix)
			}
			for _, fix := range fixes {
				fix()
			}
		}
	}
}

// mendTrack returns how to leave out the track problem p names, or nil.
func (t *translator) mendTrack(in *instance, p config.Problem) func() {
	key, j, _ := splitKey(p.Key)
	var node *node
	var ctx string
	var refused *bool
	switch {
	case j < 0:
		return nil
	case key == instanceKey(&instanceT.TrackInterface) && j < len(in.trackIfs):
		r := &in.trackIfs[j]
		node, ctx, refused = r.node, r.ctx, &r.refused
	case key == instanceKey(&instanceT.TrackScript) && j < len(in.trackScripts):
		r := &in.trackScripts[j]
		node, ctx, refused = r.node, r.ctx, &r.refused
	case key == instanceKey(&instanceT.TrackFile) && j < len(in.trackFileKept):
		r := &in.trackFileKept[j]
		node, ctx, refused = r.node, r.ctx, &r.refused
	default:
		return nil
	}
	return func() {
		if !*refused {
			t.warn(node, ctx, "%s; the track is left out", problemText(p))
			*refused = true
		}
	}
}
