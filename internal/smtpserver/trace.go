package smtpserver

import (
	"bufio"
	"fmt"
	"io"
	"net/textproto"
	"reflect"
	"strconv"
	"strings"
	"unsafe"

	"github.com/emersion/go-smtp"

	"postel/internal/trace"
)

// Protocol traces (internal/trace) of SMTP sessions.
//
// go-smtp reads commands and writes replies itself, above the TLS layer
// that STARTTLS puts over our conn, and offers no hook per connection (its
// Debug writer is one for the whole server). So, as dataSource does for
// DATA, traceIO digs into its connection: the reader under its line
// reader and the writer under its buffered writer are wrapped, both above
// TLS, once per go-smtp session (the first EHLO, and again after
// STARTTLS). The greeting and the EHLO that started the session came
// before: a note says what they were. When go-smtp's layout is not the
// one this code knows, nothing is traced (TestTrace fails).

// traceIO installs the connection's trace on go-smtp's reader and writer
// and starts its streams there; it returns go-smtp's buffered reader (for
// Sync) or nil when the layout is unknown.
func traceIO(sc *smtp.Conn, tr *trace.Session) *bufio.Reader {
	if tr == nil {
		return nil
	}
	v := reflect.ValueOf(sc).Elem()
	text, llr := v.FieldByName("text"), v.FieldByName("lineLimitReader")
	if !text.IsValid() || text.Type() != reflect.TypeFor[*textproto.Conn]() || text.IsNil() ||
		!llr.IsValid() || llr.Kind() != reflect.Pointer || llr.IsNil() {
		return nil
	}
	tc := (*textproto.Conn)(text.UnsafePointer())
	r := llr.Elem().FieldByName("R")
	if !r.IsValid() || r.Type() != reflect.TypeFor[io.Reader]() || tc.R == nil || tc.W == nil {
		return nil
	}
	rp := (*io.Reader)(unsafe.Pointer(r.UnsafeAddr()))
	if _, done := (*rp).(*traceReader); done {
		return tc.R
	}
	// The writer's buffer is empty here: go-smtp flushes every reply
	// before it reads the next command, and the session is made while a
	// command (EHLO) is handled. Reset would drop what it holds.
	if tc.W.Buffered() != 0 {
		return nil
	}
	*rp = &traceReader{r: *rp, tr: tr}
	tc.W.Reset(&traceWriter{w: sc.Conn(), tr: tr})
	return tc.R
}

// traceReader passes what go-smtp reads from the client to the trace.
type traceReader struct {
	r  io.Reader
	tr *trace.Session
}

func (t *traceReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.tr.Client(p[:n])
	}
	return n, err
}

// traceWriter passes what go-smtp writes to the client to the trace.
type traceWriter struct {
	w  io.Writer
	tr *trace.Session
}

func (t *traceWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if n > 0 {
		t.tr.Server(p[:n])
	}
	return n, err
}

// startTrace hooks the session's trace into go-smtp's connection (at each
// go-smtp session) and says how the session began.
func (c *conn) startTrace(sc *smtp.Conn, tlsOn bool) {
	if c.trace == nil {
		return
	}
	br := traceIO(sc, c.trace)
	c.mu.Lock()
	c.traceBR = br
	c.mu.Unlock()
	if br == nil {
		c.log.Warn("protocol trace unavailable: go-smtp's connection is not laid out as expected")
		return
	}
	c.trace.Restart(br.Buffered())
	how := "plain text"
	if tlsOn {
		how = "TLS"
	}
	c.trace.Note(fmt.Sprintf("session over %s after the greeting and HELO/EHLO %s", how, sc.Hostname()))
}

// syncTrace is called between commands: a trace that began meanwhile
// starts here when no input is buffered.
func (c *conn) syncTrace() {
	if c.trace == nil {
		return
	}
	c.mu.Lock()
	br := c.traceBR
	c.mu.Unlock()
	if br != nil {
		c.trace.Sync(br.Buffered())
	}
}

// smtpRedactor shows an SMTP dialogue without AUTH's credentials (the
// initial response and every line of the exchange) and without message
// data (DATA's lines, BDAT's chunks), of which only the size is shown.
type smtpRedactor struct {
	auth   bool  // a SASL exchange runs: the client's lines are credentials
	data   bool  // DATA was sent: the client's lines are the message
	octets int64 // of the message so far
}

func newSMTPRedactor() trace.Redactor { return &smtpRedactor{} }

func (r *smtpRedactor) Client(line []byte) (string, int64) {
	switch {
	case r.data:
		if string(line) == "." {
			r.data = false
			n := r.octets
			r.octets = 0
			return fmt.Sprintf("[message data: %d octets] .", n), 0
		}
		r.octets += int64(len(line)) + 2
		return "", 0
	case r.auth:
		if string(line) == "*" { // RFC 4954 §4: the client cancels
			return "*", 0
		}
		return "***", 0
	}
	s := string(line)
	verb, rest, _ := strings.Cut(s, " ")
	switch strings.ToUpper(verb) {
	case "AUTH":
		// Until the server's final reply, every line is the exchange
		// (go-smtp reads them so, even pipelined ones).
		r.auth = true
		if mech, _, ir := strings.Cut(rest, " "); ir {
			return verb + " " + mech + " ***", 0
		}
	case "DATA":
		// The lines that follow are the message even when the client
		// sends them before the 354; a refusal of DATA ends that.
		r.data, r.octets = true, 0
	case "BDAT":
		f := strings.Fields(rest)
		if len(f) > 0 {
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil && n > 0 {
				return s, n
			}
		}
	}
	return s, 0
}

func (r *smtpRedactor) Server(line []byte) (string, int64) {
	s := string(line)
	final := len(s) < 4 || s[3] != '-'
	code := s[:min(3, len(s))]
	if r.auth && final && code != "334" {
		r.auth = false
	}
	if r.data && final && code != "354" && r.octets == 0 {
		r.data = false // DATA refused: what follows are commands
	}
	return s, 0
}
