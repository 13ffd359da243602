package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"
)

// Where a certificate in service came from (CertInfo.Source).
const (
	SourceFile       = "file"        // the operator's [tls] files
	SourceSelfSigned = "self-signed" // made by LoadOrCreate
	SourceACME       = "acme"        // obtained from the ACME certificate authority
)

// DefaultPollInterval is how often the operator's certificate files are
// checked for a change when Config.PollInterval is zero.
const DefaultPollInterval = time.Minute

// Config says where a Manager's certificates come from: ACME when ACME is
// set, else the operator's files when CertFile or KeyFile is set, else a
// self-signed certificate kept in DataDir/tls.
type Config struct {
	// Hostname is the server's name: the name of the self-signed
	// certificate, the name the operator's certificate should cover, and
	// the certificate served to clients that send no (or an unknown) name
	// in their TLS ClientHello (RFC 6066 §3).
	Hostname string
	// DataDir holds tls/ (the self-signed certificate, also the stand-in
	// while ACME has not delivered) and acme/ (the ACME account key and
	// certificates).
	DataDir string
	// CertFile and KeyFile are the operator's PEM files ([tls] cert_file,
	// key_file), reloaded when they change and on Reload.
	CertFile, KeyFile string
	// ACME, when set, obtains and renews certificates for Names(Hostname,
	// Domains()).
	ACME *ACMEConfig
	// Domains lists the local domains (ACME only); it is called by New and
	// by every Reload.
	Domains func(context.Context) ([]string, error)
	// PollInterval is how often the operator's files are checked for a
	// change (size, modification time, inode); zero means
	// DefaultPollInterval.
	PollInterval time.Duration
	// Log receives what happens to certificates; nil means slog.Default().
	Log *slog.Logger
	// OnChange, when set, is called after a certificate is put into service
	// (at start, on reload, after an ACME issuance or renewal), for metrics.
	// It must not block.
	OnChange func(CertInfo)
}

// ACMEConfig holds the settings of ACME (RFC 8555) certificates.
type ACMEConfig struct {
	// DirectoryURL is the certificate authority's directory.
	DirectoryURL string
	// Email is the contact given to the authority; empty for none.
	Email string
	// Challenge is "tls-alpn-01" (RFC 8737, answered on the HTTPS listener
	// through HTTPSTLSConfig) or "http-01" (RFC 8555 §8.3, answered by
	// HTTPHandler on port 80). With "http-01", tls-alpn-01 is still tried
	// first, as x/crypto/acme/autocert does, and http-01 when it fails.
	Challenge string
	// CARoots is a PEM file of roots trusted, besides the system's, for the
	// HTTPS connections to the authority; empty for the system's only.
	CARoots string
	// RenewBefore is how long before expiry a certificate is renewed
	// (autocert caps it at 30 days).
	RenewBefore time.Duration
}

// CertInfo describes a certificate in service.
type CertInfo struct {
	// Name is what it is served for: an ACME name, or for the operator's
	// and the self-signed certificate, the hostname.
	Name     string
	Source   string // SourceFile, SourceSelfSigned or SourceACME
	NotAfter time.Time
	Leaf     *x509.Certificate
}

