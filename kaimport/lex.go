package kaimport

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// Reading follows keepalived 2.2's parser (lib/parser.c), which is line
// oriented: each physical line loses its comment, then conditional
// configuration (@ID), definitions ($NAME=) and includes are handled, then the
// line is cut before and after every '{' and '}' outside double quotes, and
// each piece is split into words (a "quoted string" is one word). A keyword
// owns the { } block that follows it, on the same line or a later one.

// node is one statement of a keepalived configuration: a keyword with its
// arguments and, when a { } block follows it, the statements inside.
type node struct {
	File string
	Line int
	// Words are the keyword and its arguments, quotes removed.
	Words []string
	// Raw is the statement's text as keepalived's script keywords re-read it
	// (with shell-like quoting and escapes).
	Raw      string
	Block    bool
	Children []*node
}

func (n *node) keyword() string { return n.Words[0] }

// arg returns the i-th argument (1-based), or "" when there is none.
func (n *node) arg(i int) string {
	if i < len(n.Words) {
		return n.Words[i]
	}
	return ""
}

// Limits that keep hostile input from exhausting the importer.
const (
	maxIncludeDepth = 32
	maxFiles        = 1000
	maxBlockDepth   = 64
	maxLineLen      = 1 << 16
	maxSubstitution = 32     // rounds of $NAME replacement on one line
	maxExpanded     = 100000 // lines made by multiline definitions, in all
	maxBraceExpand  = 256
)

type itemKind uint8

const (
	itemStmt itemKind = iota
	itemOpen
	itemClose
)

type item struct {
	kind  itemKind
	file  string
	line  int
	words []string
	raw   string
}

type definition struct {
	value     string // lines separated by '\n' when multiline
	multiline bool
}

type reader struct {
	opt      *Options
	defs     map[string]*definition
	items    []item
	files    []string
	stack    []string // files being read, for include loops
	warnings []Warning
	// pending is the multiline definition being read, nil otherwise.
	pending *definition
	// conditions records that some line was conditional (@ID).
	conditions bool
	// expanded counts the lines multiline definitions made: definitions
	// that use each other twice double at every level.
	expanded int
}

func newReader(opt *Options) *reader {
	return &reader{opt: opt, defs: map[string]*definition{
		"_HASH":     {value: "#"},
		"_BANG":     {value: "!"},
		"_INSTANCE": {value: opt.ConfigID},
	}}
}

func (r *reader) warn(file string, line int, keyword, format string, args ...any) {
	r.warnings = append(r.warnings, Warning{File: file, Line: line, Keyword: keyword, Reason: fmt.Sprintf(format, args...)})
}

// parse reads the main file (and what it includes) into statements.
func (r *reader) parse(name string, data []byte) ([]*node, error) {
	if err := r.readFile(name, data); err != nil {
		return nil, err
	}
	return r.tree()
}

func (r *reader) readFile(name string, data []byte) error {
	if len(r.stack) >= maxIncludeDepth {
		return &SyntaxError{File: name, Msg: fmt.Sprintf("includes nested more than %d deep", maxIncludeDepth)}
	}
	if slices.Contains(r.stack, name) {
		return &SyntaxError{File: name, Msg: "includes itself (include loop)"}
	}
	if len(r.files) >= maxFiles {
		return &SyntaxError{File: name, Msg: fmt.Sprintf("more than %d files included", maxFiles)}
	}
	r.stack = append(r.stack, name)
	defer func() { r.stack = r.stack[:len(r.stack)-1] }()
	r.files = append(r.files, name)
	r.defs["_PWD"] = &definition{value: dirOf(name)}
	r.pending = nil // a multiline definition ends with its file

	lines := strings.Split(string(data), "\n")
	for i, raw := range lines {
		ln := i + 1
		raw = strings.TrimRight(raw, "\r")
		if !utf8.ValidString(raw) {
			r.warn(name, ln, "(bytes)", "the line is not valid UTF-8: invalid bytes replaced by U+FFFD")
			raw = strings.ToValidUTF8(raw, "\uFFFD")
		}
		if raw == "" {
			r.pending = nil
			continue
		}
		text, err := decomment(raw)
		if err != "" {
			return &SyntaxError{File: name, Line: ln, Msg: err}
		}
		if text == "" {
			continue
		}
		if r.pending != nil {
			r.continueDefinition(text)
			continue
		}
		if err := r.line(text, name, ln, 0); err != nil {
			return err
		}
	}
	r.pending = nil
	return nil
}

