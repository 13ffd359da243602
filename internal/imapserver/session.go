package imapserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"postel/internal/auth"
	"postel/internal/imap"
	"postel/internal/metrics"
	"postel/internal/netserve"
	"postel/internal/store"
	"postel/internal/trace"
)

// session is one client connection, from greeting to logout.
//
// Invariants:
//   - state follows RFC 9051 §3: not authenticated -> authenticated <->
//     selected -> logout; sel is non-nil exactly in stateSelected.
//   - Only the session's goroutine reads commands and writes responses,
//     except during IDLE, when one helper goroutine reads the DONE line
//     while the session's goroutine writes.
//   - Untagged updates about the selected mailbox (EXISTS, EXPUNGE or
//     VANISHED, FETCH FLAGS) are written only while a command runs or
//     during IDLE, and EXPUNGE/VANISHED never during FETCH, STORE, SEARCH,
//     SORT or THREAD in their sequence-number forms (RFC 9051 §7.5.1).
//   - After every command the output is flushed (through the compressor
//     when COMPRESS is active), so a client waiting on a response gets it.
//   - rev2, utf8, condstore, qresync and uidonly only ever turn on.
type session struct {
	srv         *Server
	conn        *netserve.Conn
	id          string
	log         *slog.Logger
	remote      netip.Addr
	started     time.Time
	implicitTLS bool

	nc  net.Conn      // conn, or TLS over it
	tls bool          // TLS is active
	br  *bufio.Reader // commands, decompressed when COMPRESS is active
	cw  *countWriter  // under bw: counts the octets written
	bw  *bufio.Writer // responses, into the compressor when active
	r   *imap.Reader
	w   *imap.Writer
	z   *compressor // COMPRESS=DEFLATE, nil when off

	state  state
	user   auth.Identity
	errors int // BAD responses and failed logins so far

	// Modes turned on by ENABLE (RFC 5161) or implied.
	rev2      bool // IMAP4rev2 (RFC 9051)
	utf8      bool // UTF8=ACCEPT (RFC 6855) or IMAP4rev2
	condstore bool // CONDSTORE (RFC 7162 §3.1)
	qresync   bool // QRESYNC (RFC 7162 §3.2)
	uidonly   bool // UIDONLY (RFC 9586, uidonly.go)

	sel    *mailboxView // the selected mailbox
	prog   *progress    // the running command's INPROGRESS reports (inprogress.go), nil when none
	notify *notifyState // NOTIFY (RFC 5465), nil until the client sets it
	// keyOwner's address: the last other owner whose OBJECTID key was read
	// (objectid.go keyAccount).
	keyOwner int64
	keyAddr  string

	// APPEND messages being received for the command being read.
	spools      []store.Spool
	appendBytes int64

	stop     chan struct{} // closed by interrupt
	stopOnce sync.Once
	// revoked is the BYE text when the account was deleted or disabled
	// (revoke); stopWatch ends the watch of the account (accountwatch.go).
	revoked   atomic.Pointer[string]
	stopWatch func()

	trace *trace.Session // nil when no trace may want the session
}

// state is a session state of RFC 9051 §3.
type state int

const (
	stateNotAuth state = iota
	stateAuth
	stateSelected
	stateLogout
)

func newSession(srv *Server, c *netserve.Conn, id string, remote netip.Addr, implicitTLS bool) *session {
	c.WriteTimeout = srv.writeTimeout
	return &session{
		srv:         srv,
		conn:        c,
		id:          id,
		log:         srv.log.With("conn", id),
		remote:      remote,
		started:     time.Now(),
		implicitTLS: implicitTLS,
		stop:        make(chan struct{}),
		trace:       srv.cfg.Trace.Start(metrics.ServiceIMAP, id, remote, newIMAPRedactor),
	}
}

// interrupt asks the session to end for Shutdown: a read it waits on fails
// at once, IDLE ends, and the session says BYE.
func (s *session) interrupt() {
	s.stopOnce.Do(func() { close(s.stop) })
	s.conn.Interrupt()
}

