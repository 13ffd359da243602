// Package msgauth decides who really sent a message received on port 25,
// and what to do with it. It evaluates SPF, DKIM, DMARC, the client's
// reverse DNS and DNS block/allow lists, writes the one
// Authentication-Results field (RFC 8601) the server adds to the message,
// and gives a verdict: accept, junk, reject or try again later.
//
// # The checks
//
// Per connection (CheckClient, at the first MAIL):
//
//   - iprev (RFC 8601 §3): the PTR names of the client's address (the
//     first 10) are looked up forward; "pass" when one of them leads back
//     to the address, "fail" when none does, "permerror" without PTR
//     record, "temperror" when DNS failed. Recorded, never enforced.
//   - HELO: whether the HELO/EHLO name resolves to the client's address
//     (or is its address literal). Recorded, never enforced.
//   - DNS lists (RFC 5782): the client's address is looked up in each
//     configured block list (dnsbl, at most 10) and allow list (dnswl, at
//     most 10). An answer in 127.0.0.0/8 is a listing, except
//     127.255.255.x, which lists answer when they refuse a query (as
//     Spamhaus does through public resolvers): that counts as an error,
//     like a lookup that fails; errors are recorded, never acted on.
//
// Per message (CheckMessage):
//
//   - SPF (RFC 7208) of the MAIL FROM domain; with the null reverse-path
//     (bounces), of the HELO name (RFC 7208 §2.4). At most 10 DNS-querying
//     terms and 2 void lookups (RFC 7208 §4.6.4), else "permerror".
//   - DKIM (RFC 6376): the first 5 signatures (MaxSignatures) are
//     verified; further ones are noted in the header and ignored. RSA keys
//     under 1024 bits, rsa-sha1 (RFC 8301) and the l= tag give "policy":
//     such signatures never count.
//   - DMARC (RFC 7489): the domain of the single From address is the
//     Author Domain; a message without From, with several From fields or
//     with From addresses in several domains has none (dmarc=none or
//     permerror) and can never count as authenticated. The policy record
//     is looked up at _dmarc.<From domain>, then at _dmarc.<Organizational
//     Domain> (from the Public Suffix List), where sp= applies. DMARC
//     passes when SPF passed for the MAIL FROM domain, or a DKIM signature
//     passed, with a domain aligned with the From domain: the same
//     Organizational Domain (relaxed, the default) or the same name
//     (adkim=s, aspf=s). SPF of the HELO name never aligns (as in DMARCbis).
//     pct= applies the policy to that share of failing messages; the
//     others get the next milder policy (reject becomes quarantine,
//     quarantine becomes none).
//   - ARC (RFC 8617) is evaluated elsewhere and handed over with
//     Result.SetARC, which decides again.
//
// # The verdict
//
// The rules are tried in order; the first that matches decides:
//
//  1. DMARC fails and the policy applied is reject: Reject (550 5.7.1
//     "rejected by the DMARC policy of example.com"), unless rule 2
//     applies.
//  2. DMARC fails but the message carries a passing ARC chain whose
//     oldest set recorded the From domain authenticated (dmarc=pass, or
//     spf/dkim=pass for an aligned domain), as a mailing list or forwarder
//     that broke the original signature would: when every sealer of the
//     chain is in TrustedARCSealers the policy is not applied at all
//     (noted "trusted_forwarder" in the header); otherwise reject is
//     lowered to quarantine, so the message goes to Junk, never to the
//     inbox unverified and never lost.
//  3. A From domain is one of ours (IsLocalDomain) and neither SPF nor
//     DKIM passed aligned with it: Reject (550 5.7.1 "spoofed sender"),
//     whatever our published policy or pct say. Only a passing ARC chain
//     whose sealers are all trusted and whose oldest set saw the domain
//     authenticated lifts it (a mailing list our users post to that
//     breaks their signature and keeps their From). A From field naming
//     more than 10 domains is refused the same way, as they cannot all
//     be checked.
//  4. DMARC fails and the policy applied is quarantine: Junk.
//  5. The client is listed by a block list and by no allow list: Reject
//     (554 5.7.1 naming the list) for a list whose action is "reject",
//     else Junk for one whose action is "junk".
//  6. Otherwise: Accept.
//
// Temporary DNS failures: when the outcome of rules 1-4 depends on a
// lookup that failed for now (SPF or DKIM "temperror" where a pass would
// change it, the DMARC record lookup when nothing passed aligned for
// certain, an ARC key, or IsLocalDomain, a store lookup), the verdict is TempFail (451 4.7.0) and the
// client tries again later; mail is never silently accepted or rejected
// on a guess. This is decided by evaluating rules 1-4 once with every
// unknown at its best (the lookup would have passed, there is no DMARC
// record, the domain is not ours) and once at its worst (p=reject with
// strict alignment, the domain is ours): when the two differ, TempFail.
// DNS list failures never cause TempFail.
//
// A header block over 1 MiB is refused (552 5.3.4); an error reading the
// message gives 451 4.3.0.
//
// # The header
//
// Header returns the Authentication-Results field, with the authserv-id
// of the configuration, spf (smtp.mailfrom or smtp.helo), one dkim per
// signature (header.d, header.s, header.a, header.b), dmarc (header.from,
// policy.dmarc: the policy applied), arc, and iprev (policy.iprev); HELO
// and DNS list outcomes are comments: a method that is not registered
// makes consumers that follow RFC 7601 §2.7.6 ignore the whole field.
// Everything a sender chose is stripped of control characters and of the
// characters a parser could take for structure (";", "=", quotes,
// parentheses), and quoted as RFC 8601 §2.2 requires. ForgedFields finds
// the fields a sender must not be trusted with (Authentication-Results
// and ARC fields in our name), which the server removes first (RFC 8601
// §5).
//
// # Bounds
//
// One CheckMessage or CheckClient takes at most Timeout (30s), lookups
// included; a lookup cut short is a temporary error. At most 5 DKIM
// signatures (MaxSignatures), 10 PTR names, 10 From domains, 10 DNS lists
// of each kind, 1 MiB of header.
package msgauth
