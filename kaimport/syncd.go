package kaimport

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// syncDaemon is one way keepalived was told to run the IPVS connection sync
// daemons: global_defs lvs_sync_daemon, or the deprecated vrrp_instance
// lvs_sync_daemon_interface.
type syncDaemon struct {
	node  *node
	ctx   string
	order [2]int // top-level block, line within it: keepalived keeps the first it reads
	iface string
	// inst is the instance the daemons follow ("" when none is named).
	inst string
	// fromInstance: lvs_sync_daemon_interface, where keepalived's sync id
	// defaults to 0, not to the VRID.
	fromInstance bool
	id           int
	idSet        bool
	maxLen       int
	port, ttl    int
	group        netip.Addr
}

// lvsSyncDaemon reads "lvs_sync_daemon INTERFACE [VRRP_INSTANCE] [SYNC_ID]
// [inst NAME] [id SYNC_ID] [maxlen LEN] [port PORT] [ttl TTL] [group ADDR]" as
// keepalived 2.2's global_parser.c does (the positional instance and sync id
// are its older form).
func (t *translator) lvsSyncDaemon(n *node, ctx string, line int) {
	if msg := validInterface(n.arg(1)); msg != "" {
		t.warn(n, ctx, "%s: keepalived ignores the line too", msg)
		return
	}
	sd := &syncDaemon{node: n, ctx: ctx, order: [2]int{t.top, line}, iface: n.arg(1)}
	t.syncds = append(t.syncds, sd)
	bad := func(format string, args ...any) { t.warnKeyword(n, ctx, n.keyword(), format, args...) }
	number := func(opt, v string, lo, hi int) (int, bool) {
		x, ok := parseUint(v, lo, hi)
		if !ok {
			bad("%s %q is not a number in %d..%d: keepalived ignores it too", opt, v, lo, hi)
		}
		return x, ok
	}
	for i := 2; i < len(n.Words); i++ {
		opt := n.Words[i]
		switch opt {
		case "inst", "id", "maxlen", "port", "ttl", "group":
			if i == len(n.Words)-1 {
				bad("%s has no value", opt)
				continue
			}
			i++
			v := n.Words[i]
			switch opt {
			case "inst":
				if sd.inst != "" {
					bad("the vrrp instance is already %s: keepalived ignores inst %s", sd.inst, v)
				} else if validText(v) && v != "" {
					sd.inst = v
				}
			case "id":
				if x, ok := number(opt, v, 0, 255); ok {
					sd.id, sd.idSet = x, true
				}
			case "maxlen":
				x, ok := number(opt, v, 1, 65507)
				switch {
				case !ok:
				case x < 256:
					bad("maxlen %d: hadirector takes 256..65507; the kernel's default (from the MTU) is kept", x)
				default:
					sd.maxLen = x
				}
			case "port":
				if x, ok := number(opt, v, 1, 65535); ok {
					sd.port = x
				}
			case "ttl":
				if x, ok := number(opt, v, 1, 255); ok {
					sd.ttl = x
				}
			case "group":
				a, err := netip.ParseAddr(v)
				if err != nil || !a.IsMulticast() || a.Zone() != "" {
					bad("group %q is not a multicast address: keepalived ignores it too", v)
					continue
				}
				sd.group = a
			}
		default:
			switch {
			case i == 2 && validText(opt):
				sd.inst = opt
			case i == 3:
				if x, ok := number("sync id", opt, 0, 255); ok {
					sd.id, sd.idSet = x, true
				}
			default:
				bad("%q is not one of inst, id, maxlen, port, ttl, group: keepalived ignores it too", opt)
			}
		}
	}
}

// lvsSyncDaemonInterface reads vrrp_instance lvs_sync_daemon_interface IFNAME
// (deprecated since keepalived 1.2.19): the sync daemons follow this instance
// with sync id 0.
func (t *translator) lvsSyncDaemonInterface(in *instance, n *node) {
	if msg := validInterface(n.arg(1)); msg != "" {
		t.warn(n, in.ctx, "%s", msg)
		return
	}
	t.extra(n, in.ctx, 1)
	line := slices.Index(in.node.Children, n)
	t.syncds = append(t.syncds, &syncDaemon{node: n, ctx: in.ctx, order: [2]int{t.top, line}, iface: n.arg(1), inst: in.name, fromInstance: true})
}

// resolveSyncDaemon writes [lvs.sync_daemon] from the first lvs_sync_daemon
// keepalived would have kept, when hadirector's schema lets it stand.
func (t *translator) resolveSyncDaemon() {
	if len(t.syncds) == 0 {
		return
	}
	slices.SortStableFunc(t.syncds, func(a, b *syncDaemon) int {
		return cmp.Or(cmp.Compare(a.order[0], b.order[0]), cmp.Compare(a.order[1], b.order[1]))
	})
	sd := t.syncds[0]
	for _, o := range t.syncds[1:] {
		t.warn(o.node, o.ctx, "the sync daemon is already set by %s at %s:%d: keepalived ignores this one too", sd.node.keyword(), sd.node.File, sd.node.Line)
	}
	var kept []*instance
	var follow *instance
	for _, in := range t.instances {
		if in.dropped {
			continue
		}
		kept = append(kept, in)
		if in.name == sd.inst {
			follow = in
		}
	}
	if len(t.vservers) == 0 {
		t.warn(sd.node, sd.ctx, "hadirector's [lvs.sync_daemon] needs a virtual_server and none was translated: left out (keepalived would sync the connections of IPVS services set up by other tools)")
		return
	}
	tb := t.syncd
	switch {
	case sd.inst != "" && follow == nil:
		t.warn(sd.node, sd.ctx, "no vrrp_instance %s was translated (keepalived clears the sync daemon when it has no such instance): left out", sd.inst)
		return
	case sd.inst == "" && len(kept) != 1:
		t.warn(sd.node, sd.ctx, "no vrrp_instance named: keepalived then runs the master and the backup daemon at all times, hadirector runs one or the other as an instance's state says and needs to know which (lvs_sync_daemon %s INSTANCE); left out", sd.iface)
		return
	case sd.inst == "":
		follow = kept[0]
		tb.set("instance", tomlString(follow.name), t.note(sd.node, sd.ctx, "no vrrp_instance named: keepalived runs the master and the backup daemon at all times; hadirector runs the master daemon on the master of %s and the backup daemon on its backup", follow.name))
	}
	if sd.fromInstance {
		tb.source = fmt.Sprintf("vrrp_instance %s lvs_sync_daemon_interface at %s", follow.name, source(sd.node))
	} else {
		tb.source = fmt.Sprintf("global_defs lvs_sync_daemon at %s", source(sd.node))
	}
	tb.set("interface", tomlString(sd.iface))
	if sd.inst != "" {
		tb.set("instance", tomlString(sd.inst))
	}
	switch {
	case sd.idSet:
		tb.set("sync_id", tomlInt(sd.id))
	case sd.fromInstance:
		tb.set("sync_id", "0", "keepalived's sync id with lvs_sync_daemon_interface is 0 (with lvs_sync_daemon and an instance, its VRID)")
	case sd.inst == "":
		tb.set("sync_id", "0", "keepalived's sync id without a named instance is 0")
	}
	if sd.maxLen != 0 {
		tb.set("max_len", tomlInt(sd.maxLen))
	}
	if sd.group.IsValid() {
		tb.set("group", tomlString(sd.group.String()))
	}
	if sd.port != 0 {
		tb.set("port", tomlInt(sd.port))
	}
	if sd.ttl != 0 {
		tb.set("ttl", tomlInt(sd.ttl))
	}
}
