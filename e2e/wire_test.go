package e2e

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hadirector/hadirector/internal/bench"
	"github.com/hadirector/hadirector/internal/lab"
)

// TestWireMatchesKeepalived captures what hadirector puts on the wire for the
// configurations of the keepalived reference captures (../vrrp/testdata/keepalived, see
// NOTES.md there) and compares them frame by frame and field by field: Ethernet addresses,
// IP version, header length (no options), TOS / traffic class, TTL / hop limit, DF and
// fragment fields, IP ID sequence, protocol 112, source and destination, the checksum
// method (recomputed), and the whole VRRP message, which must be byte-identical because
// host MAC, addresses, VRID, priority and VIPs are the same; then the gratuitous ARPs and
// unsolicited neighbour advertisements byte for byte, their count per burst, their order
// and the burst timing.
//
// Our frames are checked in as testdata/hadirector/{adverts,garps,nas}.txt in the format of
// the keepalived files (same number of lines per capture), so
//
//	diff vrrp/testdata/keepalived/adverts.txt e2e/testdata/hadirector/adverts.txt
//
// shows any difference at a glance. The test fails if this run's frames differ from the
// checked-in ones; `go test ./e2e -run TestWireMatchesKeepalived -args -update-wire`
// rewrites them (and the NAME.pcap files).
func TestWireMatchesKeepalived(t *testing.T) {
	bin := lab.Build(t, "./cmd/hadirector")
	prefixes := func(s ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, x := range s {
			out = append(out, netip.MustParsePrefix(x))
		}
		return out
	}
	node, peer := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	cases := []*wireCase{
		{name: "v2-mcast", inst: bench.Instance{Version: 2, VRID: 51, Interval: time.Second, VIPs: prefixes("192.0.2.100/24")}},
		{name: "v2-auth", inst: bench.Instance{Version: 2, VRID: 52, Interval: time.Second, VIPs: prefixes("192.0.2.100/24"), AuthPass: "secret12"}},
		{name: "v3-mcast-v4", inst: bench.Instance{Version: 3, VRID: 53, Interval: 100 * time.Millisecond, VIPs: prefixes("192.0.2.100/24", "192.0.2.101/24")}},
		{name: "v3-unicast-v4", inst: bench.Instance{Version: 3, VRID: 54, Interval: time.Second, VIPs: prefixes("192.0.2.100/24"),
			UnicastSrc: node, UnicastPeers: []netip.Addr{peer}}},
		{name: "v3-unicast-old-checksum", inst: bench.Instance{Version: 3, VRID: 55, Interval: time.Second, VIPs: prefixes("192.0.2.100/24"),
			UnicastSrc: node, UnicastPeers: []netip.Addr{peer}, OldUnicastChecksum: "send"}},
		{name: "v3-mcast-v6", inst: bench.Instance{Version: 3, VRID: 56, Interval: time.Second, VIPs: prefixes("fe80::51/64", "2001:db8::100/64")}},
		{name: "v2-shutdown-prio0", inst: bench.Instance{Version: 2, VRID: 57, Interval: time.Second, VIPs: prefixes("192.0.2.100/24")}, prio0: true},
	}

	// Set every capture up first, so that they all run at once.
	for _, c := range cases {
		c.ka = readKeepalivedCapture(t, c.name)
		c.inst.Priority = 150
		cl := lab.New(t)
		h := cl.Host("node", "192.0.2.1/24") // first host: MAC 02:00:00:00:00:01, as in the captures
		p := cl.Host("peer", "192.0.2.2/24")
		// As capture.sh: static neighbours, so no ARP resolution mixes in.
		h.MustRun(t, "ip", "neigh", "replace", "192.0.2.2", "lladdr", p.MAC().String(), "dev", "eth0", "nud", "permanent")
		p.MustRun(t, "ip", "neigh", "replace", "192.0.2.1", "lladdr", h.MAC().String(), "dev", "eth0", "nud", "permanent")
		c.mac = h.MAC()
		c.cap = bench.StartCapture(t, p, "eth0")
		c.d = bench.NewDaemon(t, bench.Hadirector, bin, h, c.inst)
	}
	for _, c := range cases {
		c.d.Start()
	}
	deadline := time.Now().Add(25 * time.Second)
	for {
		done := true
		for _, c := range cases {
			c.collect()
			if c.prio0 && !c.stopped && len(c.adverts) >= len(c.ka.adverts)-1 {
				if err := c.d.Term(); err != nil {
					t.Fatal(err)
				}
				c.stopped, c.stoppedAt = true, time.Now()
			}
			if !c.enough() {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			for _, c := range cases {
				if !c.enough() {
					t.Errorf("%s: captured %d adverts, %d GARPs, %d NAs; want %d, %d, %d\n%s", c.name, len(c.adverts), len(c.garps), len(c.nas),
						len(c.ka.adverts), len(c.ka.garps), len(c.ka.nas), lastLines(c.d.Output(), 10))
				}
			}
			t.FailNow()
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range cases {
		if c.prio0 {
			// Nothing may follow the priority-0 advert.
			if _, err := c.d.Wait(5 * time.Second); err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			time.Sleep(time.Second)
			c.collect()
		}
	}

	var adverts, garps, nas []string
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.compare(t) })
		a, g, n := c.lines()
		adverts, garps, nas = append(adverts, a...), append(garps, g...), append(nas, n...)
	}
	checkOurFrames(t, cases, map[string][]string{"adverts.txt": adverts, "garps.txt": garps, "nas.txt": nas})
}

