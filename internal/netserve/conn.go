package netserve

import (
	"net"
	"sync/atomic"
	"time"
)

// evictedWriteTimeout bounds the goodbye written to an evicted connection.
const evictedWriteTimeout = time.Second

// Conn is a client's connection below any TLS layer, as the IMAP and POP3
// sessions use it: every write gets a deadline, Shutdown can interrupt a
// session waiting for input, and the Admission can evict it. Its reads tell
// the Ticket when the session is Busy with input from the client.
//
// Deadlines: a session sets one read deadline per command (ReadBy) for the
// whole command line, not per read, so a client sending a byte a second
// is cut when it passes, like one sending nothing.
type Conn struct {
	net.Conn
	WriteTimeout time.Duration
	// Ticket is the connection's admission; nil for none.
	Ticket *Ticket

	closing atomic.Bool
	evicted atomic.Bool
}

func (c *Conn) Read(p []byte) (int, error) {
	c.Ticket.Busy(false)
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.Ticket.Busy(true)
		c.Ticket.CountIO(n, 0)
	}
	return n, err
}

func (c *Conn) Write(p []byte) (int, error) {
	d := c.WriteTimeout
	if c.evicted.Load() {
		d = min(d, evictedWriteTimeout)
	}
	c.Conn.SetWriteDeadline(time.Now().Add(d))
	n, err := c.Conn.Write(p)
	c.Ticket.CountIO(0, n)
	return n, err
}

// ReadBy sets the deadline of the reads to come and reports whether the
// session must end instead because the server is shutting down or the
// connection was evicted. Together with Interrupt and Evict it never misses
// either: ReadBy sees the flag, or their deadline comes after ReadBy's and
// ends the read.
func (c *Conn) ReadBy(t time.Time) (end bool) {
	c.Conn.SetReadDeadline(t)
	return c.closing.Load() || c.evicted.Load()
}

// Interrupt makes the session's current and future reads fail.
func (c *Conn) Interrupt() {
	c.closing.Store(true)
	c.CancelRead()
}

// Closing tells whether Interrupt was called.
func (c *Conn) Closing() bool { return c.closing.Load() }

// Evict is the Admission's eviction of an idle unauthenticated connection:
// the read or write under way fails, and so do the reads to come; the
// session may still write a short goodbye.
func (c *Conn) Evict() {
	c.evicted.Store(true)
	c.Conn.SetDeadline(time.Unix(1, 0))
}

// Evicted tells whether Evict was called.
func (c *Conn) Evicted() bool { return c.evicted.Load() }

// Authenticated takes the connection out of the unauthenticated budget.
func (c *Conn) Authenticated() { c.Ticket.SetUnauth(false) }

// CancelRead makes a read in progress fail now, without ending the session
// (IMAP IDLE's reader when IDLE ends otherwise than by DONE).
func (c *Conn) CancelRead() {
	c.Conn.SetReadDeadline(time.Unix(1, 0))
}

// CloseWrite shuts the sending side of a TCP connection (a FIN): the
// client sees the end of the output while its own can still be read.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
