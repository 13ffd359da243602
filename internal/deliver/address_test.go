package deliver

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{in: "alice@example.org", want: "alice@example.org"},
		{in: "Alice@Example.ORG", want: "alice@example.org"},
		{in: "alice+tag@example.org", want: "alice+tag@example.org"},
		{in: `"a@b"@example.org`, want: `"a@b"@example.org`},
		{in: "user@[192.0.2.1]", want: "user@[192.0.2.1]"},
		{in: "Jörg@Bücher.example", want: "jörg@bücher.example"},
		{in: "x@sub_domain.example", want: "x@sub_domain.example"},
		{in: "", err: true},
		{in: "alice", err: true},
		{in: "@example.org", err: true},
		{in: "alice@", err: true},
		{in: "alice@example..org", err: true},
		{in: "alice@example.org.", err: true},
		{in: "alice@exa mple.org", err: true},
		{in: "ali\x00ce@example.org", err: true},
		{in: "alice@ex\x7fample.org", err: true},
		{in: "alice@\xff.org", err: true},
		{in: strings.Repeat("a", 65) + "@example.org", err: true},
		{in: "a@" + strings.Repeat("b", 64) + ".org", err: true},
		{in: "a@[]", err: true},
		{in: "a@[1.2.3.4", err: true},
	}
	for _, tc := range tests {
		got, err := Normalize(tc.in)
		if tc.err {
			if !errors.Is(err, ErrBadAddress) {
				t.Errorf("Normalize(%q) = %q, %v; want ErrBadAddress", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestBaseAddress(t *testing.T) {
	tests := []struct {
		local, want string
		ok          bool
	}{
		{"alice+tag", "alice@d", true},
		{"alice+", "alice@d", true},
		{"alice+a+b", "alice@d", true},
		{"alice", "", false},
		{"+tag", "", false},
		{`"alice+tag"`, "", false},
	}
	for _, tc := range tests {
		got, ok := baseAddress(tc.local, "d")
		if got != tc.want || ok != tc.ok {
			t.Errorf("baseAddress(%q) = %q, %v; want %q, %v", tc.local, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzAddress checks that normalization never panics, is idempotent, and
// that its result always splits back into the same parts.
func FuzzAddress(f *testing.F) {
	for _, s := range []string{
		"alice@example.org", "Alice+Tag@EXAMPLE.org", `"q@x"@example.org`, "a@[IPv6:::1]",
		"Jörg@Bücher.example", "@x", "x@", "", "a@b@c", "\xff@\xfe", "İ@K.example",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		n, err := Normalize(addr)
		if err != nil {
			if !errors.Is(err, ErrBadAddress) {
				t.Fatalf("Normalize(%q): unexpected error %v", addr, err)
			}
			return
		}
		n2, err := Normalize(n)
		if err != nil || n2 != n {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", addr, n, n2, err)
		}
		local, domain, err := split(n)
		if err != nil || local+"@"+domain != n {
			t.Fatalf("split(%q) = %q, %q, %v", n, local, domain, err)
		}
		if base, ok := baseAddress(local, domain); ok {
			if !strings.HasSuffix(base, "@"+domain) || len(base) >= len(n) {
				t.Fatalf("baseAddress(%q) = %q", n, base)
			}
		}
	})
}
