package imap

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ReaderOptions bound what one client command can make the server read and
// hold. Zero fields take their defaults.
type ReaderOptions struct {
	// Grammar gives the commands the server knows and their argument
	// syntax (required).
	Grammar Grammar
	// MaxLine is the size of one line outside literals, line ending
	// excluded (default 64 KiB).
	MaxLine int
	// MaxLiteral bounds the literals other than APPEND messages: passwords,
	// search strings, mailbox names (default 64 KiB). They are held in
	// memory.
	MaxLiteral int64
	// MaxAppend bounds one APPEND message literal, the APPENDLIMIT
	// (default 50 MiB). Messages are streamed, never held.
	MaxAppend int64
	// MaxDepth bounds the nesting of search keys and the length of section
	// part paths (default 32).
	MaxDepth int
	// MaxArgs bounds the items of one command: list elements, search keys,
	// fetch items, MULTIAPPEND messages (default 10000). Sequence sets are
	// bounded by MaxLine instead.
	MaxArgs int
	// MaxCommand bounds the bytes held for one command: its lines and its
	// literals other than APPEND messages (default 1 MiB).
	MaxCommand int64
	// UTF8 is set after ENABLE UTF8=ACCEPT or IMAP4rev2: mailbox names are
	// UTF-8. Otherwise they are modified UTF-7 (RFC 3501 §5.1.3) and are
	// decoded.
	UTF8 bool
}

// The defaults of ReaderOptions.
const (
	DefaultMaxLine    = 64 << 10
	DefaultMaxLiteral = 64 << 10
	DefaultMaxAppend  = 50 << 20
	DefaultMaxDepth   = 32
	DefaultMaxArgs    = 10000
	DefaultMaxCommand = 1 << 20
)

