// Package dkim signs outgoing mail (RFC 6376) with per-domain keys, using
// emersion/go-msgauth, and manages those keys.
//
// Every domain gets two keys, used together so that a verifier that knows
// only RSA still finds a signature it can check (RFC 8463 §4): an Ed25519
// key (selector "postel-ed25519") and an RSA-2048 key (selector
// "postel-rsa"). They live as PKCS#8 PEM files, mode 0600, in
// DIR/DOMAIN/SELECTOR.key, where DIR is normally data_dir/dkim. Selectors are
// fixed names: rotating a key means publishing the new record under a new
// name, which is left to the operator (move the directory aside, generate,
// publish).
package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/net/idna"
)

// Selectors of the two keys of every domain.
const (
	SelectorEd25519 = "postel-ed25519"
	SelectorRSA     = "postel-rsa"
)

// rsaBits is the size of generated RSA keys (RFC 8301 §3.2: at least 1024,
// 2048 recommended).
const rsaBits = 2048

// selectors lists the keys of a domain in signing order.
var selectors = []string{SelectorEd25519, SelectorRSA}

// Record is a DNS TXT record to publish for a key (RFC 6376 §3.6.2.1).
type Record struct {
	Name  string // absolute: SELECTOR._domainkey.DOMAIN.
	Value string // "v=DKIM1; k=...; p=..."
}

// Zone formats r as a zone-file line. The value is split into
// character-strings of at most 255 octets (RFC 1035 §3.3.14); verifiers join
// them (RFC 6376 §3.6.2.2).
func (r Record) Zone() string {
	var parts []string
	for v := r.Value; v != ""; {
		n := min(len(v), 255)
		parts = append(parts, `"`+v[:n]+`"`)
		v = v[n:]
	}
	return r.Name + " IN TXT ( " + strings.Join(parts, " ") + " )"
}

// Generate creates the Ed25519 and RSA-2048 keys of domain under dir (each
// written atomically, mode 0600) and returns the TXT records to publish.
// Keys that exist are kept; when both exist the error wraps fs.ErrExist.
func Generate(dir, domain string) ([]Record, error) {
	domain, err := normalizeDomain(domain)
	if err != nil {
		return nil, err
	}
	ddir := filepath.Join(dir, domain)
	if err := os.MkdirAll(ddir, 0o700); err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	created := 0
	for _, sel := range selectors {
		path := filepath.Join(ddir, sel+".key")
		if _, err := os.Stat(path); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("dkim: %w", err)
		}
		key, err := newKey(sel)
		if err != nil {
			return nil, fmt.Errorf("dkim: generating %s key: %w", sel, err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("dkim: %w", err)
		}
		if err := writeAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
			return nil, fmt.Errorf("dkim: writing %s: %w", path, err)
		}
		created++
	}
	if created == 0 {
		return nil, fmt.Errorf("dkim: keys of %s: %w", domain, fs.ErrExist)
	}
	return Records(dir, domain)
}

func newKey(selector string) (crypto.Signer, error) {
	if selector == SelectorRSA {
		return rsa.GenerateKey(rand.Reader, rsaBits)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	return key, err
}

// Records returns the TXT records of domain's keys under dir.
func Records(dir, domain string) ([]Record, error) {
	domain, err := normalizeDomain(domain)
	if err != nil {
		return nil, err
	}
	keys, err := loadDomain(filepath.Join(dir, domain))
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("dkim: no keys for %s: %w", domain, fs.ErrNotExist)
	}
	var out []Record
	for _, k := range keys {
		v, err := recordValue(k.signer.Public())
		if err != nil {
			return nil, err
		}
		out = append(out, Record{Name: k.selector + "._domainkey." + domain + ".", Value: v})
	}
	return out, nil
}

// recordValue is the key record of a public key (RFC 6376 §3.6.1; RFC 8463
// §4: the raw 32-octet Ed25519 key; for RSA the DER SubjectPublicKeyInfo,
// as verifiers expect in practice).
func recordValue(pub crypto.PublicKey) (string, error) {
	switch pub := pub.(type) {
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", fmt.Errorf("dkim: %w", err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	}
	return "", fmt.Errorf("dkim: unsupported key type %T", pub)
}

// key is one loaded signing key.
type key struct {
	selector string
	signer   crypto.Signer
}

// loadDomain reads the keys in one domain's directory, in signing order;
// missing ones are skipped.
func loadDomain(ddir string) ([]key, error) {
	var out []key
	for _, sel := range selectors {
		path := filepath.Join(ddir, sel+".key")
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("dkim: %w", err)
		}
		signer, err := parseKey(data)
		if err != nil {
			return nil, fmt.Errorf("dkim: %s: %w", path, err)
		}
		out = append(out, key{selector: sel, signer: signer})
	}
	return out, nil
}

// parseKey reads a PKCS#8 PEM private key of a type DKIM signs with.
func parseKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM PRIVATE KEY")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	switch k := k.(type) {
	case ed25519.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		if k.N.BitLen() < 1024 {
			return nil, errors.New("RSA key shorter than 1024 bits (RFC 8301 §3.2)")
		}
		return k, nil
	}
	return nil, fmt.Errorf("unsupported key type %T", k)
}

// DomainDir is the name of domain's directory under the keys' directory:
// the domain in lower-case A-label form; an error for what is not a host
// name.
func DomainDir(domain string) (string, error) { return normalizeDomain(domain) }

// normalizeDomain returns domain in lower-case A-label form, refusing what
// is not a host name (so that it is also a safe directory name).
func normalizeDomain(domain string) (string, error) {
	d, err := idna.Lookup.ToASCII(strings.TrimSuffix(domain, "."))
	if err != nil || d == "" || len(d) > 253 || !strings.Contains(d, ".") {
		return "", fmt.Errorf("dkim: bad domain %q", domain)
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("dkim: bad domain %q", domain)
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", fmt.Errorf("dkim: bad domain %q", domain)
			}
		}
	}
	return d, nil
}

// writeAtomic writes data to path through a temporary file in the same
// directory: written, fsynced, renamed into place, directory fsynced. A
// crash leaves either no file or the whole one.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
