package config

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzParse checks that no input makes Parse panic or hang, and that every
// configuration it accepts survives Encode and Parse unchanged.
func FuzzParse(f *testing.F) {
	f.Add([]byte(full))
	f.Add([]byte(""))
	f.Add([]byte("hostname = \"mail.example.org\"\n[smtp]\nread_timeout = \"1h30m\"\n"))
	f.Add([]byte("[imap]\nlisten = 1\n"))
	f.Add([]byte("shutdown_timeout = 30\n[listen]\nsmtp = \"[::1]:25\"\n"))
	f.Add([]byte("[[smtp]]\nmax_errors = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if c != nil {
				t.Fatalf("Parse returned a config with error %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := c.Encode(&buf); err != nil {
			t.Fatalf("Encode: %v", err)
		}
		back, err := Parse(buf.Bytes())
		if err != nil {
			t.Fatalf("Parse(Encode()): %v\n%s", err, buf.Bytes())
		}
		if !reflect.DeepEqual(*back, *c) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", *c, *back)
		}
	})
}