var updateWire = flag.Bool("update-wire", false, "rewrite e2e/testdata/hadirector from this run's captures")

// wireCase is one configuration: keepalived's reference frames and ours.
type wireCase struct {
	name  string
	inst  bench.Instance
	prio0 bool // SIGTERM after the regular adverts; one priority-0 advert must follow

	ka        kaCapture
	mac       net.HardwareAddr
	cap       *bench.Capture
	d         *bench.Daemon
	stopped   bool
	stoppedAt time.Time

	frames     []bench.Frame // ours, from the node
	adverts    []bench.Advert
	garps      []bench.ARP
	garpFrames [][]byte
	nas        []bench.Frame
}

// collect re-reads the capture: the node's adverts, gratuitous ARPs and NAs.
func (c *wireCase) collect() {
	c.frames, c.adverts, c.garps, c.garpFrames, c.nas = nil, nil, nil, nil, nil
	for _, f := range c.cap.Frames(0) {
		if len(f.Data) < 14 || !bytes.Equal(f.Data[6:12], c.mac) {
			continue
		}
		if a, ok := bench.ParseAdvert(f); ok {
			c.adverts = append(c.adverts, a)
		} else if g, ok := bench.ParseARP(f); ok && g.Gratuitous() {
			c.garps = append(c.garps, g)
			c.garpFrames = append(c.garpFrames, f.Data)
		} else if isNA(f.Data) {
			c.nas = append(c.nas, f)
		} else {
			continue
		}
		c.frames = append(c.frames, f)
	}
}

func (c *wireCase) enough() bool {
	if c.prio0 && (!c.stopped || !slices.ContainsFunc(c.adverts, func(a bench.Advert) bool { return a.Priority == 0 })) {
		return false
	}
	return len(c.adverts) >= len(c.ka.adverts) && len(c.garps) >= len(c.ka.garps) && len(c.nas) >= len(c.ka.nas)
}

func isNA(b []byte) bool {
	return len(b) >= 14+40+24 && binary.BigEndian.Uint16(b[12:14]) == 0x86dd && b[14+6] == 58 && b[14+40] == 136
}

// checksumMethod says which checksum computation validates a captured advert.
func checksumMethod(a bench.Advert) string {
	if a.IPv6 {
		ph := make([]byte, 40)
		copy(ph, a.Src.AsSlice())
		copy(ph[16:], a.Dst.AsSlice())
		binary.BigEndian.PutUint32(ph[32:], uint32(len(a.VRRP)))
		ph[39] = 112
		if bench.Checksum(ph, a.VRRP) == 0 {
			return "IPv6 pseudo-header"
		}
		return "invalid"
	}
	pseudo := func(dst netip.Addr) []byte {
		ph := make([]byte, 12)
		copy(ph, a.Src.AsSlice())
		copy(ph[4:], dst.AsSlice())
		ph[9] = 112
		binary.BigEndian.PutUint16(ph[10:], uint16(len(a.VRRP)))
		return ph
	}
	group := netip.MustParseAddr("224.0.0.18")
	switch {
	case a.Version == 2 && bench.Checksum(a.VRRP) == 0:
		return "VRRP message only"
	case a.Version == 3 && bench.Checksum(pseudo(a.Dst), a.VRRP) == 0:
		return "pseudo-header, real destination"
	case a.Version == 3 && bench.Checksum(pseudo(group), a.VRRP) == 0:
		return "pseudo-header, destination 224.0.0.18 (old_unicast_checksum)"
	}
	return "invalid"
}

