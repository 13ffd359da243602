// Package search evaluates IMAP search programs (RFC 9051 §6.4.4, with the
// keys of CONDSTORE (RFC 7162), WITHIN (RFC 5032) and SAVEDATE (RFC 8514))
// against one message at a time. It holds no state and does no I/O: the
// server fills a Message, loading the costly parts (header fields, text)
// only when NeedsOf says the program uses them, and through functions
// called only when evaluation reaches them.
//
// String keys match substrings, case-insensitively under Unicode simple case
// folding (which for US-ASCII search strings is ASCII case-insensitivity,
// as RFC 9051 §6.4.4 requires; for UTF-8 it follows the i;unicode-casemap
// spirit of RFC 5051 without normalization).
package search

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"postel/internal/imap"
)

// Message is what evaluation needs to know about one message.
//
// Dates are compared as days "disregarding time and timezone" (RFC 9051
// §6.4.4): the day of each time in its own location. The server passes
// InternalDate and SaveDate in the zone its FETCH INTERNALDATE and SAVEDATE
// show them in, and Sent with the Date header's own offset when it knows it,
// so that the client and the search agree on which day a message is of.
type Message struct {
	SeqNum uint32
	UID    uint32
	ModSeq uint64
	// Flags are the system flags (`\Seen`...) and keywords; both are
	// compared case-insensitively.
	Flags        []string
	InternalDate time.Time
	// SaveDate is zero when unknown; the SAVED* keys then use InternalDate.
	SaveDate time.Time
	Size     int64 // RFC822.SIZE
	// Sent is the Date header field, zero when missing or unparsable; the
	// SENT* keys then use InternalDate, as RFC 5256 §2.2 does for sorting.
	Sent time.Time
	// Subject, From, To, Cc and Bcc are decoded header text (the address
	// lists as display text, e.g. `Alice <a@example.org>, b@example.net`).
	Subject, From, To, Cc, Bcc string
	// Header returns the values of a header field (name case-insensitive),
	// RFC 2047 decoded; nil when the message has no such field. Called only
	// for HEADER keys.
	Header func(field string) []string
	// Text returns the searchable text of the message (see
	// message.ExtractText): the header fields and the body. Called at most
	// once, only for TEXT and BODY keys.
	Text func() (headers, body string, err error)
	// EmailID and ThreadID are the message's OBJECTID identifiers (RFC
	// 8474 §5), set by the server when the program has EMAILID or
	// THREADID keys; "" matches no key (THREADID NIL).
	EmailID, ThreadID string
}

// Context is what evaluation needs to know about the mailbox and session.
type Context struct {
	// MaxSeq and MaxUID are the numbers "*" stands for (RFC 9051 §9: the
	// largest number in use).
	MaxSeq, MaxUID uint32
	// Saved is the saved search result "$" (SEARCHRES, RFC 5182 §2.1): the
	// UIDs of the messages it holds, sorted ascending.
	Saved []uint32
	// Now is the time OLDER and YOUNGER count from; time.Now() when zero.
	Now time.Time
}

// Needs tells the server what a program uses, so that it loads only that.
type Needs struct {
	Text    bool // a TEXT key: Message.Text (headers and body)
	Body    bool // a BODY key: Message.Text (body)
	Headers bool // a HEADER key: Message.Header
	// Terms are the non-empty TEXT and BODY strings that every matching
	// message contains: those of keys joined to the top of the program by
	// AND only (never under OR or NOT). A full-text index can select the
	// candidates holding all of them; Match then decides exactly. Nil when
	// the program has none, and then no such prefilter is possible.
	Terms []string
}

// NeedsOf returns what program k uses.
func NeedsOf(k *imap.SearchKey) Needs {
	var n Needs
	needs(k, true, &n, 0)
	return n
}

func needs(k *imap.SearchKey, top bool, n *Needs, depth int) {
	if k == nil || depth > maxDepth {
		return
	}
	switch k.Op {
	case "TEXT", "BODY":
		if k.Op == "TEXT" {
			n.Text = true
		} else {
			n.Body = true
		}
		if top && k.Value != "" && !slices.Contains(n.Terms, k.Value) {
			n.Terms = append(n.Terms, k.Value)
		}
	case "HEADER":
		n.Headers = true
	}
	for _, c := range k.Children {
		needs(c, top && k.Op == "AND", n, depth+1)
	}
}

// maxDepth bounds the nesting of a program; the parser's bound is lower.
const maxDepth = 1000

// ErrProgram is wrapped by the errors Match returns for a malformed
// program: one the parser cannot produce.
var ErrProgram = errors.New("search: malformed program")

