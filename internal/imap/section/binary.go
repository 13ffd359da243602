package section

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"postel/internal/message"
)

// Binary returns the octets of BINARY[path] (RFC 3516, RFC 9051 §6.4.5):
// the body of the part at path with its Content-Transfer-Encoding
// removed. BASE64 and QUOTED-PRINTABLE are decoded, leniently as mail
// readers do (see below); 7BIT, 8BIT and BINARY bodies are returned as
// they are; any other encoding gives ErrUnknownCTE.
//
// Decoded content is exact: base64 gives the octets encoded, a bare LF
// among them included, so that BINARY.SIZE and partial fetches count
// the real content; quoted-printable gives its octets, with a hard line
// break as CRLF, which is what it stands for (RFC 2045 §6.7 rule 4).
// Only a text/* part stored without an encoding has its bare LFs made
// CRLF: RFC 3516 §4.3 (RFC 9051 §7.5.2) wants textual sections sent with
// CRLF line ends "regardless of the underlying storage representation",
// and a message APPENDed with bare LFs is stored as it came.
//
// An empty path is the whole message: as stored when its body has an
// identity encoding (always so for a multipart), else its header without
// the Content-Transfer-Encoding field (read as HEADER.FIELDS.NOT reads it)
// followed by its decoded body.
//
// Decoding never fails on malformed content: base64 ignores characters
// outside its alphabet, and "=" padding ends a group of four; quoted-
// printable decodes "=XX" (either case), drops "=" before a line break
// (soft break) and the white space ending a line (RFC 2045 §6.7 rule 3),
// and keeps any other octet, a lone "=" included.
func Binary(r io.ReaderAt, root *message.Part, path []int) (io.Reader, error) {
	p, err := Find(root, path)
	if err != nil {
		return nil, err
	}
	if p.HeaderStart < 0 || p.HeaderStart > p.BodyStart || p.BodyStart > p.End || p.End > root.End {
		return nil, fmt.Errorf("%w: part %d-%d-%d", ErrStructure, p.HeaderStart, p.BodyStart, p.End)
	}
	body := io.NewSectionReader(r, p.BodyStart, p.End-p.BodyStart)
	if len(path) > 0 {
		return decoded(body, p)
	}
	if p.Type == "multipart" || identityEncoding(p.Encoding) {
		return io.NewSectionReader(r, p.HeaderStart, p.End-p.HeaderStart), nil
	}
	dec, err := decoded(body, p)
	if err != nil {
		return nil, err
	}
	hdr, err := headerFields(r, p.HeaderStart, p.BodyStart, []string{"Content-Transfer-Encoding"}, true)
	if err != nil {
		return nil, err
	}
	return io.MultiReader(bytes.NewReader(hdr), dec), nil
}

// BinarySize returns the size of BINARY[path] (RFC 3516 BINARY.SIZE): the
// number of octets Binary returns. Unless the body is served as it is, it
// decodes the body to count them; caching the result is the caller's
// business.
func BinarySize(r io.ReaderAt, root *message.Part, path []int) (int64, error) {
	rd, err := Binary(r, root, path)
	if err != nil {
		return 0, err
	}
	if s, ok := rd.(*io.SectionReader); ok {
		return s.Size(), nil
	}
	return io.Copy(io.Discard, rd)
}

// identityEncoding reports whether enc leaves the octets as they are
// (RFC 2045 §6.2); absent, it is 7BIT.
func identityEncoding(enc string) bool {
	switch strings.ToUpper(enc) {
	case "", "7BIT", "8BIT", "BINARY":
		return true
	}
	return false
}

// Decodable returns ErrUnknownCTE when Binary would for path, from the
// structure alone (nothing is read): the part's Content-Transfer-Encoding
// is one Binary cannot remove. Any other problem of path is left to
// Binary to report.
func Decodable(root *message.Part, path []int) error {
	p, err := Find(root, path)
	if err != nil || knownEncoding(p) {
		return nil
	}
	return fmt.Errorf("%w: %q", ErrUnknownCTE, p.Encoding)
}