func dirOf(name string) string {
	if abs, err := filepath.Abs(filepath.Dir(name)); err == nil {
		return abs
	}
	return filepath.Dir(name)
}

// decomment removes a line's comment ('#' or '!' outside double quotes to the
// end of the line), the backslash of an escaped \# or \!, and surrounding
// blanks. A trailing backslash is kept: it continues a definition.
func decomment(s string) (string, string) {
	var b strings.Builder
	quote := false
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			quote = !quote
		case c == '\\' && i+1 < len(s):
			if !quote && (s[i+1] == '#' || s[i+1] == '!') {
				b.WriteByte(s[i+1])
			} else {
				b.WriteByte(c)
				b.WriteByte(s[i+1])
			}
			i += 2
			continue
		case !quote && (c == '#' || c == '!'):
			i = len(s)
			continue
		}
		b.WriteByte(c)
		i++
	}
	if quote {
		return "", "unterminated quote"
	}
	return strings.Trim(b.String(), " \t\f\v"), ""
}

// continueDefinition adds a line to the multiline definition being read.
func (r *reader) continueDefinition(text string) {
	d := r.pending
	if strings.HasSuffix(text, "\\") {
		text = strings.TrimRight(text[:len(text)-1], " \t")
		if text != "" {
			d.value += text + "\n"
		}
		return
	}
	d.value += text
	r.pending = nil
}

