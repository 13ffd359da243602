package imapserver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strconv"
	"strings"
	"testing"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"postel/internal/testutil/imapresp"
)

// TestCorpus APPENDs every message of the generated corpus (see
// corpus_gen_test.go) to the server over TCP and checks what FETCH gives
// back against an independent reading of the same octets by go-message:
// BODY[] byte for byte, ENVELOPE, BODYSTRUCTURE, and for every part
// BODY[n], BODY[n.MIME], BINARY[n] (and BODY[n.HEADER], BODY[n.TEXT] of
// message/rfc822 parts). Every response must also parse as IMAP
// (internal/testutil/imapresp, 7-bit strings: no UTF8=ACCEPT here).
//
// Where go-message and the RFCs part ways on broken MIME, the model below
// follows the RFC, and says why where it does.
func TestCorpus(t *testing.T) {
	corpus := genCorpus(20261207)
	kinds := map[string]int{}
	for _, m := range corpus {
		for _, k := range m.kinds {
			kinds[k]++
		}
	}
	t.Logf("%d messages; shapes: %v", len(corpus), kinds)

	h := newHarness(t)
	r := h.login()
	for i, m := range corpus {
		r.appendMessage(fmt.Sprintf("A%d", i), m.raw)
	}
	r.cmd("SELECT INBOX")
	parts := 0
	for i, m := range corpus {
		c := &corpusCheck{t: t, r: r, seq: i + 1, m: m}
		c.run()
		parts += c.parts
		if t.Failed() && c.fails > 0 {
			t.Fatalf("message %d (%v) failed; stopping", i+1, m.kinds)
		}
	}
	t.Logf("%d parts checked", parts)
	if parts < 2*len(corpus) {
		t.Errorf("only %d parts in %d messages", parts, len(corpus))
	}
}

// appendMessage APPENDs raw to INBOX, as a literal8 when it holds NUL.
func (r *raw) appendMessage(tag string, raw []byte) {
	r.t.Helper()
	lit := "{" + strconv.Itoa(len(raw)) + "}"
	if bytes.IndexByte(raw, 0) >= 0 {
		lit = "~" + lit // RFC 3516 §4.4
	}
	r.send(tag + " APPEND INBOX " + lit)
	if l := r.line(); !strings.HasPrefix(l, "+") {
		r.t.Fatalf("APPEND: %q", l)
	}
	r.c.Write(append(raw, '\r', '\n'))
	if l := r.until(tag + " "); !strings.HasPrefix(l[len(l)-1], tag+" OK") {
		r.t.Fatalf("APPEND: %q", l)
	}
}

// mMsg and mPart are go-message's reading of a message: the octets of
// each header and body, and the parsed header.
type mMsg struct {
	header textproto.Header
	hraw   []byte // BODY[HEADER]
	body   []byte // BODY[TEXT]
	root   *mPart
}

type mPart struct {
	typ, sub string
	params   map[string]string
	header   textproto.Header
	mime     []byte // BODY[n.MIME]
	body     []byte // BODY[n]
	kids     []*mPart
	msg      *mMsg // message/rfc822
	opaque   bool  // message/rfc822 with an encoding, not looked into
}

// identityCTE reports whether a Content-Transfer-Encoding leaves the
// octets as they are (RFC 2045 §6.2).
func identityCTE(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "7bit", "8bit", "binary":
		return true
	}
	return false
}

// readMessage reads a message with go-message's textproto.
func readMessage(raw []byte, digest bool) (*mMsg, error) {
	rd := bytes.NewReader(raw)
	br := bufio.NewReader(rd)
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, err
	}
	n := len(raw) - rd.Len() - br.Buffered()
	m := &mMsg{header: h, hraw: raw[:n], body: raw[n:]}
	lf := !bytes.Contains(raw, []byte("\r\n"))
	m.root, err = readPart(h, m.hraw, m.body, digest, lf)
	return m, err
}

