package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate for names and its key as PEM
// files in dir, and returns their paths.
func writeCert(t *testing.T, dir, prefix string, names ...string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, prefix+".crt")
	keyFile = filepath.Join(dir, prefix+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	aFile := filepath.Join(dir, "a-file")
	if err := os.WriteFile(aFile, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, key := writeCert(t, dir, "mx", "mx.example.org", "mta-sts.example.org")
	otherCert, otherKey := writeCert(t, dir, "other", "other.example.net")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		opts   CheckOptions
		change func(c *Config)
		want   []string // each a whole problem; none: Check passes
	}{
		{"fine", CheckOptions{}, func(c *Config) {}, nil},
		{"fine with certificate", CheckOptions{}, func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = cert, key }, nil},
		{"missing data dir", CheckOptions{}, func(c *Config) { c.DataDir = filepath.Join(dir, "dta") },
			[]string{"config: data_dir: " + filepath.Join(dir, "dta") + " does not exist: check the path; postel init sets up a new server there, or serve --init starts an empty one"}},
		{"missing data dir, created by serve --init", CheckOptions{CreateDataDir: true}, func(c *Config) { c.DataDir = filepath.Join(dir, "new", "data") }, nil},
		{"data dir under a file", CheckOptions{CreateDataDir: true}, func(c *Config) { c.DataDir = filepath.Join(aFile, "data") },
			[]string{"config: data_dir: " + filepath.Join(aFile, "data") + " cannot be created: " + aFile + " is not a directory"}},
		{"data dir is a file", CheckOptions{}, func(c *Config) { c.DataDir = aFile },
			[]string{"config: data_dir: " + aFile + " is not a directory"}},
		{"single label", CheckOptions{}, func(c *Config) { c.Hostname = "mx" },
			[]string{`config: hostname: "mx" is not a fully qualified domain name (RFC 5321 §2.3.5): other servers find this one by its full name in the DNS; use one such as "mail.example.org"`}},
		{"localhost", CheckOptions{}, func(c *Config) { c.Hostname = "localhost" },
			[]string{`config: hostname: "localhost" names this machine only (RFC 6761 §6.3)`}},
		{"under localhost", CheckOptions{}, func(c *Config) { c.Hostname = "mail.localhost" },
			[]string{`config: hostname: "mail.localhost" names this machine only`}},
		{"key of another certificate", CheckOptions{}, func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = cert, otherKey },
			[]string{"config: tls.key_file: " + otherKey + " is not the key of the certificate in " + cert + " (tls.cert_file): their public keys differ"}},
		{"certificate for another name", CheckOptions{}, func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = otherCert, otherKey },
			[]string{`config: tls.cert_file: the certificate in ` + otherCert + ` is for "other.example.net", which does not cover hostname "mx.example.org": clients checking it will refuse it`}},
		{"certificate file missing", CheckOptions{}, func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = filepath.Join(dir, "none.crt"), key },
			[]string{"config: tls.cert_file: open " + filepath.Join(dir, "none.crt") + ": no such file or directory"}},
		{"certificate not PEM", CheckOptions{}, func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = notPEM, key },
			[]string{"config: tls.cert_file: " + notPEM + ": no PEM CERTIFICATE block in it"}},
		{"key is a certificate", CheckOptions{}, func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = cert, cert },
			[]string{"config: tls.key_file: " + cert + ": no PEM PRIVATE KEY block in it"}},
		{"acme roots", CheckOptions{}, func(c *Config) { c.ACME.Enabled = true; c.ACME.CARoots = notPEM },
			[]string{"config: acme.ca_roots: " + notPEM + " holds no PEM certificate"}},
		{"acme roots fine", CheckOptions{}, func(c *Config) { c.ACME.Enabled = true; c.ACME.CARoots = cert }, nil},
		{"every problem at once", CheckOptions{}, func(c *Config) {
			c.Hostname = "mx"
			c.DataDir = aFile
			c.TLS.CertFile, c.TLS.KeyFile = cert, otherKey
		}, []string{"config: hostname:", "config: data_dir:", "config: tls.key_file:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Hostname = "mx.example.org"
			c.DataDir = dataDir
			tt.change(c)
			if err := c.Validate(); err != nil {
				t.Fatalf("the case is not a valid config: %v", err)
			}
			err := c.Check(tt.opts)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Check() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check() = nil, want %q", tt.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("Check() = %q, want %d problems", err, len(tt.want))
			}
			for i, want := range tt.want {
				if !strings.HasPrefix(lines[i], want) {
					t.Errorf("problem %d = %q, want %q", i, lines[i], want)
				}
			}
		})
	}
	// The probe leaves nothing behind in the data dir.
	if ents, err := os.ReadDir(dataDir); err != nil || len(ents) != 0 {
		t.Errorf("data dir after the checks: %v, %v", ents, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); err == nil {
		t.Error("Check created the data dir's parent")
	}
}

func TestCheckHostname(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"mail.example.org", true},
		{"MX1.Example.NET", true},
		{"xn--bcher-kva.example", true},
		{"mail", false},
		{"localhost", false},
		{"LocalHost", false},
		{"a.b.localhost", false},
		{"mail.example.org.", false},
		{"192.0.2.1", false},
		{"", false},
		{"bad_name.example", false},
	} {
		if err := CheckHostname(tt.name); (err == nil) != tt.ok {
			t.Errorf("CheckHostname(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