// advertShape is every field of an advert that must match keepalived's.
type advertShape struct {
	EthDst, EthSrc   string
	IPv6             bool
	IHL              int
	TOS, TTL, Proto  uint8
	DF, MF           bool
	FragOff          uint16
	HeaderChecksumOK bool
	Src, Dst         netip.Addr
	Checksum         string
	VRRP             string
}

func shapeOf(a bench.Advert) advertShape {
	return advertShape{EthDst: a.EthDst.String(), EthSrc: a.EthSrc.String(), IPv6: a.IPv6, IHL: a.IHL, TOS: a.TOS, TTL: a.TTL, Proto: a.Protocol,
		DF: a.DF, MF: a.MF, FragOff: a.FragOff, HeaderChecksumOK: a.HeaderChecksumOK || a.IPv6, Src: a.Src, Dst: a.Dst,
		Checksum: checksumMethod(a), VRRP: hex.EncodeToString(a.VRRP)}
}

var wantChecksum = map[string]string{
	"v2-mcast":                "VRRP message only",
	"v2-auth":                 "VRRP message only",
	"v2-shutdown-prio0":       "VRRP message only",
	"v3-mcast-v4":             "pseudo-header, real destination",
	"v3-unicast-v4":           "pseudo-header, real destination",
	"v3-unicast-old-checksum": "pseudo-header, destination 224.0.0.18 (old_unicast_checksum)",
	"v3-mcast-v6":             "IPv6 pseudo-header",
}

func (c *wireCase) compare(t *testing.T) {
	ka := c.ka
	// Adverts, one by one.
	ours := c.advertsLike()
	for i := range min(len(ka.adverts), len(ours)) {
		k, o := shapeOf(ka.adverts[i]), shapeOf(ours[i])
		if k != o {
			t.Errorf("advert %d differs:\n keepalived %+v\n hadirector %+v", i, k, o)
		}
	}
	if len(c.adverts) > 0 {
		if got, want := checksumMethod(c.adverts[0]), wantChecksum[c.name]; got != want {
			t.Errorf("checksum method %q, want %q", got, want)
		}
		a := c.adverts[0]
		if a.TTL != 255 || a.TOS != 0xc0 || a.Protocol != 112 || (!a.IPv6 && (a.IHL != 20 || a.DF)) {
			t.Errorf("header: TTL %d TOS %#x protocol %d IHL %d DF %v; want 255, 0xc0, 112, 20, false", a.TTL, a.TOS, a.Protocol, a.IHL, a.DF)
		}
	}
	// IP ID: a per-instance counter from 1, +1 per advert (priority 0 included), never 0.
	if len(c.adverts) > 0 && !c.adverts[0].IPv6 {
		if k, o := ka.adverts[0].ID, c.adverts[0].ID; k != o {
			t.Errorf("first IP ID %d, keepalived's %d", o, k)
		}
		for i := 1; i < len(c.adverts); i++ {
			if c.adverts[i].ID != c.adverts[i-1].ID+1 || c.adverts[i].ID == 0 {
				t.Errorf("IP ID %d after %d, want +1", c.adverts[i].ID, c.adverts[i-1].ID)
				break
			}
		}
	}
	// Priority 0 on SIGTERM: exactly one, and nothing after it.
	if c.prio0 {
		var zero []int
		for i, a := range c.adverts {
			if a.Priority == 0 {
				zero = append(zero, i)
			}
		}
		switch {
		case len(zero) != 1:
			t.Errorf("%d priority-0 adverts after SIGTERM, want exactly 1", len(zero))
		case zero[0] != len(c.adverts)-1:
			t.Errorf("adverts after the priority-0 advert")
		default:
			kz := ka.adverts[len(ka.adverts)-1]
			if k, o := shapeOf(kz), shapeOf(c.adverts[zero[0]]); k != o {
				t.Errorf("priority-0 advert differs:\n keepalived %+v\n hadirector %+v", k, o)
			}
			if d := c.adverts[zero[0]].Time.Sub(c.stoppedAt); d > 100*time.Millisecond {
				t.Errorf("priority-0 advert %v after SIGTERM", d)
			}
		}
		last := c.frames[len(c.frames)-1]
		if a, ok := bench.ParseAdvert(last); !ok || a.Priority != 0 {
			t.Errorf("frames after the priority-0 advert (last frame at %v)", last.Time)
		}
	}
	// GARPs and NAs: byte for byte, in keepalived's order (interleaved per VIP).
	for i := range min(len(ka.garps), len(c.garps)) {
		k, o := ka.garpFrames[i], c.garpFrames[i]
		if !bytes.Equal(k, o) {
			t.Errorf("GARP %d differs:\n keepalived %x\n hadirector %x", i, k, o)
		}
	}
	for _, g := range c.garps {
		if g.Op != 1 || g.Len != 42 || g.EthDst.String() != "ff:ff:ff:ff:ff:ff" || g.THA.String() != "ff:ff:ff:ff:ff:ff" ||
			!bytes.Equal(g.SHA, c.mac) || !bytes.Equal(g.EthSrc, c.mac) {
			t.Errorf("GARP shape: %+v", g)
			break
		}
	}
	for i := range min(len(ka.nas), len(c.nas)) {
		if !bytes.Equal(ka.nas[i].Data, c.nas[i].Data) {
			t.Errorf("NA %d differs:\n keepalived %x\n hadirector %x", i, ka.nas[i].Data, c.nas[i].Data)
		}
	}
	// Bursts: sizes, and when they start relative to the first advert.
	var ourTimes, kaTimes []time.Time
	for _, g := range c.garps[:min(len(c.garps), len(ka.garps))] {
		ourTimes = append(ourTimes, g.Time)
	}
	for _, g := range ka.garps {
		kaTimes = append(kaTimes, g.Time)
	}
	for _, f := range c.nas[:min(len(c.nas), len(ka.nas))] {
		ourTimes = append(ourTimes, f.Time)
	}
	for _, f := range ka.nas {
		kaTimes = append(kaTimes, f.Time)
	}
	ob, kb := bursts(ourTimes), bursts(kaTimes)
	if len(ob) != len(kb) {
		t.Errorf("%d announcement bursts, keepalived %d", len(ob), len(kb))
	}
	for i := range min(len(ob), len(kb)) {
		if len(ob[i]) != len(kb[i]) {
			t.Errorf("burst %d: %d frames, keepalived %d", i+1, len(ob[i]), len(kb[i]))
		}
		if len(c.adverts) == 0 {
			continue
		}
		first := c.adverts[0].Time
		kfirst := ka.adverts[0].Time
		od, kd := ob[i][0].Sub(first), kb[i][0].Sub(kfirst)
		switch i {
		case 0:
			// The advert goes first; the burst follows at once (keepalived: 0.1–6 ms).
			if od <= 0 || od > 50*time.Millisecond {
				t.Errorf("first burst %v after the first advert (keepalived %v)", od, kd)
			}
		default:
			// garp_master_delay, 5 s by default in both.
			if d := od - kd; d < -200*time.Millisecond || d > 200*time.Millisecond {
				t.Errorf("burst %d %v after the first advert, keepalived %v", i+1, od, kd)
			}
		}
		t.Logf("burst %d: %d frames, %v after the first advert (keepalived: %d frames, %v)", i+1, len(ob[i]), od.Round(time.Microsecond), len(kb[i]), kd.Round(time.Microsecond))
	}
}

