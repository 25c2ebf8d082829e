package vip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// capture is an AF_PACKET socket on the peer's veth0 seeing every frame that arrives.
type capture struct {
	t    testing.TB
	conn *packet.Conn
}

func (l *lab) capture() *capture {
	l.t.Helper()
	conn := inNS(l, l.peerNS, func() (*packet.Conn, error) {
		ifi, err := net.InterfaceByName("veth0")
		if err != nil {
			return nil, err
		}
		return packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
	})
	l.t.Cleanup(func() { conn.Close() })
	return &capture{t: l.t, conn: conn}
}

// frames returns the first n frames that keep returns true for, waiting at most 2 s.
func (c *capture) frames(n int, keep func([]byte) bool) [][]byte {
	c.t.Helper()
	var out [][]byte
	buf := make([]byte, 2048)
	if err := c.conn.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		c.t.Fatal(err)
	}
	for len(out) < n {
		k, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			c.t.Fatalf("captured %d of %d frames: %v", len(out), n, err)
		}
		if keep(buf[:k]) {
			out = append(out, slices.Clone(buf[:k]))
		}
	}
	return out
}

// nothingMore fails if another frame keep accepts arrives within 100 ms.
func (c *capture) nothingMore(keep func([]byte) bool) {
	c.t.Helper()
	buf := make([]byte, 2048)
	c.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	for {
		k, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if keep(buf[:k]) {
			c.t.Errorf("unexpected extra frame %x", buf[:k])
		}
	}
}

func (l *lab) announcer(ifname string, mac net.HardwareAddr) *Announcer {
	l.t.Helper()
	log, _ := testLogger(l.t)
	a := inNS(l, l.nodeNS, func() (*Announcer, error) { return NewAnnouncer(ifname, mac, log) })
	l.t.Cleanup(func() { a.Close() })
	return a
}

func isGARPFrom(mac net.HardwareAddr) func([]byte) bool {
	return func(b []byte) bool {
		g, ok := parseGARP(b)
		return ok && bytes.Equal(g.EthSrc, mac)
	}
}

func isNAFrom(mac net.HardwareAddr) func([]byte) bool {
	return func(b []byte) bool {
		n, ok := parseNA(b)
		return ok && bytes.Equal(n.EthSrc, mac)
	}
}

func TestBurstGARP(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	ref := readFrames(t, keepalivedGARPs)[0]
	vips := []netip.Addr{netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("192.0.2.101")}
	m := l.newManager(t.TempDir() + "/vips.json")
	if _, err := m.Add("veth0", pfx("192.0.2.100/24", "192.0.2.101/24"), ""); err != nil {
		t.Fatal(err)
	}
	for _, v := range vips {
		l.primeNeigh(v.String())
	}
	c := l.capture()
	a := l.announcer("veth0", nil)
	if !bytes.Equal(a.MAC(), nodeMAC) {
		t.Fatalf("MAC = %s, want the interface's %s", a.MAC(), nodeMAC)
	}

	sent, err := a.Burst(vips, 5)
	if err != nil || sent != 10 {
		t.Fatalf("Burst = %d, %v; want 10", sent, err)
	}
	got := c.frames(10, isGARPFrom(nodeMAC))
	for i, f := range got {
		// Round by round, like keepalived: .100 .101 .100 .101 …
		checkGARPShape(t, ref, f, nodeMAC, vips[i%2])
	}
	c.nothingMore(isGARPFrom(nodeMAC))
	for _, v := range vips {
		l.waitNeighMAC(v.String(), nodeMAC)
	}
}

func TestBurstNA(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	ref := readFrames(t, keepalivedNAs)[0]
	vips := []netip.Addr{netip.MustParseAddr("fe80::51"), netip.MustParseAddr("2001:db8::100")}
	m := l.newManager(t.TempDir() + "/vips.json")
	if _, err := m.Add("veth0", pfx("fe80::51/64", "2001:db8::100/64"), ""); err != nil {
		t.Fatal(err)
	}
	for _, v := range vips {
		l.primeNeigh(v.String())
	}
	c := l.capture()
	a := l.announcer("veth0", nil)

	sent, err := a.Burst(vips, 5)
	if err != nil || sent != 10 {
		t.Fatalf("Burst = %d, %v; want 10", sent, err)
	}
	for i, f := range c.frames(10, isNAFrom(nodeMAC)) {
		checkNAShape(t, ref, f, nodeMAC, vips[i%2])
	}
	c.nothingMore(isNAFrom(nodeMAC))
	for _, v := range vips {
		l.waitNeighMAC(v.String(), nodeMAC)
	}

	// SetRouter: the next burst carries R (and only that differs from keepalived's O).
	a.SetRouter(true)
	if sent, err := a.Burst(vips[1:], 1); err != nil || sent != 1 {
		t.Fatalf("Burst = %d, %v; want 1", sent, err)
	}
	f := c.frames(1, isNAFrom(nodeMAC))[0]
	if n, _ := parseNA(f); n.Flags != 0xa0 || !n.ChecksumOK {
		t.Errorf("after SetRouter(true): flags %#x (want R|O = 0xa0), checksum valid %v", n.Flags, n.ChecksumOK)
	}
}

// One bad VIP does not stop the others; both families in one burst.
func TestBurstKeepsGoing(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	c := l.capture()
	a := l.announcer("veth0", nil)
	vips := []netip.Addr{netip.MustParseAddr("224.0.0.18"), netip.MustParseAddr("192.0.2.100"), {}, netip.MustParseAddr("2001:db8::100")}
	sent, err := a.Burst(vips, 3)
	if sent != 6 || !errors.Is(err, ErrBadVIP) {
		t.Fatalf("Burst = %d, %v; want 6 sent and ErrBadVIP", sent, err)
	}
	n := len(c.frames(6, func(b []byte) bool { return isGARPFrom(nodeMAC)(b) || isNAFrom(nodeMAC)(b) }))
	if n != 6 {
		t.Errorf("captured %d", n)
	}
	if sent, err := a.Burst(vips[1:2], 0); sent != 0 || err != nil {
		t.Errorf("repeat 0: %d, %v", sent, err)
	}
}

