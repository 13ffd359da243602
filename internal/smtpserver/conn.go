package smtpserver

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"postel/internal/msgauth"
	"postel/internal/netserve"
	"postel/internal/trace"
)

// maxRefusing bounds the goroutines writing "421" to refused connections;
// beyond it refused connections are closed without a word.
const maxRefusing = 64

// refuseTimeout bounds writing a refusal or a shutdown notice.
const refuseTimeout = 5 * time.Second

// listener enforces the connection limits and tracks every connection it
// hands to go-smtp.
type listener struct {
	net.Listener
	srv *Server
}

// Accept returns the next admitted connection. Connections over a limit are
// greeted with 421 and closed (RFC 5321 §3.1 allows a 421 greeting). After
// Shutdown it closes the listener, so that Serve returns even when it
// started after Shutdown.
func (l *listener) Accept() (net.Conn, error) {
	for {
		if l.srv.isClosing() {
			l.Listener.Close()
			return nil, net.ErrClosed
		}
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if c := l.srv.admit(nc); c != nil {
			return c, nil
		}
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// admit registers nc, or refuses it and returns nil. A *tls.Conn (implicit
// TLS) is unwrapped and wrapped again over the tracked connection, so that
// go-smtp still sees a *tls.Conn.
func (s *Server) admit(nc net.Conn) net.Conn {
	raw, implicitTLS := nc, false
	if tc, ok := nc.(*tls.Conn); ok {
		raw, implicitTLS = tc.NetConn(), true
	}
	ip := netserve.RemoteIP(raw.RemoteAddr())
	id := netserve.NewID()
	c := &conn{Conn: raw, srv: s, id: id, remote: ip, log: s.log.With("conn", id), unauth: true, unauthSince: time.Now()}

	s.mu.Lock()
	var refusal, limit string
	switch {
	case s.closing:
		refusal, limit = "421 4.3.2 Service shutting down, try again later", "shutdown"
	default:
		t, r := s.admission.Admit(ip, c.evict)
		if r != netserve.Admitted {
			refusal, limit = "421 4.7.0 "+r.Text(), r.String()
		}
		c.ticket = t
	}
	if refusal != "" {
		s.mu.Unlock()
		s.log.Info("connection refused", "conn", id, "remote", ip.String(), "limit", limit, "reason", refusal[10:])
		s.refuse(nc, refusal)
		return nil
	}
	if implicitTLS && s.tls == nil {
		s.mu.Unlock()
		c.ticket.Release()
		s.log.Error("TLS listener but no TLS configuration", "conn", id, "remote", ip.String())
		nc.Close()
		return nil
	}
	if s.mode == ModeMX && !implicitTLS && s.admission.Limits().GreetDelay > 0 && !s.admission.Limits().RateExempt(ip) {
		c.greetDelay = s.admission.Limits().GreetDelay
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()

	var out net.Conn = c
	if implicitTLS {
		// The handshake is still to come: top stays unknown until the
		// session starts (NewSession), so that Shutdown never waits on it.
		out = tls.Server(c, s.tls)
	} else {
		c.setTop(c)
	}
	c.log.Info("connection accepted", "remote", raw.RemoteAddr().String(), "local", raw.LocalAddr().String(), "tls", implicitTLS)
	if s.mode == ModeMX {
		c.trace = s.cfg.Trace.StartNoLogin(s.mode.service(), id, ip, newSMTPRedactor)
	} else {
		c.trace = s.cfg.Trace.Start(s.mode.service(), id, ip, newSMTPRedactor)
	}
	return out
}

// refuse writes text to nc and closes it, without blocking the accept loop.
func (s *Server) refuse(nc net.Conn, text string) {
	s.mu.Lock()
	busy := s.refusing >= maxRefusing
	if !busy {
		s.refusing++
	}
	s.mu.Unlock()
	if busy {
		nc.Close()
		return
	}
	go func() {
		defer func() {
			s.mu.Lock()
			s.refusing--
			s.mu.Unlock()
		}()
		nc.SetDeadline(time.Now().Add(refuseTimeout))
		io.WriteString(nc, text+"\r\n")
		nc.Close()
	}()
}

// release forgets a closed connection.
func (s *Server) release(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.ticket.Release()
}

// conn is the TCP connection of one client, below any TLS layer. It counts
// the client's errors, implements closing after a final reply, and holds
// the connection's deadlines and its place in the Admission.
//
// Deadlines: go-smtp sets a read deadline before each command line
// (ReadTimeout); SetReadDeadline brings it closer while the connection is
// unauthenticated (Limits.UnauthTimeout from unauthSince) and during the
// message data (dataBy, the whole transfer). When a deadline passes in the
// middle of a command line, bufio hands go-smtp what came of the line as if
// it were whole; Read closes the connection (with 421) before any more is
// read, so a line can never be spread over several deadlines.
type conn struct {
	net.Conn
	srv    *Server
	id     string
	remote netip.Addr
	log    *slog.Logger
	ticket *netserve.Ticket
	trace  *trace.Session // nil when no trace may want it

	errors          atomic.Int32 // refused commands so far
	closeAfterWrite atomic.Bool  // close once the next reply is written
	closeOnce       sync.Once
	closed          atomic.Bool   // Close was called: commands still parsed do nothing
	msgs            atomic.Int32  // messages delivered, for ids
	greetDelay      time.Duration // port 25's early-talker wait, before the first write
	greeted         atomic.Bool   // the first write (the greeting) happened

	mu          sync.Mutex
	top         net.Conn        // what go-smtp reads and writes (TLS above c); nil while unknown
	inTx        bool            // after MAIL, until the transaction's reply is sent
	draining    bool            // Shutdown asked to close when idle
	client      *msgauth.Client // the client checks, once run (MX)
	unauth      bool            // in the unauthenticated budget (not logged in; MX: not in a transaction)
	unauthSince time.Time       // when it entered the budget
	dataBy      time.Time       // the deadline of the message data being received; zero outside
	bdat        bool            // the data comes in BDAT chunks, which go-smtp reads apart from Data
	evicted     bool            // the Admission dropped the connection for a newer one
	traceBR     *bufio.Reader   // go-smtp's reader, whose buffered input the trace waits out
}

// sayTimeout bounds the writing of a last reply outside go-smtp (timeouts,
// eviction, early talkers).
const sayTimeout = time.Second

// Read reads from the client, telling the Admission whether the session is
// busy with input (netserve.Ticket.Busy). A read that times out ends the
// connection (readTimedOut).
func (c *conn) Read(p []byte) (int, error) {
	c.ticket.Busy(false)
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.ticket.Busy(true)
		c.ticket.CountIO(n, 0)
	}
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		c.readTimedOut()
	}
	return n, err
}

// Write writes a reply; if closeAfterWrite is set, it then closes the
// connection (the reply was the last word, as with 421). The first write
// is the greeting: on port 25 it waits for the early-talker check.
func (c *conn) Write(p []byte) (int, error) {
	if !c.greeted.Swap(true) && c.greetDelay > 0 && !c.checkEarlyTalker() {
		return 0, net.ErrClosed
	}
	n, err := c.Conn.Write(p)
	c.ticket.CountIO(0, n)
	if c.closeAfterWrite.Load() {
		c.Close()
	}
	return n, err
}

// SetReadDeadline sets the deadline go-smtp asks for, or an earlier one
// (see conn).
func (c *conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.SetReadDeadline(c.readDeadline(t))
}

func (c *conn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.Conn.SetWriteDeadline(t)
}

// readDeadline is t, or the earlier deadline that applies; c.mu is held.
func (c *conn) readDeadline(t time.Time) time.Time {
	earlier := func(d time.Time) {
		if t.IsZero() || d.Before(t) {
			t = d
		}
	}
	switch {
	case c.evicted:
		t = time.Unix(1, 0)
	case !c.dataBy.IsZero():
		earlier(c.dataBy)
	case c.unauth:
		earlier(c.unauthSince.Add(c.srv.admission.Limits().UnauthTimeout))
	}
	return t
}

// readTimedOut ends the connection after a read deadline passed: one line
// in the log naming the limit, a 421 (RFC 5321 §3.8) when the session's
// output is known, then the close. In DATA, Data answers instead and the
// connection closes after its reply.
func (c *conn) readTimedOut() {
	c.mu.Lock()
	evicted, inData, bdat, top := c.evicted, !c.dataBy.IsZero(), c.bdat, c.top
	unauthOver := c.unauth && !time.Now().Before(c.unauthSince.Add(c.srv.admission.Limits().UnauthTimeout))
	c.mu.Unlock()
	switch {
	case evicted:
		c.log.Info("connection dropped", "limit", netserve.LimitEvicted, "remote", c.remote.String(),
			"reason", "oldest idle connection outside a transaction, evicted for a new one")
		c.say(top, errEvicted)
	case inData && !bdat:
		// Data answers 421 (dataError); the connection closes after it.
		c.closeAfterWrite.Store(true)
		return
	case inData:
		// go-smtp reads BDAT chunks itself, and would answer 554.
		c.log.Info("timed out", "limit", "data_timeout", "remote", c.remote.String(), "after", c.srv.cfg.DataTimeout)
		c.say(top, errDataTimeout)
	case unauthOver:
		c.log.Info("timed out", "limit", "unauth_timeout", "remote", c.remote.String(), "after", c.srv.admission.Limits().UnauthTimeout)
		c.say(top, errTimeout)
	default:
		c.log.Info("timed out", "limit", "read_timeout", "remote", c.remote.String(), "after", c.srv.cfg.ReadTimeout)
		c.say(top, errTimeout)
	}
	c.Close()
}

// say writes a last reply on top (the plain connection, or TLS over it),
// outside go-smtp, with a short deadline; nothing when top is unknown
// (during a TLS handshake).
func (c *conn) say(top net.Conn, e *smtp.SMTPError) {
	if top == nil {
		return
	}
	if top == net.Conn(c) {
		top = c.Conn
	}
	top.SetWriteDeadline(time.Now().Add(sayTimeout))
	line := fmt.Sprintf("%d %d.%d.%d %s\r\n", e.Code, e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2], e.Message)
	io.WriteString(top, line)
	c.trace.Server([]byte(line))
}

