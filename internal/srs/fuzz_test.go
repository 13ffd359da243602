package srs

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The fuzz targets use a fixed secret and time, so that the committed
// seeds made with them stay valid SRS addresses.
var (
	fuzzNow     = time.Unix(1700000000, 0)
	fuzzSecrets = [][]byte{[]byte("fuzzing secret, 16+ bytes"), []byte("an older fuzzing secret")}
)

const fuzzDomain = "our.example"

// FuzzReverse reverses arbitrary addresses: no panic, every error one of
// ours, and a result shorter than the address and itself an address.
func FuzzReverse(f *testing.F) {
	s, err := New(fuzzSecrets, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		got, err := s.Reverse(addr, fuzzNow)
		if err != nil {
			if !errors.Is(err, ErrNotSRS) && !errors.Is(err, ErrBadHash) && !errors.Is(err, ErrExpired) &&
				!errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLong) {
				t.Fatalf("Reverse(%q): unexpected error %v", addr, err)
			}
			return
		}
		if len(got) >= len(addr) {
			t.Fatalf("Reverse(%q) = %q, not shorter", addr, got)
		}
		if _, _, err := split(got); err != nil {
			t.Fatalf("Reverse(%q) = %q: %v", addr, got, err)
		}
	})
}

// FuzzForwardReverse forwards arbitrary addresses and reverses the result:
// the original comes back (for an SRS1 address, the first forwarder's SRS0
// address, by design; an SRS prefix in upper case), also when the local
// part was lower-cased on the way.
func FuzzForwardReverse(f *testing.F) {
	s, err := New(fuzzSecrets, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		out, err := s.Forward(addr, fuzzDomain, fuzzNow)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLong) {
				t.Fatalf("Forward(%q): unexpected error %v", addr, err)
			}
			return
		}
		if out == addr { // the null sender, or one at our domain
			if addr != "" && !strings.EqualFold(addr[strings.LastIndexByte(addr, '@')+1:], fuzzDomain) {
				t.Fatalf("Forward(%q) left it unchanged", addr)
			}
			return
		}
		if len(out) > maxPath || !IsSRS(out[:strings.LastIndexByte(out, '@')]) {
			t.Fatalf("Forward(%q) = %q", addr, out)
		}
		want := addr
		at := strings.LastIndexByte(addr, '@')
		local := addr[:at]
		switch kind, _ := srsKind(local); {
		case kind == '0' && len(local) > 5:
			want = "SRS0" + local[4:] + addr[at:] // the prefix as Reverse writes it
		case kind == '1':
			if _, host, srsUser, err := parseSRS1(local); err == nil {
				want = "SRS0" + srsUser + "@" + host
			}
		}
		got, err := s.Reverse(out, fuzzNow.Add(DefaultMaxAge))
		if err != nil || got != want {
			t.Fatalf("Reverse(%q) = %q, %v; want %q", out, got, err, want)
		}
		// Lower-cased, the same address comes back lower-cased (but for
		// the "SRS0" prefix of an SRS1's reverse, which Reverse writes).
		got, err = s.Reverse(asciiLower(out), fuzzNow.Add(DefaultMaxAge))
		if err != nil || asciiLower(got) != asciiLower(want) {
			t.Fatalf("Reverse(%q) = %q, %v; want %q", asciiLower(out), got, err, asciiLower(want))
		}
	})
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
