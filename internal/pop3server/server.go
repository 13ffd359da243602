// Package pop3server serves POP3 (RFC 1939) on the store of internal/store,
// with CAPA and response codes (RFC 2449, RFC 3206), STLS (RFC 2595), SASL
// AUTH (RFC 5034) and the UTF8 command (RFC 6856): port 110 with STLS and
// port 995 with implicit TLS (RFC 8314).
//
// The maildrop of a session is the account's INBOX as it stood at login: a
// list of UIDs, numbered 1..n in UID order. Messages delivered later appear
// in the next session. UIDL values are "<UIDVALIDITY>.<UID>", stable across
// sessions and restarts and never reused while the INBOX's UIDVALIDITY
// stands (the store's UID invariant).
//
// Invariants:
//   - Nothing is deleted but by QUIT in the TRANSACTION state (the UPDATE
//     state, RFC 1939 §6), and then in one store.Expunge: atomically, and
//     announced to IMAP sessions by the store after its commit. A dropped
//     connection, a timeout or a shutdown deletes nothing.
//   - One session at a time holds an account's maildrop (Config.Locks:
//     in this process by default, or leases in the store that every node
//     sees); a second login gets "-ERR [IN-USE]" (RFC 2449 §8.1.1), the
//     usual answer of POP3 servers: two sessions deleting from one
//     maildrop would each number messages the other removed. The lock is
//     taken after authentication, so it tells nothing to someone without
//     the password, and given back when the session ends in any way.
//   - Only the session's goroutine writes to its connection, and never
//     while holding the Server's lock, which guards only the registries.
//   - Every read has a deadline (Limits.UnauthTimeout before login, IdleTimeout
//     after) and every write one (writeTimeout); Shutdown interrupts reads.
//     A deadline bounds a whole command line, never one read: a client
//     sending a byte a second is cut when it passes.
//   - A session counts in the budget of unauthenticated connections
//     (netserve.Limits.MaxUnauth) until it logs in; when the budget is
//     full, the Admission may evict it while it waits for input, and it
//     says "-ERR [SYS/TEMP]".
//   - Every log line of a session carries its connection id ("conn");
//     passwords and SASL exchanges are never logged.
package pop3server

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
	// IdleTimeout is the autologout timer of a logged-in client; RFC 1939
	// §3 asks for at least 10 minutes. Default 10m.
	IdleTimeout time.Duration
	// AllowPlaintextLoopback allows USER/PASS and AUTH without TLS for
	// clients on a loopback address (for development).
	AllowPlaintextLoopback bool
	// MaxCommandErrors is how many refused commands (unknown, malformed,
	// in the wrong state, failed logins) a session gets before it is
	// closed. Default 10.
	MaxCommandErrors int
	// Metrics counts connections and their bytes; nil for none.
	Metrics *metrics.Metrics
	// Trace gives protocol traces of the sessions it wants; nil for none.
	Trace *trace.Hub
	// Locks hold the maildrops; nil: NewProcessLocks (one node). Nodes
	// sharing a store use NewStoreLocks.
	Locks MaildropLocks
}

func (c Config) withDefaults() Config {
	if c.Hostname == "" {
		c.Hostname = "localhost"
	}
	c.Limits = c.Limits.WithDefaults()
	if c.Locks == nil {
		c.Locks = NewProcessLocks()
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.MaxCommandErrors <= 0 {
		c.MaxCommandErrors = 10
	}
	return c
}

// writeTimeout bounds each write to a client.
const writeTimeout = 5 * time.Minute

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("pop3server: server closed")

// Store is what POP3 sessions use of the store: the INBOX, its messages,
// and the feed that ends a session whose account goes.
type Store interface {
	Mailbox(ctx context.Context, accountID int64, name string) (store.Mailbox, error)
	Messages(ctx context.Context, accountID, mailboxID int64, changedSince uint64) ([]store.Message, error)
	OpenMessage(ctx context.Context, accountID, mailboxID int64, uid uint32) (store.MessageReader, error)
	StoreFlags(ctx context.Context, accountID, mailboxID int64, uids []uint32, op store.FlagOp, flags []string, unchangedSince uint64) ([]store.FlagChange, error)
	Expunge(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]store.Expunged, error)
	store.AccountFeed
}

// Server is the POP3 service; it may Serve several listeners (110 and 995
// share one Server, and so share the maildrop locks).
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

// New returns a Server. tlsConfig may be nil: then there is no STLS, and no
// login unless AllowPlaintextLoopback lets loopback clients in. A nil log
// discards.
func New(cfg Config, st Store, authn *auth.Authenticator, tlsConfig *tls.Config, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:          cfg.withDefaults(),
		st:           st,
		authn:        authn,
		tls:          tlsConfig,
		log:          log.With("service", "pop3"),
		writeTimeout: writeTimeout,
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	admission := netserve.NewAdmission(s.cfg.Limits)
	s.admission = admission
	admission.Observe(cfg.Metrics.Service(metrics.ServicePOP3))
	s.svc = netserve.Service{
		Log:       s.log,
		Admission: admission,
		TLS:       tlsConfig,
		Refusal:   func(reason string) string { return "-ERR [" + codeSysTemp + "] " + reason },
		NewSession: func(c *netserve.Conn, id string, ip netip.Addr, implicitTLS bool) netserve.Session {
			return handle{newSession(s, c, id, ip, implicitTLS)}
		},
		Closed: ErrServerClosed,
	}
	return s
}

// Serve accepts connections on l until Shutdown, then returns
// ErrServerClosed. For implicit TLS (995) pass tls.NewListener(l, cfg): its
// connections are served over TLS with the Server's tlsConfig; for 110,
// the plain listener (STLS).
func (s *Server) Serve(l net.Listener) error { return s.svc.Serve(l) }

// handle adapts a session to netserve.Session.
type handle struct{ *session }

func (h handle) Serve()       { h.serve() }
func (h handle) Interrupt()   { h.conn.Interrupt() }
func (h handle) Close() error { return h.conn.Close() }

// Shutdown stops accepting connections and ends every session: one waiting
// for a command gets "-ERR [SYS/TEMP] Server shutting down" at once, one
// running a command (a RETR being sent, a QUIT expunging) after its reply.
// A session that did not QUIT deletes nothing. Shutdown returns when all
// sessions ended, or when ctx ends: then it cancels the store calls still
// running, closes the connections left and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.svc.Shutdown(ctx, s.cancel)
	s.cancel()
	return err
}

// SetLimits puts new connection limits in force (a reload): for the
// connections admitted from now on, and the deadlines of those open.
func (s *Server) SetLimits(l netserve.Limits) { s.admission.SetLimits(l) }
