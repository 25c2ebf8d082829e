package manpage

import (
	"bytes"
	"encoding"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/hadirector/hadirector/config"
)

func configPage(t *testing.T) string {
	t.Helper()
	ref, err := os.ReadFile("../../config/testdata/reference.toml")
	if err != nil {
		t.Fatal(err)
	}
	page, err := ConfigPage(ref)
	if err != nil {
		t.Fatal(err)
	}
	return page
}

// documented reads the page back: table header -> the keys listed under it.
func documented(page string) map[string]map[string]bool {
	doc := map[string]map[string]bool{}
	header := regexp.MustCompile(`^\.SS \\fB\[+([a-z_.]+)\]+\\fR$`)
	item := regexp.MustCompile(`^\\fB([a-z_]+)\\fR \(`)
	var cur string
	lines := strings.Split(page, "\n")
	for i, l := range lines {
		if m := header.FindStringSubmatch(l); m != nil {
			cur = m[1]
			doc[cur] = map[string]bool{}
		}
		if l == ".TP" && i+1 < len(lines) && cur != "" {
			if m := item.FindStringSubmatch(lines[i+1]); m != nil {
				doc[cur][m[1]] = true
			}
		}
	}
	return doc
}

// TestConfigPageListsEveryKey walks the configuration types on its own (not with the
// generator's walk) and wants every key the decoder accepts on the page, under its table.
func TestConfigPageListsEveryKey(t *testing.T) {
	doc := documented(configPage(t))
	textType := reflect.TypeFor[encoding.TextUnmarshaler]()
	n := 0
	var visit func(typ reflect.Type, table string)
	visit = func(typ reflect.Type, table string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			ft := f.Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			sub := name
			if table != "" {
				sub = table + "." + name
			}
			isTable := ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(textType)
			if isTable && doc[sub] != nil {
				visit(ft, sub)
				continue
			}
			n++
			if !doc[table][name] {
				t.Errorf("hadirector.toml(5) does not list %s (in [%s])", name, table)
			}
		}
	}
	visit(reflect.TypeFor[config.Config](), "")
	if n < 100 {
		t.Errorf("only %d keys found in the configuration types: the walk is broken", n)
	}
}

// TestConfigPageDefaults: defaults come from the decoder or the reference, examples are
// marked as examples, required keys say so.
func TestConfigPageDefaults(t *testing.T) {
	tables, err := Schema(mustRead(t, "../../config/testdata/reference.toml"))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]Key{}
	for _, tb := range tables {
		for _, k := range tb.Keys {
			keys[tb.Path+"."+k.Name] = k
		}
	}
	for path, want := range map[string]Key{
		"global.notify_timeout":                          {Default: `"30s"`},
		"vrrp_script.weight":                             {Default: "0", Example: "-20"},
		"vrrp_instance.virtual_router_id":                {Required: true, Example: "51"},
		"virtual_server.scheduler":                       {Example: `"rr"`}, // the comment says: default "wlc"
		"virtual_server.check.fall":                      {Default: "3"},    // documented under real_server.check
		"virtual_server.real_server.check.expect_status": {Default: "[200]"},
		"lvs.on_backup":                                  {Default: `"withdraw"`},
	} {
		got, ok := keys[path]
		if !ok {
			t.Errorf("%s: not in the schema", path)
			continue
		}
		if got.Default != want.Default || got.Example != want.Example || got.Required != want.Required {
			t.Errorf("%s: default %q example %q required %v, want %q %q %v", path, got.Default, got.Example, got.Required, want.Default, want.Example, want.Required)
		}
	}
	if k := keys["vrrp_instance.priority"]; !strings.Contains(k.Doc, "255 = address owner") || k.Type != "integer" {
		t.Errorf("vrrp_instance.priority: %+v", k)
	}
}

// TestSchemaRefusesUnknownReferenceKey: a key in the reference the types do not have would
// be documented yet refused by the decoder.
func TestSchemaRefusesUnknownReferenceKey(t *testing.T) {
	ref := append(mustRead(t, "../../config/testdata/reference.toml"), "\n[lvs.bogus_table]\nx = 1\n"...)
	if _, err := Schema(ref); err == nil || !strings.Contains(err.Error(), "lvs.bogus_table") {
		t.Errorf("Schema with an unknown table: %v", err)
	}
	ref = bytes.Replace(mustRead(t, "../../config/testdata/reference.toml"), []byte("[global]\n"), []byte("[global]\nbogus = 1\n"), 1)
	if _, err := Schema(ref); err == nil || !strings.Contains(err.Error(), "global.bogus") {
		t.Errorf("Schema with an unknown key: %v", err)
	}
}

// TestPagesRender: man -l and groff -ww render the page without a warning.
func TestPagesRender(t *testing.T) {
	f := t.TempDir() + "/hadirector.toml.5"
	if err := os.WriteFile(f, []byte(configPage(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	CheckRenders(t, f)
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		`a\b`:      `a\eb`,
		"--host":   `\-\-host`,
		"3 × 4":    `3 \[u00D7] 4`,
		"plain ok": "plain ok",
	} {
		if got := T(in); got != want {
			t.Errorf("T(%q) = %q, want %q", in, got, want)
		}
	}
	p := New("x", 1, "src", "man")
	p.Para(".starts with a dot\n'and a quote\n\nthen text")
	if got := p.String(); !strings.Contains(got, "\\&.starts with a dot\n\\&'and a quote\nthen text\n") {
		t.Errorf("control characters at line start not escaped:\n%s", got)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A second element of an array of tables (the reference's fwmark service) adds its keys to
// the first's; a plain table written twice is an error.
func TestReferenceRepeatedArrayTable(t *testing.T) {
	r, err := parseReference([]byte("[[vs]]    # first\naddress = \"a\"  # the address\n\n[[vs]]    # second\nfwmark = 7  # the mark\naddress = \"b\"  # again\n"))
	if err != nil {
		t.Fatal(err)
	}
	vs := r.tables["vs"]
	if got := strings.Join(vs.keys, " "); got != "address fwmark" {
		t.Errorf("keys = %q, want \"address fwmark\"", got)
	}
	if e, _ := vs.entry("address"); e.comment != "the address" || vs.comment != "first" {
		t.Errorf("the first element's text must win: %+v, table comment %q", e, vs.comment)
	}
	if _, err := parseReference([]byte("[t]\na = 1\n[t]\nb = 2\n")); err == nil {
		t.Error("a plain table written twice was accepted")
	}
}
