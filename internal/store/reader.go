package store

import (
	"errors"
	"io"
)

// NewMessageReader serves prefix followed by the body, as one message: the
// form in which a stored message is read and parsed. It takes ownership of
// body.
func NewMessageReader(prefix []byte, body Blob) MessageReader {
	return &messageReader{prefix: prefix, body: body, size: int64(len(prefix)) + body.Size()}
}

type messageReader struct {
	prefix []byte
	body   Blob
	size   int64
	off    int64
}

func (m *messageReader) Size() int64 { return m.size }

func (m *messageReader) Read(p []byte) (int, error) {
	n, err := m.ReadAt(p, m.off)
	m.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// ReadAt reads from the concatenation of prefix and body.
func (m *messageReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("store: negative offset")
	}
	if off >= m.size {
		return 0, io.EOF
	}
	n := 0
	if plen := int64(len(m.prefix)); off < plen {
		n = copy(p, m.prefix[off:])
		off += int64(n)
		p = p[n:]
	}
	if len(p) == 0 {
		return n, nil
	}
	k, err := m.body.ReadAt(p, off-int64(len(m.prefix)))
	n += k
	if err == io.EOF && off+int64(k) < m.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (m *messageReader) Close() error { return m.body.Close() }
