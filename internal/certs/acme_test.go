package certs

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
)

// domainList is a Domains function whose answer the test changes.
type domainList struct {
	mu      sync.Mutex
	domains []string
}

func (d *domainList) set(domains ...string) {
	d.mu.Lock()
	d.domains = domains
	d.mu.Unlock()
}

func (d *domainList) get(context.Context) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.domains), nil
}

// cachedPair writes what autocert keeps for a certificate of name (the
// key, then the certificate, in PEM) into the ACME directory of dataDir,
// and returns its serial number.
func cachedPair(t *testing.T, dataDir, name string) *big.Int {
	t.Helper()
	certPEM, keyPEM, serial := pair(t, name, time.Now().Add(60*24*time.Hour))
	dir := filepath.Join(dataDir, "acme")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, name), append(keyPEM, certPEM...))
	return serial
}

// TestACMEOffline runs ACME against an authority that cannot be reached:
// the certificates already in data_dir/acme are served from the first
// handshake, each for its name; the names without one fail, are logged,
// and get the hostname's certificate meanwhile; a certificate stored by
// autocert goes into service at once; Reload drops names of removed
// domains; a restart serves what is cached.
func TestACMEOffline(t *testing.T) {
	const host = "mail.example.org"
	dataDir := t.TempDir()
	serialHost := cachedPair(t, dataDir, host)
	serialSTS := cachedPair(t, dataDir, "mta-sts.example.org")
	domains := &domainList{}
	domains.set("example.org", "example.net")
	log := newLogs()
	ch := make(changes, 64)
	cfg := Config{
		Hostname: host,
		DataDir:  dataDir,
		ACME: &ACMEConfig{
			DirectoryURL: "https://127.0.0.1:1/directory", // Nothing listens on port 1.
			Challenge:    "tls-alpn-01",
			RenewBefore:  30 * 24 * time.Hour,
		},
		Domains:  domains.get,
		Log:      slog.New(log),
		OnChange: ch.report,
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })

	// In service before New returned: the self-signed stand-in and the
	// two cached certificates.
	var got []string
	for _, info := range m.Certificates() {
		got = append(got, info.Name+"/"+info.Source)
	}
	if want := []string{host + "/self-signed", host + "/acme", "mta-sts.example.org/acme"}; !slices.Equal(got, want) {
		t.Fatalf("Certificates() = %q, want %q", got, want)
	}
	addr := echoServer(t, m.HTTPSTLSConfig())
	for sni, want := range map[string]*big.Int{
		host:                     serialHost,
		"MTA-STS.example.org":    serialSTS,
		"":                       serialHost,
		"autoconfig.example.org": serialHost, // Not obtained yet.
		"www.example.com":        serialHost, // Not ours.
	} {
		if got := servedSerial(t, addr, sni); got.Cmp(want) != 0 {
			t.Errorf("SNI %q: served %x, want %x", sni, got, want)
		}
	}

	// The names without a certificate were asked for, failed, and were
	// logged; a Reload tries them again at once, not after the backoff.
	// Three names have no certificate: their first attempts fail in turn,
	// then the next waits five minutes.
	log.waitCount(t, slog.LevelError, "ACME certificate not obtained", 3)
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	log.waitCount(t, slog.LevelError, "ACME certificate not obtained", 4)

	// A tls-alpn-01 handshake with no validation under way gets nothing.
	_, err = tls.Dial("tcp", addr, &tls.Config{ServerName: host, NextProtos: []string{acme.ALPNProto}, InsecureSkipVerify: true})
	if err == nil {
		t.Error("an acme-tls/1 handshake without a pending challenge succeeded")
	}
	if !slices.Contains(m.HTTPSTLSConfig().NextProtos, acme.ALPNProto) || slices.Contains(m.TLSConfig().NextProtos, acme.ALPNProto) {
		t.Errorf("NextProtos: https %q, others %q", m.HTTPSTLSConfig().NextProtos, m.TLSConfig().NextProtos)
	}
	// With tls-alpn-01, port 80 has no challenge to answer.
	w := httptest.NewRecorder()
	m.HTTPHandler(nil).ServeHTTP(w, httptest.NewRequest("GET", "http://"+host+"/.well-known/acme-challenge/abc", nil))
	if w.Code != http.StatusNotFound {
		t.Errorf("http-01 request with tls-alpn-01: status %d", w.Code)
	}

	// What autocert stores goes into service at once, for names of ours
	// only.
	certPEM, keyPEM, serialAC := pair(t, "autoconfig.example.org", time.Now().Add(60*24*time.Hour))
	if err := m.acme.cache.Put(context.Background(), "autoconfig.example.org", append(keyPEM, certPEM...)); err != nil {
		t.Fatal(err)
	}
	if info := ch.nextFor(t, "autoconfig.example.org"); info.Leaf.SerialNumber.Cmp(serialAC) != 0 || info.Source != SourceACME {
		t.Fatalf("change %+v", info)
	}
	if got := servedSerial(t, addr, "autoconfig.example.org"); got.Cmp(serialAC) != 0 {
		t.Errorf("autoconfig.example.org: served %x, want %x", got, serialAC)
	}
	certPEM, keyPEM, _ = pair(t, "www.example.com", time.Now().Add(60*24*time.Hour))
	if err := m.acme.cache.Put(context.Background(), "www.example.com", append(keyPEM, certPEM...)); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, addr, "www.example.com"); got.Cmp(serialHost) != 0 {
		t.Errorf("a stored certificate for a name not ours is served: %x", got)
	}

	// example.org is no longer local: its names stop being served.
	domains.set("example.net")
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, addr, "mta-sts.example.org"); got.Cmp(serialHost) != 0 {
		t.Errorf("after the domain went: mta-sts.example.org served %x, want the hostname's %x", got, serialHost)
	}
	for _, info := range m.Certificates() {
		if strings.HasSuffix(info.Name, ".example.org") && info.Name != host {
			t.Errorf("still in service: %s", info.Name)
		}
	}
	if got := servedSerial(t, addr, host); got.Cmp(serialHost) != 0 {
		t.Errorf("after Reload: hostname served %x, want %x", got, serialHost)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart serves what the cache holds, before any request to the
	// authority.
	domains.set("example.org")
	m2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m2.Close() })
	addr2 := echoServer(t, m2.TLSConfig())
	for sni, want := range map[string]*big.Int{host: serialHost, "mta-sts.example.org": serialSTS, "autoconfig.example.org": serialAC} {
		if got := servedSerial(t, addr2, sni); got.Cmp(want) != 0 {
			t.Errorf("after restart, SNI %q: served %x, want %x", sni, got, want)
		}
	}
	for _, name := range []string{host, "mta-sts.example.org", "autoconfig.example.org", "acme_account+key"} {
		if got := mode(t, filepath.Join(dataDir, "acme", name)); got != 0o600 {
			t.Errorf("mode of %s: %v", name, got)
		}
	}
	if got := mode(t, filepath.Join(dataDir, "acme")); got != 0o700 {
		t.Errorf("mode of data_dir/acme: %v", got)
	}
}

// nextFor waits for the next change of name, skipping others.
func (c changes) nextFor(t *testing.T, name string) CertInfo {
	t.Helper()
	for {
		if info := c.next(t); info.Name == name {
			return info
		}
	}
}

// TestGate: a retired ACME client's transport refuses new requests and
// cancels those in flight.
func TestGate(t *testing.T) {
	arrived := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(arrived)
			<-r.Context().Done() // Until the client goes away.
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	ctx, retire := context.WithCancel(context.Background())
	c := &http.Client{Transport: &gate{ctx: ctx, base: http.DefaultTransport}}

	resp, err := c.Get(srv.URL + "/fast")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}

	slow := make(chan error, 1)
	go func() {
		resp, err := c.Get(srv.URL + "/slow")
		if err == nil {
			resp.Body.Close()
		}
		slow <- err
	}()
	<-arrived
	retire()
	select {
	case err := <-slow:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("request in flight ended with %v, want context.Canceled", err)
		}
	case <-time.After(wait):
		t.Fatal("the request in flight was not cancelled")
	}
	if _, err := c.Get(srv.URL + "/fast"); !errors.Is(err, errRetired) {
		t.Errorf("request after retirement: %v, want errRetired", err)
	}
}
