package arc

import (
	"bufio"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"postel/internal/dkim"
	"postel/internal/message"
)

// maxAuthResults bounds the authentication results Seal puts in an AAR.
const maxAuthResults = 16 << 10

// lineWidth is where Seal folds the fields it writes (RFC 5322 §2.1.1:
// lines should stay within 78 characters).
const lineWidth = 78

// Sealer adds ARC sets signed with a domain's RSA key. ARC uses rsa-sha256,
// the algorithm every verifier supports, never Ed25519. Its key is
// published like a DKIM key, at Selector._domainkey.Domain.
type Sealer struct {
	Domain   string
	Selector string
	Key      crypto.Signer // an *rsa.PrivateKey or another signer of an RSA key
	Now      func() time.Time
}

// Seal returns the header fields of the next ARC set (RFC 8617 §5.1):
// ARC-Seal, ARC-Message-Signature and ARC-Authentication-Results, each
// ending in CRLF, in the order in which they are to be prepended to msg.
//
// msg is the whole message as it will be sent on, with the header fields
// the forwarder added, before the new set (RFC 8617 §5.1 step 1: every
// change, DKIM signing included, is made before sealing). chain is what
// Verify found on the message as received. authservID and authResults
// become the AAR:
// "i=N; authservID; authResults", where authResults is the result part of
// our Authentication-Results (e.g. "arc=pass; dkim=pass header.d=...";
// "none" when empty).
//
// The new set has i = chain.Instances+1 and cv = chain.Status. Following
// RFC 8617, Seal returns no fields (nil, nil) when
//   - the newest ARC-Seal of msg already says cv=fail (§5.1 step 2: there
//     is nothing to add to a chain known to be broken), or
//   - the new instance would be above 50 (§4.2.1: i= ranges from 1 to 50,
//     so a chain of 50 sets, or a longer invalid one, cannot be extended).
//
// For a chain that failed validation (cv=fail), the ARC-Seal signs only the
// new set, as if it were the only one (§5.1.2).
func (s *Sealer) Seal(msg io.Reader, chain Result, authservID, authResults string) ([]byte, error) {
	domain, selector := strings.ToLower(strings.TrimSuffix(s.Domain, ".")), strings.ToLower(s.Selector)
	if !validDomain(domain) || !strings.Contains(domain, ".") {
		return nil, fmt.Errorf("arc: bad sealing domain %q", s.Domain)
	}
	if !validDomain(selector) {
		return nil, fmt.Errorf("arc: bad selector %q", s.Selector)
	}
	if s.Key == nil {
		return nil, errors.New("arc: no sealing key")
	}
	pub, ok := s.Key.Public().(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("arc: sealing key is %T, ARC needs RSA", s.Key.Public())
	}
	if n := pub.N.BitLen(); n < minRSABits || n > maxRSABits {
		return nil, fmt.Errorf("arc: RSA key of %d bits", n)
	}
	if !authservOK(authservID) {
		return nil, fmt.Errorf("arc: bad authserv-id %q", authservID)
	}
	results, err := cleanResults(authResults)
	if err != nil {
		return nil, err
	}

	br := bufio.NewReader(msg)
	hdr, err := message.ReadHeader(br, MaxHeaderBytes)
	if err != nil {
		return nil, fmt.Errorf("arc: %w", err)
	}
	fields := message.Fields(hdr)
	n := highestInstance(fields)
	if newestSealFailed(fields, n) {
		return nil, nil
	}
	var prior []arcSet
	switch chain.Status {
	case cvNone:
		if hasARC(fields) {
			return nil, errors.New("arc: chain status none for a message with ARC fields")
		}
	case cvPass:
		if n == 0 || chain.Instances != n {
			return nil, fmt.Errorf("arc: chain of %d sets given for a message whose highest i= is %d", chain.Instances, n)
		}
		var reason string
		if prior, reason = collect(fields, maxInstance); reason != "" {
			return nil, fmt.Errorf("arc: chain given as passing is malformed: %s", reason)
		}
	case cvFail:
		if chain.Instances != n {
			return nil, fmt.Errorf("arc: chain of %d sets given for a message whose highest i= is %d", chain.Instances, n)
		}
		// §5.1.2: the seal covers only the new set.
	default:
		return nil, fmt.Errorf("arc: bad chain status %q", chain.Status)
	}
	// §5.1 step 3: the instance follows the highest one.
	i := n + 1
	if i > maxInstance {
		return nil, nil
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	t := strconv.FormatInt(now().Unix(), 10)
	inst := strconv.Itoa(i)

	aar := foldField(fieldAAR+": i="+inst+"; "+authservID+"; "+results) + "\r\n"

	// The AMS: body hash, then the chosen fields and itself.
	bh := sha256.New()
	bc := newBodyCanon(bh, canonRelaxed, -1)
	if _, err := io.Copy(bc, br); err != nil {
		return nil, fmt.Errorf("arc: reading message: %w", err)
	}
	if err := bc.Close(); err != nil {
		return nil, fmt.Errorf("arc: %w", err)
	}
	names := signedNames(fields)
	amsHead := signatureHead(fieldAMS, []tag{
		{"i", inst}, {"a", algorithm}, {"c", canonRelaxed + "/" + canonRelaxed},
		{"d", domain}, {"s", selector}, {"t", t},
		{"h", strings.Join(names, ":")},
		{"bh", base64.StdEncoding.EncodeToString(bh.Sum(nil))},
	})
	sig, err := s.sign(headerDigest(selectFields(fields, names, -1), []byte(amsHead), canonRelaxed))
	if err != nil {
		return nil, err
	}
	ams := amsHead + foldBase64(sig, lastLineLen(amsHead)) + "\r\n"

	// The AS: prior sets when the chain passed, then the new one.
	asHead := signatureHead(fieldAS, []tag{
		{"i", inst}, {"a", algorithm}, {"t", t}, {"cv", chain.Status},
		{"d", domain}, {"s", selector},
	})
	digests, err := sealDigests(append(prior, arcSet{aar: []byte(aar), ams: []byte(ams), as: []byte(asHead)}))
	if err != nil {
		return nil, fmt.Errorf("arc: %w", err)
	}
	if sig, err = s.sign(digests[len(digests)-1]); err != nil {
		return nil, err
	}
	as := asHead + foldBase64(sig, lastLineLen(asHead)) + "\r\n"
	return []byte(as + ams + aar), nil
}

func (s *Sealer) sign(digest []byte) ([]byte, error) {
	sig, err := s.Key.Sign(rand.Reader, digest, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("arc: signing: %w", err)
	}
	return sig, nil
}

// newestSealFailed reports whether an ARC-Seal of instance n says cv=fail.
func newestSealFailed(fields []message.Field, n int) bool {
	for _, f := range fields {
		if !f.Is(fieldAS) {
			continue
		}
		if i, tags, _, err := instanceOf(f, fieldAS); err == nil && i == n {
			if cv, _ := tags.get("cv"); strings.EqualFold(cv, cvFail) {
				return true
			}
		}
	}
	return false
}

// signedNames is the AMS h= list for a message with these fields: what a
// DKIM signature of ours signs (dkim.HeaderKeys: the fields RFC 6376
// §5.4.1 recommends, the MIME and list fields, From, Subject, Date, To and
// Cc over-signed) and the DKIM-Signature fields already there (RFC 8617
// §4.1.2 says an AMS should sign them). ARC fields and
// Authentication-Results are never signed.
func signedNames(fields []message.Field) []string {
	return dkim.HeaderKeys(fields, "DKIM-Signature")
}

// authservOK checks an authserv-id (RFC 8601 §2.2) as Seal writes it: a
// token, without white space, ";" or quotes.
func authservOK(id string) bool {
	if id == "" || len(id) > 255 {
		return false
	}
	return !strings.ContainsFunc(id, func(r rune) bool {
		return r <= ' ' || r == 0x7f || r == ';' || r == '"' || r == '(' || r == ')'
	})
}

// cleanResults checks the results for an AAR: one line of text, no
// control characters; a leading ";" is dropped and nothing becomes "none"
// (RFC 8601 §2.2 no-result).
func cleanResults(r string) (string, error) {
	if len(r) > maxAuthResults {
		return "", errors.New("arc: authentication results too long")
	}
	if strings.ContainsFunc(r, func(c rune) bool { return c < ' ' && c != '\t' || c == 0x7f }) {
		return "", errors.New("arc: control characters in authentication results")
	}
	r = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(r), ";"))
	if r == "" {
		r = "none"
	}
	return r, nil
}

