package arc

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"

	"postel/internal/message"
)

// Names of the ARC header fields (RFC 8617 §4.1).
const (
	fieldAAR = "ARC-Authentication-Results"
	fieldAMS = "ARC-Message-Signature"
	fieldAS  = "ARC-Seal"
)

// algorithm is the only signing algorithm: RFC 8617 §4.1.2 and §4.1.3
// take DKIM's, and rsa-sha256 is the one every verifier has (RFC 8301
// §3.1 forbids rsa-sha1).
const algorithm = "rsa-sha256"

// maxSignedFields bounds the names in an AMS h= tag.
const maxSignedFields = 256

// Chain validation status values (RFC 8617 §4.4).
const (
	cvNone = "none"
	cvFail = "fail"
	cvPass = "pass"
)

// parseInstance reads an i= value: 1*2DIGIT (RFC 8617 §3.9), 1 or more.
func parseInstance(v string) (int, bool) {
	n, ok := parseDigits(v, 2)
	return int(n), ok && n >= 1
}

// aarInstance reads the instance of an ARC-Authentication-Results field and
// the authres-payload after it (RFC 8617 §4.1.1):
//
//	arc-info = instance [CFWS] ";" authres-payload
//	instance = [CFWS] %s"i" [CFWS] "=" [CFWS] position
func aarInstance(value string) (int, string, bool) {
	v := trimFWS(value)
	if !strings.HasPrefix(v, "i") {
		return 0, "", false
	}
	v = trimFWS(v[1:])
	if !strings.HasPrefix(v, "=") {
		return 0, "", false
	}
	v = trimFWS(v[1:])
	end := 0
	for end < len(v) && isDigit(v[end]) {
		end++
	}
	i, ok := parseInstance(v[:end])
	if !ok {
		return 0, "", false
	}
	v = trimFWS(v[end:])
	if !strings.HasPrefix(v, ";") {
		return 0, "", false
	}
	return i, v[1:], true
}

// fieldValue is the raw value of a field: after the colon, folding kept.
func fieldValue(f message.Field) string {
	return string(f.Raw[bytes.IndexByte(f.Raw, ':')+1:])
}

// unfold removes the line breaks of folded text (RFC 5322 §2.2.3) and
// trims it.
func unfold(s string) string {
	return strings.TrimSpace(strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(s))
}

// stripSignature returns a signature field's raw text with the value of its
// b= tag deleted, white space around it included, and without the line
// break that ends the field: the form hashed as the signature's own field
// (RFC 6376 §3.7, RFC 8617 §5.1.1).
func stripSignature(raw []byte) []byte {
	raw = bytes.TrimSuffix(raw, []byte("\n"))
	raw = bytes.TrimSuffix(raw, []byte("\r"))
	colon := bytes.IndexByte(raw, ':')
	if colon < 0 {
		return raw
	}
	for start := colon + 1; start <= len(raw); {
		end := bytes.IndexByte(raw[start:], ';')
		if end < 0 {
			end = len(raw)
		} else {
			end += start
		}
		spec := raw[start:end]
		if eq := bytes.IndexByte(spec, '='); eq >= 0 && trimFWS(string(spec[:eq])) == "b" {
			out := make([]byte, 0, len(raw))
			out = append(out, raw[:start+eq+1]...)
			return append(out, raw[end:]...)
		}
		start = end + 1
	}
	return raw
}

// signatureDigest ends a signature's hash with its own field, b= empty and
// without the final CRLF (RFC 6376 §3.7).
func signatureDigest(h hash.Hash, raw []byte, algo string) []byte {
	c := canonHeader(stripSignature(raw), algo)
	h.Write(c[:len(c)-2])
	return h.Sum(nil)
}

