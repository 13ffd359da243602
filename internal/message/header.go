package message

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
)

// parseFields parses a header block with go-message's textproto reader.
// Lines that reader would reject (no colon, a bad field name, a
// continuation with nothing to continue) are dropped first, so that one bad
// line never hides the fields after it.
func parseFields(raw []byte) textproto.Header {
	clean := make([]byte, 0, len(raw))
	keep := false
	for len(raw) > 0 {
		n := bytes.IndexByte(raw, '\n') + 1
		if n == 0 {
			n = len(raw)
		}
		ln := raw[:n]
		raw = raw[n:]
		content := bytes.TrimSuffix(bytes.TrimSuffix(ln, []byte("\n")), []byte("\r"))
		if len(content) == 0 {
			break // the blank line ends the header (RFC 5322 §2.1)
		}
		if content[0] != ' ' && content[0] != '\t' {
			colon := bytes.IndexByte(content, ':')
			keep = colon > 0 && validFieldName(bytes.TrimRight(content[:colon], " \t"))
		}
		if keep {
			clean = append(clean, content...)
			clean = append(clean, '\r', '\n')
		}
	}
	// The input is clean, so the reader cannot fail; on error it returns
	// the fields read so far anyway.
	h, _ := textproto.ReadHeader(bufio.NewReaderSize(bytes.NewReader(clean), min(len(clean), 4096)))
	return h
}

// validFieldName reports whether b is an RFC 5322 §3.6.8 field name:
// printable US-ASCII but colon.
func validFieldName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// rawValue returns the value of the first field named key, unfolded by
// removing its line breaks (RFC 5322 §2.2.3) and trimmed, but not decoded.
func rawValue(h *textproto.Header, key string) string {
	b, err := h.Raw(key)
	if err != nil || b == nil {
		return ""
	}
	b = b[bytes.IndexByte(b, ':')+1:]
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		if c != '\r' && c != '\n' {
			sb.WriteByte(c)
		}
	}
	return clean(strings.Trim(sb.String(), " \t"))
}

