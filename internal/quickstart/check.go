package quickstart

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"blitiri.com.ar/go/spf"

	"postel/internal/config"
	"postel/internal/dkim"
	"postel/internal/dns"
)

// Resolver is what CheckDNS asks; *dns.Client implements it.
type Resolver interface {
	dns.Resolver
	LookupSRV(ctx context.Context, service, proto, name string) ([]*net.SRV, error)
	LookupCNAME(ctx context.Context, name string) (string, error)
	LookupCAA(ctx context.Context, name string) ([]dns.CAA, error)
}

// Status is CheckDNS's verdict on one record.
type Status int

const (
	// Unknown: the verdict could not be reached (a lookup failed, or it
	// depends on a record that is missing). The zero value, so that a
	// check that forgets to decide does not pass.
	Unknown Status = iota
	// OK: published, or something that means the same is.
	OK
	// Missing: nothing of the kind is published at the name.
	Missing
	// Wrong: something is published that does not do what the record does.
	Wrong
)

func (s Status) String() string {
	switch s {
	case OK:
		return "OK"
	case Missing:
		return "MISSING"
	case Wrong:
		return "WRONG"
	}
	return "UNKNOWN"
}

// Finding is CheckDNS's answer for one record.
type Finding struct {
	Record
	Status Status
	// Found is what the DNS holds at the name, of the record's kind, in
	// zone-file syntax (TXT texts unquoted).
	Found []string
	// Note says why the record is wrong or unknown, or how something
	// different from Value was accepted.
	Note string
}

// CheckDNS asks r for every record Records lists for domain and judges
// what is published by its meaning where one can: an MX list that includes
// the host, an SPF policy that passes the host's addresses and fails
// others (evaluated with RFC 7208's rules), a DMARC policy that quarantines
// or rejects, DKIM records that hold the same keys, SRV records and
// aliases that lead to the host's addresses, a CAA set (climbing to parent
// domains, RFC 8659 §3) that lets the ACME certificate authority issue.
func CheckDNS(ctx context.Context, r Resolver, c *config.Config, domain string, keys []dkim.Record) []Finding {
	ck := &checker{ctx: ctx, r: r, host: c.Hostname + ".", name: c.Hostname, domain: domain}
	var out []Finding
	for _, rec := range Records(c, domain, keys) {
		f := Finding{Record: rec}
		switch rec.kind {
		case kindMX:
			ck.mx(&f)
		case kindAddress:
			ck.address(&f)
		case kindSPF:
			ck.spf(&f)
		case kindDKIM:
			ck.dkim(&f)
		case kindDMARC:
			ck.dmarc(&f)
		case kindMTASTS:
			ck.mtaSTS(&f)
		case kindTLSRPT:
			ck.tlsRPT(&f)
		case kindSRV:
			ck.srv(&f)
		case kindCNAME:
			ck.alias(&f)
		case kindCAA:
			ck.caa(&f)
		}
		out = append(out, f)
	}
	return out
}

// checker holds what the checks share; the host's addresses are asked once.
type checker struct {
	ctx    context.Context
	r      Resolver
	host   string // absolute
	name   string // the host in prose, without the final dot
	domain string

	hostIPs    []net.IP
	hostIPsErr error
	hostAsked  bool
}

// lookupFailed sets f for a lookup error: Missing for a definite negative
// answer, else Unknown.
func lookupFailed(f *Finding, err error) {
	if dns.IsNotFound(err) {
		f.Status = Missing
		return
	}
	f.Status, f.Note = Unknown, "lookup failed: "+err.Error()
}

// ips returns the addresses of the host.
func (ck *checker) ips() ([]net.IP, error) {
	if !ck.hostAsked {
		ck.hostIPs, ck.hostIPsErr = ck.r.LookupIP(ck.ctx, ck.host)
		ck.hostAsked = true
	}
	return ck.hostIPs, ck.hostIPsErr
}

