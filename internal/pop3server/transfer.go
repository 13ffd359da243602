package pop3server

import (
	"bytes"
	"io"
)

var (
	crlf       = []byte("\r\n")
	cr         = []byte("\r")
	dot        = []byte(".")
	terminator = []byte(".\r\n")
)

// dotWriter turns a stored message into the body of a multi-line reply
// (RFC 1939 §3), streaming, in bounded memory:
//   - every line ends in CRLF: a bare LF becomes CRLF (IMAP APPEND may have
//     stored LF-only lines), and a last line without a line end gets one;
//     a CR not followed by LF is content, left as it is;
//   - a line that starts with "." gets one more (byte-stuffing), so that
//     the only CRLF "." CRLF on the wire is the terminator it writes last;
//   - with a line limit (TOP, RFC 1939 §7) it stops after the header, the
//     blank line that ends it, and that many body lines.
//
// n counts the octets of the message as the client gets it back after
// removing the stuffing: what RFC 1939 §11 says sizes count. With a nil w
// it only counts, which gives RETR's size.
type dotWriter struct {
	w     io.Writer
	n     int64
	limit int64 // body lines to send; < 0 for all
	err   error

	bol     bool  // at the beginning of a line
	cr      bool  // a CR ended the last chunk: a line end if LF follows
	lineLen int64 // octets of the current line so far, without line end
	inBody  bool  // the blank line ending the header has passed
	lines   int64 // body lines sent
	done    bool  // the line limit is reached: the rest is dropped
}

func newDotWriter(w io.Writer, bodyLines int64) *dotWriter {
	return &dotWriter{w: w, limit: bodyLines, bol: true}
}

// copyFrom sends what r holds, then the end of the reply, using buf to
// read. It stops reading when a TOP limit is reached.
func (d *dotWriter) copyFrom(r io.Reader, buf []byte) error {
	for !d.done && d.err == nil {
		n, err := r.Read(buf)
		d.write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	d.finish()
	return d.err
}

// emit writes p; counted says whether it is part of the message.
func (d *dotWriter) emit(p []byte, counted bool) {
	if len(p) == 0 || d.err != nil {
		return
	}
	if counted {
		d.n += int64(len(p))
	}
	if d.w != nil {
		_, d.err = d.w.Write(p)
	}
}

// write takes the next chunk of the message. Unchanged runs of lines are
// written in one piece.
func (d *dotWriter) write(p []byte) {
	if d.done || len(p) == 0 {
		return
	}
	if d.cr {
		d.cr = false
		if len(p) > 0 && p[0] == '\n' {
			d.emit(crlf, true)
			p = p[1:]
			if d.endLine() {
				return
			}
		} else {
			d.emit(cr, true) // a bare CR: content
			d.lineLen++
		}
	}
	run := 0 // p[run:i] is waiting to be written unchanged
	for i := 0; i < len(p); {
		if d.bol {
			d.bol = false
			if p[i] == '.' {
				d.emit(p[run:i], true)
				d.emit(dot, false) // RFC 1939 §3 byte-stuffing
				run = i
			}
		}
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			end := len(p)
			if p[end-1] == '\r' {
				end-- // held back until the next chunk tells what it is
				d.cr = true
			}
			d.lineLen += int64(end - i)
			d.emit(p[run:end], true)
			return
		}
		lf := i + j
		if lf > i && p[lf-1] == '\r' {
			d.lineLen += int64(lf - 1 - i)
		} else {
			d.lineLen += int64(lf - i)
			d.emit(p[run:lf], true) // a bare LF becomes CRLF
			d.emit(crlf, true)
			run = lf + 1
		}
		i = lf + 1
		if d.endLine() {
			d.emit(p[run:i], true)
			return
		}
	}
	d.emit(p[run:], true)
}

// endLine accounts for a line end; true when the line limit is reached.
func (d *dotWriter) endLine() bool {
	blank := d.lineLen == 0
	d.lineLen, d.bol = 0, true
	if !d.inBody {
		d.inBody = blank
		d.done = blank && d.limit == 0
	} else {
		d.lines++
		d.done = d.limit >= 0 && d.lines >= d.limit
	}
	return d.done
}

// finish ends the last line and writes the terminator.
func (d *dotWriter) finish() {
	if d.cr {
		d.cr = false
		d.emit(cr, true)
		d.bol = false
	}
	if !d.bol {
		d.emit(crlf, true)
	}
	d.emit(terminator, false)
}
