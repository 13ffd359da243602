package test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"postel/internal/dns/dnstest"
	"postel/internal/testutil/pebble"
)

// ACME on the built binary (issue 11, part 1), against Pebble run as a
// real server: Pebble's validation authority resolves the names through
// the project's test DNS server to 127.0.0.1 and connects, for
// tls-alpn-01, to the port of the server's listen.https.

// startOnHTTPS starts in with its HTTPS listener on httpsAddr, the
// address Pebble validates on. A retry of the harness (a mail port taken
// meanwhile) writes new ports, so the HTTPS one is set again each time.
func startOnHTTPS(t *testing.T, in *instance, httpsAddr string) {
	t.Helper()
	for try := 1; ; try++ {
		in.setListen(t, "https", httpsAddr)
		err := in.tryStart()
		if err == nil {
			return
		}
		if try == 3 || !strings.Contains(in.stderr.String(), "address already in use") {
			t.Fatalf("%v\n%s", err, in.stderr.String())
		}
		t.Logf("try %d: %v; again with other ports", try, err)
		in.writeConfig()
	}
}

// verifiedLeaf polls dial, a TLS handshake that verifies the chain, until
// it succeeds (the certificate authority has issued, and the server
// serves, what the client accepts), and returns the leaf; it fails the
// test after a minute.
func verifiedLeaf(t *testing.T, what string, dial func() (*x509.Certificate, error)) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		leaf, err := dial()
		if err == nil {
			return leaf
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no verified certificate within a minute: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestACME runs postel serve with [acme] against Pebble: a certificate
// for the hostname is obtained with tls-alpn-01 on listen.https and served
// on IMAPS and on SMTP STARTTLS, verified by crypto/tls against Pebble's
// issuing root for the hostname; the MTA-STS policy is fetched by curl
// over HTTPS verified against that root at mta-sts.DOMAIN; and with
// certificates valid a minute, renewed 52 seconds before expiry (8 to 13
// seconds after issuance), a renewal happens with the server up: a new
// connection gets a new serial, verified, while an IMAP session opened
// before keeps working.
func TestACME(t *testing.T) {
	names := []string{harnessHost, "mta-sts.example.org", "autoconfig.example.org"}
	dns := dnstest.New(t)
	for _, name := range names {
		dns.Add(name + ". 60 IN A 127.0.0.1")
	}
	httpsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(pebble.FreePort(t)))
	_, httpsPort, _ := net.SplitHostPort(httpsAddr)
	tlsPort, _ := strconv.Atoi(httpsPort)
	p := pebble.Start(t, pebble.Options{TLSPort: tlsPort, DNS: dns.Addr, Validity: time.Minute})
	rootFile := filepath.Join(t.TempDir(), "pebble-root.pem")
	if err := os.WriteFile(rootFile, p.IssuingRootPEM(t), 0o644); err != nil {
		t.Fatal(err)
	}
	roots := p.IssuingRoots(t)

	in := newInstance(t, fmt.Sprintf("[acme]\nenabled = true\ndirectory_url = %q\nca_roots = %q\nemail = \"postmaster@example.org\"\nrenew_before = \"52s\"\n",
		p.Directory, p.APIRoots))
	in.setup() // example.org, a local domain: mta-sts. and autoconfig. get certificates
	startOnHTTPS(t, in, httpsAddr)

	// Obtained, and served on IMAPS.
	imapsLeaf := func() (*x509.Certificate, error) { return leafTLS(in.ports["imaps"], verifyingConfig(roots)) }
	first := verifiedLeaf(t, "IMAPS", imapsLeaf)
	t.Logf("IMAPS serves serial %x, valid until %v", first.SerialNumber, first.NotAfter)
	// The session opened before the renewal.
	old := openIMAPSession(t, in.ports["imaps"], verifyingConfig(roots))
	if _, err := old.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	serialA := old.tls.ConnectionState().PeerCertificates[0].SerialNumber
	// On SMTP STARTTLS, the same certificate (or already its renewal).
	smtp, err := leafSTARTTLS(t, in.ports["smtp"], verifyingConfig(roots))
	if err != nil {
		t.Fatalf("SMTP STARTTLS, verified against Pebble's root: %v", err)
	}
	if smtp.NotBefore.Before(first.NotBefore) {
		t.Errorf("SMTP STARTTLS serves a certificate older than IMAPS's")
	}

	// The MTA-STS policy over HTTPS, verified with the certificate of
	// mta-sts.example.org, as a sending server fetches it (RFC 8461 §3.3).
	stsConfig := &tls.Config{ServerName: "mta-sts.example.org", RootCAs: roots}
	verifiedLeaf(t, "HTTPS as mta-sts.example.org", func() (*x509.Certificate, error) {
		return leafTLS(httpsAddr, stsConfig)
	})
	policy := mustRun(t, "curl", "-sS", "--fail", "--max-time", "30", "--cacert", rootFile,
		"--resolve", "mta-sts.example.org:"+httpsPort+":127.0.0.1",
		"https://mta-sts.example.org:"+httpsPort+"/.well-known/mta-sts.txt")
	if !strings.HasPrefix(policy, "version: STSv1\r\n") || !strings.Contains(policy, "\r\nmx: "+harnessHost+"\r\n") {
		t.Errorf("MTA-STS policy: %q", policy)
	}

	// Renewal with the server up: a new connection gets another serial.
	var renewed *x509.Certificate
	verifiedLeaf(t, "IMAPS after renewal", func() (*x509.Certificate, error) {
		leaf, err := imapsLeaf()
		if err == nil && leaf.SerialNumber.Cmp(serialA) == 0 {
			err = fmt.Errorf("still serial %x", serialA)
		}
		renewed = leaf
		return leaf, err
	})
	t.Logf("renewed: serial %x, valid until %v", renewed.SerialNumber, renewed.NotAfter)
	if renewed.NotBefore.Before(first.NotBefore) {
		t.Errorf("the new certificate (from %v) is older than the first (from %v)", renewed.NotBefore, first.NotBefore)
	}
	smtp, err = leafSTARTTLS(t, in.ports["smtp"], verifyingConfig(roots))
	if err != nil {
		t.Fatalf("SMTP STARTTLS after renewal: %v", err)
	}
	if smtp.SerialNumber.Cmp(serialA) == 0 {
		t.Errorf("SMTP STARTTLS still serves %x after the renewal", serialA)
	}
	old.stillWorks(t, serialA)
	if _, err := os.Stat(filepath.Join(in.dir, "data", "acme", harnessHost)); err != nil {
		t.Errorf("the certificate is not kept under data_dir: %v", err)
	}
	if l := in.logLines(0, `msg="ACME certificate not obtained"`); len(l) > 0 {
		t.Errorf("failed issuances: %q", l)
	}
}
