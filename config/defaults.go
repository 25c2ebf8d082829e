package config

import (
	"os"
	"time"
)

// Defaults. Where config-reference.toml shows a value that is not marked
// "example" it is the default and is copied here. Where the reference only
// shows an example, the default follows keepalived or, failing that, what is
// safe:
//
//   - vrrp_script: interval 2s, timeout 1s, weight 0 (failure = FAULT, as in
//     keepalived), rise 2, fall 2. keepalived uses rise 1 / fall 1; two
//     consecutive results in either direction avoid flapping on one slow run.
//   - vrrp_instance: version 3, priority 100, advert_int 1s, accept true,
//     preempt_delay 0s; name, interface, virtual_router_id and at least one
//     virtual_ipaddress are required.
//   - virtual_server: protocol "tcp", scheduler "wlc" (ipvsadm's default),
//     forwarding "dr", persistence off, quorum 1, hysteresis 0.
//   - real_server: weight 1.
//   - lvs.sync_daemon: the kernel's defaults (group 224.0.0.81, port 8848, ttl 1, max_len
//     from the MTU); sync_id is the followed instance's VRID; instance may be left out
//     when the file has one instance; on_backup defaults to "keep" when the table is
//     present (synced connection entries need the services on the backup, see README).
//   - check: no default type (it must be set by the real server's or the
//     virtual server's check; type = "" counts as not set); method GET, path "/", expect_status [200],
//     tls_verify true, interval 2s, timeout 3s, rise 1, fall 3.
//   - global.router_id: the host name, "hadirector" when it is unknown.
//   - global.garp_master_repeat must be at least 1: announcing a new master
//     is what moves traffic, so it cannot be switched off; delay and refresh
//     0 do switch off the second and the periodic bursts.

const defaultRouterID = "hadirector"

// defaulter is implemented by the pointer of every schema type that has
// defaults, so the decoder can fill a fresh element before decoding into it.
type defaulter interface{ setDefaults() }

func (c *Config) setDefaults() {
	c.Global.setDefaults()
	c.LVS.setDefaults()
}

// DefaultStatusSocket is global.status_socket's default; `hadirector status` uses it when
// there is no configuration file to read.
const DefaultStatusSocket = "/run/hadirector/hadirector.sock"

func (g *Global) setDefaults() {
	g.StatusSocket = DefaultStatusSocket
	g.LogLevel = "info"
	g.LogFormat = "text"
	g.NotifyTimeout = Duration(30 * time.Second)
	g.ScriptUser = "root"
	g.EnableScriptSecurity = true
	g.GARPMasterDelay = Duration(5 * time.Second)
	g.GARPMasterRepeat = 5
}

func (s *VRRPScript) setDefaults() {
	s.Interval = Duration(2 * time.Second)
	s.Timeout = Duration(time.Second)
	s.Rise = 2
	s.Fall = 2
}

func (f *TrackFile) setDefaults() {
	f.Weight = 1
}

func (in *Instance) setDefaults() {
	in.Version = 3
	in.Priority = 100
	in.AdvertInt = Duration(time.Second)
	in.Accept = true
	in.OldUnicastChecksum = "reject"
	in.NARouter = "auto"
}

func (l *LVS) setDefaults() {
	l.OnBackup = "withdraw"
	l.ReconcileInterval = Duration(30 * time.Second)
	l.SysctlIPForward, l.SysctlExpireNodestConn, l.SysctlExpireQuiescentTemplate, l.SysctlConntrack = "auto", "auto", "auto", "auto"
	l.SysctlSloppyTCP, l.SysctlSloppySCTP = "auto", "auto"
}

func (s *SyncDaemon) setDefaults() {
	s.Port = 8848
	s.TTL = 1
}

func (vs *VirtualServer) setDefaults() {
	vs.Protocol = "tcp"
	vs.Scheduler = "wlc"
	vs.Forwarding = "dr"
	vs.Quorum = 1
}

func (rs *RealServer) setDefaults() {
	rs.Weight = 1
}

func (c *Check) setDefaults() {
	c.Method = "GET"
	c.Path = "/"
	c.ExpectStatus = []int{200}
	c.TLSVerify = true
	c.Interval = Duration(2 * time.Second)
	c.Timeout = Duration(3 * time.Second)
	c.Rise = 1
	c.Fall = 3
}

func hostname() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return defaultRouterID
}
