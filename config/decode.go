package config

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
)

// Decoding goes one key at a time through toml.Primitive values instead of a
// single toml.Decode into Config: a single decode stops at the first value of
// the wrong type, and we want every problem in one report. It also matches
// keys exactly (BurntSushi falls back to case-insensitive matching, which
// would accept "Priority") and knows the indexed path of every value, which is
// what the line index needs.

type decoder struct {
	md *toml.MetaData
	r  *report
	// seen holds the indexed paths of every key present in the file, so that
	// "not set" can be told from "set to the zero value" when resolving
	// inherited values.
	seen map[string]bool
}

// decode parses data into cfg (already holding defaults) and returns the
// indexed paths of the keys present. ok is false when the document is not TOML
// at all.
func decode(data []byte, cfg *Config, r *report) (seen map[string]bool, ok bool) {
	var top map[string]toml.Primitive
	md, err := toml.Decode(string(data), &top)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			r.list = append(r.list, pending{line: max(pe.Position.Line, 1), msg: "syntax error: " + pe.Message})
		} else {
			r.list = append(r.list, pending{line: 1, msg: "syntax error: " + err.Error()})
		}
		return nil, false
	}
	d := &decoder{md: &md, r: r, seen: make(map[string]bool)}
	d.fields(top, "", reflect.ValueOf(cfg).Elem())

	// Belt and braces: everything the walk above did not understand has been
	// reported already, so anything left undecoded means the walk missed a
	// key. Undecoded keys carry no array indexes, so they are compared
	// without them.
	for _, k := range md.Undecoded() {
		ks := k.String()
		reported := false
		for _, b := range r.broken {
			if within(ks, stripIndexes(b)) {
				reported = true
				break
			}
		}
		if !reported {
			r.decodeFailed(r.firstLike(ks), "unknown key")
		}
	}
	return d.seen, true
}

// fields decodes the keys of one table into the struct rv, in field order so
// that results are deterministic, then reports the keys no field claims.
func (d *decoder) fields(m map[string]toml.Primitive, path string, rv reflect.Value) {
	fields := schemaFields(rv.Type())
	for _, f := range fields {
		p, ok := m[f.name]
		if !ok {
			continue
		}
		kp := join(path, f.name)
		d.seen[kp] = true
		d.value(p, kp, rv.Field(f.index))
	}
	var unknown []string
	for k := range m {
		if !slices.ContainsFunc(fields, func(f field) bool { return f.name == k }) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		d.r.decodeFailed(join(path, k), "unknown key%s", suggest(k, fields))
	}
}

func (d *decoder) raw(p toml.Primitive, path string) (any, bool) {
	var v any
	if err := d.md.PrimitiveDecode(p, &v); err != nil {
		d.r.decodeFailed(path, "%s", strings.TrimPrefix(err.Error(), "toml: "))
		return nil, false
	}
	return v, true
}

var (
	durationType = reflect.TypeFor[Duration]()
	addrType     = reflect.TypeFor[netip.Addr]()
	addrPortType = reflect.TypeFor[netip.AddrPort]()
	prefixType   = reflect.TypeFor[netip.Prefix]()
	trackRefType = reflect.TypeFor[TrackRef]()
)

// value decodes the value p into v, which belongs to the key at path.
func (d *decoder) value(p toml.Primitive, path string, v reflect.Value) {
	raw, ok := d.raw(p, path)
	if !ok {
		return
	}
	t := v.Type()
	switch {
	case t == trackRefType && reflect.ValueOf(raw).Kind() == reflect.String:
		v.Set(reflect.ValueOf(TrackRef{Name: raw.(string)})) // the plain-name shorthand
	case t.Kind() == reflect.Struct && !isLeafStruct(t):
		d.table(p, raw, path, v)
	case t.Kind() == reflect.Pointer && t.Elem().Kind() != reflect.Struct:
		nv := reflect.New(t.Elem())
		if msg := setLeaf(raw, nv.Elem()); msg != "" {
			d.r.decodeFailed(path, "%s", msg)
			return
		}
		v.Set(nv)
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		nv := reflect.New(t.Elem())
		if df, ok := nv.Interface().(defaulter); ok {
			df.setDefaults()
		}
		if d.table(p, raw, path, nv.Elem()) {
			v.Set(nv)
		}
	case t.Kind() == reflect.Slice:
		if reflect.ValueOf(raw).Kind() != reflect.Slice {
			if _, ok := raw.(map[string]any); ok && t.Elem().Kind() == reflect.Struct {
				d.r.decodeFailed(path, "expected an array of tables, got a table (write [[%s]] for each element)", stripIndexes(path))
			} else {
				d.r.decodeFailed(path, "expected an array, got %s", tomlType(raw))
			}
			return
		}
		var elems []toml.Primitive
		if err := d.md.PrimitiveDecode(p, &elems); err != nil {
			d.r.decodeFailed(path, "%s", strings.TrimPrefix(err.Error(), "toml: "))
			return
		}
		// A failed element stays in place as a zero value so that the
		// indexes of the others keep matching the file.
		s := reflect.MakeSlice(t, len(elems), len(elems))
		for i, ep := range elems {
			ev := s.Index(i)
			if df, ok := ev.Addr().Interface().(defaulter); ok {
				df.setDefaults()
			}
			d.value(ep, index(path, i), ev)
		}
		v.Set(s)
	default:
		if msg := setLeaf(raw, v); msg != "" {
			d.r.decodeFailed(path, "%s", msg)
		}
	}
}

