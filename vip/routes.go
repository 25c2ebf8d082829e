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

// errRouteExists is what addrOps.routeAdd returns when the kernel already has the route.
var errRouteExists = errors.New("route already present")

// AddRoutes adds routes and returns those it added. Each is recorded in the state file
// before it is added, as a VIP is; a route the kernel already has is someone else's and
// neither added nor recorded.
func (m *Manager) AddRoutes(routes []Route) (added []Route, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var todo []Route
	for _, r := range routes {
		if !slices.Contains(m.routes, r) {
			todo = append(todo, r)
		}
	}
	if len(todo) == 0 {
		return nil, nil
	}
	m.routes = append(m.routes, todo...)
	stateErr := m.save()
	var errs []error
	unrecorded := false
	for _, r := range todo {
		err := m.ops.routeAdd(r)
		switch {
		case err == nil:
			added = append(added, r)
			continue
		case !errors.Is(err, errRouteExists):
			errs = append(errs, fmt.Errorf("vip: add route %s: %w", r, err))
		}
		m.routes = slices.DeleteFunc(m.routes, func(q Route) bool { return q == r })
		unrecorded = true
	}
	if unrecorded {
		stateErr = cmp.Or(stateErr, m.save())
	}
	return added, errors.Join(append(errs, stateErr)...)
}

// RemoveRoutes removes those of routes that are recorded as ours and returns them; a
// route not ours is left alone, one already gone is not an error.
func (m *Manager) RemoveRoutes(routes []Route) (removed []Route, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	changed := false
	for _, r := range routes {
		if !slices.Contains(m.routes, r) {
			continue
		}
		if err := m.ops.routeDel(r); err != nil {
			errs = append(errs, fmt.Errorf("vip: remove route %s: %w", r, err))
			continue
		}
		removed = append(removed, r)
		m.routes = slices.DeleteFunc(m.routes, func(q Route) bool { return q == r })
		changed = true
	}
	if changed {
		errs = append(errs, m.save())
	}
	return removed, errors.Join(errs...)
}

// RecordedRoutes are the routes recorded as added by us, sorted: at start-up, what a
// crashed run left (RemoveRoutes them before joining the election).
func (m *Manager) RecordedRoutes() []Route {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Clone(m.routes)
	slices.SortFunc(out, compareRoute)
	return out
}