// ctx is the context of the session's store calls.
func (s *session) ctx() context.Context { return s.srv.ctx }

// serve runs the session until logout, an I/O error or shutdown.
func (s *session) serve() {
	defer s.end()
	defer func() {
		// Commands recover their own panics; this is the last line, so
		// that no bug elsewhere in a session takes the server down.
		if x := recover(); x != nil {
			s.log.Error("panic in session", "panic", fmt.Sprint(x), "stack", string(debug.Stack()))
		}
	}()
	s.nc = s.conn
	if s.implicitTLS {
		if err := s.handshake(); err != nil {
			if !s.dropped() {
				s.log.Info("TLS handshake failed", "err", err)
			}
			return
		}
	}
	s.setupIO(s.nc, s.nc)
	s.w.StatusResponse("", "OK", "CAPABILITY "+s.capabilities(), s.srv.cfg.Hostname+" Postel IMAP server ready")
	if s.flush() != nil {
		return
	}
	for s.state != stateLogout {
		if s.conn.ReadBy(s.readDeadline()) {
			s.interrupted()
			return
		}
		if !s.waitCommand() {
			return
		}
		s.trace.Sync(s.br.Buffered())
		cmd, err := s.r.ReadCommand(s.continueLiteral, s.appendSink)
		if err != nil {
			s.discardSpools()
			if !s.readFailed(err) {
				return
			}
			continue
		}
		if !s.run(cmd) {
			return
		}
		if s.conn.Closing() {
			s.bye(s.goodbye())
			return
		}
	}
}

// end releases what the session holds.
func (s *session) end() {
	if s.stopWatch != nil {
		s.stopWatch()
	}
	s.discardSpools()
	if s.sel != nil {
		s.sel.close()
	}
	s.stopNotify()
	s.conn.Close()
	s.trace.End()
	s.log.Info("connection closed", "duration", time.Since(s.started).Round(time.Millisecond))
}

// handshake runs the TLS handshake over s.nc, bounded by Limits.UnauthTimeout.
func (s *session) handshake() error {
	tc, err := netserve.Handshake(s.ctx(), s.conn, s.nc, s.srv.tls, s.srv.admission.Limits().UnauthTimeout)
	if err != nil {
		return err
	}
	s.nc, s.tls = tc, true
	return nil
}

// setupIO builds the reader and writer of commands and responses on r and
// w, for the plain connection, after STARTTLS and after COMPRESS. The
// protocol trace sees what goes through them, above TLS and compression;
// its streams start again here (the old reader holds nothing: STARTTLS
// discards it), and what still goes through the old reader (COMPRESS
// reads the compressed octets through it) is no longer traced.
func (s *session) setupIO(r io.Reader, w io.Writer) {
	s.trace.Restart(0)
	s.br = bufio.NewReaderSize(s.trace.Reader(r), 4096)
	s.cw = &countWriter{netserve.CountWriter{W: s.trace.Writer(w)}}
	s.bw = bufio.NewWriterSize(s.cw, 4<<10)
	s.r = imap.NewReader(s.br, imap.ReaderOptions{Grammar: grammar, MaxAppend: s.srv.cfg.AppendLimit, UTF8: s.utf8})
	s.r.SetCatenate(s.newCatenate) // RFC 4469 (catenate.go)
	s.w = imap.NewWriter(s.bw)
	s.w.SetUTF8(s.utf8)
}

// countWriter counts what goes through it.
type countWriter struct{ netserve.CountWriter }

// copyBuffers are the buffers large literals are written through.
var copyBuffers = sync.Pool{New: func() any { return new([64 << 10]byte) }}

// ReadFrom lets the session's small bufio.Writer hand large literals
// (FETCH BODY[]) over in 64 KiB writes from a shared buffer, so that an
// idle session holds only a 4 KiB write buffer.
func (c *countWriter) ReadFrom(r io.Reader) (int64, error) {
	buf := copyBuffers.Get().(*[64 << 10]byte)
	defer copyBuffers.Put(buf)
	return io.CopyBuffer(struct{ io.Writer }{c}, r, buf[:])
}

