package message

import (
	"bytes"
	"html"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// This file extracts the searchable text of a stored message (for the
// full-text index and the exact check of IMAP SEARCH TEXT and BODY) and
// decodes part bodies (for IMAP BINARY[], RFC 3516). Decoding never fails
// on bad content: what cannot be decoded is kept as it is or skipped. Only
// I/O errors are reported.

// MaxSearchText bounds the text of one message kept for full-text search:
// the limit of ExtractText wherever the index is fed (delivery, and the
// store's backfill of messages stored before the index existed).
const MaxSearchText = 1 << 20

// Bounds of text extraction.
const (
	// maxTextDepth bounds how deeply ExtractText descends into parts,
	// whatever the tree it is given.
	maxTextDepth = 64
	// maxEncodedMessages bounds the encapsulated messages with a
	// transfer encoding that are decoded and parsed, one inside another.
	maxEncodedMessages = 3
	// htmlFactor is how many bytes of HTML are read per byte of text
	// budget: tags take room.
	htmlFactor = 4
	// maxTextLimit caps the limit of ExtractText.
	maxTextLimit = 1 << 40
	// maxPendingSpace bounds the white space a quoted-printable decoder
	// holds back to see whether it ends a line.
	maxPendingSpace = 1 << 10
)

// encodedLimits parse the encapsulated messages decoded from a transfer
// encoding; they come from a buffer of bounded size.
var encodedLimits = Limits{MaxDepth: 8, MaxParts: 1000, MaxHeaderBytes: 64 << 10}

// ExtractText returns the searchable text of the message in r whose
// structure is root (as stored by Parse or UnmarshalStructure):
//
//   - headers: the top-level header fields, one "Name: value" per line,
//     unfolded (RFC 5322 §2.2.3) and with RFC 2047 encoded words decoded to
//     UTF-8;
//   - body: the text of every text/* part (text/html with its tags, scripts
//     and styles stripped and its character references decoded) and, for
//     encapsulated messages (message/rfc822, message/global), their header
//     fields and text, in message order, separated by line breaks. Content
//     transfer encodings (base64, quoted-printable; RFC 2045 §6) are
//     decoded, charsets (RFC 2046 §4.1.2) converted to UTF-8, and line
//     breaks normalized to LF. Parts of other types are skipped.
//
// Both are valid UTF-8. limit bounds the total: headers take at most half
// of it and body the rest, each cut at a character boundary; limit <= 0
// gives empty texts. Memory is bounded by a small multiple of limit and
// time by the size of the message. Bad content never fails extraction; the
// error is that of reading r, including r holding fewer bytes than root
// says (io.ErrUnexpectedEOF).
func ExtractText(r io.ReaderAt, root *Part, limit int64) (headers, body string, err error) {
	if limit <= 0 || root == nil {
		return "", "", nil
	}
	limit = min(limit, maxTextLimit) // so that budget arithmetic cannot overflow
	x := &extractor{}
	hdr := x.headerText(r, root, limit/2)
	if x.err != nil {
		return "", "", x.err
	}
	x.left = limit - int64(len(hdr))
	x.walk(r, root, 0, 0)
	if x.err != nil {
		return "", "", x.err
	}
	return hdr, x.body.String(), nil
}

// KnownEncoding reports whether DecodePart decodes the content transfer
// encoding enc (upper case, as in Part.Encoding). IMAP BINARY of a part in
// another encoding is refused with [UNKNOWN-CTE] (RFC 3516 §4.2).
func KnownEncoding(enc string) bool {
	switch enc {
	case "7BIT", "8BIT", "BINARY", "BASE64", "QUOTED-PRINTABLE":
		return true
	}
	return false
}

// DecodePart returns the body of p, [BodyStart, End) in r, with its content
// transfer encoding decoded, for IMAP BINARY[] (RFC 3516). Decoding is
// lenient, as RFC 2045 §6.7 and §6.8 advise: characters outside the base64
// alphabet are ignored, and a malformed quoted-printable escape is taken
// literally. The reader's errors are those of r. Bodies in identity or
// unknown encodings are returned as they are (see KnownEncoding).
func DecodePart(r io.ReaderAt, p *Part) io.Reader {
	return decodeTransfer(p.Encoding, io.NewSectionReader(r, p.BodyStart, p.End-p.BodyStart))
}

// decodeTransfer decodes a content transfer encoding (RFC 2045 §6).
func decodeTransfer(enc string, r io.Reader) io.Reader {
	switch enc {
	case "BASE64":
		return &decodeReader{src: r, t: &base64Decoder{}}
	case "QUOTED-PRINTABLE":
		return &decodeReader{src: r, t: &qpDecoder{}}
	}
	return r
}

// extractor accumulates the body text within its budget and records the
// first I/O error.
type extractor struct {
	body strings.Builder
	left int64 // bytes body may still take
	err  error
}

// section reads [off, end) of r for x: a short read is an error, recorded
// in x.
type section struct {
	x        *extractor
	r        io.ReaderAt
	off, end int64
}

func (s *section) Read(p []byte) (int, error) {
	if s.x.err != nil {
		return 0, s.x.err
	}
	if s.off >= s.end {
		return 0, io.EOF
	}
	if int64(len(p)) > s.end-s.off {
		p = p[:s.end-s.off]
	}
	n, err := s.r.ReadAt(p, s.off)
	s.off += int64(n)
	if n < len(p) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		s.x.err = err
		return n, err
	}
	return n, nil
}

