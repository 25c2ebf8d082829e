package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration file.
type Problem struct {
	File string
	// Line is 1-based; 0 when the problem has no place in the file.
	Line int
	// Key is the full key path as an operator reads it, e.g.
	// `vrrp_instance "VI_1".advert_int` or `virtual_server[2].real_server[0]`
	// when the element has no usable name; empty for syntax errors.
	Key string
	Msg string
}

// String formats the problem as FILE:LINE: KEY: message, leaving out the parts
// it does not have.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Errors is every problem found in a configuration file, in file order. Load
// and Parse return it (as a *Errors) whenever the file is unusable, so callers
// can print all problems at once or inspect them.
type Errors struct {
	Problems []Problem
}

// Error returns one problem per line.
func (e *Errors) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// report collects problems while decoding and validating. Problems refer to
// keys by their indexed path ("vrrp_instance[1].advert_int"), which is what the
// line index knows; they are turned into readable keys at the end, when the
// names of the elements are known.
type report struct {
	file  string
	lines lineIndex
	list  []pending
	// broken holds the paths whose value could not be decoded; validation
	// problems about them or under them would only repeat the news.
	broken []string
	// labels maps an indexed element path to its readable form, e.g.
	// "vrrp_instance[0]" to `vrrp_instance "VI_1"`.
	labels map[string]string
	// where, when set, names the place of an element in problems that point at another
	// one (a Checker's caller knows it); otherwise it is "line N" of the file.
	where func(path string) string
}

type pending struct {
	path string
	line int // 0: look the path up
	msg  string
}

// add records a validation problem unless the value at path, or one that
// contains it, was already reported as undecodable.
func (r *report) add(path, format string, args ...any) {
	for _, b := range r.broken {
		if within(path, b) {
			return
		}
	}
	r.list = append(r.list, pending{path: path, msg: fmt.Sprintf(format, args...)})
}

// decodeFailed records a problem with the value at path itself.
func (r *report) decodeFailed(path, format string, args ...any) {
	r.broken = append(r.broken, path)
	r.list = append(r.list, pending{path: path, msg: fmt.Sprintf(format, args...)})
}

// within reports whether path is p itself or lies under it.
func within(path, p string) bool {
	if !strings.HasPrefix(path, p) {
		return false
	}
	rest := path[len(p):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}

// line returns the line of path, or of its nearest ancestor present in the
// file (a missing required key is reported where its table starts).
func (r *report) line(path string) int {
	for path != "" {
		if l, ok := r.lines[path]; ok {
			return l
		}
		path = parent(path)
	}
	return 0
}

// place names where the element at path is, for problems that refer to it.
func (r *report) place(path string) string {
	if r.where != nil {
		return r.where(path)
	}
	return "line " + strconv.Itoa(r.line(path))
}

// label records the readable form of the element at path.
func (r *report) label(path, name string) {
	if name == "" {
		return
	}
	if r.labels == nil {
		r.labels = make(map[string]string)
	}
	r.labels[path] = r.display(parent(path)) + " " + strconv.Quote(name)
}

// display turns an indexed path into the key operators read, replacing the
// longest labelled prefix.
func (r *report) display(path string) string {
	for i := len(path); i > 0; i-- {
		if i < len(path) && path[i] != '.' && path[i] != '[' {
			continue
		}
		if l, ok := r.labels[path[:i]]; ok {
			return l + path[i:]
		}
	}
	return path
}

func (r *report) err() error {
	if len(r.list) == 0 {
		return nil
	}
	probs := make([]Problem, len(r.list))
	for i, p := range r.list {
		line := p.line
		if line == 0 {
			line = r.line(p.path)
		}
		probs[i] = Problem{File: r.file, Line: line, Key: r.display(p.path), Msg: p.msg}
	}
	slices.SortStableFunc(probs, func(a, b Problem) int {
		// Problems without a line go last; the rest in file order.
		if (a.Line == 0) != (b.Line == 0) {
			if a.Line == 0 {
				return 1
			}
			return -1
		}
		return a.Line - b.Line
	})
	return &Errors{Problems: probs}
}

// parent strips the last element ("a.b[2]" → "a.b", "a.b" → "a").
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// join appends key to path, quoting it when it is not a bare TOML key so that
// odd keys cannot be confused with path punctuation.
func join(path, key string) string {
	if !isBare(key) {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

func isBare(key string) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func quote(s string) string { return strconv.Quote(s) }
