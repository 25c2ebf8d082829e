package config

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// FuzzParse checks that no input makes Parse panic, that every problem has a
// line inside the file, and that every accepted configuration survives an
// encode/parse round trip. The seed corpus is in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	ref, err := os.ReadFile("testdata/reference.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ref)
	f.Add([]byte(minimal))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkLineIndex(t, data)
		cfg, err := parse("fuzz.toml", data) // without Parse's recover
		if err == nil {
			_ = cfg.Summary()
			roundTrip(t, cfg)
			return
		}
		if cfg != nil {
			t.Fatal("config returned together with an error")
		}
		var errs *Errors
		if !errors.As(err, &errs) || len(errs.Problems) == 0 {
			t.Fatalf("error is not a non-empty *Errors: %T %v", err, err)
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, p := range errs.Problems {
			if p.Line < 1 || p.Line > lines {
				t.Fatalf("problem outside the file's %d lines: %v", lines, p)
			}
		}
	})
}

// checkLineIndex asserts that the line index has an entry for every key the
// TOML parser found, so that no problem can end up without a line.
func checkLineIndex(t *testing.T, data []byte) {
	var v any
	md, err := toml.Decode(string(data), &v)
	if err != nil {
		return
	}
	known := make(map[string]bool)
	for p := range indexLines(data) {
		known[stripIndexes(p)] = true
	}
keys:
	for _, k := range md.Keys() {
		path := ""
		for _, seg := range k {
			if strings.ContainsAny(seg, "[]") {
				continue keys // stripIndexes cannot tell these from indexes
			}
			path = join(path, seg)
		}
		if !known[path] {
			t.Fatalf("line index has no entry for key %s", path)
		}
	}
}
