package kaimport

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// dump writes a statement tree one statement per line: FILE:LINE, the
// indentation of its depth, and its words in brackets.
func dump(nodes []*node, depth int, b *strings.Builder) {
	for _, n := range nodes {
		fmt.Fprintf(b, "%d:%s%q", n.Line, strings.Repeat("  ", depth), n.Words)
		if n.Block {
			b.WriteString(" {")
		}
		b.WriteByte('\n')
		dump(n.Children, depth+1, b)
	}
}

func parseString(t *testing.T, src string, opt Options) ([]*node, *reader) {
	t.Helper()
	rd := newReader(&opt)
	nodes, err := rd.parse("k.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return nodes, rd
}

func TestParseTree(t *testing.T) {
	src := "! comment\r\n" +
		"global_defs { router_id \"a # b { c }\" }   # trailing comment\n" +
		"vrrp_instance VI_1\n" +
		"{\n" +
		"\tinterface eth0!comment\n" +
		"    virtual_ipaddress { 192.0.2.1\n" +
		"        192.0.2.2 label eth0:1 }\n" +
		"  notify \"/bin/x \\#1\" \\# not a comment\n" +
		"}\n" +
		"a\"b c\"d\n" +
		"x {} y { z {\n" +
		"}}\n"
	nodes, _ := parseString(t, src, Options{})
	var b strings.Builder
	dump(nodes, 0, &b)
	want := `2:["global_defs"] {
2:  ["router_id" "a # b { c }"]
3:["vrrp_instance" "VI_1"] {
5:  ["interface" "eth0"]
6:  ["virtual_ipaddress"] {
6:    ["192.0.2.1"]
7:    ["192.0.2.2" "label" "eth0:1"]
8:  ["notify" "/bin/x \\#1" "#" "not" "a" "comment"]
10:["a" "b c" "d"]
11:["x"] {
11:["y"] {
11:  ["z"] {
`
	if got := b.String(); got != want {
		t.Errorf("tree:\n%s\nwant:\n%s", got, want)
	}
	// Raw keeps what script keywords re-read, quotes included.
	if raw := nodes[1].Children[2].Raw; raw != `notify "/bin/x \#1" # not a comment` {
		t.Errorf("raw = %q", raw)
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, tc := range []struct {
		src  string
		line int
		msg  string
	}{
		{"a {\n b {\n }\n", 1, "not closed"},
		{"a {\n}\n}\n", 3, "without a block"},
		{"a \"b\n", 1, "unterminated quote"},
		{"a\n\n{ b }\n{ c }\n", 4, "without a keyword"},
		{strings.Repeat("a {\n", 70) + strings.Repeat("}\n", 70), 65, "nested more than"},
		{"$A=$A$A\nx $A\n", 2, "keep expanding"},
		{"include k.conf\n", 0, "includes itself"},
		{expansionBomb(25), 2 + 3*25 + 1, "expand to more than"},
		{expansionBomb(40), 2 + 3*40 + 1, "nested too deep"},
	} {
		rd := newReader(&Options{ReadFile: memFS{"k.conf": tc.src}.readFile, Glob: memFS{"k.conf": tc.src}.glob})
		_, err := rd.parse("k.conf", []byte(tc.src))
		var se *SyntaxError
		if !errors.As(err, &se) || se.Line != tc.line || !strings.Contains(se.Msg, tc.msg) {
			t.Errorf("%q: error %v, want line %d %q", tc.src, err, tc.line, tc.msg)
		}
	}
}

// expansionBomb defines D0 as two lines and each D(i+1) as two uses of D(i),
// then uses D(levels): 2^levels lines.
func expansionBomb(levels int) string {
	var b strings.Builder
	b.WriteString("$D0=a \\\nb\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "$D%d=x \\\n$D%d \\\n$D%d\n", i, i-1, i-1)
	}
	fmt.Fprintf(&b, "$D%d\n", levels)
	return b.String()
}

func TestConditions(t *testing.T) {
	src := "@a one\n@^a two\n@b three\n@^b four\n@a\n"
	for id, want := range map[string][]string{
		"a": {"one", "four"},
		"b": {"two", "three"},
		"":  {"two", "four"},
	} {
		nodes, rd := parseString(t, src, Options{ConfigID: id})
		var got []string
		for _, n := range nodes {
			got = append(got, n.keyword())
		}
		if !slices.Equal(got, want) || !rd.conditions {
			t.Errorf("id %q: %q, want %q", id, got, want)
		}
	}
}

func TestDefinitions(t *testing.T) {
	src := "$IF=eth0\n" +
		"$VIP = 1\n" + // not a definition: keepalived allows no blank before '='
		"$ADDR=192.0.2.1\n" +
		"$BOTH=$IF ${ADDR}\n" +
		"$BLOCK=a { \\\n  b $IF \\\n}\n" +
		"x $IF ${IF}x $IFx $ADDR/24 ${ADDR}/24\n" +
		"y $BOTH \"${_HASH} $_BANG\" \"${_HASH}${_BANG}\" $_INSTANCE $_HASH comment\n" + // substitution happens before comments are removed again
		"$BLOCK\n" +
		"z $BLOCK more\n"
	nodes, _ := parseString(t, src, Options{ConfigID: "node1"})
	var b strings.Builder
	dump(nodes, 0, &b)
	want := `2:["$VIP" "=" "1"]
8:["x" "eth0" "eth0x" "$IFx" "$ADDR/24" "192.0.2.1/24"]
9:["y" "eth0" "192.0.2.1" "# $_BANG" "#!" "node1"]
10:["a"] {
10:  ["b" "eth0"]
11:["z" "$BLOCK" "more"]
`
	if got := b.String(); got != want {
		t.Errorf("tree:\n%s\nwant:\n%s", got, want)
	}
}

func TestIncludes(t *testing.T) {
	fs := memFS{
		"etc/ka/keepalived.conf":   "a {\n include conf.d/*.conf\n}\ninclude {x,y}/one.conf\ninclude nothing/*.conf\n",
		"etc/ka/conf.d/2.conf":     "two\n",
		"etc/ka/conf.d/1.conf":     "one\ninclude ../frag/f.inc\n",
		"etc/ka/conf.d/skip.other": "skipped\n",
		"etc/ka/frag/f.inc":        "frag\n",
		"etc/ka/x/one.conf":        "x1\n",
		"etc/ka/y/one.conf":        "y1\n",
	}
	opt := Options{ReadFile: fs.readFile, Glob: fs.glob}
	rd := newReader(&opt)
	nodes, err := rd.parse("etc/ka/keepalived.conf", []byte(fs["etc/ka/keepalived.conf"]))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, n := range append(nodes[0].Children, nodes[1:]...) {
		fmt.Fprintf(&b, "%s:%d %s\n", n.File, n.Line, n.keyword())
	}
	want := "etc/ka/conf.d/1.conf:1 one\n" +
		"etc/ka/frag/f.inc:1 frag\n" +
		"etc/ka/conf.d/2.conf:1 two\n" +
		"etc/ka/x/one.conf:1 x1\n" +
		"etc/ka/y/one.conf:1 y1\n"
	if b.String() != want {
		t.Errorf("statements:\n%s\nwant:\n%s", b.String(), want)
	}
	if len(rd.warnings) != 1 || rd.warnings[0].Keyword != "include" || rd.warnings[0].Line != 5 {
		t.Errorf("warnings %v, want the include matching nothing", rd.warnings)
	}
	if len(rd.files) != 6 {
		t.Errorf("files %q", rd.files)
	}
}

func TestExpandBraces(t *testing.T) {
	for in, want := range map[string][]string{
		"a":                     {"a"},
		"a{b,c}d":               {"abd", "acd"},
		"{foo/{,cat,dog},bar}":  {"foo/", "foo/cat", "foo/dog", "bar"},
		"x{y}z":                 {"x{y}z"},
		`a\{b,c}`:               {`a\{b,c}`},
		"{a,b}{1,2}":            {"a1", "a2", "b1", "b2"},
		"unbalanced{a,b":        {"unbalanced{a,b"},
		"/etc/{keepalived,k}/*": {"/etc/keepalived/*", "/etc/k/*"},
	} {
		got, ok := expandBraces(in)
		if !ok || !slices.Equal(got, want) {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
	if _, ok := expandBraces(strings.Repeat("{a,b}", 10)); ok {
		t.Error("1024 alternatives accepted")
	}
}