// knownEncoding reports whether decoded can remove p's encoding.
func knownEncoding(p *message.Part) bool {
	switch enc := strings.ToUpper(p.Encoding); {
	case p.Type == "multipart", identityEncoding(enc), enc == "BASE64", enc == "QUOTED-PRINTABLE":
		return true
	}
	return false
}

// decoded returns p's body with its Content-Transfer-Encoding removed
// (see Binary for the line breaks).
func decoded(body *io.SectionReader, p *message.Part) (io.Reader, error) {
	if !knownEncoding(p) {
		return nil, fmt.Errorf("%w: %q", ErrUnknownCTE, p.Encoding)
	}
	switch enc := strings.ToUpper(p.Encoding); {
	case p.Type == "multipart":
		// RFC 2045 §6.4: a multipart is never encoded.
		return body, nil
	case identityEncoding(enc):
		if p.Type == "text" {
			// RFC 3516 §4.3: "servers MUST ensure that textual
			// line-oriented sections are always transmitted using the
			// IMAP CRLF line termination syntax, regardless of the
			// underlying storage representation".
			return &chunkReader{r: body, t: &crlfWriter{}}, nil
		}
		return body, nil
	case enc == "BASE64":
		return &chunkReader{r: body, t: &base64Decoder{}}, nil
	}
	return newQPReader(body), nil // QUOTED-PRINTABLE (knownEncoding)
}

// chunkSize is the size of the chunks decoders read.
const chunkSize = 16 << 10

// transform turns a stream into another, chunk by chunk, keeping what
// state it needs between chunks.
type transform interface {
	// step appends the output for src to dst.
	step(dst, src []byte) []byte
	// end appends the output for the end of the stream to dst.
	end(dst []byte) []byte
}

