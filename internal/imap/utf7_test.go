package imap

import (
	"errors"
	"testing"
	"unicode/utf8"
)

func TestUTF7RoundTrip(t *testing.T) {
	for _, tt := range []struct{ decoded, encoded string }{
		{"INBOX", "INBOX"},
		{"", ""},
		{"&", "&-"},
		{"a&b&&", "a&-b&-&-"},
		{"Entwürfe", "Entw&APw-rfe"},
		// RFC 3501 §5.1.3's example.
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
		{"😀", "&2D3eAA-"},
		{"a😀b€", "a&2D3eAA-b&IKw-"},
		{"tab\there", "tab&AAk-here"},
		{"ü&ü", "&APw-&-&APw-"},
		{"\x7f", "&AH8-"},
	} {
		if got := EncodeUTF7(tt.decoded); got != tt.encoded {
			t.Errorf("EncodeUTF7(%q) = %q, want %q", tt.decoded, got, tt.encoded)
		}
		got, err := DecodeUTF7(tt.encoded)
		if err != nil || got != tt.decoded {
			t.Errorf("DecodeUTF7(%q) = %q, %v, want %q", tt.encoded, got, err, tt.decoded)
		}
	}
}

func TestEncodeUTF7Invalid(t *testing.T) {
	if got := EncodeUTF7("a\xffb"); got != "a&,,0-b" {
		t.Errorf("got %q", got)
	}
}

func TestDecodeUTF7Invalid(t *testing.T) {
	for _, in := range []string{
		"&",            // unterminated
		"&Jjo",         // unterminated
		"a&ZeVnLIqe",   // unterminated
		"&AGE-",        // encoded printable "a"
		"&ACY-",        // encoded "&"
		"&AAE-&AAI-",   // two runs in a row
		"&AAF-",        // non-zero padding bits
		"&AAEA-",       // odd number of octets
		"&AAEAA-",      // a unit and 14 stray bits
		"&2D0-",        // high surrogate alone
		"&3gA-",        // low surrogate first
		"&2D3YPQ-",     // high surrogate, high surrogate
		"&Ze!-",        // not BASE64
		"&Ze/-",        // "/" is "," in modified BASE64
		"b\xc3\xa4r",   // 8-bit
		"a\tb",         // control character
		"&U,BTFw-\x00", // NUL
	} {
		if got, err := DecodeUTF7(in); err == nil || !errors.Is(err, ErrUTF7) {
			t.Errorf("DecodeUTF7(%q) = %q, %v; want an ErrUTF7", in, got, err)
		}
	}
}

func FuzzUTF7(f *testing.F) {
	for _, s := range []string{"INBOX", "Entwürfe", "&", "&-", "~peter/mail/&U,BTFw-/&ZeVnLIqe-", "&2D3eAA-", "\xff", "&AAE-&AAI-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Encoding then decoding gives the text back (invalid UTF-8
		// aside, which becomes U+FFFD).
		enc := EncodeUTF7(s)
		dec, err := DecodeUTF7(enc)
		if err != nil {
			t.Fatalf("DecodeUTF7(EncodeUTF7(%q)) = %v", s, err)
		}
		if EncodeUTF7(dec) != enc {
			t.Fatalf("round trip of %q: %q, %q", s, enc, dec)
		}
		if isValidUTF8(s) && dec != s {
			t.Fatalf("round trip of %q gave %q", s, dec)
		}
		// Whatever decodes has exactly one encoding: this one.
		if d, err := DecodeUTF7(s); err == nil && EncodeUTF7(d) != s {
			t.Fatalf("%q decodes to %q, which encodes to %q", s, d, EncodeUTF7(d))
		}
	})
}

func isValidUTF8(s string) bool { return utf8.ValidString(s) }
