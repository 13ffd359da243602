// Package arc validates and adds Authenticated Received Chains (ARC,
// RFC 8617): the sets of header fields with which intermediaries (mailing
// lists, forwarders) record the authentication results they saw and seal
// them, so that a later hop can trust a message whose DKIM or SPF broke in
// transit.
//
// An ARC set i=N is three header fields: ARC-Authentication-Results (AAR,
// the sealer's Authentication-Results), ARC-Message-Signature (AMS, a
// DKIM-style signature of the body and chosen header fields) and ARC-Seal
// (AS, a signature of all ARC sets 1..N). Canonicalization (RFC 6376 §3.4)
// and tag-lists (RFC 6376 §3.2) are implemented here; keys are DKIM key
// records (RFC 6376 §3.6.1) at SELECTOR._domainkey.DOMAIN.
//
// Choices where the RFCs leave room:
//   - Only rsa-sha256 signs and verifies (RFC 8617 takes DKIM's algorithms;
//     RFC 8301 §3.1 forbids rsa-sha1). RSA keys must have 1024 to 8192 bits.
//   - An AMS whose h= does not name From fails, as a DKIM-Signature would
//     (RFC 6376 §6.1.1), and so does one that names ARC-Seal.
//   - Only the newest AMS is validated; the optional "oldest-pass" of
//     RFC 8617 §5.2 step 5 is not computed.
//   - RFC 8617 §5.2.1 makes every validation error permanent. Verify reports
//     a DNS failure that may pass as Status "fail", as that section wants,
//     and also returns an error wrapping ErrTemporary, so that a receiving
//     MTA can answer 4xx and let the sender retry rather than record a
//     failure.
//
// The AMS of Seal signs, relaxed/relaxed, the fields our DKIM signatures
// sign (dkim.HeaderKeys: every instance, From, Subject, Date, To and Cc
// once more than they occur, so that none can be added) and the
// DKIM-Signature fields; it never signs ARC or Authentication-Results
// fields (RFC 8617 §4.1.2).
package arc

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"postel/internal/message"
)

// MaxHeaderBytes bounds the header block Verify and Seal read into memory.
const MaxHeaderBytes = 1 << 20

// maxInstance is the highest instance an ARC set can have (RFC 8617
// §4.2.1: i= ranges from 1 to 50).
const maxInstance = 50

// ErrTemporary is wrapped by the errors of key lookups that failed in a way
// that may pass (a DNS timeout or SERVFAIL): trying again later may give a
// definite result.
var ErrTemporary = errors.New("arc: temporary failure")

// Result of validating a message's ARC chain (RFC 8617 §5.2).
type Result struct {
	// Status is the chain validation status (cv, RFC 8617 §4.4):
	// "none" (no ARC fields), "pass" or "fail".
	Status string
	// Reason says why the chain failed, for the reason of an
	// Authentication-Results field; empty otherwise.
	Reason string
	// Instances is the highest instance (i=) of the ARC fields, 0 without
	// any: the number of ARC sets of a chain that passes.
	Instances int
	// Sealers are the d= of each ARC-Seal, i=1 first; only for a chain
	// that passes.
	Sealers []string
	// OldestAuthResults is the payload of ARC-Authentication-Results i=1
	// (after "i=1;"), unfolded: the results the first intermediary saw.
	// Only for a chain that passes.
	OldestAuthResults string
}

// Options of Verify.
type Options struct {
	// LookupTXT returns the TXT records of a name, as dns.Resolver's
	// does; errors for which dns.IsNotFound holds are definite.
	LookupTXT func(ctx context.Context, name string) ([]string, error)
	// MaxSets is the most ARC sets a chain may have: 50 when 0 or above
	// 50 (RFC 8617 §4.2.1).
	MaxSets int
	// Now is the time signature expiry (x=) is judged at; time.Now when
	// nil.
	Now func() time.Time
}

// Verify validates the ARC chain of a message (the whole message as
// received, header and body) following RFC 8617 §5.2. A chain that is
// malformed, or whose key is missing or revoked, or whose signatures do not
// verify, gives Status "fail" and a nil error. When a key lookup failed in a
// way that may pass, and nothing else failed, the Result is "fail" and the
// error wraps ErrTemporary. Other errors (reading msg, a header block over
// MaxHeaderBytes) come with a zero Result.
func Verify(ctx context.Context, msg io.Reader, opts Options) (Result, error) {
	br := bufio.NewReader(msg)
	hdr, err := message.ReadHeader(br, MaxHeaderBytes)
	if err != nil {
		return Result{}, fmt.Errorf("arc: %w", err)
	}
	return verify(ctx, message.Fields(hdr), br, opts)
}

