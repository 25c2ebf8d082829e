package kaimport

import (
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
)

// memFS is an in-memory file system for includes.
type memFS map[string]string

func (m memFS) readFile(name string) ([]byte, error) {
	if s, ok := m[path.Clean(name)]; ok {
		return []byte(s), nil
	}
	return nil, fmt.Errorf("open %s: %w", name, os.ErrNotExist)
}

func (m memFS) glob(pattern string) ([]string, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, err
	}
	var out []string
	for name := range m {
		if ok, _ := path.Match(path.Clean(pattern), name); ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// fakeLookPath finds every program in /usr/bin except those named missing*.
func fakeLookPath(name string) (string, error) {
	if strings.HasPrefix(name, "missing") {
		return "", os.ErrNotExist
	}
	return "/usr/bin/" + name, nil
}

func memOptions(fs memFS) Options {
	return Options{ConfigID: "high", LookPath: fakeLookPath, ReadFile: fs.readFile, Glob: fs.glob}
}
