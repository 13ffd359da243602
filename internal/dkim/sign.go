package dkim

import (
	"bufio"
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"postel/internal/message"
)

// MaxHeaderBytes bounds the header block Sign reads into memory.
const MaxHeaderBytes = 1 << 20

// signedFields are the header fields signed when present, every instance:
// RFC 6376 §5.4.1's recommendation, plus the fields that say how to read
// the body (MIME) and List-Unsubscribe-Post (RFC 8058 §4 requires it signed).
var signedFields = []string{
	"From", "Reply-To", "Subject", "Date", "To", "Cc",
	"Resent-Date", "Resent-From", "Resent-To", "Resent-Cc",
	"In-Reply-To", "References",
	"List-Id", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Subscribe",
	"List-Post", "List-Owner", "List-Archive",
	"Sender", "Message-ID", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
}

// overSigned fields are named once more in h= than they occur (RFC 6376
// §5.4.2), so that adding an instance, or adding one where none was,
// breaks the signature.
var overSigned = map[string]bool{"From": true, "Subject": true, "Date": true, "To": true, "Cc": true}

// Signer signs messages with the keys of their From domain. It is safe for
// concurrent use; Reload swaps its keys while it signs.
type Signer struct {
	dir  string
	keys atomic.Pointer[map[string][]key] // by domain, lower-case A-label
}

// LoadSigner loads the keys of every domain under dir. A missing dir gives
// a Signer without keys.
func LoadSigner(dir string) (*Signer, error) {
	s := &Signer{dir: dir}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload reads the keys under the Signer's directory again (keys made by
// postel dkim gen since, or moved aside); on error the keys in use stay.
func (s *Signer) Reload() error {
	keys, err := loadKeys(s.dir)
	if err != nil {
		return err
	}
	s.keys.Store(&keys)
	return nil
}

// loadKeys loads the keys of every domain under dir.
func loadKeys(dir string) (map[string][]key, error) {
	out := map[string][]key{}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	} else if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		domain, err := normalizeDomain(e.Name())
		if err != nil || domain != e.Name() {
			continue // not a domain directory
		}
		keys, err := loadDomain(filepath.Join(dir, domain))
		if err != nil {
			return nil, err
		}
		if len(keys) > 0 {
			out[domain] = keys
		}
	}
	return out, nil
}

// Domains lists the domains the Signer has keys for, sorted.
func (s *Signer) Domains() []string {
	var out []string
	for d := range *s.keys.Load() {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// Sign reads a message and returns the DKIM-Signature header fields to
// prepend to it (one per key, each ending in CRLF), or nil when there is no
// key for the domain of its From address or one of that domain's parents
// (DMARC relaxed alignment, RFC 7489 §3.1.1). Header and body use relaxed
// canonicalization (RFC 6376 §3.4.2, §3.4.4).
func (s *Signer) Sign(r io.Reader) ([]byte, error) {
	br := bufio.NewReader(r)
	hdr, err := message.ReadHeader(br, MaxHeaderBytes)
	if err != nil {
		return nil, err
	}
	fields := message.Fields(hdr)
	domain, keys := s.keysFor(fromDomain(fields))
	if keys == nil {
		return nil, nil
	}
	headerKeys := HeaderKeys(fields)

	signers := make([]*msgdkim.Signer, len(keys))
	writers := make([]io.Writer, len(keys))
	for i, k := range keys {
		signers[i], err = msgdkim.NewSigner(&msgdkim.SignOptions{
			Domain:                 domain,
			Selector:               k.selector,
			Signer:                 k.signer,
			HeaderCanonicalization: msgdkim.CanonicalizationRelaxed,
			BodyCanonicalization:   msgdkim.CanonicalizationRelaxed,
			HeaderKeys:             headerKeys,
		})
		if err != nil {
			for _, sg := range signers[:i] {
				sg.Close()
			}
			return nil, fmt.Errorf("dkim: %w", err)
		}
		writers[i] = signers[i]
	}
	_, err = io.Copy(io.MultiWriter(writers...), io.MultiReader(bytes.NewReader(hdr), br))
	var out []byte
	for _, sg := range signers {
		if cerr := sg.Close(); cerr != nil && err == nil {
			err = cerr
		}
		if err == nil {
			out = append(out, sg.Signature()...)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("dkim: signing: %w", err)
	}
	return out, nil
}

// keysFor finds the keys for domain or its nearest parent that has some.
func (s *Signer) keysFor(domain string) (string, []key) {
	keys := *s.keys.Load()
	for d := domain; strings.Contains(d, "."); d = d[strings.IndexByte(d, '.')+1:] {
		if k := keys[d]; k != nil {
			return d, k
		}
	}
	return "", nil
}

// RSAKey returns the RSA key of domain, or of its nearest parent that has
// keys, with the domain and selector it is published under: the key ARC
// seals with (RFC 8617 sealers sign rsa-sha256). ok is false when that
// domain has no RSA key, or none of them has keys.
func (s *Signer) RSAKey(domain string) (d, selector string, key crypto.Signer, ok bool) {
	domain, err := normalizeDomain(domain)
	if err != nil {
		return "", "", nil, false
	}
	d, keys := s.keysFor(domain)
	for _, k := range keys {
		if k.selector == SelectorRSA {
			return d, k.selector, k.signer, true
		}
	}
	return "", "", nil, false
}

// addressParser reads From fields whatever the charset of encoded words in
// display names: only the address matters here.
var addressParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{
	CharsetReader: func(_ string, input io.Reader) (io.Reader, error) { return input, nil },
}}

// fromDomain is the lower-case domain of the first From address, "" when
// there is none or it cannot be parsed.
func fromDomain(fields []message.Field) string {
	for _, f := range fields {
		if !f.Is("From") {
			continue
		}
		addrs, err := addressParser.ParseList(f.Value())
		if err != nil || len(addrs) == 0 {
			return ""
		}
		at := strings.LastIndexByte(addrs[0].Address, '@')
		if at < 0 {
			return ""
		}
		d, err := normalizeDomain(addrs[0].Address[at+1:])
		if err != nil {
			return ""
		}
		return d
	}
	return ""
}

// HeaderKeys is the h= list of a signature over a header of these fields
// (a DKIM signature, or an ARC-Message-Signature, RFC 8617 §4.1.2): every
// field of signedFields and of extra as often as it occurs, the
// over-signed ones once more.
func HeaderKeys(fields []message.Field, extra ...string) []string {
	var out []string
	for _, name := range append(signedFields[:len(signedFields):len(signedFields)], extra...) {
		n := 0
		for _, f := range fields {
			if f.Is(name) {
				n++
			}
		}
		if overSigned[name] {
			n++
		}
		for range n {
			out = append(out, name)
		}
	}
	return out
}
