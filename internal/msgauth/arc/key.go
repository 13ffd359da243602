package arc

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"postel/internal/dns"
)

// RSA key sizes accepted. RFC 8301 §3.2: keys under 1024 bits must not be
// trusted; verifiers must take 1024 to 4096. Larger keys are refused beyond
// 8192 bits to bound the work one signature costs.
const (
	minRSABits = 1024
	maxRSABits = 8192
)

// maxKeyRecords bounds the TXT records of one key name looked at.
const maxKeyRecords = 10

// keyError is a definite failure to get a usable key: the record is
// missing, revoked or unusable. Lookup failures that may pass are returned
// wrapping ErrTemporary instead.
type keyError struct{ msg string }

func (e *keyError) Error() string { return e.msg }

// keyName is where the key of selector s in domain d is published (RFC 6376
// §3.6.2.1), as for DKIM (RFC 8617 §4.1.2, §4.1.3).
func keyName(s, d string) string { return s + "._domainkey." + d }

// lookupKey fetches and parses the key of selector s in domain d.
func lookupKey(ctx context.Context, lookup func(context.Context, string) ([]string, error), s, d string) (*rsa.PublicKey, error) {
	name := keyName(s, d)
	txts, err := lookup(ctx, name)
	if err != nil {
		if dns.IsNotFound(err) {
			return nil, &keyError{"no key record at " + name}
		}
		return nil, fmt.Errorf("%w: key %s: %v", ErrTemporary, name, err)
	}
	if len(txts) == 0 {
		return nil, &keyError{"no key record at " + name}
	}
	// RFC 6376 §3.6.2.2: a verifier may choose among several records;
	// the first one that reads as a key record is used.
	var first error
	for _, txt := range txts[:min(len(txts), maxKeyRecords)] {
		key, err := parseKeyRecord(txt)
		if err == nil {
			return key, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, &keyError{fmt.Sprintf("key %s: %v", name, first)}
}

// parseKeyRecord reads a DKIM key record (RFC 6376 §3.6.1) holding an RSA
// key: "v=DKIM1; k=rsa; p=...".
func parseKeyRecord(txt string) (*rsa.PublicKey, error) {
	tags, err := parseTagList(txt)
	if err != nil {
		return nil, err
	}
	// RFC 6376 §3.6.1: v=, when present, is the first tag and is DKIM1.
	if v, ok := tags.get("v"); ok && (v != "DKIM1" || tags[0].name != "v") {
		return nil, errors.New("not a DKIM1 key record")
	}
	if k, ok := tags.get("k"); ok && k != "rsa" {
		return nil, fmt.Errorf("key type %q, want rsa", k)
	}
	if h, ok := tags.get("h"); ok && !listHas(h, "sha256") {
		return nil, errors.New("key not for sha256")
	}
	if s, ok := tags.get("s"); ok && !listHas(s, "*") && !listHas(s, "email") {
		return nil, errors.New("key not for email")
	}
	p, ok := tags.get("p")
	if !ok {
		return nil, errors.New("no p= tag")
	}
	p = removeFWS(p)
	if p == "" {
		// RFC 6376 §3.6.1: an empty p= means the key was revoked.
		return nil, errors.New("key revoked")
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return nil, errors.New("p= is not base64")
	}
	var key *rsa.PublicKey
	if pub, err := x509.ParsePKIXPublicKey(der); err == nil {
		var isRSA bool
		if key, isRSA = pub.(*rsa.PublicKey); !isRSA {
			return nil, fmt.Errorf("key is %T, not RSA", pub)
		}
	} else if key, err = x509.ParsePKCS1PublicKey(der); err != nil {
		// Some publish the bare RSAPublicKey instead of the
		// SubjectPublicKeyInfo of RFC 6376 §3.6.1; neither parsed.
		return nil, errors.New("p= is not an RSA public key")
	}
	if n := key.N.BitLen(); n < minRSABits || n > maxRSABits {
		return nil, fmt.Errorf("RSA key of %d bits (RFC 8301 §3.2: at least %d)", n, minRSABits)
	}
	return key, nil
}

// listHas reports whether the colon-separated list l names v.
func listHas(l, v string) bool {
	for _, e := range strings.Split(removeFWS(l), ":") {
		if e == v {
			return true
		}
	}
	return false
}
