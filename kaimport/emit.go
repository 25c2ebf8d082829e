package kaimport

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// table is one TOML table of the output with its keys in schema order and the
// comments that explain the translation.
type table struct {
	header   string   // "[[vrrp_instance]]"; "" for the top of the file
	source   string   // where it came from, written after the header
	comments []string // lines above the header
	entries  []entry
}

type entry struct {
	key      string
	value    string // already TOML
	comments []string
}

// set adds key (or replaces it, keeping its place and adding the comments).
func (t *table) set(key, value string, comments ...string) {
	for i := range t.entries {
		if t.entries[i].key == key {
			t.entries[i].value = value
			t.entries[i].comments = append(t.entries[i].comments, comments...)
			return
		}
	}
	t.entries = append(t.entries, entry{key: key, value: value, comments: comments})
}

func (t *table) write(b *strings.Builder) {
	if t.header != "" {
		b.WriteByte('\n')
	}
	for _, c := range t.comments {
		writeComment(b, "", c)
	}
	indent := ""
	if t.header != "" {
		indent = strings.Repeat("  ", strings.Count(t.header, "."))
		b.WriteString(indent)
		b.WriteString(t.header)
		if t.source != "" {
			b.WriteString("  # ")
			b.WriteString(commentText(t.source))
		}
		b.WriteByte('\n')
	}
	for _, e := range t.entries {
		for _, c := range e.comments {
			writeComment(b, indent, c)
		}
		b.WriteString(indent)
		b.WriteString(e.key)
		b.WriteString(" = ")
		b.WriteString(strings.ReplaceAll(e.value, "\n", "\n"+indent))
		b.WriteByte('\n')
	}
}

// writeComment writes a comment, one "# " line per line of text.
func writeComment(b *strings.Builder, indent, text string) {
	for _, l := range strings.Split(text, "\n") {
		b.WriteString(indent)
		if l == "" {
			b.WriteString("#\n")
			continue
		}
		b.WriteString("# ")
		b.WriteString(commentText(l))
		b.WriteByte('\n')
	}
}

// commentText makes text safe inside a TOML comment: valid UTF-8 without
// control characters.
func commentText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
				continue
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func tomlInt(n int) string { return strconv.Itoa(n) }

func tomlBool(v bool) string { return strconv.FormatBool(v) }

func tomlDuration(d time.Duration) string { return tomlString(formatDuration(d)) }

func tomlStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = tomlString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// tomlInts writes a list of integers, ranges of consecutive values on lines
// of their own so that 200..299 stays readable.
func tomlInts(ns []int) string {
	if len(ns) <= 12 {
		s := make([]string, len(ns))
		for i, n := range ns {
			s[i] = strconv.Itoa(n)
		}
		return "[" + strings.Join(s, ", ") + "]"
	}
	var b strings.Builder
	b.WriteString("[\n")
	for i := 0; i < len(ns); i += 10 {
		b.WriteString("   ")
		for _, n := range ns[i:min(i+10, len(ns))] {
			fmt.Fprintf(&b, " %d,", n)
		}
		b.WriteByte('\n')
	}
	b.WriteByte(']')
	return b.String()
}

// validText reports whether s can be carried by hadirector's configuration:
// valid UTF-8 without NUL (keepalived's C strings cannot hold one either).
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}
