package e2e

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/hadirector/hadirector/internal/lab"
	"github.com/hadirector/hadirector/vrrp"
)

// advertTap records when VRRP adverts of one VRID arrive at a host (the client), by source.
type advertTap struct {
	mu   sync.Mutex
	seen map[netip.Addr][]time.Time
	prio map[netip.Addr][]uint8
	conn *ipv4.RawConn
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
		tap.conn, err = ipv4.NewRawConn(c)
		if err != nil {
			return err
		}
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		return tap.conn.JoinGroup(ifi, &net.IPAddr{IP: vrrp.GroupV4.AsSlice()})
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(tap.done)
		buf := make([]byte, 1500)
		for {
			hdr, payload, _, err := tap.conn.ReadFrom(buf)
			if err != nil {
				return
			}
			now := time.Now()
			if len(payload) < 2 || payload[1] != vrid {
				continue
			}
			src, _ := netip.AddrFromSlice(hdr.Src.To4())
			tap.mu.Lock()
			tap.seen[src] = append(tap.seen[src], now)
			if len(payload) > 2 {
				tap.prio[src] = append(tap.prio[src], payload[2])
			}
			tap.mu.Unlock()
		}
	}()
	t.Cleanup(func() { tap.conn.Close(); <-tap.done })
	return tap
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
