package kaimport

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/hadirector/hadirector/config"
)

func source(n *node) string { return fmt.Sprintf("%s:%d", n.File, n.Line) }

// render writes the translation as TOML.
func (t *translator) render(name string) []byte {
	var tables []*table

	top := &table{}
	top.comments = append(top.comments,
		fmt.Sprintf("hadirector configuration imported from %s by `hadirector import`.", name))
	if len(t.rd.files) > 1 {
		top.comments = append(top.comments, "Included files: "+strings.Join(t.rd.files[1:], ", "))
	}
	if t.rd.conditions {
		id := "(none)"
		if t.opt.ConfigID != "" {
			id = fmt.Sprintf("%q", t.opt.ConfigID)
		}
		top.comments = append(top.comments, "Conditional lines (@ID) were read for config id "+id+" (keepalived -i).")
	}
	top.comments = append(top.comments, `Comments starting "approximate:" mark values that only approximate keepalived's behaviour;`)
	if len(t.warnings) == 0 {
		top.comments = append(top.comments, "every keyword was translated.")
	} else {
		top.comments = append(top.comments, fmt.Sprintf("what was not translated (%d) is listed at the end of this file.", len(t.warnings)))
	}
	tables = append(tables, top)

	if !t.scriptSecurity && t.hasHooks() {
		t.global.comments = append(t.global.comments,
			"keepalived ran these hooks without enable_script_security; hadirector checks that hooks",
			"run as root cannot be modified by other users (enable_script_security = true, the",
			"default): `hadirector check --host` lists the ones that fail.")
	}
	schemaOrder[config.Global](t.global)
	schemaOrder[config.LVS](t.lvs)
	if len(t.global.entries) > 0 || len(t.global.comments) > 0 {
		tables = append(tables, t.global)
	}
	for _, s := range t.scripts {
		if !s.dropped {
			tables = append(tables, s.tables()...)
		}
	}
	for _, f := range t.files {
		if !f.dropped {
			tables = append(tables, f.tables()...)
		}
	}
	for _, in := range t.instances {
		if !in.dropped {
			tables = append(tables, in.table())
		}
	}
	for _, g := range t.groups {
		if len(g.kept) > 0 {
			tables = append(tables, g.table())
		}
	}
	if len(t.lvs.entries) > 0 {
		tables = append(tables, t.lvs)
	}
	if len(t.syncd.entries) > 0 {
		schemaOrder[config.SyncDaemon](t.syncd)
		tables = append(tables, t.syncd)
	}
	for _, vs := range t.vservers {
		tables = append(tables, vs.tables()...)
	}

	var b strings.Builder
	for _, tb := range tables {
		tb.write(&b)
	}
	if len(t.warnings) > 0 {
		b.WriteString("\n")
		writeComment(&b, "", fmt.Sprintf("Not translated (%d):", len(t.warnings)))
		for _, w := range t.warnings {
			writeComment(&b, "", "  "+w.String())
		}
	}
	return []byte(b.String())
}

// schemaOrder sorts a table's keys in the order of the reference schema.
func schemaOrder[S any](tb *table) {
	keys := config.Keys[S]()
	slices.SortStableFunc(tb.entries, func(a, b entry) int {
		return slices.Index(keys, a.key) - slices.Index(keys, b.key)
	})
}

func (t *translator) hasHooks() bool {
	for _, s := range t.scripts {
		if !s.dropped {
			return true
		}
	}
	for _, in := range t.instances {
		if !in.dropped && len(in.hooks) > 0 {
			return true
		}
	}
	for _, g := range t.groups {
		if len(g.kept) > 0 && len(g.hooks) > 0 {
			return true
		}
	}
	for _, vs := range t.vservers {
		if vs.check != nil && vs.check.command != "" || len(vs.quorumHook) > 0 {
			return true
		}
		for _, rs := range vs.rss {
			if len(rs.hooks) > 0 || rs.check != nil && rs.check.command != "" {
				return true
			}
			for _, x := range rs.extra {
				if x.command != "" {
					return true
				}
			}
		}
	}
	return false
}

