// Package section serves FETCH body sections (RFC 9051 §6.4.5) and their
// decoded BINARY forms (RFC 3516) by byte ranges of the stored message,
// using the body structure internal/message computed at delivery: nothing
// is parsed again but the one header block HEADER.FIELDS subsets.
//
// Invariants:
//   - Body returns a reader with its exact size, after checking that the
//     range it reads lies within the message, so a literal announced with
//     that size is always followed by exactly that many octets (as long as
//     the io.ReaderAt holds the message it was given the size of);
//     BinarySize is exactly the number of octets Binary gives.
//   - Memory is bounded whatever the message size: bodies are streamed,
//     and only one header block is held, for HEADER.FIELDS(.NOT), at most
//     message.DefaultLimits().MaxHeaderBytes of it.
//
// Part paths (RFC 9051 §6.4.5): a multipart's children are numbered from
// 1; a non-multipart message, and the message encapsulated in a
// message/rfc822 (or message/global) part, has a single part 1, its body;
// the numbers after a message/rfc822 part address the parts of the message
// it encapsulates. RFC 9051 does not say what a FETCH of a part that does
// not exist returns; Find, Body and Binary return ErrNoPart for it, and the
// server may answer with an empty string, as some servers (Apache James)
// do, or with NO.
package section

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"postel/internal/imap"
	"postel/internal/message"
)

// Errors callers can test with errors.Is.
var (
	// ErrNoPart is returned for a part path that addresses no part, and
	// for HEADER, HEADER.FIELDS(.NOT) or TEXT after a path whose part is
	// not a message/rfc822 or message/global part.
	ErrNoPart = errors.New("section: no such part")
	// ErrUnknownCTE is returned by Binary and BinarySize for a
	// Content-Transfer-Encoding they cannot decode; RFC 9051 §7.5.2 wants
	// NO [UNKNOWN-CTE] for it.
	ErrUnknownCTE = errors.New("section: unknown content transfer encoding")
	// ErrStructure is returned when the body structure does not fit the
	// message: a server fault (the structure and the message file
	// disagree), never the client's.
	ErrStructure = errors.New("section: body structure does not fit the message")
)

// maxHeaderBytes bounds the header block HEADER.FIELDS and
// HEADER.FIELDS.NOT read: as when the message was parsed at delivery
// (message.DefaultLimits), fields past it are ignored. Tests lower it.
var maxHeaderBytes = message.DefaultLimits().MaxHeaderBytes

// Find returns the part the part path addresses (RFC 9051 §6.4.5): an
// empty path is the whole message (root); "1" of a non-multipart message
// is that message's single part, root itself; numbers after a
// message/rfc822 part address the parts of its encapsulated message. It
// returns ErrNoPart when no part has that path.
func Find(root *message.Part, path []int) (*message.Part, error) {
	if root == nil {
		return nil, ErrStructure
	}
	p := root
	for i, n := range path {
		if i > 0 && p.Type != "multipart" {
			// RFC 9051 §6.4.5: a MESSAGE/RFC822 part has nested part
			// numbers, referring to parts of the MESSAGE part's body;
			// other non-multipart parts have none.
			if p.Message == nil || p.Message.Root == nil {
				return nil, noPart(path[:i+1])
			}
			p = p.Message.Root
		}
		switch {
		case p.Type == "multipart":
			if n < 1 || n > len(p.Parts) || p.Parts[n-1] == nil {
				return nil, noPart(path[:i+1])
			}
			p = p.Parts[n-1]
		case n != 1:
			// RFC 9051 §6.4.5: non-multipart messages only have a part 1.
			return nil, noPart(path[:i+1])
		}
	}
	return p, nil
}

func noPart(path []int) error {
	return fmt.Errorf("%w: %s", ErrNoPart, pathString(path))
}