// sameName compares absolute or relative names, ignoring case.
func sameName(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

func (ck *checker) mx(f *Finding) {
	mxs, err := ck.r.LookupMX(ck.ctx, ck.domain)
	if err != nil {
		lookupFailed(f, err)
		return
	}
	ok := false
	for _, m := range mxs {
		f.Found = append(f.Found, fmt.Sprintf("%d %s", m.Pref, m.Host))
		ok = ok || sameName(m.Host, ck.host)
	}
	switch {
	case ok:
		f.Status = OK
	case len(mxs) == 1 && mxs[0].Host == ".":
		f.Status, f.Note = Wrong, "a null MX (RFC 7505): "+ck.domain+" says it receives no mail"
	default:
		f.Status, f.Note = Wrong, "no MX names "+ck.name+": mail for "+ck.domain+" goes elsewhere"
	}
}

func (ck *checker) address(f *Finding) {
	ips, err := ck.ips()
	if err != nil {
		lookupFailed(f, err)
		return
	}
	public := false
	for _, ip := range ips {
		f.Found = append(f.Found, ip.String())
		public = public || (ip.IsGlobalUnicast() && !ip.IsPrivate())
	}
	if public {
		f.Status = OK
		return
	}
	f.Status, f.Note = Wrong, "only private, loopback or link-local addresses: other servers cannot reach "+ck.name
}

// strangers are addresses reserved for documentation (RFC 5737): no
// real server sends from them, so an SPF policy must not pass them.
var strangers = []net.IP{net.ParseIP("203.0.113.254"), net.ParseIP("198.51.100.254")}

func (ck *checker) spf(f *Finding) {
	txts, err := ck.r.LookupTXT(ck.ctx, ck.domain)
	if err != nil && !dns.IsNotFound(err) {
		lookupFailed(f, err)
		return
	}
	// RFC 7208 §4.5: the record is the TXT that starts with "v=spf1"
	// followed by a space or nothing.
	for _, t := range txts {
		if l := strings.ToLower(t); l == "v=spf1" || strings.HasPrefix(l, "v=spf1 ") {
			f.Found = append(f.Found, t)
		}
	}
	switch {
	case len(f.Found) == 0:
		f.Status = Missing
		return
	case len(f.Found) > 1:
		f.Status, f.Note = Wrong, fmt.Sprintf("%d SPF records: receivers treat that as an error (RFC 7208 §4.5); merge them into one", len(f.Found))
		return
	}
	ips, err := ck.ips()
	if err != nil || len(ips) == 0 {
		f.Status, f.Note = Unknown, "cannot tell whether it lets "+ck.name+" send before that has an address"
		return
	}
	sender := "postmaster@" + ck.domain
	check := func(ip net.IP) (spf.Result, error) {
		return spf.CheckHostWithSender(ip, strings.TrimSuffix(ck.host, "."), sender,
			spf.WithContext(ck.ctx), spf.WithResolver(dns.NetResolver(ck.r)))
	}
	for _, ip := range ips {
		res, err := check(ip)
		switch res {
		case spf.Pass:
			continue
		case spf.TempError:
			f.Status, f.Note = Unknown, fmt.Sprintf("evaluating it for %s: %v", ip, err)
		case spf.PermError:
			f.Status, f.Note = Wrong, fmt.Sprintf("receivers cannot evaluate it (permerror: %v)", err)
		default:
			f.Status, f.Note = Wrong, fmt.Sprintf("gives %s, not pass, for %s, the address of %s: mail sent from this server fails SPF", res, ip, ck.name)
		}
		return
	}
	for _, ip := range strangers {
		if slices.ContainsFunc(ips, ip.Equal) {
			continue
		}
		switch res, err := check(ip); res {
		case spf.Fail, spf.SoftFail:
			f.Status = OK
			if f.Found[0] != f.Value {
				f.Note = fmt.Sprintf("differs from %q but means the same here: it passes %s and fails other hosts", f.Value, ck.name)
			}
		case spf.TempError:
			f.Status, f.Note = Unknown, fmt.Sprintf("evaluating it for another host: %v", err)
		default:
			f.Status, f.Note = Wrong, fmt.Sprintf("gives %s for any other host (%s), where it should fail them: end it with -all", res, ip)
		}
		return
	}
}

// tags parses a tag=value list (RFC 6376 §3.2, which DMARC, MTA-STS and
// TLS-RPT records share in substance): names folded to lower case, white
// space around names and values dropped.
func tags(record string) map[string]string {
	out := map[string]string{}
	for part := range strings.SplitSeq(record, ";") {
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if _, dup := out[name]; !dup {
			out[name] = strings.TrimSpace(value)
		}
	}
	return out
}

// versioned returns the TXT records at name whose first tag is v=version
// (DMARC, MTA-STS and TLS-RPT records start so, and receivers ignore the
// others), or ok false after setting f for a failed lookup.
func (ck *checker) versioned(f *Finding, version string) (recs []string, ok bool) {
	txts, err := ck.r.LookupTXT(ck.ctx, f.Name)
	if err != nil {
		lookupFailed(f, err)
		return nil, false
	}
	for _, t := range txts {
		first, _, _ := strings.Cut(t, ";")
		if name, v, _ := strings.Cut(first, "="); strings.TrimSpace(name) == "v" && strings.TrimSpace(v) == version {
			recs = append(recs, t)
		}
	}
	f.Found = recs
	switch len(recs) {
	case 0:
		f.Status = Missing
		return nil, false
	case 1:
		return recs, true
	}
	f.Status, f.Note = Wrong, fmt.Sprintf("%d records: receivers use none of them when there is more than one", len(recs))
	return nil, false
}

func (ck *checker) dkim(f *Finding) {
	txts, err := ck.r.LookupTXT(ck.ctx, f.Name)
	if err != nil {
		lookupFailed(f, err)
		return
	}
	want := tags(f.Value)
	for _, t := range txts {
		tg := tags(t)
		if _, ok := tg["p"]; !ok {
			continue // not a key record (RFC 6376 §3.6.1: p= is required)
		}
		f.Found = append(f.Found, t)
		// Base64 may be folded with white space inside (RFC 6376 §3.6.1).
		if strings.Join(strings.Fields(tg["p"]), "") == want["p"] && keyType(tg) == keyType(want) {
			f.Status = OK
			return
		}
	}
	switch {
	case len(f.Found) == 0:
		f.Status = Missing
	case len(f.Found) == 1 && tags(f.Found[0])["p"] == "":
		f.Status, f.Note = Wrong, "the key is revoked (empty p=, RFC 6376 §3.6.1): mail signed here fails DKIM"
	default:
		f.Status, f.Note = Wrong, "another key than the one in data_dir/dkim: mail signed here fails DKIM"
	}
}

// keyType is a DKIM key record's k= tag, "rsa" when absent (RFC 6376
// §3.6.1).
func keyType(tg map[string]string) string {
	if k := strings.ToLower(tg["k"]); k != "" {
		return k
	}
	return "rsa"
}

func (ck *checker) dmarc(f *Finding) {
	recs, ok := ck.versioned(f, "DMARC1")
	if !ok {
		return
	}
	tg := tags(recs[0])
	switch p := strings.ToLower(tg["p"]); p {
	case "quarantine", "reject":
		f.Status = OK
		if tg["rua"] == "" {
			f.Note = "no rua= tag: nobody sends you reports"
		}
	case "none":
		f.Status, f.Note = Wrong, "p=none: receivers do nothing with mail that fails; use p=quarantine"
	default:
		f.Status, f.Note = Wrong, fmt.Sprintf("p=%q is not a policy (RFC 7489 §6.3: none, quarantine or reject)", tg["p"])
	}
}

func (ck *checker) mtaSTS(f *Finding) {
	recs, ok := ck.versioned(f, "STSv1")
	if !ok {
		return
	}
	got, want := tags(recs[0])["id"], tags(f.Value)["id"]
	if got == want {
		f.Status = OK
		return
	}
	f.Status, f.Note = Wrong, fmt.Sprintf("id %q, but the policy served now has id %q: senders keep the policy they cached until the id changes", got, want)
}

func (ck *checker) tlsRPT(f *Finding) {
	recs, ok := ck.versioned(f, "TLSRPTv1")
	if !ok {
		return
	}
	for u := range strings.SplitSeq(tags(recs[0])["rua"], ",") {
		if u = strings.TrimSpace(u); strings.HasPrefix(u, "mailto:") || strings.HasPrefix(u, "https:") {
			f.Status = OK
			return
		}
	}
	f.Status, f.Note = Wrong, "no rua= with a mailto: or https: address (RFC 8460 §3): reports go nowhere"
}

func (ck *checker) srv(f *Finding) {
	srvs, err := ck.r.LookupSRV(ck.ctx, f.service, "tcp", ck.domain)
	if err != nil {
		lookupFailed(f, err)
		return
	}
	var wantPort uint16
	var wantTarget string
	fmt.Sscanf(f.Value, "%d %d %d %s", new(int), new(int), &wantPort, &wantTarget)
	for _, s := range srvs {
		f.Found = append(f.Found, fmt.Sprintf("%d %d %d %s", s.Priority, s.Weight, s.Port, s.Target))
	}
	if wantTarget == "." {
		if len(srvs) == 1 && srvs[0].Target == "." {
			f.Status = OK
		} else {
			f.Status, f.Note = Wrong, "clients are sent to a service this server does not offer"
		}
		return
	}
	for _, s := range srvs {
		if s.Port == wantPort && sameName(s.Target, wantTarget) {
			f.Status = OK
			return
		}
	}
	for _, s := range srvs {
		if s.Port == wantPort && s.Target != "." && ck.sameAddresses(s.Target) {
			f.Status, f.Note = OK, s.Target+" has the addresses of "+ck.name
			return
		}
	}
	f.Status, f.Note = Wrong, fmt.Sprintf("clients are not sent to port %d of %s", wantPort, wantTarget)
}

// sameAddresses reports whether name has addresses, all of which the host
// has too.
func (ck *checker) sameAddresses(name string) bool {
	hostIPs, err := ck.ips()
	if err != nil || len(hostIPs) == 0 {
		return false
	}
	ips, err := ck.r.LookupIP(ck.ctx, name)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(hostIPs, ip.Equal) {
			return false
		}
	}
	return true
}

