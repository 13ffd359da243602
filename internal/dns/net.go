package dns

import (
	"context"
	"errors"
	"net"
)

// Lookups are the lookups NetResolver adapts; every Resolver has them.
type Lookups interface {
	LookupMX(ctx context.Context, domain string) ([]*net.MX, error)
	LookupIP(ctx context.Context, host string) ([]net.IP, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupAddr(ctx context.Context, ip net.IP) ([]string, error)
}

// NetResolver gives r the methods and errors of *net.Resolver, for
// libraries written for it (blitiri.com.ar/go/spf, go-msgauth): errors are
// *net.DNSError, IsNotFound for a definite negative answer (NXDOMAIN,
// NODATA: SPF's void lookups, RFC 7208 §4.6.4) and for a name that cannot
// exist (an SPF macro can expand into anything), temporary otherwise
// (SPF's temperror, RFC 7208 §2.6.6). A null MX (RFC 7505) is no host.
func NetResolver(r Lookups) *NetAdapter { return &NetAdapter{r: r} }

// NetAdapter is what NetResolver returns.
type NetAdapter struct{ r Lookups }

func (a *NetAdapter) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if _, err := checkName(name); err != nil {
		return nil, notFound(name)
	}
	txt, err := a.r.LookupTXT(ctx, name)
	return txt, netError(name, err)
}

func (a *NetAdapter) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	if _, err := checkName(name); err != nil {
		return nil, notFound(name)
	}
	mx, err := a.r.LookupMX(ctx, name)
	if err != nil {
		return nil, netError(name, err)
	}
	var out []*net.MX
	for _, m := range mx {
		if m.Host != "." {
			out = append(out, m)
		}
	}
	return out, nil
}

func (a *NetAdapter) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if _, err := checkName(host); err != nil {
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

func (a *NetAdapter) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	ip := net.ParseIP(addr)
	if ip == nil {
		return nil, notFound(addr)
	}
	names, err := a.r.LookupAddr(ctx, ip)
	return names, netError(addr, err)
}

// netError turns an error of ours into a *net.DNSError.
func netError(name string, err error) error {
	if err == nil {
		return nil
	}
	if IsNotFound(err) {
		return &net.DNSError{Err: err.Error(), Name: name, IsNotFound: true}
	}
	return &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true,
		IsTimeout: errors.Is(err, context.DeadlineExceeded)}
}

// notFound is the answer for a name that cannot exist.
func notFound(name string) error {
	return &net.DNSError{Err: "not a domain name", Name: name, IsNotFound: true}
}
