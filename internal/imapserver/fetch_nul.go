package imapserver

import (
	"errors"
	"io"

	"postel/internal/imap"
)

// errNUL: a BODY[...] or RFC822 item would hold a NUL octet. RFC 9051
// §4.3 lets no literal but a literal8 carry NUL, and its grammar
// (msg-att-static) allows a literal8 only in a BINARY[...] response (RFC
// 3516 §4.3); BODY[...] is an nstring. Sending the octets raw would break
// the client's parser, and changing them (as some servers replace NUL by
// 0x80) would hand out something else than the stored message, so the
// item is refused: the FETCH ends with NO [CANNOT] (RFC 5530: it can
// never succeed) and the client can fetch BINARY[...] instead.
var errNUL = errors.New("section holds NUL octets")

// checkNUL returns errNUL when the octets of the n-octet section r that
// the partial p (nil for all) selects hold a NUL. r is read from its
// current offset and left there.
func checkNUL(r io.Reader, n int64, p *imap.Partial) error {
	rs, ok := r.(io.ReadSeeker)
	if !ok {
		return nil // every section reader is seekable; nothing to check otherwise
	}
	start, count := int64(0), n
	if p != nil {
		start = min(max(p.Offset, 0), n)
		count = min(max(p.Count, 0), n-start)
	}
	if _, err := rs.Seek(start, io.SeekCurrent); err != nil {
		return err
	}
	var c nulCounter
	_, err := io.Copy(&c, io.LimitReader(rs, count))
	if _, serr := rs.Seek(-(start + c.n), io.SeekCurrent); err == nil {
		err = serr
	}
	if err == nil && c.nul {
		err = errNUL
	}
	return err
}
