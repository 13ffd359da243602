package deliver

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// ErrBadAddress is returned for an address that is not a mailbox we can
// route: no '@', empty or oversized parts, control characters, invalid UTF-8.
var ErrBadAddress = errors.New("deliver: malformed address")

// Size limits of RFC 5321 §4.5.3.1.1 (local part) and §4.5.3.1.2 (domain).
const (
	maxLocalPart = 64
	maxDomain    = 255
)

// subaddressSep separates a user from a tag in "user+tag@domain"
// (subaddressing as described in RFC 5233).
const subaddressSep = '+'

// Normalize returns the canonical form of a mailbox address, as the store
// keeps account and alias addresses: domain and local part in lower case
// (Postel treats local parts case-insensitively). It is idempotent.
func Normalize(addr string) (string, error) {
	local, domain, err := split(addr)
	if err != nil {
		return "", err
	}
	return local + "@" + domain, nil
}

// split checks addr and returns its lower-cased local part and domain. The
// last '@' separates them, so a quoted local part may contain '@'.
func split(addr string) (local, domain string, err error) {
	if len(addr) > maxLocalPart+1+maxDomain || !utf8.ValidString(addr) {
		return "", "", ErrBadAddress
	}
	i := strings.LastIndexByte(addr, '@')
	if i <= 0 || i == len(addr)-1 {
		return "", "", ErrBadAddress
	}
	local, domain = strings.ToLower(addr[:i]), strings.ToLower(addr[i+1:])
	if len(local) > maxLocalPart || !validLocal(local) || !validDomain(domain) {
		return "", "", ErrBadAddress
	}
	return local, domain, nil
}

func validLocal(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// validDomain accepts dot-separated non-empty labels (A-labels or U-labels,
// RFC 6531) or an address literal in brackets (RFC 5321 §4.1.3).
func validDomain(s string) bool {
	if s == "" || len(s) > maxDomain {
		return false
	}
	if s[0] == '[' {
		return len(s) > 2 && s[len(s)-1] == ']' && !strings.ContainsAny(s[1:len(s)-1], "[]\\ ") && validLocal(s)
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			case r >= 0x80 && r != utf8.RuneError:
			default:
				return false
			}
		}
	}
	return true
}

// baseAddress returns "user@domain" for a subaddress "user+tag@domain", and
// ok false when local has no tag. Quoted local parts are never split.
func baseAddress(local, domain string) (string, bool) {
	if strings.HasPrefix(local, `"`) {
		return "", false
	}
	i := strings.IndexByte(local, subaddressSep)
	if i <= 0 {
		return "", false
	}
	return local[:i] + "@" + domain, true
}
