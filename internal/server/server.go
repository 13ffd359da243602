// Package server wires the protocol servers to the store, the listeners and
// TLS, and stops them gracefully. It is, with cmd/postel, the only place
// that knows every part.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"postel/internal/auth"
	"postel/internal/certs"
	"postel/internal/config"
	"postel/internal/control"
	"postel/internal/deliver"
	"postel/internal/dkim"
	"postel/internal/dns"
	"postel/internal/imapserver"
	"postel/internal/junk"
	"postel/internal/metrics"
	"postel/internal/msgauth"
	"postel/internal/msgauth/arc"
	"postel/internal/netserve"
	"postel/internal/pop3server"
	"postel/internal/queue"
	"postel/internal/smtpserver"
	"postel/internal/srs"
	"postel/internal/store"
	"postel/internal/trace"
)

// Server is a running Postel: every configured listener, serving.
type Server struct {
	cfg   *config.Config
	st    store.Store
	log   *slog.Logger
	certs *certs.Manager
	tls   *tls.Config    // every mail listener's: its certificate from certs
	web   []*http.Server // the HTTPS and HTTP listeners' servers
	smtp  []*smtpserver.Server
	imap  *imapserver.Server
	pop3  *pop3server.Server

	queue     *queue.Queue
	stopQueue context.CancelFunc
	queueDone chan struct{}

	signer *dkim.Signer // the DKIM keys, reloaded by Reload

	// Metrics, when set before Start, is where the server counts (the
	// store opened with the same one measures its commits); else Start
	// makes one. The admin listener serves it.
	Metrics    *metrics.Metrics
	trace      *trace.Hub    // the protocol traces (postel trace, trace files)
	traceFiles *trace.Files  // [log] trace_accounts; nil for none (guarded by mu)
	traceLog   config.Log    // the [log] whose trace keys traceFiles follows (guarded by mu)
	admin      *http.Server  // listen.admin; nil when not served
	adminDone  chan struct{} // closed when the admin listener has stopped
	started    atomic.Bool   // Start bound every listener
	stopping   atomic.Bool   // Shutdown began

	// LogLevel, when set before Start, is the level of the server's log:
	// Reload sets it from the new config's log.level.
	LogLevel *slog.LevelVar
	// ReadConfig, when set before Start, reads the configuration again for
	// ReloadConfig (SIGHUP, postel reload).
	ReadConfig func() (*config.Config, error)
	reloadMu   sync.Mutex

	control     *control.Server // nil when the socket could not be made
	controlPath string
	controlDone chan struct{}

	mu        sync.Mutex
	listeners map[string]net.Listener // by config key: "smtp", "submission", ...
	order     []string                // the keys of listeners, in the order bound
	wg        sync.WaitGroup
	errs      chan error
}

// New prepares a server: it sets up the certificates (the operator's
// files, ACME or a self-signed one; certs.Manager) and builds the protocol
// servers. Start listens.
func New(cfg *config.Config, st store.Store, log *slog.Logger) (*Server, error) {
	ccfg := certs.Config{
		Hostname: cfg.Hostname,
		DataDir:  cfg.DataDir,
		CertFile: cfg.TLS.CertFile,
		KeyFile:  cfg.TLS.KeyFile,
		Domains:  domainNames(st),
		Log:      log.With("component", "certs"),
	}
	if a := cfg.ACME; a.Enabled {
		ccfg.ACME = &certs.ACMEConfig{DirectoryURL: a.DirectoryURL, Email: a.Email, Challenge: a.Challenge,
			CARoots: a.CARoots, RenewBefore: time.Duration(a.RenewBefore)}
	}
	mgr, err := certs.New(ccfg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		st:        st,
		log:       log,
		certs:     mgr,
		tls:       mgr.TLSConfig(),
		trace:     trace.NewHub(),
		listeners: map[string]net.Listener{},
		errs:      make(chan error, 8),
	}
	return s, nil
}

// domainNames lists the local domains, as certificates and the HTTPS
// services need them.
func domainNames(st store.Store) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		ds, err := st.ListDomains(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]string, len(ds))
		for i, d := range ds {
			out[i] = d.Name
		}
		return out, nil
	}
}

// listener is one configured address and what serves it.
type listener struct {
	key      string // config key under [listen]
	addr     string
	implicit bool // implicit TLS (RFC 8314)
	serve    func(net.Listener) error
}

