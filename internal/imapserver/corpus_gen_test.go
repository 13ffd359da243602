package imapserver

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"mime"
	"mime/quotedprintable"
	"strings"
)

// The corpus of TestCorpus: real-world-shaped messages generated from a
// seed, so that every run sees the same ones. Each message mixes the
// shapes mail in the wild has: nested multiparts (mixed, alternative,
// related, digest) and message/rfc822 parts, every transfer encoding,
// encoded and raw UTF-8 header text, long folded fields, and broken MIME
// (missing boundaries, bad base64, unknown encodings, odd boundaries,
// empty parts, missing Content-Type, RFC 2231 parameters).

// corpusSize is how many messages the corpus holds.
const corpusSize = 240

// corpusMessage is one generated message and what it is made of.
type corpusMessage struct {
	raw   []byte
	kinds []string // the shapes used, for failure messages
}

type corpusGen struct {
	r     *rand.Rand
	n     int // boundaries and ids made so far
	kinds []string
	outer string // the boundary of the enclosing multipart
}

// genCorpus returns the corpus for seed.
func genCorpus(seed uint64) []corpusMessage {
	out := make([]corpusMessage, corpusSize)
	for i := range out {
		g := &corpusGen{r: rand.New(rand.NewPCG(seed, uint64(i)))}
		raw := g.message(i, 0)
		switch {
		case i%31 == 7:
			g.kinds = []string{"empty body"}
			raw = g.header(true) + "\r\n"
		case i%29 == 3:
			// No body, not even the blank line (RFC 5322 §3.5 makes the
			// body optional).
			g.kinds = []string{"header only"}
			raw = g.header(true)
		case i%17 == 5 && !strings.Contains(raw, "\x00"):
			// Stored as APPENDed: bare LF line ends throughout.
			g.note("LF line ends")
			raw = strings.ReplaceAll(raw, "\r\n", "\n")
		}
		out[i] = corpusMessage{raw: []byte(raw), kinds: g.kinds}
	}
	return out
}

func (g *corpusGen) pick(options ...string) string { return options[g.r.IntN(len(options))] }

func (g *corpusGen) note(kind string) { g.kinds = append(g.kinds, kind) }

func (g *corpusGen) boundary() string {
	g.n++
	if g.outer != "" && g.r.IntN(3) == 0 {
		// "--outer" is a prefix of the inner delimiters, but no
		// delimiter of the outer multipart (RFC 2046 §5.1.1).
		g.note("boundary extending the outer one")
		return g.outer + "_in"
	}
	switch g.r.IntN(5) {
	case 0:
		g.note("boundary with spaces")
		return fmt.Sprintf("b %d with spaces", g.n) // must be quoted
	case 1:
		return fmt.Sprintf("----=_Part_%d_%d.%d", g.n, g.r.IntN(1e6), g.r.IntN(1e9))
	}
	return fmt.Sprintf("b%d-%x", g.n, g.r.Uint32())
}

// Words for text.
var corpusWords = []string{"hello", "report", "meeting", "the", "budget", "is", "attached", "see", "below",
	"Grüße", "naïve", "café", "日本語", "привет", "tomorrow", "at", "noon", "thanks", "regards", "draft"}

func (g *corpusGen) words(n int, ascii bool) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		w := corpusWords[g.r.IntN(len(corpusWords))]
		if ascii && strings.IndexFunc(w, func(r rune) bool { return r >= 0x80 }) >= 0 {
			w = "word"
		}
		b.WriteString(w)
	}
	return b.String()
}

// text returns lines of text joined by nl.
func (g *corpusGen) text(lines int, ascii bool, nl string) string {
	var b strings.Builder
	for i := 0; i < lines; i++ {
		b.WriteString(g.words(1+g.r.IntN(12), ascii))
		b.WriteString(nl)
	}
	return b.String()
}

