package config

import (
	"fmt"
	"strings"
	"time"
)

// Duration is a time.Duration written in TOML as a string such as "250ms",
// "30s", "5m" or "1h30m" (the syntax of time.ParseDuration).
type Duration time.Duration

// maxDurationText bounds the text UnmarshalText looks at.
const maxDurationText = 64

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(text []byte) error {
	if len(text) > maxDurationText {
		return fmt.Errorf("invalid duration: longer than %d characters", maxDurationText)
	}
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q: want a number with a unit, such as \"30s\", \"5m\" or \"1h\"", text)
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler. It writes the shortest form
// time.ParseDuration reads back: "5m" rather than "5m0s".
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// String returns the duration as in MarshalText.
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
