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
//   - Every read has a deadline (Limits.UnauthTimeout before login, IdleTimeout
//     after) and every write one (writeTimeout); Shutdown interrupts reads.
//     A deadline bounds a whole command line, never one read: a client
//     sending a byte a second is cut when it passes. APPEND literals are
//     bounded by APPENDLIMIT and the same deadline.
//   - A session counts in the budget of unauthenticated connections
//     (netserve.Limits.MaxUnauth) until it logs in; when the budget is
//     full, the Admission may evict it while it waits for input, and it
//     says BYE.
//   - Every log line of a session carries its connection id ("conn");
//     passwords and SASL responses are never logged.
package imapserver

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"postel/internal/auth"
	"postel/internal/metrics"
	"postel/internal/netserve"
	"postel/internal/store"
	"postel/internal/trace"
)

// Config holds the limits of a Server. A zero field takes its default.
type Config struct {
	// Hostname is named in the greeting. Default "localhost".
	Hostname string
	// Limits are the connection limits every listener shares (totals,
	// per source, the budget of unauthenticated connections and its
	// timeout, connection rate; see netserve.Limits). Zero fields take
	// netserve's defaults.
	Limits netserve.Limits
	// IdleTimeout is the autologout timer of an authenticated client
	// (RFC 9051 §5.4: at least 30 minutes), also while in IDLE. Default 30m.
	IdleTimeout time.Duration
	// AppendLimit is the largest message APPEND accepts, announced as
	// APPENDLIMIT (RFC 7889). Default 50 MiB.
	AppendLimit int64
	// AllowPlaintextLoopback allows LOGIN and AUTHENTICATE without TLS for
	// clients on a loopback address (for development).
	AllowPlaintextLoopback bool
	// MaxCommandErrors is how many BAD responses and failed logins a
	// session gets before it is closed with BYE. Default 20.
	MaxCommandErrors int
	// Trainer learns from the user's junk verdicts: messages moved or
	// copied into or out of the \Junk mailbox, and the $Junk and
	// $NotJunk keywords (see junktrain.go). Nil: no training.
	Trainer Trainer
	// Metrics counts connections and their bytes; nil for none.
	Metrics *metrics.Metrics
	// Trace gives protocol traces of the sessions it wants; nil for none.
	Trace *trace.Hub

	progress progressTiming // INPROGRESS reports; zero: defaultProgress (tests shorten it)
	// ObjectIDKey is the secret the OBJECTID identifiers (RFC 8474:
	// MAILBOXID, EMAILID, THREADID) are derived with (objectid.go); it
	// must not change, or every identifier changes. Shorter than
	// MinObjectIDKey (nil): OBJECTID is off.
	ObjectIDKey []byte
}

func (c Config) withDefaults() Config {
	if c.Hostname == "" {
		c.Hostname = "localhost"
	}
	c.Limits = c.Limits.WithDefaults()
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Minute
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

// Store is what IMAP sessions use of the store: the account's mailboxes
// and messages, the ingest path (APPEND), the feed of changes and the
// access control lists of mailboxes (ACL, RFC 4314).
type Store interface {
	store.Mailboxes
	store.Messages
	store.Ingest
	store.AccountFeed
	store.ACL
	// Account finds the owner of a shared mailbox (shared.go).
	Account(ctx context.Context, address string) (store.Account, error)
}

// Server is the IMAP service; it may Serve several listeners (143 and 993
// share one Server).
type Server struct {
	cfg   Config
	st    Store
	authn *auth.Authenticator
	tls   *tls.Config
	log   *slog.Logger

	// writeTimeout is writeTimeout; tests shorten it.
	writeTimeout time.Duration

	// ctx is the context of store calls; cancel ends it when Shutdown
	// gives up waiting.
	ctx    context.Context
	cancel context.CancelFunc

	svc       netserve.Service
	admission *netserve.Admission // svc's, whose limits SetLimits changes
}

// New returns a Server. tlsConfig may be nil: then there is no STARTTLS,
// and no login unless AllowPlaintextLoopback lets loopback clients in. A
// nil log discards.
func New(cfg Config, st Store, authn *auth.Authenticator, tlsConfig *tls.Config, log *slog.Logger) *Server {
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
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	admission := netserve.NewAdmission(s.cfg.Limits)
	s.admission = admission
	admission.Observe(cfg.Metrics.Service(metrics.ServiceIMAP))
	s.svc = netserve.Service{
		Log:       s.log,
		Admission: admission,
		TLS:       tlsConfig,
		Refusal:   func(reason string) string { return "* BYE " + reason },
		NewSession: func(c *netserve.Conn, id string, ip netip.Addr, implicitTLS bool) netserve.Session {
			return handle{newSession(s, c, id, ip, implicitTLS)}
		},
		Closed: ErrServerClosed,
	}
	return s
}

// Serve accepts connections on l until Shutdown, then returns
// ErrServerClosed. For implicit TLS (993) pass tls.NewListener(l, cfg): its
// connections are served over TLS with the Server's tlsConfig; for 143,
// the plain listener (STARTTLS).
func (s *Server) Serve(l net.Listener) error { return s.svc.Serve(l) }

// handle adapts a session to netserve.Session.
type handle struct{ *session }

func (h handle) Serve()       { h.serve() }
func (h handle) Interrupt()   { h.interrupt() }
func (h handle) Close() error { return h.conn.Close() }

// Shutdown stops accepting connections and tells every session to end: a
// session waiting for a command (or in IDLE) gets "* BYE server shutting
// down" at once, one running a command after its tagged response. Shutdown
// returns when all sessions ended, or when ctx ends: then it cancels the
// store calls still running, closes the connections left and returns ctx's
// error.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.svc.Shutdown(ctx, s.cancel)
	s.cancel()
	return err
}

// SetLimits puts new connection limits in force (a reload): for the
// connections admitted from now on, and the deadlines of those open.
func (s *Server) SetLimits(l netserve.Limits) { s.admission.SetLimits(l) }