// written is how many octets of responses were produced so far.
func (s *session) written() int64 { return s.cw.N + int64(s.bw.Buffered()) }

// flush sends what is buffered, through the compressor when active.
func (s *session) flush() error {
	if err := s.bw.Flush(); err != nil {
		return err
	}
	if s.z != nil {
		return s.z.flush()
	}
	return nil
}

// readDeadline is when the next command must have arrived: RFC 9051 §5.4's
// autologout timer, and before login the time left to log in.
func (s *session) readDeadline() time.Time {
	return netserve.ReadDeadline(s.started, s.state != stateNotAuth, s.srv.cfg.IdleTimeout, s.srv.admission.Limits().UnauthTimeout)
}

// bye writes an untagged BYE (RFC 9051 §7.1.5) and flushes; the session
// ends after it.
func (s *session) bye(text string) {
	s.w.StatusResponse("", "BYE", "", text)
	s.flush()
}

// interrupted says goodbye to a session the server ends while it waits
// for input: at shutdown, when its account was deleted or disabled, or
// evicted by the Admission to make room for a new connection
// (netserve.Limits.MaxUnauth).
func (s *session) interrupted() {
	if s.dropped() {
		s.bye("Too many connections, closing this idle one")
		return
	}
	if t := s.revoked.Load(); t != nil {
		s.log.Info("session ended by the operator", "reason", *t)
	}
	s.bye(s.goodbye())
}

// dropped reports whether the Admission evicted the connection (and the
// server is not shutting down), and then logs it, naming the limit.
func (s *session) dropped() bool {
	if !s.conn.Evicted() || s.conn.Closing() {
		return false
	}
	s.log.Info("connection dropped", "limit", netserve.LimitEvicted, "remote", s.remote.String(),
		"reason", "oldest idle unauthenticated connection, evicted for a new one")
	return true
}

// readFailed handles an error of ReadCommand and reports whether the
// session goes on.
func (s *session) readFailed(err error) bool {
	var pe *imap.ParseError
	var ne net.Error
	switch {
	case errors.As(err, &pe):
		s.log.Debug("command refused by the parser", "tag", pe.Tag, "command", pe.Command, "status", pe.Status, "text", pe.Text)
		if pe.Status == "BAD" && !s.countError() {
			s.w.StatusResponse(pe.Tag, pe.Status, pe.Code, pe.Text)
			s.bye("Too many errors")
			return false
		}
		s.w.StatusResponse(pe.Tag, pe.Status, pe.Code, pe.Text)
		return s.flush() == nil
	case errors.Is(err, imap.ErrHTTP):
		s.log.Info("HTTP request on the IMAP port; closing")
		return false
	case s.conn.Closing() || s.conn.Evicted():
		s.interrupted()
	case errors.As(err, &ne) && ne.Timeout():
		if s.state == stateNotAuth {
			s.bye("Login timeout")
			s.log.Info("session timed out", "limit", "unauth_timeout", "remote", s.remote.String())
		} else {
			s.bye("Autologout; idle for too long")
			s.log.Info("session timed out", "limit", "idle_timeout", "remote", s.remote.String())
		}
	case errors.Is(err, io.EOF):
		s.log.Debug("connection closed by the client")
	default:
		s.log.Info("read failed", "err", err)
	}
	return false
}

// countError counts a BAD response; false when it was one too many.
func (s *session) countError() bool {
	s.errors++
	return s.errors < s.srv.cfg.MaxCommandErrors
}

// continueLiteral answers a synchronizing literal (RFC 9051 §7.5).
func (s *session) continueLiteral() error {
	s.w.Continuation("Ready for literal data")
	return s.flush()
}

// abort ends the session without a tagged response: the response stream
// was cut (a literal came out short), so the client could not parse what
// follows.
func abort(err error) error { return netserve.ErrAbort{Err: err} }

// errResponded is returned by handlers that wrote their tagged response
// themselves, before changing the connection's layers (STARTTLS, COMPRESS).
var errResponded = errors.New("tagged response already written")

