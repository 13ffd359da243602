package msgauth

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"postel/internal/dns"
	"postel/internal/message"
)

// maxTags bounds the tags of a tag-list (RFC 6376 §3.2) we look at.
const maxTags = 64

// tag is one tag=value of a tag-list.
type tag struct{ name, value string }

// parseTags splits a tag-list (RFC 6376 §3.2: tag=value pairs separated by
// ";", white space around them ignored) into its first maxTags tags.
// Parts without "=" are skipped.
func parseTags(v string) []tag {
	var out []tag
	for len(v) > 0 && len(out) < maxTags {
		part := v
		if i := strings.IndexByte(v, ';'); i >= 0 {
			part, v = v[:i], v[i+1:]
		} else {
			v = ""
		}
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		out = append(out, tag{strings.TrimSpace(name), strings.TrimSpace(value)})
	}
	return out
}

// tagValue returns the value of the first tag named name, with every
// white space removed (RFC 6376 §3.2: FWS inside values is not part of
// them), and whether there is one.
func tagValue(tags []tag, name string) (string, bool) {
	for _, t := range tags {
		if t.name == name {
			return stripSpace(t.value), true
		}
	}
	return "", false
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

// checkDKIM verifies the first c.maxSigs DKIM signatures of the message
// (RFC 6376 §6) with go-msgauth, its key lookups going through our
// resolver. hdr is the header block, body the rest of the message.
func (c *Checker) checkDKIM(ctx context.Context, hdr []byte, fields []message.Field, body io.Reader) (results []DKIMResult, unchecked int, readErr error) {
	var sigs [][]tag
	for _, f := range fields {
		if f.Is("DKIM-Signature") {
			sigs = append(sigs, parseTags(f.Value()))
		}
	}
	if len(sigs) == 0 {
		return nil, 0, nil
	}
	if len(sigs) > c.maxSigs {
		unchecked = len(sigs) - c.maxSigs
		sigs = sigs[:c.maxSigs]
	}
	results = make([]DKIMResult, len(sigs))
	for i, tags := range sigs {
		r := &results[i]
		r.Domain, _ = tagValue(tags, "d")
		r.Selector, _ = tagValue(tags, "s")
		r.Algorithm, _ = tagValue(tags, "a")
		r.B, _ = tagValue(tags, "b")
	}

	// go-msgauth wants the empty line ending the header block.
	if !bytes.HasSuffix(hdr, []byte("\n\r\n")) && !bytes.HasSuffix(hdr, []byte("\n\n")) {
		hdr = append(slices.Clip(bytes.TrimRight(hdr, "\r\n")), "\r\n\r\n"...)
	}
	opts := &msgdkim.VerifyOptions{
		MaxVerifications: c.maxSigs,
		LookupTXT: func(name string) ([]string, error) {
			return dns.NetResolver(c.res).LookupTXT(ctx, name)
		},
	}
	verifs, err := msgdkim.VerifyWithOptions(io.MultiReader(bytes.NewReader(hdr), body), opts)
	if err != nil && !errors.Is(err, msgdkim.ErrTooManySignatures) {
		// Not a verdict about a signature: reading the message failed.
		for i := range results {
			results[i].Result, results[i].Reason, results[i].Err = "temperror", "message not read", err
		}
		return results, unchecked, err
	}
	for i := range results {
		if i >= len(verifs) {
			// Signature fields we and the verifier split differently.
			results[i].Result, results[i].Reason = "neutral", "not verified"
			continue
		}
		c.dkimOutcome(&results[i], sigs[i], verifs[i].Err)
	}
	return results, unchecked, nil
}

// dkimOutcome sets r's result (RFC 8601 §2.7.1) from the verifier's error.
func (c *Checker) dkimOutcome(r *DKIMResult, tags []tag, err error) {
	r.Err = err
	switch {
	case err == nil:
		if x, ok := tagValue(tags, "x"); ok {
			// RFC 6376 §3.5: x= is the expiration; the verifier checks
			// it against the wall clock, we against ours too.
			if sec, perr := strconv.ParseInt(x, 10, 64); perr == nil && c.now().After(time.Unix(sec, 0)) {
				r.Result, r.Reason = "permerror", "signature has expired"
				return
			}
		}
		r.Result = "pass"
		return
	case msgdkim.IsTempFail(err):
		// RFC 6376 §6.1.2: the key could not be retrieved for now.
		r.Result, r.Reason = "temperror", "key lookup failed"
		return
	}
	reason := strings.TrimPrefix(err.Error(), "dkim: ")
	if i := strings.Index(reason, ": "); i >= 0 {
		reason = reason[:i]
	}
	r.Reason = reason
	_, hasL := tagValue(tags, "l")
	switch {
	case strings.HasSuffix(strings.ToLower(r.Algorithm), "-sha1"),
		strings.Contains(err.Error(), "key is too short"),
		hasL:
		// Signatures we refuse although they may verify: RFC 8301 §3.1
		// (rsa-sha1), §3.2 (RSA keys under 1024 bits), and l= (a body
		// partly unsigned, RFC 6376 §8.2). RFC 8601 §2.7.1: "policy".
		r.Result = "policy"
	case msgdkim.IsPermFail(err):
		// RFC 6376 §6.1: PERMFAIL (no key, key revoked, bad tags ...).
		r.Result = "permerror"
	default:
		// The signature or the body hash did not verify.
		r.Result = "fail"
	}
}