// alias checks a CNAME to the host; an alias elsewhere, or address
// records, that lead to the host's addresses do as well.
func (ck *checker) alias(f *Finding) {
	target, err := ck.r.LookupCNAME(ck.ctx, f.Name)
	switch {
	case err == nil:
		f.Found = []string{target}
		if sameName(target, ck.host) {
			f.Status = OK
		} else if ck.sameAddresses(f.Name) {
			f.Status, f.Note = OK, "leads to the addresses of "+ck.name
		} else {
			f.Status, f.Note = Wrong, "an alias of "+target+", not of "+ck.name
		}
		return
	case errors.Is(err, dns.ErrNotFound):
		f.Status = Missing
		return
	case !errors.Is(err, dns.ErrNoData):
		lookupFailed(f, err)
		return
	}
	// The name exists without a CNAME: address records?
	ips, err := ck.r.LookupIP(ck.ctx, f.Name)
	if err != nil {
		lookupFailed(f, err)
		return
	}
	for _, ip := range ips {
		f.Found = append(f.Found, ip.String())
	}
	if ck.sameAddresses(f.Name) {
		f.Status, f.Note = OK, "address records instead of the alias, the same as "+ck.name+"'s: they must follow when those change"
		return
	}
	f.Status, f.Note = Wrong, "addresses that are not those of "+ck.name
}