// Start opens every configured listener and serves them. Listeners of
// protocols not built yet are accepted in the config and logged as such.
func (s *Server) Start() (err error) {
	c := s.cfg
	s.observe()
	// The admin listener comes first: /readyz tells the start apart.
	s.startAdmin()
	defer func() {
		if err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s.stopAdmin(ctx)
		}
	}()
	// Nodes sharing a store (PostgreSQL) share what must hold across
	// them: the failed logins of each source, and the POP3 maildrops.
	// On the embedded store one process serves; memory is enough.
	var shared store.LoginFailures
	var pop3Locks pop3server.MaildropLocks
	if c.Store.Driver == "postgres" {
		if lf, ok := s.st.(store.LoginFailures); ok {
			shared = lf
		} else {
			s.log.Warn("the store shares no failed-login counts: each node throttles alone")
		}
		if l, ok := s.st.(store.Leases); ok {
			pop3Locks = pop3server.NewStoreLocks(l, time.Minute, s.log.With("component", "pop3"))
		} else {
			s.log.Warn("the store has no leases: each node holds POP3 maildrops alone")
		}
	}
	throttle := auth.NewThrottle(auth.ThrottleConfig{
		Shared:          shared,
		Window:          time.Duration(c.Auth.ThrottleWindow),
		BaseDelay:       time.Duration(c.Auth.ThrottleBaseDelay),
		MaxDelay:        time.Duration(c.Auth.ThrottleMaxDelay),
		Lockout:         time.Duration(c.Auth.ThrottleLockout),
		MaxFailures:     c.Auth.ThrottleMaxFailures,
		AccountMaxDelay: time.Duration(c.Auth.ThrottleAccountMaxDelay),
		HashConcurrency: c.Auth.HashConcurrency,
		HashPerSource:   c.Auth.HashPerSource,
		HashQueue:       c.Auth.HashQueue,
	})
	authn := auth.NewAuthenticator(s.st, throttle, s.log.With("component", "auth"))
	authn.Metrics = s.Metrics
	res, err := dns.New(dns.Config{Servers: c.DNS.Servers, Timeout: time.Duration(c.DNS.Timeout), Attempts: c.DNS.Attempts})
	if err != nil {
		return err
	}
	// The keys every node shares reach data_dir before they are loaded.
	if err := s.syncSharedFiles(c.Inbound.SRS); err != nil {
		return err
	}
	signer, err := dkim.LoadSigner(filepath.Join(c.DataDir, "dkim"))
	if err != nil {
		return err
	}
	if d := signer.Domains(); len(d) > 0 {
		s.log.Info("DKIM signing", "domains", d)
	}
	s.signer = signer
	js, ok := s.st.(store.JunkStore)
	if !ok {
		return errors.New("server: the store keeps no junk rules (store.JunkStore)")
	}
	junkFilter := junk.New(js)
	router := deliver.NewRouter(s.st)
	inbound, err := s.inbound(res, signer, junkFilter)
	if err != nil {
		return err
	}
	if c.Inbound.SRS {
		key, err := srs.LoadOrCreateKey(filepath.Join(c.DataDir, "srs.key"))
		if err != nil {
			return err
		}
		if router.SRS, err = srs.New([][]byte{key}, 0); err != nil {
			return err
		}
	}
	// The secret of the IMAP OBJECTID identifiers (RFC 8474): 32 random
	// bytes made once, like the SRS secret (and by the same code), kept
	// in data_dir and, on a shared store, the same on every node.
	objectIDKey, err := srs.LoadOrCreateKey(filepath.Join(c.DataDir, objectIDKeyFile))
	if err != nil {
		return err
	}
	if err := s.startQueue(res, signer); err != nil {
		return err
	}
	limits, err := connLimits(c.Limits)
	if err != nil {
		return err
	}
	scfg := smtpserver.Config{
		Hostname:               c.Hostname,
		MaxMessageBytes:        c.SMTP.MaxMessageSize,
		MaxRecipients:          c.SMTP.MaxRecipients,
		MaxLineLength:          c.SMTP.MaxLineLength,
		Limits:                 limits,
		MaxErrors:              c.SMTP.MaxErrors,
		ReadTimeout:            time.Duration(c.SMTP.ReadTimeout),
		WriteTimeout:           time.Duration(c.SMTP.WriteTimeout),
		DataTimeout:            time.Duration(c.SMTP.DataTimeout),
		AllowPlaintextLoopback: c.Auth.AllowPlaintextLoopback,
		HideSubmissionClient:   c.SMTP.HideSubmissionClient,
		Outbound:               s.queue,
		Inbound:                inbound,
		Metrics:                s.Metrics,
		Trace:                  s.trace,
	}
	mx := smtpserver.New(smtpserver.ModeMX, scfg, s.st, router, authn, s.tls, s.log)
	sub := smtpserver.New(smtpserver.ModeSubmission, scfg, s.st, router, authn, s.tls, s.log)
	s.smtp = []*smtpserver.Server{mx, sub}
	s.imap = imapserver.New(imapserver.Config{
		Hostname:               c.Hostname,
		Limits:                 limits,
		IdleTimeout:            time.Duration(c.IMAP.IdleTimeout),
		AppendLimit:            c.SMTP.MaxMessageSize,
		AllowPlaintextLoopback: c.Auth.AllowPlaintextLoopback,
		MaxCommandErrors:       c.IMAP.MaxCommandErrors,
		Trainer:                junkFilter,
		Metrics:                s.Metrics,
		Trace:                  s.trace,
		ObjectIDKey:            objectIDKey,
	}, s.st, authn, s.tls, s.log)
	s.pop3 = pop3server.New(pop3server.Config{
		Hostname:               c.Hostname,
		Limits:                 limits,
		IdleTimeout:            time.Duration(c.POP3.IdleTimeout),
		AllowPlaintextLoopback: c.Auth.AllowPlaintextLoopback,
		MaxCommandErrors:       c.POP3.MaxCommandErrors,
		Metrics:                s.Metrics,
		Trace:                  s.trace,
		Locks:                  pop3Locks,
	}, s.st, authn, s.tls, s.log)

	if err := s.startTraceFiles(c.Log); err != nil {
		s.stopQueue()
		<-s.queueDone
		return err
	}
	// The control socket is up before the mail listeners: once a client
	// can connect, so can the admin commands.
	if err := s.startControl(); err != nil {
		s.stopQueue()
		<-s.queueDone
		return err
	}
	all := []listener{
		{"smtp", c.Listen.SMTP, false, mx.Serve},
		{"submission", c.Listen.Submission, false, sub.Serve},
		{"submissions", c.Listen.Submissions, true, sub.Serve},
		{"imap", c.Listen.IMAP, false, s.imap.Serve},
		{"imaps", c.Listen.IMAPS, true, s.imap.Serve},
		{"pop3", c.Listen.POP3, false, s.pop3.Serve},
		{"pop3s", c.Listen.POP3S, true, s.pop3.Serve},
		{"https", c.Listen.HTTPS, false, s.serveHTTPS},
		{"http", c.Listen.HTTP, false, s.serveHTTP},
	}
	for _, l := range all {
		if l.addr == "" {
			continue
		}
		if l.serve == nil {
			s.log.Info("listener configured for a protocol not served yet", "listener", l.key, "addr", l.addr)
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			s.closeListeners()
			s.stopControl()
			s.stopQueue()
			<-s.queueDone
			return fmt.Errorf("listen %s (%s): %w", l.key, l.addr, err)
		}
		if l.implicit {
			ln = tls.NewListener(ln, s.tls)
		}
		s.mu.Lock()
		s.listeners[l.key] = ln
		s.order = append(s.order, l.key)
		s.mu.Unlock()
		s.log.Info("listening", "listener", l.key, "addr", ln.Addr().String(), "implicit_tls", l.implicit)
		s.wg.Add(1)
		go func(l listener, ln net.Listener) {
			defer s.wg.Done()
			if err := l.serve(ln); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, imapserver.ErrServerClosed) &&
				!errors.Is(err, pop3server.ErrServerClosed) && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("listener stopped", "listener", l.key, "err", err)
				s.errs <- fmt.Errorf("%s: %w", l.key, err)
			}
		}(l, ln)
	}
	s.started.Store(true)
	return nil
}

