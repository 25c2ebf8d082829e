package demo

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hadirector/hadirector/internal/lab"
)

// frame is what the demo keeps of a frame seen on the client's link: VRRP adverts and ARP.
type frame struct {
	at   time.Time // the kernel's receive timestamp
	src  string    // Ethernet source
	arp  bool
	op   uint16     // ARP operation
	spa  netip.Addr // ARP sender address
	tpa  netip.Addr // ARP target address
	vrrp bool
}

func isAdvert(f frame) bool { return f.vrrp }

// isGARP: a gratuitous ARP for the VIP (sender and target address both the VIP).
func isGARP(f frame) bool { return f.arp && f.spa == vip && f.tpa == vip }

// sniffer records ARP and VRRP frames on a host's eth0 through a packet socket opened in
// its namespace, with kernel timestamps.
type sniffer struct {
	fd     int
	mu     sync.Mutex
	frames []frame
	stop   chan struct{}
	once   sync.Once
}

func sniff(h *lab.Host) (*sniffer, error) {
	s := &sniffer{fd: -1, stop: make(chan struct{})}
	proto := int(htons(unix.ETH_P_ALL))
	err := h.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return err
		}
		s.fd = fd
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	if err == nil {
		err = unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}
	if err == nil {
		// Reads wake up now and then so that close is seen.
		err = unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 200000})
	}
	if err != nil {
		if s.fd >= 0 {
			unix.Close(s.fd)
		}
		return nil, err
	}
	go s.loop()
	return s, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (s *sniffer) loop() {
	defer unix.Close(s.fd)
	buf := make([]byte, 2048)
	oob := make([]byte, 128)
	for {
		select {
		case <-s.stop:
			return
		default:
		}
		n, oobn, _, from, err := unix.Recvmsg(s.fd, buf, oob, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		f, ok := parseFrame(buf[:n])
		if !ok {
			continue
		}
		f.at = time.Now()
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
					sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
					nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
					f.at = time.Unix(sec, nsec)
				}
			}
		}
		s.mu.Lock()
		s.frames = append(s.frames, f)
		s.mu.Unlock()
	}
}

// parseFrame keeps ARP over Ethernet/IPv4 and IPv4 protocol 112 (VRRP).
func parseFrame(b []byte) (frame, bool) {
	if len(b) < 14 {
		return frame{}, false
	}
	f := frame{src: net.HardwareAddr(b[6:12]).String()}
	switch binary.BigEndian.Uint16(b[12:14]) {
	case unix.ETH_P_ARP:
		a := b[14:]
		if len(a) < 28 || a[4] != 6 || a[5] != 4 {
			return frame{}, false
		}
		f.arp = true
		f.op = binary.BigEndian.Uint16(a[6:8])
		f.spa = netip.AddrFrom4([4]byte(a[14:18]))
		f.tpa = netip.AddrFrom4([4]byte(a[24:28]))
		return f, true
	case unix.ETH_P_IP:
		ip := b[14:]
		if len(ip) < 20 || ip[9] != 112 {
			return frame{}, false
		}
		f.vrrp = true
		return f, true
	}
	return frame{}, false
}

func (s *sniffer) close() { s.once.Do(func() { close(s.stop) }) }

// all returns the frames from src (a MAC) received at or after since that match.
func (s *sniffer) all(src net.HardwareAddr, since time.Time, match func(frame) bool) []frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []frame
	for _, f := range s.frames {
		if f.src == src.String() && !f.at.Before(since) && match(f) {
			out = append(out, f)
		}
	}
	return out
}

func (s *sniffer) first(src net.HardwareAddr, since time.Time, match func(frame) bool) (frame, bool) {
	fs := s.all(src, since, match)
	if len(fs) == 0 {
		return frame{}, false
	}
	return fs[0], true
}

// last returns the last matching frame from src received before t.
func (s *sniffer) last(src net.HardwareAddr, before time.Time, match func(frame) bool) (frame, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.frames) - 1; i >= 0; i-- {
		f := s.frames[i]
		if f.src == src.String() && f.at.Before(before) && match(f) {
			return f, true
		}
	}
	return frame{}, false
}
