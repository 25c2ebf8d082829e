package kaimport

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
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
	schemaOrder(t.global, "router_id", "notify_fifo", "script_user", "enable_script_security", "realtime_priority",
		"lock_memory", "garp_master_delay", "garp_master_repeat", "garp_master_refresh")
	schemaOrder(t.lvs, "timeout_tcp", "timeout_tcpfin", "timeout_udp", "on_backup")
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
		schemaOrder(t.syncd, "interface", "instance", "sync_id", "max_len", "group", "port", "ttl")
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
func schemaOrder(tb *table, keys ...string) {
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
		if vs.check != nil && vs.check.command != "" {
			return true
		}
		for _, rs := range vs.rss {
			if len(rs.hooks) > 0 || rs.check != nil && rs.check.command != "" {
				return true
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
		tb.set("name", tomlString(name))
		var sc []string
		if s.cmdComment != "" {
			sc = append(sc, s.cmdComment)
		}
		tb.set("script", tomlString(s.cmd), sc...)
		tb.set("interval", tomlDuration(s.interval))
		var tc []string
		if !s.timeoutSet {
			tc = append(tc, "keepalived's default: the interval")
		}
		tb.set("timeout", tomlDuration(s.timeout), tc...)
		tb.set("weight", tomlInt(weight))
		tb.set("rise", tomlInt(s.rise))
		tb.set("fall", tomlInt(s.fall))
		return tb
	}
	if len(s.order) == 0 {
		return []*table{one(s.name, s.weight, "")}
	}
	var out []*table
	for _, w := range s.order {
		comment := ""
		switch name := s.variants[w]; {
		case name != s.name:
			comment = fmt.Sprintf("vrrp_script %s with weight %d, for the instances that track it with that weight", s.name, w)
		case w != s.weight:
			comment = fmt.Sprintf("weight %d (keepalived: %d): the weight the instances track it with", w, s.weight)
		}
		out = append(out, one(s.variants[w], w, comment))
	}
	return out
}

func (in *instance) table() *table {
	tb := &table{header: "[[vrrp_instance]]", source: source(in.node)}
	set := func(key, value string) { tb.set(key, value, in.comments[key]...) }
	set("name", tomlString(in.name))
	set("interface", tomlString(in.iface))
	set("virtual_router_id", tomlInt(in.vrid))
	set("version", tomlInt(in.version))
	set("priority", tomlInt(in.priority))
	set("advert_int", tomlDuration(in.advert))
	if in.nopreempt {
		set("nopreempt", "true")
	}
	if in.preemptDelay > 0 {
		set("preempt_delay", tomlDuration(in.preemptDelay))
	}
	if in.src.IsValid() {
		set("unicast_src_ip", tomlString(in.src.String()))
	}
	if len(in.peers) > 0 {
		peers := make([]string, len(in.peers))
		for i, p := range in.peers {
			peers[i] = p.addr.String()
		}
		set("unicast_peer", tomlStrings(peers))
	}
	if in.auth != "" {
		set("auth_pass", tomlString(in.auth))
	}
	if in.vmac {
		set("use_vmac", "true")
		if in.vmacName != "" {
			set("vmac_name", tomlString(in.vmacName))
		}
	}
	if in.oldChecksum != "" {
		set("old_unicast_checksum", tomlString(in.oldChecksum))
	}
	vips := make([]string, len(in.vips))
	for i, v := range in.vips {
		vips[i] = v.prefix.String()
	}
	set("virtual_ipaddress", tomlStrings(vips))
	if in.label != "" {
		set("virtual_ipaddress_label", tomlString(in.label))
	}
	if len(in.trackIfs) > 0 || len(in.comments["track_interface"]) > 0 {
		items := make([]string, len(in.trackIfs))
		for i, r := range in.trackIfs {
			items[i] = fmt.Sprintf("{ name = %s, weight = %d }", tomlString(r.name), r.weight)
		}
		set("track_interface", "["+strings.Join(items, ", ")+"]")
	}
	if len(in.trackScripts) > 0 || len(in.comments["track_script"]) > 0 {
		names := make([]string, len(in.trackScripts))
		for i, r := range in.trackScripts {
			names[i] = r.name
		}
		set("track_script", tomlStrings(names))
	}
	if len(in.trackFileNames) > 0 || len(in.comments["track_file"]) > 0 {
		set("track_file", tomlStrings(in.trackFileNames))
	}
	for _, k := range hookKeys {
		if cmd := in.hooks[k]; cmd != "" {
			set(k, tomlString(cmd))
		}
	}
	if in.garpDelay != nil {
		set("garp_master_delay", tomlDuration(*in.garpDelay))
	}
	if in.garpRepeat != nil {
		set("garp_master_repeat", tomlInt(*in.garpRepeat))
	}
	if in.garpRefresh != nil {
		set("garp_master_refresh", tomlDuration(*in.garpRefresh))
	}
	return tb
}

func (g *syncGroup) table() *table {
	tb := &table{header: "[[vrrp_sync_group]]", source: source(g.node)}
	tb.set("name", tomlString(g.name))
	names := make([]string, len(g.kept))
	for i, in := range g.kept {
		names[i] = in.name
	}
	tb.set("group", tomlStrings(names))
	for _, k := range hookKeys {
		if cmd := g.hooks[k]; cmd != "" {
			tb.set(k, tomlString(cmd), g.comments[k]...)
		}
	}
	var tracks []string
	for _, k := range []struct {
		key string
		n   int
	}{{"track_interface", len(g.trackIfs)}, {"track_script", len(g.trackScripts)}, {"track_file", len(g.trackFileRefs)}} {
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
	tb := &table{header: "[[virtual_server]]", source: source(vs.node), comments: vs.header}
	set := func(key, value string) { tb.set(key, value, vs.comments[key]...) }
	if vs.fwmark != 0 {
		set("fwmark", tomlInt(vs.fwmark))
	} else {
		set("address", tomlString(netip.AddrPortFrom(vs.addr, uint16(vs.port)).String()))
	}
	set("protocol", tomlString(vs.protocol))
	set("scheduler", tomlString(vs.scheduler))
	if len(vs.flagsOut) > 0 {
		set("scheduler_flags", tomlStrings(vs.flagsOut))
	}
	set("forwarding", tomlString(vs.forwarding))
	if vs.persist > 0 {
		set("persistence_timeout", tomlDuration(vs.persist))
	}
	if vs.mask.IsValid() {
		set("persistence_netmask", tomlString(vs.mask.String()))
	}
	if vs.ops != nil {
		set("one_packet", "true")
	}
	if vs.sorry != nil {
		set("sorry_server", tomlString(netip.AddrPortFrom(vs.sorry.addr, uint16(vs.sorry.port)).String()))
	}
	if *vs.inhibit {
		set("inhibit_on_failure", "true")
	}
	if vs.quorum != 1 || len(vs.comments["quorum"]) > 0 {
		set("quorum", tomlInt(vs.quorum))
	}
	if vs.hysteresis != 0 || len(vs.comments["hysteresis"]) > 0 {
		set("hysteresis", tomlInt(vs.hysteresis))
	}
	out := []*table{tb}
	if vs.check != nil {
		out = append(out, vs.check.table("[virtual_server.check]"))
	}
	for _, rs := range vs.rss {
		rt := &table{header: "[[virtual_server.real_server]]", source: source(rs.node)}
		set := func(key, value string) { rt.set(key, value, rs.comments[key]...) }
		set("address", tomlString(netip.AddrPortFrom(rs.addr, uint16(rs.port)).String()))
		set("weight", tomlInt(rs.weight))
		if rs.forwarding != vs.forwarding {
			set("forwarding", tomlString(rs.forwarding))
		}
		if rs.upper > 0 {
			set("upper_threshold", tomlInt(rs.upper))
		}
		if rs.lower > 0 {
			set("lower_threshold", tomlInt(rs.lower))
		}
		for _, k := range []string{"notify_up", "notify_down"} {
			if cmd := rs.hooks[k]; cmd != "" {
				rt.set(k, tomlString(cmd), append(rs.comments[k], "hadirector appends REALSERVER <vs> <rs> "+strings.ToUpper(strings.TrimPrefix(k, "notify_"))+" to the arguments (keepalived appends nothing)")...)
			}
		}
		out = append(out, rt)
		if rs.check != nil {
			out = append(out, rs.check.table("[virtual_server.real_server.check]"))
		}
	}
	return out
}

func (c *check) table(header string) *table {
	tb := &table{header: header}
	set := func(key, value string) { tb.set(key, value, c.comments[key]...) }
	set("type", tomlString(c.typ))
	if c.typ == "http" || c.typ == "https" {
		set("path", tomlString(c.path))
		if c.host != "" {
			set("host", tomlString(c.host))
		}
		set("expect_status", tomlInts(c.status))
		if c.body != "" {
			set("expect_body", tomlString(c.body))
		}
		if c.typ == "https" {
			set("tls_verify", tomlBool(c.tlsVerify))
			if c.sni != "" {
				set("sni", tomlString(c.sni))
			}
		}
	}
	if c.port != 0 {
		set("connect_port", tomlInt(c.port))
	}
	if c.bindTo.IsValid() {
		set("bind_to", tomlString(c.bindTo.String()))
	}
	if c.command != "" {
		set("command", tomlString(c.command))
	}
	set("interval", tomlDuration(c.interval))
	set("timeout", tomlDuration(c.timeout))
	set("rise", tomlInt(c.rise))
	set("fall", tomlInt(c.fall))
	return tb
}