// Addr returns the address a listener is bound to (for tests and the
// banner), or nil.
func (s *Server) Addr(key string) net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.listeners[key]; ok {
		return l.Addr()
	}
	return nil
}

// Listener is a bound listener: its config key ("smtp") and address.
type Listener struct {
	Key, Addr string
}

// Listeners lists the bound listeners in the order they were bound.
func (s *Server) Listeners() []Listener {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Listener
	for _, k := range s.order {
		out = append(out, Listener{Key: k, Addr: s.listeners[k].Addr().String()})
	}
	return out
}

// Errors reports listeners that stopped on their own.
func (s *Server) Errors() <-chan error { return s.errs }

// closeListeners closes the mail and web listeners; the admin listener
// stays until stopAdmin, so that /readyz answers while the server drains.
func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, l := range s.listeners {
		if k != "admin" {
			l.Close()
		}
	}
}

// Shutdown stops accepting, lets transactions in flight finish until ctx
// ends, then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	// Admin commands from now on work on the store directly, as when no
	// server runs; those under way are cancelled (a write already sent
	// to the store still commits).
	s.stopControl()
	var wg sync.WaitGroup
	stops := []func(context.Context) error{s.imap.Shutdown, s.pop3.Shutdown}
	for _, srv := range s.smtp {
		stops = append(stops, srv.Shutdown)
	}
	errs := make([]error, len(stops))
	for i, stop := range stops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = stop(ctx)
		}()
	}
	s.mu.Lock()
	webs := s.web
	s.mu.Unlock()
	for _, hs := range webs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hs.Shutdown(ctx)
		}()
	}
	wg.Wait()
	s.closeListeners()
	s.wg.Wait()
	s.certs.Close()
	// The queue stops last: a delivery in flight keeps its lease and is
	// retried by the next start when the lease runs out.
	s.stopQueue()
	select {
	case <-s.queueDone:
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
	}
	s.stopTraceFiles()
	s.stopAdmin(ctx)
	return errors.Join(errs...)
}

