// Package kaformat reads values as keepalived writes them (numbers as C's strtol reads
// them, UDP_CHECK's hex strings, DNS_CHECK's type names), so that a file or configuration
// written for keepalived means the same here. Its own package, so that config, the checkers
// and the director share one reading without importing one another.
package kaformat

import (
	"math"
	"strconv"
	"strings"
)

// Long reads s as C's strtol(s, NULL, 0) does in the C locale: leading white space
// (" \t\n\v\f\r"), an optional sign, then decimal, 0x hexadecimal or 0 octal digits up to
// the first character that is not one; no digits reads as 0. ok is false when the number
// does not fit 64 bits (where strtol would clamp and set ERANGE).
func Long(s string) (v int64, ok bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	base := 10
	switch {
	case len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && isDigit(s[2], 16):
		base, s = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base = 8
	}
	end := 0
	for end < len(s) && isDigit(s[end], base) {
		end++
	}
	if end == 0 {
		return 0, true
	}
	u, err := strconv.ParseUint(s[:end], base, 64)
	switch {
	case err != nil || u > 1<<63:
		return 0, false
	case neg:
		return -int64(u), true // -(1<<63) wraps to MinInt64, which is right
	case u > math.MaxInt64:
		return 0, false
	}
	return int64(u), true
}

func isDigit(c byte, base int) bool {
	switch {
	case c >= '0' && c <= '9':
		return int(c-'0') < base
	case c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		return base == 16
	}
	return false
}
