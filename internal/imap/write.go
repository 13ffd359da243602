package imap

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Writer encodes server responses into a *bufio.Writer, which the server
// flushes. The methods are small and composable; they allocate nothing for
// atoms, numbers and plain strings. Write errors stay in the bufio.Writer
// and come out of its Flush.
type Writer struct {
	bw      *bufio.Writer
	utf8    bool
	scratch [64]byte
}

// NewWriter returns a Writer on w.
func NewWriter(w *bufio.Writer) *Writer { return &Writer{bw: w} }

// SetUTF8 switches to UTF-8 strings and mailbox names (after ENABLE
// UTF8=ACCEPT, RFC 6855, or with IMAP4rev2). Without it, mailbox names are
// modified UTF-7 and 8-bit text in ENVELOPE and BODYSTRUCTURE is RFC 2047
// encoded.
func (w *Writer) SetUTF8(on bool) { w.utf8 = on }

// Atom writes s as is; the caller knows it is an atom (or other
// preformatted syntax).
func (w *Writer) Atom(s string) { w.bw.WriteString(s) }

// Raw writes s as is.
func (w *Writer) Raw(s string) { w.bw.WriteString(s) }

// SP writes a space.
func (w *Writer) SP() { w.bw.WriteByte(' ') }

// Open writes "(".
func (w *Writer) Open() { w.bw.WriteByte('(') }

// Close writes ")".
func (w *Writer) Close() { w.bw.WriteByte(')') }

// CRLF ends a line.
func (w *Writer) CRLF() { w.bw.WriteString("\r\n") }

// Nil writes NIL.
func (w *Writer) Nil() { w.bw.WriteString("NIL") }

// Number writes n in decimal.
func (w *Writer) Number(n uint64) { w.bw.Write(strconv.AppendUint(w.scratch[:0], n, 10)) }

// maxQuoted is the longest string written quoted; longer ones are literals.
const maxQuoted = 1024

// quotable reports whether s can be a quoted string (RFC 9051 §9 quoted):
// no CR, LF or NUL, and 8-bit only as valid UTF-8 in UTF8 mode.
func (w *Writer) quotable(s string) bool {
	if len(s) > maxQuoted {
		return false
	}
	high := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == 0 || c == '\r' || c == '\n':
			return false
		case c >= 0x80:
			high = true
		}
	}
	return !high || (w.utf8 && utf8.ValidString(s))
}

// String writes s as a quoted string, or as a literal when it cannot be
// quoted (line breaks, 8-bit outside UTF8 mode, over 1 KiB). No string
// can carry NUL (RFC 9051 §4.3: a literal is CHAR8, NUL excepted), so a
// NUL, as an encoded word can decode to, is written as U+FFFD.
func (w *Writer) String(s string) {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	if w.quotable(s) {
		w.Quoted(s)
		return
	}
	w.bw.WriteByte('{')
	w.Number(uint64(len(s)))
	w.bw.WriteString("}\r\n")
	w.bw.WriteString(s)
}

// Quoted writes s in double quotes, escaping DQUOTE and "\"; the caller
// knows s is quotable (String checks).
func (w *Writer) Quoted(s string) {
	w.bw.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			w.bw.WriteString(s[start:i])
			w.bw.WriteByte('\\')
			start = i
		}
	}
	w.bw.WriteString(s[start:])
	w.bw.WriteByte('"')
}

// NString writes s as a string, or NIL when it is empty (RFC 9051 nstring:
// IMAP reports absent values, which Postel keeps as "", as NIL).
func (w *Writer) NString(s string) {
	if s == "" {
		w.Nil()
		return
	}
	w.String(s)
}

// Literal writes the literal "{size}" CRLF and size octets read from r.
// An error means the response is cut short and the connection must end.
func (w *Writer) Literal(size int64, r io.Reader) error {
	return w.literal("{", size, r)
}

// Literal8 writes the literal8 "~{size}" CRLF and size octets read from r
// (RFC 3516 BINARY[]).
func (w *Writer) Literal8(size int64, r io.Reader) error {
	return w.literal("~{", size, r)
}

func (w *Writer) literal(open string, size int64, r io.Reader) error {
	w.bw.WriteString(open)
	w.Number(uint64(size))
	w.bw.WriteString("}\r\n")
	n, err := io.CopyN(w.bw, r, size)
	if err == io.EOF {
		err = fmt.Errorf("imap: literal source ended after %d of %d octets: %w", n, size, io.ErrUnexpectedEOF)
	}
	return err
}

// FetchItemName writes the name of a FETCH response item for it, e.g.
// "FLAGS", "BODY[1.2.HEADER.FIELDS (From To)]", or "BODY[]<0>" with the
// origin of a partial (RFC 9051 §7.5.2); BODY.PEEK and BINARY.PEEK are
// answered as BODY and BINARY.
func (w *Writer) FetchItemName(it FetchItem) {
	w.bw.WriteString(it.Name)
	s := it.Section
	if s == nil {
		return
	}
	w.bw.WriteByte('[')
	for i, p := range s.Part {
		if i > 0 {
			w.bw.WriteByte('.')
		}
		w.Number(uint64(p))
	}
	if s.Specifier != "" {
		if len(s.Part) > 0 {
			w.bw.WriteByte('.')
		}
		w.bw.WriteString(s.Specifier)
	}
	if len(s.Fields) > 0 {
		w.bw.WriteString(" (")
		for i, f := range s.Fields {
			if i > 0 {
				w.bw.WriteByte(' ')
			}
			w.astring(f)
		}
		w.bw.WriteByte(')')
	}
	w.bw.WriteByte(']')
	if it.Partial != nil && it.Name != "BINARY.SIZE" {
		w.bw.WriteByte('<')
		w.Number(uint64(it.Partial.Offset))
		w.bw.WriteByte('>')
	}
}

