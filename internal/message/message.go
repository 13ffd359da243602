// Package message parses a raw message once, at delivery, and extracts what
// IMAP FETCH and SEARCH/SORT need later without parsing it again: the
// ENVELOPE, the body structure with the byte offsets of every part (so that
// BODY[section] is served by slicing the stored bytes), and decoded header
// fields for searching and sorting.
//
// Invariants of a Parsed result:
//   - Offsets are relative to the start of the outermost message and satisfy
//     0 <= HeaderStart <= BodyStart <= End <= Size; every child lies within
//     its parent's body, and children are in ascending order.
//   - A multipart part always has at least one child, and a message/rfc822 or
//     message/global part always has Message set (RFC 9051 BODYSTRUCTURE
//     needs them); when the content cannot be parsed, one synthetic opaque
//     text/plain part spanning the body stands in.
//   - Parsing never fails on malformed content, only on I/O errors.
//
// The IMAP wire encoding of ENVELOPE and BODYSTRUCTURE lives in
// internal/imap; this package only provides the values.
package message

import (
	"bufio"
	"fmt"
	"io"
	"time"
)

// Address is one IMAP address structure (RFC 9051 §7.5.2): Name is the
// display name decoded to UTF-8 (RFC 2047), Route the obsolete source route
// ("@a.example,@b.example", RFC 5322 §4.4; the addr-adl), Mailbox the local
// part and Host the domain.
//
// RFC 5322 groups are flattened as IMAP does: a group start is an Address
// with Host "" and Mailbox the group name, and the group end is an Address
// with all fields empty. An address lacking its local part or domain gets
// Mailbox "MISSING_MAILBOX" or Host "MISSING_DOMAIN", so that a real address
// never looks like a group marker.
type Address struct {
	Name    string `json:"n,omitempty"`
	Mailbox string `json:"m,omitempty"`
	Host    string `json:"h,omitempty"`
	Route   string `json:"r,omitempty"`
}

// Placeholders for the parts of a malformed address.
const (
	MissingMailbox = "MISSING_MAILBOX"
	MissingHost    = "MISSING_DOMAIN"
)

// Envelope is IMAP's ENVELOPE (RFC 9051 §7.5.2). Date, Subject, InReplyTo
// and MessageID are the raw header values, unfolded (RFC 5322 §2.2.3) but not
// decoded, "" when absent. Address lists are nil when absent; as RFC 9051
// requires, Sender and ReplyTo are copies of From when their header fields
// are absent or empty.
type Envelope struct {
	Date      string    `json:"date,omitempty"`
	Subject   string    `json:"subj,omitempty"`
	From      []Address `json:"from,omitempty"`
	Sender    []Address `json:"sender,omitempty"`
	ReplyTo   []Address `json:"rt,omitempty"`
	To        []Address `json:"to,omitempty"`
	Cc        []Address `json:"cc,omitempty"`
	Bcc       []Address `json:"bcc,omitempty"`
	InReplyTo string    `json:"irt,omitempty"`
	MessageID string    `json:"mid,omitempty"`
}

// Part is one node of the body structure, with the fields RFC 9051 §7.5.2
// BODYSTRUCTURE reports (including the extension data) and the byte offsets
// of the part within the raw message.
//
// IMAP sections map onto the offsets: BODY[n] is [BodyStart, End), BODY[n.MIME]
// is [HeaderStart, BodyStart). For a message/rfc822 part, BODY[n.HEADER] and
// BODY[n.TEXT] are the header and body of Message.Root.
type Part struct {
	// Type and Subtype are lower case. Without a (valid) Content-Type they
	// are text/plain, or message/rfc822 inside multipart/digest (RFC 2046
	// §5.1.5).
	Type    string `json:"t"`
	Subtype string `json:"s"`
	// Params are the Content-Type parameters, names lower case, values
	// decoded to UTF-8 (RFC 2231 continuations and charsets, and RFC 2047
	// encoded words as found in the wild). A text part without a charset
	// gets charset us-ascii, its RFC 2046 §4.1.2 default.
	Params map[string]string `json:"p,omitempty"`
	// ID and Description are the raw, unfolded Content-ID and
	// Content-Description values.
	ID          string `json:"id,omitempty"`
	Description string `json:"desc,omitempty"`
	// Encoding is the Content-Transfer-Encoding, upper case, "7BIT" when
	// absent (RFC 2045 §6.1).
	Encoding string `json:"enc"`
	// Disposition is the lower-case Content-Disposition value (RFC 2183), ""
	// when absent; DispositionParams are decoded like Params.
	Disposition       string            `json:"disp,omitempty"`
	DispositionParams map[string]string `json:"dp,omitempty"`
	// Language is the Content-Language list (RFC 3282), Location the
	// Content-Location (RFC 2557) and MD5 the Content-MD5 (RFC 1864).
	Language []string `json:"lang,omitempty"`
	Location string   `json:"loc,omitempty"`
	MD5      string   `json:"md5,omitempty"`

	// HeaderStart is where the part's header starts, BodyStart where its
	// body starts (after the blank line) and End where its body ends
	// (before the line break that precedes the next boundary delimiter,
	// which RFC 2046 §5.1.1 makes part of the delimiter). End-BodyStart is
	// the body size IMAP reports.
	HeaderStart int64 `json:"hs"`
	BodyStart   int64 `json:"bs"`
	End         int64 `json:"e"`
	// Lines is the number of lines of the body (a last line without a line
	// break counts). It is set for every part; IMAP reports it for text/*
	// and message/rfc822 parts.
	Lines int64 `json:"l,omitempty"`

	// Parts are the children of a multipart part.
	Parts []*Part `json:"parts,omitempty"`
	// Message is the encapsulated message of a message/rfc822 or
	// message/global part, with offsets relative to the outermost message.
	Message *Parsed `json:"msg,omitempty"`
}

