package lab

import (
	"fmt"
	"sort"
	"strings"
)

// Partitions are made in the switch, by port, so they hold for every kind of frame —
// unicast, broadcast, multicast (VRRP adverts), and frames from a virtual MAC — whatever
// source address the host uses.
//
// The kernel here has no nftables userland, no ebtables, no bridge VLAN filtering and no tc
// drop/skbedit actions, but it has tc u32 and mirred. So a port with outgoing cuts becomes a
// "hub port": a match-all u32 filter on its ingress copies each frame (mirred mirror) to every
// port it may still reach and then steals it into a blackhole veth, so it never reaches the
// bridge. Ports without cuts go through the learning bridge as usual. The price is that a
// hub port's frames are flooded to all reachable ports, as on a hub; hosts drop unicast
// frames that are not theirs.

// Partition drops every frame between a and b, both ways. Other hosts still reach both.
func (l *Lab) Partition(a, b *Host) {
	l.tb.Helper()
	l.checkPair(a, b)
	l.mu.Lock()
	l.cuts[[2]int{a.idx, b.idx}] = true
	l.cuts[[2]int{b.idx, a.idx}] = true
	l.mu.Unlock()
	l.applyCuts()
}

// CutOneWay drops every frame from `from` to `to`; frames from `to` to `from` still pass.
// (ARP needs both ways: a host behind a one-way cut can only send unicast to a neighbour it
// already has an entry for.)
func (l *Lab) CutOneWay(from, to *Host) {
	l.tb.Helper()
	l.checkPair(from, to)
	l.mu.Lock()
	l.cuts[[2]int{from.idx, to.idx}] = true
	l.mu.Unlock()
	l.applyCuts()
}

// Heal removes every partition and cut.
func (l *Lab) Heal() {
	l.tb.Helper()
	l.mu.Lock()
	clear(l.cuts)
	l.mu.Unlock()
	l.applyCuts()
}

func (l *Lab) checkPair(a, b *Host) {
	l.tb.Helper()
	if a.lab != l || b.lab != l {
		l.tb.Fatalf("lab: partition: %s and %s must both be hosts of this lab", a.Name, b.Name)
	}
	if a == b {
		l.tb.Fatalf("lab: partition: %s with itself", a.Name)
	}
}

// applyCuts brings every switch port's ingress filter in line with l.cuts, in one tc batch.
// A filter is replaced in place (fixed handle), so frames never slip through mid-update.
func (l *Lab) applyCuts() {
	l.tb.Helper()
	l.mu.Lock()
	hosts := append([]*Host(nil), l.hosts...)
	var cmds []string
	for _, src := range hosts {
		var reach []string
		cut := false
		for _, dst := range hosts {
			if dst == src {
				continue
			}
			if l.cuts[[2]int{src.idx, dst.idx}] {
				cut = true
			} else {
				reach = append(reach, dst.port)
			}
		}
		switch {
		case cut:
			cmds = append(cmds, hubFilter(src.port, reach))
			l.hub[src.idx] = true
		case l.hub[src.idx]:
			cmds = append(cmds, fmt.Sprintf("filter del dev %s parent ffff: protocol all prio 1", src.port))
			delete(l.hub, src.idx)
		}
	}
	l.mu.Unlock()
	if len(cmds) == 0 {
		return
	}
	if _, err := run(strings.Join(cmds, "\n")+"\n", "tc", "-n", l.sw, "-batch", "-"); err != nil {
		l.tb.Fatalf("lab: partition: %v", err)
	}
}

// hubFilter is the tc batch line that sends frames entering port only to the ports in reach.
func hubFilter(port string, reach []string) string {
	sort.Strings(reach)
	var b strings.Builder
	fmt.Fprintf(&b, "filter replace dev %s parent ffff: protocol all prio 1 handle 800::800 u32 match u32 0 0", port)
	for _, r := range reach {
		fmt.Fprintf(&b, " action mirred egress mirror dev %s", r)
	}
	fmt.Fprintf(&b, " action mirred egress redirect dev %s", blackhole)
	return b.String()
}
