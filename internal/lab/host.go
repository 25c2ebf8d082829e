package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/hadirector/hadirector/internal/sysctl"
)

// runTimeout bounds every short command the lab runs, so a wedged tool fails the test
// instead of hanging it until the -timeout panic (which skips cleanups).
const runTimeout = 30 * time.Second

// run runs a command in the test process's own namespace and returns its combined output.
func run(stdin, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// NS is the host's network namespace name, for `ip netns exec` or `ip -n`.
func (h *Host) NS() string { return h.ns }

// Port is the name of the host's port (its cable's far end) in the switch namespace.
func (h *Host) Port() string { return h.port }

// MAC is eth0's hardware address.
func (h *Host) MAC() net.HardwareAddr { return h.mac }

// Addr is the first address the host was created with (the zero Addr if none).
func (h *Host) Addr() netip.Addr {
	if len(h.addrs) == 0 {
		return netip.Addr{}
	}
	return h.addrs[0].Addr()
}

// Run runs a command inside the host's namespace (through `ip netns exec`) and returns its
// combined output. It is for short commands: it gives up after 30 s.
func (h *Host) Run(args ...string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("lab: Run: no command")
	}
	out, err := run("", "ip", append([]string{"netns", "exec", h.ns}, args...)...)
	if err != nil {
		return out, fmt.Errorf("lab: host %s: %w", h.Name, err)
	}
	return out, nil
}

