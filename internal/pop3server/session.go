package pop3server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"postel/internal/auth"
	"postel/internal/metrics"
	"postel/internal/netserve"
	"postel/internal/trace"
)

// session is one client connection, from greeting to QUIT.
//
// Invariants:
//   - state follows RFC 1939 §3: AUTHORIZATION -> TRANSACTION (login) ->
//     UPDATE (QUIT); drop and acct are set exactly from TRANSACTION on, and
//     the session then holds acct's maildrop lock until it ends.
//   - Only the session's goroutine reads and writes the connection.
//   - Every reply is flushed before the session waits for a command line
//     that is not already buffered (RFC 2449 §6.6 PIPELINING: replies to
//     pipelined commands may be sent together).
type session struct {
	srv         *Server
	conn        *netserve.Conn
	id          string
	log         *slog.Logger
	remote      netip.Addr
	started     time.Time
	implicitTLS bool

	nc  net.Conn              // conn, or TLS over it
	tls bool                  // TLS is active
	br  *bufio.Reader         // command lines
	cw  *netserve.CountWriter // under bw: counts the octets written
	bw  *bufio.Writer         // replies

	state  state
	user   string        // name given by USER, waiting for PASS
	acct   auth.Identity // who logged in
	drop   *maildrop
	errors int // refused commands that count (reply.count)
	// toldInterrupt: the last reply was errShutdown, errEvicted or the
	// revoked one, which needs no repeat.
	toldInterrupt bool
	loggedDrop    bool   // the eviction was logged
	buf           []byte // for reading messages, allocated on first use
	// revoked is the reply ending the session when its account was
	// deleted or disabled; stopWatch ends the watch of the account
	// (accountwatch.go).
	revoked   atomic.Pointer[reply]
	stopWatch func()
	release   func() // gives the maildrop lock back; nil until it is taken

	trace *trace.Session // nil when no trace may want the session
}

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
		trace:       srv.cfg.Trace.Start(metrics.ServicePOP3, id, remote, newPOP3Redactor),
	}
}

// ctx is the context of the session's store calls and handshakes.
func (s *session) ctx() context.Context { return s.srv.ctx }

// serve runs the session until QUIT, an I/O error, a timeout or shutdown.
func (s *session) serve() {
	defer s.end()
	s.nc = s.conn
	if s.implicitTLS {
		if err := s.handshake(); err != nil {
			if s.dropped() {
				return
			}
			s.log.Info("TLS handshake failed", "err", err)
			return
		}
	}
	s.setupIO()
	// RFC 1939 §4 greeting; no APOP timestamp, since APOP is not offered.
	s.ok(s.srv.cfg.Hostname + " Postel POP3 server ready")
	if s.bw.Flush() != nil {
		return
	}
	for {
		if s.conn.ReadBy(s.readDeadline()) {
			s.interrupted()
			return
		}
		s.trace.Sync(s.br.Buffered())
		line, err := s.readLine(maxCommandLine)
		if err != nil {
			s.readFailed(err)
			return
		}
		if !s.run(line) {
			return
		}
		if s.conn.Closing() {
			s.interrupted()
			return
		}
	}
}

// end releases what the session holds: the maildrop lock first, so that
// the client may log in again as soon as it sees the connection close.
func (s *session) end() {
	if s.stopWatch != nil {
		s.stopWatch()
	}
	if s.release != nil {
		s.release()
	}
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

// setupIO builds the reader of commands and the writer of replies on s.nc,
// for the plain connection and again after STLS. The protocol trace sees
// what goes through them, above TLS; its streams start again here (STLS
// drops what the old reader held).
func (s *session) setupIO() {
	s.trace.Restart(0)
	s.br = bufio.NewReaderSize(s.trace.Reader(s.nc), maxSASLLine)
	s.cw = &netserve.CountWriter{W: s.trace.Writer(s.nc)}
	s.bw = bufio.NewWriterSize(s.cw, 32<<10)
}

// written is how many octets of replies were produced so far.
func (s *session) written() int64 { return s.cw.N + int64(s.bw.Buffered()) }

// readDeadline is when the next command must have arrived: RFC 1939 §3's
// autologout timer, and before login the time left to log in.
func (s *session) readDeadline() time.Time {
	return netserve.ReadDeadline(s.started, s.state != stateAuthorization, s.srv.cfg.IdleTimeout, s.srv.admission.Limits().UnauthTimeout)
}

// readLine reads a line of at most max octets with its line end (CRLF, or
// a bare LF from a sloppy client) and returns it without the line end. A
// longer line gives errLineTooLong, with the rest of it unread.
func (s *session) readLine(max int) (string, error) {
	line, err := s.br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull) || len(line) > max:
		return "", errLineTooLong
	case err != nil:
		return "", err
	}
	line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
	return string(line), nil
}

// readFailed ends the session after a failed read of a command line.
func (s *session) readFailed(err error) {
	var ne net.Error
	switch {
	case err == errLineTooLong:
		s.log.Info("command line too long; closing")
		s.send(errLineTooLong.line())
		s.bw.Flush()
		s.drain()
	case s.conn.Closing() || s.conn.Evicted():
		s.interrupted()
	case errors.As(err, &ne) && ne.Timeout():
		// RFC 1939 §3: when the autologout timer expires, the server
		// closes the connection without a response and without
		// entering the UPDATE state.
		limit := "idle_timeout"
		if s.state == stateAuthorization {
			limit = "unauth_timeout"
		}
		s.log.Info("session timed out", "state", s.state, "limit", limit, "remote", s.remote.String())
	case errors.Is(err, io.EOF):
		s.log.Debug("connection closed by the client")
	default:
		s.log.Info("read failed", "err", err)
	}
}

