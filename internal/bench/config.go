// Package bench runs VRRP daemons — hadirector and keepalived — in lab namespaces and
// measures them on the wire: it writes equivalent configurations for both, starts, kills
// and stops them, captures what they send with the kernel's receive timestamps, watches
// addresses and neighbour entries through netlink, and reads their notify FIFOs. The
// hadirector-bench command and the e2e interop, wire and bench tests are built on it, so
// the benchmark measures exactly the configurations the interop tests prove to work.
package bench

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Impl is a VRRP implementation under test.
type Impl string

const (
	Keepalived Impl = "keepalived"
	Hadirector Impl = "hadirector"
)

// Instance is one VRRP instance, written out as either implementation's configuration.
type Instance struct {
	Name      string // default VI_1
	Interface string // default eth0
	Version   int    // 2 or 3
	VRID      int
	Priority  int
	Interval  time.Duration
	VIPs      []netip.Prefix
	AuthPass  string // v2 PASS authentication

	UnicastSrc   netip.Addr
	UnicastPeers []netip.Addr

	// OldUnicastChecksum is hadirector's old_unicast_checksum value ("" leaves the default,
	// "reject"). For keepalived, "send" writes the instance keyword old_unicast_checksum
	// (send and accept only the old form), "never" writes `old_unicast_checksum never`, and
	// anything else leaves keepalived's default (new form; switches itself to the old form
	// for good when it receives an old-form advert).
	OldUnicastChecksum string

	// Realtime turns on realtime_priority and lock_memory (keepalived: vrrp_rt_priority and
	// vrrp_no_swap), at RealtimePriority.
	Realtime bool

	// KeepalivedRTTime is keepalived's vrrp_rlimit_rttime in µs (0: keepalived's default,
	// soft 5 ms / hard 10 ms of CPU between blocking calls, past which the kernel sends the
	// VRRP child SIGKILL). hadirector sets no such limit.
	KeepalivedRTTime int

	// GARPMasterDelay is the delay of the second gratuitous ARP burst; 0 keeps both
	// daemons' default of 5 s.
	GARPMasterDelay time.Duration

	// FIFO is the notify FIFO path; empty means none.
	FIFO string
}

// RealtimePriority is the SCHED_RR priority both daemons get when Instance.Realtime is set.
const RealtimePriority = 10

func (in Instance) name() string {
	if in.Name == "" {
		return "VI_1"
	}
	return in.Name
}

// Iface is the instance's interface.
func (in Instance) Iface() string {
	if in.Interface == "" {
		return "eth0"
	}
	return in.Interface
}

// HadirectorTOML is the instance as a hadirector configuration file.
func (in Instance) HadirectorTOML() string {
	var b strings.Builder
	b.WriteString("[global]\nstatus_socket = \"\"\nlog_format = \"json\"\n")
	if in.Realtime {
		fmt.Fprintf(&b, "realtime_priority = %d\nlock_memory = true\n", RealtimePriority)
	}
	if in.FIFO != "" {
		fmt.Fprintf(&b, "notify_fifo = %q\n", in.FIFO)
	}
	if in.GARPMasterDelay > 0 {
		fmt.Fprintf(&b, "garp_master_delay = %q\n", in.GARPMasterDelay.String())
	}
	fmt.Fprintf(&b, "\n[[vrrp_instance]]\nname = %q\ninterface = %q\nvirtual_router_id = %d\nversion = %d\npriority = %d\nadvert_int = %q\n",
		in.name(), in.Iface(), in.VRID, in.Version, in.Priority, in.Interval.String())
	vips := make([]string, len(in.VIPs))
	for i, p := range in.VIPs {
		vips[i] = fmt.Sprintf("%q", p.String())
	}
	fmt.Fprintf(&b, "virtual_ipaddress = [%s]\n", strings.Join(vips, ", "))
	if in.AuthPass != "" {
		fmt.Fprintf(&b, "auth_pass = %q\n", in.AuthPass)
	}
	if in.UnicastSrc.IsValid() {
		fmt.Fprintf(&b, "unicast_src_ip = %q\n", in.UnicastSrc.String())
	}
	if len(in.UnicastPeers) > 0 {
		peers := make([]string, len(in.UnicastPeers))
		for i, p := range in.UnicastPeers {
			peers[i] = fmt.Sprintf("%q", p.String())
		}
		fmt.Fprintf(&b, "unicast_peer = [%s]\n", strings.Join(peers, ", "))
	}
	if in.OldUnicastChecksum != "" {
		fmt.Fprintf(&b, "old_unicast_checksum = %q\n", in.OldUnicastChecksum)
	}
	return b.String()
}

// KeepalivedConf is the instance as a keepalived 2.2 configuration file, in the shape of
// ../../../vrrp/testdata/keepalived/*.conf. Both nodes start as BACKUP, as in every
// hadirector configuration: the election, not the file, decides who is master.
func (in Instance) KeepalivedConf(routerID string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n    router_id %s\n    vrrp_version %d\n", routerID, in.Version)
	if in.Realtime {
		fmt.Fprintf(&b, "    vrrp_rt_priority %d\n    vrrp_no_swap\n", RealtimePriority)
		if in.KeepalivedRTTime > 0 {
			fmt.Fprintf(&b, "    vrrp_rlimit_rttime %d\n", in.KeepalivedRTTime)
		}
	}
	if in.FIFO != "" {
		fmt.Fprintf(&b, "    vrrp_notify_fifo %s\n", in.FIFO)
	}
	if in.GARPMasterDelay > 0 {
		fmt.Fprintf(&b, "    vrrp_garp_master_delay %d\n", int(in.GARPMasterDelay/time.Second))
	}
	b.WriteString("}\n\n")
	fmt.Fprintf(&b, "vrrp_instance %s {\n    state BACKUP\n    interface %s\n    virtual_router_id %d\n    priority %d\n    advert_int %s\n",
		in.name(), in.Iface(), in.VRID, in.Priority, keepalivedSeconds(in.Interval))
	if in.AuthPass != "" {
		fmt.Fprintf(&b, "    authentication {\n        auth_type PASS\n        auth_pass %s\n    }\n", in.AuthPass)
	}
	switch in.OldUnicastChecksum {
	case "send":
		b.WriteString("    old_unicast_checksum\n")
	case "never":
		b.WriteString("    old_unicast_checksum never\n")
	}
	if in.UnicastSrc.IsValid() {
		fmt.Fprintf(&b, "    unicast_src_ip %s\n", in.UnicastSrc)
	}
	if len(in.UnicastPeers) > 0 {
		b.WriteString("    unicast_peer {\n")
		for _, p := range in.UnicastPeers {
			fmt.Fprintf(&b, "        %s\n", p)
		}
		b.WriteString("    }\n")
	}
	b.WriteString("    virtual_ipaddress {\n")
	for _, p := range in.VIPs {
		fmt.Fprintf(&b, "        %s\n", p)
	}
	b.WriteString("    }\n}\n")
	return b.String()
}

// keepalivedSeconds writes a duration as keepalived's decimal seconds (1, 0.1, 0.01).
func keepalivedSeconds(d time.Duration) string {
	s := fmt.Sprintf("%.3f", d.Seconds())
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
