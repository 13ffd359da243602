package queue

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"postel/internal/dns"
)

// TLS policy of one connection. Without DANE or MTA-STS, STARTTLS is used
// whenever offered but its certificate need not verify (opportunistic TLS,
// RFC 7435): an unverified encrypted connection is still better than a
// clear one. DANE (RFC 7672) and MTA-STS enforce (RFC 8461) make TLS
// mandatory and its verification fatal; REQUIRETLS (RFC 8689) makes both a
// condition of delivery at all.

// tlsPolicy is what one host requires of its connection.
type tlsPolicy struct {
	// dane: usable DANE TLSA records of the host, authenticated; TLS is
	// then mandatory and verified against them (RFC 7672 §2.2).
	dane []dns.TLSA
	// daneUnusable: TLSA records exist, authenticated, but none is usable:
	// TLS is mandatory but not verified (RFC 7672 §2.2).
	daneUnusable bool
	// stsEnforce: MTA-STS enforce: TLS mandatory with a certificate valid
	// for the host's name (RFC 8461 §4.2). Ignored when DANE applies (RFC
	// 8461 §2: DANE takes precedence).
	stsEnforce bool
	// requireTLS: the message asked REQUIRETLS: TLS verified by DANE or
	// PKIX, and the server must offer REQUIRETLS (RFC 8689 §4.2.1).
	requireTLS bool
}

// mandatory reports whether the host must not be used without TLS, and
// names the reason.
func (p tlsPolicy) mandatory() (bool, string) {
	switch {
	case p.requireTLS:
		return true, "REQUIRETLS"
	case len(p.dane) > 0 || p.daneUnusable:
		return true, "DANE"
	case p.stsEnforce:
		return true, "MTA-STS"
	}
	return false, ""
}

// tlsState is what a TLS handshake established.
type tlsState struct {
	on     bool // STARTTLS done
	pkixOK bool // certificate chain valid for the host name (RFC 6125)
	daneOK bool // matched a usable TLSA record
}

// satisfies reports whether a connection in state s may carry mail under
// policy p.
func (s tlsState) satisfies(p tlsPolicy) bool {
	switch {
	case len(p.dane) > 0:
		if !s.daneOK {
			return false
		}
	case p.daneUnusable:
		if !s.on {
			return false
		}
	case p.stsEnforce:
		if !s.pkixOK {
			return false
		}
	}
	if p.requireTLS && !s.daneOK && !s.pkixOK {
		return false
	}
	return true
}

// tlsClientConfig is the base of every TLS client configuration: TLS 1.2
// at least (RFC 8996 deprecates older versions).
func tlsClientConfig(roots *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
}

// verifier checks a server's certificates for one connection: it records
// the PKIX and DANE results in state and fails the handshake when the
// policy makes verification mandatory.
type verifier struct {
	host   string // MX host name, the reference identifier
	domain string // next-hop domain, also accepted for DANE-TA (RFC 7672 §3.2.2)
	roots  *x509.CertPool
	policy tlsPolicy
	state  tlsState
	err    error // why verification failed, for the logs
}

// config is the TLS configuration of the handshake. Go's own verification
// is off: verifyConnection does it, so that a failure can be tolerated
// where the policy allows.
func (v *verifier) config() *tls.Config {
	c := tlsClientConfig(v.roots)
	c.ServerName = v.host
	c.InsecureSkipVerify = true
	c.VerifyConnection = v.verifyConnection
	return c
}

func (v *verifier) verifyConnection(cs tls.ConnectionState) error {
	now := time.Now()
	v.state.on = true
	if len(cs.PeerCertificates) == 0 {
		v.err = errors.New("no certificate")
	} else {
		if v.host != "" {
			opts := x509.VerifyOptions{DNSName: v.host, Roots: v.roots, Intermediates: x509.NewCertPool(), CurrentTime: now}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			v.state.pkixOK = err == nil
			if err != nil {
				v.err = err
			}
		}
		if len(v.policy.dane) > 0 {
			err := daneVerify(v.policy.dane, cs.PeerCertificates, []string{v.host, v.domain}, now)
			v.state.daneOK = err == nil
			if err != nil {
				v.err = err
			}
		}
	}
	if !v.state.satisfies(v.policy) {
		if v.err == nil {
			v.err = errors.New("certificate not verified")
		}
		return v.err
	}
	return nil
}

// usableTLSA keeps the TLSA records SMTP uses (RFC 7672 §3.1: DANE-TA(2)
// and DANE-EE(3); PKIX-TA(0) and PKIX-EE(1) are unusable), with known
// selectors and matching types (RFC 6698 §2.1.2-3).
func usableTLSA(recs []dns.TLSA) []dns.TLSA {
	var out []dns.TLSA
	for _, r := range recs {
		if (r.Usage == 2 || r.Usage == 3) && r.Selector <= 1 && r.MatchingType <= 2 && len(r.Data) > 0 {
			out = append(out, r)
		}
	}
	return out
}

// tlsaMatches reports whether cert matches the selector and matching type
// of r.
func tlsaMatches(r dns.TLSA, cert *x509.Certificate) bool {
	data := cert.Raw
	if r.Selector == 1 {
		data = cert.RawSubjectPublicKeyInfo
	}
	switch r.MatchingType {
	case 0:
		return bytes.Equal(data, r.Data)
	case 1:
		sum := sha256.Sum256(data)
		return bytes.Equal(sum[:], r.Data)
	case 2:
		sum := sha512.Sum512(data)
		return bytes.Equal(sum[:], r.Data)
	}
	return false
}

// daneVerify checks a certificate chain against usable TLSA records.
// DANE-EE(3) matches the server's own certificate or key, with no name or
// validity checks (RFC 7672 §3.1.1). DANE-TA(2) matches a certificate of the
// chain the server sent (RFC 7672 §3.1.2: servers must include it), which
// then anchors an ordinary verification of the server certificate, for one
// of the reference names (RFC 7672 §3.2.2).
func daneVerify(recs []dns.TLSA, chain []*x509.Certificate, names []string, now time.Time) error {
	if len(chain) == 0 {
		return errors.New("DANE: no certificate")
	}
	leaf := chain[0]
	for _, r := range recs {
		if r.Usage == 3 && tlsaMatches(r, leaf) {
			return nil
		}
	}
	for _, r := range recs {
		if r.Usage != 2 {
			continue
		}
		for i, ta := range chain {
			if !tlsaMatches(r, ta) {
				continue
			}
			roots := x509.NewCertPool()
			roots.AddCert(ta)
			inter := x509.NewCertPool()
			for _, c := range chain[1:max(i, 1)] {
				inter.AddCert(c)
			}
			for _, name := range names {
				if name == "" {
					continue
				}
				if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter, CurrentTime: now}); err == nil {
					return nil
				}
			}
		}
	}
	return fmt.Errorf("DANE: no TLSA record matches the certificate chain of %d certificate(s)", len(chain))
}
