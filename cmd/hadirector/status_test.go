package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hadirector/hadirector/bgp"
	"github.com/hadirector/hadirector/config"
	"github.com/hadirector/hadirector/director"
	"github.com/hadirector/hadirector/lvs"
)

// TestStatusShowsSyncDaemons: the text of `hadirector status` shows the connection-sync
// daemons (role, since when, what the kernel runs, errors), as the README says, not only
// the JSON.
func TestStatusShowsSyncDaemons(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	st := &director.Status{Mode: config.ModeVRRP, Now: now, Started: now.Add(-time.Minute), LVS: &director.LVSStatus{
		SyncDaemon: &director.SyncDaemonStatus{
			Instance: "VI_1", Role: "master", Since: now.Add(-42 * time.Second),
			Running:  []lvs.SyncDaemon{{Role: lvs.SyncMaster, Interface: "sync0", SyncID: 51}},
			Switches: 3, Errors: 1, LastError: "start backup daemon: no such device",
		},
	}}
	var b strings.Builder
	printStatus(&b, st)
	out := b.String()
	for _, want := range []string{
		"connection sync for VI_1: role master for 42s",
		"the kernel runs master on sync0 (sync_id 51)",
		"3 switch(es), 1 error(s), last error: start backup daemon: no such device",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status text lacks %q:\n%s", want, out)
		}
	}
}

// TestStatusShowsBGP: the text of `hadirector status` shows each BGP peer and each VIP with
// the reason it is not announced.
func TestStatusShowsBGP(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	st := &director.Status{Mode: config.ModeStandalone, Now: now, Started: now.Add(-time.Minute), BGP: &director.BGPStatus{
		ASN: 64513, RouterID: netip.MustParseAddr("192.0.2.1"),
		Peers: []bgp.PeerStatus{{Address: netip.MustParseAddr("192.0.2.254"), ASN: 64512, State: "established", Up: true, Since: now.Add(-90 * time.Second), Flaps: 2}},
		VIPs: []director.BGPVIPStatus{
			{Prefix: netip.MustParsePrefix("203.0.113.10/32"), Mode: "ecmp", Announced: true, Since: now.Add(-time.Minute)},
			{Prefix: netip.MustParsePrefix("203.0.113.11/32"), Mode: "ecmp", Reason: bgp.ReasonTracker, Since: now.Add(-5 * time.Second)},
		},
	}}
	var b strings.Builder
	printStatus(&b, st)
	out := b.String()
	for _, want := range []string{
		"BGP: AS 64513, router id 192.0.2.1; 0 announcement(s), 0 withdrawal(s)",
		"192.0.2.254      64512  established  1m30s     2",
		"203.0.113.10/32  ecmp   yes          1m0s",
		"203.0.113.11/32  ecmp   no           5s        " + bgp.ReasonTracker,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status text lacks %q:\n%s", want, out)
		}
	}
}
