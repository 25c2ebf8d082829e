package qemu

import (
	"fmt"
	"io"
	"strings"
)

// cpioWriter writes the "newc" (SVR4, no CRC) cpio format, the one the kernel unpacks into
// the initramfs. It writes device nodes and ownership without needing privileges or the cpio
// tool, and every header carries fixed metadata (mtime 0, uid/gid 0), so equal inputs give
// equal archives.
//
// The kernel accepts several archives back to back; for that each must start 4-byte aligned
// (Close pads to 512 bytes, as cpio(1) does), and an inode number must not repeat across
// them: archives meant to be concatenated use distinct inoBase values.
type cpioWriter struct {
	w   io.Writer
	n   int64
	ino uint32
	err error
}

const (
	modeDir  = 0o040000
	modeFile = 0o100000
	modeLink = 0o120000
	modeChr  = 0o020000
)

func newCPIOWriter(w io.Writer, inoBase uint32) *cpioWriter {
	return &cpioWriter{w: w, ino: inoBase}
}

func (c *cpioWriter) write(p []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
}

func (c *cpioWriter) pad(align int64) {
	if r := c.n % align; r != 0 {
		c.write(make([]byte, align-r))
	}
}

// header writes one entry header and its name; name has no leading slash.
func (c *cpioWriter) header(name string, mode uint32, size int64, rdevMajor, rdevMinor uint32) {
	if c.err == nil && size > 0xffffffff {
		c.err = fmt.Errorf("cpio: %s: %d bytes is too large for newc", name, size)
	}
	c.ino++
	nlink := uint32(1)
	if mode&0o170000 == modeDir {
		nlink = 2
	}
	h := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, uint32(size), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	c.write([]byte(h))
	c.write([]byte(name))
	c.write([]byte{0})
	c.pad(4)
}

func cpioName(p string) string {
	return strings.TrimPrefix(p, "/")
}

// Dir adds a directory.
func (c *cpioWriter) Dir(p string, perm uint32) {
	c.header(cpioName(p), modeDir|perm, 0, 0, 0)
}

// Symlink adds a symbolic link p -> target.
func (c *cpioWriter) Symlink(p, target string) {
	c.header(cpioName(p), modeLink|0o777, int64(len(target)), 0, 0)
	c.write([]byte(target))
	c.pad(4)
}

// CharDev adds a character device node.
func (c *cpioWriter) CharDev(p string, perm, major, minor uint32) {
	c.header(cpioName(p), modeChr|perm, 0, major, minor)
}

// File adds a regular file of exactly size bytes read from r.
func (c *cpioWriter) File(p string, perm uint32, size int64, r io.Reader) {
	c.header(cpioName(p), modeFile|perm, size, 0, 0)
	if c.err != nil {
		return
	}
	n, err := io.CopyN(c.w, r, size)
	c.n += n
	if err != nil {
		c.err = fmt.Errorf("cpio: %s: %w", p, err)
		return
	}
	c.pad(4)
}

// Close writes the trailer and pads the archive to a multiple of 512 bytes. It does not
// close the underlying writer.
func (c *cpioWriter) Close() error {
	c.header("TRAILER!!!", 0, 0, 0, 0)
	c.pad(512)
	return c.err
}