// read returns at most n bytes of rd; read errors other than I/O errors
// (recorded in x) are decoding errors and end the data early.
func (x *extractor) read(rd io.Reader, n int64) []byte {
	b, _ := io.ReadAll(io.LimitReader(rd, n))
	return b
}

// headerText returns the header fields of the message whose root part is
// root, at most n bytes.
func (x *extractor) headerText(r io.ReaderAt, root *Part, n int64) string {
	if n <= 0 {
		return ""
	}
	size := root.BodyStart - root.HeaderStart
	raw := x.read(&section{x: x, r: r, off: root.HeaderStart, end: root.BodyStart}, min(size, 2*n+4096))
	h := parseFields(raw)
	var sb strings.Builder
	for f := h.Fields(); f.Next(); {
		// The name as written; parseFields keeps only valid ones.
		name := f.Key()
		if b, err := f.Raw(); err == nil {
			if i := bytes.IndexByte(b, ':'); i > 0 {
				name = string(bytes.TrimRight(b[:i], " \t"))
			}
		}
		if sb.Len() > 0 {
			sb.WriteByte('\n')
		}
		sb.WriteString(name)
		sb.WriteString(": ")
		sb.WriteString(decodeText(f.Value()))
		if int64(sb.Len()) >= n {
			break
		}
	}
	return truncate(sb.String(), n)
}

// add appends text to the body as a block of its own, within the budget.
func (x *extractor) add(text string) {
	if text == "" {
		return
	}
	if x.body.Len() > 0 {
		if x.left <= 1 {
			return // no room for a character after the line break
		}
		x.body.WriteByte('\n')
		x.left--
	}
	text = truncate(text, x.left)
	x.body.WriteString(text)
	x.left -= int64(len(text))
}

// walk adds the text of p and its descendants, reading from r. encoded
// counts the transfer-encoded messages decoded on the way to p.
func (x *extractor) walk(r io.ReaderAt, p *Part, depth, encoded int) {
	if x.err != nil || x.left <= 0 || depth > maxTextDepth {
		return
	}
	switch {
	case p.Type == "multipart":
		for _, c := range p.Parts {
			x.walk(r, c, depth+1, encoded)
		}
	case isMessage(p) && p.Message != nil && p.Message.Root != nil && identityEncoding(p.Encoding):
		m := p.Message.Root
		x.add(x.headerText(r, m, x.left))
		x.walk(r, m, depth+1, encoded)
	case isMessage(p):
		// RFC 2046 §5.2.1 forbids encoding a message/rfc822 part, but
		// mailers do: decode it and parse what the budget allows.
		if encoded >= maxEncodedMessages {
			return
		}
		src := decodeTransfer(p.Encoding, &section{x: x, r: r, off: p.BodyStart, end: p.End})
		raw := x.read(src, htmlFactor*x.left+4096)
		if x.err != nil {
			return
		}
		br := bytes.NewReader(raw)
		m, err := Parse(br, int64(len(raw)), encodedLimits)
		if err != nil {
			return // cannot happen with a bytes.Reader
		}
		x.add(x.headerText(br, m.Root, x.left))
		x.walk(br, m.Root, depth+1, encoded+1)
	case p.Type == "text":
		x.add(x.partText(r, p))
	}
}