func bursts(ts []time.Time) [][]time.Time {
	var out [][]time.Time
	for _, t := range ts {
		if n := len(out); n > 0 && t.Sub(out[n-1][len(out[n-1])-1]) < 500*time.Millisecond {
			out[n-1] = append(out[n-1], t)
			continue
		}
		out = append(out, []time.Time{t})
	}
	return out
}

// lines renders our frames like keepalived's adverts.txt, garps.txt and nas.txt (see
// ../vrrp/testdata/keepalived/NOTES.md), as many per capture as keepalived's have.
func (c *wireCase) lines() (adverts, garps, nas []string) {
	for _, a := range c.advertsLike() {
		fam := 4
		if a.IPv6 {
			fam = 6
		}
		adverts = append(adverts, fmt.Sprintf("%s %d %s %s %d 0x%02x %x", c.name, fam, a.Src, a.Dst, a.TTL, a.TOS, a.VRRP))
	}
	for _, g := range c.garpFrames[:min(len(c.garpFrames), len(c.ka.garps))] {
		garps = append(garps, fmt.Sprintf("%s %x", c.name, g))
	}
	for _, f := range c.nas[:min(len(c.nas), len(c.ka.nas))] {
		nas = append(nas, fmt.Sprintf("%s %x", c.name, f.Data))
	}
	return
}

// advertsLike is our adverts cut to keepalived's count; with a priority-0 advert, that one
// stays last.
func (c *wireCase) advertsLike() []bench.Advert {
	n := min(len(c.adverts), len(c.ka.adverts))
	if !c.prio0 || n == 0 {
		return c.adverts[:n]
	}
	out := slices.Clone(c.adverts[:n-1])
	return append(out, c.adverts[len(c.adverts)-1])
}

