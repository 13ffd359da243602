package msgauth

import (
	"context"
	"errors"
	"strings"

	"blitiri.com.ar/go/spf"

	"postel/internal/dns"
)

// checkSPF evaluates SPF (RFC 7208) for mailFrom, or for the HELO identity
// when mailFrom is the null reverse-path.
func (c *Checker) checkSPF(ctx context.Context, cl *Client, mailFrom string) SPFResult {
	helo := strings.TrimSpace(cl.HELOName)
	heloDomain := normalizeDomain(helo)
	var out SPFResult
	var sender string
	if mailFrom == "" {
		// RFC 7208 §2.4: with a null reverse-path, the MAIL FROM
		// identity is "postmaster@" and the HELO domain: we check it and
		// report it as the HELO identity.
		out.Identity, out.Domain = "helo", heloDomain
		sender = "postmaster@" + heloDomain
	} else {
		out.Identity = "mailfrom"
		if strings.Contains(mailFrom, "@") {
			out.Domain = normalizeDomain(addrDomain(mailFrom))
		}
		local := "postmaster"
		if i := strings.LastIndexByte(mailFrom, '@'); i > 0 && !strings.Contains(mailFrom[:i], "@") {
			local = mailFrom[:i]
		}
		sender = local + "@" + out.Domain
	}
	if out.Domain == "" {
		// RFC 7208 §4.3: a malformed domain gives "none".
		out.Result, out.Reason = "none", "no valid domain to check"
		return out
	}
	if heloDomain == "" {
		heloDomain = helo
	}
	res, err := spf.CheckHostWithSender(cl.IP.AsSlice(), heloDomain, sender,
		spf.WithContext(ctx), spf.WithResolver(dns.NetResolver(c.res)))
	out.Result = string(res)
	switch res {
	case spf.TempError:
		out.Reason, out.Err = "DNS lookup failed", err
	case spf.PermError:
		out.Reason, out.Err = spfReason(err), err
	case spf.None:
		out.Reason = "no SPF record"
	}
	return out
}

// spfReason describes a permerror for the header, without the details of
// DNS errors (which name our resolvers).
func spfReason(err error) string {
	switch {
	case errors.Is(err, spf.ErrLookupLimitReached):
		return "too many DNS lookups" // RFC 7208 §4.6.4
	case errors.Is(err, spf.ErrVoidLookupLimitReached):
		return "too many void DNS lookups" // RFC 7208 §4.6.4
	case errors.Is(err, spf.ErrMultipleRecords):
		return "several SPF records" // RFC 7208 §4.5
	case errors.Is(err, spf.ErrTooManyMXRecords):
		return "too many MX records"
	case errors.Is(err, spf.ErrInvalidIPAddress):
		return "no client address"
	case errors.Is(err, spf.ErrNoResult):
		return "included domain has no SPF record" // RFC 7208 §5.2
	}
	return "invalid SPF record"
}