// line handles one logical line: conditions, definitions, substitution,
// includes, and finally statements and braces.
func (r *reader) line(text, file string, ln, depth int) error {
	var extra []string // further lines from a multiline definition
	for round := 0; ; round++ {
		if text == "" {
			return nil
		}
		if text[0] == '@' {
			rest, keep := r.condition(text)
			if !keep {
				return nil
			}
			text = rest
			continue
		}
		if text[0] == '$' {
			if r.definition(text) {
				return nil
			}
		}
		if strings.HasPrefix(text, "~SEQ") || strings.HasPrefix(text, "~LST") {
			r.warn(file, ln, text[:4], "keepalived's line generators are not expanded: write the generated lines out")
			return nil
		}
		if strings.Contains(text, "$_RANDOM") || strings.Contains(text, "${_RANDOM") {
			r.warn(file, ln, "$_RANDOM", "random values are not reproducible: the text is kept as written")
		}
		if len(r.defs) == 0 || !strings.Contains(text, "$") || text[0] == '~' {
			break
		}
		if round >= maxSubstitution {
			return &SyntaxError{File: file, Line: ln, Msg: "definitions keep expanding (a definition refers to itself?)"}
		}
		out, more, changed := r.substitute(text)
		if !changed {
			break
		}
		if len(out) > maxLineLen {
			return &SyntaxError{File: file, Line: ln, Msg: "line is too long after replacing definitions"}
		}
		extra = append(more, extra...)
		var err string
		if text, err = decomment(out); err != "" {
			return &SyntaxError{File: file, Line: ln, Msg: err + " after replacing definitions"}
		}
	}
	if text != "" {
		if inc, pattern, ok := isInclude(text); ok {
			if err := r.include(inc, pattern, file, ln); err != nil {
				return err
			}
		} else if err := r.emit(text, file, ln); err != nil {
			return err
		}
	}
	if depth >= maxSubstitution && len(extra) > 0 {
		return &SyntaxError{File: file, Line: ln, Msg: "multiline definitions nested too deep"}
	}
	for _, l := range extra {
		if r.expanded++; r.expanded > maxExpanded {
			return &SyntaxError{File: file, Line: ln, Msg: fmt.Sprintf("multiline definitions expand to more than %d lines", maxExpanded)}
		}
		if err := r.line(strings.TrimSpace(l), file, ln, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// condition handles "@ID rest" and "@^ID rest".
func (r *reader) condition(text string) (string, bool) {
	r.conditions = true
	rev := strings.HasPrefix(text, "@^")
	id := text[1:]
	if rev {
		id = text[2:]
	}
	cut := strings.IndexAny(id, " \t")
	if cut < 0 {
		return "", false // nothing after the ID
	}
	rest := strings.TrimLeft(id[cut:], " \t")
	id = id[:cut]
	match := r.opt.ConfigID != "" && id == r.opt.ConfigID
	return rest, match != rev
}

// definition handles "$NAME=value" (a trailing backslash continues the value
// on the following lines) and reports whether text was one.
func (r *reader) definition(text string) bool {
	if len(text) < 2 || !isNameStart(text[1]) {
		return false
	}
	i := 2
	for i < len(text) && isNameChar(text[i]) {
		i++
	}
	if i >= len(text) || text[i] != '=' {
		return false
	}
	name := text[1:i]
	value := strings.TrimLeft(text[i+1:], " \t")
	d := &definition{}
	if strings.HasSuffix(value, "\\") {
		d.multiline = true
		value = strings.TrimRight(value[:len(value)-1], " \t")
		if value != "" {
			value += "\n"
		}
		r.pending = d
	}
	d.value = value
	r.defs[name] = d
	return true
}

func isNameStart(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isNameChar(c byte) bool { return isNameStart(c) || '0' <= c && c <= '9' }

// substitute replaces $NAME and ${NAME} by their definitions. A multiline
// definition may only end the line; its first line replaces the reference and
// the others are returned to be read after it.
func (r *reader) substitute(text string) (string, []string, bool) {
	var b strings.Builder
	var extra []string
	changed := false
	i := 0
	for i < len(text) {
		if text[i] != '$' || i+1 >= len(text) {
			b.WriteByte(text[i])
			i++
			continue
		}
		braces := text[i+1] == '{'
		j := i + 1
		if braces {
			j++
		}
		start := j
		if j >= len(text) || !isNameStart(text[j]) {
			b.WriteByte(text[i])
			i++
			continue
		}
		for j < len(text) && isNameChar(text[j]) {
			j++
		}
		name := text[start:j]
		end := j
		if braces {
			if j >= len(text) || text[j] != '}' {
				b.WriteByte(text[i])
				i++
				continue
			}
			end = j + 1
		} else if j < len(text) && !strings.ContainsRune(" \t,)", rune(text[j])) {
			b.WriteByte(text[i])
			i++
			continue
		}
		d, ok := r.defs[name]
		if !ok || d.multiline && end != len(text) {
			b.WriteByte(text[i])
			i++
			continue
		}
		changed = true
		value := d.value
		if d.multiline {
			lines := strings.Split(strings.TrimSuffix(value, "\n"), "\n")
			value, extra = lines[0], lines[1:]
		}
		b.WriteString(value)
		i = end
	}
	return b.String(), extra, changed
}

// isInclude recognises keepalived's include keywords at the start of a line.
func isInclude(text string) (string, string, bool) {
	if !strings.HasPrefix(text, "include") || len(text) < 8 {
		return "", "", false
	}
	if text[7] == ' ' || text[7] == '\t' {
		return "include", strings.TrimLeft(text[8:], " \t"), true
	}
	if len(text) > 8 && strings.IndexByte("rmwba", text[7]) >= 0 && (text[8] == ' ' || text[8] == '\t') {
		return text[:8], strings.TrimLeft(text[9:], " \t"), true
	}
	return "", "", false
}

// include reads the files matching pattern, relative to the including file's
// directory. As with keepalived's plain include, a pattern that matches
// nothing and a file that cannot be read are reported, not fatal.
func (r *reader) include(keyword, pattern, file string, ln int) error {
	if pattern == "" {
		r.warn(file, ln, keyword, "no file named")
		return nil
	}
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(file), pattern)
	}
	alts, ok := expandBraces(pattern)
	if !ok {
		r.warn(file, ln, keyword, "%q expands to more than %d patterns", pattern, maxBraceExpand)
		return nil
	}
	var matches []string
	for _, p := range alts {
		m, err := r.opt.glob(p)
		if err != nil {
			r.warn(file, ln, keyword, "pattern %q: %v", p, err)
			continue
		}
		slices.Sort(m)
		matches = append(matches, m...)
	}
	if len(matches) == 0 {
		r.warn(file, ln, keyword, "%q matches no file", pattern)
		return nil
	}
	for _, m := range matches {
		data, err := r.opt.readFile(m)
		if err != nil {
			r.warn(file, ln, keyword, "%s: %v: skipped", m, err)
			continue
		}
		if err := r.readFile(m, data); err != nil {
			return err
		}
	}
	return nil
}

// expandBraces expands csh-style alternatives: "a/{b,c{d,e}}" gives "a/b",
// "a/cd", "a/ce". Braces without a comma stay as written.
func expandBraces(p string) ([]string, bool) {
	out := []string{}
	var expand func(string) bool
	expand = func(s string) bool {
		open, close, parts := firstAlternatives(s)
		if open < 0 {
			if len(out) >= maxBraceExpand {
				return false
			}
			out = append(out, s)
			return true
		}
		for _, alt := range parts {
			if !expand(s[:open] + alt + s[close+1:]) {
				return false
			}
		}
		return true
	}
	if !expand(p) {
		return nil, false
	}
	return out, true
}

// firstAlternatives finds the first {…,…} group and splits it at its top-level
// commas.
func firstAlternatives(s string) (int, int, []string) {
	for open := 0; open < len(s); open++ {
		if s[open] == '\\' {
			open++
			continue
		}
		if s[open] != '{' {
			continue
		}
		depth, last := 0, open+1
		var parts []string
		for i := open + 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '{':
				depth++
			case '}':
				if depth > 0 {
					depth--
					continue
				}
				if parts == nil {
					i = len(s) // no comma: not a group
					continue
				}
				return open, i, append(parts, s[last:i])
			case ',':
				if depth == 0 {
					parts = append(parts, s[last:i])
					last = i + 1
				}
			}
		}
	}
	return -1, -1, nil
}

