package netserve

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Session is one client session of a Service.
type Session interface {
	// Serve runs the session until it ends.
	Serve()
	// Interrupt asks the session to end: at once when it waits for input,
	// after the command it runs otherwise.
	Interrupt()
	// Close ends the connection, when Shutdown gives up waiting.
	Close() error
}

// Service is the accept loop and the session registry that the IMAP and
// POP3 servers share: admission under the connection limits (Admission,
// which may evict an idle unauthenticated session for a new one), one
// goroutine per session, and a shutdown that interrupts every session and
// waits for them. A session calls Conn.Authenticated when its client logs
// in, and says goodbye when it finds its Conn Evicted.
type Service struct {
	Log       *slog.Logger
	Admission *Admission
	TLS       *tls.Config // nil: implicit-TLS connections are refused
	// Refusal is the protocol's line refusing a connection, without CRLF.
	Refusal func(reason string) string
	// NewSession makes the session of an admitted connection.
	NewSession func(c *Conn, id string, ip netip.Addr, implicitTLS bool) Session
	// Closed is what Serve returns after Shutdown.
	Closed error

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	sessions  map[Session]struct{}
	wg        sync.WaitGroup
}

// Serve accepts connections on l until Shutdown, then returns Closed. A
// listener made by tls.NewListener gives implicit-TLS sessions.
func (s *Service) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return s.Closed
	}
	if s.listeners == nil {
		s.listeners, s.sessions = map[net.Listener]struct{}{}, map[Session]struct{}{}
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.Closing() {
				return s.Closed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: wait and retry, as
			// net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.Log.Warn("accept failed", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.admit(nc)
	}
}

// Closing tells whether Shutdown has begun.
func (s *Service) Closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// admit registers a new connection and starts its session, or refuses it
// with one log line naming the limit.
func (s *Service) admit(nc net.Conn) {
	raw, implicitTLS := nc, false
	if tc, ok := nc.(*tls.Conn); ok {
		raw, implicitTLS = tc.NetConn(), true
	}
	ip := RemoteIP(raw.RemoteAddr())
	id := NewID()
	c := &Conn{Conn: raw}
	s.mu.Lock()
	var refusal, limit string
	switch {
	case s.closing:
		refusal, limit = "Server shutting down", "shutdown"
	case implicitTLS && s.TLS == nil:
		refusal, limit = "TLS is not configured", "no_tls"
	default:
		t, r := s.Admission.Admit(ip, c.Evict)
		if r != Admitted {
			refusal, limit = r.Text(), r.String()
		}
		c.Ticket = t
	}
	if refusal != "" {
		s.mu.Unlock()
		s.Log.Info("connection refused", "conn", id, "remote", ip.String(), "limit", limit, "reason", refusal)
		if !implicitTLS {
			// Best effort, without blocking the accept loop for long.
			raw.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			raw.Write([]byte(s.Refusal(refusal) + "\r\n"))
		}
		raw.Close()
		return
	}
	sess := s.NewSession(c, id, ip, implicitTLS)
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.Log.Info("connection accepted", "conn", id, "remote", raw.RemoteAddr().String(), "local", raw.LocalAddr().String(), "tls", implicitTLS)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.sessions, sess)
			s.mu.Unlock()
			c.Ticket.Release()
		}()
		sess.Serve()
	}()
}

// Shutdown stops accepting and interrupts every session, then waits for
// them to end until ctx ends; then it calls giveUp (which cancels the
// sessions' store calls), closes the connections left and returns ctx's
// error.
func (s *Service) Shutdown(ctx context.Context, giveUp func()) error {
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	sessions := make([]Session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	for _, sess := range sessions {
		sess.Interrupt()
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	giveUp()
	s.mu.Lock()
	for sess := range s.sessions {
		sess.Close()
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}
