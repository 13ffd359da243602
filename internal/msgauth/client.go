package msgauth

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"postel/internal/dns"
)

// Client holds the checks that depend only on the connection.
type Client struct {
	IP       netip.Addr
	HELOName string // the HELO/EHLO argument as sent
	IPRev    IPRevResult
	HELO     HELOResult
	DNSBL    DNSBLResult
}

// IPRevResult is the forward-confirmed reverse DNS of the client
// (RFC 8601 §3).
type IPRevResult struct {
	// Result is pass, fail, temperror or permerror (RFC 8601 §2.7.3).
	Result string
	// Names are the PTR names that resolve back to the client (pass), or
	// those found (fail); without the trailing dot.
	Names []string
	// Reason explains a result other than pass.
	Reason string
}

// HELOResult says whether the HELO name forward-confirms: it names the
// client's address. It is recorded, never enforced.
type HELOResult struct {
	Name string // the HELO name, normalized when it is a domain
	// Result is pass (the name resolves to the client's address, or is
	// its address literal), fail, temperror, permerror (neither a domain
	// nor an address literal) or none (no HELO).
	Result string
}

// DNSBLResult holds the client's DNS list lookups.
type DNSBLResult struct {
	Listed  []Listing // block lists listing the client, in Config order
	Allowed []string  // allow lists listing the client
	Errors  []string  // zones whose lookup failed (temporarily or with an error answer)
}

// Listing is the client's entry in one block list.
type Listing struct {
	Zone   string
	Action string // "reject" or "junk"
	Answer string // the A record answered, e.g. "127.0.0.2"
}

// CheckClient runs the checks that depend only on the connection:
// forward-confirmed reverse DNS of ip (RFC 8601 "iprev", §3), whether the
// HELO name forward-confirms (recorded, never enforced), and the DNSBL
// and DNSWL lookups of ip. The SMTP server calls it once per connection,
// lazily at the first MAIL.
func (c *Checker) CheckClient(ctx context.Context, ip netip.Addr, helo string) *Client {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ip = ip.Unmap()
	cl := &Client{IP: ip, HELOName: helo}
	var wg sync.WaitGroup
	wg.Go(func() { cl.IPRev = c.iprev(ctx, ip) })
	wg.Go(func() { cl.HELO = c.checkHELO(ctx, ip, helo) })
	wg.Go(func() { cl.DNSBL = c.checkLists(ctx, ip) })
	wg.Wait()
	return cl
}

// iprev implements RFC 8601 §3: the PTR names of ip, each looked up
// forward; pass when one of them has ip among its addresses.
func (c *Checker) iprev(ctx context.Context, ip netip.Addr) IPRevResult {
	if !ip.IsValid() {
		return IPRevResult{Result: "permerror", Reason: "no client address"}
	}
	names, err := c.res.LookupAddr(ctx, ip.AsSlice())
	if err != nil {
		if dns.IsNotFound(err) {
			// RFC 8601 §2.7.3: no PTR data published.
			return IPRevResult{Result: "permerror", Reason: "no PTR record"}
		}
		return IPRevResult{Result: "temperror", Reason: "PTR lookup failed"}
	}
	if len(names) == 0 {
		return IPRevResult{Result: "permerror", Reason: "no PTR record"}
	}
	if len(names) > maxPTRNames {
		names = names[:maxPTRNames] // RFC 7208 §4.6.4's bound on PTR names
	}
	type answer struct {
		ok, temp bool
	}
	answers := make([]answer, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() {
			if !lookupName(n) {
				return
			}
			ips, err := c.res.LookupIP(ctx, n)
			answers[i].temp = err != nil && !dns.IsNotFound(err)
			answers[i].ok = containsIP(ips, ip)
		})
	}
	wg.Wait()
	var confirmed, all []string
	temp := false
	for i, n := range names {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		all = append(all, n)
		if answers[i].ok {
			confirmed = append(confirmed, n)
		}
		temp = temp || answers[i].temp
	}
	switch {
	case len(confirmed) > 0:
		return IPRevResult{Result: "pass", Names: confirmed}
	case temp:
		return IPRevResult{Result: "temperror", Names: all, Reason: "forward lookup failed"}
	}
	return IPRevResult{Result: "fail", Names: all, Reason: "no PTR name resolves to the client"}
}

