package qemu

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrUnavailable marks failures to provide the VM itself (no kernel could be fetched, qemu or
// a host tool is missing), as opposed to tests that ran and failed. Callers treat it like a
// missing facility: skip, unless HADIRECTOR_REQUIRE_PRIV=1.
var ErrUnavailable = errors.New("the IPVS test VM is not available on this machine")

// Kernel is an unpacked Debian cloud kernel in the cache.
type Kernel struct {
	Version string // e.g. 6.1.0-56-cloud-amd64
	Dir     string // <cache>/hadirector/vm/<version>
	Vmlinuz string
	Modules string // lib/modules/<version> of the unpacked package
}

// FetchScript is the path of scripts/vm/fetch-kernel.sh relative to the module root.
const FetchScript = "scripts/vm/fetch-kernel.sh"

// ModuleRoot finds the root of the hadirector module from the working directory upwards.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/hadirector/hadirector\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("vm: not inside the hadirector module (no go.mod above the working directory)")
		}
		dir = parent
	}
}

// FetchKernel runs the fetch script (which installs missing host packages and downloads and
// unpacks the current linux-image-*-cloud-amd64 into the cache unless it is there) and
// returns what it found. The script's diagnostics go to stderr.
func FetchKernel(ctx context.Context, script string, stderr io.Writer) (Kernel, error) {
	if script == "" {
		root, err := ModuleRoot()
		if err != nil {
			return Kernel{}, err
		}
		script = filepath.Join(root, FetchScript)
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", script)
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		return Kernel{}, fmt.Errorf("vm: %s: %w (%w)", script, err, ErrUnavailable)
	}
	return parseFetchOutput(out)
}

func parseFetchOutput(out []byte) (Kernel, error) {
	var k Kernel
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch key {
		case "version":
			k.Version = val
		case "dir":
			k.Dir = val
		case "vmlinuz":
			k.Vmlinuz = val
		case "modules":
			k.Modules = val
		}
	}
	if k.Version == "" || k.Dir == "" || k.Vmlinuz == "" || k.Modules == "" {
		return Kernel{}, fmt.Errorf("vm: fetch script printed no complete kernel description: %q (%w)", out, ErrUnavailable)
	}
	return k, nil
}
