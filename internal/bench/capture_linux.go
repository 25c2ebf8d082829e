package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hadirector/hadirector/internal/lab"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Frame is one captured Ethernet frame and the kernel's time stamp of its arrival.
type Frame struct {
	Time time.Time
	Data []byte // the whole frame from the destination MAC
}

// Capture records the VRRP, ARP and neighbour-advertisement frames one interface of a lab
// host receives, with SO_TIMESTAMPNS time stamps (CLOCK_REALTIME, as time.Now), from a raw
// AF_PACKET socket made inside the host's namespace. Frames the host sends itself are left
// out. It is tcpdump without tcpdump, and the time stamps do not depend on when the Go
// runtime schedules the reader.
type Capture struct {
	fd      int
	ifindex int
	stop    atomic.Bool
	done    chan struct{}

	mu     sync.Mutex
	frames []Frame
	err    error
}

// captureFilter keeps ARP, IPv4 protocol 112, IPv6 next header 112 and ICMPv6 type 136
// (neighbour advertisement; no extension headers), so a busy link costs the reader nothing.
var captureFilter = []bpf.Instruction{
	/* 0 */ bpf.LoadAbsolute{Off: 12, Size: 2},
	/* 1 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x0806, SkipTrue: 9},
	/* 2 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x0800, SkipFalse: 2},
	/* 3 */ bpf.LoadAbsolute{Off: 23, Size: 1},
	/* 4 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 112, SkipTrue: 6, SkipFalse: 7},
	/* 5 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x86dd, SkipFalse: 6},
	/* 6 */ bpf.LoadAbsolute{Off: 20, Size: 1},
	/* 7 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 112, SkipTrue: 3},
	/* 8 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 58, SkipFalse: 3},
	/* 9 */ bpf.LoadAbsolute{Off: 54, Size: 1},
	/* 10 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 136, SkipFalse: 1},
	/* 11 */ bpf.RetConstant{Val: 0xffff},
	/* 12 */ bpf.RetConstant{Val: 0},
}

// StartCapture starts capturing on dev of h until tb ends (or Close).
func StartCapture(tb lab.TB, h *lab.Host, dev string) *Capture {
	tb.Helper()
	c, err := startCapture(h, dev)
	if err != nil {
		tb.Fatalf("bench: capture on %s of %s: %v", dev, h.Name, err)
	}
	tb.Cleanup(c.Close)
	return c
}

func startCapture(h *lab.Host, dev string) (*Capture, error) {
	raw, err := bpf.Assemble(captureFilter)
	if err != nil {
		return nil, err
	}
	prog := make([]unix.SockFilter, len(raw))
	for i, ins := range raw {
		prog[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	c := &Capture{fd: -1, done: make(chan struct{})}
	err = h.Do(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		c.ifindex = ifi.Index
		proto := int(htons(unix.ETH_P_ALL))
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		c.fd = fd
		// The filter goes on before bind, so no unwanted frame is ever queued.
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
			&unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}); err != nil {
			return fmt.Errorf("SO_ATTACH_FILTER: %w", err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			return fmt.Errorf("SO_TIMESTAMPNS: %w", err)
		}
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
		// The reader polls its stop flag this often.
		tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return fmt.Errorf("SO_RCVTIMEO: %w", err)
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	if err != nil {
		if c.fd >= 0 {
			_ = unix.Close(c.fd)
		}
		return nil, err
	}
	go c.loop()
	return c, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (c *Capture) loop() {
	defer close(c.done)
	runtime.LockOSThread() // a blocking recvmsg; keep it off the scheduler's threads
	defer runtime.UnlockOSThread()
	buf := make([]byte, 65536)
	oob := make([]byte, 256)
	for !c.stop.Load() {
		n, oobn, _, from, err := unix.Recvmsg(c.fd, buf, oob, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		if sa, ok := from.(*unix.SockaddrLinklayer); ok && (sa.Pkttype == unix.PACKET_OUTGOING || sa.Ifindex != c.ifindex) {
			continue
		}
		f := Frame{Time: stamp(oob[:oobn]), Data: append([]byte(nil), buf[:n]...)}
		c.mu.Lock()
		c.frames = append(c.frames, f)
		c.mu.Unlock()
	}
}

// stamp extracts SCM_TIMESTAMPNS; without one (never seen) the frame gets the read time.
func stamp(oob []byte) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err == nil {
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
				sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
				nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
				return time.Unix(sec, nsec)
			}
		}
	}
	return time.Now()
}

// Len is the number of frames captured so far.
func (c *Capture) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.frames)
}

// Frames returns the frames captured from index from on (a copy of the list; the frames
// themselves are never modified).
func (c *Capture) Frames(from int) []Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	if from >= len(c.frames) {
		return nil
	}
	return append([]Frame(nil), c.frames[from:]...)
}

// Err is the error that stopped the capture, if any.
func (c *Capture) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close stops the capture; the frames stay readable.
func (c *Capture) Close() {
	if c.stop.Swap(true) {
		return
	}
	<-c.done
	_ = unix.Close(c.fd)
}