// clean makes s valid UTF-8, as stored strings must be.
func clean(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// decodeText decodes RFC 2047 encoded words to UTF-8; text it cannot
// decode (an unknown charset) is kept as it is.
func decodeText(s string) string {
	if !strings.Contains(s, "=?") {
		return clean(s)
	}
	d, err := wordDecoder.DecodeHeader(s)
	if err != nil {
		return clean(s)
	}
	return clean(d)
}

// partHeader sets p's MIME fields (RFC 2045, RFC 2183, RFC 3282, RFC 2557,
// RFC 1864) from its header.
func partHeader(p *Part, h *textproto.Header, digest bool) {
	typ, params, ok := parseParamField(h.Get("Content-Type"), true)
	if !ok {
		// RFC 2045 §5.2: no or an invalid Content-Type means the default,
		// which is message/rfc822 in a digest (RFC 2046 §5.1.5).
		typ, params = "text/plain", nil
		if digest {
			typ = "message/rfc822"
		}
	}
	p.Type, p.Subtype, _ = strings.Cut(typ, "/")
	if p.Type == "multipart" {
		// RFC 2046 §5.1.1: the boundary parameter is required.
		if b := params["boundary"]; b == "" || len(b) > maxBoundary {
			p.Type, p.Subtype, params = "text", "plain", nil
		}
	}
	if p.Type == "text" && params["charset"] == "" {
		// RFC 2046 §4.1.2: the default charset is US-ASCII.
		if params == nil {
			params = make(map[string]string, 1)
		}
		params["charset"] = "us-ascii"
	}
	p.Params = params
	p.Encoding = transferEncoding(h.Get("Content-Transfer-Encoding"))
	p.ID = rawValue(h, "Content-Id")
	p.Description = rawValue(h, "Content-Description")
	if v := h.Get("Content-Disposition"); v != "" {
		if d, dp, ok := parseParamField(v, false); ok {
			p.Disposition, p.DispositionParams = d, dp
		}
	}
	p.Language = languages(h.Get("Content-Language"))
	// RFC 2557 §4.4.2: folding white space is not part of the URI.
	p.Location = strings.NewReplacer(" ", "", "\t", "").Replace(rawValue(h, "Content-Location"))
	p.MD5 = rawValue(h, "Content-Md5")
}

// messageHeader sets the envelope of m and, for the outermost message, the
// fields SEARCH and SORT use.
func messageHeader(m *Parsed, h *textproto.Header, outer bool) {
	env := &m.Envelope
	env.Date = rawValue(h, "Date")
	env.Subject = rawValue(h, "Subject")
	env.From = parseAddressList(h.Get("From"))
	env.Sender = parseAddressList(h.Get("Sender"))
	env.ReplyTo = parseAddressList(h.Get("Reply-To"))
	env.To = parseAddressList(h.Get("To"))
	env.Cc = parseAddressList(h.Get("Cc"))
	env.Bcc = parseAddressList(h.Get("Bcc"))
	env.InReplyTo = rawValue(h, "In-Reply-To")
	env.MessageID = rawValue(h, "Message-Id")
	// RFC 9051 §7.5.2: absent or empty Sender and Reply-To default to From.
	if env.Sender == nil {
		env.Sender = cloneAddresses(env.From)
	}
	if env.ReplyTo == nil {
		env.ReplyTo = cloneAddresses(env.From)
	}
	if !outer {
		return
	}
	m.Subject = decodeText(h.Get("Subject"))
	m.From = formatAddressList(env.From)
	m.To = formatAddressList(env.To)
	m.Cc = formatAddressList(env.Cc)
	m.Bcc = formatAddressList(env.Bcc)
	m.Date = parseDate(env.Date)
	if ids := msgIDs(env.MessageID); len(ids) > 0 {
		m.MessageID = ids[0]
	}
	if ids := msgIDs(env.InReplyTo); len(ids) > 0 {
		m.InReplyTo = ids[0]
	}
	m.References = capReferences(msgIDs(rawValue(h, "References")))
}

func cloneAddresses(a []Address) []Address {
	if a == nil {
		return nil
	}
	return append([]Address(nil), a...)
}

// ParseDate parses a Date field's value as written (Envelope.Date), in its
// own zone: what SENTON and the other SENT* search keys compare (RFC 3501
// §6.4.4); the zero time when it cannot.
func ParseDate(v string) time.Time { return parseDate(v) }

// parseDate parses an RFC 5322 §3.3 date-time, with the obsolete forms
// net/mail accepts; the zero time when it cannot.
func parseDate(v string) time.Time {
	if v == "" {
		return time.Time{}
	}
	t, err := mail.ParseDate(v)
	if err != nil {
		// A trailing comment net/mail does not take, as in "... +0200 (CEST) x".
		if i := strings.IndexByte(v, '('); i > 0 {
			t, err = mail.ParseDate(v[:i])
		}
		if err != nil {
			return time.Time{}
		}
	}
	return t
}

// msgIDs returns the msg-ids (RFC 5322 §3.6.4) of a Message-ID, In-Reply-To
// or References value without their angle brackets. A value without any
// brackets that is a single word counts as one id, as sent by some mailers.
// MaxReferences bounds the References kept per message: the first (the
// thread's root) and the last ones (the nearest ancestors), which is what
// threading (RFC 5256 §5) uses; a huge list would only cost time.
const MaxReferences = 100

func capReferences(ids []string) []string {
	if len(ids) <= MaxReferences {
		return ids
	}
	return append(ids[:1:1], ids[len(ids)-(MaxReferences-1):]...)
}

func msgIDs(v string) []string {
	var ids []string
	rest := v
	for {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i+1:], '>')
		if j < 0 {
			break
		}
		id := strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, rest[i+1:i+1+j])
		if id != "" {
			ids = append(ids, id)
		}
		rest = rest[i+1+j+1:]
	}
	if ids == nil {
		if w := strings.TrimSpace(v); w != "" && !strings.ContainsAny(w, " \t<>") {
			ids = []string{w}
		}
	}
	return ids
}

