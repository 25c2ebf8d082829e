package config

import (
	"fmt"
	"time"
)

// Duration is a time.Duration written in the file as a string such as "1s" or
// "100ms" (time.ParseDuration syntax), which is what keepalived users expect
// to read instead of a bare number of unknown unit.
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q: want a number with a unit, such as \"1s\" or \"100ms\"", text)
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler, so a Config encodes back to
// the same notation.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(time.Duration(d).String()), nil
}

// String returns the time.Duration notation, e.g. "1.5s".
func (d Duration) String() string { return time.Duration(d).String() }

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }
