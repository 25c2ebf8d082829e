package lvs

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
)

func TestSetSyncRoleSwapsWithoutGap(t *testing.T) {
	f := &FakeSyncDaemons{}
	backup := SyncDaemon{Role: SyncBackup, Interface: "sync0", SyncID: 51}
	master := backup
	master.Role = SyncMaster

	if _, err := SetSyncRole(f, backup); err != nil {
		t.Fatal(err)
	}
	if got := f.Calls(); !slices.Equal(got, []string{"start backup"}) {
		t.Errorf("first start: calls %q", got)
	}
	// Becoming master: the master daemon starts before the backup daemon stops.
	changes, err := SetSyncRole(f, master)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Calls(); !slices.Equal(got, []string{"start master", "stop backup"}) {
		t.Errorf("swap to master: calls %q, want start before stop", got)
	}
	if len(changes) != 2 {
		t.Errorf("changes %q", changes)
	}
	// Idempotent: nothing to do the second time.
	if changes, err := SetSyncRole(f, master); err != nil || len(changes) != 0 || len(f.Calls()) != 0 {
		t.Errorf("repeat: changes %q, err %v", changes, err)
	}
	// Changed settings restart the daemon of that role.
	master.SyncID = 52
	if _, err := SetSyncRole(f, master); err != nil {
		t.Fatal(err)
	}
	if got := f.Calls(); !slices.Equal(got, []string{"stop master", "start master"}) {
		t.Errorf("restart: calls %q", got)
	}
	running, _ := f.Daemons()
	if len(running) != 1 || running[0].SyncID != 52 {
		t.Errorf("running %+v", running)
	}
	stopped, err := StopSyncDaemons(f)
	if err != nil || !slices.Equal(stopped, []SyncRole{SyncMaster}) {
		t.Errorf("stop all: %v %v", stopped, err)
	}
	if err := f.StartDaemon(backup); err != nil {
		t.Fatal(err)
	}
	if err := f.StartDaemon(backup); !errors.Is(err, ErrExists) {
		t.Errorf("second start of one role: %v, want ErrExists", err)
	}
}

func TestSyncDaemonSame(t *testing.T) {
	want := SyncDaemon{Role: SyncBackup, Interface: "eth1", SyncID: 7}
	// What the kernel reports for it: its defaults, and a max length from the MTU.
	kernel := SyncDaemon{Role: SyncBackup, Interface: "eth1", SyncID: 7, MaxLen: 1472,
		Group: netip.MustParseAddr("224.0.0.81"), Port: 8848, TTL: 1}
	if !want.Same(kernel) {
		t.Errorf("%s should be the same as %s", want, kernel)
	}
	for _, mod := range []func(*SyncDaemon){
		func(s *SyncDaemon) { s.MaxLen = 1000 },
		func(s *SyncDaemon) { s.Port = 8849 },
		func(s *SyncDaemon) { s.TTL = 2 },
		func(s *SyncDaemon) { s.Group = netip.MustParseAddr("239.1.1.1") },
		func(s *SyncDaemon) { s.Interface = "eth2" },
		func(s *SyncDaemon) { s.SyncID = 8 },
	} {
		w := want
		mod(&w)
		if w.Same(kernel) {
			t.Errorf("%s should differ from %s", w, kernel)
		}
	}
}