// tables writes the script once per weight the instances track it with (once
// with its own weight when no instance tracks it).
func (s *script) tables() []*table {
	one := func(name string, weight int, comment string) *table {
		tb := &table{header: "[[vrrp_script]]", source: source(s.node)}
		if comment != "" {
			tb.comments = []string{comment}
		}
		set := func(field any, value string, comments ...string) {
			tb.set(config.Key(&scriptT, field), value, comments...)
		}
		set(&scriptT.Name, tomlString(name))
		var sc []string
		if s.cmdComment != "" {
			sc = append(sc, s.cmdComment)
		}
		set(&scriptT.Script, tomlString(s.cmd), sc...)
		set(&scriptT.Interval, tomlDuration(s.interval))
		var tc []string
		if !s.timeoutSet {
			tc = append(tc, "keepalived's default: the interval")
		}
		set(&scriptT.Timeout, tomlDuration(s.timeout), tc...)
		set(&scriptT.Weight, tomlInt(weight))
		set(&scriptT.Rise, tomlInt(s.rise))
		set(&scriptT.Fall, tomlInt(s.fall))
		if s.initFail {
			set(&scriptT.InitFail, "true")
		}
		return tb
	}
	var out []*table
	for _, v := range s.list(s.name, s.weight) {
		comment := ""
		switch {
		case slices.Contains(s.refused, v.name):
			continue
		case v.name != s.name:
			comment = fmt.Sprintf("vrrp_script %s with weight %d, for the instances that track it with that weight", s.name, v.weight)
		case v.weight != s.weight:
			comment = fmt.Sprintf("weight %d (keepalived: %d): the weight the instances track it with", v.weight, s.weight)
		}
		out = append(out, one(v.name, v.weight, comment))
	}
	return out
}

func (in *instance) table() *table {
	c := &in.conf
	tb := &table{header: "[[vrrp_instance]]", source: source(in.node)}
	set := func(field any, value string) {
		k := config.Key(c, field)
		tb.set(k, value, append(slices.Clone(in.comments[k]), in.settled[k]...)...)
	}
	set(&c.Name, tomlString(c.Name))
	set(&c.Interface, tomlString(c.Interface))
	set(&c.VirtualRouterID, tomlInt(c.VirtualRouterID))
	set(&c.Version, tomlInt(c.Version))
	set(&c.Priority, tomlInt(c.Priority))
	set(&c.AdvertInt, tomlDuration(c.AdvertInt.Std()))
	if c.NoPreempt {
		set(&c.NoPreempt, "true")
	}
	if c.PreemptDelay > 0 {
		set(&c.PreemptDelay, tomlDuration(c.PreemptDelay.Std()))
	}
	if c.UnicastSrcIP.IsValid() {
		set(&c.UnicastSrcIP, tomlString(c.UnicastSrcIP.String()))
	}
	if len(c.UnicastPeer) > 0 {
		set(&c.UnicastPeer, tomlStrings(strs(c.UnicastPeer)))
	}
	if c.AuthPass != "" {
		set(&c.AuthPass, tomlString(c.AuthPass))
	}
	if c.UseVMAC {
		set(&c.UseVMAC, "true")
		if c.VMACName != "" {
			set(&c.VMACName, tomlString(c.VMACName))
		}
	}
	if in.writeChecksum {
		set(&c.OldUnicastChecksum, tomlString(c.OldUnicastChecksum))
	}
	set(&c.VirtualIPAddress, tomlStrings(strs(c.VirtualIPAddress)))
	if c.VirtualIPAddressLabel != "" {
		set(&c.VirtualIPAddressLabel, tomlString(c.VirtualIPAddressLabel))
	}
	if len(c.VirtualAddress) > 0 {
		items := make([]string, len(c.VirtualAddress))
		for i, va := range c.VirtualAddress {
			items[i] = virtualAddress(va)
		}
		set(&c.VirtualAddress, "["+strings.Join(items, ", ")+"]")
	}
	if len(c.VirtualRoutes) > 0 {
		items := make([]string, len(c.VirtualRoutes))
		for i, r := range c.VirtualRoutes {
			items[i] = virtualRoute(r)
		}
		set(&c.VirtualRoutes, "["+strings.Join(items, ", ")+"]")
	}
	if len(c.VirtualRules) > 0 {
		items := make([]string, len(c.VirtualRules))
		for i, r := range c.VirtualRules {
			items[i] = virtualRule(r)
		}
		set(&c.VirtualRules, "["+strings.Join(items, ", ")+"]")
	}
	if len(c.VirtualIPAddressExcluded) > 0 {
		set(&c.VirtualIPAddressExcluded, tomlStrings(strs(c.VirtualIPAddressExcluded)))
	}
	if len(in.trackIfs) > 0 || len(in.comments[config.Key(c, &c.TrackInterface)]) > 0 {
		items := make([]string, len(in.trackIfs))
		ti := &config.TrackInterface{}
		for i, r := range in.trackIfs {
			rev := ""
			if r.reverse {
				rev = fmt.Sprintf(", %s = true", config.Key(ti, &ti.Reverse))
			}
			items[i] = fmt.Sprintf("{ %s = %s, %s = %d%s }", config.Key(ti, &ti.Name), tomlString(r.name), config.Key(ti, &ti.Weight), r.weight, rev)
		}
		set(&c.TrackInterface, "["+strings.Join(items, ", ")+"]")
	}
	if len(in.trackScripts) > 0 || len(in.comments[config.Key(c, &c.TrackScript)]) > 0 {
		items := make([]string, len(in.trackScripts))
		tr := &config.TrackRef{}
		for i, r := range in.trackScripts {
			items[i] = tomlString(r.name)
			if r.reverse {
				items[i] = fmt.Sprintf("{ %s = %s, %s = true }", config.Key(tr, &tr.Name), tomlString(r.name), config.Key(tr, &tr.Reverse))
			}
		}
		set(&c.TrackScript, "["+strings.Join(items, ", ")+"]")
	}
	if len(in.trackFileNames) > 0 || len(in.comments[config.Key(c, &c.TrackFile)]) > 0 {
		set(&c.TrackFile, tomlStrings(in.trackFileNames))
	}
	for _, h := range []*string{&c.NotifyMaster, &c.NotifyBackup, &c.NotifyFault, &c.NotifyStop, &c.Notify} {
		if *h != "" {
			set(h, tomlString(*h))
		}
	}
	if in.garpDelay != nil {
		set(&c.GARPMasterDelay, tomlDuration(*in.garpDelay))
	}
	if in.garpRepeat != nil {
		set(&c.GARPMasterRepeat, tomlInt(*in.garpRepeat))
	}
	if in.garpRefresh != nil {
		set(&c.GARPMasterRefresh, tomlDuration(*in.garpRefresh))
	}
	return tb
}