// checkHELO checks whether helo names ip.
func (c *Checker) checkHELO(ctx context.Context, ip netip.Addr, helo string) HELOResult {
	helo = strings.TrimSpace(helo)
	if helo == "" {
		return HELOResult{Result: "none"}
	}
	if strings.HasPrefix(helo, "[") && strings.HasSuffix(helo, "]") {
		// An address literal (RFC 5321 §4.1.3).
		lit := helo[1 : len(helo)-1]
		if len(lit) > 5 && strings.EqualFold(lit[:5], "IPv6:") {
			lit = lit[5:]
		}
		a, err := netip.ParseAddr(lit)
		switch {
		case err != nil:
			return HELOResult{Name: helo, Result: "permerror"}
		case a.Unmap() == ip:
			return HELOResult{Name: helo, Result: "pass"}
		}
		return HELOResult{Name: helo, Result: "fail"}
	}
	name := normalizeDomain(helo)
	if name == "" {
		return HELOResult{Name: helo, Result: "permerror"}
	}
	ips, err := c.res.LookupIP(ctx, name)
	switch {
	case err != nil && !dns.IsNotFound(err):
		return HELOResult{Name: name, Result: "temperror"}
	case containsIP(ips, ip):
		return HELOResult{Name: name, Result: "pass"}
	}
	return HELOResult{Name: name, Result: "fail"}
}

// checkLists looks ip up in every DNSBL and DNSWL zone at once.
func (c *Checker) checkLists(ctx context.Context, ip netip.Addr) DNSBLResult {
	var out DNSBLResult
	if !ip.IsValid() || len(c.dnsbl)+len(c.dnswl) == 0 {
		return out
	}
	zones := make([]string, 0, len(c.dnsbl)+len(c.dnswl))
	for _, z := range c.dnsbl {
		zones = append(zones, z.Zone)
	}
	zones = append(zones, c.dnswl...)
	type answer struct {
		listed string
		err    bool
	}
	answers := make([]answer, len(zones))
	var wg sync.WaitGroup
	for i, z := range zones {
		wg.Go(func() { answers[i].listed, answers[i].err = c.listLookup(ctx, ip, z) })
	}
	wg.Wait()
	for i, z := range zones {
		a := answers[i]
		switch {
		case a.err:
			out.Errors = append(out.Errors, z)
		case a.listed == "":
		case i < len(c.dnsbl):
			out.Listed = append(out.Listed, Listing{Zone: z, Action: c.dnsbl[i].Action, Answer: a.listed})
		default:
			out.Allowed = append(out.Allowed, z)
		}
	}
	return out
}

// listLookup looks ip up in zone (RFC 5782 §2.1 for IPv4: its octets
// reversed; §2.4 for IPv6: its nibbles reversed) and returns the listing
// address, "" when not listed. Only answers in 127.0.0.0/8 are listings
// (RFC 5782 §2.1); 127.255.255.0/24 is what some lists answer to refused
// queries (e.g. through a public resolver), and, like a failed lookup,
// is an error, never a listing.
func (c *Checker) listLookup(ctx context.Context, ip netip.Addr, zone string) (listed string, failed bool) {
	ips, err := c.res.LookupIP(ctx, reverseName(ip)+zone)
	if err != nil {
		return "", !dns.IsNotFound(err)
	}
	for _, a := range ips {
		v4 := a.To4()
		if v4 == nil || v4[0] != 127 {
			continue
		}
		if v4[1] == 255 && v4[2] == 255 {
			return "", true
		}
		return v4.String(), false
	}
	return "", false
}

// reverseName returns the DNSxL query prefix of ip, with its final dot:
// "4.3.2.1." for 1.2.3.4, 32 nibbles for IPv6.
func reverseName(ip netip.Addr) string {
	var b strings.Builder
	if ip.Is4() {
		a := ip.As4()
		for i := 3; i >= 0; i-- {
			b.WriteString(strconv.Itoa(int(a[i])))
			b.WriteByte('.')
		}
		return b.String()
	}
	const hex = "0123456789abcdef"
	a := ip.As16()
	for i := 15; i >= 0; i-- {
		b.WriteByte(hex[a[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[a[i]>>4])
		b.WriteByte('.')
	}
	return b.String()
}

func containsIP(ips []net.IP, ip netip.Addr) bool {
	for _, a := range ips {
		if b, ok := netip.AddrFromSlice(a); ok && b.Unmap() == ip {
			return true
		}
	}
	return false
}
