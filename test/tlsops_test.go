package test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"postel/internal/testutil"
)

// Helpers of the operations tests (reload, shutdown, ACME, HTTPS): a test
// certificate authority, the certificate a listener serves, the server's
// log lines, the listen addresses the harness does not keep.

// harnessHost is the name the harness's config gives the server.
const harnessHost = "mx.test.example"

// testCA is a certificate authority of the test's, whose root clients
// trust: certificates it issues for the server's name verify as a real one's.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(t),
		Subject:               pkix.Name{CommonName: "Postel test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

func randomSerial(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	return n.Add(n, big.NewInt(1))
}

// issue returns a new certificate for name (valid 90 days, so that the
// server finds nothing to warn about) and its key, in PEM, and its serial.
func (ca *testCA) issue(t *testing.T, name string) (certPEM, keyPEM []byte, serial *big.Int) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial = randomSerial(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(90 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), serial
}

// verifyingConfig is what a mail client checking the server's certificate
// against roots uses.
func verifyingConfig(roots *x509.CertPool) *tls.Config {
	return &tls.Config{ServerName: harnessHost, RootCAs: roots}
}

// replaceFile replaces path with data as operators' tools do (certbot,
// an editor's save): a new file renamed over the old one.
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".new")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// leafTLS returns the certificate of a new implicit-TLS connection (IMAPS,
// HTTPS) whose handshake, with cfg, succeeded.
func leafTLS(addr string, cfg *tls.Config) (*x509.Certificate, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

// leafSTARTTLS returns the certificate of a new SMTP connection upgraded
// with STARTTLS (RFC 3207), whose handshake, with cfg, succeeded.
func leafSTARTTLS(t *testing.T, addr string, cfg *tls.Config) (*x509.Certificate, error) {
	t.Helper()
	s := dialSMTP(t, addr, false)
	defer s.c.Close()
	if ehlo := s.cmd("EHLO client.example", "250"); !strings.Contains(ehlo, "STARTTLS") {
		t.Fatalf("no STARTTLS in %q", ehlo)
	}
	s.cmd("STARTTLS", "220")
	tc := tls.Client(s.c, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	defer tc.Close()
	return tc.ConnectionState().PeerCertificates[0], nil
}

// servedSerials checks that new IMAPS and SMTP STARTTLS connections both
// verify against roots for the server's name, and get the certificate of
// serial.
func servedSerials(t *testing.T, in *instance, roots *x509.CertPool, serial *big.Int) {
	t.Helper()
	imaps, err := leafTLS(in.ports["imaps"], verifyingConfig(roots))
	if err != nil {
		t.Fatalf("IMAPS handshake: %v", err)
	}
	smtp, err := leafSTARTTLS(t, in.ports["smtp"], verifyingConfig(roots))
	if err != nil {
		t.Fatalf("SMTP STARTTLS handshake: %v", err)
	}
	for _, got := range []struct {
		what string
		leaf *x509.Certificate
	}{{"IMAPS", imaps}, {"SMTP STARTTLS", smtp}} {
		if got.leaf.SerialNumber.Cmp(serial) != 0 {
			t.Errorf("%s serves serial %x, want %x", got.what, got.leaf.SerialNumber, serial)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// imapSession is a logged-in IMAP session over implicit TLS (go-imap's
// client), with its TLS connection for the certificate it got.
type imapSession struct {
	*imapclient.Client
	tls  *tls.Conn
	said *testutil.SyncBuffer
}

// openIMAPSession logs alice in over IMAPS with cfg.
func openIMAPSession(t *testing.T, addr string, cfg *tls.Config) *imapSession {
	t.Helper()
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	said := &testutil.SyncBuffer{}
	c := imapclient.New(tc, &imapclient.Options{DebugWriter: said})
	t.Cleanup(func() { c.Close() })
	if err := c.Login("alice@example.org", alicePassword).Wait(); err != nil {
		t.Fatalf("LOGIN: %v", err)
	}
	return &imapSession{Client: c, tls: tc, said: said}
}

// stillWorks checks the session answers NOOP, and that it kept the
// certificate of serial it started with.
func (s *imapSession) stillWorks(t *testing.T, serial *big.Int) {
	t.Helper()
	if err := s.Noop().Wait(); err != nil {
		t.Fatalf("NOOP on the session opened before: %v\n%s", err, s.said.String())
	}
	if got := s.tls.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(serial) != 0 {
		t.Fatalf("the open session's certificate is %x, it started with %x", got, serial)
	}
}

// logLen is where the server's log ends now: waitLogLine looks past it.
func (in *instance) logLen() int { return len(in.stderr.String()) }

// waitLogLine waits until a line of the server's log past from holds
// every one of parts, and returns it and where the log ended then.
func (in *instance) waitLogLine(t *testing.T, from int, parts ...string) (string, int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		log := in.stderr.String()
		for _, l := range strings.Split(log[from:], "\n") {
			if containsAll(l, parts) {
				return l, len(log)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q within a minute; the log past the mark:\n%s", parts, log[from:])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logLines returns the lines of the server's log past from that hold
// every one of parts.
func (in *instance) logLines(from int, parts ...string) []string {
	var out []string
	for _, l := range strings.Split(in.stderr.String()[from:], "\n") {
		if containsAll(l, parts) {
			out = append(out, l)
		}
	}
	return out
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// listenLine matches a key = "address" line of the config.
func listenLine(key string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + ` = "([^"]*)"$`)
}

// listenAddr returns the address the config gives a listener (the
// harness keeps the mail listeners' in ports, not the HTTPS one).
func (in *instance) listenAddr(t *testing.T, key string) string {
	t.Helper()
	if a := in.ports[key]; a != "" {
		return a // bound by the running server
	}
	data, err := os.ReadFile(in.config)
	if err != nil {
		t.Fatal(err)
	}
	m := listenLine(key).FindSubmatch(data)
	if m == nil {
		t.Fatalf("no %s in the config:\n%s", key, data)
	}
	return string(m[1])
}

// setListen gives a listener another address in the config.
func (in *instance) setListen(t *testing.T, key, addr string) {
	t.Helper()
	data, err := os.ReadFile(in.config)
	if err != nil {
		t.Fatal(err)
	}
	re := listenLine(key)
	if !re.Match(data) {
		t.Fatalf("no %s in the config:\n%s", key, data)
	}
	data = re.ReplaceAllLiteral(data, []byte(fmt.Sprintf("%s = %q", key, addr)))
	if err := os.WriteFile(in.config, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// editConfig replaces old, which must be in the config, by new.
func (in *instance) editConfig(t *testing.T, old, new string) {
	t.Helper()
	data, err := os.ReadFile(in.config)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(data), old) != 1 {
		t.Fatalf("%q is not once in the config:\n%s", old, data)
	}
	if err := os.WriteFile(in.config, []byte(strings.Replace(string(data), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}