func verify(ctx context.Context, fields []message.Field, body io.Reader, opts Options) (Result, error) {
	res := Result{Status: cvNone}
	// RFC 8617 §5.2 step 1: without ARC sets the status is "none".
	if !hasARC(fields) {
		return res, nil
	}
	res.Instances = highestInstance(fields)
	fail := func(format string, args ...any) (Result, error) {
		res.Status, res.Reason = cvFail, fmt.Sprintf(format, args...)
		return res, nil
	}
	if opts.LookupTXT == nil {
		return Result{}, errors.New("arc: Options.LookupTXT not set")
	}
	maxSets := opts.MaxSets
	if maxSets <= 0 || maxSets > maxInstance {
		maxSets = maxInstance
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}

	// RFC 8617 §5.2 step 1: at most 50 sets; step 3: each complete,
	// numbered 1..N without gaps or repetition.
	sets, reason := collect(fields, maxSets)
	if reason != "" {
		return fail("%s", reason)
	}
	n := len(sets)
	if n == 0 { // not reached: hasARC found a field, and collect read it
		return fail("no ARC set")
	}
	seals := make([]*asSig, n)
	for k := range sets {
		as, err := parseAS(sets[k].asTags)
		if err != nil {
			return fail("ARC-Seal i=%d: %v", k+1, err)
		}
		seals[k] = as
	}
	// RFC 8617 §5.2 step 2: the newest seal says the chain failed before
	// us.
	if seals[n-1].cv == cvFail {
		return fail("ARC-Seal i=%d has cv=fail", n)
	}
	// RFC 8617 §5.2 step 3.3: cv=none at i=1, cv=pass above.
	for k, as := range seals {
		want := cvPass
		if k == 0 {
			want = cvNone
		}
		if as.cv != want {
			return fail("ARC-Seal i=%d has cv=%s, want %s", k+1, as.cv, want)
		}
	}

	v := keyCache{lookup: opts.LookupTXT, keys: map[string]keyResult{}}
	var temp error // the first lookup failure that may pass

	// RFC 8617 §5.2 step 4: the newest AMS must verify.
	newest := &sets[n-1]
	ams, err := parseAMS(newest.amsTags, now())
	if err != nil {
		return fail("ARC-Message-Signature i=%d: %v", n, err)
	}
	bh := sha256.New()
	bc := newBodyCanon(bh, ams.bc, ams.bodyLength)
	if _, err := io.Copy(bc, body); err != nil {
		return Result{}, fmt.Errorf("arc: reading message: %w", err)
	}
	if err := bc.Close(); err != nil {
		return fail("ARC-Message-Signature i=%d: %v", n, err)
	}
	if !bytes.Equal(bh.Sum(nil), ams.bodyHash) {
		return fail("ARC-Message-Signature i=%d: body hash does not match", n)
	}
	digest := headerDigest(selectFields(fields, ams.names, newest.amsIndex), newest.ams, ams.hc)
	if err := v.check(ctx, ams.s, ams.d, digest, ams.sig); errors.Is(err, ErrTemporary) {
		temp = err
	} else if err != nil {
		return fail("ARC-Message-Signature i=%d: %v", n, err)
	}

	// RFC 8617 §5.2 step 6: every AS must verify, newest first.
	digests, err := sealDigests(sets)
	if err != nil {
		return Result{}, fmt.Errorf("arc: %w", err)
	}
	for k := n - 1; k >= 0; k-- {
		if err := v.check(ctx, seals[k].s, seals[k].d, digests[k], seals[k].sig); errors.Is(err, ErrTemporary) {
			if temp == nil {
				temp = err
			}
		} else if err != nil {
			return fail("ARC-Seal i=%d: %v", k+1, err)
		}
	}
	if temp != nil {
		res.Status, res.Reason = cvFail, "temporary key lookup failure"
		return res, temp
	}

	// RFC 8617 §5.2 step 7: the chain passes.
	res.Status = cvPass
	for _, as := range seals {
		res.Sealers = append(res.Sealers, as.d)
	}
	res.OldestAuthResults = unfold(sets[0].payload)
	return res, nil
}

