package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const hostname = "mail.example.org"

// localDomains is the Domains function of the tests.
func localDomains(context.Context) ([]string, error) {
	return []string{"example.org", "Example.NET."}, nil
}

func testConfig() Config {
	return Config{Hostname: hostname, Domains: localDomains, Ports: StandardPorts}
}

// testCert makes a self-signed certificate for names, and a pool trusting
// it.
func testCert(t *testing.T, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: names[0]},
		DNSNames:              names,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// serveTLS runs h on a real HTTPS server on 127.0.0.1, with the server
// settings of NewServer and a certificate for every name the tests use,
// and returns a client that sends every request there and verifies the
// certificate against the name in the URL. It never follows redirects:
// RFC 8461 §3.3 forbids it for policies, and the tests look at them.
func serveTLS(t *testing.T, h http.Handler) *http.Client {
	t.Helper()
	cert, pool := testCert(t, hostname, "mta-sts.example.org", "autoconfig.example.org", "example.org",
		"mta-sts.example.net", "autoconfig.example.net", "mta-sts.other.org", "autoconfig.other.org", "other.org", "autodiscover.example.org")
	srv := httptest.NewUnstartedServer(h)
	recommended := NewServer(h, slog.New(slog.DiscardHandler))
	srv.Config.ReadHeaderTimeout = recommended.ReadHeaderTimeout
	srv.Config.MaxHeaderBytes = recommended.MaxHeaderBytes
	srv.Config.ErrorLog = recommended.ErrorLog
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	transport := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(transport.CloseIdleConnections)
	return &http.Client{
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// do sends a request and returns the response with its body read.
func do(t *testing.T, c *http.Client, method, url, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// wantPlainError checks an error answer: status, text/plain, the text.
func wantPlainError(t *testing.T, resp *http.Response, body string, status int, text string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d (body %q)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q, want text/plain", ct)
	}
	if !strings.Contains(body, text) {
		t.Errorf("body %q, want it to contain %q", body, text)
	}
}

func TestNotFound(t *testing.T) {
	c := serveTLS(t, New(testConfig()))
	for _, url := range []string{
		"https://mail.example.org/",
		"https://mail.example.org/.well-known/",
		"https://mail.example.org/mail/",
		"https://mail.example.org/../../etc/passwd",
		"https://mail.example.org/mail/config-v1.1.xml/",
		"https://mail.example.org/.well-known/mta-sts.txt.bak",
		"https://mail.example.org/autodiscover/",
	} {
		resp, body := do(t, c, "GET", url, "")
		wantPlainError(t, resp, body, http.StatusNotFound, "not found")
	}
}

func TestMethodNotAllowed(t *testing.T) {
	c := serveTLS(t, New(testConfig()))
	tests := []struct{ method, url, allow string }{
		{"POST", "https://mta-sts.example.org/.well-known/mta-sts.txt", "GET, HEAD"},
		{"PUT", "https://autoconfig.example.org/mail/config-v1.1.xml", "GET, HEAD"},
		{"GET", "https://mail.example.org/autodiscover/autodiscover.xml", "POST"},
	}
	for _, tt := range tests {
		resp, body := do(t, c, tt.method, tt.url, "")
		wantPlainError(t, resp, body, http.StatusMethodNotAllowed, "method not allowed")
		if got := resp.Header.Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.url, got, tt.allow)
		}
	}
}

// recorder is a slog.Handler keeping the records it gets.
type recorder struct {
	records *[]slog.Record
}

func (r recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r recorder) Handle(_ context.Context, rec slog.Record) error {
	*r.records = append(*r.records, rec)
	return nil
}
func (r recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r recorder) WithGroup(string) slog.Handler      { return r }

func TestDomainsError(t *testing.T) {
	var records []slog.Record
	cfg := testConfig()
	cfg.Log = slog.New(recorder{&records})
	cfg.Domains = func(context.Context) ([]string, error) {
		return nil, errors.New("store: database is locked")
	}
	h := New(cfg)
	tests := []struct{ method, url, body string }{
		{"GET", "https://mta-sts.example.org/.well-known/mta-sts.txt", ""},
		{"GET", "https://autoconfig.example.org/mail/config-v1.1.xml", ""},
		{"POST", "https://mail.example.org/autodiscover/autodiscover.xml", outlookRequest("alice@example.org")},
	}
	for _, tt := range tests {
		// In process: the log records are read without racing the server.
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(tt.method, tt.url, strings.NewReader(tt.body)))
		resp := w.Result()
		wantPlainError(t, resp, w.Body.String(), http.StatusInternalServerError, "internal error")
		if strings.Contains(w.Body.String(), "locked") {
			t.Errorf("%s: the error text reached the client: %q", tt.url, w.Body.String())
		}
	}
	if len(records) != len(tests) {
		t.Fatalf("%d log records, want %d", len(records), len(tests))
	}
	for _, rec := range records {
		var logged string
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "err" {
				logged = a.Value.String()
			}
			return true
		})
		if rec.Level != slog.LevelError || logged != "store: database is locked" {
			t.Errorf("log record %v %q err=%q", rec.Level, rec.Message, logged)
		}
	}
}

func TestHeaderLimit(t *testing.T) {
	c := serveTLS(t, New(testConfig()))
	req, err := http.NewRequest("GET", "https://mta-sts.example.org/.well-known/mta-sts.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d for 64 KiB of header, want 431", resp.StatusCode)
	}
}

func TestNewServer(t *testing.T) {
	srv := NewServer(http.NotFoundHandler(), nil)
	for name, got := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout,
		"ReadTimeout":       srv.ReadTimeout,
		"WriteTimeout":      srv.WriteTimeout,
		"IdleTimeout":       srv.IdleTimeout,
	} {
		if got <= 0 || got > 2*time.Minute {
			t.Errorf("%s = %v, want a bound of at most 2 minutes", name, got)
		}
	}
	if srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 64<<10 {
		t.Errorf("MaxHeaderBytes = %d", srv.MaxHeaderBytes)
	}
	if srv.ErrorLog == nil {
		t.Error("no ErrorLog: handshake errors would go to the standard logger")
	}
}

func TestListenPort(t *testing.T) {
	tests := []struct {
		addr string
		want int
	}{
		{":993", 993},
		{"127.0.0.1:2993", 2993},
		{"[::1]:587", 587},
		{"", 0},
		{"localhost", 0},
		{":imaps", 0},
		{":0", 0},
		{":70000", 0},
	}
	for _, tt := range tests {
		if got := ListenPort(tt.addr); got != tt.want {
			t.Errorf("ListenPort(%q) = %d, want %d", tt.addr, got, tt.want)
		}
	}
}
