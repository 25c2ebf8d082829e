package vip

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Route is a route that only the master holds (keepalived's virtual_routes).
type Route struct {
	Dst netip.Prefix `json:"dst"`
	Via netip.Addr   `json:"via,omitzero"`
	Src netip.Addr   `json:"src,omitzero"`
	Dev string       `json:"dev,omitempty"`
	// Table 0 is the main table.
	Table  int `json:"table,omitempty"`
	Metric int `json:"metric,omitempty"`
	// Type is "" (unicast), "blackhole", "unreachable" or "prohibit".
	Type string `json:"type,omitempty"`
}

func (r Route) String() string {
	var b strings.Builder
	if r.Type != "" {
		b.WriteString(r.Type + " ")
	}
	b.WriteString(r.Dst.String())
	if r.Via.IsValid() {
		fmt.Fprintf(&b, " via %s", r.Via)
	}
	if r.Dev != "" {
		fmt.Fprintf(&b, " dev %s", r.Dev)
	}
	if r.Src.IsValid() {
		fmt.Fprintf(&b, " src %s", r.Src)
	}
	if r.Table != 0 {
		fmt.Fprintf(&b, " table %d", r.Table)
	}
	if r.Metric != 0 {
		fmt.Fprintf(&b, " metric %d", r.Metric)
	}
	return b.String()
}

func compareRoute(a, b Route) int { return strings.Compare(a.String(), b.String()) }

// errRouteExists is what addrOps.routeAdd and ruleAdd return when the kernel already has
// the route or rule.
var errRouteExists = errors.New("route already present")

// Rule is a policy-routing rule that only the master holds (keepalived's virtual_rules):
// traffic that matches looks up Table.
type Rule struct {
	From     netip.Prefix `json:"from,omitzero"`
	To       netip.Prefix `json:"to,omitzero"`
	IIF      string       `json:"iif,omitempty"`
	OIF      string       `json:"oif,omitempty"`
	Fwmark   uint32       `json:"fwmark,omitempty"`
	Priority int          `json:"priority,omitempty"`
	Table    int          `json:"table"`
	IPv6     bool         `json:"ipv6,omitempty"`
}

func (r Rule) String() string {
	var b strings.Builder
	if r.IPv6 {
		b.WriteString("-6 ")
	}
	if r.Priority != 0 {
		fmt.Fprintf(&b, "priority %d ", r.Priority)
	}
	for _, kv := range [][2]string{{"from", prefixOrEmpty(r.From)}, {"to", prefixOrEmpty(r.To)}, {"iif", r.IIF}, {"oif", r.OIF}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "%s %s ", kv[0], kv[1])
		}
	}
	if r.Fwmark != 0 {
		fmt.Fprintf(&b, "fwmark %#x ", r.Fwmark)
	}
	fmt.Fprintf(&b, "table %d", r.Table)
	return b.String()
}

func prefixOrEmpty(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}

// AddRoutes adds routes and returns those it added. Each is recorded in the state file
// before it is added, as a VIP is; a route the kernel already has is someone else's and
// neither added nor recorded.
func (m *Manager) AddRoutes(routes []Route) (added []Route, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return addOwned(m, &m.routes, routes, m.ops.routeAdd, "route")
}

// RemoveRoutes removes those of routes that are recorded as ours and returns them; a
// route not ours is left alone, one already gone is not an error.
func (m *Manager) RemoveRoutes(routes []Route) (removed []Route, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return removeOwned(m, &m.routes, routes, m.ops.routeDel, "route")
}

// AddRules is AddRoutes for policy-routing rules.
func (m *Manager) AddRules(rules []Rule) (added []Rule, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return addOwned(m, &m.rules, rules, m.ops.ruleAdd, "rule")
}

// RemoveRules is RemoveRoutes for policy-routing rules.
func (m *Manager) RemoveRules(rules []Rule) (removed []Rule, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return removeOwned(m, &m.rules, rules, m.ops.ruleDel, "rule")
}

// addOwned records and adds items (the caller holds m.mu); an item the kernel already
// has (errRouteExists) is forgotten.
func addOwned[T interface {
	comparable
	fmt.Stringer
}](m *Manager, owned *[]T, items []T, add func(T) error, what string) (added []T, err error) {
	var todo []T
	for _, r := range items {
		if !slices.Contains(*owned, r) && !slices.Contains(todo, r) {
			todo = append(todo, r)
		}
	}
	if len(todo) == 0 {
		return nil, nil
	}
	*owned = append(*owned, todo...)
	stateErr := m.save()
	var errs []error
	unrecorded := false
	for _, r := range todo {
		err := add(r)
		switch {
		case err == nil:
			added = append(added, r)
			continue
		case !errors.Is(err, errRouteExists):
			errs = append(errs, fmt.Errorf("vip: add %s %s: %w", what, r, err))
		}
		*owned = slices.DeleteFunc(*owned, func(q T) bool { return q == r })
		unrecorded = true
	}
	if unrecorded {
		stateErr = cmp.Or(stateErr, m.save())
	}
	return added, errors.Join(append(errs, stateErr)...)
}

// removeOwned removes those of items recorded in owned (the caller holds m.mu).
func removeOwned[T interface {
	comparable
	fmt.Stringer
}](m *Manager, owned *[]T, items []T, del func(T) error, what string) (removed []T, err error) {
	var errs []error
	changed := false
	for _, r := range items {
		if !slices.Contains(*owned, r) {
			continue
		}
		if err := del(r); err != nil {
			errs = append(errs, fmt.Errorf("vip: remove %s %s: %w", what, r, err))
			continue
		}
		removed = append(removed, r)
		*owned = slices.DeleteFunc(*owned, func(q T) bool { return q == r })
		changed = true
	}
	if changed {
		errs = append(errs, m.save())
	}
	return removed, errors.Join(errs...)
}

// RecordedRoutes are the routes recorded as added by us, sorted.
func (m *Manager) RecordedRoutes() []Route {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Clone(m.routes)
	slices.SortFunc(out, compareRoute)
	return out
}
