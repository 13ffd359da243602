package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"postel/internal/dns/dnstest"
	"postel/internal/testutil"
	"postel/internal/testutil/pebble"
	"postel/internal/web"
)

// acmeFixture is a Manager obtaining certificates from Pebble, its log,
// and what it reports.
type acmeFixture struct {
	m       *Manager
	changes changes
	roots   *x509.CertPool // Pebble's issuing root
}

// newACMEFixture starts a Manager for hostname and domains against p.
func newACMEFixture(t *testing.T, p *pebble.Server, challenge string, renewBefore time.Duration, hostname string, domains ...string) *acmeFixture {
	t.Helper()
	logOut := &testutil.SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Manager's log:\n%s", logOut.String())
		}
	})
	f := &acmeFixture{changes: make(changes, 1024), roots: p.IssuingRoots(t)}
	m, err := New(Config{
		Hostname: hostname,
		DataDir:  t.TempDir(),
		ACME: &ACMEConfig{
			DirectoryURL: p.Directory,
			Email:        "postmaster@" + hostname,
			Challenge:    challenge,
			CARoots:      p.APIRoots,
			RenewBefore:  renewBefore,
		},
		Domains:  func(context.Context) ([]string, error) { return domains, nil },
		Log:      slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnChange: f.changes.report,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	f.m = m
	return f
}

// obtained waits until every name has an ACME certificate in service and
// returns the latest of each.
func (f *acmeFixture) obtained(t *testing.T, names ...string) map[string]CertInfo {
	t.Helper()
	got := map[string]CertInfo{}
	for len(got) < len(names) {
		info := f.changes.next(t)
		if info.Source == SourceACME {
			got[info.Name] = info
		}
	}
	for _, name := range names {
		if _, ok := got[name]; !ok {
			t.Fatalf("got certificates for %v, want %v", got, names)
		}
	}
	return got
}

// dialVerified opens a TLS connection to addr asking for name and
// verifying the chain against the issuing root, as a mail client does.
func (f *acmeFixture) dialVerified(t *testing.T, addr, name string) *tls.Conn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: wait}, "tcp", addr, &tls.Config{ServerName: name, RootCAs: f.roots})
	if err != nil {
		t.Fatalf("TLS to %s as %s, verified against Pebble's root: %v", addr, name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// listenLoopback binds a port on 127.0.0.1.
func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func portOf(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }

// TestACMEPebble obtains certificates from Pebble with tls-alpn-01,
// answered on the HTTPS listener as Postel serves it (the web handler
// behind HTTPSTLSConfig), serves them on another TLS listener as on IMAPS,
// and renews them while serving: Pebble issues certificates for a minute
// and renewal starts 52 seconds before expiry, so the first renewal comes
// 8 to 13 seconds after an issuance. Every new connection verifies the
// chain against Pebble's issuing root; a connection opened before the
// renewal keeps working.
func TestACMEPebble(t *testing.T) {
	const host = "mail.example.test"
	names := []string{"autoconfig.example.test", host, "mta-sts.example.test"}
	dns := dnstest.New(t)
	for _, name := range names {
		dns.Add(name + ". 60 IN A 127.0.0.1")
	}
	https := listenLoopback(t)
	p := pebble.Start(t, pebble.Options{TLSPort: portOf(https), DNS: dns.Addr, Validity: time.Minute})
	f := newACMEFixture(t, p, "tls-alpn-01", 52*time.Second, host, "example.test")

	domains := func(context.Context) ([]string, error) { return []string{"example.test"}, nil }
	srv := web.NewServer(web.New(web.Config{Hostname: host, Domains: domains, Ports: web.StandardPorts}), nil)
	srv.TLSConfig = f.m.HTTPSTLSConfig()
	go srv.ServeTLS(https, "", "")
	t.Cleanup(func() { srv.Close() })
	imaps := echoServer(t, f.m.TLSConfig())

	first := f.obtained(t, names...)
	for _, name := range names {
		if err := first[name].Leaf.VerifyHostname(name); err != nil {
			t.Errorf("certificate for %s: %v", name, err)
		}
	}
	old := f.dialVerified(t, imaps, host)
	echo(t, old, "before renewal")
	serialA := old.ConnectionState().PeerCertificates[0].SerialNumber
	// Without SNI (as many MTAs connect to port 25), the hostname's.
	noSNI, err := tls.Dial("tcp", imaps, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	leaf, inter := noSNI.ConnectionState().PeerCertificates[0], intermediates(noSNI)
	noSNI.Close()
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: f.roots, Intermediates: inter}); err != nil {
		t.Errorf("without SNI: %v", err)
	}

	// The MTA-STS policy, over HTTPS with the ACME certificate of
	// mta-sts.DOMAIN, as a sending server fetches it (RFC 8461 §3.3).
	client := &http.Client{Timeout: wait, Transport: &http.Transport{
		DialContext:     resolveTo(https.Addr().String()),
		TLSClientConfig: &tls.Config{RootCAs: f.roots},
	}}
	t.Cleanup(client.CloseIdleConnections)
	fetchPolicy := func() {
		t.Helper()
		resp, err := client.Get("https://mta-sts.example.test/.well-known/mta-sts.txt")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "mx: "+host+"\r\n") {
			t.Fatalf("policy: status %d, %q, %v", resp.StatusCode, body, err)
		}
	}
	fetchPolicy()

	// Renewal, with the server up.
	var renewed CertInfo
	for {
		renewed = f.changes.nextFor(t, host)
		if renewed.Leaf.SerialNumber.Cmp(serialA) != 0 {
			break
		}
	}
	now := f.dialVerified(t, imaps, host)
	got := now.ConnectionState().PeerCertificates[0]
	if got.SerialNumber.Cmp(serialA) == 0 {
		t.Fatalf("after renewal, a new connection still gets %x", serialA)
	}
	if got.NotBefore.Before(first[host].Leaf.NotBefore) {
		t.Errorf("the new certificate (from %v) is older than the first (from %v)", got.NotBefore, first[host].Leaf.NotBefore)
	}
	echo(t, old, "after renewal")
	if s := old.ConnectionState().PeerCertificates[0].SerialNumber; s.Cmp(serialA) != 0 {
		t.Errorf("the old connection's certificate changed to %x", s)
	}
	client.CloseIdleConnections()
	fetchPolicy()

	var acmeNames []string
	for _, info := range f.m.Certificates() {
		if info.Source == SourceACME {
			acmeNames = append(acmeNames, info.Name)
			if !info.NotAfter.After(time.Now()) {
				t.Errorf("%s in service expired at %v", info.Name, info.NotAfter)
			}
		}
	}
	if strings.Join(acmeNames, " ") != strings.Join(names, " ") {
		t.Errorf("ACME certificates in service: %q, want %q", acmeNames, names)
	}
}