// table decodes a TOML table into the struct v and reports whether the value
// was a table at all.
func (d *decoder) table(p toml.Primitive, raw any, path string, v reflect.Value) bool {
	if _, ok := raw.(map[string]any); !ok {
		if _, aot := raw.([]map[string]any); aot {
			d.r.decodeFailed(path, "expected a table, got an array of tables (write [%s], not [[%s]])", stripIndexes(path), stripIndexes(path))
		} else {
			d.r.decodeFailed(path, "expected a table, got %s", tomlType(raw))
		}
		return false
	}
	var m map[string]toml.Primitive
	if err := d.md.PrimitiveDecode(p, &m); err != nil {
		d.r.decodeFailed(path, "%s", strings.TrimPrefix(err.Error(), "toml: "))
		return false
	}
	d.fields(m, path, v)
	return true
}

// isLeafStruct reports the struct types that are single values in the file.
func isLeafStruct(t reflect.Type) bool {
	return t == addrType || t == addrPortType || t == prefixType
}

// setLeaf converts a TOML scalar to v's type and returns what is wrong, if
// anything.
func setLeaf(raw any, v reflect.Value) string {
	t := v.Type()
	switch t {
	case durationType:
		s, ok := raw.(string)
		if !ok {
			return fmt.Sprintf(`expected a duration string such as "1s", got %s`, tomlType(raw))
		}
		var dur Duration
		if err := dur.UnmarshalText([]byte(s)); err != nil {
			return err.Error()
		}
		if dur < 0 {
			return fmt.Sprintf("duration %q must not be negative", s)
		}
		v.Set(reflect.ValueOf(dur))
		return ""
	case addrType, addrPortType, prefixType:
		s, ok := raw.(string)
		if !ok {
			return fmt.Sprintf("expected a string, got %s", tomlType(raw))
		}
		if s == "" {
			return "" // unset: the zero value
		}
		nv, msg := parseNetip(t, s)
		if msg != "" {
			return msg
		}
		v.Set(nv)
		return ""
	}
	switch t.Kind() {
	case reflect.String:
		s, ok := raw.(string)
		if !ok {
			return fmt.Sprintf("expected a string, got %s", tomlType(raw))
		}
		v.SetString(s)
	case reflect.Bool:
		b, ok := raw.(bool)
		if !ok {
			return fmt.Sprintf("expected true or false, got %s", tomlType(raw))
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, ok := raw.(int64)
		if !ok {
			return fmt.Sprintf("expected an integer, got %s", tomlType(raw))
		}
		if v.OverflowInt(n) {
			return fmt.Sprintf("%d is out of range", n)
		}
		v.SetInt(n)
	default:
		// Only reachable if a schema field gets a type this switch does not
		// know; reported rather than panicking.
		return fmt.Sprintf("cannot decode into %s", t)
	}
	return ""
}

func parseNetip(t reflect.Type, s string) (reflect.Value, string) {
	switch t {
	case addrType:
		a, err := netip.ParseAddr(s)
		if err != nil {
			return reflect.Value{}, fmt.Sprintf("%q is not an IP address", s)
		}
		if a.Is4In6() {
			return reflect.Value{}, fmt.Sprintf("%q is an IPv4-mapped IPv6 address; write %s", s, a.Unmap())
		}
		return reflect.ValueOf(a), ""
	case addrPortType:
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return reflect.Value{}, fmt.Sprintf(`%q is not an address:port such as "192.0.2.1:80" or "[2001:db8::1]:80"`, s)
		}
		if ap.Addr().Is4In6() {
			return reflect.Value{}, fmt.Sprintf("%q is an IPv4-mapped IPv6 address; write %s", s, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
		}
		return reflect.ValueOf(ap), ""
	default: // prefixType
		p, err := netip.ParsePrefix(s)
		if err != nil {
			if _, aerr := netip.ParseAddr(s); aerr == nil {
				return reflect.Value{}, fmt.Sprintf(`%q has no prefix length: write it as "%s/32" or with the subnet's length, such as "%s/24"`, s, s, s)
			}
			return reflect.Value{}, fmt.Sprintf(`%q is not an address with a prefix length, such as "192.0.2.100/24"`, s)
		}
		if p.Addr().Is4In6() {
			return reflect.Value{}, fmt.Sprintf("%q is an IPv4-mapped IPv6 address; write %s", s, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96))
		}
		return reflect.ValueOf(p), ""
	}
}