// transferEncoding returns the Content-Transfer-Encoding mechanism, upper
// case, "7BIT" by default (RFC 2045 §6.1).
func transferEncoding(v string) string {
	l := lexer{s: v}
	l.cfws()
	if t := l.token(); t != "" {
		return strings.ToUpper(t)
	}
	return "7BIT"
}

// languages parses Content-Language (RFC 3282 §2): a comma-separated list
// of language tags.
func languages(v string) []string {
	var tags []string
	l := lexer{s: v}
	for {
		l.cfws()
		if l.eof() {
			return tags
		}
		if t := l.token(); t != "" {
			tags = append(tags, t)
		} else {
			l.i++ // a comma or a stray special
		}
	}
}

// parseParamField parses a "value *(; parameter)" field: Content-Type (RFC
// 2045 §5.1, where value is type "/" subtype) or Content-Disposition (RFC
// 2183 §2). It is lenient as mail in the wild needs: comments anywhere,
// unquoted values with specials, missing semicolons, junk skipped to the
// next semicolon. The value is lower case; ok is false when it is missing
// or malformed.
func parseParamField(s string, media bool) (value string, params map[string]string, ok bool) {
	l := lexer{s: s}
	l.cfws()
	value = l.token()
	ok = value != ""
	if media {
		l.cfws()
		if l.eof() || l.s[l.i] != '/' {
			ok = false
		} else {
			l.i++
			l.cfws()
			sub := l.token()
			ok = ok && sub != ""
			value += "/" + sub
		}
	}
	var raw []rawParam
	for {
		l.cfws()
		if l.eof() {
			break
		}
		if l.s[l.i] == ';' {
			l.i++
			continue
		}
		attr := l.token()
		l.cfws()
		if attr == "" || l.eof() || l.s[l.i] != '=' {
			l.skipTo(';')
			continue
		}
		l.i++
		l.cfws()
		var v string
		if !l.eof() && l.s[l.i] == '"' {
			v = l.quoted()
		} else {
			v = l.bare()
		}
		raw = append(raw, rawParam{strings.ToLower(attr), v})
	}
	return strings.ToLower(value), decodeParams(raw), ok
}

type rawParam struct{ name, value string }

