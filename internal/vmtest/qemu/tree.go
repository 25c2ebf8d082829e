package qemu

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
)

// tree is the content of an initramfs archive before it is written: guest path -> entry.
// Parents are created implicitly (as 0755 directories), so callers add only what they mean.
type tree struct {
	entries map[string]*entry
}

type entryKind byte

const (
	kindDir     entryKind = 'd'
	kindFile    entryKind = 'f'
	kindSymlink entryKind = 'l'
	kindCharDev entryKind = 'c'
)

type entry struct {
	kind         entryKind
	perm         uint32
	src          string // host file to copy (kindFile), or ""
	data         []byte // inline content (kindFile with src == "")
	size         int64
	mtime        int64  // of src, for the cache key
	digest       string // of src's content, for the cache key when its mtime means nothing
	target       string
	major, minor uint32
}

func newTree() *tree { return &tree{entries: map[string]*entry{}} }

func clean(p string) string { return path.Clean("/" + p) }

func (t *tree) put(p string, e *entry) {
	p = clean(p)
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		if _, ok := t.entries[d]; !ok {
			t.entries[d] = &entry{kind: kindDir, perm: 0o755}
		}
	}
	t.entries[p] = e
}

// Dir adds a directory with the given permissions.
func (t *tree) Dir(p string, perm uint32) { t.put(p, &entry{kind: kindDir, perm: perm}) }

// Symlink adds p -> target.
func (t *tree) Symlink(p, target string) { t.put(p, &entry{kind: kindSymlink, target: target}) }

// CharDev adds a character device node.
func (t *tree) CharDev(p string, perm, major, minor uint32) {
	t.put(p, &entry{kind: kindCharDev, perm: perm, major: major, minor: minor})
}

// Data adds a file with inline content.
func (t *tree) Data(p string, perm uint32, data []byte) {
	t.put(p, &entry{kind: kindFile, perm: perm, data: data, size: int64(len(data))})
}

// HostFile adds the host's regular file src at guest path p.
func (t *tree) HostFile(p, src string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", src)
	}
	t.put(p, &entry{kind: kindFile, perm: uint32(fi.Mode().Perm()), src: src, size: fi.Size(), mtime: fi.ModTime().UnixNano()})
	return nil
}

// HostPath adds the host file p at the same path in the guest, with every symbolic link on
// the way: a directory symlink is followed (the guest mirrors the host's real layout, and
// MirrorTopLinks recreates /lib -> usr/lib and friends), a file symlink is copied as a
// symlink and its target added too. The result is the file's real path.
func (t *tree) HostPath(p string) (string, error) {
	for range 40 {
		dir, err := filepath.EvalSymlinks(filepath.Dir(p))
		if err != nil {
			return "", err
		}
		p = filepath.Join(dir, filepath.Base(p))
		fi, err := os.Lstat(p)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return p, t.HostFile(p, p)
		}
		target, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		t.Symlink(p, target)
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, target)
		}
		p = target
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", p)
}

// HostTree adds the host directory src (recursively, regular files, directories and
// symlinks as they are) at guest path dst. With byContent the cache key covers the files'
// content instead of their mtime (for freshly generated files).
func (t *tree) HostTree(dst, src string, byContent bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		g := path.Join(dst, filepath.ToSlash(rel))
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			t.Symlink(g, target)
		case d.IsDir():
			t.Dir(g, 0o755)
		case d.Type().IsRegular():
			if err := t.HostFile(g, p); err != nil {
				return err
			}
			if byContent {
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				sum := sha256.Sum256(data)
				e := t.entries[clean(g)]
				e.digest, e.mtime = hex.EncodeToString(sum[:]), 0
			}
		}
		return nil
	})
}

// MirrorTopLinks recreates the host's top-level directory symlinks (merged /usr: /bin ->
// usr/bin, /lib -> usr/lib, …) so that paths the dynamic loader and tools use resolve the same
// way in the guest.
func (t *tree) MirrorTopLinks() {
	for _, d := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		fi, err := os.Lstat(d)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if target, err := os.Readlink(d); err == nil {
			t.Symlink(d, target)
		}
	}
}

// Has reports whether p exists in the tree (without following symlinks).
func (t *tree) Has(p string) bool {
	_, ok := t.entries[clean(p)]
	return ok
}

func (t *tree) paths() []string {
	ps := make([]string, 0, len(t.entries))
	for p := range t.entries {
		ps = append(ps, p)
	}
	// Plain byte order puts every directory before its content: a parent is a prefix.
	sort.Strings(ps)
	return ps
}

// Key is a digest of everything that decides the archive's bytes: paths, kinds, modes, link
// targets, inline data, and the size and mtime of every host file.
func (t *tree) Key() string {
	h := sha256.New()
	for _, p := range t.paths() {
		e := t.entries[p]
		src := e.src
		if e.digest != "" {
			src = "" // a scratch copy: its name means nothing
		}
		fmt.Fprintf(h, "%s\x00%c\x00%o\x00%s\x00%d\x00%d\x00%d:%d\x00%s\x00%s\x00", p, e.kind, e.perm, e.target, e.size, e.mtime, e.major, e.minor, src, e.digest)
		h.Write(e.data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// WriteCPIO writes the tree as one newc archive.
func (t *tree) WriteCPIO(w io.Writer, inoBase uint32) error {
	c := newCPIOWriter(w, inoBase)
	for _, p := range t.paths() {
		e := t.entries[p]
		switch e.kind {
		case kindDir:
			c.Dir(p, e.perm)
		case kindSymlink:
			c.Symlink(p, e.target)
		case kindCharDev:
			c.CharDev(p, e.perm, e.major, e.minor)
		case kindFile:
			if e.src == "" {
				c.File(p, e.perm, e.size, bytes.NewReader(e.data))
				continue
			}
			f, err := os.Open(e.src)
			if err != nil {
				return err
			}
			c.File(p, e.perm, e.size, f)
			f.Close()
		}
		if c.err != nil {
			return c.err
		}
	}
	return c.Close()
}
