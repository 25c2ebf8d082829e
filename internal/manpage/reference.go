package manpage

import (
	"fmt"
	"strings"
)

// reference is the reference schema read line by line: for each table, its comment, its
// comment lines and, for each key, the value shown and the comment. (A TOML decoder drops
// comments, and the comments are the documentation.)
type reference struct {
	tables map[string]*refTable
	order  []string // table names in file order, for errors in a stable order
}

type refTable struct {
	comment string   // on the header line
	notes   []string // comment lines inside the table
	keys    []string // in file order
	entries map[string]refEntry
}

type refEntry struct{ value, comment string }

func (r *refTable) entry(key string) (refEntry, bool) {
	if r == nil {
		return refEntry{}, false
	}
	e, ok := r.entries[key]
	return e, ok
}

func (r *refTable) note() string {
	return strings.Join(append([]string{r.comment}, r.notes...), "\n")
}

func parseReference(data []byte) (reference, error) {
	refs := reference{tables: map[string]*refTable{}}
	var cur *refTable
	for n, raw := range strings.Split(string(data), "\n") {
		l := strings.TrimSpace(raw)
		code, comment := splitComment(l)
		switch {
		case code == "" && comment == "":
		case code == "":
			if cur != nil {
				cur.notes = append(cur.notes, comment)
			}
		case strings.HasPrefix(code, "["):
			name := strings.Trim(code, "[]")
			if t := refs.tables[name]; t != nil {
				if !strings.HasPrefix(code, "[[") {
					return reference{}, fmt.Errorf("manpage: reference line %d: table [%s] again", n+1, name)
				}
				// Another element of an array of tables (a second example virtual
				// server): its keys add to the first's; the first's text wins.
				cur = t
				continue
			}
			cur = &refTable{comment: comment, entries: map[string]refEntry{}}
			refs.tables[name] = cur
			refs.order = append(refs.order, name)
		default:
			key, value, ok := strings.Cut(code, "=")
			if !ok || cur == nil {
				return reference{}, fmt.Errorf("manpage: reference line %d: not a key = value line inside a table: %q", n+1, raw)
			}
			key = strings.TrimSpace(key)
			if _, dup := cur.entries[key]; dup {
				continue
			}
			cur.keys = append(cur.keys, key)
			cur.entries[key] = refEntry{value: strings.TrimSpace(value), comment: comment}
		}
	}
	return refs, nil
}

// splitComment cuts a line at the first # outside a string.
func splitComment(l string) (code, comment string) {
	inString, escaped := false, false
	for i, c := range l {
		switch {
		case escaped:
			escaped = false
		case c == '\\' && inString:
			escaped = true
		case c == '"':
			inString = !inString
		case c == '#' && !inString:
			return strings.TrimSpace(l[:i]), strings.TrimSpace(l[i+1:])
		}
	}
	return l, ""
}