// partText returns the text of the text/* part p, decoded and converted to
// UTF-8, of at most about the remaining budget.
func (x *extractor) partText(r io.ReaderAt, p *Part) string {
	s := x.partDecoded(r, p)
	if p.Subtype == "html" {
		s = stripHTML(s)
	}
	return s
}

// partDecoded returns the content of the text/* part p, transfer-decoded,
// converted to UTF-8 (valid, LF line breaks), markup included, of at most
// about the remaining budget (a multiple of it for HTML, whose tags take
// room).
func (x *extractor) partDecoded(r io.ReaderAt, p *Part) string {
	isHTML := p.Subtype == "html"
	n := x.left + utf8.UTFMax
	if isHTML {
		n = htmlFactor*x.left + 4096
	}
	var rd io.Reader = &section{x: x, r: r, off: p.BodyStart, end: p.End}
	rd = decodeTransfer(p.Encoding, rd)
	cs := strings.ToLower(p.Params["charset"])
	identity := cs == "" || cs == "us-ascii" || cs == "utf-8" || cs == "utf8"
	if !identity {
		if cr, err := charset.Reader(cs, rd); err == nil {
			rd = cr
		}
	}
	b := x.read(rd, n)
	if x.err != nil {
		return ""
	}
	if int64(len(b)) == n {
		b = trimPartialRune(b) // cut by the budget
	}
	if identity && cs != "utf-8" && cs != "utf8" && !utf8.Valid(b) {
		// 8-bit text labelled US-ASCII (often by default) is most often
		// Windows-1252; take it as such rather than losing its letters.
		if cr, err := charset.Reader("windows-1252", bytes.NewReader(b)); err == nil {
			b = x.read(cr, 3*int64(len(b)))
		}
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.ReplaceAll(s, "\r\n", "\n")
}

// trimPartialRune returns b without the incomplete UTF-8 sequence it may
// end with, having been cut.
func trimPartialRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			break
		}
	}
	return b
}

// truncate returns the longest prefix of s of at most n bytes that ends
// at a character boundary.
func truncate(s string, n int64) string {
	if int64(len(s)) <= n {
		return s
	}
	i := int(max(n, 0))
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// blockTags are the HTML elements whose tags stand for a line break in the
// text; cellTags stand for a space.
var (
	blockTags = map[string]bool{
		"address": true, "article": true, "aside": true, "blockquote": true, "br": true,
		"dd": true, "div": true, "dl": true, "dt": true, "footer": true, "form": true,
		"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
		"header": true, "hr": true, "li": true, "main": true, "nav": true, "ol": true,
		"p": true, "pre": true, "section": true, "table": true, "title": true, "tr": true,
		"ul": true,
	}
	cellTags = map[string]bool{"td": true, "th": true}
)

// stripHTML returns the text of an HTML document, crudely: tags, comments,
// and the content of script and style elements are removed (block tags
// becoming line breaks), character references decoded and runs of white
// space collapsed. It runs in linear time: every scan moves forward.
func stripHTML(s string) string {
	lower := asciiLower(s)
	var sb strings.Builder
	sb.Grow(len(s) / 2)
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '<')
		if j < 0 {
			sb.WriteString(s[i:])
			break
		}
		sb.WriteString(s[i : i+j])
		i += j
		rest := lower[i:]
		switch {
		case strings.HasPrefix(rest, "<!--"):
			i = skipPast(lower, i+4, "-->")
			continue
		case len(rest) < 2 || !isTagStart(rest[1]):
			sb.WriteByte('<') // "a < b"
			i++
			continue
		}
		name := tagName(rest[1:])
		i = skipPast(lower, i+1, ">")
		switch {
		case name == "script" || name == "style":
			i = skipPast(lower, i, "</"+name)
			i = skipPast(lower, i, ">")
		case blockTags[strings.TrimPrefix(name, "/")]:
			sb.WriteByte('\n')
		case cellTags[strings.TrimPrefix(name, "/")]:
			sb.WriteByte(' ')
		}
	}
	return collapseSpace(html.UnescapeString(sb.String()))
}

