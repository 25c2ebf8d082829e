package lvs

import (
	"net/netip"
	"testing"
)

// The kernel answers GET_DAEMON with the same nest NEW_DAEMON takes: what is encoded
// decodes to the same daemon.
func TestDaemonAttrsRoundTrip(t *testing.T) {
	for _, s := range []SyncDaemon{
		{Role: SyncMaster, Interface: "sync0", SyncID: 51},
		{Role: SyncBackup, Interface: "eth1", SyncID: 255, MaxLen: 1400, Group: netip.MustParseAddr("239.0.0.81"), Port: 9000, TTL: 3},
		{Role: SyncBackup, Interface: "eth1", SyncID: 1, Group: netip.MustParseAddr("ff02::8")},
	} {
		b, err := encodeDaemon(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		got, err := parseDaemon(b)
		if err != nil || got != s {
			t.Errorf("round trip: got %+v (%v), want %+v", got, err, s)
		}
	}
	for _, bad := range []SyncDaemon{
		{Role: 3, Interface: "eth1"},
		{Role: SyncMaster},
		{Role: SyncMaster, Interface: "a-very-long-interface-name"},
		{Role: SyncMaster, Interface: "eth1", Group: netip.MustParseAddr("192.0.2.1")},
		{Role: SyncMaster, Interface: "eth1", MaxLen: 70000},
	} {
		if b, err := encodeDaemon(bad); err == nil || len(b) != 0 {
			t.Errorf("%+v: encoded (%d bytes, err %v), want an error and nothing", bad, len(b), err)
		}
	}
}
