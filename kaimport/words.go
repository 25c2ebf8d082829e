package kaimport

import (
	"errors"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// splitShell splits a string the way keepalived reads script command lines
// (alloc_strvec_quoted_escaped): words separated by blanks, '…' and "…"
// quote (quotes removed, blanks kept), and a backslash escapes as in C
// (\n, \t, \x41, \101, \cX, …) inside and outside quotes.
func splitShell(s string) ([]string, error) {
	var words []string
	i := 0
	for {
		for i < len(s) && strings.IndexByte(blanks, s[i]) >= 0 {
			i++
		}
		if i >= len(s) {
			return words, nil
		}
		var w []byte
		var quote byte
		for i < len(s) {
			c := s[i]
			switch {
			case c == '\\':
				if i+1 >= len(s) {
					return nil, errors.New("backslash at the end")
				}
				var ch byte
				ch, i = unescape(s, i+1)
				w = append(w, ch)
				continue
			case quote != 0 && c == quote:
				quote = 0
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
			case quote == 0 && strings.IndexByte(blanks, c) >= 0:
				goto word
			default:
				w = append(w, c)
			}
			i++
		}
	word:
		if quote != 0 {
			return nil, errors.New("missing closing " + string(quote))
		}
		words = append(words, string(w))
	}
}

// unescape decodes the escape starting at s[i] (just after the backslash) and
// returns the byte and the index after the escape.
func unescape(s string, i int) (byte, int) {
	c := s[i]
	switch {
	case c == 'x' && i+1 < len(s) && isHex(s[i+1]):
		var v byte
		i++
		for i < len(s) && isHex(s[i]) {
			v = v<<4 | hexVal(s[i])
			i++
		}
		return v, i
	case c == 'c' && i+1 < len(s):
		return s[i+1] & 0x1f, i + 2
	case '0' <= c && c <= '7':
		v := c - '0'
		i++
		for n := 0; n < 2 && i < len(s) && '0' <= s[i] && s[i] <= '7'; n++ {
			v = v<<3 + (s[i] - '0')
			i++
		}
		return v, i
	}
	switch c {
	case 'a':
		c = '\a'
	case 'b':
		c = '\b'
	case 'E':
		c = 0x1b
	case 'f':
		c = '\f'
	case 'n':
		c = '\n'
	case 'r':
		c = '\r'
	case 't':
		c = '\t'
	case 'v':
		c = '\v'
	}
	return c, i + 1
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func hexVal(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// joinCommand writes argv as a command line that internal/cmdline.Split splits
// back into the same words: plain words stay bare, anything else is
// single-quoted (so shell operators become ordinary arguments, as they are
// for keepalived, which does not use a shell either).
func joinCommand(argv []string) string {
	var b strings.Builder
	for i, w := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if w != "" && strings.Trim(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-") == "" {
			b.WriteString(w)
			continue
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(w, "'", `'\''`))
		b.WriteByte('\'')
	}
	return b.String()
}

// parseUint reads a decimal integer in lo..hi, as keepalived's read_unsigned
// (leading blanks allowed, no sign).
func parseUint(s string, lo, hi int) (int, bool) {
	s = strings.TrimLeft(s, blanks)
	if s == "" || s[0] == '-' || s[0] == '+' {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n < uint64(lo) || n > uint64(hi) {
		return 0, false
	}
	return int(n), true
}

// parseInt reads a signed decimal integer in lo..hi.
func parseInt(s string, lo, hi int) (int, bool) {
	n, err := strconv.ParseInt(strings.TrimLeft(s, blanks), 10, 32)
	if err != nil || n < int64(lo) || n > int64(hi) {
		return 0, false
	}
	return int(n), true
}

// parseTimer reads keepalived's <TIMER>: seconds with up to six decimals, at
// most max.
func parseTimer(s string, max time.Duration) (time.Duration, bool) {
	if s == "" || s[0] == '-' || s[0] == '+' {
		return 0, false
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" {
		return 0, false
	}
	if len(frac) > 6 || strings.Trim(whole+frac, "0123456789") != "" {
		return 0, false
	}
	if len(whole) > 9 {
		return 0, false
	}
	w, _ := strconv.ParseInt("0"+whole, 10, 64)
	f, _ := strconv.ParseInt((frac + "000000")[:6], 10, 64)
	d := time.Duration(w)*time.Second + time.Duration(f)*time.Microsecond
	if d > max {
		return 0, false
	}
	return d, true
}

// parseBool reads keepalived's <BOOL>.
func parseBool(s string) (bool, bool) {
	switch s {
	case "on", "true", "yes":
		return true, true
	case "off", "false", "no":
		return false, true
	}
	return false, false
}

// parseAddr reads an IP address the way it can be written in hadirector's
// schema: no zone, no IPv4-mapped IPv6.
func parseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Is4In6() {
		return netip.Addr{}, false
	}
	return a, true
}

// parsePort reads a port (0..65535).
func parsePort(s string) (int, bool) { return parseUint(s, 0, math.MaxUint16) }

// formatDuration writes a duration the way operators read them: "6s",
// "100ms", "2.5s".
func formatDuration(d time.Duration) string {
	switch {
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d < time.Second && d%time.Millisecond == 0:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}
