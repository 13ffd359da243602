package store

import (
	"errors"
	"testing"
)

// TestParseRights: the rights strings IMAP SETACL and postel mailbox
// share take: letters of ACLRights in any order, repeated or not, and the
// obsolete c (k and x) and d (t and e) of RFC 4314 §2.1.1; anything else
// is ErrInvalid.
func TestParseRights(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"rl", "lr"},
		{"lrswipkxtea", "lrswipkxtea"},
		{"aetxkpiwsrl", "lrswipkxtea"},
		{"llrr", "lr"},
		{"c", "kx"},
		{"d", "te"},
		{"lrcd", "lrkxte"},
		{"xc", "kx"},
	} {
		got, err := ParseRights(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseRights(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"L", "lr ", "+lr", "-w", "lrz", "é", "anyone"} {
		if got, err := ParseRights(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseRights(%q) = %q, %v; want ErrInvalid", in, got, err)
		}
	}
}