// skipPast returns the index just past the first sep in s at or after i,
// or len(s).
func skipPast(s string, i int, sep string) int {
	if i > len(s) {
		return len(s)
	}
	j := strings.Index(s[i:], sep)
	if j < 0 {
		return len(s)
	}
	return i + j + len(sep)
}

// isTagStart reports whether c, after "<", starts a tag, an end tag or a
// declaration or processing instruction.
func isTagStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c == '/' || c == '!' || c == '?'
}

// tagName returns the lower-case name of a tag, with "/" for an end tag,
// from s just after its "<".
func tagName(s string) string {
	end := 0
	if end < len(s) && s[end] == '/' {
		end++
	}
	for end < len(s) && (s[end] >= 'a' && s[end] <= 'z' || s[end] >= '0' && s[end] <= '9') {
		end++
	}
	return s[:end]
}

// asciiLower lower-cases the ASCII letters of s, keeping byte offsets.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// collapseSpace replaces every run of white space by a line break if it
// holds one, else by a space, and trims the ends.
func collapseSpace(s string) string {
	var sb strings.Builder
	sb.Grow(len(s))
	space, nl := false, false
	for _, r := range s {
		switch r {
		case ' ', '\t', '\r', '\f', '\v':
			space = true
			continue
		case '\n':
			nl = true
			continue
		}
		if sb.Len() > 0 {
			if nl {
				sb.WriteByte('\n')
			} else if space {
				sb.WriteByte(' ')
			}
		}
		space, nl = false, false
		sb.WriteRune(r)
	}
	return sb.String()
}

// transform is a streaming decoder: decode appends the decoding of src to
// dst, keeping state across calls; end appends what is pending at the end
// of the input.
type transform interface {
	decode(dst, src []byte) []byte
	end(dst []byte) []byte
}

// decodeReader reads src through a transform.
type decodeReader struct {
	src  io.Reader
	t    transform
	in   []byte
	out  []byte // decoded, not yet returned
	err  error  // of src, returned once out is drained
	done bool
}

