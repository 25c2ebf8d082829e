package qemu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Tag is the build tag of test files that run only inside the VM.
const Tag = "vmtest"

// TestPackage is a Go package with tests to run in the VM.
type TestPackage struct {
	ImportPath string
	Dir        string
	Name       string // program name: the path inside the module, slashes as dashes
}

// ListTestPackages expands go package patterns (with the given build tags) and returns the
// packages that have test files; the others are reported in skipped.
func ListTestPackages(ctx context.Context, patterns []string, tags string) (pkgs []TestPackage, skipped []string, err error) {
	args := []string{"list", "-e", "-tags", tags, "-json=ImportPath,Dir,TestGoFiles,XTestGoFiles,Module,Error"}
	cmd := exec.CommandContext(ctx, "go", append(args, patterns...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("go list: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath   string
			Dir          string
			TestGoFiles  []string
			XTestGoFiles []string
			Module       *struct{ Path string }
			Error        *struct{ Err string }
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return nil, nil, fmt.Errorf("go list: %w", err)
		}
		if p.Error != nil {
			return nil, nil, fmt.Errorf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		if len(p.TestGoFiles)+len(p.XTestGoFiles) == 0 {
			skipped = append(skipped, p.ImportPath)
			continue
		}
		name := p.ImportPath
		if p.Module != nil {
			name = strings.TrimPrefix(strings.TrimPrefix(name, p.Module.Path), "/")
		}
		if name == "" {
			name = "root"
		}
		pkgs = append(pkgs, TestPackage{ImportPath: p.ImportPath, Dir: p.Dir, Name: strings.ReplaceAll(name, "/", "-")})
	}
	return pkgs, skipped, nil
}

// goBuildEnv is the environment for binaries that run in the VM: static, no cgo (and so no
// race detector).
func goBuildEnv() []string {
	return append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
}

// BuildTests compiles each package's test binary (go test -c -tags tags) into dir, two at
// a time, and returns the paths in the order of pkgs. Symbols and DWARF are stripped (-s -w)
// to keep the initramfs small; panics still name functions and lines.
func BuildTests(ctx context.Context, pkgs []TestPackage, tags, dir string) ([]string, error) {
	paths := make([]string, len(pkgs))
	errs := make([]error, len(pkgs))
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for i, p := range pkgs {
		paths[i] = filepath.Join(dir, p.Name+".test")
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.CommandContext(ctx, "go", "test", "-c", "-tags", tags, "-ldflags=-s -w", "-o", paths[i], p.ImportPath)
			cmd.Env = goBuildEnv()
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go test -c %s: %w\n%s", p.ImportPath, err, bytes.TrimSpace(out))
			}
		}()
	}
	wg.Wait()
	return paths, errors.Join(errs...)
}

// BuildMain compiles a main package (e.g. ./cmd/hadirector) for the VM into out.
func BuildMain(ctx context.Context, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = goBuildEnv()
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, bytes.TrimSpace(b))
	}
	return nil
}
