package sysctl

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestPath(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"net.ipv4.ip_forward", "net/ipv4/ip_forward"},
		{"net.ipv4.vs.expire_nodest_conn", "net/ipv4/vs/expire_nodest_conn"},
		{"net.ipv6.conf.all.forwarding", "net/ipv6/conf/all/forwarding"},
		{"net.ipv4.conf.lo.arp_ignore", "net/ipv4/conf/lo/arp_ignore"},
		// The VLAN eth0.100: its dot belongs to the interface, not the path.
		{"net.ipv4.conf.eth0.100.arp_ignore", "net/ipv4/conf/eth0.100/arp_ignore"},
		{"net.ipv6.conf.eth0.100.forwarding", "net/ipv6/conf/eth0.100/forwarding"},
		{"net.ipv4.neigh.bond0.7.base_reachable_time_ms", "net/ipv4/neigh/bond0.7/base_reachable_time_ms"},
		{"net.ipv6.neigh.eth0.100.200.retrans_time_ms", "net/ipv6/neigh/eth0.100.200/retrans_time_ms"},
		{"net.ipv4.conf.a..b.rp_filter", "net/ipv4/conf/a..b/rp_filter"}, // a legal, if odd, name
		{"kernel.osrelease", "kernel/osrelease"},
	} {
		got, err := Dir("/r").Path(tc.name)
		if err != nil || got != "/r/"+tc.want {
			t.Errorf("Path(%q) = %q, %v; want /r/%s", tc.name, got, err, tc.want)
		}
	}
	if got, err := Dir("").Path("net.ipv4.conf.eth0.100.arp_ignore"); err != nil || got != "/proc/sys/net/ipv4/conf/eth0.100/arp_ignore" {
		t.Errorf("empty Dir: %q, %v", got, err)
	}
	for _, name := range []string{
		"",
		"net/ipv4/ip_forward",
		"net.ipv4.conf.../x",
		"net.ipv4..ip_forward",
		".net.ipv4.ip_forward",
		"net.ipv4.ip_forward.",
		"net.ipv4.conf.lo",         // no setting
		"net.ipv4.conf.arp_ignore", // no interface
		"net.ipv4.conf..arp_ignore",
		"net.ipv4.conf...arp_ignore",
		"net.ipv4.conf....arp_ignore",
		"net.ipv4.conf.lo.",
		"net.ipv4.conf.eth0/1.arp_ignore",
		"net.ipv4.ip_forward\x00",
	} {
		if p, err := Dir("/r").Path(name); !errors.Is(err, ErrBadName) {
			t.Errorf("Path(%q) = %q, %v; want ErrBadName", name, p, err)
		}
	}
}

func TestGetSet(t *testing.T) {
	d := Dir(t.TempDir())
	file := filepath.Join(string(d), "net/ipv4/conf/eth0.100/arp_ignore")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	name := Conf("ipv4", "eth0.100", "arp_ignore")
	if v, err := d.Get(name); err != nil || v != "0" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if err := d.Set(name, "1"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); string(b) != "1\n" {
		t.Fatalf("file holds %q", b)
	}
	if v, err := d.Get(name); err != nil || v != "1" {
		t.Fatalf("Get after Set = %q, %v", v, err)
	}

	// A setting that does not exist is reported, never created.
	missing := Conf("ipv6", "eth0.100", "disable_ipv6")
	if err := d.Set(missing, "1"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Set missing: %v", err)
	}
	if _, err := os.Stat(filepath.Join(string(d), "net/ipv6")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Set created something: %v", err)
	}
	if _, err := d.Get(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Get missing: %v", err)
	}
	if err := d.Set("net..x", "1"); !errors.Is(err, ErrBadName) {
		t.Fatalf("Set bad name: %v", err)
	}
}

// TestProc reads the running kernel, where every Linux system has this setting.
func TestProc(t *testing.T) {
	if _, err := os.Stat("/proc/sys/kernel/osrelease"); err != nil {
		t.Skip("no /proc/sys:", err)
	}
	v, err := Get("kernel.osrelease")
	if err != nil || v == "" {
		t.Fatalf("kernel.osrelease = %q, %v", v, err)
	}
}
