// Package smtpserver is Postel's SMTP service on top of emersion/go-smtp:
// the MX (port 25, mail for local domains only) and message submission
// (587 with STARTTLS, 465 with implicit TLS, RFC 6409 and RFC 8314), both
// delivering through internal/deliver.
//
// Invariants:
//   - No open relay: in ModeMX a recipient outside the local domains is
//     refused at RCPT; only aliases of local addresses may forward.
//   - 250 after DATA/BDAT means durable: the body is spooled to disk (never
//     held in memory), fsynced and committed by the store before the reply.
//   - The stored body is byte for byte what the client sent; the header
//     fields the server adds (Return-Path, Received, and on submission a
//     missing Message-ID or Date) go into the delivery's prefix.
//   - A session never writes to the client while holding conn.mu; replies
//     are written by go-smtp, except the 421 of Shutdown and of refused
//     connections.
//   - Every log line about a connection carries its id ("conn"); every
//     limit that refuses or drops a client logs one line naming it
//     ("limit") and the client ("remote").
//   - Deadlines bound a whole command line (ReadTimeout) and a whole
//     message's data (DataTimeout), never one read; before AUTH
//     (submission) or outside a transaction (port 25) the connection is
//     in the Admission's unauthenticated budget, with its own deadline,
//     and may be evicted while it waits for input (see conn).
package smtpserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"postel/internal/auth"
	"postel/internal/deliver"
	"postel/internal/metrics"
	"postel/internal/netserve"
	"postel/internal/store"
	"postel/internal/trace"
)

// Mode selects the policy of a Server.
type Mode int

const (
	// ModeMX receives mail from other servers for local domains (port 25):
	// STARTTLS, no AUTH, no relaying.
	ModeMX Mode = iota
	// ModeSubmission receives mail from authenticated users (ports 587 and
	// 465, RFC 6409): AUTH required, sender addresses checked, remote
	// recipients queued.
	ModeSubmission
)

func (m Mode) String() string {
	if m == ModeSubmission {
		return "submission"
	}
	return "mx"
}

// service is the mode's name in metrics and traces: "smtp" for the MX.
func (m Mode) service() string {
	if m == ModeSubmission {
		return metrics.ServiceSubmission
	}
	return metrics.ServiceSMTP
}

// Config holds the limits of a Server. A zero field takes its default.
type Config struct {
	// Hostname is used in the greeting, Received and Message-ID. Default "localhost".
	Hostname string
	// MaxMessageBytes is the largest message accepted, announced as SIZE
	// (RFC 1870). Default 50 MiB.
	MaxMessageBytes int64
	// MaxRecipients per message; more get 452 4.5.3. Default 100.
	MaxRecipients int
	// MaxLineLength bounds command and DATA lines, in bytes with CRLF.
	// Default 2000 (twice RFC 5321 §4.5.3.1.6, for lenient clients).
	MaxLineLength int
	// Limits are the connection limits every listener shares
	// (netserve.Limits): totals, per source, the budget of connections
	// that have not authenticated (submission) or are not in a
	// transaction (port 25) and their timeout, the connection rate, and
	// on port 25 the RCPT and message rates and the early-talker check.
	// Zero fields take netserve's defaults.
	Limits netserve.Limits
	// MaxErrors: after this many refused commands the connection is closed.
	// Default 10.
	MaxErrors int
	// ReadTimeout bounds the wait for a command line and its arrival
	// together (RFC 5321 §4.5.3.2.7 suggests 5 minutes): a line that has
	// not ended when it passes closes the connection with 421, however
	// slowly its bytes come. WriteTimeout bounds each reply write.
	// Default 5m each.
	ReadTimeout, WriteTimeout time.Duration
	// DataTimeout bounds the whole transfer of a message's data: from
	// DATA to the final dot, or over all the BDAT chunks of a message
	// (RFC 5321 §4.5.3.2.6 suggests 10 minutes for the data
	// termination); past it the connection closes with 421. Default 10m.
	DataTimeout time.Duration
	// AllowPlaintextLoopback offers AUTH without TLS to loopback clients
	// (submission only; for development).
	AllowPlaintextLoopback bool
	// HideSubmissionClient leaves the client's address, EHLO name and
	// login out of the Received field of submitted mail.
	HideSubmissionClient bool
	// Outbound is the delivery queue, told about queued mail and asked
	// about per-account sending limits; nil for none.
	Outbound Outbound
	// Inbound checks who sent mail to the MX and forwards it well
	// (ModeMX only); the zero value checks nothing.
	Inbound Inbound
	// Metrics counts connections, bytes, messages received and the
	// outcomes of the mail log; nil for none.
	Metrics *metrics.Metrics
	// Trace gives protocol traces of the sessions it wants; nil for none.
	Trace *trace.Hub
}

// Outbound is what the SMTP server needs from the outbound queue.
type Outbound interface {
	// Kick wakes the queue after mail was queued.
	Kick()
	// MaySend tells whether an account may queue n more recipients today.
	MaySend(ctx context.Context, accountID int64, n int) (bool, error)
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.Hostname == "" {
		c.Hostname = "localhost"
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 50 << 20
	}
	def(&c.MaxRecipients, 100)
	def(&c.MaxLineLength, 2000)
	c.Limits = c.Limits.WithDefaults()
	def(&c.MaxErrors, 10)
	defDur(&c.ReadTimeout, 5*time.Minute)
	defDur(&c.WriteTimeout, 5*time.Minute)
	defDur(&c.DataTimeout, 10*time.Minute)
	return c
}