// tomlType names the TOML type of a decoded value for messages.
func tomlType(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("string %q", v)
	case int64:
		return fmt.Sprintf("integer %d", v)
	case float64:
		return fmt.Sprintf("float %v", v)
	case bool:
		return fmt.Sprintf("boolean %v", v)
	case map[string]any:
		return "table"
	case time.Time:
		return "date-time"
	}
	if reflect.ValueOf(v).Kind() == reflect.Slice {
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// fieldsOf caches schemaFields by type: decoding a file and kaimport's config.Key
// calls look the same structs up thousands of times.
var fieldsOf sync.Map

type field struct {
	name  string
	index int
}

// schemaFields lists the TOML keys of a schema struct in declaration order. The
// list is shared: callers must not change it.
func schemaFields(t reflect.Type) []field {
	if fs, ok := fieldsOf.Load(t); ok {
		return fs.([]field)
	}
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("toml"), ",")
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		fs = append(fs, field{name: name, index: i})
	}
	fieldsOf.Store(t, fs)
	return fs
}

// suggest offers the key the author probably meant.
func suggest(key string, fields []field) string {
	if hint, ok := keepalivedHints[key]; ok {
		return " (" + hint + ")"
	}
	best, bestDist := "", 3
	for _, f := range fields {
		if strings.EqualFold(f.name, key) {
			return fmt.Sprintf(" (keys are case-sensitive: %q)", f.name)
		}
		if dd := distance(key, f.name); dd < bestDist {
			best, bestDist = f.name, dd
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// keepalivedHints answers the keepalived keywords that are spelled
// differently here or deliberately absent.
var keepalivedHints = map[string]string{
	"state":                  "there is no initial state: the highest priority becomes master; use priority and nopreempt",
	"lb_algo":                `keepalived's lb_algo is "scheduler" here`,
	"lb_kind":                `keepalived's lb_kind is "forwarding" here`,
	"authentication":         `use auth_pass (VRRPv2 only)`,
	"auth_type":              `only PASS is supported: set auth_pass (VRRPv2 only)`,
	"mcast_src_ip":           `keepalived's mcast_src_ip is "unicast_src_ip" here`,
	"delay_loop":             `keepalived's delay_loop is check.interval here`,
	"connect_timeout":        `keepalived's connect_timeout is check.timeout here`,
	"status_code":            `keepalived's status_code is check.expect_status here`,
	"misc_path":              `keepalived's misc_path is check.command here`,
	"vrrp_garp_master_delay": `keepalived's vrrp_garp_master_delay is "garp_master_delay" here`,
}

// distance is the Levenshtein distance, for typo suggestions.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// stripIndexes turns an indexed path into the form toml.Key.String uses.
func stripIndexes(path string) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case c == '[':
			depth++
		case c == ']' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// firstLike finds the first indexed path in the file whose unindexed form is
// key, so that a problem found without indexes still gets a line.
func (r *report) firstLike(key string) string {
	best, bestLine := key, 0
	for p, l := range r.lines {
		if stripIndexes(p) == key && (bestLine == 0 || l < bestLine) {
			best, bestLine = p, l
		}
	}
	return best
}
