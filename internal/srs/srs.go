// Package srs implements the Sender Rewriting Scheme: when Postel forwards
// a message from alice@example.com to a remote address (an alias), the next
// hop checks SPF of the envelope sender against Postel's IP, and fails. So
// the forwarded message gets an envelope sender at our domain that encodes
// the original one, and bounces sent to it are routed back to alice.
//
// The format is the de-facto one of Shevek's SRS paper, as libsrs2,
// postsrsd and Exim write it:
//
//	SRS0=HHHH=TT=example.com=alice@our.example
//	SRS1=HHHH=first.example==HHHH=TT=example.com=alice@our.example
//
// TT is the day of the rewriting in base32 (two characters, so it wraps
// every 1024 days) and HHHH the first four base64 characters of an
// HMAC-SHA256 of the other parts with our secret, which only we check.
// Forwarding an SRS0 address made by another forwarder gives the SRS1 form,
// which names that first forwarder and keeps its SRS0 part; forwarding an
// SRS1 address keeps the first forwarder and its part, under our hash. A
// bounce to SRS1 goes straight back to the first forwarder.
//
// Local parts may be case-folded on the way back (Postel itself folds
// them), so the prefix, the timestamp and the hash are read regardless of
// case, the hash over lower-cased data and compared in constant time.
package srs

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors of Forward and Reverse.
var (
	// ErrNotSRS: the address is not an SRS address.
	ErrNotSRS = errors.New("srs: not an SRS address")
	// ErrBadHash: the hash is not ours (forged, or made with a secret we
	// no longer have).
	ErrBadHash = errors.New("srs: bad hash")
	// ErrExpired: the timestamp is older than the maximum age (or in the
	// future).
	ErrExpired = errors.New("srs: timestamp expired")
	// ErrMalformed: the address, or its SRS parts, cannot be read.
	ErrMalformed = errors.New("srs: malformed address")
	// ErrTooLong: the address, or the one rewriting would make, is over
	// its length limit.
	ErrTooLong = errors.New("srs: address too long")
)

// Bounds.
const (
	// maxAddress bounds the addresses Forward and Reverse read.
	maxAddress = 512
	// maxPath is the longest address Forward writes: RFC 5321
	// §4.5.3.1.3 limits a reverse-path to 256 octets with its angle
	// brackets.
	maxPath = 254
	// maxLocal is RFC 5321 §4.5.3.1.1's limit of a local part.
	maxLocal = 64
	// hashLen is the length of the hash in base64 characters (24 bits,
	// as libsrs2 and postsrsd).
	hashLen = 4
	// stampDays is the period of the two-character timestamp.
	stampDays = 1024
	// maxAgeDays bounds maxAge below the period, so that timestamps up to
	// three weeks in the future are never taken as old ones.
	maxAgeDays = 1000
	// minSecret is the shortest secret New takes.
	minSecret = 16
)

// DefaultMaxAge is how long a rewritten address stays valid when New is
// given 0: bounces come within days, but the queue of a remote server may
// retry for a week or more.
const DefaultMaxAge = 21 * 24 * time.Hour

// base32 is the alphabet of the timestamp (RFC 4648 §6).
const base32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// SRS rewrites and reverses addresses with a set of secrets. It is safe for
// concurrent use.
type SRS struct {
	secrets [][]byte
	maxDays int
}

// New returns an SRS that signs with secrets[0] and accepts hashes made
// with any of them, so that a secret can be replaced without breaking the
// addresses already sent out: put the new one first, drop the old one after
// maxAge. Secrets must have at least 16 bytes. maxAge (DefaultMaxAge when
// 0) is counted in whole days and must be under 1000 days.
func New(secrets [][]byte, maxAge time.Duration) (*SRS, error) {
	if len(secrets) == 0 {
		return nil, errors.New("srs: no secret")
	}
	s := &SRS{}
	for _, k := range secrets {
		if len(k) < minSecret {
			return nil, fmt.Errorf("srs: secret of %d bytes, want at least %d", len(k), minSecret)
		}
		s.secrets = append(s.secrets, append([]byte(nil), k...))
	}
	if maxAge == 0 {
		maxAge = DefaultMaxAge
	}
	if maxAge < 0 || maxAge/(24*time.Hour) >= maxAgeDays {
		return nil, fmt.Errorf("srs: bad maximum age %v", maxAge)
	}
	s.maxDays = int(maxAge / (24 * time.Hour))
	return s, nil
}