// AString writes s as an atom when it can be one, else as a string
// (METADATA entry names, RFC 5464; ACL identifiers and rights, RFC 4314 §7).
func (w *Writer) AString(s string) { w.astring(s) }

// astring writes s as an atom when it can be one, else as a string.
func (w *Writer) astring(s string) {
	for i := 0; i < len(s); i++ {
		if charClass[s[i]]&astringChar == 0 {
			w.String(s)
			return
		}
	}
	if s == "" {
		w.String(s)
		return
	}
	w.bw.WriteString(s)
}

// Mailbox writes a mailbox name: INBOX as an atom, others as strings,
// in modified UTF-7 unless in UTF8 mode.
func (w *Writer) Mailbox(name string) {
	switch {
	case name == "INBOX":
		w.bw.WriteString("INBOX")
	case w.utf8:
		w.String(name)
	default:
		w.String(EncodeUTF7(name))
	}
}

// SeqSet writes a sequence set.
func (w *Writer) SeqSet(s SeqSet) {
	if s.Saved {
		w.bw.WriteByte('$')
		return
	}
	for i, r := range s.Ranges {
		if i > 0 {
			w.bw.WriteByte(',')
		}
		b := appendSeqNumber(w.scratch[:0], r.Start)
		if r.Stop != r.Start {
			b = append(b, ':')
			b = appendSeqNumber(b, r.Stop)
		}
		w.bw.Write(b)
	}
}

// Flags writes a parenthesized flag list, e.g. (\Seen $Forwarded).
func (w *Writer) Flags(flags []string) {
	w.bw.WriteByte('(')
	for i, f := range flags {
		if i > 0 {
			w.bw.WriteByte(' ')
		}
		w.bw.WriteString(f)
	}
	w.bw.WriteByte(')')
}

// DateTime writes a date-time (RFC 9051 §9) in double quotes, e.g.
// "17-Jul-1996 02:44:25 -0700".
func (w *Writer) DateTime(t time.Time) {
	b := append(w.scratch[:0], '"')
	b = t.AppendFormat(b, "02-Jan-2006 15:04:05 -0700")
	w.bw.Write(append(b, '"'))
}

// StatusResponse writes a status response: tag ("" for "*"), status
// ("OK", "NO", "BAD", "BYE", "PREAUTH"), an optional response code (the
// text between the brackets, e.g. "APPENDUID 38505 3955") and the text.
// Line breaks and NULs in the text become spaces, so client-supplied text
// can never start a new response line.
func (w *Writer) StatusResponse(tag, status, code, text string) {
	if tag == "" {
		tag = "*"
	}
	w.bw.WriteString(tag)
	w.bw.WriteByte(' ')
	w.bw.WriteString(status)
	w.bw.WriteByte(' ')
	if code != "" {
		w.bw.WriteByte('[')
		w.safeText(code)
		w.bw.WriteString("] ")
	}
	if text == "" {
		text = status // RFC 3501 requires text
	}
	w.safeText(text)
	w.CRLF()
}

// safeText writes s with CR, LF and NUL replaced by spaces.
func (w *Writer) safeText(s string) {
	start := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\r' || c == '\n' || c == 0 {
			w.bw.WriteString(s[start:i])
			w.bw.WriteByte(' ')
			start = i + 1
		}
	}
	w.bw.WriteString(s[start:])
}

// Untagged writes "* " and line and a line break, e.g. Untagged("OK [UIDNEXT 4]
// next UID") or Untagged("CAPABILITY IMAP4rev2 IDLE").
func (w *Writer) Untagged(line string) {
	w.bw.WriteString("* ")
	w.safeText(line)
	w.CRLF()
}

// UntaggedNumber writes a numeric untagged response such as "* 23 EXISTS"
// or "* 5 EXPUNGE".
func (w *Writer) UntaggedNumber(n uint64, name string) {
	w.bw.WriteString("* ")
	w.Number(n)
	w.bw.WriteByte(' ')
	w.bw.WriteString(name)
	w.CRLF()
}

// Star starts an untagged response the caller completes: "* ".
func (w *Writer) Star() { w.bw.WriteString("* ") }

// Continuation writes a continuation request "+ text".
func (w *Writer) Continuation(text string) {
	w.bw.WriteString("+ ")
	w.safeText(text)
	w.CRLF()
}

// ContinuationBase64 writes a SASL challenge: "+ " and b in base64
// (RFC 9051 §6.2.2).
func (w *Writer) ContinuationBase64(b []byte) {
	w.bw.WriteString("+ ")
	enc := base64.NewEncoder(base64.StdEncoding, w.bw)
	enc.Write(b)
	enc.Close()
	w.CRLF()
}
