package message

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Field is one header field as it stands in a message: its name as
// written, and its raw text from the name to the line break ending it,
// folding included (RFC 5322 §2.2). Signatures (DKIM, ARC) are computed
// over this raw text, so it is never re-encoded.
type Field struct {
	Name string
	Raw  []byte
}

// Value is the field's value unfolded (RFC 5322 §2.2.3: line breaks
// removed) and trimmed, not decoded.
func (f Field) Value() string {
	v := f.Raw[bytes.IndexByte(f.Raw, ':')+1:]
	v = bytes.ReplaceAll(v, []byte("\r\n"), nil)
	v = bytes.ReplaceAll(v, []byte("\n"), nil)
	return strings.TrimSpace(string(v))
}

// Is reports whether the field is named name (case-insensitive, RFC 5322
// §1.2.2).
func (f Field) Is(name string) bool { return strings.EqualFold(f.Name, name) }

// ErrHeaderTooLarge is returned by ReadHeader for a header block over its
// bound.
var ErrHeaderTooLarge = errors.New("message: header block too large")

// ReadHeader reads the header block of a message up to and including the
// empty line that ends it (or the end of the message), at most max bytes.
func ReadHeader(br *bufio.Reader, max int) ([]byte, error) {
	var hdr []byte
	lineStart := true // the slice read starts a line
	for {
		line, err := br.ReadSlice('\n')
		if len(hdr)+len(line) > max {
			return nil, fmt.Errorf("%w (more than %d bytes)", ErrHeaderTooLarge, max)
		}
		hdr = append(hdr, line...)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			lineStart = false
			continue
		case err == io.EOF:
			return hdr, nil
		case err != nil:
			return nil, fmt.Errorf("message: reading header: %w", err)
		}
		if lineStart && (len(line) == 1 || (len(line) == 2 && line[0] == '\r')) {
			return hdr, nil
		}
		lineStart = true
	}
}

// Fields splits a header block into fields (RFC 5322 §2.2: a line starting
// with white space continues the field before it), stopping at the empty
// line. Lines that are not fields (no colon, or a continuation with nothing
// to continue, and the continuations of such lines) are skipped. Each Raw aliases hdr.
func Fields(hdr []byte) []Field {
	var out []Field
	inField := false // the line before belongs to out's last field
	for len(hdr) > 0 {
		i := bytes.IndexByte(hdr, '\n')
		var line []byte
		if i < 0 {
			line, hdr = hdr, nil
		} else {
			line, hdr = hdr[:i+1], hdr[i+1:]
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if inField {
				last := &out[len(out)-1]
				last.Raw = last.Raw[:len(last.Raw)+len(line)] // line follows it in hdr
			}
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if inField = colon > 0; !inField {
			continue
		}
		out = append(out, Field{Name: string(bytes.TrimRight(line[:colon], " \t")), Raw: line})
	}
	return out
}

// AddressList parses an address-list (RFC 5322 §3.4) leniently, as
// ENVELOPE does: see Address for how groups and broken addresses look.
func AddressList(v string) []Address { return parseAddressList(v) }
