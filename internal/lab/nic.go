package lab

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
)

// NIC is an extra network card of a host, beyond eth0: a second interface for tracking
// (track_interface) or a second LAN for instances of a sync group.
type NIC struct {
	// Dev is the interface's name in the host.
	Dev string
	// Port is its cable's far end in the switch namespace.
	Port  string
	h     *Host
	mac   net.HardwareAddr
	addrs []netip.Prefix
}

var (
	nicName = regexp.MustCompile(`^[a-z][a-z0-9]{0,9}$`)
	lanName = regexp.MustCompile(`^[a-z][a-z0-9]{0,11}$`)
)

// AddNIC gives the host another interface dev, cabled to a LAN of its own: the bridge lan
// in the switch namespace, made on first use, so hosts that add a NIC on the same lan
// share that LAN and nothing else. dev has the given addresses (TEST-NET only) and is up
// when AddNIC returns; its MAC is 02:00:00:NN:HH:LL with NN the host's NIC count (eth0 is
// 0) and HHLL the host's number. Partitions and cuts act on eth0's LAN only.
func (h *Host) AddNIC(dev, lan string, addrs ...string) *NIC {
	l := h.lab
	l.tb.Helper()
	if !nicName.MatchString(dev) || dev == "eth0" || dev == "lo" {
		l.tb.Fatalf("lab: host %s: NIC name %q: want [a-z][a-z0-9]{0,9}, not eth0 or lo", h.Name, dev)
	}
	if !lanName.MatchString(lan) || lan == bridge || strings.HasPrefix(lan, "bh") {
		l.tb.Fatalf("lab: host %s: LAN name %q: want [a-z][a-z0-9]{0,11}, not %s or bh*", h.Name, lan, bridge)
	}
	var prefixes []netip.Prefix
	for _, s := range addrs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			l.tb.Fatalf("lab: host %s: %s: %v", h.Name, dev, err)
		}
		if !testNet(p.Addr()) {
			l.tb.Fatalf("lab: host %s: %s: %s is not in a TEST-NET range", h.Name, dev, p)
		}
		prefixes = append(prefixes, p)
	}

	l.mu.Lock()
	for _, n := range h.nics {
		if n.Dev == dev {
			l.mu.Unlock()
			l.tb.Fatalf("lab: host %s: NIC %s already exists", h.Name, dev)
		}
	}
	n := &NIC{
		Dev:   dev,
		Port:  fmt.Sprintf("p%d-%s", h.idx, dev),
		h:     h,
		mac:   net.HardwareAddr{0x02, 0, 0, byte(len(h.nics) + 1), byte(h.idx >> 8), byte(h.idx)},
		addrs: prefixes,
	}
	h.nics = append(h.nics, n)
	l.mu.Unlock()

	// The bridge is made idempotently: another host may have made it already. Multicast
	// snooping and STP off, as on eth0's LAN.
	if _, err := run("", "ip", "-n", l.sw, "link", "show", "dev", lan); err != nil {
		if _, err := run("link add "+lan+" type bridge mcast_snooping 0 stp_state 0\nlink set "+lan+" up\n",
			"ip", "-n", l.sw, "-batch", "-"); err != nil {
			l.tb.Fatalf("lab: LAN %s: %v", lan, err)
		}
	}
	if _, err := run("", "ip", "link", "add", dev, "netns", h.ns, "address", n.mac.String(),
		"type", "veth", "peer", "name", n.Port, "netns", l.sw); err != nil {
		l.tb.Fatalf("lab: host %s: cable %s: %v", h.Name, dev, err)
	}
	if _, err := run("", "ip", "-n", l.sw, "link", "set", n.Port, "master", lan, "up"); err != nil {
		l.tb.Fatalf("lab: host %s: plug %s into %s: %v", h.Name, dev, lan, err)
	}
	var cmds []string
	for _, p := range prefixes {
		cmds = append(cmds, "addr add "+p.String()+" dev "+dev)
	}
	cmds = append(cmds, "link set "+dev+" up")
	if _, err := run(strings.Join(cmds, "\n"), "ip", "-n", h.ns, "-batch", "-"); err != nil {
		l.tb.Fatalf("lab: host %s: configure %s: %v", h.Name, dev, err)
	}
	return n
}

// MAC is the NIC's hardware address.
func (n *NIC) MAC() net.HardwareAddr { return n.mac }

// LinkDown sets the NIC administratively down in its host, as Host.LinkDown does for eth0.
func (n *NIC) LinkDown() { n.h.ip("link", "set", n.Dev, "down") }

// LinkUp undoes LinkDown, putting back the NIC's addresses.
func (n *NIC) LinkUp() {
	n.h.lab.tb.Helper()
	n.h.ip("link", "set", n.Dev, "up")
	for _, p := range n.addrs {
		n.h.ip("addr", "replace", p.String(), "dev", n.Dev)
	}
}

// CablePull sets the switch side of the NIC's cable down: the NIC stays administratively up
// but loses carrier, as Host.CablePull does for eth0.
func (n *NIC) CablePull() { n.h.swIP("link", "set", n.Port, "down") }

// CablePlug undoes CablePull.
func (n *NIC) CablePlug() { n.h.swIP("link", "set", n.Port, "up") }