// Match reports whether message m matches program k in context c (nil
// for an empty one). Its errors are ErrProgram, and those of m.Text or a
// missing m.Text or m.Header when the program needs them.
func Match(k *imap.SearchKey, m *Message, c *Context) (bool, error) {
	if c == nil {
		c = &Context{}
	}
	e := evaluator{m: m, c: c}
	return e.match(k, 0)
}

// evaluator evaluates one program on one message, caching what it loads.
type evaluator struct {
	m *Message
	c *Context

	textLoaded    bool
	headers, body string // folded
}

func (e *evaluator) match(k *imap.SearchKey, depth int) (bool, error) {
	if k == nil || depth > maxDepth {
		return false, fmt.Errorf("%w: nil or too deep", ErrProgram)
	}
	m := e.m
	switch k.Op {
	case "AND":
		// Cheap keys first: a false one spares loading the text.
		for _, costly := range []bool{false, true} {
			for _, c := range k.Children {
				if isCostly(c) != costly {
					continue
				}
				ok, err := e.match(c, depth+1)
				if err != nil || !ok {
					return false, err
				}
			}
		}
		return true, nil
	case "OR":
		if len(k.Children) != 2 {
			return false, fmt.Errorf("%w: OR with %d operands", ErrProgram, len(k.Children))
		}
		a, b := k.Children[0], k.Children[1]
		if isCostly(a) && !isCostly(b) {
			a, b = b, a
		}
		ok, err := e.match(a, depth+1)
		if err != nil || ok {
			return ok, err
		}
		return e.match(b, depth+1)
	case "NOT":
		if len(k.Children) != 1 {
			return false, fmt.Errorf("%w: NOT with %d operands", ErrProgram, len(k.Children))
		}
		ok, err := e.match(k.Children[0], depth+1)
		return !ok && err == nil, err

	case "ALL":
		return true, nil
	case "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "SEEN", "RECENT":
		return e.hasFlag(`\` + k.Op), nil
	case "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN":
		return !e.hasFlag(`\` + k.Op[2:]), nil
	case "NEW":
		// RFC 3501 §6.4.4: NEW is (RECENT UNSEEN); the server passes
		// \Recent among the flags of the session's recent messages.
		return e.hasFlag(`\Recent`) && !e.hasFlag(`\Seen`), nil
	case "OLD":
		return !e.hasFlag(`\Recent`), nil // RFC 3501 §6.4.4: NOT RECENT
	case "KEYWORD":
		return e.hasFlag(k.Value), nil
	case "UNKEYWORD":
		return !e.hasFlag(k.Value), nil

	case "BCC":
		return contains(m.Bcc, k.Value), nil
	case "CC":
		return contains(m.Cc, k.Value), nil
	case "FROM":
		return contains(m.From, k.Value), nil
	case "TO":
		return contains(m.To, k.Value), nil
	case "SUBJECT":
		return contains(m.Subject, k.Value), nil
	case "HEADER":
		return e.header(k.Field, k.Value)
	case "BODY", "TEXT":
		if err := e.loadText(); err != nil {
			return false, err
		}
		v := fold(k.Value)
		// RFC 9051 §6.4.4: TEXT looks in the header and the body.
		return strings.Contains(e.body, v) || k.Op == "TEXT" && strings.Contains(e.headers, v), nil

	case "BEFORE":
		return day(m.InternalDate) < day(k.Date), nil
	case "ON":
		return day(m.InternalDate) == day(k.Date), nil
	case "SINCE":
		return day(m.InternalDate) >= day(k.Date), nil
	case "SENTBEFORE":
		return day(e.sent()) < day(k.Date), nil
	case "SENTON":
		return day(e.sent()) == day(k.Date), nil
	case "SENTSINCE":
		return day(e.sent()) >= day(k.Date), nil
	case "SAVEDBEFORE":
		return day(e.saved()) < day(k.Date), nil
	case "SAVEDON":
		return day(e.saved()) == day(k.Date), nil
	case "SAVEDSINCE":
		return day(e.saved()) >= day(k.Date), nil
	case "SAVEDATESUPPORTED":
		// RFC 8514 §4.3: all messages when the mailbox keeps save dates,
		// which every Postel mailbox does.
		return true, nil

	case "LARGER":
		return m.Size > k.Number, nil
	case "SMALLER":
		return m.Size < k.Number, nil

	case "SEQSET":
		if k.Set == nil {
			return false, fmt.Errorf("%w: SEQSET without a set", ErrProgram)
		}
		return e.inSet(k.Set, m.SeqNum, e.c.MaxSeq), nil
	case "UID":
		if k.Set == nil {
			return false, fmt.Errorf("%w: UID without a set", ErrProgram)
		}
		return e.inSet(k.Set, m.UID, e.c.MaxUID), nil

	case "MODSEQ":
		// RFC 7162 §3.1.5: a mod-sequence equal to or greater than the value.
		return k.Number >= 0 && m.ModSeq >= uint64(k.Number), nil

	case "EMAILID":
		// RFC 8474 §6: the messages with that EMAILID, compared exactly.
		return m.EmailID != "" && m.EmailID == k.Value, nil
	case "THREADID":
		return m.ThreadID != "" && m.ThreadID == k.Value, nil

	case "OLDER", "YOUNGER":
		// RFC 5032 §3: the interval counts back from now; YOUNGER is within
		// it (internal date at or after now - interval), OLDER before it.
		now := e.c.Now
		if now.IsZero() {
			now = time.Now()
		}
		edge := now.Add(-time.Duration(min(max(k.Number, 0), maxInterval)) * time.Second)
		younger := !m.InternalDate.Before(edge)
		return younger == (k.Op == "YOUNGER"), nil
	}
	return false, fmt.Errorf("%w: unknown key %q", ErrProgram, k.Op)
}

// maxInterval is the longest interval OLDER and YOUNGER count, in seconds
// (about 290 years, the range of time.Duration).
const maxInterval = int64(1<<63-1) / int64(time.Second)

// isCostly reports whether evaluating k may load the message text or
// header fields.
func isCostly(k *imap.SearchKey) bool {
	if k == nil {
		return false
	}
	switch k.Op {
	case "TEXT", "BODY", "HEADER":
		return true
	}
	for _, c := range k.Children {
		if isCostly(c) {
			return true
		}
	}
	return false
}

func (e *evaluator) hasFlag(f string) bool {
	for _, g := range e.m.Flags {
		if strings.EqualFold(f, g) {
			return true
		}
	}
	return false
}

// header implements HEADER (RFC 9051 §6.4.4): the field present, with the
// string in its value; an empty string matches any message with the field.
func (e *evaluator) header(field, value string) (bool, error) {
	if e.m.Header == nil {
		return false, errors.New("search: header fields not loaded")
	}
	values := e.m.Header(field)
	if len(values) == 0 {
		return false, nil
	}
	if value == "" {
		return true, nil
	}
	v := fold(value)
	for _, h := range values {
		if strings.Contains(fold(h), v) {
			return true, nil
		}
	}
	return false, nil
}

func (e *evaluator) loadText() error {
	if e.textLoaded {
		return nil
	}
	if e.m.Text == nil {
		return errors.New("search: message text not loaded")
	}
	h, b, err := e.m.Text()
	if err != nil {
		return fmt.Errorf("search: message text: %w", err)
	}
	e.headers, e.body, e.textLoaded = fold(h), fold(b), true
	return nil
}

func (e *evaluator) sent() time.Time {
	if e.m.Sent.IsZero() {
		return e.m.InternalDate
	}
	return e.m.Sent
}

func (e *evaluator) saved() time.Time {
	if e.m.SaveDate.IsZero() {
		return e.m.InternalDate
	}
	return e.m.SaveDate
}

// inSet reports whether n is in set, where "*" is max (RFC 9051 §9) and
// "$" the saved result, which holds UIDs (RFC 5182 §2.1).
func (e *evaluator) inSet(set *imap.SeqSet, n, max uint32) bool {
	if set.Saved {
		_, ok := slices.BinarySearch(e.c.Saved, e.m.UID)
		return ok
	}
	for _, r := range set.Ranges {
		lo, hi := r.Start, r.Stop
		if lo == 0 {
			lo = max
		}
		if hi == 0 {
			hi = max
		}
		if lo > hi {
			lo, hi = hi, lo // RFC 9051 §9: 4:2 is 2:4
		}
		if lo <= n && n <= hi {
			return true
		}
	}
	return false
}

// day returns the calendar day of t in its own location, as a number that
// orders days.
func day(t time.Time) int {
	y, m, d := t.Date()
	return y*10000 + int(m)*100 + d
}

// contains reports whether s contains substr, case-insensitively.
func contains(s, substr string) bool {
	return strings.Contains(fold(s), fold(substr))
}

// fold maps s to a case-folded form in which two strings are equal when
// they differ only by Unicode simple case folding: each character becomes
// the smallest member of its case-folding orbit (so ASCII letters become
// upper case).
func fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s)
	}
	return strings.Map(foldRune, s)
}

func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' {
			r -= 'a' - 'A'
		}
		return r
	}
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	return least
}
