package imap

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Character classes of RFC 9051 §9.
const (
	atomChar    = 1 << iota // ATOM-CHAR: CHAR except atom-specials
	astringChar             // ASTRING-CHAR: ATOM-CHAR / resp-specials
	listChar                // list-char: ATOM-CHAR / list-wildcards / resp-specials
	tagChar                 // tag: ASTRING-CHAR except "+"
)

var charClass = func() (t [256]uint8) {
	for c := 0x21; c < 0x7f; c++ {
		t[c] = atomChar | astringChar | listChar | tagChar
	}
	// atom-specials: "(" ")" "{" SP CTL list-wildcards quoted-specials resp-specials
	for _, c := range []byte(`(){%*"\]`) {
		t[c] = 0
	}
	t[']'] = astringChar | listChar | tagChar
	t['%'] = listChar
	t['*'] = listChar
	t['+'] &^= tagChar
	return t
}()

func validTag(b []byte) bool {
	for _, c := range b {
		if charClass[c]&tagChar == 0 {
			return false
		}
	}
	return len(b) > 0
}

func (r *Reader) atEnd() bool { return r.pos >= len(r.line) }

// peek returns the next byte, 0 at the end of the line.
func (r *Reader) peek() byte {
	if r.pos >= len(r.line) {
		return 0
	}
	return r.line[r.pos]
}

// take consumes c if it comes next.
func (r *Reader) take(c byte) bool {
	if r.peek() == c && r.pos < len(r.line) {
		r.pos++
		return true
	}
	return false
}

func (r *Reader) expect(c byte) {
	if !r.take(c) {
		r.syntax(fmt.Sprintf("expected %q", c))
	}
}

// sp consumes the single space that separates arguments.
func (r *Reader) sp() {
	if !r.take(' ') {
		r.syntax("expected a space")
	}
}

// chars returns the run of characters of class at r.pos.
func (r *Reader) chars(class uint8) []byte {
	start := r.pos
	for r.pos < len(r.line) && charClass[r.line[r.pos]]&class != 0 {
		r.pos++
	}
	return r.line[start:r.pos]
}

// atom reads an atom.
func (r *Reader) atom() string {
	b := r.chars(atomChar)
	if len(b) == 0 {
		r.syntax("expected an atom")
	}
	return string(b)
}

// word reads an atom used as a keyword, upper-cased.
func (r *Reader) word() string {
	return strings.ToUpper(r.atom())
}

// keyword consumes the keyword kw (upper case; any case in the input) if
// it comes next as a whole atom.
func (r *Reader) keyword(kw string) bool {
	end := r.pos + len(kw)
	if end > len(r.line) {
		return false
	}
	for i := 0; i < len(kw); i++ {
		if upper(r.line[r.pos+i]) != kw[i] {
			return false
		}
	}
	if end < len(r.line) && charClass[r.line[end]]&atomChar != 0 {
		return false
	}
	r.pos = end
	return true
}

// upper upper-cases an ASCII letter.
func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// quoted reads a quoted string (RFC 9051 §9 quoted): "\" escapes only
// DQUOTE and "\"; CR, LF and NUL are not allowed. 8-bit octets are let
// through (UTF-8 in IMAP4rev2 and UTF8=ACCEPT).
func (r *Reader) quoted() string {
	r.expect('"')
	start := r.pos
	var b []byte
	for r.pos < len(r.line) {
		switch c := r.line[r.pos]; c {
		case '"':
			s := r.line[start:r.pos]
			r.pos++
			if b != nil {
				return string(append(b, s...))
			}
			return string(s)
		case '\\':
			if r.pos+1 >= len(r.line) || (r.line[r.pos+1] != '"' && r.line[r.pos+1] != '\\') {
				r.syntax(`invalid escape in quoted string (only \" and \\)`)
			}
			b = append(b, r.line[start:r.pos]...)
			b = append(b, r.line[r.pos+1])
			r.pos += 2
			start = r.pos
		case 0, '\r', '\n':
			r.syntax("invalid character in quoted string")
		default:
			r.pos++
		}
	}
	r.bad("unterminated quoted string")
	return ""
}

// str reads a string: quoted or literal.
func (r *Reader) str() string {
	switch r.peek() {
	case '"':
		return r.quoted()
	case '{':
		return r.literal()
	}
	r.syntax("expected a quoted string or a literal")
	return ""
}

// astring reads an astring: atom (with "]"), quoted or literal.
func (r *Reader) astring() string {
	switch r.peek() {
	case '"':
		return r.quoted()
	case '{':
		return r.literal()
	}
	b := r.chars(astringChar)
	if len(b) == 0 {
		r.syntax("expected a string")
	}
	return string(b)
}