// emit cuts a line at its braces and splits the pieces into words.
func (r *reader) emit(text, file string, ln int) error {
	for text != "" {
		i := braceIndex(text)
		if i < 0 {
			return r.stmt(text, file, ln)
		}
		if i > 0 {
			if err := r.stmt(strings.TrimRight(text[:i], " \t"), file, ln); err != nil {
				return err
			}
			text = text[i:]
			continue
		}
		kind := itemOpen
		if text[0] == '}' {
			kind = itemClose
		}
		r.items = append(r.items, item{kind: kind, file: file, line: ln})
		text = strings.TrimLeft(text[1:], " \t")
	}
	return nil
}

// braceIndex finds the first '{' or '}' outside double quotes.
func braceIndex(s string) int {
	quote := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quote = !quote
		case '{', '}':
			if !quote {
				return i
			}
		}
	}
	return -1
}

func (r *reader) stmt(text, file string, ln int) error {
	words, ok := splitWords(text)
	if !ok {
		return &SyntaxError{File: file, Line: ln, Msg: "unmatched quote"}
	}
	if len(words) > 0 {
		r.items = append(r.items, item{kind: itemStmt, file: file, line: ln, words: words, raw: text})
	}
	return nil
}

const blanks = " \t\f\n\r\v"

// splitWords splits a statement as keepalived's alloc_strvec does: words are
// separated by blanks and a double-quoted string is one word without its
// quotes (no escapes).
func splitWords(s string) ([]string, bool) {
	var words []string
	i := 0
	for {
		for i < len(s) && strings.IndexByte(blanks, s[i]) >= 0 {
			i++
		}
		if i >= len(s) {
			return words, true
		}
		if s[i] == '"' {
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return words, false
			}
			words = append(words, s[i+1:i+1+j])
			i += j + 2
			continue
		}
		j := i
		for j < len(s) && strings.IndexByte(blanks+`"`, s[j]) < 0 {
			j++
		}
		words = append(words, s[i:j])
		i = j
	}
}

// tree pairs the braces: a block belongs to the statement just before its '{'.
func (r *reader) tree() ([]*node, error) {
	var top []*node
	var stack []*node
	var last *node
	for _, it := range r.items {
		switch it.kind {
		case itemStmt:
			n := &node{File: it.file, Line: it.line, Words: it.words, Raw: it.raw}
			if len(stack) == 0 {
				top = append(top, n)
			} else {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, n)
			}
			last = n
		case itemOpen:
			if last == nil {
				return nil, &SyntaxError{File: it.file, Line: it.line, Msg: "'{' without a keyword before it"}
			}
			if len(stack) >= maxBlockDepth {
				return nil, &SyntaxError{File: it.file, Line: it.line, Msg: fmt.Sprintf("blocks nested more than %d deep", maxBlockDepth)}
			}
			last.Block = true
			stack = append(stack, last)
			last = nil
		case itemClose:
			if len(stack) == 0 {
				return nil, &SyntaxError{File: it.file, Line: it.line, Msg: "'}' without a block to close"}
			}
			stack = stack[:len(stack)-1]
			last = nil
		}
	}
	if len(stack) > 0 {
		n := stack[len(stack)-1]
		return nil, &SyntaxError{File: n.File, Line: n.Line, Msg: fmt.Sprintf("the block of %q is not closed: '}' missing", n.keyword())}
	}
	return top, nil
}