func (g *corpusGen) address() string {
	local := g.pick("alice", "bob", "carol.d", "dave+tag", "e_f", "info")
	dom := g.pick("example.org", "example.net", "mail.example.com", "xn--caf-dma.example")
	switch g.r.IntN(9) {
	case 0:
		return local + "@" + dom
	case 1:
		return "Alice Example <" + local + "@" + dom + ">"
	case 2:
		g.note("encoded-word name")
		return mime.QEncoding.Encode("utf-8", "Jörg Müller") + " <" + local + "@" + dom + ">"
	case 3:
		g.note("raw UTF-8 name")
		return "Zoë Ångström <" + local + "@" + dom + ">"
	case 4:
		return `"Doe, John" <` + local + "@" + dom + ">"
	case 5:
		g.note("address comments")
		return "<" + local + " (c)@ (c) " + dom + ">"
	case 6:
		g.note("source route")
		return "<@relay.example,@r2.example:" + local + "@" + dom + ">"
	case 7:
		return local + "@" + dom + " (Comment Name)"
	}
	return mime.BEncoding.Encode("iso-8859-1", "André") + " <" + local + "@" + dom + ">"
}

func (g *corpusGen) addressList() string {
	if g.r.IntN(8) == 0 {
		g.note("group")
		return "Team: " + g.address() + ", " + g.address() + ";"
	}
	n := 1 + g.r.IntN(3)
	var as []string
	for i := 0; i < n; i++ {
		as = append(as, g.address())
	}
	return strings.Join(as, ",\r\n ")
}

func (g *corpusGen) subject() string {
	switch g.r.IntN(7) {
	case 6:
		g.note("8-bit Latin-1 subject")
		return "caf\xe9 " + g.words(2, true)
	case 0:
		g.note("encoded-word subject")
		return mime.QEncoding.Encode("utf-8", g.words(4, false))
	case 1:
		g.note("raw UTF-8 subject")
		return g.words(4, false)
	case 2:
		g.note("long folded subject")
		var parts []string
		for i := 0; i < 6; i++ {
			parts = append(parts, g.words(8, true))
		}
		return strings.Join(parts, "\r\n\t")
	case 3:
		return "Re: " + g.words(3, true)
	case 4:
		return mime.BEncoding.Encode("utf-8", g.words(12, false))
	}
	return g.words(5, true)
}

func (g *corpusGen) msgID() string {
	g.n++
	return fmt.Sprintf("<%x.%d@gen.example.org>", g.r.Uint64(), g.n)
}

// header returns the message header fields (without the blank line).
func (g *corpusGen) header(top bool) string {
	var h []string
	h = append(h, "From: "+g.address())
	if g.r.IntN(5) > 0 {
		h = append(h, "To: "+g.addressList())
	}
	if g.r.IntN(3) == 0 {
		h = append(h, "Cc: "+g.addressList())
	}
	if g.r.IntN(6) == 0 {
		h = append(h, "Reply-To: "+g.address())
	}
	h = append(h, "Subject: "+g.subject())
	if g.r.IntN(10) > 0 {
		day := 1 + g.r.IntN(28)
		h = append(h, fmt.Sprintf("Date: %s, %02d Mar 2024 %02d:%02d:%02d %s", g.pick("Mon", "Tue", "Fri"), day,
			g.r.IntN(24), g.r.IntN(60), g.r.IntN(60), g.pick("+0000", "-0800", "+0530", "+0100 (CET)")))
	}
	if g.r.IntN(12) > 0 {
		h = append(h, "Message-ID: "+g.msgID())
	}
	if g.r.IntN(3) == 0 {
		parent := g.msgID()
		h = append(h, "In-Reply-To: "+parent)
		refs := []string{g.msgID(), g.msgID(), parent}
		if g.r.IntN(2) == 0 {
			g.note("long References")
			for i := 0; i < 8; i++ {
				refs = append([]string{g.msgID()}, refs...)
			}
		}
		h = append(h, "References: "+strings.Join(refs, "\r\n "))
	}
	if top {
		h = append(h, "MIME-Version: 1.0")
	}
	if g.r.IntN(10) == 0 {
		g.note("8-bit Latin-1 header")
		h = append(h, "X-Comment: caf\xe9 cr\xe8me")
	}
	if g.r.IntN(4) == 0 {
		h = append(h, "X-Mailer: Generated "+g.words(2, true))
	}
	return strings.Join(h, "\r\n") + "\r\n"
}