// virtualAddress is va as an inline table, with the keys it sets.
func virtualAddress(va config.VirtualAddress) string {
	kv := []string{config.Key(&va, &va.Address) + " = " + tomlString(va.Address.String())}
	for _, f := range []*string{&va.Dev, &va.Label, &va.Scope} {
		if *f != "" {
			kv = append(kv, config.Key(&va, f)+" = "+tomlString(*f))
		}
	}
	if va.Broadcast.IsValid() {
		kv = append(kv, config.Key(&va, &va.Broadcast)+" = "+tomlString(va.Broadcast.String()))
	}
	if va.Excluded {
		kv = append(kv, config.Key(&va, &va.Excluded)+" = true")
	}
	return "{ " + strings.Join(kv, ", ") + " }"
}

// virtualRoute is r as an inline table, with the keys it sets.
func virtualRoute(r config.VirtualRoute) string {
	kv := []string{config.Key(&r, &r.To) + " = " + tomlString(r.To.String())}
	for _, a := range []*netip.Addr{&r.Via, &r.Src} {
		if a.IsValid() {
			kv = append(kv, config.Key(&r, a)+" = "+tomlString(a.String()))
		}
	}
	for _, f := range []*string{&r.Dev, &r.Type} {
		if *f != "" {
			kv = append(kv, config.Key(&r, f)+" = "+tomlString(*f))
		}
	}
	for _, f := range []*int{&r.Table, &r.Metric} {
		if *f != 0 {
			kv = append(kv, config.Key(&r, f)+" = "+tomlInt(*f))
		}
	}
	return "{ " + strings.Join(kv, ", ") + " }"
}

// virtualRule is r as an inline table, with the keys it sets.
func virtualRule(r config.VirtualRule) string {
	var kv []string
	for _, p := range []*netip.Prefix{&r.From, &r.To} {
		if p.IsValid() {
			kv = append(kv, config.Key(&r, p)+" = "+tomlString(p.String()))
		}
	}
	for _, f := range []*string{&r.IIF, &r.OIF} {
		if *f != "" {
			kv = append(kv, config.Key(&r, f)+" = "+tomlString(*f))
		}
	}
	for _, f := range []*int{&r.Fwmark, &r.Priority, &r.Table} {
		if *f != 0 {
			kv = append(kv, config.Key(&r, f)+" = "+tomlInt(*f))
		}
	}
	return "{ " + strings.Join(kv, ", ") + " }"
}

// strs formats addresses or prefixes for tomlStrings.
func strs[T fmt.Stringer](list []T) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = v.String()
	}
	return out
}