// checkEarlyTalker waits Limits.GreetDelay before port 25's greeting and
// reports whether the client kept silent, as RFC 5321 §3.1 and §4.3.1 ask
// (the client waits for the greeting). Spam software that talks first, to
// save time, is dropped with 554 (postscreen's "pregreet" test).
func (c *conn) checkEarlyTalker() bool {
	c.Conn.SetReadDeadline(time.Now().Add(c.greetDelay))
	var b [1]byte
	n, err := c.Conn.Read(b[:])
	c.mu.Lock()
	evicted := c.evicted
	c.Conn.SetReadDeadline(c.readDeadline(time.Time{}))
	c.mu.Unlock()
	var ne net.Error
	switch {
	case n > 0:
		c.log.Info("early talker dropped", "limit", "pregreet", "remote", c.remote.String(), "delay", c.greetDelay)
		c.say(c, errEarlyTalker)
	case evicted:
		c.readTimedOut()
		return false
	case errors.As(err, &ne) && ne.Timeout():
		return true
	}
	c.Close()
	return false
}

// evict is the Admission's eviction of the connection, idle outside a
// transaction, for a newer one: the read or write under way fails, and
// Read answers 421 and closes.
func (c *conn) evict() {
	c.mu.Lock()
	c.evicted = true
	c.mu.Unlock()
	c.Conn.SetDeadline(time.Unix(1, 0))
}

