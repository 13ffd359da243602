// Package thread implements the SORT and THREAD extensions of RFC 5256: the
// base subject, the sort criteria, the ORDEREDSUBJECT and REFERENCES
// threading algorithms, and the THREAD response payload.
//
// Strings are compared under i;unicode-casemap (RFC 5051), as the
// I18NLEVEL=1 rules RFC 5256 §1 requires: titlecase, then NFKD, then octet
// by octet. Every function runs in bounded memory and terminates on any
// input, including reference graphs with cycles.
package thread

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"postel/internal/imap"
)

// Msg is what sorting and threading know of a message.
type Msg struct {
	// SeqNum orders messages "in the mailbox": ties of every criterion
	// are broken by it (RFC 5256 §3), and it decides which of several
	// messages with the same Message-ID keeps it (§2.2 REFERENCES 1.A).
	SeqNum uint32
	UID    uint32
	// Sent is the Date header field, zero when missing or unparsable;
	// Internal the INTERNALDATE. The "sent date" of RFC 5256 §2.2 is Sent,
	// or Internal when Sent is zero.
	Sent, Internal time.Time
	Size           int64 // RFC822.SIZE
	// Subject is the Subject header field, RFC 2047 decoded.
	Subject string
	// From, To and Cc are the addr-mailbox of the first address of those
	// fields (RFC 5256 §3), "" when there is none: from the stored
	// ENVELOPE (Envelope.From[0].Mailbox), or SortAddress of the raw field.
	From, To, Cc string
	// DisplayFrom and DisplayTo are the display sort values of the first
	// From and To address (RFC 5957 §3), from the envelope: the name, else
	// mailbox@host, else the mailbox (a group), else "".
	DisplayFrom, DisplayTo string
	// MessageID is the Message-ID without angle brackets, "" when none;
	// InReplyTo the first msg-id of In-Reply-To, References the msg-ids of
	// References, in order.
	MessageID  string
	InReplyTo  string
	References []string
}

// sentDate is the sent date of RFC 5256 §2.2.
func (m *Msg) sentDate() time.Time {
	if m.Sent.IsZero() {
		return m.Internal
	}
	return m.Sent
}

// Sort returns msgs sorted by criteria (RFC 5256 §3); msgs is not changed.
// Messages that compare equal under all criteria keep the order of their
// sequence numbers (REVERSE does not reverse that). Criteria keys are
// upper case: ARRIVAL, CC, DATE, FROM, SIZE, SUBJECT, TO; others compare
// equal.
func Sort(msgs []Msg, criteria []imap.SortCriterion) []Msg {
	type item struct {
		m                 *Msg
		subj, from, to, c string
		dfrom, dto        string // RFC 5957
	}
	items := make([]item, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		it := item{m: m}
		for _, c := range criteria {
			switch c.Key {
			case "SUBJECT":
				it.subj = casemap(BaseSubject(m.Subject))
			case "FROM":
				it.from = casemap(m.From)
			case "TO":
				it.to = casemap(m.To)
			case "CC":
				it.c = casemap(m.Cc)
			case "DISPLAYFROM":
				it.dfrom = casemap(m.DisplayFrom)
			case "DISPLAYTO":
				it.dto = casemap(m.DisplayTo)
			}
		}
		items[i] = it
	}
	slices.SortStableFunc(items, func(a, b item) int {
		for _, c := range criteria {
			var r int
			switch c.Key {
			case "ARRIVAL":
				r = a.m.Internal.Compare(b.m.Internal)
			case "DATE":
				// Instants compare as if normalized to UTC (RFC 5256 §3).
				r = a.m.sentDate().Compare(b.m.sentDate())
			case "SIZE":
				r = cmp.Compare(a.m.Size, b.m.Size)
			case "SUBJECT":
				r = strings.Compare(a.subj, b.subj)
			case "FROM":
				r = strings.Compare(a.from, b.from)
			case "TO":
				r = strings.Compare(a.to, b.to)
			case "CC":
				r = strings.Compare(a.c, b.c)
			case "DISPLAYFROM":
				r = strings.Compare(a.dfrom, b.dfrom)
			case "DISPLAYTO":
				r = strings.Compare(a.dto, b.dto)
			}
			if c.Reverse {
				r = -r
			}
			if r != 0 {
				return r
			}
		}
		return cmp.Compare(a.m.SeqNum, b.m.SeqNum)
	})
	out := make([]Msg, len(items))
	for i, it := range items {
		out[i] = *it.m
	}
	return out
}

// casemap returns the i;unicode-casemap (RFC 5051 §2) form of s: each
// character titlecased, then NFKD; such forms compare octet by octet.
func casemap(s string) string {
	return norm.NFKD.String(strings.Map(unicode.ToTitle, s))
}

// BaseSubject returns the base subject of subject (RFC 5256 §2.1), which
// must be decoded already (RFC 2047, to UTF-8). Case is kept; comparisons
// casemap it.
func BaseSubject(subject string) string {
	s, _ := baseSubject(subject)
	return s
}

