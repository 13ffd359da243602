package quickstart

import (
	"fmt"
	"net/url"
	"strings"

	"postel/internal/config"
	"postel/internal/dkim"
)

// Record is one DNS record a mail domain needs.
type Record struct {
	// Name is the owner name, absolute: "_dmarc.example.org.".
	Name string
	// Type is MX, TXT, SRV, CNAME or CAA; or "A/AAAA" for the addresses of
	// the server's host name, which only the operator knows.
	Type string
	// Value is the record data in zone-file syntax, a TXT record's text
	// unquoted; empty for A/AAAA.
	Value string
	// Purpose says in one line what the record does, with its RFC.
	Purpose string

	kind    kind
	service string // of an SRV record: "imaps"
}

// kind says how CheckDNS judges what is published for a record.
type kind int

const (
	kindMX kind = iota
	kindAddress
	kindSPF
	kindDKIM
	kindDMARC
	kindMTASTS
	kindTLSRPT
	kindSRV
	kindCNAME
	kindCAA
)

// Client services announced with SRV records (RFC 6186 §3), with their
// standard ports and the listener that serves them. Implicit TLS gets the
// lower priority value, so clients prefer it (RFC 8314 §5.1); the STARTTLS
// ports follow.
var srvServices = []struct {
	service  string
	port     int
	priority int
	listen   func(l config.Listen) string
	purpose  string
}{
	{"submissions", 465, 0, func(l config.Listen) string { return l.Submissions }, "message submission over implicit TLS on port 465, preferred (RFC 8314 §5.1)"},
	{"submission", 587, 10, func(l config.Listen) string { return l.Submission }, "message submission with STARTTLS on port 587"},
	{"imaps", 993, 0, func(l config.Listen) string { return l.IMAPS }, "IMAP over implicit TLS on port 993, preferred (RFC 8314 §5.1)"},
	{"imap", 143, 10, func(l config.Listen) string { return l.IMAP }, "IMAP with STARTTLS on port 143"},
	{"pop3s", 995, 0, func(l config.Listen) string { return l.POP3S }, "POP3 over implicit TLS on port 995, preferred (RFC 8314 §5.1)"},
	{"pop3", 110, 10, func(l config.Listen) string { return l.POP3 }, "POP3 with STLS on port 110"},
}

// Records returns every DNS record the mail domain needs with the server
// c describes, in the order they are best read: where mail goes (MX, the
// host's addresses), who may send it (SPF, DKIM keys, DMARC), TLS towards
// the server (MTA-STS, TLS-RPT), client setup (SRV, autoconfig,
// autodiscover), and certificates (CAA, when ACME is on with a known
// certificate authority). keys are the domain's DKIM records (dkim.Records).
// domain must be lower-case ASCII without the final dot; c must be valid.
func Records(c *config.Config, domain string, keys []dkim.Record) []Record {
	d := domain + "."
	host := c.Hostname + "."
	postmaster := "postmaster@" + domain
	policy := MTASTSPolicy(c)
	out := []Record{
		{Name: d, Type: "MX", Value: "10 " + host, kind: kindMX,
			Purpose: fmt.Sprintf("MX: mail for %s is delivered to %s (RFC 5321 §5.1).", domain, c.Hostname)},
		{Name: host, Type: "A/AAAA", kind: kindAddress,
			Purpose: fmt.Sprintf("The addresses of %s: this server's public IPv4 (and IPv6) address; ask the address's owner for reverse DNS (PTR) naming %s too, which receivers check.", c.Hostname, c.Hostname)},
		{Name: d, Type: "TXT", Value: "v=spf1 mx -all", kind: kindSPF,
			Purpose: fmt.Sprintf("SPF (RFC 7208): only the hosts of %s's MX may send mail from @%s; receivers fail the rest (-all).", domain, domain)},
	}
	for _, k := range keys {
		what := "the Ed25519 key this server signs mail from @" + domain + " with (RFC 8463)"
		if strings.HasPrefix(k.Name, dkim.SelectorRSA+".") {
			what = "the RSA key it signs with too, for receivers that do not know Ed25519 yet (RFC 8463 §4)"
		}
		out = append(out, Record{Name: k.Name, Type: "TXT", Value: k.Value, kind: kindDKIM,
			Purpose: "DKIM (RFC 6376): " + what + "."})
	}
	out = append(out,
		Record{Name: "_dmarc." + d, Type: "TXT", Value: "v=DMARC1; p=quarantine; rua=mailto:" + postmaster, kind: kindDMARC,
			Purpose: fmt.Sprintf("DMARC (RFC 7489): receivers put mail from @%s that fails both SPF and DKIM in junk (quarantine: a safe start) and send daily reports to %s; move to p=reject once the reports show only your own mail.", domain, postmaster)},
		Record{Name: "_mta-sts." + d, Type: "TXT", Value: policy.Record(), kind: kindMTASTS,
			Purpose: fmt.Sprintf("MTA-STS (RFC 8461): senders must reach %s over verified TLS, as the policy at https://mta-sts.%s/.well-known/mta-sts.txt says (mode: %s); the id changes when the policy does.", c.Hostname, domain, policy.Mode)},
		Record{Name: "mta-sts." + d, Type: "CNAME", Value: host, kind: kindCNAME,
			Purpose: "MTA-STS (RFC 8461 §3.3): the name senders fetch the policy from, served by this server over HTTPS."},
		Record{Name: "_smtp._tls." + d, Type: "TXT", Value: "v=TLSRPTv1; rua=mailto:" + postmaster, kind: kindTLSRPT,
			Purpose: fmt.Sprintf("TLS-RPT (RFC 8460): senders report to %s the TLS failures they meet delivering to %s (MTA-STS, DANE).", postmaster, c.Hostname)},
	)
	for _, s := range srvServices {
		r := Record{Name: "_" + s.service + "._tcp." + d, Type: "SRV", kind: kindSRV, service: s.service}
		if s.listen(c.Listen) == "" {
			r.Value = "0 0 0 ."
			r.Purpose = fmt.Sprintf("Client setup (RFC 6186): no %s here (listen.%s is empty); the target \".\" says so (RFC 2782).", s.service, s.service)
		} else {
			r.Value = fmt.Sprintf("%d 1 %d %s", s.priority, s.port, host)
			r.Purpose = "Client setup (RFC 6186): " + s.purpose + "."
		}
		out = append(out, r)
	}
	out = append(out,
		Record{Name: "autoconfig." + d, Type: "CNAME", Value: host, kind: kindCNAME,
			Purpose: fmt.Sprintf("Thunderbird autoconfig: mail clients fetch their settings from https://autoconfig.%s, served by this server.", domain)},
	)
	if c.Listen.HTTPS != "" {
		// Not autodiscover.DOMAIN: the certificate names the host, and
		// Outlook follows this record to it (the name it asks for is
		// then the host's).
		out = append(out, Record{Name: "_autodiscover._tcp." + d, Type: "SRV", Value: "0 0 443 " + host, kind: kindSRV, service: "autodiscover",
			Purpose: fmt.Sprintf("Outlook autodiscover: mail clients fetch their settings from https://%s/autodiscover/autodiscover.xml, served by this server.", c.Hostname)})
	}
	if issuer := caaIssuer(c); issuer != "" {
		out = append(out, Record{Name: d, Type: "CAA", Value: `0 issue "` + issuer + `"`, kind: kindCAA,
			Purpose: fmt.Sprintf("CAA (RFC 8659): only %s may issue certificates for %s and the names under it, as this server's ACME asks it to.", issuer, domain)})
	}
	return out
}