// selectFields returns the raw fields named in h=, in order, each name
// taking the last instance in the header not yet taken (RFC 6376 §5.4.2);
// a name with no instance left stands for nothing. The field at index self (the
// signature itself) is never taken.
func selectFields(fields []message.Field, names []string, self int) [][]byte {
	byName := map[string][]int{}
	for i, f := range fields {
		if i != self {
			k := strings.ToLower(f.Name)
			byName[k] = append(byName[k], i)
		}
	}
	var out [][]byte
	for _, n := range names {
		k := strings.ToLower(n)
		idx := byName[k]
		if len(idx) == 0 {
			continue
		}
		out = append(out, fields[idx[len(idx)-1]].Raw)
		byName[k] = idx[:len(idx)-1]
	}
	return out
}

// headerDigest is the hash of an AMS: the fields of h= and then the AMS
// itself (RFC 6376 §3.7, RFC 8617 §4.1.2).
func headerDigest(signed [][]byte, sigRaw []byte, algo string) []byte {
	h := sha256.New()
	for _, raw := range signed {
		h.Write(canonHeader(raw, algo))
	}
	return signatureDigest(h, sigRaw, algo)
}

// sealDigests returns, for every set k of sets (instance k+1), the hash
// its ARC-Seal signs: the AAR, AMS and AS of every set up to k in order,
// relaxed, set k's AS with b= empty and last (RFC 8617 §5.1.1). One
// running hash serves all sets, so the work stays linear in the chain.
func sealDigests(sets []arcSet) ([][]byte, error) {
	run := sha256.New().(hash.Cloner)
	out := make([][]byte, len(sets))
	for k, s := range sets {
		run.Write(relaxedHeader(s.aar))
		run.Write(relaxedHeader(s.ams))
		h, err := run.Clone()
		if err != nil {
			return nil, err
		}
		out[k] = signatureDigest(h, s.as, canonRelaxed)
		run.Write(relaxedHeader(s.as))
	}
	return out, nil
}

// arcSet holds the raw fields of one ARC set (RFC 8617 §4.2).
type arcSet struct {
	aar, ams, as []byte
	amsIndex     int // of the AMS in the message's fields
	amsTags      tagList
	asTags       tagList
	payload      string // of the AAR, after "i=N;"
}

// amsSig is a parsed ARC-Message-Signature.
type amsSig struct {
	d, s       string
	names      []string // h=
	hc, bc     string   // canonicalization of header and body
	bodyHash   []byte
	sig        []byte
	bodyLength int64 // l=, -1 when absent
}

// parseAMS checks the tags of an AMS (RFC 8617 §4.1.2: those of a
// DKIM-Signature, RFC 6376 §3.5, with i= the instance and no v=).
func parseAMS(tags tagList, now time.Time) (*amsSig, error) {
	s := &amsSig{bodyLength: -1}
	var err error
	if s.d, s.s, s.sig, err = commonTags(tags); err != nil {
		return nil, err
	}
	c, ok := tags.get("c")
	if s.hc, s.bc, err = parseCanon(c, ok); err != nil {
		return nil, err
	}
	bh, ok := tags.get("bh")
	if !ok {
		return nil, errors.New("no bh= tag")
	}
	if s.bodyHash, err = base64.StdEncoding.DecodeString(removeFWS(bh)); err != nil || len(s.bodyHash) != sha256.Size {
		return nil, errors.New("bh= is not a base64 SHA-256 hash")
	}
	h, ok := tags.get("h")
	if !ok {
		return nil, errors.New("no h= tag")
	}
	from := false
	for _, n := range strings.Split(removeFWS(h), ":") {
		if !validFieldName(n) {
			return nil, fmt.Errorf("bad field name %.40q in h=", n)
		}
		switch strings.ToLower(n) {
		case "from":
			from = true
		case "arc-seal":
			// RFC 8617 §4.1.2: ARC-Seal fields are not in the scope
			// of an AMS.
			return nil, errors.New("h= names ARC-Seal")
		}
		if len(s.names) == maxSignedFields {
			return nil, fmt.Errorf("h= names more than %d fields", maxSignedFields)
		}
		s.names = append(s.names, n)
	}
	if !from {
		// The AMS has the semantics of a DKIM-Signature (RFC 8617
		// §4.1.2), whose h= must name From (RFC 6376 §5.4, §6.1.1).
		return nil, errors.New("h= does not name From")
	}
	if q, ok := tags.get("q"); ok && !listHas(q, "dns/txt") {
		return nil, fmt.Errorf("unknown query method q=%.20s", q)
	}
	if l, ok := tags.get("l"); ok {
		if s.bodyLength, ok = parseDigits(l, 76); !ok || s.bodyLength < 0 {
			return nil, errors.New("bad l= tag")
		}
	}
	t, hasT, err := timeTag(tags, "t")
	if err != nil {
		return nil, err
	}
	x, hasX, err := timeTag(tags, "x")
	if err != nil {
		return nil, err
	}
	if hasX {
		// RFC 6376 §3.5: x= is after t=; a signature past it is invalid.
		if hasT && x < t {
			return nil, errors.New("x= before t=")
		}
		if now.Unix() > x {
			return nil, errors.New("signature expired (x=)")
		}
	}
	return s, nil
}