// decodeParams joins RFC 2231 continuations (§3) and decodes their charsets
// (§4) to UTF-8. Where both a plain and an RFC 2231 form of a parameter
// exist, the RFC 2231 one wins; otherwise the first of duplicates wins.
// Plain values holding RFC 2047 encoded words, which RFC 2047 §5 forbids
// but mailers send, are decoded too, except the boundary.
func decodeParams(raw []rawParam) map[string]string {
	if len(raw) == 0 {
		return nil
	}
	type section struct {
		v       string
		encoded bool
	}
	out := make(map[string]string, len(raw))
	sections := make(map[string]map[int]section)
	for _, p := range raw {
		name, rest, star := strings.Cut(p.name, "*")
		if name == "" {
			continue // "*0=x": no name
		}
		if !star {
			if _, dup := out[name]; !dup {
				out[name] = decodeText(p.value)
				if name == "boundary" {
					out[name] = clean(p.value) // matched byte for byte
				}
			}
			continue
		}
		idx, encoded := 0, true // name*
		if rest != "" {
			num, enc := strings.CutSuffix(rest, "*")
			n, ok := sectionNumber(num)
			if !ok {
				continue
			}
			idx, encoded = n, enc
		}
		m := sections[name]
		if m == nil {
			m = make(map[int]section)
			sections[name] = m
		}
		if _, dup := m[idx]; !dup {
			m[idx] = section{p.value, encoded}
		}
	}
	for name, m := range sections {
		var cs string
		var buf []byte
		for i := 0; ; i++ {
			sec, ok := m[i]
			if !ok {
				break
			}
			v := sec.v
			if !sec.encoded {
				buf = append(buf, v...)
				continue
			}
			if i == 0 {
				// charset'language'value; both may be empty.
				if c, rest, ok := strings.Cut(v, "'"); ok {
					if _, val, ok := strings.Cut(rest, "'"); ok {
						cs, v = c, val
					}
				}
			}
			buf = appendPercentDecoded(buf, v)
		}
		if _, ok := m[0]; ok {
			out[name] = clean(toUTF8(cs, buf))
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// sectionNumber parses an RFC 2231 section number: digits, no leading zero.
func sectionNumber(s string) (int, bool) {
	if s == "" || len(s) > 4 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// appendPercentDecoded appends v with its %XX escapes decoded; a malformed
// escape is kept as it is.
func appendPercentDecoded(buf []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		if v[i] == '%' && i+2 < len(v) {
			if h, ok := unhex(v[i+1]); ok {
				if l, ok := unhex(v[i+2]); ok {
					buf = append(buf, h<<4|l)
					i += 2
					continue
				}
			}
		}
		buf = append(buf, v[i])
	}
	return buf
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// toUTF8 converts b from charset cs to UTF-8; bytes in an unknown charset
// are kept as they are.
func toUTF8(cs string, b []byte) string {
	switch strings.ToLower(cs) {
	case "", "utf-8", "utf8", "us-ascii":
		return string(b)
	}
	r, err := charset.Reader(cs, bytes.NewReader(b))
	if err != nil {
		return string(b)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return string(b)
	}
	return string(out)
}

// lexer scans the RFC 822 style tokens of structured MIME fields (RFC 2045
// §5.1). Every method advances or stops at the end, so loops over it end.
type lexer struct {
	s string
	i int
}

func (l *lexer) eof() bool { return l.i >= len(l.s) }

// cfws skips white space, line breaks and (nested) comments.
func (l *lexer) cfws() {
	for !l.eof() {
		switch l.s[l.i] {
		case ' ', '\t', '\r', '\n':
			l.i++
		case '(':
			l.comment()
		default:
			return
		}
	}
}

// comment skips a comment, at its "(", through its matching ")" or to the end.
func (l *lexer) comment() {
	depth := 0
	for !l.eof() {
		c := l.s[l.i]
		l.i++
		switch c {
		case '\\':
			if !l.eof() {
				l.i++
			}
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return
			}
		}
	}
}

// token returns an RFC 2045 token: printable US-ASCII but specials.
func (l *lexer) token() string {
	start := l.i
	for !l.eof() && isTokenChar(l.s[l.i]) {
		l.i++
	}
	return l.s[start:l.i]
}

func isTokenChar(c byte) bool {
	return c > ' ' && c < 0x7f && !strings.ContainsRune(`()<>@,;:\"/[]?=`, rune(c))
}

// quoted returns the content of a quoted-string, at its opening quote,
// with quoted-pairs resolved and line breaks removed. An unterminated
// string runs to the end.
func (l *lexer) quoted() string {
	l.i++
	var sb strings.Builder
	for !l.eof() {
		c := l.s[l.i]
		l.i++
		switch c {
		case '"':
			return sb.String()
		case '\\':
			if !l.eof() {
				sb.WriteByte(l.s[l.i])
				l.i++
			}
		case '\r', '\n':
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// bare returns an unquoted parameter value: RFC 2045 wants a token, but
// values with specials such as "=" or "/" are common, so everything up to
// a semicolon, white space or comment is taken.
func (l *lexer) bare() string {
	start := l.i
	for !l.eof() && !strings.ContainsRune("; \t\r\n(", rune(l.s[l.i])) {
		l.i++
	}
	return l.s[start:l.i]
}

// skipTo advances to the next c or the end.
func (l *lexer) skipTo(c byte) {
	for !l.eof() && l.s[l.i] != c {
		l.i++
	}
}
