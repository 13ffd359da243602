package msgauth

import (
	"strings"

	"postel/internal/message"
)

// ForgedFields returns the indexes, ascending, of the header fields a
// sender must not be trusted with, which the SMTP server removes before
// storing the message:
//
//   - every Authentication-Results field whose authserv-id is ours
//     (RFC 8601 §5): authservID or one of ourDomains (an ADMD often uses
//     its domain as authserv-id, and a consumer trusting it must not be
//     fooled), compared case-insensitively, comments allowed around it, a
//     trailing dot ignored;
//   - every ARC-Authentication-Results field whose authserv-id (after
//     "i=N;") is ours, and every ARC-Seal and ARC-Message-Signature whose
//     d= is ours (RFC 8617 §4.1: only we add these in our name).
//
// A field is also removed when a naive reader would take its first word
// for our authserv-id, as some do (e.g. ignoring comments).
func ForgedFields(fields []message.Field, authservID string, ourDomains []string) []int {
	ours := map[string]bool{}
	for _, id := range append([]string{authservID}, ourDomains...) {
		if id = normalizeID(id); id != "" {
			ours[id] = true
		}
	}
	var out []int
	for i, f := range fields {
		forged := false
		switch {
		case f.Is("Authentication-Results"):
			forged = claimsID(f.Value(), ours)
		case f.Is("ARC-Authentication-Results"):
			v := f.Value()
			if rest, ok := skipInstance(v); ok {
				v = rest
			}
			forged = claimsID(v, ours)
		case f.Is("ARC-Seal"), f.Is("ARC-Message-Signature"):
			for _, t := range parseTags(f.Value()) {
				if t.name == "d" && ours[normalizeID(stripSpace(t.value))] {
					forged = true
				}
			}
		}
		if forged {
			out = append(out, i)
		}
	}
	return out
}

// claimsID reports whether the authserv-id that starts v is in ours, read
// by RFC 8601's grammar or by its first word.
func claimsID(v string, ours map[string]bool) bool {
	if id, ok := leadingValue(v); ok && ours[normalizeID(id)] {
		return true
	}
	first := strings.TrimSpace(v)
	if i := strings.IndexAny(first, " \t\r\n;"); i >= 0 {
		first = first[:i]
	}
	return ours[normalizeID(first)]
}

// normalizeID folds the case of an authserv-id or domain and drops a
// trailing dot.
func normalizeID(s string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
}