// Manager is the one source of the server certificate: every TLS listener
// and STARTTLS takes its tls.Config from TLSConfig (HTTPSTLSConfig for the
// HTTPS listener), whose GetCertificate reads the certificate in service at
// each handshake. A renewal or reload is seen by the next handshake on
// every listener at once; open connections keep the certificate they
// started with.
//
// Invariant: the certificates in service are an immutable snapshot behind
// an atomic pointer, replaced whole under mu, so handshakes never lock.
// OnChange runs after mu is released.
type Manager struct {
	cfg      Config
	log      *slog.Logger
	interval time.Duration

	state atomic.Pointer[served]

	mu    sync.Mutex // serialises changes of state, reloads, and the fields of files and acme
	files *fileSource
	acme  *acmeSource

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// served is a snapshot of the certificates in service.
type served struct {
	byName   map[string]*entry // ACME certificates by name
	hostname string
	fallback *entry // the operator's or the self-signed certificate
}

// entry is one certificate in service.
type entry struct {
	cert *tls.Certificate
	info CertInfo
}

// pick returns the certificate for the name a client asked for: its own if
// there is one, else the hostname's, else the fallback.
func (s *served) pick(sni string) *entry {
	if e := s.byName[normalize(sni)]; e != nil {
		return e
	}
	if e := s.byName[s.hostname]; e != nil {
		return e
	}
	return s.fallback
}

// New builds a Manager and puts its first certificate in service: it loads
// the operator's files (an error if they are unusable) or the self-signed
// certificate; with ACME, it loads the certificates kept in DataDir/acme
// before returning, and obtains the missing ones in the background,
// serving meanwhile the hostname's certificate, or the self-signed one
// until the hostname has one. Close stops the background work.
func New(cfg Config) (*Manager, error) {
	if cfg.Hostname == "" {
		return nil, errors.New("certs: empty hostname")
	}
	cfg.Hostname = normalize(cfg.Hostname)
	m := &Manager{cfg: cfg, log: cfg.Log, interval: cfg.PollInterval}
	if m.log == nil {
		m.log = slog.Default()
	}
	m.log = m.log.With("component", "certs")
	if m.interval <= 0 {
		m.interval = DefaultPollInterval
	}
	m.state.Store(&served{hostname: cfg.Hostname})
	m.ctx, m.cancel = context.WithCancel(context.Background())

	var err error
	switch {
	case cfg.ACME != nil:
		err = m.startACME()
	case cfg.CertFile != "" || cfg.KeyFile != "":
		err = m.startFiles()
	default:
		err = m.loadSelfSigned()
	}
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// loadSelfSigned puts the self-signed certificate of LoadOrCreate in
// service as the fallback.
func (m *Manager) loadSelfSigned() error {
	cert, err := loadOrCreate(m.log, m.cfg.DataDir, m.cfg.Hostname, "", "")
	if err != nil {
		return err
	}
	m.mu.Lock()
	changed := m.setFallback(&cert, SourceSelfSigned)
	m.mu.Unlock()
	m.changed(changed)
	return nil
}

// GetCertificate is the tls.Config.GetCertificate of every listener: the
// certificate for the name in the ClientHello (RFC 6066 §3), else the
// hostname's.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return m.state.Load().pick(hello.ServerName).cert, nil
}

// TLSConfig returns the configuration for every TLS listener and STARTTLS
// except HTTPS: the Manager's certificates, TLS 1.2 at least, and Go's
// default cipher suites and curves otherwise. RFC 8996 deprecates TLS 1.0
// and 1.1; RFC 8997 §3 (updating RFC 8314 §4.1) makes TLS 1.2 the minimum
// for submission and access.
func (m *Manager) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: m.GetCertificate,
	}
}

// HTTPSTLSConfig returns the configuration of the HTTPS listener: as
// TLSConfig, with ALPN for HTTP/2 and HTTP/1.1 and, with ACME, for the
// tls-alpn-01 challenge (RFC 8737 §3: "acme-tls/1"), whose validation
// handshakes get the challenge certificate.
func (m *Manager) HTTPSTLSConfig() *tls.Config {
	c := m.TLSConfig()
	c.NextProtos = []string{"h2", "http/1.1"}
	if m.acme != nil {
		c.NextProtos = append(c.NextProtos, acme.ALPNProto)
		c.GetCertificate = m.getHTTPSCertificate
	}
	return c
}

// getHTTPSCertificate answers tls-alpn-01 validation handshakes, which
// offer "acme-tls/1" as their only protocol (RFC 8737 §3), with the
// challenge certificate, and other handshakes as GetCertificate.
func (m *Manager) getHTTPSCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acme.ALPNProto {
		return m.acme.challengeCert(hello)
	}
	return m.GetCertificate(hello)
}

// HTTPHandler returns the handler of the plain HTTP listener (port 80):
// with ACME's http-01 challenge, it answers the validation requests under
// /.well-known/acme-challenge/ (RFC 8555 §8.3); everything else goes to
// fallback (typically a redirect to HTTPS), or is answered 404 when
// fallback is nil.
func (m *Manager) HTTPHandler(fallback http.Handler) http.Handler {
	if fallback == nil {
		fallback = http.NotFoundHandler()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.acme != nil && strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
			if h := m.acme.http01Handler(); h != nil {
				h.ServeHTTP(w, r)
				return
			}
		}
		fallback.ServeHTTP(w, r)
	})
}

