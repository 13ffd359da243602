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

// TestCheckSharedFileName: only the secrets the nodes share, never a path
// out of data_dir or to another of its files.
func TestCheckSharedFileName(t *testing.T) {
	for _, name := range []string{"srs.key", "objectid.key", "dkim/example.org/postel-rsa.key", "dkim/example.org/postel-ed25519.key",
		"dkim/xn--bcher-kva.example/s1.2024.key", "dkim/a.b.c.example/x.key"} {
		if err := CheckSharedFileName(name); err != nil {
			t.Errorf("CheckSharedFileName(%q): %v", name, err)
		}
	}
	for _, name := range []string{"", "/srs.key", "./srs.key", "srs.key/", "postel.db", "tls/key.pem", "acme/account.key",
		"dkim", "dkim/example.org", "dkim/example.org/", "dkim/example.org/.key", "dkim/example.org/postel-rsa",
		"dkim/example.org/postel-rsa.pem", "dkim/../srs.key", "dkim/example.org/../../postel.db", "dkim/../example.org/x.key",
		"dkim/./x.key", "dkim/example..org/x.key", "dkim/Example.org/x.key", "dkim/localhost/x.key", "dkim/example.org/a/b.key",
		"dkim/example.org/.tmp-123.key", "dkim/example.org/-x.key", "dkim/example.org/x..y.key", "/dkim/example.org/x.key",
		"dkim//example.org/x.key", "dkim\\example.org\\x.key", "dkim/exämple.org/x.key", "dkim/example.org/x y.key"} {
		if err := CheckSharedFileName(name); !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckSharedFileName(%q) = %v, want ErrInvalid", name, err)
		}
	}
}
