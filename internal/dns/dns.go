// Package dns resolves the names outbound mail needs: MX, A/AAAA, TXT and
// TLSA records (and, for checking a domain's published setup, SRV, CNAME and
// CAA records). Client asks configured recursive resolvers directly (with
// miekg/dns), so that an operator can point Postel at a local validating
// resolver and DANE (RFC 7672) can trust the AD bit of its answers.
//
// Answers are classified so that callers can tell a definite negative answer
// (the name does not exist: ErrNotFound; it exists without records of the
// type asked: ErrNoData) from a failure worth retrying later (any other
// error). RFC 5321 §5.1 routing and RFC 7505 null MX depend on the
// difference.
package dns

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// Definite negative answers. Every other lookup error is temporary.
var (
	// ErrNotFound: the name does not exist (RCODE NXDOMAIN, RFC 1035 §4.1.1).
	ErrNotFound = errors.New("dns: no such name")
	// ErrNoData: the name exists but has no records of the type asked
	// (NOERROR with an empty answer, RFC 2308 §2.2).
	ErrNoData = errors.New("dns: no records of that type")
)

// IsNotFound reports whether err is a definite negative answer (ErrNotFound
// or ErrNoData) rather than a temporary failure.
func IsNotFound(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrNoData)
}

// TLSA is one DANE TLSA record (RFC 6698 §2.1).
type TLSA struct {
	Usage        uint8 // 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE
	Selector     uint8 // 0 full certificate, 1 SubjectPublicKeyInfo
	MatchingType uint8 // 0 exact, 1 SHA-256, 2 SHA-512
	Data         []byte
}

// CAA is one Certification Authority Authorization record (RFC 8659 §4.1).
type CAA struct {
	Flag  uint8  // 128: the issuer critical flag
	Tag   string // "issue", "issuewild", "iodef", ...
	Value string // the value, without the quotes of the zone-file syntax
}

// Resolver is what outbound delivery and message authentication look up.
// Host names in answers are absolute, with the trailing dot, as in the DNS.
type Resolver interface {
	// LookupMX returns the MX records of domain as published (a null MX,
	// RFC 7505, is one record with Host "."). ErrNoData when the domain
	// has no MX (RFC 5321 §5.1: the implicit MX applies); ErrNotFound when
	// it does not exist.
	LookupMX(ctx context.Context, domain string) ([]*net.MX, error)
	// LookupIP returns the IPv4 and IPv6 addresses of host.
	LookupIP(ctx context.Context, host string) ([]net.IP, error)
	// LookupTXT returns one string per TXT record, its character-strings
	// concatenated (RFC 7208 §3.3, RFC 6376 §3.6.2.2).
	LookupTXT(ctx context.Context, name string) ([]string, error)
	// LookupTLSA returns the TLSA records of _port._proto.host (RFC 6698
	// §3) and whether the answer was authenticated: the AD bit set by a
	// validating resolver (RFC 4035 §3.2.3).
	LookupTLSA(ctx context.Context, port int, proto, host string) (records []TLSA, authenticated bool, err error)
	// LookupAddr returns the names of ip's PTR records (RFC 1035 §3.5,
	// RFC 3596 §2.5), absolute with the trailing dot.
	LookupAddr(ctx context.Context, ip net.IP) ([]string, error)
}

// Authenticator is implemented by resolvers that also tell whether an
// answer was authenticated (DNSSEC, the AD bit of a validating resolver);
// *Client implements it. A negative answer (ErrNoData, ErrNotFound) reports
// it too. DANE is used only with authenticated address records (RFC 7672
// §2.2), and REQUIRETLS accepts MX records that are authenticated
// (RFC 8689 §4.2.1).
type Authenticator interface {
	LookupMXAuthenticated(ctx context.Context, domain string) (mx []*net.MX, authenticated bool, err error)
	LookupIPAuthenticated(ctx context.Context, host string) (ips []net.IP, authenticated bool, err error)
}

// Config says which resolvers a Client asks and how patiently.
type Config struct {
	// Servers are recursive resolvers as "host:port" (a missing port means
	// 53). Empty: the nameservers of /etc/resolv.conf.
	Servers []string
	// Timeout bounds one query to one server. Default 5s.
	Timeout time.Duration
	// Attempts is how many times every server is tried before a lookup
	// fails. Default 2.
	Attempts int
}