// Reload re-reads what the certificates depend on, as SIGHUP asks: the
// operator's files (a broken file keeps the certificate in service, and
// the error is returned and logged), the self-signed certificate (made
// anew if the hostname is no longer covered or it is about to expire), or
// with ACME the list of domains (certificates for new names are obtained
// in the background, names no longer listed stop being served and renewed,
// and names whose last attempt failed are tried again at once).
func (m *Manager) Reload() error {
	switch {
	case m.acme != nil:
		return m.reloadACME()
	case m.files != nil:
		m.mu.Lock()
		changed, err := m.loadFiles(true)
		m.mu.Unlock()
		m.changed(changed)
		return err
	default:
		return m.loadSelfSigned()
	}
}

// Certificates lists the certificates in service, for metrics: the
// fallback first (the operator's or the self-signed one), then the ACME
// certificates by name.
func (m *Manager) Certificates() []CertInfo {
	s := m.state.Load()
	var out []CertInfo
	if s.fallback != nil {
		out = append(out, s.fallback.info)
	}
	for _, name := range sortedKeys(s.byName) {
		out = append(out, s.byName[name].info)
	}
	return out
}

// Close stops the background work: the polling of the operator's files,
// ACME issuance and renewal (in-flight requests to the authority are
// cancelled). Handshakes keep being answered with the certificates in
// service.
func (m *Manager) Close() error {
	m.cancel()
	if m.acme != nil {
		m.mu.Lock()
		m.acme.retire()
		m.mu.Unlock()
	}
	m.wg.Wait()
	return nil
}

// setFallback puts cert in service as the fallback; m.mu is held. It
// returns what changed, for changed, or nil when cert is already in
// service.
func (m *Manager) setFallback(cert *tls.Certificate, source string) *CertInfo {
	old := m.state.Load()
	if old.fallback != nil && sameCert(old.fallback.cert, cert) {
		return nil
	}
	e := newEntry(m.cfg.Hostname, source, cert)
	next := *old
	next.fallback = e
	m.state.Store(&next)
	return &e.info
}

// setName puts cert in service for name; m.mu is held. It returns what
// changed, or nil when cert is already in service.
func (m *Manager) setName(name string, cert *tls.Certificate) *CertInfo {
	old := m.state.Load()
	if e := old.byName[name]; e != nil && sameCert(e.cert, cert) {
		return nil
	}
	e := newEntry(name, SourceACME, cert)
	next := *old
	next.byName = maps.Clone(old.byName)
	if next.byName == nil {
		next.byName = map[string]*entry{}
	}
	next.byName[name] = e
	m.state.Store(&next)
	return &e.info
}

// keepNames stops serving ACME certificates of names not in keep; m.mu is
// held.
func (m *Manager) keepNames(keep map[string]bool) {
	old := m.state.Load()
	next := *old
	next.byName = maps.Clone(old.byName)
	maps.DeleteFunc(next.byName, func(name string, _ *entry) bool { return !keep[name] })
	m.state.Store(&next)
}

// changed logs a certificate put into service and tells OnChange; m.mu is
// not held. A nil info is no change.
func (m *Manager) changed(info *CertInfo) {
	if info == nil {
		return
	}
	m.log.Info("certificate in service", "name", info.Name, "source", info.Source,
		"not_after", info.NotAfter.UTC().Format(time.RFC3339), "serial", info.Leaf.SerialNumber.Text(16))
	if m.cfg.OnChange != nil {
		m.cfg.OnChange(*info)
	}
}

// newEntry describes cert, whose chain has been parsed successfully
// before; its Leaf is set here if the loader did not.
func newEntry(name, source string, cert *tls.Certificate) *entry {
	if cert.Leaf == nil {
		cert.Leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	return &entry{cert: cert, info: CertInfo{
		Name:     name,
		Source:   source,
		NotAfter: cert.Leaf.NotAfter,
		Leaf:     cert.Leaf,
	}}
}

// sameCert reports whether a and b hold the same certificate chain.
func sameCert(a, b *tls.Certificate) bool {
	if len(a.Certificate) != len(b.Certificate) {
		return false
	}
	for i := range a.Certificate {
		if !bytes.Equal(a.Certificate[i], b.Certificate[i]) {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
