package junk

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// HeaderName is the field that explains a decision. A message may arrive
// with one already: only the one the server adds above the others speaks
// for the server.
const HeaderName = "X-Postel-Junk"

// Bounds of the field: the explanation is cut at maxValue bytes, and a
// word longer than maxWord is split, so that every line stays far below
// the 998 octets of RFC 5322 §2.1.1.
const (
	maxValue = 2000
	maxWord  = 900
	// foldAt is the line length folding aims for (RFC 5322 §2.1.1: lines
	// SHOULD be no more than 78 characters).
	foldAt = 78
)

// Header is the X-Postel-Junk field for the decision, with its CRLF, or
// nil when there is nothing to explain:
//
//	X-Postel-Junk: yes; you blocked example.com
//	X-Postel-Junk: no; you moved 2 earlier messages from bob@example.com
//	 out of Junk (policy said: quarantined by the DMARC policy of example.com)
//
// Control characters and line breaks in the reason become spaces; long
// values are folded (RFC 5322 §2.2.3).
func (d Decision) Header() []byte {
	if d.Reason == "" {
		return nil
	}
	verdict := "no"
	if d.Junk {
		verdict = "yes"
	}
	return fold(HeaderName+":", verdict+"; "+clean(d.Reason))
}

// clean makes s one line of valid UTF-8 without control or format
// characters, single-spaced, at most maxValue bytes.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "?")
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if unicode.Is(unicode.Cf, r) {
			// Invisible format characters (bidi overrides, zero-width
			// joiners) could make the text read otherwise than it is.
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if b.Len()+utf8.RuneLen(r) > maxValue-3 {
			b.WriteString("...")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// fold writes name and the words of value as a header field, breaking
// lines before a space where a line would pass foldAt.
func fold(name, value string) []byte {
	var b strings.Builder
	b.WriteString(name)
	line := len(name)
	for _, w := range words(value) {
		if line+1+len(w) > foldAt && line > 0 {
			b.WriteString("\r\n")
			line = 0
		}
		b.WriteByte(' ')
		b.WriteString(w)
		line += 1 + len(w)
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// words splits value at spaces, and words longer than maxWord at rune
// boundaries.
func words(value string) []string {
	var out []string
	for _, w := range strings.Fields(value) {
		for len(w) > maxWord {
			cut := maxWord
			for !utf8.RuneStart(w[cut]) {
				cut--
			}
			out = append(out, w[:cut])
			w = w[cut:]
		}
		out = append(out, w)
	}
	return out
}
