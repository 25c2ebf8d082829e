package config

import (
	"fmt"
	"reflect"
	"strings"
)

// Checker applies Parse's validation to a Config one element at a time, each in the
// context of the elements checked before it, for a program that builds a configuration
// and keeps only what passes (`hadirector import`). It is the same code as Parse's: a
// file holding exactly the elements that passed, each checked after the elements it
// refers to (scripts and track files before the instances tracking them, instances
// before sync groups, instances and virtual servers before the sync daemon) and not
// changed since, passes Parse's validation.
//
// The Config is the caller's and is read at each call: the caller appends an element,
// checks it, and on failure fixes or removes it before checking the next one. Its values
// are those a file would decode to after Load's resolution (see the package doc: a real
// server carries its effective forwarding and check), and a key counts as set in the
// file when its value is not the zero value.
type Checker struct {
	v *validator
}

// NewChecker returns a Checker of cfg. Problems that point at another element (the first
// use of a name, say) describe it with where, which gets that element's indexed path
// ("vrrp_instance[2]", "virtual_server[0].real_server[1].address").
func NewChecker(cfg *Config, where func(path string) string) *Checker {
	v := newValidator(cfg, &report{where: where}, map[string]bool{})
	v.undo = map[string][]func(){}
	return &Checker{v: v}
}

// Script checks cfg.Scripts[i].
func (c *Checker) Script(i int) []Problem {
	return c.check(index("vrrp_script", i), &c.v.cfg.Scripts[i], func() { c.v.script(i) })
}

// TrackFile checks cfg.TrackFiles[i].
func (c *Checker) TrackFile(i int) []Problem {
	return c.check(index("vrrp_track_file", i), &c.v.cfg.TrackFiles[i], func() { c.v.trackFile(i) })
}

// Instance checks cfg.Instances[i], against the scripts and track files (which it
// references) and the instances before it.
func (c *Checker) Instance(i int) []Problem {
	return c.check(index("vrrp_instance", i), &c.v.cfg.Instances[i], func() { c.v.instance(i) })
}

// SyncGroup checks cfg.SyncGroups[i], against the instances and the groups before it.
func (c *Checker) SyncGroup(i int) []Problem {
	return c.check(index("vrrp_sync_group", i), &c.v.cfg.SyncGroups[i], func() { c.v.syncGroup(i) })
}

// VirtualServer checks cfg.VirtualServers[i], against the virtual servers before it.
func (c *Checker) VirtualServer(i int) []Problem {
	return c.check(index("virtual_server", i), &c.v.cfg.VirtualServers[i], func() { c.v.virtualServer(i) })
}

// SyncDaemon checks cfg.LVS.SyncDaemon, which must not be nil, against the instances and
// virtual servers.
func (c *Checker) SyncDaemon() []Problem {
	const p = "lvs.sync_daemon"
	return c.check(p, c.v.cfg.LVS.SyncDaemon, func() { c.v.syncDaemon(c.v.cfg.LVS.SyncDaemon) })
}

// check runs one element's validation and returns its problems, Key being the indexed
// path of the key within the element ("virtual_ipaddress[1]", "real_server[0].weight";
// "" for the element itself) and Msg what Parse would say; File and Line are not set.
// A failed element claims nothing (its name, addresses, VRID) from the elements checked
// after it; checking an element again replaces its earlier claims.
func (c *Checker) check(path string, elem any, validate func()) []Problem {
	v := c.v
	v.forget(path)
	v.elem = path
	v.r.list = nil
	clear(v.seen)
	markSet(path, reflect.ValueOf(elem).Elem(), v.seen)
	validate()
	if len(v.r.list) == 0 {
		return nil
	}
	v.forget(path)
	probs := make([]Problem, len(v.r.list))
	for i, p := range v.r.list {
		key := p.path
		if within(key, path) {
			key = strings.TrimPrefix(strings.TrimPrefix(key, path), ".")
		}
		probs[i] = Problem{Key: key, Msg: p.msg}
	}
	return probs
}

// markSet records as set in seen the keys under path whose value in v (a schema value) is
// not the zero value.
func markSet(path string, v reflect.Value, seen map[string]bool) {
	switch {
	case v.Kind() == reflect.Pointer:
		if !v.IsNil() {
			markSet(path, v.Elem(), seen)
		}
	case v.Kind() == reflect.Slice:
		for i := range v.Len() {
			p := index(path, i)
			seen[p] = true
			markSet(p, v.Index(i), seen)
		}
	case v.Kind() == reflect.Struct && !isLeafStruct(v.Type()):
		for _, f := range schemaFields(v.Type()) {
			if fv := v.Field(f.index); !fv.IsZero() {
				p := join(path, f.name)
				seen[p] = true
				markSet(p, fv, seen)
			}
		}
	}
}

// WithDefaults returns a T as Parse starts an element of that type before decoding
// into it: with the defaults of its keys (the zero T for a type without any).
func WithDefaults[T any]() T {
	var v T
	if d, ok := any(&v).(defaulter); ok {
		d.setDefaults()
	}
	return v
}

// Key returns the TOML key of the field of *s that field points to, as its struct tag
// names it: Key(&in, &in.AdvertInt) is "advert_int" for an Instance in. It panics when
// field does not point to a schema field of *s, which is a programming error.
func Key[S any](s *S, field any) string {
	sv := reflect.ValueOf(s).Elem()
	fp := reflect.ValueOf(field)
	if sv.Kind() == reflect.Struct && fp.Kind() == reflect.Pointer {
		for _, f := range schemaFields(sv.Type()) {
			// A field at offset 0 shares the struct's address: the type tells them apart.
			if fv := sv.Field(f.index); fv.Addr().Pointer() == fp.Pointer() && fv.Type() == fp.Type().Elem() {
				return f.name
			}
		}
	}
	panic(fmt.Sprintf("config.Key: %T is not a pointer to a field of %T", field, s))
}

// Keys returns the TOML keys of the schema type S in the order S declares them, which
// is the order of the reference file.
func Keys[S any]() []string {
	var keys []string
	for _, f := range schemaFields(reflect.TypeFor[S]()) {
		keys = append(keys, f.name)
	}
	return keys
}