// authenticated takes a submission connection out of the unauthenticated
// budget after AUTH.
func (c *conn) authenticated() {
	c.mu.Lock()
	c.unauth = false
	c.mu.Unlock()
	c.ticket.SetUnauth(false)
}

// startData sets the deadline of the message data: DataTimeout for the
// whole transfer (DATA to the final dot, or every BDAT chunk of the
// message), not for each read.
func (c *conn) startData(timeout time.Duration, bdat bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dataBy.IsZero() {
		c.dataBy, c.bdat = time.Now().Add(timeout), bdat
	}
	c.Conn.SetReadDeadline(c.readDeadline(time.Time{}))
}

// Close closes the connection and releases its slot; it may be called more
// than once.
func (c *conn) Close() error {
	c.closed.Store(true)
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		c.srv.release(c)
		c.trace.End()
		c.log.Info("connection closed")
	})
	return err
}

// trackedConn finds the conn under nc (itself, or under TLS).
func trackedConn(nc net.Conn) *conn {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, _ := nc.(*conn)
	return c
}

func (c *conn) setTop(top net.Conn) {
	c.mu.Lock()
	c.top = top
	c.mu.Unlock()
}

// begin marks the start of a transaction; false when shutting down.
func (c *conn) begin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.draining {
		return false
	}
	c.inTx = true
	if c.srv.mode == ModeMX && c.unauth {
		// Port 25: a transaction takes the connection out of the budget.
		c.unauth = false
		c.ticket.SetUnauth(false)
	}
	return true
}

// end marks the end of a transaction; a draining connection is closed.
func (c *conn) end() {
	c.mu.Lock()
	c.inTx = false
	c.dataBy, c.bdat = time.Time{}, false
	c.idleMX()
	draining, top := c.draining, c.top
	c.mu.Unlock()
	if draining {
		c.goodbye(top)
	}
}

// idleMX puts a port 25 connection back into the unauthenticated budget,
// as its newest, when a transaction ends; c.mu is held.
func (c *conn) idleMX() {
	if c.srv.mode == ModeMX && !c.unauth {
		c.unauth, c.unauthSince = true, time.Now()
		c.ticket.SetUnauth(true)
	}
}

// drain is Shutdown's request: an idle connection is closed now, one in a
// transaction when the transaction ends.
func (c *conn) drain() {
	c.mu.Lock()
	c.draining = true
	idle, top := !c.inTx, c.top
	c.mu.Unlock()
	if idle {
		c.goodbye(top)
	}
}

// goodbye writes the shutdown notice on top (when known) and closes the
// connection.
func (c *conn) goodbye(top net.Conn) {
	if top == net.Conn(c) {
		top = c.Conn // plain: no early-talker wait, no closeAfterWrite
	}
	if top != nil {
		const bye = "421 4.3.2 Service shutting down, try again later\r\n"
		top.SetWriteDeadline(time.Now().Add(refuseTimeout))
		io.WriteString(top, bye)
		c.trace.Server([]byte(bye))
	}
	c.log.Info("closing for shutdown")
	c.Close()
}

// fail counts a refused command; past MaxErrors the connection is closed
// after the reply, which becomes errTooManyErrors.
func (c *conn) fail() bool {
	if int(c.errors.Add(1)) < c.srv.cfg.MaxErrors {
		return false
	}
	c.closeAfterWrite.Store(true)
	return true
}
