package kaformat

import (
	"bytes"
	"testing"
)

func TestHex(t *testing.T) {
	for _, tc := range []struct {
		in         string
		wild       bool
		data, mask []byte
		bad        bool
	}{
		{in: "0a0B ff", data: []byte{0x0a, 0x0b, 0xff}},
		{in: "1 2\t34", data: []byte{1, 2, 0x34}},
		{in: "4x x5", wild: true, data: []byte{0x40, 0x05}, mask: []byte{0x0f, 0xf0}},
		{in: "4x", bad: true},
		{in: "zz", bad: true},
		{in: "  ", bad: true},
	} {
		data, mask, err := Hex(tc.in, tc.wild)
		if (err != nil) != tc.bad || !bytes.Equal(data, tc.data) || !bytes.Equal(mask, tc.mask) {
			t.Errorf("Hex(%q, %v) = %x, %x, %v; want %x, %x, error %v", tc.in, tc.wild, data, mask, err, tc.data, tc.mask, tc.bad)
		}
	}
}