// Client is a Resolver that queries recursive resolvers over UDP, and over
// TCP when an answer is truncated (RFC 7766 §5).
type Client struct {
	servers  []string
	timeout  time.Duration
	attempts int
}

// resolvConf is where the system's resolvers are listed.
const resolvConf = "/etc/resolv.conf"

// ednsSize is the UDP payload size we announce (EDNS0, RFC 6891), the size
// DNS flag day 2020 settled on to avoid fragmentation.
const ednsSize = 1232

// maxCNAMEs bounds the CNAME chain a lookup follows in one answer.
const maxCNAMEs = 8

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	c := &Client{timeout: cfg.Timeout, attempts: cfg.Attempts}
	if c.timeout <= 0 {
		c.timeout = 5 * time.Second
	}
	if c.attempts <= 0 {
		c.attempts = 2
	}
	servers := cfg.Servers
	port := "53"
	if len(servers) == 0 {
		rc, err := mdns.ClientConfigFromFile(resolvConf)
		if err != nil {
			return nil, fmt.Errorf("dns: no servers configured and %s unreadable: %w", resolvConf, err)
		}
		servers, port = rc.Servers, rc.Port
	}
	for _, s := range servers {
		addr, err := serverAddr(s, port)
		if err != nil {
			return nil, err
		}
		c.servers = append(c.servers, addr)
	}
	if len(c.servers) == 0 {
		return nil, errors.New("dns: no servers")
	}
	return c, nil
}

// serverAddr turns "host", "host:port", "v6addr" or "[v6addr]:port" into
// "host:port".
func serverAddr(s, defPort string) (string, error) {
	if host, port, err := net.SplitHostPort(s); err == nil {
		if host == "" || port == "" {
			return "", fmt.Errorf("dns: bad server address %q", s)
		}
		return s, nil
	}
	if s == "" || strings.ContainsAny(s, "[]") {
		return "", fmt.Errorf("dns: bad server address %q", s)
	}
	return net.JoinHostPort(s, defPort), nil
}

// LookupMX implements Resolver.
func (c *Client) LookupMX(ctx context.Context, domain string) ([]*net.MX, error) {
	mx, _, err := c.LookupMXAuthenticated(ctx, domain)
	return mx, err
}

// LookupMXAuthenticated implements Authenticator.
func (c *Client) LookupMXAuthenticated(ctx context.Context, domain string) ([]*net.MX, bool, error) {
	rrs, ad, err := c.query(ctx, domain, mdns.TypeMX)
	var out []*net.MX
	for _, rr := range rrs {
		if mx, ok := rr.(*mdns.MX); ok {
			out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
		}
	}
	return out, ad, err
}

// LookupIP implements Resolver.
func (c *Client) LookupIP(ctx context.Context, host string) ([]net.IP, error) {
	ips, _, err := c.LookupIPAuthenticated(ctx, host)
	return ips, err
}

// LookupIPAuthenticated implements Authenticator: A and AAAA are asked in
// parallel; the result is authenticated when both answers are. When one of
// them fails temporarily the addresses of the other are still returned.
func (c *Client) LookupIPAuthenticated(ctx context.Context, host string) ([]net.IP, bool, error) {
	type result struct {
		rrs []mdns.RR
		ad  bool
		err error
	}
	aaaa := make(chan result, 1)
	go func() {
		rrs, ad, err := c.query(ctx, host, mdns.TypeAAAA)
		aaaa <- result{rrs, ad, err}
	}()
	rrs4, ad4, err4 := c.query(ctx, host, mdns.TypeA)
	r6 := <-aaaa
	ad := ad4 && r6.ad
	var out []net.IP
	for _, rr := range append(rrs4, r6.rrs...) {
		switch rr := rr.(type) {
		case *mdns.A:
			out = append(out, rr.A)
		case *mdns.AAAA:
			out = append(out, rr.AAAA)
		}
	}
	switch {
	case len(out) > 0:
		return out, ad, nil
	case err4 != nil && !IsNotFound(err4):
		return nil, false, err4
	case r6.err != nil && !IsNotFound(r6.err):
		return nil, false, r6.err
	case errors.Is(err4, ErrNotFound):
		return nil, ad, err4
	}
	return nil, ad, fmt.Errorf("dns: A/AAAA %s: %w", host, ErrNoData)
}