func (o ReaderOptions) withDefaults() ReaderOptions {
	if o.MaxLine <= 0 {
		o.MaxLine = DefaultMaxLine
	}
	if o.MaxLiteral <= 0 {
		o.MaxLiteral = DefaultMaxLiteral
	}
	if o.MaxAppend <= 0 {
		o.MaxAppend = DefaultMaxAppend
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.MaxArgs <= 0 {
		o.MaxArgs = DefaultMaxArgs
	}
	if o.MaxCommand <= 0 {
		o.MaxCommand = DefaultMaxCommand
	}
	return o
}

// ParseError is a command the server refuses before running it: BAD for
// syntax errors and exceeded limits, NO for a literal refused without
// being read (RFC 7889: a synchronizing literal over APPENDLIMIT gets
// NO [TOOBIG] and no continuation) or an APPEND message the AppendSink
// refused. When ReadCommand returns a ParseError, the rest of the command
// has been consumed and the next command can be read.
type ParseError struct {
	Tag     string // "" when the line had no valid tag: answer untagged
	Command string // upper case, "" when unknown
	Status  string // "BAD" or "NO"
	Code    string // response code without brackets, e.g. "TOOBIG"; "" for none
	Text    string // human-readable; safe to send (the Writer strips line breaks)
	Err     error  // the AppendSink's error when it caused the refusal
}

func (e *ParseError) Error() string {
	s := "imap: " + e.Status
	if e.Code != "" {
		s += " [" + e.Code + "]"
	}
	s += " " + e.Text
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ParseError) Unwrap() error { return e.Err }

// ErrHTTP is returned for an HTTP request line: something is speaking HTTP
// to the IMAP port, possibly a cross-protocol attack from a web page; the
// server closes the connection without answering.
var ErrHTTP = errors.New("imap: HTTP request on the IMAP port")

// ioFailure carries an I/O error of the connection through a panic to
// ReadCommand, which returns it as is.
type ioFailure struct{ err error }

// Reader reads client commands. It holds no session state besides the
// UTF8 mode; it is not safe for concurrent use.
type Reader struct {
	br   *bufio.Reader
	opts ReaderOptions

	catenate  func() (CatenateWriter, error) // see SetCatenate; nil: no CATENATE
	replacing *Command                       // see Replacing
	appending string                         // see Appending

	line []byte // the current line segment, without its line ending
	head []byte // the start of an over-long line, for its tag
	pos  int    // parse position in line

	// Per command.
	cont  func() error
	sink  func(size int64, binary bool) (io.Writer, error)
	held  int64 // bytes of lines and literals held
	items int   // list items, search keys, fetch items, messages
}

// NewReader returns a Reader of the commands in br.
func NewReader(br *bufio.Reader, opts ReaderOptions) *Reader {
	return &Reader{br: br, opts: opts.withDefaults()}
}

// SetUTF8 switches mailbox names between UTF-8 (after ENABLE UTF8=ACCEPT
// or IMAP4rev2) and modified UTF-7.
func (r *Reader) SetUTF8(on bool) { r.opts.UTF8 = on }

// ReadCommand reads and parses one command with its literals.
//
// cont is called before the octets of a synchronizing literal {n} are read:
// it writes "+ ..." and flushes. It is not called for the non-synchronizing
// literals {n+} of LITERAL+ (RFC 7888), which are accepted up to the same
// limits. sink is called when an APPEND message literal starts, before its
// continuation: it returns where to stream the size octets (binary for a
// literal8, RFC 3516), or an error to refuse the message. A nil cont does
// nothing; a nil sink discards messages.
//
// Errors: a *ParseError for a command to answer BAD or NO (the rest of the
// command has been consumed: after a refused synchronizing literal the
// client sends nothing more, after a non-synchronizing one its octets are
// skipped); ErrHTTP for an HTTP request; any other error is the
// connection's I/O error. When an error is returned after sink was called,
// the server discards what it handed out.
func (r *Reader) ReadCommand(cont func() error, sink func(size int64, binary bool) (io.Writer, error)) (cmd *Command, err error) {
	r.cont, r.sink, r.held, r.items = cont, sink, 0, 0
	cmd = &Command{}
	defer func() {
		if cap(r.line) > 16<<10 {
			r.line = nil // don't keep a big buffer on an idle connection
		}
		x := recover()
		if x == nil {
			return
		}
		switch f := x.(type) {
		case ioFailure:
			cmd, err = nil, f.err
		case *ParseError:
			if f.Tag == "" {
				f.Tag = cmd.Tag
			}
			f.Command = cmd.Name
			if derr := r.drain(); derr != nil {
				cmd, err = nil, derr
				return
			}
			cmd, err = nil, f
		default:
			panic(x)
		}
	}()
	tooLong, rerr := r.readSegment()
	if rerr != nil {
		return nil, rerr
	}
	if tooLong {
		tag := r.head
		if i := bytes.IndexByte(tag, ' '); i > 0 && validTag(tag[:i]) {
			cmd.Tag = string(tag[:i])
		}
		r.lineTooLong()
	}
	r.hold(int64(len(r.line)) + 2)
	if isHTTP(r.line) {
		return nil, ErrHTTP
	}
	r.parseCommand(cmd)
	return cmd, nil
}

// ReadIdleDone reads the line that ends IDLE (RFC 9051 §6.3.13) and checks
// that it is DONE, in any case. Anything else is a *ParseError (the
// server ends IDLE and answers BAD).
func (r *Reader) ReadIdleDone() error {
	tooLong, err := r.readSegment()
	if err != nil {
		return err
	}
	if tooLong || !strings.EqualFold(string(r.line), "DONE") {
		if err := r.drain(); err != nil {
			return err
		}
		return &ParseError{Command: "IDLE", Status: "BAD", Text: "expected DONE"}
	}
	return nil
}

// ReadSASLResponse reads one client response of AUTHENTICATE (RFC 9051
// §6.2.2): a line of base64, or "*" when the client cancels the exchange.
// An empty line is an empty response. A malformed line is a *ParseError.
func (r *Reader) ReadSASLResponse() (resp []byte, cancelled bool, err error) {
	tooLong, err := r.readSegment()
	if err != nil {
		return nil, false, err
	}
	if tooLong {
		return nil, false, &ParseError{Command: "AUTHENTICATE", Status: "BAD", Code: "TOOBIG", Text: "SASL response too long"}
	}
	if string(r.line) == "*" {
		return nil, true, nil
	}
	b, ok := decodeBase64(string(r.line))
	if !ok {
		return nil, false, &ParseError{Command: "AUTHENTICATE", Status: "BAD", Text: "invalid base64 in SASL response"}
	}
	return b, false, nil
}

// decodeBase64 decodes standard base64, with or without padding.
func decodeBase64(s string) ([]byte, bool) {
	enc := base64.StdEncoding
	if len(s)%4 != 0 && !strings.HasSuffix(s, "=") {
		enc = base64.RawStdEncoding
	}
	b, err := enc.DecodeString(s)
	return b, err == nil
}

const (
	headSize = 64 // bytes kept of the start of an over-long line
	tailSize = 32 // bytes kept of its end, to see a literal announced there
)

// readSegment reads one line into r.line without its line ending (CRLF,
// or a bare LF). A line longer than MaxLine is consumed to its end; then
// r.head holds its start, r.line its end, and tooLong is true.
func (r *Reader) readSegment() (tooLong bool, err error) {
	r.line, r.pos = r.line[:0], 0
	for {
		chunk, err := r.br.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			if err == io.EOF && (tooLong || len(r.line)+len(chunk) > 0) {
				err = io.ErrUnexpectedEOF
			}
			return tooLong, err
		}
		if !tooLong && len(r.line)+len(chunk) > r.opts.MaxLine+2 {
			tooLong = true
			r.head = append(r.head[:0], r.line[:min(len(r.line), headSize)]...)
			if len(r.head) < headSize {
				r.head = append(r.head, chunk[:min(len(chunk), headSize-len(r.head))]...)
			}
		}
		r.line = append(r.line, chunk...)
		if tooLong && len(r.line) > tailSize {
			r.line = r.line[:copy(r.line, r.line[len(r.line)-tailSize:])]
		}
		if err == nil {
			break
		}
	}
	r.line = r.line[:len(r.line)-1]
	if n := len(r.line); n > 0 && r.line[n-1] == '\r' {
		r.line = r.line[:n-1]
	}
	return tooLong, nil
}

