package msgauth

import (
	"context"
	"errors"
	"net"
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
		spf.WithContext(ctx), spf.WithResolver(spfResolver{c.res}))
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

// spfResolver adapts a dns.Resolver to spf.DNSResolver. The library
// tells answers apart by *net.DNSError: IsNotFound for NXDOMAIN and NODATA
// (void lookups, RFC 7208 §4.6.4), Temporary() for the rest (temperror,
// RFC 7208 §2.6.6).
type spfResolver struct{ r dns.Resolver }

func (a spfResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if !lookupName(name) {
		return nil, notFound(name)
	}
	txt, err := a.r.LookupTXT(ctx, name)
	return txt, netError(name, err)
}

func (a spfResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	if !lookupName(name) {
		return nil, notFound(name)
	}
	mx, err := a.r.LookupMX(ctx, name)
	if err != nil {
		return nil, netError(name, err)
	}
	// RFC 7505 null MX: no host to send from.
	var out []*net.MX
	for _, m := range mx {
		if m.Host != "." {
			out = append(out, m)
		}
	}
	return out, nil
}

func (a spfResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if !lookupName(host) {
		return nil, notFound(host)
	}
	ips, err := a.r.LookupIP(ctx, host)
	if err != nil {
		return nil, netError(host, err)
	}
	out := make([]net.IPAddr, len(ips))
	for i, ip := range ips {
		out[i] = net.IPAddr{IP: ip}
	}
	return out, nil
}

func (a spfResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	ip := net.ParseIP(addr)
	if ip == nil {
		return nil, notFound(addr)
	}
	names, err := a.r.LookupAddr(ctx, ip)
	return names, netError(addr, err)
}

// netError turns an error of our resolver into the *net.DNSError that
// libraries written for net.Resolver (spf, go-msgauth) understand.
func netError(name string, err error) error {
	if err == nil {
		return nil
	}
	if dns.IsNotFound(err) {
		return &net.DNSError{Err: err.Error(), Name: name, IsNotFound: true}
	}
	return &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true,
		IsTimeout: errors.Is(err, context.DeadlineExceeded)}
}

// notFound is the answer for a name that cannot exist.
func notFound(name string) error {
	return &net.DNSError{Err: "not a domain name", Name: name, IsNotFound: true}
}
