package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func leafOf(t *testing.T, cert tls.Certificate) *x509.Certificate {
	t.Helper()
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestCreateAndReuse(t *testing.T) {
	dataDir := t.TempDir()
	start := time.Now()
	cert, err := LoadOrCreate(dataDir, "mail.example.org", "", "")
	if err != nil {
		t.Fatal(err)
	}
	leaf := leafOf(t, cert)

	if !slices.Equal(leaf.DNSNames, []string{"mail.example.org", "localhost"}) {
		t.Errorf("DNSNames = %q", leaf.DNSNames)
	}
	if len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !leaf.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("IPAddresses = %v", leaf.IPAddresses)
	}
	if leaf.Subject.CommonName != "mail.example.org" {
		t.Errorf("CommonName = %q", leaf.Subject.CommonName)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key = %T, want ECDSA P-256", leaf.PublicKey)
	}
	if want := start.Add(validity); leaf.NotAfter.Before(want.Add(-time.Minute)) || leaf.NotAfter.After(want.Add(time.Minute)) {
		t.Errorf("NotAfter = %v, want about %v", leaf.NotAfter, want)
	}
	if leaf.NotBefore.After(start) {
		t.Errorf("NotBefore = %v is after creation at %v", leaf.NotBefore, start)
	}
	if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) || leaf.IsCA {
		t.Errorf("ExtKeyUsage = %v, IsCA = %v", leaf.ExtKeyUsage, leaf.IsCA)
	}

	dir := filepath.Join(dataDir, "tls")
	certPath, keyPath := filepath.Join(dir, "selfsigned.crt"), filepath.Join(dir, "selfsigned.key")
	for path, want := range map[string]os.FileMode{dir: 0o700, certPath: 0o644, keyPath: 0o600} {
		if got := mode(t, path); got != want {
			t.Errorf("mode of %s = %v, want %v", path, got, want)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("tls directory holds %d files, want 2 (no temporary files left)", len(entries))
	}

	certBytes, keyBytes := readFile(t, certPath), readFile(t, keyPath)
	again, err := LoadOrCreate(dataDir, "mail.example.org", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Certificate[0], cert.Certificate[0]) {
		t.Error("second call made a new certificate")
	}
	if !bytes.Equal(readFile(t, certPath), certBytes) || !bytes.Equal(readFile(t, keyPath), keyBytes) {
		t.Error("second call rewrote the files")
	}
	// A name the certificate covers besides the hostname reuses it too.
	local, err := LoadOrCreate(dataDir, "localhost", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(local.Certificate[0], cert.Certificate[0]) {
		t.Error("localhost, already covered, made a new certificate")
	}
}

func TestRegenerate(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name    string
		prepare func(t *testing.T, certPath, keyPath string)
	}{
		{"hostname changed", func(t *testing.T, certPath, keyPath string) {
			writePair(t, certPath, keyPath, "old.example.org", now.Add(-time.Hour), now.Add(validity))
		}},
		{"expires within 30 days", func(t *testing.T, certPath, keyPath string) {
			writePair(t, certPath, keyPath, "mail.example.org", now.Add(-time.Hour), now.Add(29*24*time.Hour))
		}},
		{"expired", func(t *testing.T, certPath, keyPath string) {
			writePair(t, certPath, keyPath, "mail.example.org", now.Add(-48*time.Hour), now.Add(-24*time.Hour))
		}},
		{"not yet valid", func(t *testing.T, certPath, keyPath string) {
			writePair(t, certPath, keyPath, "mail.example.org", now.Add(24*time.Hour), now.Add(validity))
		}},
		{"garbage", func(t *testing.T, certPath, keyPath string) {
			write(t, certPath, []byte("not a certificate"))
			write(t, keyPath, []byte("not a key"))
		}},
		{"key of another certificate", func(t *testing.T, certPath, keyPath string) {
			writePair(t, certPath, keyPath, "mail.example.org", now.Add(-time.Hour), now.Add(validity))
			_, otherKey, err := selfSign("mail.example.org", now, now.Add(validity))
			if err != nil {
				t.Fatal(err)
			}
			write(t, keyPath, otherKey)
		}},
		{"key missing", func(t *testing.T, certPath, keyPath string) {
			writePair(t, certPath, keyPath, "mail.example.org", now.Add(-time.Hour), now.Add(validity))
			if err := os.Remove(keyPath); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := t.TempDir()
			dir := filepath.Join(dataDir, "tls")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			certPath, keyPath := filepath.Join(dir, "selfsigned.crt"), filepath.Join(dir, "selfsigned.key")
			tt.prepare(t, certPath, keyPath)
			var before []byte
			if b, err := os.ReadFile(certPath); err == nil {
				before = b
			}

			cert, err := LoadOrCreate(dataDir, "mail.example.org", "", "")
			if err != nil {
				t.Fatal(err)
			}
			after := readFile(t, certPath)
			if bytes.Equal(before, after) {
				t.Fatal("certificate file was not replaced")
			}
			leaf := leafOf(t, cert)
			if err := leaf.VerifyHostname("mail.example.org"); err != nil {
				t.Error(err)
			}
			if leaf.NotAfter.Before(now.Add(validity - time.Minute)) {
				t.Errorf("NotAfter = %v", leaf.NotAfter)
			}
			if mode(t, keyPath) != 0o600 {
				t.Errorf("key mode = %v", mode(t, keyPath))
			}
			// The files on disk are the certificate returned.
			disk, err := tls.LoadX509KeyPair(certPath, keyPath)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(disk.Certificate[0], cert.Certificate[0]) {
				t.Error("returned certificate differs from the one on disk")
			}
		})
	}
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func writePair(t *testing.T, certPath, keyPath, hostname string, notBefore, notAfter time.Time) {
	t.Helper()
	certPEM, keyPEM, err := selfSign(hostname, notBefore, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	write(t, certPath, certPEM)
	write(t, keyPath, keyPEM)
}

func TestOperatorFiles(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "op.crt"), filepath.Join(dir, "op.key")
	now := time.Now()
	// An operator's certificate is used even when it covers another name.
	writePair(t, certPath, keyPath, "other.example.org", now.Add(-time.Hour), now.Add(time.Hour))
	dataDir := filepath.Join(dir, "data")

	cert, err := LoadOrCreate(dataDir, "mail.example.org", certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := leafOf(t, cert).DNSNames[0]; got != "other.example.org" {
		t.Errorf("loaded certificate for %q", got)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("data directory was touched: %v", err)
	}

	garbage := filepath.Join(dir, "garbage.pem")
	write(t, garbage, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	missing := filepath.Join(dir, "missing.pem")
	errTests := []struct {
		name, cert, key, want string
	}{
		{"cert only", certPath, "", "set both"},
		{"key only", "", keyPath, "set both"},
		{"missing", missing, keyPath, missing},
		{"garbage", garbage, keyPath, garbage},
		{"swapped", keyPath, certPath, keyPath},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadOrCreate(dataDir, "mail.example.org", tt.cert, tt.key)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadOrCreateErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	write(t, file, nil)
	tests := []struct {
		name, dataDir, hostname, want string
	}{
		{"no hostname", t.TempDir(), "", "empty hostname"},
		{"no data dir", "", "mail.example.org", "empty data directory"},
		{"data dir is a file", file, "mail.example.org", "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadOrCreate(tt.dataDir, tt.hostname, "", "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestSelfSignNames(t *testing.T) {
	tests := []struct {
		hostname string
		dns      []string
		ips      int
	}{
		{"mail.example.org", []string{"mail.example.org", "localhost"}, 2},
		{"localhost", []string{"localhost"}, 2},
		{"192.0.2.7", []string{"localhost"}, 3},
	}
	for _, tt := range tests {
		certPEM, keyPEM, err := selfSign(tt.hostname, time.Now(), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		leaf := leafOf(t, cert)
		if !slices.Equal(leaf.DNSNames, tt.dns) || len(leaf.IPAddresses) != tt.ips {
			t.Errorf("%s: DNSNames %q, IPAddresses %v", tt.hostname, leaf.DNSNames, leaf.IPAddresses)
		}
		if err := leaf.VerifyHostname(tt.hostname); err != nil {
			t.Errorf("%s: %v", tt.hostname, err)
		}
	}
}

// handshake runs a TLS handshake over a loopback TCP connection (buffered,
// unlike net.Pipe, so a side that fails can send its alert) and returns the
// client's connection state and both sides' errors.
func handshake(t *testing.T, server, client *tls.Config) (tls.ConnectionState, error, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	deadline := time.Now().Add(10 * time.Second)

	serverErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			serverErr <- err
			return
		}
		defer c.Close()
		c.SetDeadline(deadline)
		serverErr <- tls.Server(c, server).Handshake()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(deadline)
	cli := tls.Client(c, client)
	clientErr := cli.Handshake()
	if clientErr != nil {
		c.Close() // The server may be waiting for more.
	}
	return cli.ConnectionState(), <-serverErr, clientErr
}

func TestHandshake(t *testing.T) {
	cert, err := LoadOrCreate(t.TempDir(), "mail.example.org", "", "")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leafOf(t, cert))
	server := ServerTLSConfig(cert)
	if server.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x", server.MinVersion)
	}

	tests := []struct {
		serverName string
		maxVersion uint16
		want       uint16
	}{
		{"mail.example.org", 0, tls.VersionTLS13},
		{"localhost", 0, tls.VersionTLS13},
		{"127.0.0.1", 0, tls.VersionTLS13},
		{"::1", 0, tls.VersionTLS13},
		{"mail.example.org", tls.VersionTLS12, tls.VersionTLS12},
	}
	for _, tt := range tests {
		state, serverErr, clientErr := handshake(t, server, &tls.Config{
			RootCAs:    roots,
			ServerName: tt.serverName,
			MaxVersion: tt.maxVersion,
		})
		if serverErr != nil || clientErr != nil {
			t.Errorf("%s: server error %v, client error %v", tt.serverName, serverErr, clientErr)
			continue
		}
		if state.Version != tt.want {
			t.Errorf("%s: version %x, want %x", tt.serverName, state.Version, tt.want)
		}
		if len(state.VerifiedChains) != 1 {
			t.Errorf("%s: %d verified chains", tt.serverName, len(state.VerifiedChains))
		}
	}

	// A name the certificate does not cover fails verification.
	_, _, clientErr := handshake(t, server, &tls.Config{RootCAs: roots, ServerName: "other.example.org"})
	var hostErr x509.HostnameError
	if !errors.As(clientErr, &hostErr) || hostErr.Host != "other.example.org" {
		t.Errorf("other name: client error %v, want a %T", clientErr, hostErr)
	}
}

func TestOldTLSRefused(t *testing.T) {
	cert, err := LoadOrCreate(t.TempDir(), "mail.example.org", "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, version := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		_, serverErr, clientErr := handshake(t, ServerTLSConfig(cert), &tls.Config{
			InsecureSkipVerify: true, // Only the version is under test.
			MinVersion:         version,
			MaxVersion:         version,
		})
		if clientErr == nil {
			t.Errorf("TLS %x client: handshake succeeded", version)
		}
		if serverErr == nil || !strings.Contains(serverErr.Error(), "unsupported versions") {
			t.Errorf("TLS %x client: server error %v, want unsupported versions", version, serverErr)
		}
	}
}

func TestSelfSigned(t *testing.T) {
	cert, err := SelfSigned("mx.example.org", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("mx.example.org"); err != nil {
		t.Error(err)
	}
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
	if d := time.Until(leaf.NotAfter); d <= 0 || d > time.Hour {
		t.Errorf("NotAfter in %v", d)
	}
}