func readPart(h textproto.Header, mimeRaw, body []byte, digest, lf bool) (*mPart, error) {
	p := &mPart{header: h, mime: mimeRaw, body: body}
	typ, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || !strings.Contains(typ, "/") {
		// RFC 2045 §5.2: no or an invalid Content-Type is text/plain;
		// RFC 2046 §5.1.5: message/rfc822 in a digest.
		typ, params = "text/plain", nil
		if digest {
			typ = "message/rfc822"
		}
	}
	p.typ, p.sub, _ = strings.Cut(typ, "/")
	if p.typ == "multipart" && params["boundary"] == "" {
		// RFC 2046 §5.1.1: the boundary parameter is required; without
		// it the field is invalid and RFC 2045 §5.2's default applies.
		p.typ, p.sub, params = "text", "plain", nil
	}
	if p.typ == "text" && params["charset"] == "" {
		// RFC 2046 §4.1.2: US-ASCII is the default charset.
		if params == nil {
			params = map[string]string{}
		}
		params["charset"] = "us-ascii"
	}
	p.params = params
	switch {
	case p.typ == "multipart":
		mr := textproto.NewMultipartReader(bytes.NewReader(body), params["boundary"])
		for {
			part, err := mr.NextPart()
			if err != nil {
				// io.EOF after the close delimiter; an error when the
				// message ends without one (RFC 2046 §5.1.1 requires
				// it; the parts read so far stand, the last one running
				// to the end of the message).
				break
			}
			var hb bytes.Buffer
			textproto.WriteHeader(&hb, part.Header) // the fields as read, and CRLF
			mimeRaw := hb.Bytes()
			if lf {
				// go-message keeps the fields but makes their line ends
				// CRLF; the message has bare LFs.
				mimeRaw = bytes.ReplaceAll(mimeRaw, []byte("\r\n"), []byte("\n"))
			}
			data, err := io.ReadAll(part)
			if errors.Is(err, io.ErrUnexpectedEOF) {
				// No close delimiter: go-message holds back the last
				// line break as if a delimiter followed. RFC 2046
				// §5.1.1 gives the CRLF before a delimiter to the
				// delimiter; with none, it is the content's.
				for _, nl := range []string{"\r\n", "\n"} {
					if bytes.HasSuffix(body, append(data[:len(data):len(data)], nl...)) {
						data = append(data, nl...)
						break
					}
				}
			} else if err != nil {
				return nil, err
			}
			kid, err := readPart(part.Header, mimeRaw, data, p.sub == "digest", lf)
			if err != nil {
				return nil, err
			}
			p.kids = append(p.kids, kid)
		}
		if len(p.kids) == 0 {
			// No delimiter at all: go-message finds no part. RFC 9051's
			// body-type-mpart needs at least one, and RFC 2046 §5.1.1
			// gives no meaning to the text: the server shows the body as
			// one text/plain part (as UW-IMAP and Dovecot do).
			p.kids = []*mPart{{typ: "text", sub: "plain", params: map[string]string{"charset": "us-ascii"}, body: body}}
		}
	case p.typ == "message" && (p.sub == "rfc822" || p.sub == "global") && !identityCTE(h.Get("Content-Transfer-Encoding")):
		// RFC 2046 §5.2.1 permits no other encoding: what a server finds
		// in such a part is its own business; only the part as a whole
		// (BODY[n], BINARY[n] decoded) is checked.
		p.opaque = true
	case p.typ == "message" && (p.sub == "rfc822" || p.sub == "global"):
		m, err := readMessage(body, false)
		if err != nil {
			return nil, err
		}
		p.msg = m
	}
	return p, nil
}

// decoded returns BINARY of p: go-message's decoding of the body, or
// errUnknownCTE.
var errUnknownCTE = errors.New("unknown CTE")