// Store is what SMTP sessions use of the store: the ingest path, the
// local domains and the accounts' mailboxes (the junk filing).
type Store interface {
	store.Ingest
	AccountByID(ctx context.Context, id int64) (store.Account, error)
	ListDomains(ctx context.Context) ([]store.Domain, error)
	ListMailboxes(ctx context.Context, accountID int64) ([]store.Mailbox, error)
}

// Server is one SMTP service (MX or submission); it may Serve several
// listeners (587 and 465 share one submission Server).
type Server struct {
	mode   Mode
	cfg    Config
	st     Store
	router *deliver.Router
	authn  *auth.Authenticator
	tls    *tls.Config
	log    *slog.Logger
	smtp   *smtp.Server

	// ctx is the context of store calls; cancel ends it when Shutdown
	// gives up waiting.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closing   bool
	conns     map[*conn]struct{}
	admission *netserve.Admission
	refusing  int // goroutines writing a refusal, bounded by maxRefusing

	metrics *metrics.Service // this mode's counters; nil for none

	// Port 25's per-source rates (Limits.RcptRate, Limits.MessageRate).
	rcptRate, msgRate *netserve.RateLimiter
}

// New returns a Server. tlsConfig may be nil (no STARTTLS, and no AUTH
// unless AllowPlaintextLoopback); authn is needed only in ModeSubmission.
func New(mode Mode, cfg Config, st Store, router *deliver.Router, authn *auth.Authenticator, tlsConfig *tls.Config, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	s := &Server{
		mode:   mode,
		cfg:    cfg,
		st:     st,
		router: router,
		authn:  authn,
		tls:    tlsConfig,
		log:    log.With("service", "smtp-"+mode.String()),
		conns:  map[*conn]struct{}{},
	}
	s.admission = netserve.NewAdmission(s.cfg.Limits)
	s.metrics = cfg.Metrics.Service(mode.service())
	s.admission.Observe(s.metrics)
	s.rcptRate = netserve.NewRateLimiter(s.cfg.Limits.RcptRate)
	s.msgRate = netserve.NewRateLimiter(s.cfg.Limits.MessageRate)
	s.ctx, s.cancel = context.WithCancel(context.Background())

	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = cfg.Hostname
	srv.TLSConfig = tlsConfig
	srv.MaxMessageBytes = cfg.MaxMessageBytes
	srv.MaxRecipients = cfg.MaxRecipients
	srv.MaxLineLength = cfg.MaxLineLength
	srv.ReadTimeout = cfg.ReadTimeout
	srv.WriteTimeout = cfg.WriteTimeout
	srv.EnableSMTPUTF8 = true
	srv.EnableDSN = true
	srv.EnableREQUIRETLS = true
	// go-smtp offers AUTH only over TLS unless AllowInsecureAuth; the
	// session narrows that to loopback peers (see submissionSession).
	srv.AllowInsecureAuth = mode == ModeSubmission && cfg.AllowPlaintextLoopback
	srv.ErrorLog = errorLog{s.log}
	s.smtp = srv
	return s
}

// Serve accepts connections on l until Shutdown. For implicit TLS (465)
// pass tls.NewListener(l, cfg): its connections are served over TLS with the
// Server's tlsConfig.
func (s *Server) Serve(l net.Listener) error {
	return s.smtp.Serve(&listener{Listener: l, srv: s})
}

// Shutdown stops accepting connections. Idle sessions get "421 4.3.2" and
// are closed; a session in a transaction (after MAIL, before the reply to
// its DATA or last BDAT) may finish it and is closed after. Shutdown returns
// when all sessions ended, or when ctx ends: then it closes what is left and
// returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	conns := s.snapshot()
	s.mu.Unlock()
	for _, c := range conns {
		c.drain()
	}
	err := s.smtp.Shutdown(ctx)
	if ctx.Err() != nil {
		s.cancel()
		s.mu.Lock()
		conns := s.snapshot()
		s.mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
		return ctx.Err()
	}
	s.cancel()
	return err
}

// snapshot lists the live connections; s.mu must be held.
func (s *Server) snapshot() []*conn {
	out := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// newSession is called by go-smtp at the first EHLO/HELO, and again after
// STARTTLS.
func (s *Server) newSession(sc *smtp.Conn) (smtp.Session, error) {
	c := trackedConn(sc.Conn())
	if c == nil {
		s.log.Error("session on an untracked connection", "remote", sc.Conn().RemoteAddr().String())
		return nil, errInternal
	}
	c.setTop(sc.Conn())
	sess := &session{srv: s, c: c, sc: sc, log: c.log}
	if st, ok := sc.TLSConnectionState(); ok {
		sess.tls = &st
	}
	c.startTrace(sc, sess.tls != nil)
	if s.mode == ModeSubmission {
		return &submissionSession{sess}, nil
	}
	return sess, nil
}

// errorLog sends go-smtp's own error lines (failed handshakes, recovered
// panics with their stack) to slog.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Printf(format string, v ...any) {
	e.log.Warn("smtp: " + fmt.Sprintf(format, v...))
}

func (e errorLog) Println(v ...any) {
	e.log.Warn("smtp: " + fmt.Sprintln(v...))
}

// SetLimits puts new connection limits in force (a reload): for the
// connections admitted from now on, the deadlines of those open, and the
// per-source RCPT and message rates.
func (s *Server) SetLimits(l netserve.Limits) {
	s.admission.SetLimits(l)
	l = *s.admission.Limits()
	s.rcptRate.SetRate(l.RcptRate)
	s.msgRate.SetRate(l.MessageRate)
}
