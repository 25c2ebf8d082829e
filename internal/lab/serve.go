package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NameServer is an HTTP server in a host that answers every request with the host's name
// (a real server whose answers show where a request went). Its listeners are opened inside
// the namespace and served from goroutines of this process: accepted sockets belong to the
// namespace of their listener.
type NameServer struct {
	tb     TB
	h      *Host
	ports  []int
	status atomic.Int32 // the HTTP status of the answers; 0: 200
	mu     sync.Mutex
	srvs   []*http.Server
}

// SetStatus makes every answer from now on carry the HTTP status code (the body is still
// the name): a real server that is up but failing, like one whose application answers
// 500. 200 restores the normal answers.
func (s *NameServer) SetStatus(code int) { s.status.Store(int32(code)) }

// ServeName starts a NameServer on the given TCP ports (IPv4, every address) and stops it
// when tb ends.
func (h *Host) ServeName(tb TB, ports ...int) *NameServer {
	tb.Helper()
	s := &NameServer{tb: tb, h: h, ports: ports}
	s.Start()
	tb.Cleanup(s.Stop)
	return s
}

// Start opens the listeners again after Stop (nothing when they are open).
func (s *NameServer) Start() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.srvs) > 0 {
		return
	}
	name := s.h.Name
	for _, port := range s.ports {
		var ln net.Listener
		if err := s.h.Do(func() (err error) {
			ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port))
			return err
		}); err != nil {
			s.tb.Fatalf("lab: %s: listen :%d: %v", name, port, err)
		}
		srv := &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if c := s.status.Load(); c != 0 {
					w.WriteHeader(int(c))
				}
				fmt.Fprintln(w, name)
			}),
			ReadHeaderTimeout: 10 * time.Second,
		}
		go srv.Serve(ln)
		s.srvs = append(s.srvs, srv)
	}
}

// Stop closes the listeners and every connection: the ports then refuse connections.
func (s *NameServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, srv := range s.srvs {
		srv.Close()
	}
	s.srvs = nil
}

// Netlink returns an rtnetlink handle of the host's namespace, closed when tb ends: for
// polling addresses and neighbours without starting `ip` each time.
func (h *Host) Netlink(tb TB) *netlink.Handle {
	tb.Helper()
	ns, err := netns.GetFromPath("/run/netns/" + h.ns)
	if err != nil {
		tb.Fatalf("lab: %s: %v", h.Name, err)
	}
	defer ns.Close()
	nl, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		tb.Fatalf("lab: rtnetlink of %s: %v", h.Name, err)
	}
	tb.Cleanup(nl.Close)
	return nl
}

// LinkHasAddr reports whether a is an address of dev, through nl (see Host.Netlink).
func LinkHasAddr(nl *netlink.Handle, dev string, a netip.Addr) bool {
	link, err := nl.LinkByName(dev)
	if err != nil {
		return false
	}
	family := netlink.FAMILY_V6
	if a.Unmap().Is4() {
		family = netlink.FAMILY_V4
	}
	addrs, err := nl.AddrList(link, family)
	if err != nil {
		return false
	}
	for _, x := range addrs {
		if ip, ok := netip.AddrFromSlice(x.IP); ok && ip.Unmap() == a.Unmap() {
			return true
		}
	}
	return false
}

// GetName makes one HTTP GET of http://to/ from the host — from src when it is valid — on a
// new connection, and returns the body trimmed (a NameServer's name); a status other than
// 200 is an error.
func (h *Host) GetName(src netip.Addr, to netip.AddrPort, timeout time.Duration) (string, error) {
	dial := func(ctx context.Context, _, addr string) (net.Conn, error) {
		var c net.Conn
		err := h.Do(func() (err error) {
			dl := net.Dialer{}
			if src.IsValid() {
				dl.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
			}
			c, err = dl.DialContext(ctx, "tcp", addr)
			return err
		})
		return c, err
	}
	hc := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true, DialContext: dial}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("http://" + to.String() + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return strings.TrimSpace(string(b)), nil
}
