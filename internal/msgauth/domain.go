package msgauth

import (
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// normalizeDomain returns d as a lower-case A-label domain name without the
// trailing dot, or "" when d is not a domain name (RFC 1035 §2.3.4: labels
// of 1 to 63 octets, 253 octets in all; letters, digits, hyphens, and the
// underscores of service names). A UTF-8 name is converted to its A-label
// form (RFC 7489 §6.6.1, RFC 5891 §5).
func normalizeDomain(d string) string {
	d = strings.TrimSuffix(d, ".")
	if d == "" || len(d) > 1024 {
		return ""
	}
	ascii := true
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if !ascii {
		a, err := idna.Lookup.ToASCII(d)
		if err != nil {
			return ""
		}
		d = a
	}
	d = strings.ToLower(d)
	if !validDomain(d) {
		return ""
	}
	return d
}

// validDomain reports whether d (lower case, no trailing dot) is made of
// LDH labels (underscores allowed) of 1 to 63 octets, 253 octets at most.
func validDomain(d string) bool {
	return labels(d, func(c byte) bool {
		return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
	})
}

// lookupName reports whether name can be asked of the DNS by our resolver:
// printable ASCII labels of 1 to 63 octets, 253 octets in all. SPF macros
// can expand into any of these; a name that is not one cannot exist.
func lookupName(name string) bool {
	return labels(strings.TrimSuffix(name, "."), func(c byte) bool { return c > ' ' && c < 0x7f && c != '\\' })
}

// labels reports whether name is dot-separated labels of 1 to 63 octets
// that ok accepts, 253 octets in all (RFC 1035 §2.3.4).
func labels(name string, ok func(c byte) bool) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		case !ok(c):
			return false
		}
		label++
		if label > 63 {
			return false
		}
	}
	return label > 0
}

// orgDomain returns the Organizational Domain of d (RFC 7489 §3.2: the
// public suffix plus one label, from the Public Suffix List), or "" when d
// is itself a public suffix or has none.
func orgDomain(d string) string {
	o, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return ""
	}
	return o
}

// aligned reports whether the authenticated domain a is aligned with the
// RFC5322.From domain from (both normalized). RFC 7489 §3.1.1/§3.1.2:
// strict mode wants the same name; relaxed mode the same Organizational
// Domain. A domain without an Organizational Domain (a public suffix) aligns
// only with itself, and never in relaxed mode through its parent.
func aligned(a, from string, strict bool) bool {
	if a == "" || from == "" {
		return false
	}
	if a == from {
		return true
	}
	if strict {
		return false
	}
	oa := orgDomain(a)
	return oa != "" && oa == orgDomain(from)
}

// addrDomain returns the part of an address after its last "@" (the whole
// string when there is none).
func addrDomain(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return addr
}
