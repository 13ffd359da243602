package config

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// CheckOptions says what Check lets pass.
type CheckOptions struct {
	// CreateDataDir accepts a data_dir that does not exist yet, for a
	// server told to create it (serve --init); the nearest directory above
	// it that exists must then be writable.
	CreateDataDir bool
}

// Check looks at what a production server needs beyond valid values, and
// which Validate leaves alone because it touches the machine or holds only
// for a server on the Internet (Validate stays pure: tests and serve --dev
// use it with "localhost" and directories made later):
//   - hostname is a fully qualified domain name (CheckHostname);
//   - data_dir exists, is a directory and this user can create files in
//     it, so that a mistyped path is an error rather than a new, empty
//     server (unless o.CreateDataDir);
//   - tls.cert_file and tls.key_file, when set, are a certificate and the
//     key of that certificate, and the certificate covers hostname;
//   - acme.ca_roots, when ACME is on and it is set, holds certificates.
//
// It returns every problem found, each naming its key as Validate does. c
// must have passed Validate. postel config check and postel serve call it.
func (c *Config) Check(o CheckOptions) error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...)))
	}
	if err := CheckHostname(c.Hostname); err != nil {
		add("hostname", "%v", err)
	}
	if err := checkDataDir(c.DataDir, o.CreateDataDir); err != nil {
		add("data_dir", "%v", err)
	}
	if c.TLS.CertFile != "" && c.TLS.KeyFile != "" {
		if key, err := checkCertificate(c.TLS.CertFile, c.TLS.KeyFile, c.Hostname); err != nil {
			add(key, "%v", err)
		}
	}
	if c.ACME.Enabled && c.ACME.CARoots != "" {
		if err := checkRoots(c.ACME.CARoots); err != nil {
			add("acme.ca_roots", "%v", err)
		}
	}
	return errors.Join(errs...)
}

// CheckHostname reports why name cannot be the name of a mail server on
// the Internet: it must be a host name (letters, digits, hyphens, in A-label
// form) that is fully qualified, since other servers find this one by it in
// the DNS (RFC 5321 §2.3.5: a domain name in SMTP is fully qualified), and
// it must not be "localhost" or a name under it (RFC 6761 §6.3).
func CheckHostname(name string) error {
	if err := checkDomain(name); err != nil {
		return err
	}
	lower := strings.ToLower(name)
	if lower == "localhost" || strings.HasSuffix(lower, ".localhost") {
		return fmt.Errorf("%q names this machine only (RFC 6761 §6.3); use the name other servers find this one by in the DNS, such as \"mail.example.org\"", name)
	}
	if !strings.Contains(name, ".") {
		return fmt.Errorf("%q is not a fully qualified domain name (RFC 5321 §2.3.5): other servers find this one by its full name in the DNS; use one such as \"mail.example.org\"", name)
	}
	return nil
}

// checkDataDir checks that dir is a directory this process can create
// files in. It tries, with a file it removes at once: permissions, ACLs,
// read-only mounts and security modules all have their say that way.
func checkDataDir(dir string, create bool) error {
	fi, err := os.Stat(dir)
	// A path through a file (ENOTDIR) does not exist either.
	missing := errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
	switch {
	case missing && create:
		parent := dir
		for {
			next := filepath.Dir(parent)
			if next == parent {
				return fmt.Errorf("%s: no directory above it exists", dir)
			}
			parent = next
			pfi, err := os.Stat(parent)
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				continue
			} else if err != nil {
				return err
			} else if !pfi.IsDir() {
				return fmt.Errorf("%s cannot be created: %s is not a directory", dir, parent)
			}
			if err := probeWrite(parent); err != nil {
				return fmt.Errorf("%s cannot be created: %w", dir, err)
			}
			return nil
		}
	case missing:
		return fmt.Errorf("%s does not exist: check the path; postel init sets up a new server there, or serve --init starts an empty one", dir)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	return probeWrite(dir)
}

// probeWrite creates and removes a file in dir.
func probeWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".postel-check-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("this user (uid %d) cannot create files in %s: %v", os.Getuid(), dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// checkCertificate checks that certFile holds a certificate chain whose
// first certificate covers hostname, and keyFile the private key of that
// certificate. It returns the key the problem is about with the problem.
func checkCertificate(certFile, keyFile, hostname string) (string, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return "tls.cert_file", err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return "tls.key_file", err
	}
	leaf, err := firstCertificate(certPEM)
	if err != nil {
		return "tls.cert_file", fmt.Errorf("%s: %v", certFile, err)
	}
	key, err := privateKey(keyPEM)
	if err != nil {
		return "tls.key_file", fmt.Errorf("%s: %v", keyFile, err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return "tls.key_file", fmt.Errorf("%s is not the key of the certificate in %s (tls.cert_file): their public keys differ", keyFile, certFile)
	}
	// The pair as the server loads it: catches what the checks above do
	// not look at.
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return "tls", fmt.Errorf("%s and %s: %v", certFile, keyFile, err)
	}
	if err := leaf.VerifyHostname(hostname); err != nil {
		names := leaf.DNSNames
		if len(names) == 0 && leaf.Subject.CommonName != "" {
			names = []string{leaf.Subject.CommonName}
		}
		return "tls.cert_file", fmt.Errorf("the certificate in %s is for %q, which does not cover hostname %q: clients checking it will refuse it", certFile, strings.Join(names, ", "), hostname)
	}
	return "", nil
}

// firstCertificate parses the first CERTIFICATE block of a PEM file, the
// server's own certificate in a chain written leaf first.
func firstCertificate(data []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM CERTIFICATE block in it")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// privateKey parses the first private key block of a PEM file, in the
// forms crypto/tls reads: PKCS #8, PKCS #1 (RSA) and SEC 1 (EC).
func privateKey(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM PRIVATE KEY block in it")
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported key type %T", key)
		}
		return signer, nil
	}
}

// checkRoots checks that a PEM file holds at least one certificate.
func checkRoots(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return fmt.Errorf("%s holds no PEM certificate", path)
	}
	return nil
}