func (g *syncGroup) table() *table {
	c := &g.conf
	tb := &table{header: "[[vrrp_sync_group]]", source: source(g.node)}
	set := func(field any, value string) {
		k := config.Key(c, field)
		tb.set(k, value, g.comments[k]...)
	}
	set(&c.Name, tomlString(c.Name))
	names := make([]string, len(g.kept))
	for i, in := range g.kept {
		names[i] = in.name
	}
	set(&c.Group, tomlStrings(names))
	for _, h := range []*string{&c.NotifyMaster, &c.NotifyBackup, &c.NotifyFault, &c.NotifyStop, &c.Notify} {
		if *h != "" {
			set(h, tomlString(*h))
		}
	}
	var tracks []string
	for _, k := range []struct {
		key string
		n   int
	}{{instanceKey(&instanceT.TrackInterface), len(g.trackIfs)}, {instanceKey(&instanceT.TrackScript), len(g.trackScripts)}, {instanceKey(&instanceT.TrackFile), len(g.trackFileRefs)}} {
		if k.n > 0 {
			tracks = append(tracks, k.key)
		}
	}
	if len(tracks) > 0 {
		tb.comments = append(tb.comments, "the group's tracks ("+strings.Join(tracks, ", ")+") are on each member instance")
	}
	return tb
}

func (vs *vserver) tables() []*table {
	c := &vs.conf
	tb := &table{header: "[[virtual_server]]", source: source(vs.node), comments: vs.header}
	comments := func(k string) []string { return append(slices.Clone(vs.comments[k]), vs.settled[k]...) }
	set := func(field any, value string) {
		k := config.Key(c, field)
		tb.set(k, value, comments(k)...)
	}
	if c.FWMark != 0 {
		set(&c.FWMark, tomlInt(c.FWMark))
	} else {
		set(&c.Address, tomlString(c.Address.String()))
	}
	set(&c.Protocol, tomlString(c.Protocol))
	set(&c.Scheduler, tomlString(c.Scheduler))
	if len(c.SchedulerFlags) > 0 {
		set(&c.SchedulerFlags, tomlStrings(c.SchedulerFlags))
	}
	set(&c.Forwarding, tomlString(c.Forwarding))
	if c.PersistenceTimeout > 0 {
		set(&c.PersistenceTimeout, tomlDuration(c.PersistenceTimeout.Std()))
	}
	if c.PersistenceNetmask.IsValid() {
		set(&c.PersistenceNetmask, tomlString(c.PersistenceNetmask.String()))
	}
	if c.OnePacket {
		set(&c.OnePacket, "true")
	}
	if c.SorryServer.IsValid() {
		set(&c.SorryServer, tomlString(c.SorryServer.String()))
	}
	if *vs.inhibit {
		set(&c.InhibitOnFailure, "true")
	}
	if c.Quorum != 1 || len(comments(config.Key(c, &c.Quorum))) > 0 {
		set(&c.Quorum, tomlInt(c.Quorum))
	}
	if c.Hysteresis != 0 || len(comments(config.Key(c, &c.Hysteresis))) > 0 {
		set(&c.Hysteresis, tomlInt(c.Hysteresis))
	}
	if c.QuorumUp != "" {
		set(&c.QuorumUp, tomlString(c.QuorumUp))
	}
	if c.QuorumDown != "" {
		set(&c.QuorumDown, tomlString(c.QuorumDown))
	}
	if c.Alpha {
		set(&c.Alpha, "true")
	}
	if c.Omega {
		set(&c.Omega, "true")
	}
	out := []*table{tb}
	if vs.check != nil {
		out = append(out, vs.check.tables("[virtual_server.check]", "[[virtual_server.check.url]]")...)
	}
	for _, rs := range vs.rss {
		rt := &table{header: "[[virtual_server.real_server]]", source: source(rs.node)}
		set := func(field any, value string) {
			k := rserverKey(field)
			rt.set(k, value, rs.comments[k]...)
		}
		set(&rserverT.Address, tomlString(netip.AddrPortFrom(rs.addr, uint16(rs.port)).String()))
		set(&rserverT.Weight, tomlInt(rs.weight))
		if rs.forwarding != c.Forwarding {
			set(&rserverT.Forwarding, tomlString(rs.forwarding))
		}
		if rs.upper > 0 {
			set(&rserverT.UpperThreshold, tomlInt(rs.upper))
		}
		if rs.lower > 0 {
			set(&rserverT.LowerThreshold, tomlInt(rs.lower))
		}
		for _, h := range []struct {
			field any
			kw    string
		}{{&rserverT.NotifyUp, "notify_up"}, {&rserverT.NotifyDown, "notify_down"}} {
			if cmd := rs.hooks[h.kw]; cmd != "" {
				k := rserverKey(h.field)
				rt.set(k, tomlString(cmd), append(rs.comments[k], "hadirector appends REALSERVER <vs> <rs> "+strings.ToUpper(strings.TrimPrefix(h.kw, "notify_"))+" to the arguments (keepalived appends nothing)")...)
			}
		}
		out = append(out, rt)
		if rs.check != nil {
			out = append(out, rs.check.tables("[virtual_server.real_server.check]", "[[virtual_server.real_server.check.url]]")...)
		}
		for _, x := range rs.extra {
			out = append(out, x.tables("[[virtual_server.real_server.checks]]", "[[virtual_server.real_server.checks.url]]")...)
		}
	}
	return out
}

