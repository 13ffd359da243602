package smtpserver

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"postel/internal/msgauth"
	"postel/internal/netserve"
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

	s.mu.Lock()
	var refusal string
	switch {
	case s.closing:
		refusal = "421 4.3.2 Service shutting down, try again later"
	default:
		switch s.admission.Admit(ip) {
		case netserve.TooMany:
			refusal = "421 4.7.0 Too many connections, try again later"
		case netserve.TooManyFromIP:
			refusal = "421 4.7.0 too many connections from your IP"
		}
	}
	if refusal != "" {
		s.mu.Unlock()
		s.log.Info("connection refused", "conn", id, "remote", ip.String(), "reason", refusal[10:])
		s.refuse(nc, refusal)
		return nil
	}
	if implicitTLS && s.tls == nil {
		s.mu.Unlock()
		s.log.Error("TLS listener but no TLS configuration", "conn", id, "remote", ip.String())
		nc.Close()
		return nil
	}
	c := &conn{Conn: raw, srv: s, id: id, remote: ip, log: s.log.With("conn", id)}
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
	s.admission.Release(c.remote)
	s.mu.Unlock()
}

// conn is the TCP connection of one client, below any TLS layer. It counts
// the client's errors and implements closing after a final reply.
type conn struct {
	net.Conn
	srv    *Server
	id     string
	remote netip.Addr
	log    *slog.Logger

	errors          atomic.Int32 // refused commands so far
	closeAfterWrite atomic.Bool  // close once the next reply is written
	closeOnce       sync.Once
	msgs            atomic.Int32 // messages delivered, for ids

	mu       sync.Mutex
	top      net.Conn        // what go-smtp reads and writes (TLS above c); nil while unknown
	inTx     bool            // after MAIL, until the transaction's reply is sent
	draining bool            // Shutdown asked to close when idle
	client   *msgauth.Client // the client checks, once run (MX)
}

// Write writes a reply; if closeAfterWrite is set, it then closes the
// connection (the reply was the last word, as with 421).
func (c *conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.closeAfterWrite.Load() {
		c.Close()
	}
	return n, err
}

// Close closes the connection and releases its slot; it may be called more
// than once.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		c.srv.release(c)
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
	return true
}

// end marks the end of a transaction; a draining connection is closed.
func (c *conn) end() {
	c.mu.Lock()
	c.inTx = false
	draining, top := c.draining, c.top
	c.mu.Unlock()
	if draining {
		c.goodbye(top)
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
	if top != nil {
		top.SetWriteDeadline(time.Now().Add(refuseTimeout))
		io.WriteString(top, "421 4.3.2 Service shutting down, try again later\r\n")
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