// message returns a whole message: header, blank line, body.
func (g *corpusGen) message(i, depth int) string {
	ct, body := g.entity(i, depth, "")
	return g.header(depth == 0) + ct + "\r\n" + body
}

// entity returns the MIME header fields (Content-*, each ending in CRLF)
// and the body of an entity. The shape is chosen from i at the top (so
// that every shape appears) and at random below.
func (g *corpusGen) entity(i, depth int, parent string) (string, string) {
	shape := i % 14
	if depth > 0 {
		shape = g.r.IntN(14)
		if depth >= 3 {
			shape = g.r.IntN(5) // leaves only
		}
	}
	switch shape {
	case 0:
		return g.textPart("plain", "7bit")
	case 1:
		return g.textPart("plain", "quoted-printable")
	case 2:
		return g.textPart("plain", "base64")
	case 3:
		return g.textPart("html", "8bit")
	case 4:
		return g.attachment()
	case 5:
		return g.multipart("alternative", depth, func(k int) (string, string) {
			if k == 0 {
				return g.textPart("plain", g.pick("7bit", "quoted-printable", "8bit"))
			}
			return g.textPart("html", g.pick("quoted-printable", "base64"))
		}, 2)
	case 6:
		return g.multipart("mixed", depth, func(k int) (string, string) {
			if k == 0 {
				return g.entity(0, depth+1, "mixed")
			}
			return g.entity(g.r.IntN(14), depth+1, "mixed")
		}, 2+g.r.IntN(3))
	case 7:
		return g.multipart("related", depth, func(k int) (string, string) {
			if k == 0 {
				return g.textPart("html", "quoted-printable")
			}
			ct, body := g.attachment()
			return "Content-ID: <img" + fmt.Sprint(k) + "@gen>\r\n" + ct, body
		}, 2+g.r.IntN(2))
	case 8:
		g.note("digest")
		return g.multipart("digest", depth, func(k int) (string, string) {
			inner := g.message(g.r.IntN(5), depth+2)
			if k%2 == 0 {
				// RFC 2046 §5.1.5: in a digest, no Content-Type means
				// message/rfc822.
				g.note("digest part without Content-Type")
				return "", inner
			}
			return "Content-Type: message/rfc822\r\n", inner
		}, 2+g.r.IntN(2))
	case 9:
		g.note("message/rfc822")
		return g.multipart("mixed", depth, func(k int) (string, string) {
			if k == 0 {
				return g.textPart("plain", "7bit")
			}
			inner := g.message(5+g.r.IntN(3), depth+2)
			if g.r.IntN(5) == 0 {
				// RFC 2046 §5.2.1 allows no such encoding, but mailers
				// send it: BINARY decodes it all the same.
				g.note("base64 message/rfc822")
				return "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n", wrap76(base64.StdEncoding.EncodeToString([]byte(inner)))
			}
			return "Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n", inner
		}, 2)
	case 10:
		return g.broken(i / 14)
	case 11:
		g.note("binary with NUL")
		return g.binary()
	case 12:
		g.note("8bit raw UTF-8 text")
		return "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n", g.text(3+g.r.IntN(5), false, "\r\n")
	}
	if depth == 0 && i%28 == 13 {
		return g.broken(i/28 + 3)
	}
	g.note("no Content-Type")
	return "", g.text(2, true, "\r\n")
}

