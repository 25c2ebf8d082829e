package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// TestReferenceComplete holds config/testdata/reference.toml to its promise of being the
// whole schema: every key the code decodes is written there as a key, not only named in a
// comment. A table type used in two places (a check in a virtual server and in a real
// server) is complete when each of its keys is written in one of them.
func TestReferenceComplete(t *testing.T) {
	var into map[string]any
	md, err := toml.DecodeFile("testdata/reference.toml", &into)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, k := range md.Keys() {
		have[k.String()] = true
	}
	where := map[string][]string{} // "Type.key" → its dotted keys
	var order []string
	schemaKeys(reflect.TypeFor[Config](), "", func(field, key string) {
		if _, ok := where[field]; !ok {
			order = append(order, field)
		}
		where[field] = append(where[field], key)
	})
	var missing []string
	for _, f := range order {
		if !slices.ContainsFunc(where[f], func(k string) bool { return have[k] }) {
			missing = append(missing, strings.Join(where[f], " or "))
		}
	}
	if len(missing) > 0 {
		t.Errorf("keys of the schema not written in testdata/reference.toml:\n  %s", strings.Join(missing, "\n  "))
	}
}

// schemaKeys calls found for every TOML key of struct type t, tables and arrays of tables
// included, with the field (its type's name and key) and the dotted key as
// toml.MetaData.Keys spells it.
func schemaKeys(t reflect.Type, prefix string, found func(field, key string)) {
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		key := prefix + name
		found(t.Name()+"."+name, key)
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && !implementsText(ft) {
			schemaKeys(ft, key+".", found)
		}
	}
}

func implementsText(t reflect.Type) bool {
	u := reflect.TypeFor[interface{ UnmarshalText([]byte) error }]()
	return t.Implements(u) || reflect.PointerTo(t).Implements(u)
}
