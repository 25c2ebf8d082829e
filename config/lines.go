package config

import (
	"sort"
	"strconv"
	"unicode/utf8"
)

// lineIndex maps indexed key paths ("vrrp_instance[1].advert_int",
// "vrrp_instance[0].track_interface[1].weight", "vrrp_instance[0]") to the
// 1-based line where the key, element or table header starts.
//
// It exists because the TOML decoder reports positions only for syntax
// errors: every other problem needs its line found here. The scanner is only
// relied on for documents the TOML parser accepted, but it must terminate and
// not panic on anything.
type lineIndex map[string]int

func indexLines(data []byte) lineIndex {
	s := &scanner{b: data, idx: make(lineIndex), aot: make(map[string]int)}
	for i, c := range data {
		if c == '\n' {
			s.newlines = append(s.newlines, i)
		}
	}
	if s.hasPrefix("\ufeff") { // a byte order mark, which the TOML parser skips too
		s.i = len("\ufeff")
	}
	s.document()
	return s.idx
}

type scanner struct {
	b        []byte
	i        int
	newlines []int // offsets of '\n', for offset → line
	idx      lineIndex
	// aot counts the elements of each array of tables seen so far, by the
	// indexed path of the array ("virtual_server[1].real_server").
	aot map[string]int
}

func (s *scanner) lineAt(off int) int {
	return sort.SearchInts(s.newlines, off) + 1
}

func (s *scanner) set(path string, off int) {
	if _, ok := s.idx[path]; !ok {
		s.idx[path] = s.lineAt(off)
	}
}

func (s *scanner) eof() bool { return s.i >= len(s.b) }

func (s *scanner) at(c byte) bool { return s.i < len(s.b) && s.b[s.i] == c }

func (s *scanner) hasPrefix(p string) bool {
	return len(s.b)-s.i >= len(p) && string(s.b[s.i:s.i+len(p)]) == p
}

// blank skips spaces and tabs.
func (s *scanner) blank() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t') {
		s.i++
	}
}

// space skips blanks, newlines and comments.
func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		case '#':
			s.restOfLine()
		default:
			return
		}
	}
}

// restOfLine skips to the start of the next line.
func (s *scanner) restOfLine() {
	for s.i < len(s.b) && s.b[s.i] != '\n' {
		s.i++
	}
	if s.i < len(s.b) {
		s.i++
	}
}

func (s *scanner) document() {
	table := ""
	for {
		s.space()
		if s.eof() {
			return
		}
		start := s.i
		switch {
		case s.hasPrefix("[["):
			s.i += 2
			table = s.header(s.key(), true, start)
			s.restOfLine()
		case s.at('['):
			s.i++
			table = s.header(s.key(), false, start)
			s.restOfLine()
		default:
			segs := s.key()
			if len(segs) == 0 {
				s.restOfLine()
				continue
			}
			p := table
			for _, seg := range segs {
				p = join(p, seg)
				s.set(p, start)
			}
			s.blank()
			if s.at('=') {
				s.i++
				s.value(p)
			}
			s.restOfLine()
		}
		if s.i == start { // cannot happen on valid TOML; never loop forever
			s.i++
		}
	}
}

// header resolves a table header's key to its indexed path: an array of
// tables met along the way means its latest element, and [[x]] itself starts
// a new element.
func (s *scanner) header(segs []string, array bool, start int) string {
	p := ""
	for k, seg := range segs {
		p = join(p, seg)
		if array && k == len(segs)-1 {
			n := s.aot[p]
			s.aot[p] = n + 1
			s.set(p, start)
			p = index(p, n)
		} else if n, ok := s.aot[p]; ok {
			p = index(p, n-1)
		}
		s.set(p, start)
	}
	return p
}

// key reads a possibly dotted key and returns its segments.
func (s *scanner) key() []string {
	var segs []string
	for {
		s.blank()
		if s.eof() {
			return segs
		}
		switch s.b[s.i] {
		case '"':
			start := s.i
			s.i++
			for s.i < len(s.b) && s.b[s.i] != '"' && s.b[s.i] != '\n' {
				if s.b[s.i] == '\\' {
					s.i++
				}
				s.i++
			}
			if s.i > len(s.b) {
				s.i = len(s.b)
			}
			segs = append(segs, unescape(s.b[start+1:s.i]))
			if s.at('"') {
				s.i++
			}
		case '\'':
			s.i++
			start := s.i
			for s.i < len(s.b) && s.b[s.i] != '\'' && s.b[s.i] != '\n' {
				s.i++
			}
			segs = append(segs, string(s.b[start:s.i]))
			if s.at('\'') {
				s.i++
			}
		default:
			start := s.i
			for s.i < len(s.b) && !keyDelim(s.b[s.i]) {
				s.i++
			}
			if s.i == start {
				return segs
			}
			segs = append(segs, string(s.b[start:s.i]))
		}
		s.blank()
		if !s.at('.') {
			return segs
		}
		s.i++
	}
}