// asSig is a parsed ARC-Seal.
type asSig struct {
	d, s, cv string
	sig      []byte
}

// parseAS checks the tags of an AS (RFC 8617 §4.1.3: i, a, b, cv, d, s
// and t; unknown tags are ignored, but h= fails the seal).
func parseAS(tags tagList) (*asSig, error) {
	s := &asSig{}
	var err error
	if s.d, s.s, s.sig, err = commonTags(tags); err != nil {
		return nil, err
	}
	if _, ok := tags.get("h"); ok {
		return nil, errors.New("h= tag in an ARC-Seal")
	}
	cv, ok := tags.get("cv")
	if !ok {
		return nil, errors.New("no cv= tag")
	}
	if s.cv = strings.ToLower(cv); s.cv != cvNone && s.cv != cvFail && s.cv != cvPass {
		return nil, fmt.Errorf("bad cv=%.20s", cv)
	}
	if _, _, err := timeTag(tags, "t"); err != nil {
		return nil, err
	}
	return s, nil
}

// commonTags checks a=, d=, s= and b=, which AMS and AS share.
func commonTags(tags tagList) (d, s string, sig []byte, err error) {
	a, ok := tags.get("a")
	if !ok {
		return "", "", nil, errors.New("no a= tag")
	}
	if a != algorithm {
		return "", "", nil, fmt.Errorf("algorithm a=%.20s, want %s", a, algorithm)
	}
	if d, ok = tags.get("d"); !ok || !validDomain(d) {
		return "", "", nil, errors.New("missing or bad d= tag")
	}
	if s, ok = tags.get("s"); !ok || !validDomain(s) {
		return "", "", nil, errors.New("missing or bad s= tag")
	}
	b, ok := tags.get("b")
	if !ok {
		return "", "", nil, errors.New("no b= tag")
	}
	if sig, err = base64.StdEncoding.DecodeString(removeFWS(b)); err != nil || len(sig) == 0 {
		return "", "", nil, errors.New("b= is not a base64 signature")
	}
	return strings.ToLower(d), strings.ToLower(s), sig, nil
}

// timeTag reads t= or x=: up to 12 digits of seconds since the epoch
// (RFC 6376 §3.5).
func timeTag(tags tagList, name string) (int64, bool, error) {
	v, ok := tags.get(name)
	if !ok {
		return 0, false, nil
	}
	n, valid := parseDigits(v, 12)
	if !valid {
		return 0, true, fmt.Errorf("bad %s= tag", name)
	}
	return n, true, nil
}

// validDomain checks the syntax of d= and s= values: dot-separated labels
// of letters, digits, '-' and '_' (RFC 6376 §3.5 domain-name and selector,
// ASCII form).
func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isAlpha(c) && !isDigit(c) && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}

// validFieldName is RFC 5322 §3.6.8: printable US-ASCII but colon.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}
