package main

import (
	"strings"
	"testing"
	"time"

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
