package kaimport

import (
	"errors"
	"strconv"
	"strings"

	"github.com/hadirector/hadirector/config"
)

// Whether an element can stand is config's decision, not the importer's: each
// translated element goes into t.cfg and is checked with config's own rules
// (config.Checker) against the elements kept before it. What a problem names
// inside the element (an address, a real server, a setting) is left out with a
// warning quoting config, and the element is checked again; a problem that names
// the element itself leaves it out.

// Zero values of the schema types, for config.Key.
var (
	cfgT       config.Config
	instanceT  config.Instance
	syncGroupT config.SyncGroup
	vserverT   config.VirtualServer
	rserverT   config.RealServer
	checkT     config.Check
	urlT       config.URL
	globalT    config.Global
	lvsT       config.LVS
	scriptT    config.VRRPScript
	trackFileT config.TrackFile
)

func cfgKey(field any) string      { return config.Key(&cfgT, field) }
func instanceKey(field any) string { return config.Key(&instanceT, field) }
func vserverKey(field any) string  { return config.Key(&vserverT, field) }
func rserverKey(field any) string  { return config.Key(&rserverT, field) }
func checkKey(field any) string    { return config.Key(&checkT, field) }

// elemPath is the indexed path config names element i of an array of tables by.
func elemPath(key string, i int) string { return key + "[" + strconv.Itoa(i) + "]" }

// place says where the element at path (or the nearest one containing it) came from,
// for config's problems that point at another element.
func (t *translator) place(path string) string {
	for p := path; p != ""; p = p[:max(strings.LastIndexAny(p, ".["), 0)] {
		if s, ok := t.places[p]; ok {
			return s
		}
	}
	return path
}

// admit appends to *list the element settle translates and checks it with check until it
// passes. When mend (nil: none) has a fix for every problem, the fixes are applied and
// the element is settled again; only the last settlement's warnings and notes are kept.
// All the fixes of a check are applied at once (one at a time would be quadratic in the
// parts left out), unless alone says that the problems' first fix must go alone
// because the others may depend on it. It returns why the element cannot stand
// (config's first problem without a fix, or settle's error), and the element is then not
// in *list.
func admit[T any](t *translator, list *[]T, settle func() (T, error), check func(i int) []config.Problem, mend func(config.Problem) func(), alone func([]config.Problem) bool) error {
	i := len(*list)
	for {
		warnings, notes := len(t.warnings), len(t.notes)
		elem, err := settle()
		if err != nil {
			return err
		}
		*list = append(*list, elem)
		probs := check(i)
		if len(probs) == 0 {
			return nil
		}
		*list = (*list)[:i]
		t.warnings, t.notes = t.warnings[:warnings], t.notes[:notes]
		var fixes []func()
		for _, p := range probs {
			var f func()
			if mend != nil {
				f = mend(p)
			}
			if f == nil {
				return errors.New(problemText(p))
			}
			fixes = append(fixes, f)
		}
		if alone != nil && alone(probs) {
			fixes = fixes[:1]
		}
		for _, f := range fixes {
			f()
		}
	}
}

// problemText quotes config's problem for a warning: its key without array indexes
// (they are the generated file's, not keepalived.conf's) and its message.
func problemText(p config.Problem) string {
	var b strings.Builder
	depth := 0
	for _, c := range p.Key {
		switch {
		case c == '[':
			depth++
		case c == ']':
			depth--
		case depth == 0:
			b.WriteRune(c)
		}
	}
	if b.Len() == 0 {
		return p.Msg
	}
	return b.String() + ": " + p.Msg
}

// splitKey splits a key within an element, "real_server[1].check.bind_to", into its
// first key, the index that follows it (-1 if none) and the rest.
func splitKey(key string) (head string, i int, rest string) {
	end := strings.IndexAny(key, ".[")
	if end < 0 {
		return key, -1, ""
	}
	head, rest, i = key[:end], key[end:], -1
	if rest[0] == '[' {
		n, after, ok := strings.Cut(rest[1:], "]")
		if v, err := strconv.Atoi(n); ok && err == nil {
			i, rest = v, after
		}
	}
	return head, i, strings.TrimPrefix(rest, ".")
}