// run runs one command and writes its tagged response; false ends the
// session.
func (s *session) run(cmd *imap.Command) bool {
	start := time.Now()
	c, known := commands[cmd.Name]
	var err error
	switch {
	case !known:
		err = bad("Unknown command")
	case !c.states.Has(int(s.state)):
		err = badState
		if s.state == stateAuth && c.states == inSelected {
			err = badNoMailbox
		}
	default:
		err = s.call(c, cmd)
	}
	s.discardSpools()
	if err == errBye {
		return false
	}
	var ab netserve.ErrAbort
	if errors.As(err, &ab) {
		s.log.Error("command aborted", "command", cmd.Name, "err", ab.Err)
		return false
	}
	if s.sel != nil && s.sel.gone {
		s.bye(s.selectedGone())
		return false
	}
	if err == errResponded {
		s.log.Debug("command", "tag", cmd.Tag, "command", cmd.Name, "status", "OK", "duration", time.Since(start).Round(time.Microsecond))
		return s.flush() == nil
	}
	r := s.toResponse(cmd, err)
	// Failed logins count as errors too: a connection cannot try
	// passwords forever (the throttle in auth slows it meanwhile).
	if (r.Status == "BAD" || r.Code == codeAuthFailed) && !s.countError() {
		s.w.StatusResponse(cmd.Tag, r.Status, r.Code, r.Text)
		s.bye("Too many errors")
		return false
	}
	s.w.StatusResponse(cmd.Tag, r.Status, r.Code, r.Text)
	s.log.Debug("command", "tag", cmd.Tag, "command", cmd.Name, "uid", cmd.UID, "status", r.Status, "code", r.Code,
		"duration", time.Since(start).Round(time.Microsecond))
	if ferr := s.flush(); ferr != nil {
		s.log.Debug("write failed", "err", ferr)
		return false
	}
	return true
}

// call runs a command's handler, then sends the updates of the selected
// mailbox the client may be told of now, turning a panic into a server
// fault. When the panic came after part of a response was written, the
// response stream is broken and the session ends.
func (s *session) call(c command, cmd *imap.Command) error {
	err := netserve.RunCommand(s.log, cmd.Name, s.written, func() error {
		if err := s.objectIDsOff(cmd); err != nil {
			return err
		}
		if err := s.uidRequired(c, cmd); err != nil {
			return err
		}
		// The rights on the selected mailbox (shared.go).
		if err := s.checkSelected(cmd); err != nil {
			return err
		}
		return c.run(s, cmd)
	})
	if s.sel == nil || err == errBye || err == errResponded || errors.As(err, new(netserve.ErrAbort)) {
		return err
	}
	// RFC 9051 §7.5.1: no EXPUNGE during FETCH, STORE and SEARCH (nor
	// SORT and THREAD, which number messages like SEARCH).
	if uerr := s.update(!c.seqNumbers || cmd.UID); uerr != nil && err == nil {
		err = uerr
	}
	return err
}

// toResponse turns a handler's result into its tagged response; server
// faults are logged and answered with a generic NO.
func (s *session) toResponse(cmd *imap.Command, err error) *response {
	var r *response
	switch {
	case err == nil:
		return &response{Status: "OK", Text: cmd.Name + " completed"}
	case errors.As(err, &r):
		if r.Text == "" {
			r = &response{Status: r.Status, Code: r.Code, Text: cmd.Name + " completed"}
		}
		return r
	case errors.Is(err, context.Canceled):
		return no(codeUnavailable, "Server shutting down")
	case isDiskFull(err):
		s.log.Error("command failed: disk full", "command", cmd.Name, "err", err)
		return noDiskFull
	case errors.Is(err, store.ErrUnavailable):
		// RFC 5530 §3: UNAVAILABLE, a temporary failure of a subsystem.
		s.log.Warn("command failed: store unavailable", "command", cmd.Name, "err", err)
		return noStoreDown
	}
	s.log.Error("command failed", "command", cmd.Name, "err", err)
	return noInternal
}