// checkOurFrames compares this run's frames with the checked-in ones, or rewrites them.
func checkOurFrames(t *testing.T, cases []*wireCase, files map[string][]string) {
	t.Helper()
	dir := filepath.Join("testdata", "hadirector")
	if *updateWire {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, lines := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range cases {
			keep := map[time.Time]bool{}
			for _, a := range c.advertsLike() {
				keep[a.Time] = true
			}
			for _, g := range c.garps[:min(len(c.garps), len(c.ka.garps))] {
				keep[g.Time] = true
			}
			for _, f := range c.nas[:min(len(c.nas), len(c.ka.nas))] {
				keep[f.Time] = true
			}
			var frames []bench.Frame
			for _, f := range c.frames {
				if keep[f.Time] {
					frames = append(frames, f)
				}
			}
			if err := writePcap(filepath.Join(dir, c.name+".pcap"), frames); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	for name, lines := range files {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%v (run go test ./e2e -run TestWireMatchesKeepalived -args -update-wire to create it)", err)
			continue
		}
		if got, want := strings.Join(lines, "\n")+"\n", string(b); got != want {
			t.Errorf("this run's frames differ from %s/%s (if the change is intended, rerun with -args -update-wire and review the diff):\n%s",
				dir, name, firstDiff(want, got))
		}
	}
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n checked in %s\n this run   %s", i+1, a, b)
		}
	}
	return ""
}

// kaCapture is one keepalived reference capture.
type kaCapture struct {
	adverts    []bench.Advert
	garps      []bench.ARP
	garpFrames [][]byte
	nas        []bench.Frame
}

func readKeepalivedCapture(t *testing.T, name string) kaCapture {
	t.Helper()
	frames, err := readPcap(filepath.Join("..", "vrrp", "testdata", "keepalived", name+".pcap"))
	if err != nil {
		t.Fatal(err)
	}
	var c kaCapture
	for _, f := range frames {
		if a, ok := bench.ParseAdvert(f); ok {
			c.adverts = append(c.adverts, a)
		} else if g, ok := bench.ParseARP(f); ok {
			c.garps = append(c.garps, g)
			c.garpFrames = append(c.garpFrames, f.Data)
		} else if isNA(f.Data) {
			c.nas = append(c.nas, f)
		}
	}
	if len(c.adverts) == 0 {
		t.Fatalf("%s: no adverts in the keepalived capture", name)
	}
	return c
}

// readPcap reads a classic little-endian pcap file (microsecond or nanosecond stamps,
// Ethernet), as the keepalived captures are.
func readPcap(path string) ([]bench.Frame, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 24 {
		return nil, fmt.Errorf("%s: too short for a pcap file", path)
	}
	var nano bool
	switch binary.LittleEndian.Uint32(b[0:4]) {
	case 0xa1b2c3d4:
	case 0xa1b23c4d:
		nano = true
	default:
		return nil, fmt.Errorf("%s: not a little-endian classic pcap file", path)
	}
	if lt := binary.LittleEndian.Uint32(b[20:24]); lt != 1 {
		return nil, fmt.Errorf("%s: link type %d, want 1 (Ethernet)", path, lt)
	}
	var out []bench.Frame
	for off := 24; off+16 <= len(b); {
		sec := binary.LittleEndian.Uint32(b[off:])
		frac := binary.LittleEndian.Uint32(b[off+4:])
		incl := int(binary.LittleEndian.Uint32(b[off+8:]))
		off += 16
		if off+incl > len(b) {
			return nil, fmt.Errorf("%s: truncated record", path)
		}
		ns := int64(frac) * 1000
		if nano {
			ns = int64(frac)
		}
		out = append(out, bench.Frame{Time: time.Unix(int64(sec), ns), Data: b[off : off+incl]})
		off += incl
	}
	return out, nil
}

// writePcap writes frames as a classic pcap file with nanosecond stamps.
func writePcap(path string, frames []bench.Frame) error {
	var b bytes.Buffer
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b23c4d)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1)
	b.Write(hdr)
	for _, f := range frames {
		rec := make([]byte, 16)
		binary.LittleEndian.PutUint32(rec[0:], uint32(f.Time.Unix()))
		binary.LittleEndian.PutUint32(rec[4:], uint32(f.Time.Nanosecond()))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(f.Data)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(f.Data)))
		b.Write(rec)
		b.Write(f.Data)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
