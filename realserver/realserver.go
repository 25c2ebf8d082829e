// Package realserver configures the real-server side of LVS direct routing: the VIP as a
// host address on lo, so the real server accepts packets for it, and the ARP settings
// that stop it from answering ARP for the VIP (which would steal the traffic from the
// director): arp_ignore=1 and arp_announce=2 on lo and all. Down restores exactly what
// up changed, from a state file.
package realserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hadirector/hadirector/internal/sysctl"
	"github.com/vishvananda/netlink"
)

// State records what Up changed, so Down can undo it and nothing else.
type State struct {
	Added   []netip.Prefix    `json:"added"`   // VIPs we put on lo
	Sysctls map[string]string `json:"sysctls"` // previous values of the sysctls we changed, by dotted name
}

var arpSysctls = []struct{ key, value string }{
	{"net.ipv4.conf.lo.arp_ignore", "1"},
	{"net.ipv4.conf.lo.arp_announce", "2"},
	{"net.ipv4.conf.all.arp_ignore", "1"},
	{"net.ipv4.conf.all.arp_announce", "2"},
}

// Change is one thing Up or Down did, for the operator.
type Change string

// Up puts each VIP on lo (IPv4 as /32, IPv6 as /128) and sets the ARP sysctls. It is
// idempotent: what is already in place is left alone and not recorded as ours.
func Up(stateFile string, vips []netip.Addr) ([]Change, error) {
	st, err := load(stateFile)
	if err != nil {
		return nil, err
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return nil, fmt.Errorf("realserver: lo: %w", err)
	}
	var changes []Change
	for _, k := range arpSysctls {
		cur, err := readSysctl(k.key)
		if err != nil {
			return changes, err
		}
		if cur == k.value {
			continue
		}
		if _, ok := st.Sysctls[k.key]; !ok {
			st.Sysctls[k.key] = cur
		}
		if err := writeSysctl(k.key, k.value); err != nil {
			return changes, err
		}
		changes = append(changes, Change(fmt.Sprintf("%s: %s -> %s", k.key, cur, k.value)))
	}
	for _, v := range vips {
		p := netip.PrefixFrom(v, v.BitLen())
		addr, _ := netlink.ParseAddr(p.String())
		if err := netlink.AddrAdd(lo, addr); err != nil {
			if errors.Is(err, os.ErrExist) || strings.Contains(err.Error(), "exists") {
				continue
			}
			return changes, fmt.Errorf("realserver: add %s to lo: %w", p, err)
		}
		if !slices.Contains(st.Added, p) {
			st.Added = append(st.Added, p)
		}
		changes = append(changes, Change("added "+p.String()+" on lo"))
	}
	return changes, save(stateFile, st)
}

// Down removes the VIPs Up added (all of them, or just vips when given) and, when none
// is left, restores the sysctls to what they were before Up.
func Down(stateFile string, vips []netip.Addr) ([]Change, error) {
	st, err := load(stateFile)
	if err != nil {
		return nil, err
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return nil, fmt.Errorf("realserver: lo: %w", err)
	}
	var changes []Change
	var keep []netip.Prefix
	for _, p := range st.Added {
		if len(vips) > 0 && !slices.Contains(vips, p.Addr()) {
			keep = append(keep, p)
			continue
		}
		addr, _ := netlink.ParseAddr(p.String())
		if err := netlink.AddrDel(lo, addr); err != nil && !errors.Is(err, os.ErrNotExist) && !strings.Contains(err.Error(), "cannot assign") {
			return changes, fmt.Errorf("realserver: remove %s from lo: %w", p, err)
		}
		changes = append(changes, Change("removed "+p.String()+" from lo"))
	}
	st.Added = keep
	if len(keep) == 0 {
		for _, k := range arpSysctls {
			prev, ok := st.Sysctls[k.key]
			if !ok {
				continue
			}
			if err := writeSysctl(k.key, prev); err != nil {
				return changes, err
			}
			delete(st.Sysctls, k.key)
			changes = append(changes, Change(fmt.Sprintf("%s: restored %s", k.key, prev)))
		}
	}
	return changes, save(stateFile, st)
}

func readSysctl(name string) (string, error) {
	v, err := sysctl.Get(name)
	if err != nil {
		return "", fmt.Errorf("realserver: %w", err)
	}
	return v, nil
}

func writeSysctl(name, v string) error {
	if err := sysctl.Set(name, v); err != nil {
		return fmt.Errorf("realserver: %w", err)
	}
	return nil
}

func load(path string) (*State, error) {
	st := &State{Sysctls: map[string]string{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("realserver: %w", err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("realserver: state file %s: %w", path, err)
	}
	if st.Sysctls == nil {
		st.Sysctls = map[string]string{}
	}
	// Earlier versions keyed the sysctls by path ("net/ipv4/conf/lo/arp_ignore"). They
	// wrote only the four of arpSysctls, on lo and all, whose names have no dots, so
	// swapping the slashes for dots gives the dotted name.
	byName := make(map[string]string, len(st.Sysctls))
	for k, v := range st.Sysctls {
		byName[strings.ReplaceAll(k, "/", ".")] = v
	}
	st.Sysctls = byName
	return st, nil
}

func save(path string, st *State) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("realserver: %w", err)
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("realserver: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("realserver: %w", err)
	}
	return nil
}
