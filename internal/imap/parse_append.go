package imap

import (
	"fmt"
	"io"
	"strings"
)

// The bounds of CATENATE (RFC 4469) the parser keeps.
const (
	// MaxCatenateParts bounds the parts of one CATENATE message.
	MaxCatenateParts = 256
	// MaxURLLength bounds one CATENATE URL, in octets.
	MaxURLLength = 4096
)

// CatenateWriter assembles one CATENATE message (RFC 4469) as its
// parts arrive, in order: the session returns one from the function given
// to SetCatenate. Its errors refuse the command like an AppendSink's: a
// *ParseError gives the status, code and text (NO [BADURL ...], NO
// [TOOBIG], NO [OVERQUOTA]).
type CatenateWriter interface {
	// Text is called when a TEXT part of size octets begins, before its
	// continuation; the octets then come through Write.
	Text(size int64, binary bool) error
	io.Writer
	// URL appends the data an IMAP URL (RFC 5092) names, as the client
	// wrote it.
	URL(url string) error
}

// SetCatenate turns CATENATE on: f is called when an APPEND or REPLACE
// message given as CATENATE begins (RFC 4469). Without it, CATENATE is
// refused as unknown syntax.
func (r *Reader) SetCatenate(f func() (CatenateWriter, error)) { r.catenate = f }

// ReplaceArgs: REPLACE and UID REPLACE (RFC 8508): the message of the
// selected mailbox to replace (a sequence number or a UID; 0 for "*"),
// the mailbox that receives the new message, and that message.
type ReplaceArgs struct {
	Num     uint32
	Mailbox string
	Message AppendMessage
}

// Replacing tells an AppendSink or CatenateWriter whether the message
// being received is a REPLACE's (RFC 8508), and which: the command so far,
// UID and the ReplaceArgs with Num and Mailbox (nil when not a REPLACE).
// The session can refuse a REPLACE that cannot succeed before the literal
// comes, and knows the message takes the place of one the account's quota
// counts already.
func (r *Reader) Replacing() *Command { return r.replacing }

// Appending is the mailbox of the APPEND being read ("" when none), for
// the checks the message sink makes before the literal (the quota of the
// mailbox's owner).
func (r *Reader) Appending() string { return r.appending }

// appendArgs: "APPEND" SP mailbox 1*append-message with MULTIAPPEND (RFC
// 3502).
func (r *Reader) appendArgs() *AppendArgs {
	a := &AppendArgs{}
	r.sp()
	a.Mailbox = r.mailbox()
	r.appending = a.Mailbox
	defer func() { r.appending = "" }()
	for {
		r.sp()
		r.item()
		a.Messages = append(a.Messages, r.appendMessage())
		if r.atEnd() {
			return a
		}
	}
}

// replace: "REPLACE" SP seq-number SP mailbox SP append-message, and
// "UID" SP replace, where the seq-number is a UID and "*" the highest
// (RFC 8508, RFC 9051 §9 seq-number).
func (r *Reader) replace(uid bool) *ReplaceArgs {
	a := &ReplaceArgs{}
	r.sp()
	if !r.take('*') {
		a.Num = r.nzNumber()
	}
	r.sp()
	a.Mailbox = r.mailbox()
	r.sp()
	r.replacing = &Command{Name: "REPLACE", UID: uid, Args: a}
	defer func() { r.replacing = nil }()
	a.Message = r.appendMessage()
	return a
}

// appendMessage: append-opts SP append-data, where append-opts =
// [flag-list SP] [date-time SP] and append-data is a literal, a literal8
// (RFC 3516), "UTF8" SP "(" literal8 ")" (RFC 6855 §4) or "CATENATE" SP
// "(" cat-part *(SP cat-part) ")" (RFC 4469).
func (r *Reader) appendMessage() AppendMessage {
	var m AppendMessage
	if r.peek() == '(' {
		m.Flags = r.flagList()
		r.sp()
	}
	if r.peek() == '"' {
		m.Date = r.dateTime()
		r.sp()
	}
	switch {
	case r.keyword("UTF8"):
		r.sp()
		r.expect('(')
		r.appendLiteral(&m, true)
		r.expect(')')
	case r.catenate != nil && r.keyword("CATENATE"):
		r.sp()
		r.catenateParts(&m)
	default:
		r.appendLiteral(&m, false)
	}
	return m
}

// catenateParts reads "(" cat-part *(SP cat-part) ")" (RFC 4469):
// cat-part = "TEXT" SP literal / "URL" SP astring, and with UTF8=ACCEPT
// "UTF8" SP "(" literal8 ")" (RFC 6855 §4). Each part goes to the
// CatenateWriter as it comes: a URL is resolved, and may be refused,
// before the next literal is asked for (RFC 4469).
func (r *Reader) catenateParts(m *AppendMessage) {
	w, err := r.catenate()
	if err != nil {
		r.sinkFailed(err)
	}
	m.Sink, m.Catenate = w, true
	parts := 0
	r.parenList(false, func() {
		if parts++; parts > MaxCatenateParts {
			panic(&ParseError{Status: "NO", Code: "LIMIT", Text: fmt.Sprintf("too many CATENATE parts (limit %d)", MaxCatenateParts)})
		}
		switch {
		case r.keyword("TEXT"):
			r.sp()
			r.catenateText(w, m, false)
		case r.keyword("UTF8"):
			r.sp()
			r.expect('(')
			r.catenateText(w, m, true)
			r.expect(')')
		case r.keyword("URL"):
			r.sp()
			u := r.astring()
			if len(u) > MaxURLLength {
				r.bad(fmt.Sprintf("URL too long (limit %d octets)", MaxURLLength))
			}
			if err := w.URL(u); err != nil {
				r.sinkFailed(err)
			}
		default:
			r.syntax("expected TEXT or URL")
		}
	})
}

// catenateText reads the literal of a TEXT part into w. A literal8 is
// accepted as in APPEND (RFC 3516 §4.4).
func (r *Reader) catenateText(w CatenateWriter, m *AppendMessage, only8 bool) {
	size, sync, binary := r.literalHeader(true)
	if only8 && !binary {
		r.syntax("expected literal8 (~{n})")
	}
	if size > r.opts.MaxAppend {
		r.tooBig(sync, fmt.Sprintf("message of %d octets too large (APPENDLIMIT %d)", size, r.opts.MaxAppend))
	}
	if err := w.Text(size, binary); err != nil {
		r.sinkFailed(err)
	}
	r.streamLiteral(w, size, sync, binary)
	m.Size += size
	m.Binary = m.Binary || binary
}

// ParseSection parses the section-text of an IMAP URL's ";SECTION="
// (RFC 5092: what BODY[...] of FETCH takes between the brackets), for
// example "1.2", "HEADER", "2.MIME" or "HEADER.FIELDS (From To)".
func ParseSection(s string) (sec *Section, err error) {
	if len(s) > MaxURLLength || strings.ContainsAny(s, "{[]\r\n") {
		return nil, &ParseError{Status: "BAD", Text: "invalid section"}
	}
	r := &Reader{opts: ReaderOptions{}.withDefaults(), line: []byte("[" + s + "]")}
	defer func() {
		if x := recover(); x != nil {
			pe, ok := x.(*ParseError)
			if !ok {
				panic(x)
			}
			sec, err = nil, pe
		}
	}()
	sec = r.section()
	if !r.atEnd() {
		r.syntax("unexpected characters after the section")
	}
	return sec, nil
}
