// Package sysctl reads and writes kernel settings under /proc/sys by their dotted
// sysctl(8) names, such as "net.ipv4.ip_forward".
//
// Interface names may contain dots (the VLAN eth0.100), so a dotted name is mapped to a
// path with the kernel's layout in mind: in net.ipv4.conf.eth0.100.arp_ignore the
// interface is everything between "net.ipv4.conf." and the last dot, because the
// per-interface settings are flat files whose names have no dots. Replacing every dot with
// a slash would look for conf/eth0/100/arp_ignore instead.
//
// The net.* files belong to the network namespace of the thread that opens them: to act in
// another namespace, call Get and Set on a locked OS thread that has entered it.
package sysctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Proc is the running kernel's settings.
const Proc Dir = "/proc/sys"

// Dir is a tree of settings laid out like /proc/sys: Proc, or a temporary directory in
// tests. The empty Dir is Proc.
type Dir string

// ErrBadName is returned for a name that is not a well-formed dotted sysctl name.
var ErrBadName = errors.New("bad sysctl name")

// perInterface are the directories with one subdirectory per interface (plus all and
// default), each holding flat files.
var perInterface = []string{
	"net.ipv4.conf.",
	"net.ipv4.neigh.",
	"net.ipv6.conf.",
	"net.ipv6.neigh.",
	"net.mpls.conf.",
}

// Conf returns the name of a per-interface setting of family "ipv4" or "ipv6":
// Conf("ipv4", "eth0.100", "arp_ignore") is "net.ipv4.conf.eth0.100.arp_ignore".
func Conf(family, ifname, key string) string {
	return "net." + family + ".conf." + ifname + "." + key
}

// Path returns the file of the setting name under d.
func (d Dir) Path(name string) (string, error) {
	root := string(d)
	if root == "" {
		root = string(Proc)
	}
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("sysctl %q: %w: %s", name, ErrBadName, why)
	}
	if strings.ContainsAny(name, "/\x00") {
		return bad("write it with dots, not slashes")
	}
	for _, p := range perInterface {
		rest, ok := strings.CutPrefix(name, p)
		if !ok {
			continue
		}
		i := strings.LastIndexByte(rest, '.')
		if i < 0 {
			return bad("no interface and setting after " + strings.TrimSuffix(p, "."))
		}
		ifname, key := rest[:i], rest[i+1:]
		if ifname == "" || ifname == "." || ifname == ".." {
			return bad("bad interface name " + fmt.Sprintf("%q", ifname))
		}
		if key == "" {
			return bad("no setting after the interface")
		}
		dir := strings.Split(strings.TrimSuffix(p, "."), ".")
		return filepath.Join(append(append([]string{root}, dir...), ifname, key)...), nil
	}
	parts := strings.Split(name, ".")
	for _, s := range parts {
		if s == "" {
			return bad("empty component")
		}
	}
	return filepath.Join(append([]string{root}, parts...)...), nil
}

// Get returns the value of the setting name under d, without the trailing newline.
func (d Dir) Get(name string) (string, error) {
	p, err := d.Path(name)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("sysctl %s: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Set writes value to the setting name under d. It never creates a file: a setting
// that does not exist fails with an error that matches fs.ErrNotExist.
func (d Dir) Set(name, value string) error {
	p, err := d.Path(name)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", name, value, err)
	}
	_, err = f.WriteString(value + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", name, value, err)
	}
	return nil
}

// Get returns the running kernel's value of name (see Dir.Get).
func Get(name string) (string, error) { return Proc.Get(name) }

// Set writes the running kernel's setting name (see Dir.Set).
func Set(name, value string) error { return Proc.Set(name, value) }
