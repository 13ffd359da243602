package arc

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"postel/internal/message"
)

// canonBody runs body through a bodyCanon in one write.
func canonBody(t *testing.T, body, algo string, limit int64) (string, error) {
	t.Helper()
	var out bytes.Buffer
	bc := newBodyCanon(&out, algo, limit)
	bc.Write([]byte(body))
	err := bc.Close()
	return out.String(), err
}

// The example of RFC 6376 §3.4.5.
func TestCanonRFC6376Example(t *testing.T) {
	hdr := "A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n"
	body := " C \r\nD \t E\r\n\r\n\r\n"
	fields := message.Fields([]byte(hdr))
	if len(fields) != 2 {
		t.Fatalf("%d fields", len(fields))
	}
	var relaxed, simple string
	for _, f := range fields {
		relaxed += string(canonHeader(f.Raw, canonRelaxed))
		simple += string(canonHeader(f.Raw, canonSimple))
	}
	if want := "a:X\r\nb:Y Z\r\n"; relaxed != want {
		t.Errorf("relaxed header %q, want %q", relaxed, want)
	}
	if want := "A: X\r\nB : Y\t\r\n\tZ  \r\n"; simple != want {
		t.Errorf("simple header %q, want %q", simple, want)
	}
	if got, _ := canonBody(t, body, canonRelaxed, -1); got != " C\r\nD E\r\n" {
		t.Errorf("relaxed body %q", got)
	}
	if got, _ := canonBody(t, body, canonSimple, -1); got != " C \r\nD \t E\r\n" {
		t.Errorf("simple body %q", got)
	}
}

func TestBodyCanon(t *testing.T) {
	tests := []struct {
		body, simple, relaxed string
	}{
		// RFC 6376 §3.4.3: an empty body is one CRLF in simple; §3.4.4:
		// nothing in relaxed.
		{"", "\r\n", ""},
		{"\r\n\r\n", "\r\n", ""},
		{" \t\r\n", " \t\r\n", ""},
		// A missing final CRLF is added.
		{"a", "a\r\n", "a\r\n"},
		{"a  b \t", "a  b \t\r\n", "a b\r\n"},
		// Empty lines inside stay; only trailing ones go.
		{"a\r\n\r\nb\r\n\r\n\r\n", "a\r\n\r\nb\r\n", "a\r\n\r\nb\r\n"},
		{"a\r\n \r\nb\r\n \r\n", "a\r\n \r\nb\r\n \r\n", "a\r\n\r\nb\r\n"},
		// Bare LF ends lines like CRLF; a lone CR is an ordinary octet.
		{"a\nb\n\n", "a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\rb\r", "a\rb\r\r\n", "a\rb\r\r\n"},
		{"a \r \r\n", "a \r \r\n", "a \r\r\n"},
	}
	for _, tt := range tests {
		for algo, want := range map[string]string{canonSimple: tt.simple, canonRelaxed: tt.relaxed} {
			got, err := canonBody(t, tt.body, algo, -1)
			if err != nil || got != want {
				t.Errorf("%s(%q) = %q, %v; want %q", algo, tt.body, got, err, want)
			}
			// Written an octet at a time, the result is the same.
			var out bytes.Buffer
			bc := newBodyCanon(&out, algo, -1)
			for i := range len(tt.body) {
				bc.Write([]byte{tt.body[i]})
			}
			if bc.Close(); out.String() != want {
				t.Errorf("%s(%q) by octets = %q, want %q", algo, tt.body, out.String(), want)
			}
		}
	}
}

func TestBodyLength(t *testing.T) {
	got, err := canonBody(t, "abc\r\ndef\r\n", canonSimple, 5)
	if err != nil || got != "abc\r\n" {
		t.Errorf("l=5: %q, %v", got, err)
	}
	if got, err := canonBody(t, "abc\r\n", canonSimple, 0); err != nil || got != "" {
		t.Errorf("l=0: %q, %v", got, err)
	}
	// RFC 6376 §3.5: l= counts octets of the canonical body; more than it
	// has is an error.
	if _, err := canonBody(t, "abc\r\n", canonSimple, 6); !errors.Is(err, errBodyShort) {
		t.Errorf("l= past the body: %v", err)
	}
	// A long body passes through the buffer whole.
	long := strings.Repeat("x", 10000) + "\r\n"
	if got, _ := canonBody(t, long, canonRelaxed, -1); got != long {
		t.Errorf("long body changed: %d octets", len(got))
	}
}

// The body hash of an empty body in relaxed canonicalization is the SHA-256
// of nothing (RFC 6376 §3.4.4), and in simple that of CRLF (§3.4.3).
func TestEmptyBodyHash(t *testing.T) {
	for algo, want := range map[string]string{
		canonRelaxed: "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
		canonSimple:  "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=",
	} {
		h := sha256.New()
		bc := newBodyCanon(h, algo, -1)
		bc.Close()
		if got := base64.StdEncoding.EncodeToString(h.Sum(nil)); got != want {
			t.Errorf("%s: %s, want %s", algo, got, want)
		}
	}
}

func TestParseCanon(t *testing.T) {
	tests := []struct {
		c            string
		present      bool
		header, body string
	}{
		{"", false, "simple", "simple"},
		{"relaxed", true, "relaxed", "simple"},
		{"relaxed/relaxed", true, "relaxed", "relaxed"},
		{"simple/relaxed", true, "simple", "relaxed"},
		{"", true, "", ""},
		{"relaxed/", true, "", ""},
		{"Relaxed/simple", true, "", ""},
		{"pancake/waffle", true, "", ""},
	}
	for _, tt := range tests {
		h, b, err := parseCanon(tt.c, tt.present)
		if (err != nil) != (tt.header == "") || h != tt.header || b != tt.body {
			t.Errorf("parseCanon(%q, %v) = %q, %q, %v", tt.c, tt.present, h, b, err)
		}
	}
}

func TestStripSignature(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"ARC-Seal: i=1; a=rsa-sha256; b=abc\r\n def==\r\n", "ARC-Seal: i=1; a=rsa-sha256; b="},
		{"ARC-Seal: i=1; b = abc ; cv=none\r\n", "ARC-Seal: i=1; b =; cv=none"},
		{"X: bh=abc; b=def; d=x\n", "X: bh=abc; b=; d=x"},
		{"X: bh=abc\r\n", "X: bh=abc"},
		{"X: a=b=c; b=; c=d", "X: a=b=c; b=; c=d"},
	}
	for _, tt := range tests {
		if got := string(stripSignature([]byte(tt.raw))); got != tt.want {
			t.Errorf("stripSignature(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

// h= takes instances from the bottom up, each once (RFC 6376 §5.4.2).
func TestSelectFields(t *testing.T) {
	fields := message.Fields([]byte("Received: 1\r\nX: a\r\nSubject: s\r\nx: b\r\nSig: me\r\n\r\n"))
	got := selectFields(fields, []string{"x", "Subject", "X", "x", "Missing", "Sig"}, 4)
	var s []string
	for _, raw := range got {
		s = append(s, strings.TrimSpace(string(raw)))
	}
	if strings.Join(s, "|") != "x: b|Subject: s|X: a" {
		t.Errorf("selected %q", s)
	}
}
