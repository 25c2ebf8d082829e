package kaformat

import (
	"math"
	"testing"
)

func TestLong(t *testing.T) {
	for _, tc := range []struct {
		in string
		v  int64
		ok bool
	}{
		{"", 0, true},
		{"42", 42, true},
		{"  -7\n", -7, true},
		{"\v\f+3x", 3, true},
		{"5 # maintenance\n", 5, true},
		{"12abc", 12, true},
		{"junk", 0, true},
		{"0x1f", 31, true},
		{"0X10", 16, true},
		{"-0x10", -16, true},
		{"010", 8, true},
		{"09", 0, true}, // octal stops at 9
		{"0x", 0, true}, // "0", then x is not a digit
		{"0xg", 0, true},
		{"\u00a0" + "7", 0, true}, // not C white space
		{"-2147483648", math.MinInt32, true},
		{"9223372036854775807", math.MaxInt64, true},
		{"-9223372036854775808", math.MinInt64, true},
		{"9223372036854775808", 0, false},
		{"99999999999999999999", 0, false},
	} {
		if v, ok := Long(tc.in); v != tc.v || ok != tc.ok {
			t.Errorf("Long(%q) = %d, %v; want %d, %v", tc.in, v, ok, tc.v, tc.ok)
		}
	}
}