// baseSubject returns the base subject and whether extracting it removed a
// subj-refwd, a "(fwd)" subj-trailer or a subj-fwd-hdr and subj-fwd-trl,
// which makes the message a reply or forward (RFC 5256 §2.2 REFERENCES
// step 5).
func baseSubject(subject string) (string, bool) {
	// (1) Tabs and line breaks become spaces, runs of spaces one space.
	var sb strings.Builder
	sb.Grow(len(subject))
	space := false
	for i := 0; i < len(subject); i++ {
		c := subject[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			if !space {
				sb.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		sb.WriteByte(c)
	}
	s := sb.String()
	refwd := false
	for {
		// (2) Remove subj-trailers: "(fwd)" or WSP, repeatedly.
		for {
			if strings.HasSuffix(s, " ") {
				s = s[:len(s)-1]
			} else if n := len(s) - len("(fwd)"); n >= 0 && strings.EqualFold(s[n:], "(fwd)") {
				s, refwd = s[:n], true
			} else {
				break
			}
		}
		// (3)-(5) Remove subj-leaders, and subj-blobs that leave a
		// non-empty subj-base, until neither matches.
		for {
			if strings.HasPrefix(s, " ") {
				s = s[1:] // a WSP subj-leader
				continue
			}
			blobs, last := blobRun(s)
			if n := refwdLen(s[blobs:]); n > 0 {
				// (3) *subj-blob subj-refwd
				s, refwd = s[blobs+n:], true
				continue
			}
			if blobs == 0 {
				break
			}
			// (4) Remove the blobs one by one while what remains is not
			// empty; a subj-leader cannot start at any of them, so (3)
			// does not match in between.
			if blobs < len(s) {
				s = s[blobs:]
			} else if last > 0 {
				s = s[last:]
			} else {
				break
			}
		}
		// (6) "[fwd:" subject "]": unwrap and start again at (2).
		if len(s) >= len("[fwd:]") && strings.EqualFold(s[:len("[fwd:")], "[fwd:") && s[len(s)-1] == ']' {
			s, refwd = s[len("[fwd:"):len(s)-1], true
			continue
		}
		return s, refwd
	}
}

// blobRun returns the length of the run of subj-blobs ("[" *BLOBCHAR "]"
// *WSP) that s starts with, and the offset of the last of them (0 when
// fewer than two).
func blobRun(s string) (n, last int) {
	for {
		l := blobLen(s[n:])
		if l == 0 {
			return n, last
		}
		last = n
		n += l
	}
}

// blobLen returns the length of the subj-blob s starts with, or 0.
func blobLen(s string) int {
	if !strings.HasPrefix(s, "[") {
		return 0
	}
	i := strings.IndexAny(s[1:], "[]")
	if i < 0 || s[1+i] != ']' {
		return 0
	}
	n := i + 2
	for n < len(s) && s[n] == ' ' {
		n++
	}
	return n
}

// refwdLen returns the length of the subj-refwd s starts with, or 0:
// ("re" / ("fw" ["d"])) *WSP [subj-blob] ":", case-insensitively.
func refwdLen(s string) int {
	var n int
	switch {
	case len(s) >= 2 && strings.EqualFold(s[:2], "re"):
		n = 2
	case len(s) >= 2 && strings.EqualFold(s[:2], "fw"):
		n = 2
		if n < len(s) && (s[n] == 'd' || s[n] == 'D') {
			n++
		}
	default:
		return 0
	}
	for n < len(s) && s[n] == ' ' {
		n++
	}
	n += blobLen(s[n:])
	if n < len(s) && s[n] == ':' {
		return n + 1
	}
	return 0
}

// SortAddress returns the addr-mailbox of the first address of an RFC 5322
// address-list (a raw From, To or Cc field value), as the first address of
// an IMAP ENVELOPE (RFC 9051 §7.5.2) has it: the local part of the first
// mailbox, unquoted, or the name of the group the list starts with. It is
// "" when the list holds no address.
func SortAddress(list string) string {
	var elem strings.Builder // top-level text of the current element, comments removed
	quote, literal, comment := false, false, 0
	for i := 0; i < len(list); i++ {
		c := list[i]
		switch {
		case quote || literal:
			elem.WriteByte(c)
			if c == '\\' && i+1 < len(list) {
				i++
				elem.WriteByte(list[i])
			} else if quote && c == '"' || literal && c == ']' {
				quote, literal = false, false
			}
			continue
		case comment > 0:
			switch c {
			case '\\':
				i++
			case '(':
				comment++
			case ')':
				comment--
			}
			continue
		}
		switch c {
		case '"':
			quote = true
			elem.WriteByte(c)
		case '[':
			literal = true // a domain literal, such as [IPv6:::1]
			elem.WriteByte(c)
		case '(':
			comment = 1
		case '<':
			end := strings.IndexByte(list[i:], '>')
			if end < 0 {
				end = len(list) - i
			}
			spec := list[i+1 : i+end]
			if strings.HasPrefix(strings.TrimSpace(spec), "@") {
				// An obsolete route: "@a,@b:" before the addr-spec.
				if j := strings.LastIndexByte(spec, ':'); j >= 0 {
					spec = spec[j+1:]
				}
			}
			return localPart(spec)
		case ':':
			if name := unquote(elem.String()); name != "" {
				return name // a group
			}
			elem.Reset() // an unnamed group: its members count
		case ',', ';':
			if lp := localPart(elem.String()); lp != "" {
				return lp
			}
			elem.Reset()
		default:
			elem.WriteByte(c)
		}
	}
	return localPart(elem.String())
}

// localPart returns the unquoted local part of an addr-spec.
func localPart(spec string) string {
	spec = strings.TrimSpace(spec)
	if i := strings.LastIndexByte(spec, '@'); i >= 0 {
		spec = spec[:i]
	}
	return unquote(spec)
}

// unquote removes the quotes and quoted-pair backslashes of s, and the
// white space around it.
func unquote(s string) string {
	if !strings.ContainsAny(s, `"\`) {
		return strings.TrimSpace(s)
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
		case '\\':
			if i+1 < len(s) {
				i++
				sb.WriteByte(s[i])
			}
		default:
			sb.WriteByte(s[i])
		}
	}
	return strings.TrimSpace(sb.String())
}

// Thread is a node of a thread tree. A node whose SeqNum and UID are both
// zero is a dummy: a parent without a message, which the algorithms leave
// only at the top level, with two or more children.
type Thread struct {
	SeqNum, UID uint32
	Children    []*Thread
}

func (t *Thread) dummy() bool { return t.SeqNum == 0 && t.UID == 0 }

// OrderedSubject threads msgs with the ORDEREDSUBJECT algorithm (RFC 5256
// §2.2): messages with the same base subject form a thread, its first
// message (by sent date) at the root and the others, in sent date order,
// its children; threads are ordered by the sent date of their first
// message. Ties are broken by sequence number.
func OrderedSubject(msgs []Msg) []*Thread {
	type item struct {
		m    *Msg
		subj string
	}
	items := make([]item, len(msgs))
	for i := range msgs {
		items[i] = item{&msgs[i], casemap(BaseSubject(msgs[i].Subject))}
	}
	slices.SortStableFunc(items, func(a, b item) int {
		if r := strings.Compare(a.subj, b.subj); r != 0 {
			return r
		}
		return compareSent(a.m, b.m)
	})
	var threads []*Thread
	var firsts []*Msg
	for i, it := range items {
		t := &Thread{SeqNum: it.m.SeqNum, UID: it.m.UID}
		if i > 0 && it.subj == items[i-1].subj {
			root := threads[len(threads)-1]
			root.Children = append(root.Children, t)
			continue
		}
		threads = append(threads, t)
		firsts = append(firsts, it.m)
	}
	order := make([]int, len(threads))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return compareSent(firsts[a], firsts[b]) })
	out := make([]*Thread, len(threads))
	for i, j := range order {
		out[i] = threads[j]
	}
	return out
}

// compareSent orders messages by sent date, then sequence number.
func compareSent(a, b *Msg) int {
	if r := a.sentDate().Compare(b.sentDate()); r != 0 {
		return r
	}
	return cmp.Compare(a.SeqNum, b.SeqNum)
}

// Format returns the payload of a THREAD response (RFC 5256 §4) for
// threads, with UIDs when uid is set, else sequence numbers: for example
// "(2)(3 6 (4 23)(44 7 96))". A dummy node contributes its children only;
// one without children contributes nothing.
func Format(threads []*Thread, uid bool) string {
	var sb strings.Builder
	for _, t := range threads {
		if t.dummy() && len(t.Children) == 0 {
			continue
		}
		writeThread(&sb, t, uid)
	}
	return sb.String()
}

// writeThread writes one thread-list: "(" thread-members / thread-nested ")".
func writeThread(sb *strings.Builder, t *Thread, uid bool) {
	sb.WriteByte('(')
	first := true
	for {
		if !t.dummy() {
			if !first {
				sb.WriteByte(' ')
			}
			n := t.SeqNum
			if uid {
				n = t.UID
			}
			sb.WriteString(strconv.FormatUint(uint64(n), 10))
			first = false
		}
		kids := make([]*Thread, 0, len(t.Children))
		for _, c := range t.Children {
			if !c.dummy() || len(c.Children) > 0 {
				kids = append(kids, c)
			}
		}
		if len(kids) == 1 {
			t = kids[0] // a chain: thread-members
			continue
		}
		if len(kids) > 1 {
			// thread-nested: one thread-list per child.
			if !first {
				sb.WriteByte(' ')
			}
			for _, c := range kids {
				writeThread(sb, c, uid)
			}
		}
		sb.WriteByte(')')
		return
	}
}
