package director

import "testing"

// TestTrackFileEffect: keepalived 2.2.7's track file semantics (track_file.c,
// process_update_vrrp_track_file_status): weight 0 means FAULT on any non-zero
// number; otherwise number × weight within -254..253, and -254 means FAULT.
func TestTrackFileEffect(t *testing.T) {
	for _, tc := range []struct {
		v     int64
		w     int
		delta int
		fault bool
	}{
		{0, 0, 0, false},
		{1, 0, 0, true},
		{-3, 0, 0, true},
		{-60, 1, -60, false},
		{5, -10, -50, false},
		{-253, 1, -253, false},
		{-254, 1, 0, true}, // keepalived's documented way to force FAULT
		{-2, 200, 0, true},
		{1000, 1, 253, false},
		{1 << 31, 254, 253, false},
		{-(1 << 31), 254, 0, true},
	} {
		delta, fault := trackFileEffect(tc.v, tc.w, false)
		if delta != tc.delta || fault != tc.fault {
			t.Errorf("trackFileEffect(%d, %d) = %d, %v; want %d, %v", tc.v, tc.w, delta, fault, tc.delta, tc.fault)
		}
	}
}

// TestParseTrackFile: the file is read as keepalived reads it (strtol base 0).
func TestParseTrackFile(t *testing.T) {
	for _, tc := range []struct {
		in string
		v  int64
		ok bool
	}{
		{"", 0, true},
		{"0\n", 0, true},
		{"-60\n", -60, true},
		{"  +7", 7, true},
		{"5 # maintenance\n", 5, true},
		{"12abc", 12, true},
		{"abc", 0, true},
		{"0x10", 16, true},
		{"-0x10", -16, true},
		{"010", 8, true},
		{"08", 0, true},
		{"0x", 0, true},
		{"2147483648", 1 << 31, true},
		{"-2147483648", -(1 << 31), true},
		{"2147483649", 0, false},
		{"-2147483649", 0, false},
		{"99999999999999999999999", 0, false},
	} {
		v, ok := parseTrackFile([]byte(tc.in))
		if v != tc.v || ok != tc.ok {
			t.Errorf("parseTrackFile(%q) = %d, %v; want %d, %v", tc.in, v, ok, tc.v, tc.ok)
		}
	}
}

// TestTrackEffect: keepalived's rule for a tracked interface or script, reverse included.
func TestTrackEffect(t *testing.T) {
	for _, tc := range []struct {
		ok      bool
		w       int
		reverse bool
		delta   int
		fault   bool
	}{
		{ok: true, w: 0}, {ok: false, w: 0, fault: true},
		{ok: true, w: 0, reverse: true, fault: true}, {ok: false, w: 0, reverse: true},
		{ok: true, w: 10, delta: 10}, {ok: false, w: 10},
		{ok: true, w: -10}, {ok: false, w: -10, delta: -10},
		{ok: true, w: 10, reverse: true, delta: -10}, {ok: false, w: 10, reverse: true},
		{ok: true, w: -10, reverse: true}, {ok: false, w: -10, reverse: true, delta: 10},
	} {
		delta, fault := trackEffect(tc.ok, tc.w, tc.reverse)
		if delta != tc.delta || fault != tc.fault {
			t.Errorf("trackEffect(%v, %d, %v) = %d, %v; want %d, %v", tc.ok, tc.w, tc.reverse, delta, fault, tc.delta, tc.fault)
		}
	}
}

// TestTrackFileEffectReverse: reverse negates the product, and with weight 0 makes 0 the
// FAULT value (keepalived 2.2.7 vrrp_track.c).
func TestTrackFileEffectReverse(t *testing.T) {
	for _, tc := range []struct {
		v     int64
		w     int
		delta int
		fault bool
	}{{v: 0, w: 0, fault: true}, {v: 3, w: 0}, {v: 3, w: 2, delta: -6}, {v: -3, w: 2, delta: 6}, {v: 200, w: 2, fault: true}} {
		delta, fault := trackFileEffect(tc.v, tc.w, true)
		if delta != tc.delta || fault != tc.fault {
			t.Errorf("trackFileEffect(%d, %d, reverse) = %d, %v; want %d, %v", tc.v, tc.w, delta, fault, tc.delta, tc.fault)
		}
	}
}