// nextLine reads the line that continues the command after a literal.
func (r *Reader) nextLine() {
	tooLong, err := r.readSegment()
	if err != nil {
		panic(ioFailure{unexpectedEOF(err)})
	}
	if tooLong {
		r.lineTooLong()
	}
	r.hold(int64(len(r.line)) + 2)
}

func (r *Reader) lineTooLong() {
	panic(&ParseError{Status: "BAD", Code: "TOOBIG", Text: fmt.Sprintf("line too long (limit %d octets)", r.opts.MaxLine)})
}

// hold accounts for n more bytes held for the command.
func (r *Reader) hold(n int64) {
	r.held += n
	if r.held > r.opts.MaxCommand {
		panic(&ParseError{Status: "BAD", Code: "TOOBIG", Text: fmt.Sprintf("command too long (limit %d octets)", r.opts.MaxCommand)})
	}
}

// item accounts for one more item of the command.
func (r *Reader) item() {
	r.items++
	if r.items > r.opts.MaxArgs {
		r.bad(fmt.Sprintf("too many items in one command (limit %d)", r.opts.MaxArgs))
	}
}

// drain consumes the rest of a refused command: while the line read last
// announces a non-synchronizing literal, its octets are skipped (read and
// dropped, never stored) and the next line is read. A synchronizing
// literal ends the command: its client waits for a continuation that does
// not come.
func (r *Reader) drain() error {
	for {
		n, sync, ok := literalSuffix(r.line)
		if !ok || sync {
			return nil
		}
		if err := r.skip(n); err != nil {
			return err
		}
		if _, err := r.readSegment(); err != nil {
			return unexpectedEOF(err)
		}
	}
}

// skip reads and drops n octets.
func (r *Reader) skip(n int64) error {
	for n > 0 {
		k := int(min(n, 1<<30))
		d, err := r.br.Discard(k)
		n -= int64(d)
		if err != nil {
			return unexpectedEOF(err)
		}
	}
	return nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// literalSuffix reports whether line ends with a literal announcement
// "{n}" or "{n+}" (also ending a literal8 "~{n}"), and its size.
func literalSuffix(line []byte) (n int64, sync, ok bool) {
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false, false
	}
	return parseLiteralHeader(line[i:])
}

// parseLiteralHeader parses b as exactly "{n}" or "{n+}".
func parseLiteralHeader(b []byte) (n int64, sync, ok bool) {
	if len(b) < 3 || b[0] != '{' || b[len(b)-1] != '}' {
		return 0, false, false
	}
	digits := b[1 : len(b)-1]
	sync = true
	if digits[len(digits)-1] == '+' {
		digits, sync = digits[:len(digits)-1], false
	}
	n, ok = parseNumber(digits, maxNumber64)
	if !ok && len(digits) > 0 && !bytes.ContainsFunc(digits, func(c rune) bool { return c < '0' || c > '9' }) {
		// A size past number64 is still a literal, one too big for
		// every limit: refused as such, never wrapped around.
		return maxNumber64, sync, true
	}
	return n, sync, ok
}

// The largest values of number (32 bits) and number64 (63 bits) of RFC
// 9051 §9.
const (
	maxNumber   = 1<<32 - 1
	maxNumber64 = 1<<63 - 1
)

// parseNumber parses 1*DIGIT up to limit.
func parseNumber(b []byte, limit uint64) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (limit-d)/10 { // v*10+d > limit, tested without overflowing
			return 0, false
		}
		v = v*10 + d
	}
	return int64(v), true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// literalHeader parses the literal announcement at r.pos, which must end
// the line: "{n}" or "{n+}", and with allow8 also "~{n}" and "~{n+}"
// (literal8, RFC 3516; "+" per RFC 7888).
func (r *Reader) literalHeader(allow8 bool) (size int64, sync, binary bool) {
	if r.peek() == '~' {
		if !allow8 {
			r.syntax("literal8 (~{n}) not allowed here")
		}
		binary = true
		r.pos++
	}
	n, sync, ok := parseLiteralHeader(r.line[r.pos:])
	if !ok {
		r.syntax("invalid literal: expected {size}, {size+} and a line break")
	}
	r.pos = len(r.line)
	return n, sync, binary
}