// IsSRS reports whether a local part is an SRS0 or SRS1 one: the prefix in
// any case, followed by one of the separators "=", "+" or "-".
func IsSRS(localPart string) bool {
	_, ok := srsKind(localPart)
	return ok
}

// srsKind returns '0' or '1' for an SRS0 or SRS1 local part.
func srsKind(local string) (byte, bool) {
	if len(local) < 5 || !strings.EqualFold(local[:3], "SRS") || !isSep(local[4]) {
		return 0, false
	}
	if k := local[3]; k == '0' || k == '1' {
		return k, true
	}
	return 0, false
}

func isSep(c byte) bool { return c == '=' || c == '+' || c == '-' }

// Forward returns the envelope sender to use when forwarding mail from addr
// as ourDomain. The null sender "" stays "" (bounces are not bounced), and
// so does an address at ourDomain, which passes SPF as it is.
//
// The rewritten local part is at most 64 octets (RFC 5321 §4.5.3.1.1) when
// the original address is short enough; it cannot be shortened (there is
// no database), and as receivers commonly accept longer SRS local parts, a
// longer one is returned rather than an error, as long as the whole address
// stays within the 254 octets of a reverse-path (RFC 5321 §4.5.3.1.3);
// beyond that the error wraps ErrTooLong, and the caller should keep the
// original sender.
func (s *SRS) Forward(addr, ourDomain string, now time.Time) (string, error) {
	if addr == "" {
		return "", nil
	}
	local, domain, err := split(addr)
	if err != nil {
		return "", err
	}
	ours := strings.ToLower(strings.TrimSuffix(ourDomain, "."))
	if !validDomain(ours) {
		return "", fmt.Errorf("%w: our domain %q", ErrMalformed, ourDomain)
	}
	if strings.EqualFold(domain, ours) {
		return addr, nil
	}
	var out string
	kind, _ := srsKind(local)
	switch {
	case kind == '0' && len(local) > 5:
		// Someone else's SRS0: SRS1 naming that forwarder, its SRS0
		// part kept from the separator on.
		out = s.srs1(domain, local[4:], ours)
	case kind == '1':
		if _, host, srsUser, err := parseSRS1(local); err == nil {
			// SRS1 stays SRS1: the first forwarder and its part, under
			// our hash and at our domain.
			out = s.srs1(host, srsUser, ours)
			break
		}
		fallthrough // not a well-formed SRS1: an ordinary address
	default:
		stamp := timestamp(now)
		out = "SRS0=" + s.hash(s.secrets[0], "0", stamp, domain, local) + "=" + stamp + "=" + domain + "=" + local + "@" + ours
	}
	if len(out) > maxPath {
		return "", fmt.Errorf("%w: rewritten address of %d octets", ErrTooLong, len(out))
	}
	return out, nil
}

// srs1 writes an SRS1 address for the first forwarder host and its SRS0
// part srsUser (which starts with its separator).
func (s *SRS) srs1(host, srsUser, ours string) string {
	return "SRS1=" + s.hash(s.secrets[0], "1", host, srsUser) + "=" + host + "=" + srsUser + "@" + ours
}

// Reverse returns the address an SRS address we made stands for: the
// original sender for SRS0, the first forwarder's SRS0 address for SRS1.
// The hash must be one of our secrets' and an SRS0 timestamp no older than
// the maximum age.
func (s *SRS) Reverse(addr string, now time.Time) (string, error) {
	local, _, err := split(addr)
	if err != nil {
		return "", err
	}
	kind, ok := srsKind(local)
	if !ok {
		return "", ErrNotSRS
	}
	if kind == '1' {
		hash, host, srsUser, err := parseSRS1(local)
		if err != nil {
			return "", err
		}
		if !s.check(hash, "1", host, srsUser) {
			return "", ErrBadHash
		}
		return "SRS0" + srsUser + "@" + host, nil
	}
	parts := strings.SplitN(local[5:], "=", 4)
	if len(parts) != 4 || len(parts[0]) != hashLen || !validDomain(parts[2]) || parts[3] == "" {
		return "", fmt.Errorf("%w: %.80q is no SRS0=HHHH=TT=domain=local", ErrMalformed, local)
	}
	hash, stamp, domain, orig := parts[0], parts[1], parts[2], parts[3]
	then, ok := parseStamp(stamp)
	if !ok {
		return "", fmt.Errorf("%w: timestamp %.10q", ErrMalformed, stamp)
	}
	if !s.check(hash, "0", stamp, domain, orig) {
		return "", ErrBadHash
	}
	// The age in days modulo the period: a timestamp from the future
	// reads as one almost 1024 days old.
	if age := (today(now) - then + stampDays) % stampDays; age > s.maxDays {
		return "", fmt.Errorf("%w: %d days old", ErrExpired, age)
	}
	return orig + "@" + domain, nil
}

