package section

import (
	"bytes"
	"fmt"
	"io"
)

// headerFields returns the fields of the header block [start, end) of r
// whose names are in names (not false) or are not in names (not true),
// as they are in the message, folding included, followed by the blank
// line that ends the block.
//
// RFC 9051 §6.4.5: "The field-matching is ASCII-range case-insensitive
// but is otherwise exact. Subsetting does not exclude the [RFC-5322]
// delimiting blank line between the header and the body; the blank line
// is included in all header fetches, except in the case of a message that
// has no body and no blank line."
//
// At most maxHeaderBytes of the block are read; the fields past them, and
// a field that does not end within them, are left out. A line that is not
// a field (no colon) has no name: HEADER.FIELDS never returns it, and
// HEADER.FIELDS.NOT does.
func headerFields(r io.ReaderAt, start, end int64, names []string, not bool) ([]byte, error) {
	blank, err := blankLine(r, start, end)
	if err != nil {
		return nil, err
	}
	fieldsEnd := end - int64(len(blank))
	buf := make([]byte, min(fieldsEnd-start, maxHeaderBytes))
	if err := readFull(r, buf, start); err != nil {
		return nil, err
	}
	if int64(len(buf)) < fieldsEnd-start {
		// The block is cut: keep only the fields known to end within buf.
		buf = buf[:bytes.LastIndexByte(buf, '\n')+1]
		next := make([]byte, 1)
		if err := readFull(r, next, start+int64(len(buf))); err != nil {
			return nil, err
		}
		if next[0] == ' ' || next[0] == '\t' {
			buf = buf[:lastFieldStart(buf)]
		}
	}
	var out []byte
	for len(buf) > 0 {
		n := fieldLen(buf)
		f := buf[:n]
		if matchName(fieldName(f), names) != not {
			out = append(out, f...)
		}
		buf = buf[n:]
	}
	return append(out, blank...), nil
}

// blankLine returns the blank line ("\r\n" or "\n") that ends the header
// block [start, end), or nil when the block has none (a message without a
// body may end in its header).
func blankLine(r io.ReaderAt, start, end int64) ([]byte, error) {
	tail := make([]byte, min(end-start, 3))
	if err := readFull(r, tail, end-int64(len(tail))); err != nil {
		return nil, err
	}
	whole := int64(len(tail)) == end-start // the tail is the whole block
	for _, blank := range []string{"\r\n", "\n"} {
		t := string(tail)
		if t == blank && whole || len(t) > len(blank) && t[len(t)-len(blank)-1:] == "\n"+blank {
			return []byte(blank), nil
		}
	}
	return nil, nil
}

// readFull reads len(b) bytes at off.
func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("section: reading header at %d: %w", off, err)
}

// fieldLen returns the length of the field that starts b: its first line
// and the continuation lines, which start with white space (RFC 5322
// §2.2.3), each through its line break.
func fieldLen(b []byte) int {
	i := 0
	for {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return len(b)
		}
		i += j + 1
		if i == len(b) || (b[i] != ' ' && b[i] != '\t') {
			return i
		}
	}
}

// lastFieldStart returns where the last field of b, a block of whole
// lines, starts.
func lastFieldStart(b []byte) int {
	last := 0
	for i := 0; i < len(b); i += fieldLen(b[i:]) {
		last = i
	}
	return last
}

// fieldName returns the name of field f: what precedes the colon of its
// first line, less trailing white space (RFC 5322 §4.5.3, obsolete
// syntax, allows it before the colon); nil when the line has no colon or
// starts with white space.
func fieldName(f []byte) []byte {
	line := f
	if i := bytes.IndexByte(f, '\n'); i >= 0 {
		line = f[:i]
	}
	i := bytes.IndexByte(line, ':')
	if i <= 0 || line[0] == ' ' || line[0] == '\t' {
		return nil
	}
	return bytes.TrimRight(line[:i], " \t")
}

// matchName reports whether name is one of names, compared ASCII
// case-insensitively. An empty name matches nothing.
func matchName(name []byte, names []string) bool {
	if len(name) == 0 {
		return false
	}
	for _, n := range names {
		if asciiEqualFold(name, n) {
			return true
		}
	}
	return false
}

// asciiEqualFold is bytes.EqualFold limited to ASCII: RFC 9051 matches
// field names "ASCII-range case-insensitive" only.
func asciiEqualFold(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