func (d *decodeReader) Read(p []byte) (int, error) {
	for len(d.out) == 0 && !d.done {
		if d.in == nil {
			d.in = make([]byte, 4096)
		}
		n, err := d.src.Read(d.in)
		d.out = d.t.decode(d.out[:0], d.in[:n])
		if err != nil {
			d.done = true
			if err == io.EOF {
				d.out = d.t.end(d.out)
			}
			d.err = err
		}
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	if n == 0 && d.done {
		return 0, d.err
	}
	return n, nil
}

// base64Decoder decodes base64 (RFC 2045 §6.8) leniently: characters
// outside the alphabet are ignored, as §6.8 requires, and padding ends a
// group, after which decoding starts afresh (concatenated encodings).
type base64Decoder struct {
	acc uint32 // sextets of the current group
	n   int    // how many
}

func (b *base64Decoder) decode(dst, src []byte) []byte {
	for _, c := range src {
		v, ok := base64Value(c)
		if !ok {
			if c == '=' {
				dst = b.end(dst)
			}
			continue
		}
		b.acc = b.acc<<6 | uint32(v)
		b.n++
		if b.n == 4 {
			dst = append(dst, byte(b.acc>>16), byte(b.acc>>8), byte(b.acc))
			b.acc, b.n = 0, 0
		}
	}
	return dst
}

// end flushes a partial group: two sextets make one byte, three two.
func (b *base64Decoder) end(dst []byte) []byte {
	switch b.n {
	case 2:
		dst = append(dst, byte(b.acc>>4))
	case 3:
		dst = append(dst, byte(b.acc>>10), byte(b.acc>>2))
	}
	b.acc, b.n = 0, 0
	return dst
}

func base64Value(c byte) (byte, bool) {
	switch {
	case 'A' <= c && c <= 'Z':
		return c - 'A', true
	case 'a' <= c && c <= 'z':
		return c - 'a' + 26, true
	case '0' <= c && c <= '9':
		return c - '0' + 52, true
	case c == '+':
		return 62, true
	case c == '/':
		return 63, true
	}
	return 0, false
}

// qpDecoder decodes quoted-printable (RFC 2045 §6.7) leniently: "=XY"
// (either case) is an octet, "=" before a line break (after optional
// white space) a soft line break, white space at the end of a line is
// dropped (rule 3), and any other "=" is taken literally (§6.7 note 1).
type qpDecoder struct {
	state int    // one of the qp* states
	hi    byte   // the first hex digit in qpHex
	space []byte // held-back white space (qpText) or after "=" (qpEqSpace)
}

// The states of qpDecoder.
const (
	qpText    = iota
	qpEq      // after "="
	qpHex     // after "=" and a hex digit
	qpEqSpace // after "=" and white space
	qpEqCR    // after "=" and CR: a soft line break
)

func (q *qpDecoder) decode(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		c := src[i]
		switch q.state {
		case qpText:
			switch {
			case c == '=':
				dst = append(dst, q.space...)
				q.space = q.space[:0]
				q.state = qpEq
			case c == ' ' || c == '\t':
				if len(q.space) >= maxPendingSpace {
					dst = append(dst, q.space...)
					q.space = q.space[:0]
				}
				q.space = append(q.space, c)
			case c == '\r' || c == '\n':
				q.space = q.space[:0] // trailing white space
				dst = append(dst, c)
			default:
				dst = append(dst, q.space...)
				q.space = q.space[:0]
				dst = append(dst, c)
			}
		case qpEq:
			switch {
			case isHex(c):
				q.hi, q.state = c, qpHex
			case c == '\r':
				q.state = qpEqCR
			case c == '\n':
				q.state = qpText
			case c == ' ' || c == '\t':
				q.space = append(q.space[:0], c)
				q.state = qpEqSpace
			default:
				dst = append(dst, '=')
				q.state = qpText
				continue // c again, as text
			}
		case qpHex:
			q.state = qpText
			if !isHex(c) {
				dst = append(dst, '=', q.hi)
				continue
			}
			h, _ := unhex(q.hi)
			l, _ := unhex(c)
			dst = append(dst, h<<4|l)
		case qpEqSpace:
			switch {
			case c == ' ' || c == '\t':
				if len(q.space) < maxPendingSpace {
					q.space = append(q.space, c)
					break
				}
				fallthrough
			case c != '\r' && c != '\n':
				// Not a soft line break after all.
				dst = append(dst, '=')
				q.state = qpText
				continue // the held white space goes out with the text
			default:
				q.space = q.space[:0]
				q.state = qpEq
				continue // CR or LF: the soft line break
			}
		case qpEqCR:
			q.state = qpText
			if c != '\n' {
				continue // "=" CR alone: a soft line break too
			}
		}
		i++
	}
	return dst
}

func (q *qpDecoder) end(dst []byte) []byte {
	if q.state == qpHex {
		dst = append(dst, '=', q.hi)
	}
	// A final "=" is a soft line break; trailing white space is dropped.
	q.state, q.space = qpText, q.space[:0]
	return dst
}

func isHex(c byte) bool {
	_, ok := unhex(c)
	return ok
}

// SearchText parses a served message (the server's prefix, then the body)
// and returns its searchable text with the MaxSearchText limit: what the
// stores index when they fill the text of messages stored before they
// kept it. A delivery gets the same from its one parse (deliver.Prepare).
func SearchText(r io.ReaderAt, size int64) (headers, body string, err error) {
	parsed, err := Parse(r, size, DefaultLimits())
	if err != nil {
		return "", "", err
	}
	return ExtractText(r, parsed.Root, MaxSearchText)
}
