package queue

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sort"
	"strings"

	"golang.org/x/net/idna"

	"postel/internal/dns"
)

// Bounds on what one domain's DNS data makes us try in one attempt.
const (
	maxMXHosts      = 16
	maxAddrsPerHost = 8
)

// mxHost is one host to try for a domain.
type mxHost struct {
	name string     // lower case, no trailing dot; "" for an address literal
	pref uint16     // MX preference
	ip   netip.Addr // set for an address literal only
}

// route is where mail for one domain goes.
type route struct {
	hosts []mxHost // in the order to try
	// secure: the MX records (or their absence, for the implicit MX) were
	// authenticated by DNSSEC.
	secure bool
}

// resolveRoute finds the hosts to try for domain (RFC 5321 §5.1): MX
// records by preference, in random order among equal preferences; the
// domain itself when it has no MX (the implicit MX); a permanent failure
// for a domain that does not exist or has a null MX (RFC 7505 §3).
func (q *Queue) resolveRoute(ctx context.Context, domain string) (route, *reply) {
	if ip, ok := addressLiteral(domain); ok {
		return route{hosts: []mxHost{{ip: ip}}}, nil
	}
	var mxs []*net.MX
	var secure bool
	var err error
	if a, ok := q.res.(dns.Authenticator); ok {
		mxs, secure, err = a.LookupMXAuthenticated(ctx, domain)
	} else {
		mxs, err = q.res.LookupMX(ctx, domain)
	}
	switch {
	case errors.Is(err, dns.ErrNotFound):
		r := replyNoSuchDomain(domain)
		return route{}, &r
	case errors.Is(err, dns.ErrNoData):
		// RFC 5321 §5.1: no MX records: the domain is its own MX, of
		// preference 0.
		return route{hosts: []mxHost{{name: domain}}, secure: secure}, nil
	case err != nil:
		r := replyDNS(err)
		return route{}, &r
	}

	var hosts []mxHost
	null := false
	for _, mx := range mxs {
		name := strings.ToLower(strings.TrimSuffix(mx.Host, "."))
		if name == "" {
			// RFC 7505 §3: a null MX is one record "0 .". A domain
			// publishing other MX records beside it is misconfigured;
			// the null one is then ignored.
			null = true
			continue
		}
		hosts = append(hosts, mxHost{name: name, pref: mx.Pref})
	}
	if len(hosts) == 0 {
		if null {
			r := replyNullMX(domain)
			return route{}, &r
		}
		r := replyNoRoute("no usable MX record for " + domain)
		return route{}, &r
	}
	// Random order, then a stable sort by preference: random among equal
	// preferences (RFC 5321 §5.1), spreading the load.
	rand.Shuffle(len(hosts), func(i, j int) { hosts[i], hosts[j] = hosts[j], hosts[i] })
	sort.SliceStable(hosts, func(i, j int) bool { return hosts[i].pref < hosts[j].pref })

	// RFC 5321 §5.1: when this host is one of the MX hosts, only those of
	// lower preference may be used.
	for i, h := range hosts {
		if strings.EqualFold(h.name, q.cfg.Hostname) {
			if i == 0 {
				r := replyLoop(domain)
				return route{}, &r
			}
			cut := i
			for cut > 0 && hosts[cut-1].pref >= h.pref {
				cut--
			}
			if cut == 0 {
				r := replyLoop(domain)
				return route{}, &r
			}
			hosts = hosts[:cut]
			break
		}
	}
	if len(hosts) > maxMXHosts {
		hosts = hosts[:maxMXHosts]
	}
	return route{hosts: hosts, secure: secure}, nil
}

// lookupAddrs resolves an MX host to at most maxAddrsPerHost addresses and
// says whether the answer was authenticated.
func (q *Queue) lookupAddrs(ctx context.Context, host string) ([]netip.Addr, bool, error) {
	var ips []net.IP
	var secure bool
	var err error
	if a, ok := q.res.(dns.Authenticator); ok {
		ips, secure, err = a.LookupIPAuthenticated(ctx, host)
	} else {
		ips, err = q.res.LookupIP(ctx, host)
	}
	if err != nil {
		return nil, false, err
	}
	var out []netip.Addr
	for _, ip := range ips {
		if a, ok := netip.AddrFromSlice(ip); ok && len(out) < maxAddrsPerHost {
			out = append(out, a.Unmap())
		}
	}
	return out, secure, nil
}

// usable keeps the addresses delivery may go to: public unicast ones,
// unless the configuration allows private destinations.
func (q *Queue) usable(addrs []netip.Addr) []netip.Addr {
	if q.cfg.AllowPrivate {
		return addrs
	}
	var out []netip.Addr
	for _, a := range addrs {
		if a.IsGlobalUnicast() && !a.IsPrivate() {
			out = append(out, a)
		}
	}
	return out
}

// addressLiteral reads a domain that is an address literal (RFC 5321
// §4.1.3): "[192.0.2.1]" or "[IPv6:2001:db8::1]".
func addressLiteral(domain string) (netip.Addr, bool) {
	if !strings.HasPrefix(domain, "[") || !strings.HasSuffix(domain, "]") {
		return netip.Addr{}, false
	}
	s := domain[1 : len(domain)-1]
	v6 := false
	if len(s) > 5 && strings.EqualFold(s[:5], "IPv6:") {
		s, v6 = s[5:], true
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Is6() != v6 || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	return ip, true
}

// recipientDomain is the domain part of addr as DNS wants it: lower case,
// A-labels (RFC 5890); "" when addr has none.
func recipientDomain(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || at == len(addr)-1 {
		return ""
	}
	d := addr[at+1:]
	if strings.HasPrefix(d, "[") {
		return d
	}
	a, err := idna.Lookup.ToASCII(strings.TrimSuffix(d, "."))
	if err != nil {
		return strings.ToLower(d)
	}
	return a
}