// parseSRS1 splits an SRS1 local part: "SRS1" sep HHHH "=" host "=" srsUser,
// where srsUser is the first forwarder's SRS0 local part without "SRS0",
// starting with its separator.
func parseSRS1(local string) (hash, host, srsUser string, err error) {
	parts := strings.SplitN(local[5:], "=", 3)
	if len(parts) != 3 || len(parts[0]) != hashLen || !validDomain(parts[1]) ||
		len(parts[2]) < 2 || !isSep(parts[2][0]) {
		return "", "", "", fmt.Errorf("%w: %.80q is no SRS1=HHHH=host==...", ErrMalformed, local)
	}
	return parts[0], parts[1], parts[2], nil
}

// hash is the first hashLen base64 characters of an HMAC-SHA256 of the
// parts, lower-cased and NUL-separated (no part contains NUL, so no two
// lists of parts hash the same data).
func (s *SRS) hash(secret []byte, parts ...string) string {
	m := hmac.New(sha256.New, secret)
	for _, p := range parts {
		m.Write([]byte(strings.ToLower(p)))
		m.Write([]byte{0})
	}
	return base64.StdEncoding.EncodeToString(m.Sum(nil))[:hashLen]
}

// check compares hash, regardless of case and in constant time, with that
// of every secret.
func (s *SRS) check(hash string, parts ...string) bool {
	got := []byte(strings.ToLower(hash))
	ok := 0
	for _, k := range s.secrets {
		ok |= subtle.ConstantTimeCompare(got, []byte(strings.ToLower(s.hash(k, parts...))))
	}
	return ok == 1
}

// today is the day number of now modulo the timestamp period.
func today(now time.Time) int {
	days := now.Unix() / 86400
	if now.Unix() < 0 && now.Unix()%86400 != 0 {
		days-- // floor
	}
	return int((days%stampDays + stampDays) % stampDays)
}

// timestamp writes the day of now as two base32 characters.
func timestamp(now time.Time) string {
	d := today(now)
	return string([]byte{base32[d>>5&31], base32[d&31]})
}

// parseStamp reads a timestamp, regardless of case.
func parseStamp(t string) (int, bool) {
	if len(t) != 2 {
		return 0, false
	}
	d := 0
	for i := range 2 {
		v := strings.IndexByte(base32, upper(t[i]))
		if v < 0 {
			return 0, false
		}
		d = d<<5 | v
	}
	return d, true
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// split checks an address and returns its local part and domain, split at
// the last '@'. The local part must be a dot-atom's characters (a quoted
// one cannot be carried inside an SRS local part), the domain a host name:
// an address literal cannot either.
func split(addr string) (local, domain string, err error) {
	if len(addr) > maxAddress {
		return "", "", fmt.Errorf("%w: %d octets", ErrTooLong, len(addr))
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "", "", fmt.Errorf("%w: no @ in %.80q", ErrMalformed, addr)
	}
	local, domain = addr[:at], addr[at+1:]
	if !validLocal(local) || !validDomain(domain) {
		return "", "", fmt.Errorf("%w: %.80q", ErrMalformed, addr)
	}
	return local, domain, nil
}

// validLocal accepts atext and '.' (RFC 5322 §3.2.3), and UTF-8 (RFC 6531
// §3.3).
func validLocal(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || isAlnum(c) || strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// validDomain accepts dot-separated labels of letters, digits, '-' and '_',
// or UTF-8 (U-labels), each of at most 63 octets.
func validDomain(s string) bool {
	if s == "" || len(s) > 253 || !utf8.ValidString(s) {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; c < 0x80 && !isAlnum(c) && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
