// Package imapserver serves IMAP4rev2 (RFC 9051) and IMAP4rev1 (RFC 3501)
// with the extensions real clients use, on the store of internal/store: the
// sessions, their command table, the selected mailbox view kept in step with
// the store's change notifications, FETCH streamed from the message files,
// SEARCH, SORT and THREAD, IDLE and COMPRESS=DEFLATE. The wire syntax is
// internal/imap's.
//
// Invariants:
//   - Only the session's own goroutine writes to its connection; nothing
//     is written while a lock shared with other sessions is held (the
//     server's registry lock guards only the registry).
//   - Every read has a deadline (AuthTimeout before login, IdleTimeout
//     after) and every write one (writeTimeout); Shutdown interrupts reads.
//   - Every log line of a session carries its connection id ("conn");
//     passwords and SASL responses are never logged.
package imapserver

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"postel/internal/auth"
	"postel/internal/netserve"
	"postel/internal/store"
)

// Config holds the limits of a Server. A zero field takes its default.
type Config struct {
	// Hostname is named in the greeting. Default "localhost".
	Hostname string
	// MaxConns bounds concurrent connections. Default 1000.
	MaxConns int
	// MaxConnsPerIP bounds concurrent connections from one address; mail
	// clients open several per account. Default 20.
	MaxConnsPerIP int
	// IdleTimeout is the autologout timer of an authenticated client
	// (RFC 9051 §5.4: at least 30 minutes), also while in IDLE. Default 30m.
	IdleTimeout time.Duration
	// AuthTimeout is the time a client has from connecting to logging in.
	// Default 1m.
	AuthTimeout time.Duration
	// AppendLimit is the largest message APPEND accepts, announced as
	// APPENDLIMIT (RFC 7889). Default 50 MiB.
	AppendLimit int64
	// AllowPlaintextLoopback allows LOGIN and AUTHENTICATE without TLS for
	// clients on a loopback address (for development).
	AllowPlaintextLoopback bool
	// MaxCommandErrors is how many BAD responses and failed logins a
	// session gets before it is closed with BYE. Default 20.
	MaxCommandErrors int
}

func (c Config) withDefaults() Config {
	if c.Hostname == "" {
		c.Hostname = "localhost"
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 1000
	}
	if c.MaxConnsPerIP <= 0 {
		c.MaxConnsPerIP = 20
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Minute
	}
	if c.AuthTimeout <= 0 {
		c.AuthTimeout = time.Minute
	}
	if c.AppendLimit <= 0 {
		c.AppendLimit = 50 << 20
	}
	if c.MaxCommandErrors <= 0 {
		c.MaxCommandErrors = 20
	}
	return c
}

// writeTimeout bounds each write to a client.
const writeTimeout = 5 * time.Minute

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("imapserver: server closed")

// Server is the IMAP service; it may Serve several listeners (143 and 993
// share one Server).
type Server struct {
	cfg   Config
	st    store.Store
	authn *auth.Authenticator
	tls   *tls.Config
	log   *slog.Logger

	// writeTimeout is writeTimeout; tests shorten it.
	writeTimeout time.Duration

	// ctx is the context of store calls; cancel ends it when Shutdown
	// gives up waiting.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	admission *netserve.Admission
	wg        sync.WaitGroup // sessions
}

// New returns a Server. tlsConfig may be nil: then there is no STARTTLS,
// and no login unless AllowPlaintextLoopback lets loopback clients in. A
// nil log discards.
func New(cfg Config, st store.Store, authn *auth.Authenticator, tlsConfig *tls.Config, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:          cfg.withDefaults(),
		st:           st,
		authn:        authn,
		tls:          tlsConfig,
		log:          log.With("service", "imap"),
		writeTimeout: writeTimeout,
		listeners:    map[net.Listener]struct{}{},
		sessions:     map[*session]struct{}{},
	}
	s.admission = netserve.NewAdmission(s.cfg.MaxConns, s.cfg.MaxConnsPerIP)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Serve accepts connections on l until Shutdown, then returns
// ErrServerClosed. For implicit TLS (993) pass tls.NewListener(l, cfg): its
// connections are served over TLS with the Server's tlsConfig; for 143,
// the plain listener (STARTTLS).
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
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
			if s.isClosing() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: wait and retry,
			// as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.admit(nc)
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// admit registers a new connection and starts its session, or refuses it
// with an untagged BYE (RFC 9051 §7.1.5 allows BYE as the greeting).
func (s *Server) admit(nc net.Conn) {
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
		refusal = "Server shutting down"
	case implicitTLS && s.tls == nil:
		refusal = "TLS is not configured"
	default:
		switch s.admission.Admit(ip) {
		case netserve.TooMany:
			refusal = "Too many connections, try again later"
		case netserve.TooManyFromIP:
			refusal = "Too many connections from your address"
		}
	}
	if refusal != "" {
		s.mu.Unlock()
		s.log.Info("connection refused", "conn", id, "remote", ip.String(), "reason", refusal)
		if !implicitTLS {
			// Best effort, without blocking the accept loop for long.
			raw.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			raw.Write([]byte("* BYE " + refusal + "\r\n"))
		}
		raw.Close()
		return
	}
	c := &netserve.Conn{Conn: raw}
	sess := newSession(s, c, id, ip, implicitTLS)
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	sess.log.Info("connection accepted", "remote", raw.RemoteAddr().String(), "local", raw.LocalAddr().String(), "tls", implicitTLS)
	go func() {
		defer s.wg.Done()
		defer s.release(sess)
		sess.serve()
	}()
}

// release forgets an ended session.
func (s *Server) release(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.admission.Release(sess.remote)
	s.mu.Unlock()
}

// Shutdown stops accepting connections and tells every session to end: a
// session waiting for a command (or in IDLE) gets "* BYE server shutting
// down" at once, one running a command after its tagged response. Shutdown
// returns when all sessions ended, or when ctx ends: then it cancels the
// store calls still running, closes the connections left and returns ctx's
// error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	sessions := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	for _, sess := range sessions {
		sess.interrupt()
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
	}
	s.cancel()
	s.mu.Lock()
	for sess := range s.sessions {
		sess.conn.Close()
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}
