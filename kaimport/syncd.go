package kaimport

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/hadirector/hadirector/config"
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

// validInterface reports what is wrong with the interface name of a sync daemon line:
// keepalived ignores a line whose name the kernel cannot take.
func validInterface(name string) string {
	switch {
	case name == "":
		return "no interface name"
	case len(name) > 15:
		return fmt.Sprintf("%q is longer than 15 bytes, the kernel's limit for interface names", name)
	case name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n\x00") || !validText(name):
		return fmt.Sprintf("%q is not a valid interface name", name)
	}
	return ""
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
// keepalived would have kept, when config accepts it.
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
	c := config.WithDefaults[config.SyncDaemon]()
	c.Interface, c.Instance = sd.iface, sd.inst
	implicit := sd.inst == "" && len(t.cfg.Instances) == 1
	if implicit {
		// keepalived runs both daemons at all times; following the only instance is closest.
		c.Instance = t.cfg.Instances[0].Name
	}
	switch {
	case sd.idSet:
		c.SyncID = sd.id
	case sd.fromInstance || sd.inst == "":
		// keepalived's sync id is then 0
	default:
		for _, in := range t.cfg.Instances {
			if in.Name == sd.inst {
				c.SyncID = in.VirtualRouterID // what config resolves it to
			}
		}
	}
	c.MaxLen, c.Group = sd.maxLen, sd.group
	if sd.port != 0 {
		c.Port = sd.port
	}
	if sd.ttl != 0 {
		c.TTL = sd.ttl
	}
	t.cfg.LVS.SyncDaemon = &c
	if probs := t.ck.SyncDaemon(); len(probs) > 0 {
		t.cfg.LVS.SyncDaemon = nil
		t.warn(sd.node, sd.ctx, "%s; left out", problemText(probs[0]))
		return
	}

	tb := t.syncd
	set := func(field any, value string, comments ...string) { tb.set(config.Key(&c, field), value, comments...) }
	if sd.fromInstance {
		tb.source = fmt.Sprintf("vrrp_instance %s lvs_sync_daemon_interface at %s", c.Instance, source(sd.node))
	} else {
		tb.source = fmt.Sprintf("global_defs lvs_sync_daemon at %s", source(sd.node))
	}
	set(&c.Interface, tomlString(c.Interface))
	if implicit {
		set(&c.Instance, tomlString(c.Instance), t.note(sd.node, sd.ctx, "no vrrp_instance named: keepalived runs the master and the backup daemon at all times; hadirector runs the master daemon on the master of %s and the backup daemon on its backup", c.Instance))
	} else {
		set(&c.Instance, tomlString(c.Instance))
	}
	switch {
	case sd.idSet:
		set(&c.SyncID, tomlInt(c.SyncID))
	case sd.fromInstance:
		set(&c.SyncID, "0", "keepalived's sync id with lvs_sync_daemon_interface is 0 (with lvs_sync_daemon and an instance, its VRID)")
	case sd.inst == "":
		set(&c.SyncID, "0", "keepalived's sync id without a named instance is 0")
	}
	if c.MaxLen != 0 {
		set(&c.MaxLen, tomlInt(c.MaxLen))
	}
	if c.Group.IsValid() {
		set(&c.Group, tomlString(c.Group.String()))
	}
	if sd.port != 0 {
		set(&c.Port, tomlInt(c.Port))
	}
	if sd.ttl != 0 {
		set(&c.TTL, tomlInt(c.TTL))
	}
}