// nstring reads a string or NIL, which is returned as "".
func (r *Reader) nstring() string {
	if r.keyword("NIL") {
		return ""
	}
	return r.str()
}

// mailbox reads a mailbox name: INBOX in any case is "INBOX" (RFC 9051
// §5.1); other names are decoded to UTF-8.
func (r *Reader) mailbox() string {
	s := r.astring()
	if strings.EqualFold(s, "INBOX") {
		return "INBOX"
	}
	return r.decodeName(s)
}

// listMailbox reads a LIST pattern: list-char atoms (with the wildcards %
// and *) or a string, decoded to UTF-8.
func (r *Reader) listMailbox() string {
	if c := r.peek(); c == '"' || c == '{' {
		return r.decodeName(r.str())
	}
	b := r.chars(listChar)
	if len(b) == 0 {
		r.syntax("expected a mailbox pattern")
	}
	return r.decodeName(string(b))
}

// decodeName decodes a mailbox name (or pattern, or reference): UTF-8 in
// UTF8 mode, modified UTF-7 (RFC 3501 §5.1.3) otherwise.
func (r *Reader) decodeName(s string) string {
	if r.opts.UTF8 {
		if !utf8.ValidString(s) {
			r.bad("mailbox name is not valid UTF-8")
		}
		return s
	}
	d, err := DecodeUTF7(s)
	if err != nil && strings.ContainsFunc(s, func(c rune) bool { return c < 0x20 || c > 0x7e }) {
		// 8-bit or control octets: not IMAP4rev1 syntax without UTF8=ACCEPT.
		r.bad("mailbox name has octets outside printable US-ASCII: modified UTF-7 (RFC 3501 §5.1.3) or UTF8=ACCEPT is needed")
	}
	if err != nil {
		// The command is well formed; the name is one this server cannot
		// take: NO, not BAD (RFC 3501 §5.1.3 names such names invalid,
		// and §6.3 answers invalid names with NO).
		panic(&ParseError{Status: "NO", Code: "CANNOT", Text: "mailbox name is not valid modified UTF-7 (RFC 3501 §5.1.3): " + strings.TrimPrefix(err.Error(), ErrUTF7.Error()+": ")})
	}
	return d
}

// digits reads 1*DIGIT up to limit.
func (r *Reader) digits(limit uint64, what string) uint64 {
	start := r.pos
	var v uint64
	for r.pos < len(r.line) && isDigit(r.line[r.pos]) {
		d := uint64(r.line[r.pos] - '0')
		if v > (limit-d)/10 { // v*10+d > limit, tested without overflowing
			r.bad(what + " too large")
		}
		v = v*10 + d
		r.pos++
	}
	if r.pos == start {
		r.syntax("expected " + what)
	}
	return v
}

// number reads a number (32 bits).
func (r *Reader) number() uint32 { return uint32(r.digits(maxNumber, "a number")) }

// nzNumber reads a non-zero number.
func (r *Reader) nzNumber() uint32 {
	n := r.number()
	if n == 0 {
		r.bad("0 is not allowed here")
	}
	return n
}

// number64 reads a number64 (63 bits).
func (r *Reader) number64() int64 { return int64(r.digits(maxNumber64, "a number")) }

// modSeq reads a mod-sequence-value (RFC 7162 §7): 1 to 2^63-1.
func (r *Reader) modSeq() uint64 {
	n := r.digits(maxNumber64, "a mod-sequence")
	if n == 0 {
		r.bad("mod-sequence 0 is not allowed here")
	}
	return n
}

// modSeqZero reads a mod-sequence-valzer: 0 to 2^63-1.
func (r *Reader) modSeqZero() uint64 { return r.digits(maxNumber64, "a mod-sequence") }

// seqSet reads a sequence set.
func (r *Reader) seqSet() SeqSet {
	start := r.pos
	for r.pos < len(r.line) && strings.IndexByte("0123456789*:,$", r.line[r.pos]) >= 0 {
		r.pos++
	}
	if r.pos == start {
		r.syntax("expected a sequence set")
	}
	set, err := ParseSeqSet(string(r.line[start:r.pos]))
	if err != nil {
		r.pos = start
		r.syntax(err.Error())
	}
	return set
}

// parenList reads "(" elem *(SP elem) ")", or "()" when empty is allowed.
func (r *Reader) parenList(empty bool, elem func()) {
	r.expect('(')
	if r.take(')') {
		if !empty {
			r.bad("empty list not allowed here")
		}
		return
	}
	for {
		r.item()
		elem()
		if r.take(')') {
			return
		}
		r.sp()
	}
}