func keyDelim(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '=', '.', '[', ']', '{', '}', ',', '#', '"', '\'':
		return true
	}
	return false
}

// value skips one value, indexing the elements of arrays and the keys of
// inline tables under path.
func (s *scanner) value(path string) {
	s.blank()
	if s.eof() {
		return
	}
	switch {
	case s.hasPrefix(`"""`):
		s.i += 3
		for s.i < len(s.b) && !s.hasPrefix(`"""`) {
			if s.b[s.i] == '\\' {
				s.i++
			}
			s.i++
		}
		s.closeQuotes('"')
	case s.hasPrefix(`'''`):
		s.i += 3
		for s.i < len(s.b) && !s.hasPrefix(`'''`) {
			s.i++
		}
		s.closeQuotes('\'')
	case s.at('"'):
		s.i++
		for s.i < len(s.b) && s.b[s.i] != '"' && s.b[s.i] != '\n' {
			if s.b[s.i] == '\\' {
				s.i++
			}
			s.i++
		}
		if s.at('"') {
			s.i++
		}
	case s.at('\''):
		s.i++
		for s.i < len(s.b) && s.b[s.i] != '\'' && s.b[s.i] != '\n' {
			s.i++
		}
		if s.at('\'') {
			s.i++
		}
	case s.at('['):
		s.i++
		for n := 0; ; {
			s.space()
			if s.eof() {
				return
			}
			switch s.b[s.i] {
			case ']':
				s.i++
				return
			case ',':
				s.i++
				continue
			}
			start := s.i
			elem := index(path, n)
			s.set(elem, start)
			s.value(elem)
			n++
			if s.i == start {
				s.i++
			}
		}
	case s.at('{'):
		s.i++
		for {
			s.space()
			if s.eof() {
				return
			}
			switch s.b[s.i] {
			case '}':
				s.i++
				return
			case ',':
				s.i++
				continue
			}
			start := s.i
			p := path
			for _, seg := range s.key() {
				p = join(p, seg)
				s.set(p, start)
			}
			s.blank()
			if s.at('=') {
				s.i++
				s.value(p)
			}
			if s.i == start {
				s.i++
			}
		}
	default:
		// A number, boolean or date: it ends where the enclosing syntax
		// continues.
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', ']', '}', '\n', '#':
				return
			}
			s.i++
		}
	}
	if s.i > len(s.b) {
		s.i = len(s.b)
	}
}

// closeQuotes consumes the closing delimiter of a multi-line string, which may
// be preceded by up to two quotes belonging to the content (`""""` ends a
// string whose last character is a quote).
func (s *scanner) closeQuotes(q byte) {
	n := 0
	for s.i < len(s.b) && s.b[s.i] == q && n < 5 {
		s.i++
		n++
	}
}

// unescape decodes the escapes of a TOML basic string, so that quoted keys
// index under the same name the TOML decoder gives them.
func unescape(b []byte) string {
	var out []byte
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 == len(b) {
			out = append(out, b[i])
			continue
		}
		i++
		switch c := b[i]; c {
		case 'b':
			out = append(out, '\b')
		case 't':
			out = append(out, '\t')
		case 'n':
			out = append(out, '\n')
		case 'f':
			out = append(out, '\f')
		case 'r':
			out = append(out, '\r')
		case 'e':
			out = append(out, 0x1b)
		case 'x', 'u', 'U':
			n := 2
			switch c {
			case 'u':
				n = 4
			case 'U':
				n = 8
			}
			if i+1+n > len(b) {
				out = append(out, '\\', c)
				continue
			}
			r, err := strconv.ParseUint(string(b[i+1:i+1+n]), 16, 32)
			if err != nil {
				out = append(out, '\\', c)
				continue
			}
			out = utf8.AppendRune(out, rune(r))
			i += n
		default:
			out = append(out, c)
		}
	}
	return string(out)
}