// binary returns a multipart whose second part has
// Content-Transfer-Encoding binary and octets with NUL and bare CR and LF.
func (g *corpusGen) binary() (string, string) {
	b := g.boundary()
	ct := "Content-Type: multipart/mixed; boundary=\"" + b + "\"\r\n"
	data := []byte{0, 1, 2, '\n', 'x', '\r', 0xff, 0, '\r', '\n', 'e', 'n', 'd'}
	body := "--" + b + "\r\nContent-Type: text/plain\r\n\r\nSee the data.\r\n--" + b +
		"\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n" + string(data) +
		"\r\n--" + b + "--\r\n"
	return ct, body
}

func (g *corpusGen) textPart(sub, cte string) (string, string) {
	charset := g.pick("utf-8", "UTF-8", "us-ascii", "iso-8859-1")
	ascii := cte == "7bit" || charset == "us-ascii"
	nl := "\r\n"
	var content string
	if sub == "html" {
		content = "<html><body><p>" + g.words(6, ascii) + "</p>\r\n<p>" + g.words(4, ascii) + "</p></body></html>\r\n"
	} else {
		content = g.text(1+g.r.IntN(6), ascii, nl)
	}
	if charset == "iso-8859-1" {
		content = strings.Map(func(r rune) rune {
			if r >= 0x100 {
				return '?'
			}
			return r
		}, content)
		var b []byte
		for _, r := range content {
			b = append(b, byte(r))
		}
		content = string(b)
	}
	ct := "Content-Type: text/" + sub + "; charset=" + charset
	if g.r.IntN(4) == 0 {
		ct += ";\r\n\tformat=flowed"
	}
	ct += "\r\nContent-Transfer-Encoding: " + cte + "\r\n"
	switch cte {
	case "quoted-printable":
		var b strings.Builder
		w := quotedprintable.NewWriter(&b)
		w.Write([]byte(content))
		w.Close()
		enc := b.String()
		if g.r.IntN(3) == 0 {
			// Lower-case hex digits and white space ending encoded lines,
			// which decoders drop (RFC 2045 §6.7 rules 1 and 3).
			g.note("quoted-printable: lower-case hex, trailing white space")
			enc = strings.ReplaceAll(enc, "=C3=", "=c3=")
			enc = strings.Replace(enc, "\r\n", " \t \r\n", 3)
		}
		return ct, enc
	case "base64":
		if g.r.IntN(3) == 0 {
			// Text with bare LF line ends, base64 encoded: BINARY
			// turns them into CRLF (RFC 3516 §4.3).
			g.note("base64 text with bare LF")
			content = strings.ReplaceAll(content, "\r\n", "\n")
		}
		return ct, wrap76(base64.StdEncoding.EncodeToString([]byte(content)))
	}
	return ct, content
}

func wrap76(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s + "\r\n")
	return b.String()
}

func (g *corpusGen) attachment() (string, string) {
	data := make([]byte, 20+g.r.IntN(400))
	for i := range data {
		data[i] = byte(g.r.IntN(256))
	}
	typ := g.pick("application/pdf", "image/png", "application/octet-stream", "application/zip")
	var ct string
	switch g.r.IntN(4) {
	case 0:
		g.note("RFC 2231 filename")
		ct = "Content-Type: " + typ + "; name*=utf-8''na%C3%AFve%20r%C3%A9sum%C3%A9.pdf\r\n" +
			"Content-Disposition: attachment;\r\n filename*=utf-8''na%C3%AFve%20r%C3%A9sum%C3%A9.pdf\r\n"
	case 1:
		g.note("RFC 2231 continuations")
		ct = "Content-Type: " + typ + ";\r\n name*0=\"a very long file name that goes on \";\r\n name*1=\"and on.bin\"\r\n" +
			"Content-Disposition: attachment; filename=\"plain name.bin\"; size=" + fmt.Sprint(len(data)) + "\r\n"
	case 2:
		ct = "Content-Type: " + typ + "; name=\"report.pdf\"\r\nContent-Disposition: inline\r\nContent-Description: the report\r\n"
		if g.r.IntN(2) == 0 {
			g.note("encoded-word parameter")
			ct = "Content-Type: " + typ + "; name=\"=?utf-8?q?caf=C3=A9.pdf?=\"\r\nContent-Disposition: attachment;\r\n filename=\"=?utf-8?b?Y2Fmw6kucGRm?=\"\r\n"
		}
	default:
		ct = "Content-Type: " + typ + "\r\n"
	}
	ct += "Content-Transfer-Encoding: base64\r\n"
	enc := wrap76(base64.StdEncoding.EncodeToString(data))
	if g.r.IntN(5) == 0 {
		g.note("bad base64")
		// RFC 2045 §6.8: characters outside the alphabet are ignored.
		enc = strings.Replace(enc, "\r\n", "*!\r\n", 2)
		enc = enc[:len(enc)/2] + "#~ " + enc[len(enc)/2:]
	}
	return ct, enc
}