// systemFlags maps the system flags (RFC 9051 §2.3.2) and \Recent, in
// upper case, to their canonical spelling.
var systemFlags = map[string]string{
	`\ANSWERED`: `\Answered`,
	`\FLAGGED`:  `\Flagged`,
	`\DELETED`:  `\Deleted`,
	`\SEEN`:     `\Seen`,
	`\DRAFT`:    `\Draft`,
	`\RECENT`:   `\Recent`,
}

// flag reads a flag: a keyword atom, or "\" atom (a system flag, given its
// canonical spelling, or a flag-extension).
func (r *Reader) flag() string {
	if !r.take('\\') {
		return r.atom()
	}
	f := `\` + r.atom()
	if c, ok := systemFlags[strings.ToUpper(f)]; ok {
		return c
	}
	return f
}

// flagList reads "(" [flag *(SP flag)] ")".
func (r *Reader) flagList() []string {
	flags := []string{}
	r.parenList(true, func() { flags = append(flags, r.flag()) })
	return flags
}

var monthNames = [12]string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}

// date reads a search date (RFC 9051 §9 date): date-text, optionally in
// double quotes: day (1 or 2 digits), "-", month name, "-", 4-digit year.
// The result is that day at 00:00 UTC.
func (r *Reader) date() time.Time {
	quoted := r.take('"')
	start := r.pos
	t, n, ok := scanDate(r.line[r.pos:], false)
	if !ok {
		r.syntax(`expected a date like 1-Feb-1994`)
	}
	r.pos += n
	if quoted && !r.take('"') {
		r.pos = start
		r.syntax("expected a date in double quotes")
	}
	return t
}

// dateTime reads an APPEND date-time (RFC 9051 §9): DQUOTE date-day-fixed
// "-" date-month "-" date-year SP time SP zone DQUOTE, e.g.
// "17-Jul-1996 02:44:25 -0700".
func (r *Reader) dateTime() time.Time {
	start := r.pos
	s := r.quoted()
	t, ok := parseDateTime(s)
	if !ok {
		r.pos = start
		r.syntax(`expected a date-time like "17-Jul-1996 02:44:25 -0700"`)
	}
	return t
}

// scanDate parses day-month-year at the start of b; with fixed, the day
// may also be SP DIGIT (date-day-fixed). It returns the date and its
// length.
func scanDate(b []byte, fixed bool) (time.Time, int, bool) {
	i := 0
	if fixed && len(b) > 0 && b[0] == ' ' {
		i = 1
	}
	day, i, ok := scanDigits(b, i, 1, 2)
	if !ok || i >= len(b) || b[i] != '-' || i+4 >= len(b) || b[i+4] != '-' {
		return time.Time{}, 0, false
	}
	month := 0
	for m, name := range monthNames {
		if strings.EqualFold(string(b[i+1:i+4]), name) {
			month = m + 1
		}
	}
	year, j, ok := scanDigits(b, i+5, 4, 4)
	if month == 0 || !ok {
		return time.Time{}, 0, false
	}
	t := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	if t.Day() != day || year < 1 {
		return time.Time{}, 0, false // 31-Feb and the like
	}
	return t, j, true
}

// scanDigits parses min to max digits of b from i.
func scanDigits(b []byte, i, minN, maxN int) (int, int, bool) {
	v, n := 0, 0
	for i < len(b) && n < maxN && isDigit(b[i]) {
		v = v*10 + int(b[i]-'0')
		i++
		n++
	}
	return v, i, n >= minN
}

// parseDateTime parses the content of an APPEND date-time.
func parseDateTime(s string) (time.Time, bool) {
	b := []byte(s)
	d, i, ok := scanDate(b, true)
	if !ok || len(b) != i+15 || b[i] != ' ' || b[i+3] != ':' || b[i+6] != ':' || b[i+9] != ' ' {
		return time.Time{}, false
	}
	hh, _, ok1 := scanDigits(b, i+1, 2, 2)
	mm, _, ok2 := scanDigits(b, i+4, 2, 2)
	ss, _, ok3 := scanDigits(b, i+7, 2, 2)
	zh, _, ok4 := scanDigits(b, i+11, 2, 2)
	zm, _, ok5 := scanDigits(b, i+13, 2, 2)
	sign := b[i+10]
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || (sign != '+' && sign != '-') ||
		hh > 23 || mm > 59 || ss > 60 || zh > 23 || zm > 59 {
		return time.Time{}, false
	}
	off := (zh*60 + zm) * 60
	if sign == '-' {
		off = -off
	}
	loc := time.FixedZone("", off)
	if ss == 60 {
		ss = 59 // a leap second; time.Time cannot hold it
	}
	return time.Date(d.Year(), d.Month(), d.Day(), hh, mm, ss, 0, loc), true
}
