package kaimport

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hadirector/hadirector/config"
)

// fuzzFS gives the fuzzer files to include: a fragment, and one that includes
// itself.
var fuzzFS = memFS{
	"fuzz/conf.d/vs.conf": "virtual_server 192.0.2.9 80 {\n lb_kind DR\n real_server 198.51.100.9 80 {\n TCP_CHECK {\n connect_timeout 2\n }\n }\n}\n",
	"fuzz/conf.d/vi.conf": "vrrp_instance VI_9 {\n interface eth0\n virtual_router_id 9\n virtual_ipaddress {\n 192.0.2.99\n }\n}\n",
	"fuzz/loop.conf":      "include loop.conf\n",
}

// FuzzImport: no input makes the importer panic, and whenever it succeeds its
// output passes config.Parse and what `hadirector check` asks beyond it (it
// must never produce an invalid file: what it cannot make valid it leaves out
// and reports, and when nothing is left it says so with an EmptyError).
func FuzzImport(f *testing.F) {
	for _, pattern := range []string{"testdata/*.conf", "testdata/samples/*"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := importData("fuzz/keepalived.conf", data, memOptions(fuzzFS))
		var ee *EmptyError
		if errors.As(err, &ee) {
			// Nothing to run: the translation must still parse, and be empty.
			res, err = ee.Result, nil
			if res.Config.Mode() != config.ModeEmpty {
				t.Fatalf("EmptyError for a %s configuration\n%s", res.Config.Mode(), res.TOML)
			}
		}
		if err != nil {
			var se *SyntaxError
			if errors.Is(err, ErrInvalidOutput) || !errors.As(err, &se) {
				t.Fatalf("%v\ninput:\n%s", err, data)
			}
			return
		}
		cfg, err := config.Parse("fuzz.toml", res.TOML)
		if err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, res.TOML)
		}
		if ee == nil {
			// What `hadirector check` asks beyond Parse.
			if err := cfg.Runnable("fuzz.toml"); err != nil {
				t.Fatalf("import succeeded but check refuses the output: %v\n%s", err, res.TOML)
			}
		}
	})
}
