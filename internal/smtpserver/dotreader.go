package smtpserver

import (
	"bufio"
	"errors"
	"io"
	"reflect"

	"github.com/emersion/go-smtp"
)

// go-smtp's DATA reader undoes the dot-stuffing of RFC 5321 §4.5.2 with a
// state machine that hides some bare CRs from Data: a line that starts
// with ".\r" not followed by LF loses both octets (".\rX" comes out "X",
// the bare CR silently dropped from the stored text), and after a CR that
// follows a CR it no longer sees the end of a line, so it disagrees with
// RFC 5321 on where the data ends ("\r\r\n.\r\n"). dotReader reads the
// dot-stuffed text itself, from the connection's buffered reader beneath
// go-smtp's: it drops only the stuffed dot and passes every other octet on
// to the bodyChecker, which refuses bare CRs and LFs. go-smtp's reader is
// left the terminating line alone, so that both agree where the data ended
// and go-smtp reads the next command where it should.

// dataSource returns what Data reads the message from: a dotReader over
// the connection for DATA, r itself for BDAT (no dot-stuffing) or when
// go-smtp's reader is not the one this code knows (another go-smtp
// version: then TestDotCR fails).
func (s *session) dataSource(r io.Reader) io.Reader {
	br := connReader(r)
	if br == nil {
		return r
	}
	return &dotReader{br: br, end: r, left: s.srv.cfg.MaxMessageBytes, start: true}
}

// connReader digs the connection's buffered reader out of go-smtp's
// unexported DATA reader (*smtp.dataReader, field r), or returns nil. The
// reader must not have read anything yet (its state is zero).
func connReader(r io.Reader) *bufio.Reader {
	v := reflect.ValueOf(r)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return nil
	}
	if t := v.Type().Elem(); t.Kind() != reflect.Struct || t.Name() != "dataReader" || t.PkgPath() != "github.com/emersion/go-smtp" {
		return nil
	}
	f, state := v.Elem().FieldByName("r"), v.Elem().FieldByName("state")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*bufio.Reader]() || f.IsNil() ||
		!state.IsValid() || state.Kind() != reflect.Int || state.Int() != 0 {
		return nil
	}
	return (*bufio.Reader)(f.UnsafePointer())
}

// errDataDesync: go-smtp's reader did not end the data where dotReader
// found its end. It cannot happen with the go-smtp this was written for;
// the connection is closed rather than risk reading data as commands.
var errDataDesync = errors.New("smtpserver: go-smtp's data reader disagrees on the end of the data")

// dotReader reads the text of DATA up to the line "." (RFC 5321 §4.5.2):
// a line is what ends with CRLF; at the start of one, a dot is dropped,
// and ".\r\n" ends the data. Every other octet is passed on as it came.
// Past left octets it reads on to the end and then fails with
// smtp.ErrDataTooLarge, so that the next command is read from its start.
type dotReader struct {
	br     *bufio.Reader
	end    io.Reader // go-smtp's reader, which consumes the terminating line
	left   int64     // octets still allowed (MaxMessageBytes)
	tooBig bool      // more than MaxMessageBytes came: the rest is dropped
	start  bool      // at the start of a line
	prevCR bool      // the last octet read was CR
	chunk  []byte    // read, not yet returned (in br's buffer)
	err    error     // returned once chunk is empty
}

func (d *dotReader) Read(p []byte) (int, error) {
	for len(d.chunk) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		d.next()
	}
	n := copy(p, d.chunk)
	d.chunk = d.chunk[n:]
	return n, nil
}

// next reads the rest of a line, or what of it fits in br's buffer, into
// chunk; or it ends the data.
func (d *dotReader) next() {
	if d.start {
		d.start = false
		head, err := d.br.Peek(1)
		if err != nil {
			d.fail(err)
			return
		}
		if head[0] == '.' {
			if head, err = d.br.Peek(3); err != nil {
				d.fail(err)
				return
			}
			if string(head) == ".\r\n" {
				d.finish()
				return
			}
			d.br.Discard(1) // the stuffed dot
		}
	}
	chunk, err := d.br.ReadSlice('\n')
	if n := len(chunk); n > 0 {
		if chunk[n-1] == '\n' {
			d.start = n >= 2 && chunk[n-2] == '\r' || n == 1 && d.prevCR
		}
		d.prevCR = chunk[n-1] == '\r'
		switch {
		case d.tooBig:
		case int64(n) > d.left:
			d.tooBig = true
		default:
			d.left -= int64(n)
			d.chunk = chunk
		}
	}
	if err != nil && err != bufio.ErrBufferFull {
		d.fail(err)
	}
}

// finish lets go-smtp's reader consume the terminating ".\r\n" and end.
func (d *dotReader) finish() {
	var one [1]byte
	n, err := d.end.Read(one[:])
	switch {
	case n != 0 || err != io.EOF:
		d.err = errDataDesync
	case d.tooBig:
		d.err = smtp.ErrDataTooLarge
	default:
		d.err = io.EOF
	}
}

// fail ends the data with the connection's error: an early end of the
// stream is io.ErrUnexpectedEOF; timeouts and ErrTooLongLine stay as they
// are, for dataError.
func (d *dotReader) fail(err error) {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	d.err = err
}