// tables writes the check under header and its url blocks under urlHeader.
func (c *check) tables(header, urlHeader string) []*table {
	out := []*table{c.table(header)}
	for _, u := range c.urls {
		ut := &table{header: urlHeader, source: source(u.node)}
		set := func(field any, value string, comments ...string) {
			ut.set(config.Key(&urlT, field), value, comments...)
		}
		var notes []string
		if u.note != "" {
			notes = append(notes, u.note)
		}
		set(&urlT.Path, tomlString(u.path), notes...)
		set(&urlT.ExpectStatus, tomlInts(u.status))
		if u.digest != "" {
			set(&urlT.Digest, tomlString(u.digest))
		}
		if u.regex != "" {
			set(&urlT.Regex, tomlString(u.regex), u.regexNote)
		}
		if u.noMatch {
			set(&urlT.RegexNoMatch, "true")
		}
		if u.host != "" {
			set(&urlT.Virtualhost, tomlString(u.host))
		}
		out = append(out, ut)
	}
	return out
}

func (c *check) table(header string) *table {
	tb := &table{header: header}
	set := func(field any, value string) {
		k := checkKey(field)
		tb.set(k, value, c.comments[k]...)
	}
	set(&checkT.Type, tomlString(c.typ))
	if (c.typ == "http" || c.typ == "https") && len(c.urls) > 0 {
		if c.host != "" {
			set(&checkT.Host, tomlString(c.host))
		}
		if c.typ == "https" {
			set(&checkT.TLSVerify, tomlBool(c.tlsVerify))
			if c.sni != "" {
				set(&checkT.SNI, tomlString(c.sni))
			}
		}
	} else if c.typ == "http" || c.typ == "https" {
		set(&checkT.Path, tomlString(c.path))
		if c.host != "" {
			set(&checkT.Host, tomlString(c.host))
		}
		set(&checkT.ExpectStatus, tomlInts(c.status))
		if c.body != "" {
			set(&checkT.ExpectBody, tomlString(c.body))
		}
		if c.typ == "https" {
			set(&checkT.TLSVerify, tomlBool(c.tlsVerify))
			if c.sni != "" {
				set(&checkT.SNI, tomlString(c.sni))
			}
		}
	}
	if c.port != 0 {
		set(&checkT.ConnectPort, tomlInt(c.port))
	}
	if c.bindTo.IsValid() {
		set(&checkT.BindTo, tomlString(c.bindTo.String()))
	}
	if c.command != "" {
		set(&checkT.Command, tomlString(c.command))
	}
	if c.dynamic {
		set(&checkT.MiscDynamic, "true")
	}
	switch c.typ {
	case "udp":
		if c.payload != "" {
			set(&checkT.Payload, tomlString(c.payload))
		}
		if c.require {
			set(&checkT.RequireReply, "true")
		}
		if c.reply != "" {
			set(&checkT.Reply, tomlString(c.reply))
		}
		if c.minReply != 0 {
			set(&checkT.MinReplyLength, tomlInt(c.minReply))
		}
		if c.maxReply != 0 {
			set(&checkT.MaxReplyLength, tomlInt(c.maxReply))
		}
	case "dns":
		if c.dnsType != "" {
			set(&checkT.DNSType, tomlString(c.dnsType))
		}
		if c.dnsName != "" {
			set(&checkT.DNSName, tomlString(c.dnsName))
		}
	case "smtp":
		if c.helo != "" {
			set(&checkT.HeloName, tomlString(c.helo))
		}
	case "file":
		set(&checkT.File, tomlString(c.file))
		set(&checkT.Weight, tomlInt(c.weight))
		if c.reverse {
			set(&checkT.Reverse, "true")
		}
	}
	set(&checkT.Interval, tomlDuration(c.interval))
	set(&checkT.Timeout, tomlDuration(c.timeout))
	set(&checkT.Rise, tomlInt(c.rise))
	set(&checkT.Fall, tomlInt(c.fall))
	if c.dbr > 0 {
		set(&checkT.DelayBeforeRetry, tomlDuration(c.dbr))
	}
	if c.warmup > 0 {
		set(&checkT.Warmup, tomlDuration(c.warmup))
	}
	return tb
}
