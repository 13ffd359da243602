package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// ACME with golang.org/x/crypto/acme/autocert. autocert obtains one
// certificate per name and renews it on its own timers; the Manager uses
// it for that and for the challenges, but serves from its own snapshot:
// every certificate autocert stores in the cache (dirCache.put) goes into
// service at once, for every listener, before autocert itself returns.
//
// autocert has no way to stop its renewal timers. When names are dropped
// (Reload) or the Manager closes, the autocert.Manager in use is retired:
// its HTTP client refuses every further request to the authority, so its
// timers fail quietly, and a new one takes over the names that remain.

const (
	// firstRetry and maxRetry bound the wait after a failed issuance,
	// doubled at each failure: Let's Encrypt allows 5 failed validations
	// per hostname and hour.
	firstRetry = 5 * time.Minute
	maxRetry   = time.Hour
	// checkEvery is the longest the issuing loop sleeps: it wakes to see
	// whether a renewal is overdue.
	checkEvery = time.Hour
)

// acmeSource is the ACME side of a Manager. The fields from ac on are
// guarded by Manager.mu.
type acmeSource struct {
	m         *Manager
	cfg       ACMEConfig
	cache     *dirCache
	transport http.RoundTripper // trusts the system's roots and cfg.CARoots
	wake      chan struct{}     // a Reload asks the loop to look again

	ac      *autocert.Manager
	http01  http.Handler       // of ac, with the http-01 challenge
	stopAC  context.CancelFunc // retires ac
	names   map[string]bool    // Names(hostname, domains)
	loaded  map[string]bool    // names ac has a certificate for
	retries map[string]retry   // names whose last issuance failed
}

// retry is when a failed name is tried again.
type retry struct {
	failures int
	at       time.Time
}

// startACME loads the certificates already obtained and starts the loop
// that obtains the others.
func (m *Manager) startACME() error {
	c := m.cfg.ACME
	if m.cfg.Domains == nil {
		return errors.New("certs: ACME needs the list of local domains")
	}
	switch c.Challenge {
	case "tls-alpn-01", "http-01":
	default:
		return fmt.Errorf("certs: ACME challenge %q is not one of tls-alpn-01, http-01", c.Challenge)
	}
	// The self-signed certificate stands in until the first ACME one.
	if err := m.loadSelfSigned(); err != nil {
		return err
	}
	cache, err := newDirCache(filepath.Join(m.cfg.DataDir, "acme"))
	if err != nil {
		return err
	}
	transport, err := acmeTransport(c.CARoots)
	if err != nil {
		return err
	}
	a := &acmeSource{m: m, cfg: *c, cache: cache, transport: transport, wake: make(chan struct{}, 1)}
	cache.put = a.stored
	domains, err := m.cfg.Domains(m.ctx)
	if err != nil {
		return fmt.Errorf("certs: listing local domains: %w", err)
	}
	m.mu.Lock()
	m.acme = a
	a.names = toSet(Names(m.cfg.Hostname, domains))
	a.newAutocert()
	m.mu.Unlock()
	a.loadCached()
	m.wg.Add(1)
	go a.loop()
	return nil
}