func (p *mPart) decoded() ([]byte, error) {
	enc := strings.ToLower(strings.TrimSpace(p.header.Get("Content-Transfer-Encoding")))
	if p.typ == "multipart" {
		return p.body, nil // RFC 2045 §6.4: never encoded; BINARY is as stored
	}
	body := p.body
	if enc == "base64" {
		// RFC 2045 §6.8: "Any characters outside of the base64 alphabet
		// are to be ignored"; go-message fails on them instead.
		body = bytes.Map(func(r rune) rune {
			if r < 0x80 && strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", r) {
				return r
			}
			return -1
		}, body)
	}
	h := textproto.Header{}
	if enc != "" {
		h.Set("Content-Transfer-Encoding", enc)
	}
	e, err := gomessage.New(gomessage.Header{Header: h}, bytes.NewReader(body))
	if gomessage.IsUnknownEncoding(err) {
		return nil, errUnknownCTE
	} else if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(e.Body)
	if err != nil {
		return nil, err
	}
	if enc == "quoted-printable" {
		// go-message decodes with mime/quotedprintable; check it agrees.
		out2, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if !bytes.Equal(out, out2) {
			return nil, errors.New("quoted-printable decoders disagree")
		}
	}
	switch {
	case enc == "quoted-printable" && !bytes.Contains(p.body, []byte("\r\n")):
		// RFC 2045 §6.7 rule 4: a hard line break stands for CRLF; the
		// standard library gives the LF it is stored as.
		out = bytes.ReplaceAll(out, []byte("\n"), []byte("\r\n"))
	case identityCTE(enc) && p.typ == "text":
		// RFC 3516 §4.3 (RFC 9051 §7.5.2): text is sent with CRLF line
		// ends in BINARY "regardless of the underlying storage
		// representation". Decoded base64 is exact, bare LFs and all.
		out = bytes.ReplaceAll(bytes.ReplaceAll(out[:len(out):len(out)], []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
	}
	return out, nil
}

// binary returns BINARY[] of the message (RFC 3516 §4.2, RFC 9051
// §6.4.5): as stored when its body is not encoded (a multipart never is),
// else its header without the Content-Transfer-Encoding field, which no
// longer applies, and the decoded body.
func (m *mMsg) binary() ([]byte, error) {
	enc := strings.ToLower(strings.TrimSpace(m.header.Get("Content-Transfer-Encoding")))
	if m.root.typ == "multipart" || enc == "" || enc == "7bit" || enc == "8bit" || enc == "binary" {
		return append(m.hraw[:len(m.hraw):len(m.hraw)], m.body...), nil
	}
	body, err := m.root.decoded()
	if err != nil {
		return nil, err
	}
	h := m.header.Copy()
	h.Del("Content-Transfer-Encoding")
	var b bytes.Buffer
	textproto.WriteHeader(&b, h)
	out := b.Bytes()
	if !bytes.Contains(m.hraw, []byte("\r\n")) {
		out = bytes.ReplaceAll(out, []byte("\r\n"), []byte("\n"))
	}
	return append(out, body...), nil
}

// corpusCheck checks one message.
type corpusCheck struct {
	t     *testing.T
	r     *raw
	seq   int
	m     corpusMessage
	fails int
	parts int // parts checked
}

func (c *corpusCheck) errorf(format string, args ...any) {
	c.t.Helper()
	c.fails++
	c.t.Errorf("message %d %v: %s", c.seq, c.m.kinds, fmt.Sprintf(format, args...))
}

// fetch runs FETCH seq (items) and returns the items of the FETCH response
// by name, and the tagged response.
func (c *corpusCheck) fetch(items string) (map[string]imapresp.Value, string) {
	c.t.Helper()
	c.r.send("F FETCH " + strconv.Itoa(c.seq) + " (" + items + ")")
	got := map[string]imapresp.Value{}
	for {
		resp := c.r.response()
		if bytes.HasPrefix(resp, []byte("F ")) {
			return got, strings.TrimSuffix(string(resp), "\r\n")
		}
		prefix := "* " + strconv.Itoa(c.seq) + " FETCH "
		if !bytes.HasPrefix(resp, []byte(prefix)) {
			c.errorf("unexpected response %.80q", resp)
			continue
		}
		v, err := imapresp.ParseAll(bytes.TrimSuffix(resp[len(prefix):], []byte("\r\n")), imapresp.Options{})
		if err != nil || v.Kind != imapresp.List || len(v.List)%2 != 0 {
			c.errorf("FETCH %s: response does not parse: %v: %.200q", items, err, resp)
			continue
		}
		for i := 0; i < len(v.List); i += 2 {
			got[v.List[i].Atom] = v.List[i+1]
		}
	}
}

func (c *corpusCheck) run() {
	m, err := readMessage(c.m.raw, false)
	if err != nil {
		c.t.Fatalf("message %d: go-message cannot read it: %v", c.seq, err)
	}
	nul := bytes.IndexByte(c.m.raw, 0) >= 0
	got, tagged := c.fetch("ENVELOPE BODYSTRUCTURE BINARY.PEEK[] RFC822.SIZE")
	if !strings.HasPrefix(tagged, "F OK") {
		c.errorf("FETCH: %s", tagged)
		return
	}
	// BINARY[] of a multipart message is the message as stored; of a
	// single part, its header without Content-Transfer-Encoding and
	// the decoded body: compare BODY[] instead, unless NUL forbids it.
	if n, _ := got["RFC822.SIZE"].Number(); n != int64(len(c.m.raw)) {
		c.errorf("RFC822.SIZE %d, appended %d", n, len(c.m.raw))
	}
	if want, err := m.binary(); err == nil {
		c.equal("BINARY[]", got["BINARY[]"], want)
	} else if !errors.Is(err, errUnknownCTE) {
		c.errorf("BINARY[]: the model cannot decode: %v", err)
	}
	body, tagged := c.fetch("BODY.PEEK[] BODY.PEEK[HEADER] BODY.PEEK[TEXT] RFC822.HEADER")
	switch {
	case nul:
		// RFC 9051 §4.3: no plain literal carries NUL.
		if !strings.HasPrefix(tagged, "F NO [CANNOT]") {
			c.errorf("BODY[] of a message with NUL: %s", tagged)
		}
	case !bytes.Equal(body["BODY[]"].Str, c.m.raw):
		c.errorf("BODY[] differs from the appended message:\n got %q\nwant %q", body["BODY[]"].Str, c.m.raw)
	default:
		c.equal("BODY[HEADER]", body["BODY[HEADER]"], m.hraw)
		c.equal("RFC822.HEADER", body["RFC822.HEADER"], m.hraw)
		c.equal("BODY[TEXT]", body["BODY[TEXT]"], m.body)
	}
	if c.seq%2 == 0 {
		// RFC822 and RFC822.TEXT set \Seen: on every other message.
		body, tagged = c.fetch("RFC822 RFC822.TEXT")
		switch {
		case nul:
			if !strings.HasPrefix(tagged, "F NO [CANNOT]") {
				c.errorf("RFC822 of a message with NUL: %s", tagged)
			}
		case !strings.HasPrefix(tagged, "F OK"):
			c.errorf("RFC822: %s", tagged)
		default:
			c.equal("RFC822", body["RFC822"], c.m.raw)
			c.equal("RFC822.TEXT", body["RFC822.TEXT"], m.body)
		}
	}
	c.envelope("ENVELOPE", got["ENVELOPE"], m.header)
	c.structure("BODYSTRUCTURE", got["BODYSTRUCTURE"], m.root)
	c.sections(m, "")
}

// sections checks every part of m, numbered as RFC 9051 §6.4.5 does: the
// children of a multipart from 1, a single part message as part 1.
func (c *corpusCheck) sections(m *mMsg, prefix string) {
	if m.root.typ == "multipart" {
		for i, k := range m.root.kids {
			c.part(k, prefix+strconv.Itoa(i+1))
		}
		return
	}
	c.part(m.root, prefix+"1")
}

func (c *corpusCheck) part(p *mPart, path string) {
	c.parts++
	nul := bytes.IndexByte(p.body, 0) >= 0 || bytes.IndexByte(p.mime, 0) >= 0
	items := "BODY.PEEK[" + path + "] BODY.PEEK[" + path + ".MIME]"
	if p.msg != nil {
		items += " BODY.PEEK[" + path + ".HEADER] BODY.PEEK[" + path + ".TEXT]"
	}
	got, tagged := c.fetch(items)
	switch {
	case nul:
		if !strings.HasPrefix(tagged, "F NO [CANNOT]") {
			c.errorf("BODY[%s] with NUL: %s", path, tagged)
		}
	case !strings.HasPrefix(tagged, "F OK"):
		c.errorf("FETCH %s: %s", items, tagged)
	default:
		c.equal("BODY["+path+"]", got["BODY["+path+"]"], p.body)
		c.equal("BODY["+path+".MIME]", got["BODY["+path+".MIME]"], p.mime)
		if p.msg != nil {
			c.equal("BODY["+path+".HEADER]", got["BODY["+path+".HEADER]"], p.msg.hraw)
			c.equal("BODY["+path+".TEXT]", got["BODY["+path+".TEXT]"], p.msg.body)
		}
	}
	want, err := p.decoded()
	got, tagged = c.fetch("BINARY.PEEK[" + path + "] BINARY.SIZE[" + path + "]")
	switch {
	case errors.Is(err, errUnknownCTE):
		if !strings.HasPrefix(tagged, "F NO [UNKNOWN-CTE]") {
			c.errorf("BINARY[%s] of an unknown encoding: %s", path, tagged)
		}
	case err != nil:
		c.errorf("BINARY[%s]: the model cannot decode: %v", path, err)
	case !strings.HasPrefix(tagged, "F OK"):
		c.errorf("BINARY[%s]: %s", path, tagged)
	default:
		v := got["BINARY["+path+"]"]
		if v.Lit8 != bytes.Contains(want, []byte{0}) && len(want) > 0 {
			c.errorf("BINARY[%s]: literal8 %v, NUL %v", path, v.Lit8, bytes.Contains(want, []byte{0}))
		}
		c.equal("BINARY["+path+"]", v, want)
		if n, _ := got["BINARY.SIZE["+path+"]"].Number(); n != int64(len(want)) {
			c.errorf("BINARY.SIZE[%s] %d, want %d", path, n, len(want))
		}
	}
	if p.msg != nil {
		c.sections(p.msg, path+".")
	}
	for i, k := range p.kids {
		if p.typ == "multipart" {
			c.part(k, path+"."+strconv.Itoa(i+1))
		}
	}
}

func (c *corpusCheck) equal(what string, v imapresp.Value, want []byte) {
	c.t.Helper()
	if !v.IsString() {
		c.errorf("%s: not a string: %s", what, v)
		return
	}
	if !bytes.Equal(v.Str, want) {
		c.errorf("%s:\n got %q\nwant %q", what, v.Str, want)
	}
}

var clientWordDecoder = &mime.WordDecoder{CharsetReader: gomessage.CharsetReader}

// decodeWords decodes RFC 2047 encoded words as a client does.
func decodeWords(s string) string {
	d, err := clientWordDecoder.DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// unfold removes the line breaks of a folded field value (RFC 5322
// §2.2.3) and trims it.
func unfold(s string) string {
	return strings.TrimSpace(strings.NewReplacer("\r\n", "", "\n", "").Replace(s))
}

// envelope checks an ENVELOPE (RFC 9051 §7.5.2) against the header.
func (c *corpusCheck) envelope(what string, v imapresp.Value, h textproto.Header) {
	if v.Kind != imapresp.List || len(v.List) != 10 {
		c.errorf("%s: not a list of 10: %s", what, v)
		return
	}
	raw := func(k string) string {
		b, err := h.Raw(k)
		if err != nil || b == nil {
			return ""
		}
		_, val, _ := strings.Cut(string(b), ":")
		return unfold(val)
	}
	for i, f := range map[int]string{0: "Date", 8: "In-Reply-To", 9: "Message-Id"} {
		if got := v.List[i].Text(); got != raw(f) {
			c.errorf("%s %s: got %q, want %q", what, f, got, raw(f))
		}
	}
	// Header text is UTF-8 (RFC 6532 §3.2); octets that are not come
	// back as U+FFFD, as a reader shows them.
	if got, want := decodeWords(v.List[1].Text()), strings.ToValidUTF8(decodeWords(raw("Subject")), "\uFFFD"); got != want {
		c.errorf("%s Subject: got %q, want %q", what, got, want)
	}
	mh := mail.Header{Header: gomessage.Header{Header: h}}
	for i, f := range map[int]string{2: "From", 5: "To", 6: "Cc", 7: "Bcc", 4: "Reply-To"} {
		list, err := mh.AddressList(f)
		if err != nil {
			// go-message (net/mail) takes no groups and no source routes
			// (RFC 5322 §3.4, §4.4); TestWire/addresses covers them.
			continue
		}
		if len(list) == 0 {
			if f == "Reply-To" {
				continue // RFC 9051: defaults to From
			}
			if v.List[i].Kind != imapresp.Nil {
				c.errorf("%s %s: got %s, want NIL", what, f, v.List[i])
			}
			continue
		}
		if v.List[i].Kind != imapresp.List {
			c.errorf("%s %s: got %s, want %d addresses", what, f, v.List[i], len(list))
			continue
		}
		// go-message (net/mail) flattens a group into its members (RFC
		// 5322 §3.4); IMAP marks its start and end with addresses of NIL
		// host (RFC 9051 §7.5.2), left out of the comparison.
		var addrs []imapresp.Value
		for _, a := range v.List[i].List {
			if a.Kind != imapresp.List || len(a.List) != 4 {
				c.errorf("%s %s: bad address %s", what, f, a)
				return
			}
			if a.List[3].Kind != imapresp.Nil {
				addrs = append(addrs, a)
			}
		}
		if len(addrs) != len(list) {
			c.errorf("%s %s: got %s, want %d addresses", what, f, v.List[i], len(list))
			continue
		}
		for k, a := range list {
			addr := addrs[k]
			got := addr.List[2].Text() + "@" + addr.List[3].Text()
			if got != a.Address || decodeWords(addr.List[0].Text()) != a.Name {
				c.errorf("%s %s: got %s, want %q <%s>", what, f, addr, a.Name, a.Address)
			}
		}
	}
}

// structure checks a BODYSTRUCTURE against p.
func (c *corpusCheck) structure(what string, v imapresp.Value, p *mPart) {
	if v.Kind != imapresp.List || len(v.List) == 0 {
		c.errorf("%s: not a list: %s", what, v)
		return
	}
	l := v.List
	if p.typ == "multipart" {
		n := 0
		for n < len(l) && l[n].Kind == imapresp.List {
			n++
		}
		if n != len(p.kids) || n+5 != len(l) {
			c.errorf("%s: %d parts and %d more fields, want %d parts: %s", what, n, len(l)-n, len(p.kids), v)
			return
		}
		for i, k := range p.kids {
			c.structure(what+"."+strconv.Itoa(i+1), l[i], k)
		}
		if got := l[n].Text(); got != strings.ToUpper(p.sub) {
			c.errorf("%s: subtype %q, want %q", what, got, p.sub)
		}
		c.params(what, l[n+1], p.params)
		return
	}
	// body-type-1part: type subtype params id desc enc octets
	// [envelope body lines | lines] md5 dsp lang loc
	want := 11
	if p.typ == "text" {
		want = 12
	} else if p.msg != nil || p.opaque {
		want = 14
	}
	if len(l) != want {
		c.errorf("%s: %d fields, want %d: %s", what, len(l), want, v)
		return
	}
	if got := l[0].Text() + "/" + l[1].Text(); got != strings.ToUpper(p.typ+"/"+p.sub) {
		c.errorf("%s: type %s, want %s/%s", what, got, p.typ, p.sub)
	}
	c.params(what, l[2], p.params)
	if got, want := l[3].Text(), unfold(p.header.Get("Content-Id")); got != want {
		c.errorf("%s: id %q, want %q", what, got, want)
	}
	enc := strings.ToUpper(strings.TrimSpace(p.header.Get("Content-Transfer-Encoding")))
	if enc == "" {
		enc = "7BIT"
	}
	if got := l[5].Text(); got != enc {
		c.errorf("%s: encoding %q, want %q", what, got, enc)
	}
	if n, _ := l[6].Number(); n != int64(len(p.body)) {
		c.errorf("%s: size %d, want %d", what, n, len(p.body))
	}
	lines := int64(bytes.Count(p.body, []byte("\n")))
	if len(p.body) > 0 && p.body[len(p.body)-1] != '\n' {
		lines++ // a last line without its line break counts
	}
	ext := 7
	switch {
	case p.opaque:
		ext = 10
	case p.msg != nil:
		c.envelope(what+" ENVELOPE", l[7], p.msg.header)
		c.structure(what+" BODY", l[8], p.msg.root)
		if n, _ := l[9].Number(); n != lines {
			c.errorf("%s: %d lines, want %d", what, n, lines)
		}
		ext = 10
	case p.typ == "text":
		if n, _ := l[7].Number(); n != lines {
			c.errorf("%s: %d lines, want %d", what, n, lines)
		}
		ext = 8
	}
	// body-fld-dsp
	dsp := l[ext+1]
	if cd := p.header.Get("Content-Disposition"); cd != "" {
		d, dp, err := mime.ParseMediaType(cd)
		if err == nil {
			if dsp.Kind != imapresp.List || len(dsp.List) != 2 || !strings.EqualFold(dsp.List[0].Text(), d) {
				c.errorf("%s: disposition %s, want %s %v", what, dsp, d, dp)
			} else {
				c.params(what+" disposition", dsp.List[1], dp)
			}
		}
	} else if dsp.Kind != imapresp.Nil {
		c.errorf("%s: disposition %s, want NIL", what, dsp)
	}
}

// params checks a body-fld-param list against the parameters go-message
// (mime.ParseMediaType, which joins RFC 2231 continuations and decodes
// their charsets) reads.
func (c *corpusCheck) params(what string, v imapresp.Value, want map[string]string) {
	got := map[string]string{}
	if v.Kind == imapresp.List {
		if len(v.List)%2 != 0 {
			c.errorf("%s: odd parameter list %s", what, v)
			return
		}
		for i := 0; i < len(v.List); i += 2 {
			got[strings.ToLower(v.List[i].Text())] = decodeWords(v.List[i+1].Text())
		}
		// Encoded words in parameter values are against RFC 2047 §5 but
		// common; readers (and the server) decode them, go-message does not.
		for k, w := range want {
			want[k] = decodeWords(w)
		}
	} else if v.Kind != imapresp.Nil {
		c.errorf("%s: parameters %s", what, v)
		return
	}
	if len(got) != len(want) {
		c.errorf("%s: parameters %v, want %v", what, got, want)
		return
	}
	for k, w := range want {
		if got[k] != w {
			c.errorf("%s: parameter %s = %q, want %q", what, k, got[k], w)
		}
	}
}