// connLimits turns [limits] into the connection limits every listener
// applies (one netserve.Limits for all, each service counting its own).
func connLimits(l config.Limits) (netserve.Limits, error) {
	out := netserve.Limits{
		MaxConns:      l.MaxConnections,
		MaxConnsPerIP: l.MaxConnectionsPerSource,
		MaxUnauth:     l.MaxUnauthenticated,
		UnauthTimeout: time.Duration(l.UnauthenticatedTimeout),
		ConnRate:      l.ConnectionRate,
		RcptRate:      l.RcptRate,
		MessageRate:   l.MessageRate,
		GreetDelay:    time.Duration(l.GreetDelay),
		LimitLoopback: l.LimitLoopback,
	}
	if out.GreetDelay == 0 {
		out.GreetDelay = -1 // "0s": no early-talker check
	}
	for _, n := range l.ExemptNetworks {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			return out, fmt.Errorf("limits.exempt_networks: %w", err)
		}
		out.Exempt = append(out.Exempt, p.Masked())
	}
	return out.WithDefaults(), nil
}

// inbound builds the checks of mail arriving on the MX and what
// forwarding it needs, from [inbound]: the msgauth checker through res,
// the junk filter, ARC sealing with the domains' RSA DKIM keys. (SRS
// belongs to the router, which both rewrites and routes back.)
func (s *Server) inbound(res dns.Resolver, signer *dkim.Signer, jf *junk.Filter) (smtpserver.Inbound, error) {
	c := s.cfg
	in := smtpserver.Inbound{Junk: jf}
	for _, n := range c.Inbound.TrustedNetworks {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			return in, fmt.Errorf("inbound.trusted_networks: %w", err)
		}
		in.Trusted = append(in.Trusted, p.Masked())
	}
	if c.Inbound.Checks {
		var zones []msgauth.ListZone
		for _, z := range c.Inbound.DNSBLReject {
			zones = append(zones, msgauth.ListZone{Zone: z, Action: "reject"})
		}
		for _, z := range c.Inbound.DNSBLJunk {
			zones = append(zones, msgauth.ListZone{Zone: z, Action: "junk"})
		}
		chk, err := msgauth.New(msgauth.Config{
			AuthServID:        c.Hostname,
			Resolver:          res,
			Timeout:           time.Duration(c.Inbound.CheckTimeout),
			MaxSignatures:     c.Inbound.MaxDKIMSignatures,
			DNSBL:             zones,
			DNSWL:             c.Inbound.DNSWL,
			TrustedARCSealers: c.Inbound.ARCTrustedSealers,
			IsLocalDomain:     s.st.HasDomain,
		})
		if err != nil {
			return in, err
		}
		in.Checker = chk
	}
	if c.Inbound.ARCSeal {
		in.Sealer = func(domain string) *arc.Sealer {
			d, selector, key, ok := signer.RSAKey(domain)
			if !ok {
				return nil
			}
			return &arc.Sealer{Domain: d, Selector: selector, Key: key}
		}
	}
	return in, nil
}

// startQueue starts outbound delivery: resolving with res, signing with
// signer (DKIM keys from data_dir/dkim: signing is on for every domain
// with keys there), workers.
func (s *Server) startQueue(res dns.Resolver, signer *dkim.Signer) error {
	c := s.cfg
	s.queue = queue.New(queue.Config{
		Hostname:             c.Hostname,
		Workers:              c.Queue.Workers,
		Lease:                time.Duration(c.Queue.Lease),
		PollInterval:         time.Duration(c.Queue.PollInterval),
		Lifetime:             time.Duration(c.Queue.Lifetime),
		DelayWarning:         time.Duration(c.Queue.DelayWarning),
		RetryBase:            time.Duration(c.Queue.RetryBase),
		RetryMax:             time.Duration(c.Queue.RetryMax),
		PerDomainConcurrency: c.Queue.PerDomainConcurrency,
		PerDomainRate:        c.Queue.PerDomainRate,
		PerAccountDailyLimit: c.Queue.PerAccountDailyLimit,
		Port:                 c.Queue.Port,
		AllowPrivate:         c.Queue.AllowPrivateDestinations,
		Metrics:              s.Metrics,
	}, s.st, res, signer, s.log)
	ctx, cancel := context.WithCancel(context.Background())
	s.stopQueue, s.queueDone = cancel, make(chan struct{})
	go func() {
		defer close(s.queueDone)
		if err := s.queue.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("queue stopped", "err", err)
		}
	}()
	return nil
}
