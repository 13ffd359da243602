// Package certs provides the TLS certificate every listener uses, through
// one Manager whose GetCertificate every tls.Config shares: the operator's
// files when configured (reloaded when they change and on Reload), ACME
// certificates (RFC 8555, with golang.org/x/crypto/acme/autocert) for the
// hostname and the mta-sts. and autoconfig. names of every local domain,
// renewed before they expire, or else a self-signed certificate made once
// and kept in the data directory.
//
// Files under data_dir: tls/selfsigned.{crt,key} (the self-signed
// certificate, also served by ACME until its first certificate arrives),
// acme/ (mode 0700: the ACME account key and one file per certificate,
// mode 0600).
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

const (
	// validity is the lifetime of a self-signed certificate.
	validity = 10 * 365 * 24 * time.Hour
	// renewBefore is how long before its expiry a self-signed certificate
	// is replaced.
	renewBefore = 30 * 24 * time.Hour
	// backdate covers clocks of clients that run a little behind ours.
	backdate = time.Hour
)

// LoadOrCreate returns the TLS certificate: from certFile/keyFile when set; else a self-signed
// ECDSA P-256 certificate for hostname (and "localhost", 127.0.0.1, ::1 as SANs), valid 10 years,
// created once and kept in dataDir/tls/selfsigned.{crt,key} (key file mode 0600, written atomically:
// temp file, fsync, rename, fsync dir), reused on later starts (regenerated if the hostname is not
// covered or it expires within 30 days).
//
// An operator's certificate that does not cover hostname or is about to
// expire is still used, with a warning in the log.
func LoadOrCreate(dataDir, hostname, certFile, keyFile string) (tls.Certificate, error) {
	return loadOrCreate(slog.Default(), dataDir, hostname, certFile, keyFile)
}

// loadOrCreate is LoadOrCreate logging to log.
func loadOrCreate(log *slog.Logger, dataDir, hostname, certFile, keyFile string) (tls.Certificate, error) {
	if hostname == "" {
		return tls.Certificate{}, errors.New("certs: empty hostname")
	}
	now := time.Now()
	if certFile != "" || keyFile != "" {
		return loadFiles(log, certFile, keyFile, hostname, now)
	}
	if dataDir == "" {
		return tls.Certificate{}, errors.New("certs: empty data directory")
	}

	dir := filepath.Join(dataDir, "tls")
	certPath := filepath.Join(dir, "selfsigned.crt")
	keyPath := filepath.Join(dir, "selfsigned.key")
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		log.Warn("replacing unreadable self-signed certificate", "file", certPath, "err", err)
	default:
		problem, err := check(cert, hostname, now)
		if err != nil {
			log.Warn("replacing unreadable self-signed certificate", "file", certPath, "err", err)
		} else if problem == "" {
			return cert, nil
		} else {
			log.Info("replacing self-signed certificate", "file", certPath, "reason", problem)
		}
	}

	certPEM, keyPEM, err := selfSign(hostname, now.Add(-backdate), now.Add(validity))
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: %w", err)
	}
	// The key goes first: if we stop between the two renames, the pair
	// does not match and the next start makes a new one.
	if err := writeAtomic(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeAtomic(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: new certificate: %w", err)
	}
	log.Info("created self-signed certificate", "file", certPath, "hostname", hostname)
	return cert, nil
}

// loadFiles loads the operator's certificate and key.
func loadFiles(log *slog.Logger, certFile, keyFile, hostname string, now time.Time) (tls.Certificate, error) {
	if certFile == "" || keyFile == "" {
		return tls.Certificate{}, errors.New("certs: set both the certificate and the key file, or neither")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: loading %s and %s: %w", certFile, keyFile, err)
	}
	problem, err := check(cert, hostname, now)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: %s: %w", certFile, err)
	}
	if problem != "" {
		log.Warn("TLS certificate problem", "file", certFile, "problem", problem)
	}
	return cert, nil
}

// check returns why cert should not be served for hostname at now, or ""
// when it is fine.
func check(cert tls.Certificate, hostname string, now time.Time) (string, error) {
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return "", err
		}
	}
	switch {
	case leaf.VerifyHostname(hostname) != nil:
		return "does not cover " + hostname, nil
	case now.Before(leaf.NotBefore):
		return "not valid before " + leaf.NotBefore.UTC().Format(time.RFC3339), nil
	case now.Add(renewBefore).After(leaf.NotAfter):
		return "expires " + leaf.NotAfter.UTC().Format(time.RFC3339), nil
	}
	return "", nil
}

// SelfSigned makes a self-signed certificate in memory, valid from now for
// validity (tests, and anything that keeps no files).
func SelfSigned(hostname string, validity time.Duration) (tls.Certificate, error) {
	now := time.Now()
	certPEM, keyPEM, err := selfSign(hostname, now.Add(-time.Hour), now.Add(validity))
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// selfSign makes an ECDSA P-256 key and a certificate for hostname,
// "localhost", 127.0.0.1 and ::1, both PEM-encoded.
func selfSign(hostname string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: generating key: %w", err)
	}
	// RFC 5280 §4.1.2.2: a positive serial number of at most 20 octets.
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("certs: generating serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hostname},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	// RFC 6125 §6.4.4: clients match names against subjectAltName, so every
	// name goes there, not only in the common name.
	if ip := net.ParseIP(hostname); ip != nil {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		tmpl.DNSNames = []string{"localhost"}
	} else if hostname == "localhost" {
		tmpl.DNSNames = []string{"localhost"}
	} else {
		tmpl.DNSNames = []string{hostname, "localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: creating certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: encoding key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// writeAtomic replaces path with data so that path always holds either the
// old or the new content: a temporary file in the same directory is written
// with mode, fsynced and renamed over path, then the directory is fsynced to
// make the rename durable.
func writeAtomic(path string, data []byte, mode os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("certs: syncing %s: %w", dir, err)
	}
	return nil
}

// ServerTLSConfig returns the configuration for every TLS listener and
// STARTTLS: cert, TLS 1.2 at least, and Go's default cipher suites and
// curves otherwise. RFC 8996 deprecates TLS 1.0 and 1.1; RFC 8997 §3
// (updating RFC 8314 §4.1) makes TLS 1.2 the minimum for submission and
// access.
func ServerTLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}
}