// signatureHead writes a signature field up to and including "b=": the
// tags in order, folded between tags and after the colons of h= (RFC 6376
// §3.5 allows FWS there), to be followed by the signature.
func signatureHead(name string, tags []tag) string {
	var sb strings.Builder
	sb.WriteString(name + ":")
	line := sb.Len()
	for _, tg := range append(tags, tag{"b", ""}) {
		parts := []string{tg.name + "=" + tg.value}
		if tg.name == "h" {
			parts = strings.SplitAfter(parts[0], ":")
		}
		if tg.name != "b" {
			parts[len(parts)-1] += ";"
		}
		for j, p := range parts {
			sep := ""
			if j == 0 {
				sep = " "
			}
			if line+len(sep)+len(p) > lineWidth && line > len(name)+1 {
				sb.WriteString("\r\n") // the space after it is the FWS
				line, sep = 0, " "
			}
			sb.WriteString(sep + p)
			line += len(sep) + len(p)
		}
	}
	return sb.String()
}

// foldField folds a header field line at spaces so that lines stay within
// lineWidth where a space allows; unfolding gives back the line.
func foldField(s string) string {
	var sb strings.Builder
	line := 0
	for n, word := range strings.Split(s, " ") {
		if n > 0 {
			if line+1+len(word) > lineWidth && line > 0 {
				sb.WriteString("\r\n")
				line = 0
			}
			sb.WriteByte(' ')
			line++
		}
		sb.WriteString(word)
		line += len(word)
	}
	return sb.String()
}

// foldBase64 writes a signature in base64, folded with FWS, which b=
// allows anywhere (RFC 6376 §3.5) and verifiers remove with the value.
func foldBase64(sig []byte, line int) string {
	v := base64.StdEncoding.EncodeToString(sig)
	var sb strings.Builder
	for v != "" {
		room := lineWidth - line
		if room < 8 {
			sb.WriteString("\r\n ")
			line, room = 1, lineWidth-1
		}
		n := min(len(v), room)
		sb.WriteString(v[:n])
		v = v[n:]
		line += n
	}
	return sb.String()
}

// lastLineLen is the length of the last line of s.
func lastLineLen(s string) int {
	return len(s) - (strings.LastIndex(s, "\n") + 1)
}