func (ck *checker) caa(f *Finding) {
	_, want, _ := strings.Cut(f.Value, " issue ")
	want = strings.Trim(want, `"`)
	// RFC 8659 §3: the relevant record set is the first found climbing
	// from the name towards the root.
	name := ck.domain
	var recs []dns.CAA
	for {
		var err error
		recs, err = ck.r.LookupCAA(ck.ctx, name)
		if err != nil && !dns.IsNotFound(err) {
			lookupFailed(f, err)
			return
		}
		if len(recs) > 0 {
			break
		}
		_, parent, ok := strings.Cut(name, ".")
		if !ok {
			f.Status, f.Note = Missing, "no CAA record here or above: any certificate authority may issue for "+ck.domain
			return
		}
		name = parent
	}
	var issuers []string
	for _, r := range recs {
		f.Found = append(f.Found, fmt.Sprintf("%d %s %q", r.Flag, r.Tag, r.Value))
		if strings.EqualFold(r.Tag, "issue") {
			issuer, _, _ := strings.Cut(r.Value, ";")
			issuers = append(issuers, strings.ToLower(strings.TrimSpace(issuer)))
		}
	}
	inherited := ""
	if name != ck.domain {
		inherited = " (found at " + name + ", which " + ck.domain + " inherits)"
	}
	switch {
	case slices.Contains(issuers, want):
		f.Status = OK
		if name != ck.domain {
			f.Note = "found at " + name + ", which " + ck.domain + " inherits"
		}
	case len(issuers) == 0:
		f.Status, f.Note = Missing, "no issue property"+inherited+": any certificate authority may issue for "+ck.domain
	default:
		f.Status, f.Note = Wrong, want+" may not issue"+inherited+": this server's ACME certificates will be refused"
	}
}
