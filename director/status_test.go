package director

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestListenPrivate: the status socket appears at its path already at mode 0600 — moved
// into place, never created there — even under umask 0, and replaces a stale file.
func TestListenPrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.sock")
	if err := os.WriteFile(path, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		t.Fatal(err)
	}
	old := syscall.Umask(0)
	l, err := listenPrivate(path)
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v (%v); want a socket with mode 0600", path, fi.Mode(), err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d entries in the directory, want the socket alone", len(ents))
	}
	// What happened to the name, in order.
	buf := make([]byte, 4096)
	n, err := unix.Read(fd, buf)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for off := 0; off+unix.SizeofInotifyEvent <= n; {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
		name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
		if name == "s.sock" {
			if ev.Mask&unix.IN_CREATE != 0 {
				events = append(events, "create")
			}
			if ev.Mask&unix.IN_MOVED_TO != 0 {
				events = append(events, "moved")
			}
		}
		off += unix.SizeofInotifyEvent + int(ev.Len)
	}
	if len(events) != 1 || events[0] != "moved" {
		t.Errorf("events on s.sock: %v; want it moved into place only", events)
	}

	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	c.Close()
}
