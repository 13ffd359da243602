package pop3server

import (
	"net"
	"sync/atomic"
	"time"
)

// conn is the client's connection below any TLS layer. It sets a write
// deadline on every write, and lets Shutdown interrupt a session waiting
// for input.
type conn struct {
	net.Conn
	writeTimeout time.Duration
	closing      atomic.Bool
}

func (c *conn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	return c.Conn.Write(p)
}

// readBy sets the deadline of the reads to come and reports whether the
// session must end instead because the server is shutting down. Together
// with interrupt it never misses a shutdown: either readBy sees the flag,
// or interrupt's deadline comes after readBy's and ends the read.
func (c *conn) readBy(t time.Time) (closing bool) {
	c.Conn.SetReadDeadline(t)
	return c.closing.Load()
}

// interrupt makes the session's current and future reads fail.
func (c *conn) interrupt() {
	c.closing.Store(true)
	c.Conn.SetReadDeadline(time.Unix(1, 0))
}

// CloseWrite shuts the sending side of a TCP connection (a FIN): the
// client sees the end of the output while its own can still be read.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
