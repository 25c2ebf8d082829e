package manpage

import (
	"bytes"
	"encoding"
	"fmt"
	"net/netip"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/hadirector/hadirector/config"
)

// minimal is the smallest file that has one of every table, setting only what a table
// requires. Decoding it through config.Parse gives every key's default as the daemon
// applies it; the keys it sets are the required ones.
const minimal = `
[[vrrp_script]]
name = "s"
script = "/bin/true"

[[vrrp_track_file]]
name = "f"
file = "/run/hadirector/f"

[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 1
virtual_ipaddress = ["192.0.2.1/24"]

[[vrrp_sync_group]]
name = "G"
group = ["VI_1"]

[lvs.sync_daemon]
interface = "eth1"

[[virtual_server]]
address = "192.0.2.1:80"
  [virtual_server.check]
  type = "tcp"
  [[virtual_server.real_server]]
  address = "198.51.100.1:80"
`

// Table is one TOML table of the schema, in the order of the Go types.
type Table struct {
	Path  string // "global", "virtual_server.real_server.check"
	Array bool   // [[path]]
	Note  string // the reference schema's comment on the table, and its comment lines
	Keys  []Key
	typ   reflect.Type
}

// Key is one key of a table.
type Key struct {
	Name     string
	Type     string // "string", "duration", "list of address", …
	Default  string // TOML; "" when Required or when Doc says what it is
	Required bool
	Doc      string // the reference schema's comment ("" when it has none)
	Example  string // the reference schema's value when it is an example, not the default
}

// Schema walks the configuration types and describes every key: default from decoding a
// minimal file, description from the reference schema (config/testdata/reference.toml,
// given as ref). A key with no line in the reference gets its own table's entry from
// another table of the same type (virtual_server.check shares real_server.check's). A key
// in the reference that the types do not have is an error: the page would document a key
// the decoder refuses.
func Schema(ref []byte) ([]Table, error) {
	refs, err := parseReference(ref)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Parse("minimal.toml", []byte(minimal))
	if err != nil {
		return nil, fmt.Errorf("manpage: the minimal file does not decode: %w", err)
	}
	var req map[string]any
	if err := toml.Unmarshal([]byte(minimal), &req); err != nil {
		return nil, err
	}
	var tables []Table
	byType := map[reflect.Type][]string{}
	walk(reflect.ValueOf(cfg).Elem(), "", req, refs, &tables, byType)
	seen := map[string]bool{}
	for i := range tables {
		t := &tables[i]
		seen[t.Path] = true
		r := refs.tables[t.Path]
		if r != nil {
			t.Note = r.note()
		}
		for j := range t.Keys {
			k := &t.Keys[j]
			e, ok := r.entry(k.Name)
			for _, other := range byType[t.typ] {
				if !ok {
					e, ok = refs.tables[other].entry(k.Name)
				}
			}
			if !ok {
				continue
			}
			k.Doc = e.comment
			// The value shown is the default unless marked "example": on the key, or on an
			// array of tables (one [[vrrp_script]] is an example) where the value is not
			// what the decoder fills in.
			example := strings.Contains(e.comment, "example") || (t.Array && r != nil && strings.Contains(r.comment, "example") && e.value != k.Default)
			switch {
			case example && e.value != k.Default && e.value != "\"\"" && e.value != "[]":
				k.Example = e.value
			case !example && !k.Required:
				k.Default = e.value
			}
			// A default that depends on the host or on other keys ("default: the
			// hostname") is the reference's words, not the value decoded here.
			if (strings.Contains(e.comment, "default:") || strings.Contains(e.comment, `default "`)) && !k.Required {
				k.Default = ""
			}
			seen[t.Path+"."+k.Name] = true
		}
	}
	for _, path := range refs.order {
		if !seen[path] {
			return nil, fmt.Errorf("manpage: reference table [%s] is not in the configuration types", path)
		}
		for _, k := range refs.tables[path].keys {
			if !seen[path+"."+k] {
				return nil, fmt.Errorf("manpage: reference key %s.%s is not in the configuration types", path, k)
			}
		}
	}
	return tables, nil
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// leaf reports whether a value of t is a single TOML value (a duration, an address), not a
// table.
func leaf(t reflect.Type) bool {
	return t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(textUnmarshaler)
}

// walk describes the struct v at path and, after it, its subtables. req is the minimal
// file's table at path (what it sets is required).
func walk(v reflect.Value, path string, req map[string]any, refs reference, out *[]Table, byType map[reflect.Type][]string) {
	t := v.Type()
	idx := len(*out)
	if path != "" {
		*out = append(*out, Table{Path: path, typ: t})
		byType[t] = append(byType[t], path)
	}
	type sub struct {
		v     reflect.Value
		path  string
		array bool
		req   map[string]any
	}
	var subs []sub
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fv, ft := v.Field(i), f.Type
		elem, array := ft, false
		if ft.Kind() == reflect.Pointer {
			elem = ft.Elem()
		}
		if ft.Kind() == reflect.Slice && !leaf(ft.Elem()) && refs.tables[join(path, name)] != nil {
			elem, array = ft.Elem(), true
		}
		if !leaf(elem) && (array || ft.Kind() != reflect.Slice) {
			s := sub{path: join(path, name), array: array}
			switch {
			case array && fv.Len() > 0:
				s.v = fv.Index(0)
			case !array && ft.Kind() == reflect.Pointer && !fv.IsNil():
				s.v = fv.Elem()
			case !array && ft.Kind() == reflect.Struct:
				s.v = fv
			default:
				s.v = reflect.New(elem).Elem()
			}
			s.req = table(req[name])
			subs = append(subs, s)
			continue
		}
		k := Key{Name: name, Type: typeName(ft)}
		if _, set := req[name]; set {
			k.Required = true
		} else {
			k.Default = encode(fv)
		}
		(*out)[idx].Keys = append((*out)[idx].Keys, k)
	}
	for _, s := range subs {
		n := len(*out)
		walk(s.v, s.path, s.req, refs, out, byType)
		(*out)[n].Array = s.array
	}
}

// table is the minimal file's table under a key: a table, or the first of an array.
func table(v any) map[string]any {
	switch t := v.(type) {
	case map[string]any:
		return t
	case []map[string]any:
		return t[0]
	}
	return nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

var (
	durationType = reflect.TypeFor[config.Duration]()
	addrType     = reflect.TypeFor[netip.Addr]()
	addrPortType = reflect.TypeFor[netip.AddrPort]()
	prefixType   = reflect.TypeFor[netip.Prefix]()
)

func typeName(t reflect.Type) string {
	switch t {
	case durationType:
		return "duration"
	case addrType:
		return "address"
	case addrPortType:
		return "address:port"
	case prefixType:
		return "address/prefix"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int:
		return "integer"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct && !leaf(t.Elem()) {
			return "list of inline tables"
		}
		return "list of " + typeName(t.Elem())
	}
	return t.String()
}

// encode is v as a TOML value.
func encode(v reflect.Value) string {
	if v.Kind() == reflect.Slice && v.Len() == 0 {
		return "[]"
	}
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(map[string]any{"k": v.Interface()}); err != nil {
		return fmt.Sprintf("%v", v.Interface())
	}
	s := strings.TrimSpace(b.String())
	return strings.TrimPrefix(s, "k = ")
}