// intermediates returns the chain a connection presented, past its leaf.
func intermediates(c *tls.Conn) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, cert := range c.ConnectionState().PeerCertificates[1:] {
		pool.AddCert(cert)
	}
	return pool
}

// TestACMEPebbleHTTP01 obtains a certificate with http-01, answered by
// HTTPHandler on the plain HTTP listener. Pebble's tls-alpn-01 port is
// one where nothing listens, so the attempt autocert makes first fails,
// as it does where port 443 is not reachable.
func TestACMEPebbleHTTP01(t *testing.T) {
	const host = "mail.example.test"
	dns := dnstest.New(t)
	dns.Add(host + ". 60 IN A 127.0.0.1")
	plain := listenLoopback(t)
	p := pebble.Start(t, pebble.Options{HTTPPort: portOf(plain), DNS: dns.Addr, Validity: 90 * 24 * time.Hour})
	f := newACMEFixture(t, p, "http-01", 30*24*time.Hour, host)

	srv := web.NewServer(f.m.HTTPHandler(web.Redirect(443)), nil)
	go srv.Serve(plain)
	t.Cleanup(func() { srv.Close() })
	mail := echoServer(t, f.m.TLSConfig())

	f.obtained(t, host)
	c := f.dialVerified(t, mail, host)
	echo(t, c, "hello")

	// Outside the challenges, plain HTTP redirects to HTTPS; an unknown
	// challenge token is not found.
	client := &http.Client{
		Timeout:       wait,
		Transport:     &http.Transport{DialContext: resolveTo(plain.Addr().String())},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(client.CloseIdleConnections)
	resp, err := client.Get("http://" + host + "/mail/config-v1.1.xml")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusMovedPermanently || loc != "https://"+host+"/mail/config-v1.1.xml" {
		t.Errorf("status %d, Location %q", resp.StatusCode, loc)
	}
	resp, err = client.Get("http://" + host + "/.well-known/acme-challenge/unknown-token")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown token: status %d", resp.StatusCode)
	}
	// Names not ours are refused by the host policy.
	resp, err = client.Get("http://www.example.com/.well-known/acme-challenge/unknown-token")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("other host: status %d", resp.StatusCode)
	}
}

// resolveTo is a dialer that connects every address to addr, so that
// clients can use the names of the certificates under test.
func resolveTo(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}