// MustRun is Run that fails tb on error.
func (h *Host) MustRun(tb TB, args ...string) string {
	tb.Helper()
	out, err := h.Run(args...)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// Do runs fn on an OS thread that has entered the host's network namespace. Sockets fn
// opens belong to the host and stay usable from any goroutine after Do returns; fn must not
// start goroutines that expect to be in the namespace, nor start processes (use Start).
func (h *Host) Do(fn func() error) error {
	return doInNS(h.ns, fn)
}

// SetSysctl writes a per-namespace sysctl of the host, e.g.
// ("net.ipv4.conf.all.arp_ignore", "1"). Only net.* keys are per namespace; others would
// change the machine running the test and are refused.
func (h *Host) SetSysctl(key, value string) error {
	if err := setSysctl(h.ns, key, value); err != nil {
		return fmt.Errorf("lab: host %s: %w", h.Name, err)
	}
	return nil
}

func setSysctl(ns, key, value string) error {
	if !strings.HasPrefix(key, "net.") {
		return fmt.Errorf("sysctl %s: only net.* keys are per namespace", key)
	}
	return doInNS(ns, func() error { return sysctl.Set(key, value) })
}

// LinkDown sets the host's own eth0 administratively down (like `ip link set eth0 down` on
// the node). The kernel then drops the host's IPv6 addresses (keep_addr_on_down=0); LinkUp
// puts back the ones the host was created with, as an interface manager would.
func (h *Host) LinkDown() { h.ip("link", "set", "eth0", "down") }

// LinkUp undoes LinkDown.
func (h *Host) LinkUp() {
	h.lab.tb.Helper()
	h.ip("link", "set", "eth0", "up")
	for _, p := range h.addrs {
		h.ip("addr", "replace", p.String(), "dev", "eth0")
	}
}

// CablePull sets the switch side of the host's cable down: eth0 stays administratively up
// but loses carrier (NO-CARRIER; Carrier false), as when the cable or the switch port fails.
func (h *Host) CablePull() { h.swIP("link", "set", h.port, "down") }

// CablePlug undoes CablePull.
func (h *Host) CablePlug() { h.swIP("link", "set", h.port, "up") }

func (h *Host) ip(args ...string) {
	h.lab.tb.Helper()
	if _, err := run("", "ip", append([]string{"-n", h.ns}, args...)...); err != nil {
		h.lab.tb.Fatalf("lab: host %s: %v", h.Name, err)
	}
}

func (h *Host) swIP(args ...string) {
	h.lab.tb.Helper()
	if _, err := run("", "ip", append([]string{"-n", h.lab.sw}, args...)...); err != nil {
		h.lab.tb.Fatalf("lab: switch port of %s: %v", h.Name, err)
	}
}

// Addrs lists the addresses on dev in the host (ip -j addr show dev <dev>), IPv6 link-local
// ones included, each with its prefix length.
func (h *Host) Addrs(dev string) ([]netip.Prefix, error) {
	out, err := run("", "ip", "-n", h.ns, "-j", "addr", "show", "dev", dev)
	if err != nil {
		return nil, fmt.Errorf("lab: host %s: %w", h.Name, err)
	}
	return parseAddrs([]byte(out))
}

func parseAddrs(js []byte) ([]netip.Prefix, error) {
	var links []struct {
		AddrInfo []struct {
			Local     string `json:"local"`
			PrefixLen int    `json:"prefixlen"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(js, &links); err != nil {
		return nil, fmt.Errorf("lab: parse ip -j addr: %w", err)
	}
	var ps []netip.Prefix
	for _, l := range links {
		for _, ai := range l.AddrInfo {
			a, err := netip.ParseAddr(ai.Local)
			if err != nil {
				return nil, fmt.Errorf("lab: parse ip -j addr: %w", err)
			}
			ps = append(ps, netip.PrefixFrom(a, ai.PrefixLen))
		}
	}
	return ps, nil
}

// HasAddr reports whether a is on dev (false if dev does not exist).
func (h *Host) HasAddr(dev string, a netip.Addr) bool {
	ps, err := h.Addrs(dev)
	if err != nil {
		return false
	}
	for _, p := range ps {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

// OperState is dev's operational state as the kernel reports it ("UP", "DOWN", ...), or ""
// if dev does not exist. A pulled cable shows as "DOWN" with Carrier false. The kernel
// updates operstate asynchronously, a moment after the event; Carrier follows at once.
func (h *Host) OperState(dev string) string {
	l, _ := h.link(dev)
	return l.OperState
}

// Carrier reports whether dev is up and has carrier (the LOWER_UP flag).
func (h *Host) Carrier(dev string) bool {
	l, _ := h.link(dev)
	return slices.Contains(l.Flags, "LOWER_UP")
}

type linkInfo struct {
	OperState string   `json:"operstate"`
	Flags     []string `json:"flags"`
}

func (h *Host) link(dev string) (linkInfo, error) {
	out, err := run("", "ip", "-n", h.ns, "-j", "link", "show", "dev", dev)
	if err != nil {
		return linkInfo{}, err
	}
	var links []linkInfo
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		return linkInfo{}, err
	}
	if len(links) == 0 {
		return linkInfo{}, fmt.Errorf("no link %s", dev)
	}
	return links[0], nil
}

// Neighbor looks ip up in the host's neighbour table on eth0. ok is false if there is no
// entry; an entry without a link-layer address (INCOMPLETE, FAILED) has a nil mac. state is
// the kernel's, e.g. "REACHABLE", "STALE", "FAILED" (several joined with ",").
func (h *Host) Neighbor(ip netip.Addr) (mac net.HardwareAddr, state string, ok bool) {
	out, err := run("", "ip", "-n", h.ns, "-j", "neigh", "show", "to", ip.WithZone("").String(), "dev", "eth0")
	if err != nil {
		return nil, "", false
	}
	return parseNeighbor([]byte(out), ip)
}

func parseNeighbor(js []byte, ip netip.Addr) (net.HardwareAddr, string, bool) {
	var entries []struct {
		Dst    string   `json:"dst"`
		LLAddr string   `json:"lladdr"`
		State  []string `json:"state"`
	}
	if json.Unmarshal(js, &entries) != nil {
		return nil, "", false
	}
	for _, e := range entries {
		a, err := netip.ParseAddr(e.Dst)
		if err != nil || a.WithZone("") != ip.WithZone("") {
			continue
		}
		var mac net.HardwareAddr
		if e.LLAddr != "" {
			mac, err = net.ParseMAC(e.LLAddr)
			if err != nil {
				return nil, "", false
			}
		}
		return mac, strings.Join(e.State, ","), true
	}
	return nil, "", false
}

// PrimeNeighbor makes the host hold a neighbour entry for ip by pinging it once (a failed
// ping is fine: it leaves an INCOMPLETE/FAILED entry). Tests of gratuitous ARP need this,
// because with the default arp_accept=0 a gratuitous ARP updates an existing entry but does
// not create one.
func (h *Host) PrimeNeighbor(ip netip.Addr) {
	_ = h.Ping(ip, 500*time.Millisecond)
}
