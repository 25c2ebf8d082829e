package healthcheck

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMakeSockaddrBytes: the port and address sit in the sockaddr in network byte order,
// whatever the host's.
func TestMakeSockaddrBytes(t *testing.T) {
	mem := func(v uint16) []byte { return binary.NativeEndian.AppendUint16(nil, v) }
	for _, c := range []struct {
		ip   string
		port uint16
		four bool
		addr []byte
	}{
		{"192.0.2.1", 8080, true, []byte{192, 0, 2, 1}},
		{"::ffff:198.51.100.7", 1, true, []byte{198, 51, 100, 7}},
		{"2001:db8::1", 0xabcd, false, []byte{0x20, 0x01, 0x0d, 0xb8, 12: 0, 0, 0, 1}},
	} {
		sa := makeSockaddr(netip.MustParseAddr(c.ip), c.port)
		want := []byte{byte(c.port >> 8), byte(c.port)}
		if sa.four != c.four {
			t.Errorf("%s: four = %v", c.ip, sa.four)
			continue
		}
		var port []byte
		var addr []byte
		if sa.four {
			port, addr = mem(sa.in4.Port), sa.in4.Addr[:]
			if sa.in4.Family != unix.AF_INET || sa.family() != unix.AF_INET {
				t.Errorf("%s: family %d", c.ip, sa.in4.Family)
			}
		} else {
			port, addr = mem(sa.in6.Port), sa.in6.Addr[:]
			if sa.in6.Family != unix.AF_INET6 || sa.family() != unix.AF_INET6 {
				t.Errorf("%s: family %d", c.ip, sa.in6.Family)
			}
		}
		if !bytes.Equal(port, want) {
			t.Errorf("%s port %d: bytes % x, want % x", c.ip, c.port, port, want)
		}
		if !bytes.Equal(addr, c.addr) {
			t.Errorf("%s: address bytes % x, want % x", c.ip, addr, c.addr)
		}
	}
	if got := mem(htons(0x0102)); !bytes.Equal(got, []byte{1, 2}) {
		t.Errorf("htons(0x0102) in memory: % x", got)
	}
}
