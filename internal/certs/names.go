package certs

import (
	"slices"
	"strings"
)

// Names returns the names ACME certificates are obtained for: hostname
// and, for every local domain, mta-sts.DOMAIN (where senders fetch the
// domain's MTA-STS policy, RFC 8461 §3.3) and autoconfig.DOMAIN (where
// Thunderbird looks for the client settings). The names are lower-case,
// without a trailing dot, sorted and without duplicates; empty domains are
// left out.
func Names(hostname string, domains []string) []string {
	names := []string{normalize(hostname)}
	for _, d := range domains {
		if d = normalize(d); d != "" {
			names = append(names, "mta-sts."+d, "autoconfig."+d)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// normalize folds a host name to lower case and drops a trailing dot, the
// form names are compared in (RFC 4343: DNS names compare
// case-insensitively).
func normalize(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}
