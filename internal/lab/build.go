package lab

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

type build struct {
	once sync.Once
	path string
	err  error
}

var builds sync.Map // package path -> *build

// binDir holds built binaries, shared by every test process on the machine. Files are
// named by content hash, so concurrent test binaries never overwrite each other's, and
// files unused for a day are pruned.
var binDir = filepath.Join(os.TempDir(), "hadirector-lab-bin")

const binMaxAge = 24 * time.Hour

// Build builds the main package pkg (relative to the module root, e.g. "./cmd/hadirector",
// or a full import path) with CGO_ENABLED=0 once per test binary and returns the path of the
// executable. It needs the go tool on PATH (go test provides it) but not root. On a cold Go
// build cache the first call also compiles the standard library for CGO_ENABLED=0 -trimpath
// (40 s was seen on a loaded 2-CPU VM); later calls, and later test runs, take a second.
func Build(tb TB, pkg string) string {
	tb.Helper()
	v, _ := builds.LoadOrStore(pkg, new(build))
	b := v.(*build)
	b.once.Do(func() { b.path, b.err = goBuild(pkg) })
	if b.err != nil {
		tb.Fatalf("lab: build %s: %v", pkg, b.err)
	}
	return b.path
}

func goBuild(pkg string) (string, error) {
	gomod, err := run("", "go", "env", "GOMOD")
	if err != nil {
		return "", err
	}
	gomod = strings.TrimSpace(gomod)
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module")
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", err
	}
	prune()
	tmpDir, err := os.MkdirTemp(binDir, "build-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, "out")

	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", tmp, pkg)
	cmd.Dir = filepath.Dir(gomod)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	sum, err := fileHash(tmp)
	if err != nil {
		return "", err
	}
	final := filepath.Join(binDir, path.Base(pkg)+"-"+sum[:16])
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	return final, nil
}

func fileHash(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// prune removes binaries (and abandoned partial builds) not written for binMaxAge.
func prune() {
	entries, err := os.ReadDir(binDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > binMaxAge {
			_ = os.RemoveAll(filepath.Join(binDir, e.Name()))
		}
	}
}