// arcName returns the canonical name of an ARC field, "" for other fields.
func arcName(f message.Field) string {
	for _, n := range []string{fieldAAR, fieldAMS, fieldAS} {
		if f.Is(n) {
			return n
		}
	}
	return ""
}

func hasARC(fields []message.Field) bool {
	for _, f := range fields {
		if arcName(f) != "" {
			return true
		}
	}
	return false
}

// instanceOf reads the instance of an ARC field, with the parsed tags of an
// AMS or AS and the payload of an AAR; an error when it has none that
// reads.
func instanceOf(f message.Field, name string) (i int, tags tagList, payload string, err error) {
	if name == fieldAAR {
		i, payload, ok := aarInstance(fieldValue(f))
		if !ok {
			return 0, nil, "", errors.New("no valid i= before \";\"")
		}
		return i, nil, payload, nil
	}
	tags, err = parseTagList(fieldValue(f))
	if err != nil {
		return 0, nil, "", err
	}
	v, _ := tags.get("i")
	i, ok := parseInstance(v)
	if !ok {
		return 0, nil, "", errors.New("no valid i= tag")
	}
	return i, tags, "", nil
}

// highestInstance is the highest instance among the ARC fields whose
// instance reads, 0 when there is none.
func highestInstance(fields []message.Field) int {
	n := 0
	for _, f := range fields {
		if name := arcName(f); name != "" {
			if i, _, _, err := instanceOf(f, name); err == nil {
				n = max(n, i)
			}
		}
	}
	return n
}

// collect groups the ARC fields of a message into sets 1..N (RFC 8617
// §5.2 steps 1 and 3.1-3.2). It gives a reason instead when a field's
// instance does not read, an instance is above maxSets, a set has two
// fields of a kind or lacks one, or an instance between 1 and N is
// missing. It stops at the first problem, so its work is bounded by
// 3*maxSets fields.
func collect(fields []message.Field, maxSets int) ([]arcSet, string) {
	byInstance := map[int]*arcSet{}
	n := 0
	for idx, f := range fields {
		name := arcName(f)
		if name == "" {
			continue
		}
		i, tags, payload, err := instanceOf(f, name)
		if err != nil {
			return nil, fmt.Sprintf("%s: %v", name, err)
		}
		if i > maxSets {
			return nil, fmt.Sprintf("%s i=%d: more than %d ARC sets", name, i, maxSets)
		}
		s := byInstance[i]
		if s == nil {
			s = &arcSet{}
			byInstance[i] = s
		}
		// RFC 8617 §4.2.1: exactly one field of each kind per instance.
		var slot *[]byte
		switch name {
		case fieldAAR:
			slot, s.payload = &s.aar, payload
		case fieldAMS:
			slot, s.amsTags, s.amsIndex = &s.ams, tags, idx
		default:
			slot, s.asTags = &s.as, tags
		}
		if *slot != nil {
			return nil, fmt.Sprintf("two %s fields with i=%d", name, i)
		}
		*slot = f.Raw
		n = max(n, i)
	}
	sets := make([]arcSet, n)
	for i := 1; i <= n; i++ {
		s := byInstance[i]
		switch {
		case s == nil:
			return nil, fmt.Sprintf("ARC set i=%d missing", i)
		case s.aar == nil:
			return nil, fmt.Sprintf("ARC set i=%d has no %s", i, fieldAAR)
		case s.ams == nil:
			return nil, fmt.Sprintf("ARC set i=%d has no %s", i, fieldAMS)
		case s.as == nil:
			return nil, fmt.Sprintf("ARC set i=%d has no %s", i, fieldAS)
		}
		sets[i-1] = *s
	}
	return sets, ""
}

// keyResult is a looked-up key or the reason there is none.
type keyResult struct {
	key *rsa.PublicKey
	err error
}

// keyCache looks up each key once per message.
type keyCache struct {
	lookup func(context.Context, string) ([]string, error)
	keys   map[string]keyResult
}

// check verifies sig of digest with the key of selector s in domain d.
func (c *keyCache) check(ctx context.Context, s, d string, digest, sig []byte) error {
	name := keyName(s, d)
	r, ok := c.keys[name]
	if !ok {
		r.key, r.err = lookupKey(ctx, c.lookup, s, d)
		c.keys[name] = r
	}
	if r.err != nil {
		return r.err
	}
	if rsa.VerifyPKCS1v15(r.key, crypto.SHA256, digest, sig) != nil {
		return errors.New("signature does not verify")
	}
	return nil
}