// caIssuers maps the host of an ACME directory URL to the issuer domain
// its certificate authority recognizes in CAA records (RFC 8659 §4.2).
var caIssuers = map[string]string{
	"acme-v02.api.letsencrypt.org":         "letsencrypt.org",
	"acme-staging-v02.api.letsencrypt.org": "letsencrypt.org",
	"dv.acme-v02.api.pki.goog":             "pki.goog",
	"acme.zerossl.com":                     "sectigo.com",
	"api.buypass.com":                      "buypass.com",
}

// caaIssuer returns the CAA issuer domain of c's ACME certificate
// authority, or "" when ACME is off (a CAA record would then only get in
// the way of the operator's own certificate authority) or the authority is
// not one we know.
func caaIssuer(c *config.Config) string {
	if !c.ACME.Enabled {
		return ""
	}
	u, err := url.Parse(c.ACME.DirectoryURL)
	if err != nil {
		return ""
	}
	return caIssuers[strings.ToLower(u.Hostname())]
}

// Zone formats r as zone-file text: one line, or for A/AAAA two comment
// lines naming what the operator fills in. TXT texts longer than 255
// octets are split into several character-strings (RFC 1035 §3.3.14),
// which receivers join (RFC 7208 §3.3, RFC 6376 §3.6.2.2), as
// postel dkim gen prints them.
func (r Record) Zone() string {
	switch r.Type {
	case "A/AAAA":
		return fmt.Sprintf("; %s IN A <this server's public IPv4 address>\n; %s IN AAAA <its IPv6 address, if it has one>", r.Name, r.Name)
	case "TXT":
		if len(r.Value) > 255 {
			return dkim.Record{Name: r.Name, Value: r.Value}.Zone()
		}
		return r.Name + " IN TXT " + quote(r.Value)
	}
	return r.Name + " IN " + r.Type + " " + r.Value
}

// quote writes s as one zone-file character-string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// FormatZone writes the records of domain as zone-file text to paste into
// the domain's zone, each record after a comment line saying what it does.
func FormatZone(domain string, recs []Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "; The DNS records of %s. Names end with a dot: they are absolute.\n", domain)
	b.WriteString("; `postel dns check " + domain + "` tells which are published.\n")
	for _, r := range recs {
		fmt.Fprintf(&b, "\n; %s\n%s\n", r.Purpose, r.Zone())
	}
	return b.String()
}