// chunkReader reads r through a transform.
type chunkReader struct {
	r   io.Reader
	t   transform
	raw []byte
	buf []byte
	out []byte // transformed, not yet read
	err error
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if c.raw == nil {
			c.raw = make([]byte, chunkSize)
		}
		n, err := c.r.Read(c.raw)
		c.out = c.t.step(c.buf[:0], c.raw[:n])
		if err != nil {
			if err == io.EOF {
				c.out = c.t.end(c.out)
			}
			c.err = err
		}
		c.buf = c.out[:0]
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// base64Values maps the base64 alphabet (RFC 2045 §6.8) to its values,
// and other bytes to 0xFF.
var base64Values = func() (t [256]byte) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range t {
		t[i] = 0xFF
	}
	for i := range len(alphabet) {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// base64Decoder decodes base64 leniently: RFC 2045 §6.8 has decoders
// ignore characters outside the alphabet; "=" ends a group, which lets
// concatenated encodings decode; a trailing group of one character is
// dropped.
type base64Decoder struct {
	group uint32 // the values of the current group, 6 bits each
	n     int    // how many values group holds
}

func (d *base64Decoder) step(dst, src []byte) []byte {
	for _, c := range src {
		v := base64Values[c]
		if v == 0xFF {
			if c == '=' {
				dst = d.end(dst)
			}
			continue
		}
		d.group = d.group<<6 | uint32(v)
		d.n++
		if d.n == 4 {
			dst = append(dst, byte(d.group>>16), byte(d.group>>8), byte(d.group))
			d.group, d.n = 0, 0
		}
	}
	return dst
}

// end flushes a partial group: two values make one byte, three make two.
func (d *base64Decoder) end(dst []byte) []byte {
	switch d.n {
	case 2:
		dst = append(dst, byte(d.group>>4))
	case 3:
		dst = append(dst, byte(d.group>>10), byte(d.group>>2))
	}
	d.group, d.n = 0, 0
	return dst
}

// crlfWriter makes every bare LF a CRLF.
type crlfWriter struct{ cr bool } // the last byte was CR

func (w *crlfWriter) step(dst, src []byte) []byte {
	for len(src) > 0 {
		i := bytes.IndexByte(src, '\n')
		if i < 0 {
			dst = append(dst, src...)
			w.cr = src[len(src)-1] == '\r'
			return dst
		}
		dst = append(dst, src[:i]...)
		if !(i > 0 && src[i-1] == '\r' || i == 0 && w.cr) {
			dst = append(dst, '\r')
		}
		dst = append(dst, '\n')
		w.cr = false
		src = src[i+1:]
	}
	return dst
}

func (w *crlfWriter) end(dst []byte) []byte { return dst }

// maxTrailingSpace bounds the white space the quoted-printable decoder
// holds back until it knows whether it ends a line; a longer run is
// content.
const maxTrailingSpace = 1024

// qpReader decodes quoted-printable (RFC 2045 §6.7) leniently.
type qpReader struct {
	br    *bufio.Reader
	space []byte // white space held back: it is dropped if a line break follows
	buf   []byte
	out   []byte // decoded, not yet read
	err   error
}

func newQPReader(r io.Reader) *qpReader {
	return &qpReader{br: bufio.NewReaderSize(r, chunkSize)}
}

func (q *qpReader) Read(p []byte) (int, error) {
	for len(q.out) == 0 {
		if q.err != nil {
			return 0, q.err
		}
		q.out = q.decode(q.buf[:0])
		q.buf = q.out[:0]
	}
	n := copy(p, q.out)
	q.out = q.out[n:]
	return n, nil
}

// decode appends about a chunk of decoded output to dst, or less at the
// end of the input (setting q.err).
func (q *qpReader) decode(dst []byte) []byte {
	for len(dst) < chunkSize {
		c, err := q.br.ReadByte()
		if err != nil {
			// White space at the end of the data ends its last line.
			q.space, q.err = q.space[:0], err
			return dst
		}
		switch c {
		case ' ', '\t':
			if len(q.space) == maxTrailingSpace {
				dst = append(dst, q.space...)
				q.space = q.space[:0]
			}
			q.space = append(q.space, c)
			continue
		case '\n':
			// RFC 2045 §6.7 rule 3: white space at the end of an encoded
			// line is not part of the data. Rule 4: a line break (stored
			// as a bare LF) stands for CRLF.
			q.space = q.space[:0]
			dst = append(dst, '\r', '\n')
			continue
		case '\r':
			if b, _ := q.br.Peek(1); len(b) == 1 && b[0] == '\n' {
				q.space = q.space[:0]
				_, _ = q.br.Discard(1)
				dst = append(dst, '\r', '\n')
				continue
			}
		}
		dst = append(dst, q.space...)
		q.space = q.space[:0]
		if c != '=' {
			dst = append(dst, c)
			continue
		}
		if b, _ := q.br.Peek(2); len(b) == 2 && isHex(b[0]) && isHex(b[1]) {
			// RFC 2045 §6.7 rule 1; lower case hex digits are accepted as
			// its note on robust decoders suggests.
			dst = append(dst, unhex(b[0])<<4|unhex(b[1]))
			_, _ = q.br.Discard(2)
		} else if n, ok := q.softBreak(); ok {
			// RFC 2045 §6.7 rule 5: "=" ending a line is a soft line break.
			_, _ = q.br.Discard(n)
		} else {
			dst = append(dst, '=')
		}
	}
	return dst
}

// softBreak reports whether the "=" just read ends its line, possibly
// followed by white space (which rule 3 says to drop), and how many bytes
// its line break and that white space take. The end of the data ends the
// line too.
func (q *qpReader) softBreak() (int, bool) {
	b, err := q.br.Peek(maxTrailingSpace + 2)
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	switch {
	case i < len(b) && b[i] == '\n':
		return i + 1, true
	case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
		return i + 2, true
	case i == len(b) && err != nil:
		return i, true // the end of the data
	}
	return 0, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' || 'a' <= c && c <= 'f'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