// The announcer needs no IPv4 address on its interface (mdlayher/arp's Dial would), and
// announces the MAC it is given.
func TestBurstWithoutIPv4Address(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	l.run("-n", l.node, "addr", "flush", "dev", "veth0")
	l.primeNeigh("192.0.2.100")
	c := l.capture()
	vmac := VirtualMAC(7, false)
	a := l.announcer("veth0", vmac)
	if sent, err := a.Burst([]netip.Addr{netip.MustParseAddr("192.0.2.100")}, 1); sent != 1 || err != nil {
		t.Fatalf("Burst = %d, %v", sent, err)
	}
	checkGARPShape(t, readFrames(t, keepalivedGARPs)[0], c.frames(1, isGARPFrom(vmac))[0], vmac, netip.MustParseAddr("192.0.2.100"))
	l.waitNeighMAC("192.0.2.100", vmac)
}

// tap is a raw socket on the node's own veth0 that sees outgoing frames with the kernel's
// timestamp of the moment they were handed to the driver.
type tap struct{ fd int }

func (l *lab) tap() *tap {
	l.t.Helper()
	fd := inNS(l, l.nodeNS, func() (int, error) {
		ifi, err := net.InterfaceByName("veth0")
		if err != nil {
			return 0, err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return 0, err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			unix.Close(fd)
			return 0, err
		}
		tv := unix.NsecToTimeval(int64(2 * time.Second))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return 0, err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return 0, err
		}
		return fd, nil
	})
	l.t.Cleanup(func() { unix.Close(fd) })
	return &tap{fd: fd}
}

// next returns the next outgoing frame that keep accepts and its kernel timestamp.
func (tp *tap) next(t testing.TB, keep func([]byte) bool) time.Time {
	t.Helper()
	buf, oob := make([]byte, 2048), make([]byte, 256)
	for {
		n, oobn, _, from, err := unix.Recvmsg(tp.fd, buf, oob, 0)
		if err != nil {
			t.Fatalf("tap: %v", err)
		}
		if sll, ok := from.(*unix.SockaddrLinklayer); !ok || sll.Pkttype != unix.PACKET_OUTGOING || !keep(buf[:n]) {
			continue
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS {
				var ts unix.Timespec
				if len(m.Data) < binary.Size(ts) {
					t.Fatalf("short timestamp")
				}
				ts.Sec = int64(binary.NativeEndian.Uint64(m.Data[0:8]))
				ts.Nsec = int64(binary.NativeEndian.Uint64(m.Data[8:16]))
				return time.Unix(ts.Sec, ts.Nsec)
			}
		}
		t.Fatal("tap: frame without a timestamp")
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Time from the Burst call to the kernel handing the first GARP to the driver. Reported,
// not asserted: it depends on the machine. The figure is wall clock against the kernel's
// realtime stamp, both CLOCK_REALTIME.
func TestTimeToFirstFrame(t *testing.T) {
	l := newLab(t)
	tp := l.tap()
	a := l.announcer("veth0", nil)
	vips := []netip.Addr{netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("192.0.2.101")}
	keep := isGARPFrom(nodeMAC)
	var ttf, ret []time.Duration
	const runs = 50
	for range runs {
		start := time.Now()
		if _, err := a.Burst(vips, 5); err != nil {
			t.Fatal(err)
		}
		ret = append(ret, time.Since(start))
		ttf = append(ttf, tp.next(t, keep).Sub(start))
		for range 9 {
			tp.next(t, keep)
		}
	}
	q := func(d []time.Duration, p float64) time.Duration {
		s := slices.Clone(d)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[int(p*float64(len(s)-1))]
	}
	t.Logf("time to first GARP over %d bursts: min %v, median %v, p90 %v, max %v", runs, q(ttf, 0), q(ttf, .5), q(ttf, .9), q(ttf, 1))
	t.Logf("whole burst of 10 GARPs (2 VIPs × 5) returns after: median %v, max %v", q(ret, .5), q(ret, 1))
}

func BenchmarkBurst(b *testing.B) {
	l := newLab(b)
	a := l.announcer("veth0", nil)
	vips := []netip.Addr{netip.MustParseAddr("192.0.2.100")}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Burst(vips, 5); err != nil {
			b.Fatal(err)
		}
	}
}

// A link that went down and came back leaves ENETDOWN pending on the announcer's packet
// sockets; the first burst after it must still send every frame (found by the chaos soak:
// the first gratuitous ARP of a new master after a link flap was lost).
func TestBurstAfterLinkFlap(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	vips := []netip.Addr{netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("2001:db8::100")}
	a := l.announcer("veth0", nil)
	l.run("-n", l.node, "link", "set", "veth0", "down")
	l.run("-n", l.node, "link", "set", "veth0", "up")
	l.waitLinkUp(l.node, "veth0")
	l.waitLinkUp(l.peer, "veth0")
	c := l.capture()
	sent, err := a.Burst(vips, 3)
	if err != nil || sent != 6 {
		t.Fatalf("Burst after a link flap = %d, %v; want 6 sent", sent, err)
	}
	if n := len(c.frames(6, func(b []byte) bool { return isGARPFrom(nodeMAC)(b) || isNAFrom(nodeMAC)(b) })); n != 6 {
		t.Errorf("captured %d frames, want 6", n)
	}
}
