package netserve

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"time"
)

// This file is the skeleton the IMAP and POP3 sessions share: the state
// sets of their command tables, the command boundary that turns a panic
// into a server fault, the TLS handshake bounded by the login time, the
// read deadline, and the count of octets written.

// States is a set of session states (each state a small integer, as the
// protocols number them), the allowed states of a command table entry.
type States uint16

// In is the set of the given states.
func In(states ...int) States {
	var s States
	for _, st := range states {
		s |= 1 << st
	}
	return s
}

// Has reports whether state is in the set.
func (s States) Has(state int) bool { return s&(1<<state) != 0 }

// ErrAbort ends a session without a reply: the reply stream was cut (a
// handler panicked after writing part of a response, a literal came out
// short), so the client could not parse what follows.
type ErrAbort struct{ Err error }

func (e ErrAbort) Error() string { return "session aborted: " + e.Err.Error() }
func (e ErrAbort) Unwrap() error { return e.Err }

// RunCommand runs a command's handler at the command boundary: a panic is
// logged with its stack and becomes an error (a server fault), or an
// ErrAbort when the handler had written part of a reply (written counts
// the octets produced so far).
func RunCommand(log *slog.Logger, name string, written func() int64, run func() error) (err error) {
	before := written()
	defer func() {
		if x := recover(); x != nil {
			log.Error("panic in command", "command", name, "panic", fmt.Sprint(x), "stack", string(debug.Stack()))
			if written() != before {
				err = ErrAbort{fmt.Errorf("panic after partial output: %v", x)}
				return
			}
			err = fmt.Errorf("panic: %v", x)
		}
	}()
	return run()
}

// Handshake runs a server TLS handshake over nc, bounded by timeout (the
// time a client has to log in). It fails at once when the server is
// shutting down.
func Handshake(ctx context.Context, c *Conn, nc net.Conn, cfg *tls.Config, timeout time.Duration) (*tls.Conn, error) {
	tc := tls.Server(nc, cfg)
	if c.ReadBy(time.Now().Add(timeout)) {
		return nil, ErrShutdown
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}

// ErrShutdown: the server is ending the session.
var ErrShutdown = fmt.Errorf("server shutting down")

// ReadDeadline is when a session's next command must have arrived: the
// autologout timer (idle), and before login the time left of unauth since
// the session started.
func ReadDeadline(started time.Time, loggedIn bool, idle, unauth time.Duration) time.Time {
	d := time.Now().Add(idle)
	if !loggedIn {
		if login := started.Add(unauth); login.Before(d) {
			d = login
		}
	}
	return d
}

// CountWriter counts the octets written through it.
type CountWriter struct {
	W io.Writer
	N int64
}

func (c *CountWriter) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N += int64(n)
	return n, err
}