// LookupTXT implements Resolver.
func (c *Client) LookupTXT(ctx context.Context, name string) ([]string, error) {
	rrs, _, err := c.query(ctx, name, mdns.TypeTXT)
	var out []string
	for _, rr := range rrs {
		if txt, ok := rr.(*mdns.TXT); ok {
			out = append(out, strings.Join(txt.Txt, ""))
		}
	}
	return out, err
}

// LookupTLSA implements Resolver.
func (c *Client) LookupTLSA(ctx context.Context, port int, proto, host string) ([]TLSA, bool, error) {
	name, err := mdns.TLSAName(mdns.Fqdn(host), fmt.Sprint(port), proto)
	if err != nil {
		return nil, false, fmt.Errorf("dns: TLSA name for %q: %w", host, err)
	}
	rrs, ad, err := c.query(ctx, name, mdns.TypeTLSA)
	var out []TLSA
	for _, rr := range rrs {
		t, ok := rr.(*mdns.TLSA)
		if !ok {
			continue
		}
		data, derr := hex.DecodeString(t.Certificate)
		if derr != nil {
			continue // a record we cannot read is unusable (RFC 7672 §2.2)
		}
		out = append(out, TLSA{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType, Data: data})
	}
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("dns: TLSA %s: %w", name, ErrNoData)
	}
	return out, ad, err
}

// LookupAddr implements Resolver.
func (c *Client) LookupAddr(ctx context.Context, ip net.IP) ([]string, error) {
	name, err := mdns.ReverseAddr(ip.String())
	if err != nil {
		return nil, fmt.Errorf("dns: PTR for %q: %w", ip, err)
	}
	rrs, _, err := c.query(ctx, name, mdns.TypePTR)
	var out []string
	for _, rr := range rrs {
		if p, ok := rr.(*mdns.PTR); ok {
			out = append(out, p.Ptr)
		}
	}
	return out, err
}

// LookupSRV returns the SRV records of _service._proto.name (RFC 2782) as
// published: a single record with Target "." says the service is decidedly
// not offered (RFC 2782, RFC 6186 §4). Targets are absolute. It is not part
// of Resolver: only the check of a domain's records (postel dns check) asks.
func (c *Client) LookupSRV(ctx context.Context, service, proto, name string) ([]*net.SRV, error) {
	rrs, _, err := c.query(ctx, "_"+service+"._"+proto+"."+strings.TrimSuffix(name, "."), mdns.TypeSRV)
	var out []*net.SRV
	for _, rr := range rrs {
		if s, ok := rr.(*mdns.SRV); ok {
			out = append(out, &net.SRV{Target: s.Target, Port: s.Port, Priority: s.Priority, Weight: s.Weight})
		}
	}
	return out, err
}

// LookupCNAME returns the target of name's CNAME record (RFC 1034 §3.6.2),
// absolute; ErrNoData when name exists without one (it has other records,
// or none). The target is not followed further.
func (c *Client) LookupCNAME(ctx context.Context, name string) (string, error) {
	rrs, _, err := c.query(ctx, name, mdns.TypeCNAME)
	for _, rr := range rrs {
		if cn, ok := rr.(*mdns.CNAME); ok {
			return cn.Target, nil
		}
	}
	if err == nil {
		err = fmt.Errorf("dns: CNAME %s: %w", name, ErrNoData)
	}
	return "", err
}

// LookupCAA returns the CAA records of name itself (RFC 8659 §4.1),
// following CNAMEs. Finding the relevant record set by climbing towards
// the root (RFC 8659 §3) is the caller's.
func (c *Client) LookupCAA(ctx context.Context, name string) ([]CAA, error) {
	rrs, _, err := c.query(ctx, name, mdns.TypeCAA)
	var out []CAA
	for _, rr := range rrs {
		if a, ok := rr.(*mdns.CAA); ok {
			out = append(out, CAA{Flag: a.Flag, Tag: a.Tag, Value: a.Value})
		}
	}
	return out, err
}

