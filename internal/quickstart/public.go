package quickstart

import "strings"

// specialSuffixes are names no public certificate authority issues
// certificates for and the public DNS does not delegate: special-use
// domain names (RFC 6761 §6.2-6.5: test, localhost, invalid, example;
// RFC 6762: local; RFC 7686: onion; RFC 8375: home.arpa; RFC 9476: alt),
// the domains reserved for documentation (RFC 2606 §3), and "internal",
// reserved by ICANN for private use.
var specialSuffixes = []string{
	"test", "localhost", "invalid", "example", "local", "onion", "home.arpa", "alt", "internal",
	"example.com", "example.net", "example.org",
}

// isPublicName reports whether name can be found in the public DNS and get
// a certificate from a public certificate authority.
func isPublicName(name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if !strings.Contains(name, ".") {
		return false
	}
	for _, s := range specialSuffixes {
		if name == s || strings.HasSuffix(name, "."+s) {
			return false
		}
	}
	return true
}