// Parsed is the result of parsing a message.
//
// For an encapsulated message (Part.Message) only Envelope, Root,
// HeaderSize and Size are set; the fields for SEARCH and SORT are set on the
// outermost message only.
type Parsed struct {
	Envelope Envelope `json:"env"`
	// Root is the top-level part; for a non-multipart message, the single
	// part. Its HeaderStart is where the message starts.
	Root *Part `json:"root"`
	// HeaderSize is the size of the message header including the blank
	// line (BODY[HEADER]); Size is the size of the whole message.
	HeaderSize int64 `json:"hsz"`
	Size       int64 `json:"sz"`

	// Subject is the Subject decoded to UTF-8 (RFC 2047).
	Subject string `json:"-"`
	// From, To, Cc and Bcc are the address lists as display text with
	// decoded names, e.g. "Alice <a@x>, b@y", for SEARCH.
	From string `json:"-"`
	To   string `json:"-"`
	Cc   string `json:"-"`
	Bcc  string `json:"-"`
	// Date is the parsed Date header field, zero if missing or unparsable.
	Date time.Time `json:"-"`
	// MessageID and InReplyTo are the first msg-id (RFC 5322 §3.6.4) of
	// those fields and References all of its msg-ids, without the angle
	// brackets.
	MessageID  string   `json:"-"`
	InReplyTo  string   `json:"-"`
	References []string `json:"-"`
}

// Limits bound the work and memory of Parse. Content beyond a limit is not
// dropped: it stays in the body of the enclosing part, unparsed.
type Limits struct {
	// MaxDepth is how deeply multiparts and encapsulated messages are
	// descended into; a container at that depth is kept opaque.
	MaxDepth int
	// MaxParts is how many parts are parsed; further boundaries are treated
	// as content. (Synthetic opaque parts, at most one per container, come
	// on top.)
	MaxParts int
	// MaxHeaderBytes is how much of each header block is kept and parsed;
	// the rest of an oversized header is skipped.
	MaxHeaderBytes int64
}

// DefaultLimits returns the limits used for delivered messages: MaxDepth 32,
// MaxParts 10000 and MaxHeaderBytes 1 MiB.
func DefaultLimits() Limits {
	return Limits{MaxDepth: 32, MaxParts: 10000, MaxHeaderBytes: 1 << 20}
}

// withDefaults replaces non-positive fields by their defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxParts <= 0 {
		l.MaxParts = d.MaxParts
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	return l
}

// readBufSize is the read buffer size; lines longer than it are read in
// pieces.
const readBufSize = 32 << 10

// Parse parses the raw message of size bytes in r, reading it once from the
// start. Memory stays bounded whatever the message size: at most one header
// block (lim.MaxHeaderBytes) and a read buffer are held. Non-positive fields
// of lim take their DefaultLimits values.
//
// Malformed content never fails the parse; it degrades as RFC-compliant
// servers do: an unparsable Content-Type is text/plain (RFC 2045 §5.2), a
// missing close delimiter ends the parts at the end of the message, and
// content beyond the limits stays unparsed in the enclosing body. Errors are
// returned only for I/O, including r holding fewer than size bytes.
func Parse(r io.ReaderAt, size int64, lim Limits) (*Parsed, error) {
	if size < 0 {
		return nil, fmt.Errorf("message: negative size %d", size)
	}
	bufSize := int(min(size, readBufSize)) // bufio makes it at least 16 bytes
	s := newScanner(bufio.NewReaderSize(io.NewSectionReader(r, 0, size), bufSize), lim.withDefaults())
	p, err := s.run()
	if err != nil {
		return nil, err
	}
	if s.off != size {
		return nil, fmt.Errorf("message: read %d of %d bytes: %w", s.off, size, io.ErrUnexpectedEOF)
	}
	return p, nil
}
