package store

import (
	"errors"
	"strings"
	"testing"
)

func TestCanonicalJunkPattern(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Example.COM", "example.com"},
		{"example.com.", "example.com"},
		{"@Example.com", "example.com"},
		{" com ", "com"},
		{"Bob@Example.COM", "bob@example.com"},
		{"bücher.example", "xn--bcher-kva.example"},
		{"Jörg@BÜCHER.example", "jörg@xn--bcher-kva.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{`"odd@local"@example.com`, ""}, // quotes are refused
		{"", ""},
		{"@", ""},
		{"bob@", ""},
		{"*.example.com", ""},
		{"exa mple.com", ""},
		{"a\x00b.example", ""},
		{"bob@[192.0.2.1]", ""},
		{"bob(c)@example.com", ""},
		{"\xffbob@example.com", ""},
		{"ex_ample.com", ""},
		{strings.Repeat("a", 64) + ".example", ""},
		{strings.Repeat("l", 310) + "@example.com", ""},
	} {
		got, err := CanonicalJunkPattern(c.in)
		if c.want == "" {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("CanonicalJunkPattern(%q) = %q, %v; want ErrInvalid", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("CanonicalJunkPattern(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	// A sender is an address, never a bare domain.
	if got, err := CanonicalSender("example.com"); !errors.Is(err, ErrInvalid) {
		t.Errorf("CanonicalSender(domain) = %q, %v", got, err)
	}
	if got, err := CanonicalSender("Bob@Bücher.Example."); err != nil || got != "bob@xn--bcher-kva.example" {
		t.Errorf("CanonicalSender = %q, %v", got, err)
	}
}