// pathString formats a part path as IMAP writes it: "1.2.3".
func pathString(path []int) string {
	var b strings.Builder
	for i, n := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// messageRoot returns the root part of the message a HEADER, HEADER.FIELDS
// or TEXT specifier after path refers to: the outermost message for an
// empty path, else the message encapsulated in the message/rfc822 part at
// path (RFC 9051 §6.4.5).
func messageRoot(root *message.Part, path []int) (*message.Part, error) {
	if len(path) == 0 {
		return root, nil
	}
	p, err := Find(root, path)
	if err != nil {
		return nil, err
	}
	if p.Message == nil || p.Message.Root == nil {
		return nil, fmt.Errorf("%w: %s is not a message part", ErrNoPart, pathString(path))
	}
	return p.Message.Root, nil
}

// Body returns the octets of a BODY[section] (RFC 9051 §6.4.5) of the
// message of size bytes in r, whose structure is root, and their exact
// number. A nil sec is the whole message. Specifiers:
//
//	""                 whole message (no path), or the body of the part
//	HEADER             the header of the message, with the blank line
//	HEADER.FIELDS      the fields named in sec.Fields, as in the message
//	HEADER.FIELDS.NOT  the fields not named
//	TEXT               the body of the message
//	MIME               the header of the part, with the blank line
//
// HEADER, HEADER.FIELDS(.NOT) and TEXT refer to the message encapsulated
// in the part at the path, which must be a message/rfc822 part; MIME
// needs a path. For the single part of a non-multipart message, MIME is
// the message header. A partial <a.b> is applied by the caller, with
// Partial.
func Body(r io.ReaderAt, size int64, root *message.Part, sec *imap.Section) (io.Reader, int64, error) {
	if root == nil {
		return nil, 0, ErrStructure
	}
	if sec == nil {
		sec = &imap.Section{}
	}
	var start, end int64
	fields := false
	switch spec := strings.ToUpper(sec.Specifier); spec {
	case "":
		if len(sec.Part) == 0 {
			start, end = 0, size
			break
		}
		p, err := Find(root, sec.Part)
		if err != nil {
			return nil, 0, err
		}
		start, end = p.BodyStart, p.End
	case "MIME":
		// RFC 9051 §6.4.5: MIME MUST be prefixed by a part number.
		if len(sec.Part) == 0 {
			return nil, 0, errors.New("section: MIME without a part number")
		}
		p, err := Find(root, sec.Part)
		if err != nil {
			return nil, 0, err
		}
		start, end = p.HeaderStart, p.BodyStart
	case "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT":
		m, err := messageRoot(root, sec.Part)
		if err != nil {
			return nil, 0, err
		}
		start, end = m.HeaderStart, m.BodyStart
		if spec == "TEXT" {
			start, end = m.BodyStart, m.End
		}
		fields = spec != "HEADER" && spec != "TEXT"
	default:
		return nil, 0, fmt.Errorf("section: unknown specifier %q", sec.Specifier)
	}
	if err := checkRange(start, end, size); err != nil {
		return nil, 0, err
	}
	if fields {
		not := strings.EqualFold(sec.Specifier, "HEADER.FIELDS.NOT")
		b, err := headerFields(r, start, end, sec.Fields, not)
		if err != nil {
			return nil, 0, err
		}
		return bytes.NewReader(b), int64(len(b)), nil
	}
	return io.NewSectionReader(r, start, end-start), end - start, nil
}

// checkRange checks that [start, end) lies within a message of size bytes.
func checkRange(start, end, size int64) error {
	if start < 0 || start > end || end > size {
		return fmt.Errorf("%w: range %d-%d of %d bytes", ErrStructure, start, end, size)
	}
	return nil
}

// Partial applies a partial fetch <origin.count> (RFC 9051 §6.4.5) to
// the n octets of r: it returns the substring and its size. The substring
// starts at the origin and is at most count octets long, truncated at the
// end of the text; an origin at or beyond the end gives an empty string.
// The origin to report in the response, BODY[...]<origin>, is always
// p.Offset, whatever the truncation. A nil p returns r and n unchanged.
//
// The origin is skipped on the first Read: by seeking when r is an
// io.Seeker (as the readers of Body are), else by reading.
func Partial(r io.Reader, n int64, p *imap.Partial) (io.Reader, int64) {
	if p == nil {
		return r, n
	}
	origin := max(p.Offset, 0)
	if origin >= n {
		return strings.NewReader(""), 0
	}
	count := min(max(p.Count, 0), n-origin)
	return &partialReader{r: r, skip: origin, left: count}, count
}

// partialReader reads left bytes of r after skipping skip bytes.
type partialReader struct {
	r    io.Reader
	skip int64
	left int64
}

func (p *partialReader) Read(b []byte) (int, error) {
	if p.skip > 0 {
		if err := skip(p.r, p.skip); err != nil {
			return 0, err
		}
		p.skip = 0
	}
	if p.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	k, err := p.r.Read(b)
	p.left -= int64(k)
	if err == io.EOF && p.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return k, err
}

// skip advances r by n bytes.
func skip(r io.Reader, n int64) error {
	if s, ok := r.(io.Seeker); ok {
		_, err := s.Seek(n, io.SeekCurrent)
		return err
	}
	k, err := io.CopyN(io.Discard, r, n)
	if err == io.EOF && k < n {
		err = io.ErrUnexpectedEOF
	}
	return err
}
