package e2e

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/hadirector/hadirector/internal/lab"
	"github.com/hadirector/hadirector/vrrp"
)

// advertTap records when VRRP adverts of one VRID arrive at a host (the client), by source.
// The times are the kernel's receive timestamps (SO_TIMESTAMPNS), not when this process
// read the packet: on a busy machine the test's own reader lags, the kernel's clock does not.
type advertTap struct {
	mu   sync.Mutex
	seen map[netip.Addr][]time.Time
	prio map[netip.Addr][]uint8
	conn *net.IPConn
	done chan struct{}
}

func tapAdverts(t *testing.T, h *lab.Host, vrid uint8) *advertTap {
	t.Helper()
	tap := &advertTap{seen: map[netip.Addr][]time.Time{}, prio: map[netip.Addr][]uint8{}, done: make(chan struct{})}
	err := h.Do(func() error {
		c, err := net.ListenPacket("ip4:112", "0.0.0.0")
		if err != nil {
			return err
		}
		tap.conn = c.(*net.IPConn)
		rc, err := tap.conn.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
		}); err != nil {
			return err
		}
		if serr != nil {
			return serr
		}
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		return ipv4.NewPacketConn(c).JoinGroup(ifi, &net.IPAddr{IP: vrrp.GroupV4.AsSlice()})
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(tap.done)
		buf, oob := make([]byte, 1500), make([]byte, 128)
		for {
			// An IPv4 raw socket's ReadMsgIP keeps the IP header.
			n, oobn, _, from, err := tap.conn.ReadMsgIP(buf, oob)
			if err != nil {
				return
			}
			at, ok := rxTime(oob[:oobn])
			if !ok || n < 20 || n < int(buf[0]&0x0f)*4 {
				t.Errorf("advert tap: no kernel timestamp or a short packet (%d bytes)", n)
				return
			}
			payload := buf[int(buf[0]&0x0f)*4 : n]
			if len(payload) < 2 || payload[1] != vrid {
				continue
			}
			src, _ := netip.AddrFromSlice(from.IP.To4())
			tap.mu.Lock()
			tap.seen[src] = append(tap.seen[src], at)
			if len(payload) > 2 {
				tap.prio[src] = append(tap.prio[src], payload[2])
			}
			tap.mu.Unlock()
		}
	}()
	t.Cleanup(func() { tap.conn.Close(); <-tap.done })
	return tap
}

// rxTime is the SCM_TIMESTAMPNS of a control message.
func rxTime(oob []byte) (time.Time, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			// struct timespec on a 64-bit host: seconds, then nanoseconds.
			sec, nsec := binary.NativeEndian.Uint64(m.Data[0:]), binary.NativeEndian.Uint64(m.Data[8:])
			return time.Unix(int64(sec), int64(nsec)), true
		}
	}
	return time.Time{}, false
}

// gaps returns the intervals between adverts from src since t.
func (tap *advertTap) gaps(src netip.Addr, since time.Time) []time.Duration {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	var out []time.Duration
	var last time.Time
	for _, at := range tap.seen[src] {
		if at.Before(since) {
			continue
		}
		if !last.IsZero() {
			out = append(out, at.Sub(last))
		}
		last = at
	}
	return out
}

// TestAdvertTimingWhileHookHangs measures the gaps between the master's adverts on the
// wire while its notify_master hook hangs: the schedule does not move.
func TestAdvertTimingWhileHookHangs(t *testing.T) {
	dir := hookDir(t)
	script := dir + "/hang.sh"
	writeScript(t, script, "sleep 60\n")
	p := newPair(t, 150, 100, "notify_master = \""+script+"\"", "")
	tap := tapAdverts(t, p.client, 51)
	p.elect()
	since := time.Now()
	time.Sleep(3 * time.Second) // the hook is hanging all along
	g := tap.gaps(netip.MustParseAddr("192.0.2.1"), since)
	if len(g) < 25 {
		t.Fatalf("only %d adverts in 3 s at %v", len(g)+1, interval)
	}
	var sum, worst time.Duration
	for _, d := range g {
		sum += d
		worst = max(worst, d)
	}
	mean := sum / time.Duration(len(g))
	t.Logf("%d gaps: mean %v, worst %v (interval %v)", len(g), mean, worst, interval)
	if mean < interval-2*time.Millisecond || mean > interval+2*time.Millisecond {
		t.Errorf("mean advert gap %v, want %v (the schedule does not drift)", mean, interval)
	}
	if worst > interval+50*time.Millisecond {
		t.Errorf("worst advert gap %v while the hook hangs", worst)
	}
}