// query asks the servers in turn (each up to c.attempts times) until one
// gives a definite answer, and returns the records of type qtype in the
// answer section, following CNAMEs from name, and the answer's AD bit.
func (c *Client) query(ctx context.Context, name string, qtype uint16) ([]mdns.RR, bool, error) {
	tname := mdns.TypeToString[qtype]
	fqdn, err := checkName(name)
	if err != nil {
		return nil, false, fmt.Errorf("dns: %s %q: %w", tname, name, err)
	}
	m := new(mdns.Msg)
	m.SetQuestion(fqdn, qtype)
	m.RecursionDesired = true
	// RFC 6840 §5.7: AD in a query asks for AD in the answer; DO (RFC 3225)
	// for resolvers that only set AD for DNSSEC-aware clients.
	m.AuthenticatedData = true
	m.SetEdns0(ednsSize, true)

	var lastErr error
	for range c.attempts {
		for _, srv := range c.servers {
			if err := ctx.Err(); err != nil {
				return nil, false, fmt.Errorf("dns: %s %s: %w", tname, fqdn, err)
			}
			r, err := c.exchange(ctx, m, srv)
			if err != nil {
				lastErr = err
				continue
			}
			switch r.Rcode {
			case mdns.RcodeSuccess:
				rrs := answers(r, fqdn, qtype)
				if len(rrs) == 0 {
					return nil, r.AuthenticatedData, fmt.Errorf("dns: %s %s: %w", tname, fqdn, ErrNoData)
				}
				return rrs, r.AuthenticatedData, nil
			case mdns.RcodeNameError:
				return nil, r.AuthenticatedData, fmt.Errorf("dns: %s %s: %w", tname, fqdn, ErrNotFound)
			default:
				lastErr = fmt.Errorf("server %s answered %s", srv, mdns.RcodeToString[r.Rcode])
			}
		}
	}
	return nil, false, fmt.Errorf("dns: %s %s: %w", tname, fqdn, lastErr)
}

// exchange sends m to srv over UDP, and again over TCP when the answer is
// truncated.
func (c *Client) exchange(ctx context.Context, m *mdns.Msg, srv string) (*mdns.Msg, error) {
	udp := &mdns.Client{Net: "udp", Timeout: c.timeout, UDPSize: ednsSize}
	r, _, err := udp.ExchangeContext(ctx, m, srv)
	if err == nil && r.Truncated {
		tcp := &mdns.Client{Net: "tcp", Timeout: c.timeout}
		r, _, err = tcp.ExchangeContext(ctx, m, srv)
	}
	if err != nil {
		return nil, err
	}
	if len(r.Question) != 1 || !strings.EqualFold(r.Question[0].Name, m.Question[0].Name) || r.Question[0].Qtype != m.Question[0].Qtype {
		return nil, fmt.Errorf("server %s answered another question", srv)
	}
	return r, nil
}

// answers picks the records of type qtype owned by name, or by the names
// name leads to through CNAME records in the same answer.
func answers(r *mdns.Msg, name string, qtype uint16) []mdns.RR {
	owner := name
	for range maxCNAMEs {
		var out []mdns.RR
		next := ""
		for _, rr := range r.Answer {
			h := rr.Header()
			if !strings.EqualFold(h.Name, owner) {
				continue
			}
			if h.Rrtype == qtype {
				out = append(out, rr)
			} else if cn, ok := rr.(*mdns.CNAME); ok && qtype != mdns.TypeCNAME {
				next = cn.Target
			}
		}
		if len(out) > 0 || next == "" {
			return out
		}
		owner = next
	}
	return nil
}

// checkName returns name as an absolute domain name, refusing what is not
// one (RFC 1035 §2.3.4: labels of 1 to 63 octets, 255 octets in all).
func checkName(name string) (string, error) {
	if name == "" || name == "." {
		return "", errors.New("empty name")
	}
	fqdn := mdns.Fqdn(name)
	if _, ok := mdns.IsDomainName(fqdn); !ok || strings.Contains(fqdn, "..") {
		return "", errors.New("not a domain name")
	}
	for _, c := range []byte(fqdn) {
		if c <= ' ' || c >= 0x7f {
			return "", errors.New("not an ASCII domain name (use the A-label form)")
		}
	}
	return fqdn, nil
}
