// Package flood sends bad VRRP packets at directors from a lab host: one kind for every way
// an outsider can get a packet dropped (wrong TTL, bad checksum, wrong v2 password, a
// unicast advert from an unknown peer, a packet shorter than a header, an unknown VRID),
// through raw IP sockets in batches (sendmmsg), round robin over the kinds and the targets.
// The namespace test (e2e TestDropFlood) and the benchmark (hadirector-bench flood) share it.
package flood

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/hadirector/hadirector/internal/lab"
	"github.com/hadirector/hadirector/vrrp"
)

// Kind is a way of being dropped; its name is the daemon's drop reason.
type Kind string

// The kinds, named by the reason hadirector counts them under.
const (
	TTL         Kind = "ttl"          // TTL 64 instead of 255
	Checksum    Kind = "checksum"     // VRID 51, one checksum byte flipped
	Auth        Kind = "auth"         // v2, VRID 52, simple password "guessed"
	UnknownPeer Kind = "unknown_peer" // v3, VRID 53 (a unicast instance: the sender is no peer)
	Malformed   Kind = "malformed"    // two bytes
	VRID        Kind = "vrid"         // v3, VRID 99: nobody's
)

// All is every kind.
var All = []Kind{TTL, Checksum, Auth, UnknownPeer, Malformed, VRID}

// Flooder holds the sockets and the prepared packets.
type Flooder struct {
	conns   []net.PacketConn
	packets []packet // one per kind and target
}

type packet struct {
	c   *ipv4.PacketConn
	pkt []byte
	dst net.Addr
}

// Batch is how many packets one sendmmsg carries.
const Batch = 256

// New opens the sockets in h and builds the packets of the given kinds for every target:
// adverts of VRIDs 51–53 and 99 for vip at the given interval. Close releases the sockets.
func New(h *lab.Host, targets []netip.Addr, vip netip.Addr, interval time.Duration, kinds []Kind) (*Flooder, error) {
	f := &Flooder{}
	var ttl64, ttl255 *ipv4.PacketConn
	err := h.Do(func() error {
		for _, x := range []struct {
			c   **ipv4.PacketConn
			ttl int
		}{{&ttl64, 64}, {&ttl255, 255}} {
			c, err := net.ListenPacket("ip4:112", "0.0.0.0")
			if err != nil {
				return err
			}
			f.conns = append(f.conns, c)
			*x.c = ipv4.NewPacketConn(c)
			if err := (*x.c).SetTTL(x.ttl); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("flood: sockets: %w", err)
	}
	src := h.Addr()
	vips := []netip.Addr{vip}
	for _, dst := range targets {
		to := &net.IPAddr{IP: dst.AsSlice()}
		v3 := func(vrid uint8) ([]byte, error) {
			a := vrrp.Advert{Version: 3, Type: vrrp.TypeAdvertisement, VRID: vrid, Priority: 1, Interval: interval, Addrs: vips, Src: src, Dst: dst}
			return a.MarshalBinary()
		}
		for _, k := range kinds {
			c, b := ttl255, []byte(nil)
			var err error
			switch k {
			case TTL:
				c = ttl64
				b, err = v3(51)
			case Checksum:
				if b, err = v3(51); err == nil {
					b[7] ^= 0xff
				}
			case Auth:
				v2 := vrrp.Advert{Version: 2, Type: vrrp.TypeAdvertisement, VRID: 52, Priority: 1, Interval: time.Second, Addrs: vips, AuthType: vrrp.AuthSimple}
				copy(v2.AuthData[:], "guessed")
				b, err = v2.MarshalBinary()
			case UnknownPeer:
				b, err = v3(53)
			case Malformed:
				b = []byte{0x31, 51}
			case VRID:
				b, err = v3(99)
			default:
				err = fmt.Errorf("unknown kind %q", k)
			}
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("flood: %s packet: %w", k, err)
			}
			f.packets = append(f.packets, packet{c, b, to})
		}
	}
	return f, nil
}

// Close closes the sockets.
func (f *Flooder) Close() {
	for _, c := range f.conns {
		c.Close()
	}
}

// Run floods for d from senders goroutines and returns how many packets went out and how
// long it took. A full socket buffer (ENOBUFS) is not an error: the batch is sent again.
func (f *Flooder) Run(d time.Duration, senders int) (sent uint64, took time.Duration, err error) {
	var n atomic.Uint64
	var wg sync.WaitGroup
	var once sync.Once
	start := time.Now()
	deadline := start.Add(d)
	for w := range senders {
		// Each sender has its own batches: WriteBatch writes to the messages.
		batches := make([][]ipv4.Message, len(f.packets))
		for k, p := range f.packets {
			batches[k] = make([]ipv4.Message, Batch)
			for i := range batches[k] {
				batches[k][i] = ipv4.Message{Buffers: [][]byte{p.pkt}, Addr: p.dst}
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; time.Now().Before(deadline); i++ {
				k := i % len(batches)
				c, e := f.packets[k].c.WriteBatch(batches[k], 0)
				if c > 0 {
					n.Add(uint64(c))
				}
				if e != nil && !errors.Is(e, syscall.ENOBUFS) {
					once.Do(func() { err = fmt.Errorf("flood: %w", e) })
					return
				}
			}
		}()
	}
	wg.Wait()
	return n.Load(), time.Since(start), err
}
