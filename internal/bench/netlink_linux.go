package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hadirector/hadirector/internal/lab"
	"golang.org/x/sys/unix"
)

// NetlinkEvent is one address or neighbour notification from a host's kernel.
type NetlinkEvent struct {
	Time   time.Time // when the reader woke up with it
	Type   uint16    // unix.RTM_NEWADDR, RTM_DELADDR, RTM_NEWNEIGH, RTM_DELNEIGH
	Index  int       // interface index
	Addr   netip.Addr
	LLAddr net.HardwareAddr // neighbours
	State  uint16           // neighbours: NUD_*
}

// Watcher collects a host's RTM_NEWADDR/DELADDR (IPv4 and IPv6) and RTM_NEWNEIGH/DELNEIGH
// notifications. Netlink carries no time stamps, so each event is stamped when the reader
// thread wakes with it; with rt that thread runs SCHED_FIFO, which keeps the stamp within
// microseconds of the kernel's notification on an idle core.
type Watcher struct {
	fd   int
	stop atomic.Bool
	done chan struct{}

	mu     sync.Mutex
	events []NetlinkEvent
	err    error
}

// Watch starts watching h until tb ends (or Close).
func Watch(tb lab.TB, h *lab.Host, rt bool) *Watcher {
	tb.Helper()
	w := &Watcher{fd: -1, done: make(chan struct{})}
	err := h.Do(func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		w.fd = fd
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
		tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		groups := uint32(unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR | unix.RTMGRP_NEIGH)
		return unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups})
	})
	if err != nil {
		if w.fd >= 0 {
			_ = unix.Close(w.fd)
		}
		tb.Fatalf("bench: netlink watcher on %s: %v", h.Name, err)
	}
	go w.loop(rt)
	tb.Cleanup(w.Close)
	return w
}

func (w *Watcher) loop(rt bool) {
	defer close(w.done)
	runtime.LockOSThread() // never unlocked: see fifoReader.loop
	if rt {
		_ = setFIFOScheduling(watcherPriority)
	}
	buf := make([]byte, 1<<16)
	for !w.stop.Load() {
		n, _, err := unix.Recvfrom(w.fd, buf, 0)
		now := time.Now()
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			if errors.Is(err, unix.ENOBUFS) {
				continue // overrun: events were lost, but keep going
			}
			return
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			if ev, ok := parseNetlink(m); ok {
				ev.Time = now
				w.mu.Lock()
				w.events = append(w.events, ev)
				w.mu.Unlock()
			}
		}
	}
}

func parseNetlink(m syscall.NetlinkMessage) (NetlinkEvent, bool) {
	ev := NetlinkEvent{Type: m.Header.Type}
	var attrs []byte
	switch m.Header.Type {
	case unix.RTM_NEWADDR, unix.RTM_DELADDR:
		if len(m.Data) < unix.SizeofIfAddrmsg {
			return ev, false
		}
		ev.Index = int(binary.NativeEndian.Uint32(m.Data[4:8]))
		attrs = m.Data[unix.SizeofIfAddrmsg:]
	case unix.RTM_NEWNEIGH, unix.RTM_DELNEIGH:
		if len(m.Data) < unix.SizeofNdMsg {
			return ev, false
		}
		ev.Index = int(int32(binary.NativeEndian.Uint32(m.Data[4:8])))
		ev.State = binary.NativeEndian.Uint16(m.Data[8:10])
		attrs = m.Data[unix.SizeofNdMsg:]
	default:
		return ev, false
	}
	for len(attrs) >= 4 {
		l := int(binary.NativeEndian.Uint16(attrs[0:2]))
		typ := binary.NativeEndian.Uint16(attrs[2:4])
		if l < 4 || l > len(attrs) {
			break
		}
		val := attrs[4:l]
		switch {
		case (m.Header.Type == unix.RTM_NEWADDR || m.Header.Type == unix.RTM_DELADDR) && (typ == unix.IFA_LOCAL || typ == unix.IFA_ADDRESS && !ev.Addr.IsValid()):
			if a, ok := netip.AddrFromSlice(val); ok {
				ev.Addr = a.Unmap()
			}
		case (m.Header.Type == unix.RTM_NEWNEIGH || m.Header.Type == unix.RTM_DELNEIGH) && typ == unix.NDA_DST:
			if a, ok := netip.AddrFromSlice(val); ok {
				ev.Addr = a.Unmap()
			}
		case (m.Header.Type == unix.RTM_NEWNEIGH || m.Header.Type == unix.RTM_DELNEIGH) && typ == unix.NDA_LLADDR:
			ev.LLAddr = append(net.HardwareAddr(nil), val...)
		}
		attrs = attrs[min((l+3)&^3, len(attrs)):]
	}
	return ev, ev.Addr.IsValid()
}

// Events returns the events received at or after t.
func (w *Watcher) Events(since time.Time) []NetlinkEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []NetlinkEvent
	for _, e := range w.events {
		if !e.Time.Before(since) {
			out = append(out, e)
		}
	}
	return out
}

// AddrAdded is the first RTM_NEWADDR of a at or after t.
func (w *Watcher) AddrAdded(a netip.Addr, since time.Time) (time.Time, bool) {
	for _, e := range w.Events(since) {
		if e.Type == unix.RTM_NEWADDR && e.Addr == a {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

// NeighborIs is the first RTM_NEWNEIGH at or after t that shows a's link-layer address as
// mac.
func (w *Watcher) NeighborIs(a netip.Addr, mac net.HardwareAddr, since time.Time) (time.Time, bool) {
	for _, e := range w.Events(since) {
		if e.Type == unix.RTM_NEWNEIGH && e.Addr == a && e.LLAddr.String() == mac.String() {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

// Err is the last receive error (ENOBUFS means notifications were lost).
func (w *Watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return fmt.Errorf("netlink: %w", w.err)
	}
	return nil
}

// Close stops the watcher.
func (w *Watcher) Close() {
	if w.stop.Swap(true) {
		return
	}
	<-w.done
	_ = unix.Close(w.fd)
}
