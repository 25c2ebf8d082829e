package kaimport

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/hadirector/hadirector/config"
)

type routeRef struct {
	node    *node
	refused bool // by config
	route   config.VirtualRoute
}

// routeTables are iproute2's table names keepalived takes besides numbers.
var routeTables = map[string]int{"main": 0, "default": 253, "local": 255}

// virtualRoutes reads keepalived's virtual_routes lines: [TYPE] [src IP] [to] PREFIX
// [via|gw IP] [dev IF] [table T] [metric|priority|preference N]. A line with anything
// else is left out, whole: a route half translated is a different route.
func (t *translator) virtualRoutes(in *instance, n *node) {
	ctx := within(in.ctx, "virtual_routes")
	for _, c := range n.Children {
		t.valueBlock(c, ctx)
		var r config.VirtualRoute
		ok := true
		fail := func(w, format string, args ...any) {
			if ok {
				t.warnKeyword(c, ctx, w, format+"; the route is left out", args...)
			}
			ok = false
		}
		words := c.Words
		for i := 0; i < len(words) && ok; i++ {
			w := words[i]
			switch w {
			case "blackhole", "unreachable", "prohibit":
				r.Type = w
				continue
			case "unicast":
				continue
			}
			val := ""
			switch w {
			case "src", "to", "via", "gw", "dev", "table", "metric", "priority", "preference":
				if i+1 >= len(words) {
					fail(w, "no value")
					continue
				}
				i++
				val = words[i]
			}
			switch w {
			case "src", "via", "gw":
				a, aok := parseAddr(val)
				if !aok {
					fail(w, "%q is not an IP address", val)
				} else if w == "src" {
					r.Src = a
				} else {
					r.Via = a
				}
			case "to":
				r.To, ok = routePrefix(val)
				if !ok {
					t.warnKeyword(c, ctx, w, "%q is not a destination; the route is left out", val)
				}
			case "dev":
				r.Dev = val
			case "table":
				n, known := routeTables[val]
				if v, err := strconv.Atoi(val); err == nil {
					n, known = v, true
				}
				if !known {
					fail(w, "table %s: only numbers and main, default, local are known", val)
				}
				r.Table = n
			case "metric", "priority", "preference":
				v, err := strconv.Atoi(val)
				if err != nil {
					fail(w, "%q is not a number", val)
				}
				r.Metric = v
			default:
				if r.To.IsValid() {
					fail(w, "not a route option hadirector translates")
					continue
				}
				r.To, ok = routePrefix(w)
				if !ok {
					t.warnKeyword(c, ctx, w, "not a destination; the route is left out")
				}
			}
		}
		if ok {
			in.routes = append(in.routes, routeRef{node: c, route: r})
		}
	}
}

// routePrefix parses a destination: a prefix, an address (a host route) or "default".
func routePrefix(s string) (netip.Prefix, bool) {
	if s == "default" {
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0), true
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p, err == nil
	}
	a, ok := parseAddr(s)
	return netip.PrefixFrom(a, a.BitLen()), ok
}

type ruleRef struct {
	node    *node
	refused bool // by config
	rule    config.VirtualRule
}

// virtualRules reads keepalived's virtual_rules lines: [from P] [to P] [iif IF] [oif IF]
// [fwmark N] [priority|pref|preference N] [table|lookup T]. A line with anything else
// is left out, whole.
func (t *translator) virtualRules(in *instance, n *node) {
	ctx := within(in.ctx, "virtual_rules")
	for _, c := range n.Children {
		t.valueBlock(c, ctx)
		var r config.VirtualRule
		ok := true
		for i := 0; i < len(c.Words) && ok; i += 2 {
			w := c.Words[i]
			if i+1 >= len(c.Words) {
				t.warnKeyword(c, ctx, w, "no value; the rule is left out")
				ok = false
				break
			}
			val := c.Words[i+1]
			var err error
			switch w {
			case "from", "to":
				p, pok := routePrefix(val)
				if !pok || val == "default" {
					err = strconv.ErrSyntax
				} else if w == "from" {
					r.From = p
				} else {
					r.To = p
				}
			case "iif":
				r.IIF = val
			case "oif":
				r.OIF = val
			case "fwmark":
				var v uint64
				v, err = strconv.ParseUint(val, 0, 32)
				r.Fwmark = int(v)
			case "priority", "pref", "preference":
				r.Priority, err = strconv.Atoi(val)
			case "table", "lookup":
				n, known := routeTables[val]
				if !known {
					n, err = strconv.Atoi(val)
				}
				r.Table = n
			default:
				t.warnKeyword(c, ctx, w, "not a rule option hadirector translates; the rule is left out")
				ok = false
				continue
			}
			if err != nil {
				t.warnKeyword(c, ctx, w, "%q is not a value for %s; the rule is left out", val, w)
				ok = false
			}
		}
		if ok {
			in.rules = append(in.rules, ruleRef{node: c, rule: r})
		}
	}
}
