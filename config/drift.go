package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
)

// Drift compares the configurations of the two nodes of a pair and lists every
// difference that breaks the pair or makes a failover change behaviour: instances are
// matched by virtual router (interface-independent: VRID and address family). Config
// drift is the first cause of split brain in keepalived deployments.
func Drift(a, b *Config) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	type key struct{ vrid, fam int }
	bi := map[key]*Instance{}
	for i := range b.Instances {
		in := &b.Instances[i]
		bi[key{in.VirtualRouterID, in.Family()}] = in
	}
	seen := map[key]bool{}
	for i := range a.Instances {
		x := &a.Instances[i]
		k := key{x.VirtualRouterID, x.Family()}
		seen[k] = true
		y := bi[k]
		if y == nil {
			add("vrrp_instance %q (VRID %d, IPv%d) exists only on the first node", x.Name, k.vrid, k.fam)
			continue
		}
		w := fmt.Sprintf("VRID %d (%q / %q)", k.vrid, x.Name, y.Name)
		if x.Version != y.Version {
			add("%s: version %d vs %d: the nodes cannot hear each other", w, x.Version, y.Version)
		}
		if x.AdvertInt != y.AdvertInt {
			add("%s: advert_int %s vs %s (VRRPv2 drops the other's adverts; v3 learns, but failover times differ)", w, x.AdvertInt, y.AdvertInt)
		}
		if x.AuthPass != y.AuthPass {
			add("%s: auth_pass differs: each node drops the other's adverts", w)
		}
		if !sameSet(x.VirtualIPAddress, y.VirtualIPAddress) {
			add("%s: virtual_ipaddress %v vs %v", w, x.VirtualIPAddress, y.VirtualIPAddress)
		}
		if x.Priority == y.Priority {
			add("%s: both nodes have priority %d: the higher address wins, which is rarely what was meant", w, x.Priority)
		}
		if x.NoPreempt != y.NoPreempt {
			add("%s: nopreempt %v vs %v", w, x.NoPreempt, y.NoPreempt)
		}
		if x.UseVMAC != y.UseVMAC {
			add("%s: use_vmac %v vs %v", w, x.UseVMAC, y.UseVMAC)
		}
		if (len(x.UnicastPeer) == 0) != (len(y.UnicastPeer) == 0) {
			add("%s: one node is unicast and the other multicast", w)
		} else if len(x.UnicastPeer) > 0 {
			if y.UnicastSrcIP.IsValid() && !slices.Contains(x.UnicastPeer, y.UnicastSrcIP) {
				add("%s: the first node's unicast_peer %v lacks the second's unicast_src_ip %s", w, x.UnicastPeer, y.UnicastSrcIP)
			}
			if x.UnicastSrcIP.IsValid() && !slices.Contains(y.UnicastPeer, x.UnicastSrcIP) {
				add("%s: the second node's unicast_peer %v lacks the first's unicast_src_ip %s", w, y.UnicastPeer, x.UnicastSrcIP)
			}
		}
	}
	for i := range b.Instances {
		y := &b.Instances[i]
		if k := (key{y.VirtualRouterID, y.Family()}); !seen[k] {
			add("vrrp_instance %q (VRID %d, IPv%d) exists only on the second node", y.Name, k.vrid, k.fam)
		}
	}
	bv := map[string]*VirtualServer{}
	for i := range b.VirtualServers {
		bv[b.VirtualServers[i].String()] = &b.VirtualServers[i]
	}
	seenVS := map[string]bool{}
	for i := range a.VirtualServers {
		x := &a.VirtualServers[i]
		seenVS[x.String()] = true
		y := bv[x.String()]
		if y == nil {
			add("virtual_server %s exists only on the first node", x)
			continue
		}
		w := "virtual_server " + x.String()
		for _, f := range []struct {
			key  string
			a, b any
		}{
			{"protocol", x.Protocol, y.Protocol}, {"scheduler", x.Scheduler, y.Scheduler},
			{"scheduler_flags", x.SchedulerFlags, y.SchedulerFlags}, {"forwarding", x.Forwarding, y.Forwarding},
			{"persistence_timeout", x.PersistenceTimeout, y.PersistenceTimeout},
			{"persistence_netmask", x.PersistenceNetmask, y.PersistenceNetmask}, {"one_packet", x.OnePacket, y.OnePacket},
			{"sorry_server", x.SorryServer, y.SorryServer}, {"inhibit_on_failure", x.InhibitOnFailure, y.InhibitOnFailure},
			{"quorum", x.Quorum, y.Quorum}, {"hysteresis", x.Hysteresis, y.Hysteresis}, {"check", x.Check, y.Check},
		} {
			if !reflect.DeepEqual(f.a, f.b) {
				add("%s: %s %v vs %v", w, f.key, deref(f.a), deref(f.b))
			}
		}
		br := map[netip.AddrPort]*RealServer{}
		for j := range y.RealServers {
			br[y.RealServers[j].Address] = &y.RealServers[j]
		}
		for j := range x.RealServers {
			rx := &x.RealServers[j]
			ry := br[rx.Address]
			if ry == nil {
				add("%s: real_server %s exists only on the first node", w, rx.Address)
				continue
			}
			delete(br, rx.Address)
			if rx.Weight != ry.Weight || rx.Forwarding != ry.Forwarding || rx.UpperThreshold != ry.UpperThreshold || rx.LowerThreshold != ry.LowerThreshold {
				add("%s: real_server %s: weight/forwarding/thresholds %d/%s/%d/%d vs %d/%s/%d/%d", w, rx.Address,
					rx.Weight, rx.Forwarding, rx.UpperThreshold, rx.LowerThreshold, ry.Weight, ry.Forwarding, ry.UpperThreshold, ry.LowerThreshold)
			}
			if !reflect.DeepEqual(rx.Check, ry.Check) || !reflect.DeepEqual(rx.Checks, ry.Checks) {
				add("%s: real_server %s: check differs", w, rx.Address)
			}
		}
		for _, j := range y.RealServers {
			if br[j.Address] != nil {
				add("%s: real_server %s exists only on the second node", w, j.Address)
			}
		}
	}
	for i := range b.VirtualServers {
		if y := &b.VirtualServers[i]; !seenVS[y.String()] {
			add("virtual_server %s exists only on the second node", y)
		}
	}
	if !reflect.DeepEqual(a.LVS, b.LVS) {
		add("[lvs] differs: %+v vs %+v", a.LVS, b.LVS)
	}
	return out
}

func deref(v any) any {
	if c, ok := v.(*Check); ok && c != nil {
		return *c
	}
	return v
}

func sameSet(a, b []netip.Prefix) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	cmp := func(p, q netip.Prefix) int {
		if c := p.Addr().Compare(q.Addr()); c != 0 {
			return c
		}
		return p.Bits() - q.Bits()
	}
	slices.SortFunc(x, cmp)
	slices.SortFunc(y, cmp)
	return slices.Equal(x, y)
}