// literal reads a literal that is not an APPEND message, held in memory.
func (r *Reader) literal() string {
	size, sync, _ := r.literalHeader(false)
	if size > r.opts.MaxLiteral || r.held+size > r.opts.MaxCommand {
		r.tooBig(sync, fmt.Sprintf("literal of %d octets too large (limit %d)", size, min(r.opts.MaxLiteral, r.opts.MaxCommand-r.held)))
	}
	if sync {
		r.continueLiteral()
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r.br, buf); err != nil {
		panic(ioFailure{unexpectedEOF(err)})
	}
	r.held += size
	r.nextLine()
	// RFC 9051 §9: a literal is CHAR8, which excludes NUL.
	if bytes.IndexByte(buf, 0) >= 0 {
		r.bad("NUL octet in literal")
	}
	return string(buf)
}

// appendLiteral reads an APPEND message literal, streaming its octets to
// the sink.
func (r *Reader) appendLiteral(m *AppendMessage, only8 bool) {
	size, sync, binary := r.literalHeader(true)
	if only8 && !binary {
		r.syntax("expected literal8 (~{n})")
	}
	if size > r.opts.MaxAppend {
		r.tooBig(sync, fmt.Sprintf("message of %d octets too large (APPENDLIMIT %d)", size, r.opts.MaxAppend))
	}
	var w io.Writer = io.Discard
	if r.sink != nil {
		var err error
		if w, err = r.sink(size, binary); err != nil {
			r.sinkFailed(err)
		}
	}
	r.streamLiteral(w, size, sync, binary)
	m.Size, m.Binary, m.Sink = size, binary, w
}

// streamLiteral answers a synchronizing literal, streams its size octets
// to w and reads the line that follows: an APPEND message or a CATENATE
// TEXT part (RFC 4469).
func (r *Reader) streamLiteral(w io.Writer, size int64, sync, binary bool) {
	if sync {
		r.continueLiteral()
	}
	// Stream from bufio's buffer: no copy, nothing held.
	var werr error
	nul := false
	for rest := size; rest > 0; {
		if r.br.Buffered() == 0 {
			if _, err := r.br.Peek(1); err != nil {
				panic(ioFailure{unexpectedEOF(err)})
			}
		}
		chunk, _ := r.br.Peek(int(min(int64(r.br.Buffered()), rest)))
		if !binary && !nul {
			nul = bytes.IndexByte(chunk, 0) >= 0
		}
		if werr == nil {
			_, werr = w.Write(chunk)
		}
		if _, err := r.br.Discard(len(chunk)); err != nil {
			panic(ioFailure{err})
		}
		rest -= int64(len(chunk))
	}
	r.nextLine()
	if werr != nil {
		r.sinkFailed(werr)
	}
	if nul {
		// RFC 3516: NUL is only allowed in a literal8.
		r.bad("NUL octet in message: use a literal8 (~{n}, BINARY)")
	}
}

func (r *Reader) continueLiteral() {
	if r.cont == nil {
		return
	}
	if err := r.cont(); err != nil {
		panic(ioFailure{err})
	}
}

// tooBig refuses a literal over its limit: NO [TOOBIG] for a synchronizing
// literal (its octets never come), BAD [TOOBIG] for a non-synchronizing
// one (RFC 7888; its octets are skipped).
func (r *Reader) tooBig(sync bool, text string) {
	status := "BAD"
	if sync {
		status = "NO"
	}
	panic(&ParseError{Status: status, Code: "TOOBIG", Text: text})
}

// sinkFailed refuses the command with the AppendSink's error: NO, or the
// status, code and text of a *ParseError.
func (r *Reader) sinkFailed(err error) {
	pe := &ParseError{Status: "NO", Text: "message not accepted", Err: err}
	var e *ParseError
	if errors.As(err, &e) {
		pe.Status, pe.Code, pe.Text = e.Status, e.Code, e.Text
	}
	panic(pe)
}

// bad refuses the command with BAD and text.
func (r *Reader) bad(text string) {
	panic(&ParseError{Status: "BAD", Text: text})
}

// syntax refuses the command with BAD, saying what was expected and what
// came instead.
func (r *Reader) syntax(expected string) {
	if r.pos >= len(r.line) {
		r.bad(expected + " at end of line")
	}
	near := r.line[r.pos:]
	if len(near) > 20 {
		near = near[:20]
	}
	r.bad(fmt.Sprintf("%s near %q", expected, near))
}

var httpMethods = []string{"GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "CONNECT ", "OPTIONS ", "TRACE ", "PATCH "}

// isHTTP reports whether line is an HTTP/1 request line.
func isHTTP(line []byte) bool {
	for _, m := range httpMethods {
		if bytes.HasPrefix(line, []byte(m)) {
			return bytes.Contains(line, []byte(" HTTP/"))
		}
	}
	return false
}