// drain ends the session's output and reads and drops what the client
// still sends, for at most a second and 64 KiB, before the connection
// closes: closing with unread input resets the connection (RFC 1122
// §4.2.2.13), which can make the client lose the last reply.
func (s *session) drain() {
	if cw, ok := s.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	s.conn.ReadBy(time.Now().Add(time.Second))
	io.Copy(io.Discard, io.LimitReader(s.br, 64<<10))
}

// interrupted tells a client waiting between commands that the server
// ends the session: it is shutting down, the account was deleted or
// disabled, or the Admission evicted the connection to make room for a
// new one (netserve.Limits.MaxUnauth).
func (s *session) interrupted() {
	r := s.interruption()
	switch {
	case s.dropped():
	case r == errShutdown:
		s.log.Info("closing for shutdown")
	default:
		s.log.Info("session ended by the operator", "reason", r.text)
	}
	if !s.toldInterrupt {
		s.send(r.line())
	}
	s.bw.Flush()
}

// interruption is the reply ending an interrupted session.
func (s *session) interruption() *reply {
	if s.conn.Evicted() && !s.conn.Closing() {
		return errEvicted
	}
	if r := s.revoked.Load(); r != nil {
		return r
	}
	return errShutdown
}

// dropped logs, once, that the connection was evicted, and reports whether
// it was.
func (s *session) dropped() bool {
	if !s.conn.Evicted() || s.conn.Closing() {
		return false
	}
	if !s.loggedDrop {
		s.loggedDrop = true
		s.log.Info("connection dropped", "limit", netserve.LimitEvicted, "remote", s.remote.String(),
			"reason", "oldest idle unauthenticated connection, evicted for a new one")
	}
	return true
}

// send writes one line of a reply; errors surface at the flush.
func (s *session) send(line string) {
	s.bw.WriteString(line)
	s.bw.WriteString("\r\n")
}

// ok writes a positive reply (RFC 1939 §3).
func (s *session) ok(text string) {
	if text == "" {
		s.send("+OK")
		return
	}
	s.send("+OK " + text)
}

// flush sends the buffered replies unless another complete command is
// already waiting (pipelining, RFC 2449 §6.6): its reply will go with them.
func (s *session) flush() error {
	if n := s.br.Buffered(); n > 0 {
		if buffered, _ := s.br.Peek(n); bytes.IndexByte(buffered, '\n') >= 0 {
			return nil
		}
	}
	return s.bw.Flush()
}

// run runs one command line and writes its reply; false ends the session.
func (s *session) run(line string) bool {
	start := time.Now()
	keyword, args, err := parseCommand(line)
	if err == nil {
		if httpMethods[keyword] {
			s.log.Info("HTTP request on the POP3 port; closing")
			// Without a word of its own, but with the replies to the
			// commands pipelined before it, which are still buffered.
			s.bw.Flush()
			return false
		}
		c, known := commands[keyword]
		switch {
		case !known:
			err = errUnknown
		case !c.states.Has(int(s.state)):
			err = errState
		default:
			err = s.call(c, keyword, args)
		}
	}
	var ab netserve.ErrAbort
	switch {
	case err == errQuit:
		s.bw.Flush()
		return false
	case errors.As(err, &ab):
		// The client went away or TLS failed; server faults were logged
		// as errors where they happened.
		if !s.dropped() {
			s.log.Info("session aborted", "command", keyword, "err", ab.Err)
		}
		return false
	case err != nil:
		r := s.toReply(keyword, err)
		s.send(r.line())
		s.toldInterrupt = r == errShutdown || r == errEvicted || r == s.revoked.Load()
		s.log.Debug("command", "command", keyword, "reply", r.line(), "duration", time.Since(start).Round(time.Microsecond))
		if r.close {
			s.bw.Flush()
			s.drain()
			return false
		}
		if r.count && !s.countError() {
			s.log.Info("too many errors; closing")
			s.bw.Flush()
			return false
		}
	default:
		s.log.Debug("command", "command", keyword, "reply", "+OK", "duration", time.Since(start).Round(time.Microsecond))
	}
	if ferr := s.flush(); ferr != nil {
		s.log.Debug("write failed", "err", ferr)
		return false
	}
	return true
}

// call runs a command's handler, turning a panic into a server fault. When
// the panic came after the handler wrote part of a reply, the reply stream
// is broken and the session ends.
func (s *session) call(c command, keyword, args string) error {
	return netserve.RunCommand(s.log, keyword, s.written, func() error { return c.run(s, args) })
}

// toReply turns a handler's error into its -ERR reply; server faults are
// logged and answered with errInternal.
func (s *session) toReply(keyword string, err error) *reply {
	var r *reply
	switch {
	case errors.As(err, &r):
		return r
	case s.ctx().Err() != nil:
		return errShutdown
	}
	s.log.Error("command failed", "command", keyword, "err", err)
	return errInternal
}

// countError counts a refusal of the client's making; false when it was
// one too many.
func (s *session) countError() bool {
	s.errors++
	return s.errors < s.srv.cfg.MaxCommandErrors
}
