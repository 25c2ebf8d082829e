package kaimport

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hadirector/hadirector/config"
)

var update = flag.Bool("update", false, "rewrite testdata/*.toml from the importer's output")

// goldenOptions are the options of the golden tests: config id "high", and a
// PATH search that finds every program in /usr/bin except missing*.
func goldenOptions() Options {
	return Options{ConfigID: "high", LookPath: fakeLookPath}
}

// TestGolden imports every testdata/*.conf and compares the output with
// testdata/*.toml (go test -run TestGolden -update rewrites them). The
// untranslated keywords are part of the output, at its end.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.conf: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".conf"), func(t *testing.T) {
			res, err := ImportFile(file, goldenOptions())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := config.Parse(file, res.TOML); err != nil {
				t.Fatalf("output does not parse: %v", err)
			}
			golden := strings.TrimSuffix(file, ".conf") + ".toml"
			if *update {
				if err := os.WriteFile(golden, res.TOML, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update)", err)
			}
			if !bytes.Equal(res.TOML, want) {
				t.Errorf("output differs from %s (go test -run TestGolden -update, then review the diff):\n%s", golden, res.TOML)
			}
		})
	}
}
