package message

import (
	"bytes"
	"io"

	"postel/internal/store"
)

// ParseMeta parses the message in r as delivery does (Parse with
// DefaultLimits) and returns its metadata for the store (Meta, without the
// searchable text, which ExtractText gives from the parsed root).
func ParseMeta(r io.ReaderAt, size int64) (*Parsed, store.MessageMeta, error) {
	parsed, err := Parse(r, size, DefaultLimits())
	if err != nil {
		return nil, store.MessageMeta{}, err
	}
	meta, err := parsed.Meta()
	if err != nil {
		return nil, store.MessageMeta{}, err
	}
	return parsed, meta, nil
}

// StoredMeta is ParseMeta's metadata and whether the message's octets
// hold a NUL (store.NULOf of what the spool saw): what the stores'
// backfill writes again for the messages an older parser stored.
func StoredMeta(r io.ReaderAt, size int64) (store.MessageMeta, bool, error) {
	_, meta, err := ParseMeta(r, size)
	if err != nil {
		return store.MessageMeta{}, false, err
	}
	nul, err := hasNUL(io.NewSectionReader(r, 0, size))
	if err != nil {
		return store.MessageMeta{}, false, err
	}
	return meta, nul, nil
}

// hasNUL reads r to its end, or to its first NUL octet.
func hasNUL(r io.Reader) (bool, error) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if bytes.IndexByte(buf[:n], 0) >= 0 {
			return true, nil
		}
		if err == io.EOF {
			return false, nil
		} else if err != nil {
			return false, err
		}
	}
}