// acmeTransport returns the transport to the authority: Go's default,
// trusting the roots in the PEM file caRoots besides the system's.
func acmeTransport(caRoots string) (http.RoundTripper, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if caRoots == "" {
		return t, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool() // No system roots: the file's only.
	}
	pem, err := os.ReadFile(caRoots)
	if err != nil {
		return nil, fmt.Errorf("certs: ACME roots: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("certs: ACME roots: no certificate in %s", caRoots)
	}
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return t, nil
}

// newAutocert retires the autocert.Manager in use, if any, and makes a
// new one, which knows no certificate yet; m.mu is held.
func (a *acmeSource) newAutocert() {
	a.retire()
	ctx, cancel := context.WithCancel(a.m.ctx)
	a.stopAC = cancel
	a.ac = &autocert.Manager{
		// Enabling ACME is the operator's agreement to the authority's terms.
		Prompt:      autocert.AcceptTOS,
		Cache:       a.cache,
		HostPolicy:  a.hostPolicy,
		RenewBefore: a.cfg.RenewBefore,
		Email:       a.cfg.Email,
		Client: &acme.Client{
			DirectoryURL: a.cfg.DirectoryURL,
			UserAgent:    "postel",
			HTTPClient: &http.Client{
				Transport: &gate{ctx: ctx, base: a.transport},
				Timeout:   time.Minute,
			},
		},
	}
	a.http01 = nil
	if a.cfg.Challenge == "http-01" {
		a.http01 = a.ac.HTTPHandler(http.NotFoundHandler())
	}
	a.loaded = map[string]bool{}
}

// retire stops the autocert.Manager in use from reaching the authority;
// m.mu is held.
func (a *acmeSource) retire() {
	if a.stopAC != nil {
		a.stopAC()
	}
}

// hostPolicy is the autocert.HostPolicy: only the names of Names, so that
// no client can make us ask for a certificate for a name of its choice. A
// port (in an http-01 request's Host) is ignored.
func (a *acmeSource) hostPolicy(_ context.Context, host string) error {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	a.m.mu.Lock()
	ok := a.names[normalize(host)]
	a.m.mu.Unlock()
	if !ok {
		return fmt.Errorf("certs: %q is not a name of this server", host)
	}
	return nil
}

// challengeCert answers a tls-alpn-01 validation handshake.
func (a *acmeSource) challengeCert(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	a.m.mu.Lock()
	ac := a.ac
	a.m.mu.Unlock()
	return ac.GetCertificate(hello)
}

// http01Handler returns the handler of http-01 validation requests, or nil
// when that challenge is not used.
func (a *acmeSource) http01Handler() http.Handler {
	a.m.mu.Lock()
	defer a.m.mu.Unlock()
	return a.http01
}

// stored is dirCache.put: a certificate autocert obtained or renewed goes
// into service.
func (a *acmeSource) stored(key string, data []byte) {
	if strings.Contains(key, "+") {
		return // The account key, an RSA certificate (never asked for) or challenge material.
	}
	cert, err := parseCached(key, data, time.Now())
	if err != nil {
		a.m.log.Error("ACME certificate stored but unusable", "name", key, "err", err)
		return
	}
	a.m.mu.Lock()
	var changed *CertInfo
	if a.names[key] {
		changed = a.m.setName(key, cert)
	}
	a.m.mu.Unlock()
	a.m.changed(changed)
}

// parseCached parses what autocert stores for a certificate (the private
// key, then the chain, in PEM) and checks it is valid for name at now.
func parseCached(name string, data []byte, now time.Time) (*tls.Certificate, error) {
	cert, err := tls.X509KeyPair(data, data)
	if err != nil {
		return nil, err
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, err
		}
		cert.Leaf = leaf
	}
	if err := leaf.VerifyHostname(name); err != nil {
		return nil, err
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("valid from %s to %s", leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &cert, nil
}

// loadCached puts in service, before returning, the certificates of the
// names whose certificate is in the cache and still valid, so that a
// restart serves them from the first handshake.
func (a *acmeSource) loadCached() {
	a.m.mu.Lock()
	var names []string
	for name := range a.names {
		if !a.loaded[name] {
			names = append(names, name)
		}
	}
	a.m.mu.Unlock()
	for _, name := range names {
		data, err := a.cache.Get(a.m.ctx, name)
		if err != nil {
			continue
		}
		if _, err := parseCached(name, data, time.Now()); err != nil {
			continue // Obtained anew by the loop.
		}
		a.obtain(name) // From the cache: no request to the authority.
	}
}

// loop obtains the certificates of names that have none, until Close.
func (a *acmeSource) loop() {
	defer a.m.wg.Done()
	for {
		due, wait := a.due(time.Now())
		for _, name := range due {
			if a.m.ctx.Err() != nil {
				return
			}
			a.obtain(name)
		}
		if len(due) > 0 {
			continue // Compute the next wait from the results.
		}
		a.checkOverdue(time.Now())
		t := time.NewTimer(wait)
		select {
		case <-a.m.ctx.Done():
			t.Stop()
			return
		case <-a.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// due returns the names to obtain now, and how long to wait for the next
// one otherwise.
func (a *acmeSource) due(now time.Time) ([]string, time.Duration) {
	a.m.mu.Lock()
	defer a.m.mu.Unlock()
	var due []string
	wait := checkEvery
	for _, name := range sortedKeys(a.names) {
		if a.loaded[name] {
			continue
		}
		r, failed := a.retries[name]
		if !failed || !now.Before(r.at) {
			due = append(due, name)
		} else {
			wait = min(wait, r.at.Sub(now))
		}
	}
	return due, wait
}

// obtain asks the autocert.Manager in use for the certificate of name:
// from its memory, from the cache, or from the authority (blocking for as
// long as the validation takes).
func (a *acmeSource) obtain(name string) {
	a.m.mu.Lock()
	ac := a.ac
	a.m.mu.Unlock()
	cert, err := ac.GetCertificate(helloFor(name))
	a.m.mu.Lock()
	if ac != a.ac || !a.names[name] || a.m.ctx.Err() != nil {
		a.m.mu.Unlock() // Retired, dropped or closed meanwhile.
		return
	}
	var changed *CertInfo
	if err != nil {
		r := a.retries[name]
		r.failures++
		wait := min(firstRetry<<(r.failures-1), maxRetry)
		r.at = time.Now().Add(wait)
		if a.retries == nil {
			a.retries = map[string]retry{}
		}
		a.retries[name] = r
		a.m.log.Error("ACME certificate not obtained", "name", name, "err", err, "failures", r.failures, "retry_in", wait.String())
	} else {
		delete(a.retries, name)
		a.loaded[name] = true
		changed = a.m.setName(name, cert)
	}
	a.m.mu.Unlock()
	a.m.changed(changed)
}

// checkOverdue logs the ACME certificates in service whose renewal should
// have happened long ago: autocert's renewal fails silently, and retries
// every half hour.
func (a *acmeSource) checkOverdue(now time.Time) {
	for _, info := range a.m.Certificates() {
		if info.Source == SourceACME && info.NotAfter.Sub(now) < a.cfg.RenewBefore/2 {
			a.m.log.Warn("ACME certificate not renewed yet", "name", info.Name, "not_after", info.NotAfter.UTC().Format(time.RFC3339))
		}
	}
}

// reloadACME re-reads the local domains.
func (m *Manager) reloadACME() error {
	a := m.acme
	domains, err := m.cfg.Domains(m.ctx)
	if err != nil {
		m.log.Error("local domains not listed; the ACME names stay", "err", err)
		return fmt.Errorf("certs: listing local domains: %w", err)
	}
	names := toSet(Names(m.cfg.Hostname, domains))
	m.mu.Lock()
	dropped := false
	for name := range a.names {
		if !names[name] {
			dropped = true
		}
	}
	// Failed names are tried again at once, the operator may have fixed
	// their DNS: by a new autocert.Manager, as the one in use refuses a
	// name for a minute after a failure.
	fresh := dropped || len(a.retries) > 0
	a.names = names
	a.retries = nil
	if fresh {
		m.keepNames(names)
		a.newAutocert()
	}
	m.mu.Unlock()
	if fresh {
		a.loadCached()
	}
	select {
	case a.wake <- struct{}{}:
	default:
	}
	return nil
}

// helloFor is the ClientHello the Manager presents to autocert to get the
// certificate of name: one of a client supporting ECDSA, so that autocert
// keeps ECDSA P-256 certificates (every TLS 1.2 client has ECDSA).
func helloFor(name string) *tls.ClientHelloInfo {
	return &tls.ClientHelloInfo{
		ServerName:       name,
		SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedCurves:  []tls.CurveID{tls.CurveP256},
		CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
	}
}

// gate is the HTTP transport of one autocert.Manager: closed when ctx is
// done, which also cancels requests in flight.
type gate struct {
	ctx  context.Context
	base http.RoundTripper
}

var errRetired = errors.New("certs: ACME client retired")

// RoundTrip implements http.RoundTripper.
func (g *gate) RoundTrip(req *http.Request) (*http.Response, error) {
	if g.ctx.Err() != nil {
		return nil, errRetired
	}
	ctx, cancel := context.WithCancel(req.Context())
	stop := context.AfterFunc(g.ctx, cancel)
	release := func() {
		stop()
		cancel()
	}
	resp, err := g.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		release()
		return nil, err
	}
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// releaseBody releases a request's context when its body is closed.
type releaseBody struct {
	io.ReadCloser
	release func()
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

func toSet(names []string) map[string]bool {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return set
}
