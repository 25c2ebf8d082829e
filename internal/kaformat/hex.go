package kaformat

import "fmt"

// Hex reads keepalived's hex strings (UDP_CHECK payload and require_reply): pairs of
// hex digits, spaces and tabs between them ignored, a lone digit before a space or the end
// one byte. With wildcards, x or X is a nibble that matches anything: its bits are set in
// mask (nil when there is none).
func Hex(s string, wildcards bool) (data, mask []byte, err error) {
	nibble := func(c byte) (v, m byte, ok bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', 0, true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, 0, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, 0, true
		case wildcards && (c == 'x' || c == 'X'):
			return 0, 0xf, true
		}
		return 0, 0, false
	}
	masked := false
	for i := 0; i < len(s); {
		if s[i] == ' ' || s[i] == '\t' {
			i++
			continue
		}
		v, m, ok := nibble(s[i])
		if !ok {
			return nil, nil, fmt.Errorf("hex %q: bad digit %q at offset %d", s, s[i], i)
		}
		i++
		if i < len(s) && s[i] != ' ' && s[i] != '\t' {
			v2, m2, ok := nibble(s[i])
			if !ok {
				return nil, nil, fmt.Errorf("hex %q: bad digit %q at offset %d", s, s[i], i)
			}
			i++
			v, m = v<<4|v2, m<<4|m2
		}
		data = append(data, v)
		mask = append(mask, m)
		masked = masked || m != 0
	}
	if len(data) == 0 {
		return nil, nil, fmt.Errorf("hex %q: no bytes", s)
	}
	if !masked {
		mask = nil
	}
	return data, mask, nil
}
