package arc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Canonicalization algorithms (RFC 6376 §3.4), used by the AMS (c=) and,
// relaxed only, by the AS (RFC 8617 §4.1.3).
const (
	canonSimple  = "simple"
	canonRelaxed = "relaxed"
)

// parseCanon reads a c= value: "header/body", or "header" alone with
// simple body canonicalization; absent means simple/simple (RFC 6376 §3.5).
func parseCanon(c string, present bool) (header, body string, err error) {
	if !present {
		return canonSimple, canonSimple, nil
	}
	header, body, slash := strings.Cut(c, "/")
	if !slash {
		body = canonSimple
	}
	for _, a := range []string{header, body} {
		if a != canonSimple && a != canonRelaxed {
			return "", "", fmt.Errorf("unknown canonicalization %q", c)
		}
	}
	return header, body, nil
}

// canonHeader returns the canonical form of one raw header field (name,
// colon, value with its folding, line break), ending in CRLF.
func canonHeader(raw []byte, algo string) []byte {
	if algo == canonRelaxed {
		return relaxedHeader(raw)
	}
	return simpleHeader(raw)
}

// simpleHeader is RFC 6376 §3.4.1: the field unchanged. Bare LF line
// breaks, as in messages stored with LF line ends, are taken as the CRLF
// they stand for on the wire, and a field cut off at the end of the
// message gets its CRLF.
func simpleHeader(raw []byte) []byte {
	out := make([]byte, 0, len(raw)+4)
	for i, c := range raw {
		if c == '\n' && (i == 0 || raw[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	if !bytes.HasSuffix(out, []byte("\r\n")) {
		out = append(out, '\r', '\n')
	}
	return out
}

// relaxedHeader is RFC 6376 §3.4.2: the name in lower case, the value
// unfolded, runs of WSP made one SP, WSP removed at the ends of the value
// and around the colon.
func relaxedHeader(raw []byte) []byte {
	colon := bytes.IndexByte(raw, ':')
	if colon < 0 {
		colon = len(raw)
	}
	name := bytes.TrimRight(raw[:colon], " \t")
	out := make([]byte, 0, len(raw)+2)
	for _, c := range name {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out = append(out, c)
	}
	out = append(out, ':')
	space := false // WSP seen and not yet written
	started := false
	if colon < len(raw) {
		for _, c := range raw[colon+1:] {
			switch c {
			case '\r', '\n':
				// Unfolding deletes the line breaks; the WSP after them
				// stays and is reduced below.
			case ' ', '\t':
				space = true
			default:
				if space && started {
					out = append(out, ' ')
				}
				space = false
				started = true
				out = append(out, c)
			}
		}
	}
	return append(out, '\r', '\n')
}

// errBodyShort is returned when l= counts more octets than the
// canonicalized body has.
var errBodyShort = errors.New("body shorter than l=")

// bodyCanon canonicalizes a message body written to it in pieces (RFC 6376
// §3.4.3 simple, §3.4.4 relaxed) and passes the result on to w, at most
// limit octets (l=) when limit >= 0. It holds no more than a small buffer,
// whatever the line lengths. Bare LF ends a line as CRLF does; a CR not
// followed by LF is an ordinary octet.
type bodyCanon struct {
	w       io.Writer
	relaxed bool
	limit   int64 // octets still to pass on; < 0: no limit

	crlfs   int  // line ends seen and not yet written (maybe trailing)
	space   bool // relaxed: WSP seen and not yet written
	cr      bool // a CR was the last octet seen
	content bool // some octet of a line has been written
	total   int64
	buf     []byte
	err     error
}

func newBodyCanon(w io.Writer, algo string, limit int64) *bodyCanon {
	return &bodyCanon{w: w, relaxed: algo == canonRelaxed, limit: limit, buf: make([]byte, 0, 4096)}
}

func (b *bodyCanon) Write(p []byte) (int, error) {
	for _, c := range p {
		if b.cr {
			b.cr = false
			if c == '\n' {
				b.lineEnd()
				continue
			}
			b.octet('\r')
		}
		switch c {
		case '\r':
			b.cr = true
		case '\n':
			b.lineEnd()
		case ' ', '\t':
			if b.relaxed {
				b.space = true
			} else {
				b.octet(c)
			}
		default:
			b.octet(c)
		}
	}
	return len(p), b.err
}

func (b *bodyCanon) lineEnd() {
	b.space = false // RFC 6376 §3.4.4: WSP at the end of a line is dropped
	b.crlfs++
}

func (b *bodyCanon) octet(c byte) {
	// Line ends held back turn out not to be trailing empty lines.
	for ; b.crlfs > 0; b.crlfs-- {
		b.emit('\r', '\n')
	}
	if b.space {
		// RFC 6376 §3.4.4: a run of WSP within a line becomes one SP.
		b.space = false
		b.emit(' ')
	}
	b.emit(c)
	b.content = true
}

func (b *bodyCanon) emit(cs ...byte) {
	b.buf = append(b.buf, cs...)
	if len(b.buf) >= 4096 {
		b.flush()
	}
}

func (b *bodyCanon) flush() {
	p := b.buf
	b.buf = b.buf[:0]
	b.total += int64(len(p))
	if b.limit >= 0 {
		n := min(int64(len(p)), b.limit)
		p = p[:n]
		b.limit -= n
	}
	if len(p) > 0 && b.err == nil {
		_, b.err = b.w.Write(p)
	}
}

// Close ends the body: trailing empty lines are dropped (RFC 6376 §3.4.3,
// §3.4.4), the last line gets its CRLF, and simple canonicalization turns
// an empty body into one CRLF. It reports an l= longer than the body.
func (b *bodyCanon) Close() error {
	if b.cr {
		b.cr = false
		b.octet('\r')
	}
	if b.content || !b.relaxed {
		b.emit('\r', '\n')
	}
	b.flush()
	if b.err == nil && b.limit > 0 {
		b.err = errBodyShort
	}
	return b.err
}
