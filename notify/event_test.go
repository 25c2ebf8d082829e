package notify

import (
	"net/netip"
	"slices"
	"testing"
)

var (
	vs4 = netip.MustParseAddrPort("192.0.2.100:80")
	rs4 = netip.MustParseAddrPort("198.51.100.11:80")
	vs6 = netip.MustParseAddrPort("[2001:db8::100]:443")
	rs6 = netip.MustParseAddrPort("[2001:db8::11]:8443")
)

func TestFIFOLine(t *testing.T) {
	for _, tc := range []struct {
		ev   Event
		want string
	}{
		{Event{Kind: Instance, Name: "VI_1", State: Master, Priority: 100}, "INSTANCE \"VI_1\" MASTER 100\n"},
		{Event{Kind: Instance, Name: "VI_1", State: Stop, Priority: 0}, "INSTANCE \"VI_1\" STOP 0\n"},
		// keepalived always reports priority 0 for a group.
		{Event{Kind: Group, Name: "VG_1", State: Backup, Priority: 50}, "GROUP \"VG_1\" BACKUP 0\n"},
		{Event{Kind: RealServer, State: Up, VirtualServer: vs4, RealServer: rs4}, "RS [198.51.100.11]:tcp:80 [192.0.2.100]:tcp:80 UP\n"},
		{Event{Kind: RealServer, State: Down, VirtualServer: vs6, RealServer: rs6, Protocol: "udp"}, "RS [2001:db8::11]:udp:8443 [2001:db8::100]:udp:443 DOWN\n"},
		{Event{Kind: RealServer, State: Down, FWMark: 7, RealServer: rs4}, "RS [198.51.100.11]:tcp:80 FWM 7 DOWN\n"},
		{Event{Kind: BGP, Name: "203.0.113.10/32", State: Announce}, "BGP \"203.0.113.10/32\" ANNOUNCE 0\n"},
		{Event{Kind: Quorum, State: Down, VirtualServer: vs4, Protocol: "udp"}, "VS [192.0.2.100]:udp:80 DOWN\n"},
		{Event{Kind: Quorum, State: Up, FWMark: 7}, "VS FWM 7 UP\n"},
	} {
		if got := string(tc.ev.fifoLine()); got != tc.want {
			t.Errorf("fifoLine(%+v) = %q, want %q", tc.ev, got, tc.want)
		}
	}
}

func TestAppendedArgs(t *testing.T) {
	inst := Event{Kind: Instance, Name: "VI_1", State: Fault, Priority: 90}
	grp := Event{Kind: Group, Name: "VG_1", State: Master, Priority: 90}
	rs := Event{Kind: RealServer, State: Up, VirtualServer: vs4, RealServer: rs4}
	fw := Event{Kind: RealServer, State: Down, FWMark: 7, RealServer: rs6}
	for _, tc := range []struct {
		ev      Event
		generic bool
		want    []string
	}{
		{inst, false, nil},
		{inst, true, []string{"INSTANCE", "VI_1", "FAULT", "90"}},
		{grp, false, nil},
		{grp, true, []string{"GROUP", "VG_1", "MASTER", "0"}},
		{rs, false, []string{"REALSERVER", "192.0.2.100:80", "198.51.100.11:80", "UP"}},
		{fw, false, []string{"REALSERVER", "fwmark:7", "[2001:db8::11]:8443", "DOWN"}},
		{Event{Kind: BGP, Name: "203.0.113.10/32", State: Announce}, false, []string{"BGP", "203.0.113.10/32", "ANNOUNCE"}},
		{Event{Kind: BGP, Name: "2001:db8::10/128", State: Withdraw}, true, []string{"BGP", "2001:db8::10/128", "WITHDRAW"}},
		{Event{Kind: Quorum, State: Up, VirtualServer: vs4}, false, nil},
	} {
		if got := tc.ev.appendedArgs(tc.generic); !slices.Equal(got, tc.want) {
			t.Errorf("appendedArgs(%v %s, generic=%v) = %q, want %q", tc.ev.Kind, tc.ev.State, tc.generic, got, tc.want)
		}
	}
}

func TestHookName(t *testing.T) {
	for _, tc := range []struct {
		st      State
		generic bool
		want    string
	}{{Master, false, "notify_master"}, {Stop, false, "notify_stop"}, {Down, false, "notify_down"}, {Backup, true, "notify"}} {
		ev := Event{State: tc.st}
		if got := (&Event{Kind: Quorum, State: tc.st}).hookName(false); tc.st == Down && got != "quorum_down" {
			t.Errorf("quorum hookName(%s) = %q, want quorum_down", tc.st, got)
		}
		if got := ev.hookName(tc.generic); got != tc.want {
			t.Errorf("hookName(%s, %v) = %q, want %q", tc.st, tc.generic, got, tc.want)
		}
	}
}

func TestCapped(t *testing.T) {
	var c capped
	for range 3 {
		c.Write(make([]byte, 2000))
	}
	if c.Len() != stderrMax || !c.truncated {
		t.Fatalf("capped kept %d bytes, truncated=%v", c.Len(), c.truncated)
	}
}