// multipart builds a multipart of n parts made by part.
func (g *corpusGen) multipart(sub string, depth int, part func(k int) (string, string), n int) (string, string) {
	b := g.boundary()
	ct := "Content-Type: multipart/" + sub + "; boundary=\"" + b + "\"\r\n"
	var body strings.Builder
	if g.r.IntN(3) == 0 {
		g.note("preamble")
		body.WriteString("This is a multi-part message in MIME format.\r\n")
	}
	outer := g.outer
	g.outer = b
	defer func() { g.outer = outer }()
	for k := 0; k < n; k++ {
		pct, pbody := part(k)
		body.WriteString("--" + b)
		if g.r.IntN(8) == 0 {
			g.note("delimiter with transport padding")
			body.WriteString("  \t")
		}
		body.WriteString("\r\n" + pct + "\r\n" + pbody)
		if !strings.HasSuffix(pbody, "\r\n") {
			body.WriteString("\r\n")
		}
	}
	body.WriteString("--" + b + "--")
	if g.r.IntN(6) == 0 {
		g.note("close delimiter with transport padding")
		body.WriteString(" \t")
	}
	body.WriteString("\r\n")
	if g.r.IntN(3) == 0 {
		g.note("epilogue")
		body.WriteString("epilogue text\r\n")
	}
	return ct, body.String()
}

// broken returns one kind of broken MIME.
func (g *corpusGen) broken(variant int) (string, string) {
	b := g.boundary()
	ct := "Content-Type: multipart/mixed; boundary=\"" + b + "\"\r\n"
	text := "Content-Type: text/plain\r\n\r\n" + g.text(2, true, "\r\n")
	if variant == 0 {
		variant = g.r.IntN(6) // below the top: at random
	}
	switch variant % 6 {
	case 0:
		g.note("missing close delimiter")
		return ct, "--" + b + "\r\n" + text + "--" + b + "\r\n" + text
	case 1:
		g.note("missing start boundary")
		return ct, "no delimiter at all\r\n" + text
	case 2:
		g.note("unknown transfer encoding")
		return ct, "--" + b + "\r\n" + text + "--" + b + "\r\nContent-Type: application/octet-stream\r\n" +
			"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n#86)C\r\n`\r\nend\r\n--" + b + "--\r\n"
	case 3:
		g.note("empty parts")
		return ct, "--" + b + "\r\n\r\n\r\n--" + b + "\r\n" + text + "--" + b + "\r\n\r\n--" + b + "--\r\n"
	case 4:
		g.note("part without Content-Type")
		return ct, "--" + b + "\r\nContent-Transfer-Encoding: 7bit\r\n\r\nplain by default\r\n--" + b + "\r\n" + text + "--" + b + "--\r\n"
	}
	g.note("multipart without boundary parameter")
	return "Content-Type: multipart/mixed\r\n", "--x\r\n" + text + "--x--\r\n"
}
