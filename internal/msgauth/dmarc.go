package msgauth

import (
	"context"
	"net/url"
	"slices"
	"strings"

	msgdmarc "github.com/emersion/go-msgauth/dmarc"

	"postel/internal/dns"
	"postel/internal/message"
)

// fromInfo is what the From fields say about the author's domain.
type fromInfo struct {
	addr    string   // the single From address, "" when none or several
	domain  string   // the Author Domain; "" when none or ambiguous
	domains []string // every distinct valid From domain, at most maxFromDomains
	tooMany bool     // there were more
	// result and reason are DMARC's outcome when domain is "".
	result, reason string
}

// FromAddress is the RFC5322.From address of a header, as CheckMessage
// reads it ("" when there is no single From address): what junk filing
// goes by when the checks did not run.
func FromAddress(fields []message.Field) string { return parseFrom(fields).addr }

// parseFrom extracts the Author Domain (RFC 7489 §6.6.1) from the From
// fields. A message without From, with several From fields, with From
// addresses in several domains or with an invalid domain has no Author
// Domain: DMARC gives "none" (no From, or no address in it: the group
// syntax) or "permerror", and the message cannot be authenticated.
func parseFrom(fields []message.Field) fromInfo {
	var out fromInfo
	nFields, nAddrs, invalid := 0, 0, false
	var local string
	for _, f := range fields {
		if !f.Is("From") {
			continue
		}
		nFields++
		for _, a := range message.AddressList(f.Value()) {
			if a.Host == "" {
				continue // a group's start or end (RFC 6854)
			}
			nAddrs++
			d := ""
			if a.Host != message.MissingHost {
				d = normalizeDomain(a.Host)
			}
			if d == "" {
				invalid = true
				continue
			}
			local = a.Mailbox
			if !slices.Contains(out.domains, d) {
				if len(out.domains) == maxFromDomains {
					out.tooMany = true
				} else {
					out.domains = append(out.domains, d)
				}
			}
		}
	}
	switch {
	case nFields == 0:
		out.result, out.reason = "none", "no From field"
	case nFields > 1:
		// RFC 5322 §3.6: exactly one From field.
		out.result, out.reason = "permerror", "several From fields"
	case nAddrs == 0:
		out.result, out.reason = "none", "no From address"
	case invalid:
		out.result, out.reason = "permerror", "invalid From domain"
	case len(out.domains) > 1:
		out.result, out.reason = "permerror", "From addresses in several domains"
	default:
		out.domain = out.domains[0]
		if nAddrs == 1 && local != message.MissingMailbox {
			out.addr = local + "@" + out.domain
		}
	}
	return out
}

// policy is the DMARC policy that applies to a From domain.
type policy struct {
	domain      string // where the record was found
	policy      string // p=, or sp= for a record of the Organizational Domain
	adkimStrict bool
	aspfStrict  bool
	pct         int
}

// discovery is the outcome of policy discovery.
type discovery struct {
	policy *policy
	result string // without policy: "none", "temperror" or "permerror"
	reason string
	err    error
}

// discoverPolicy finds the DMARC policy of from (RFC 7489 §6.6.3).
func (c *Checker) discoverPolicy(ctx context.Context, from string) discovery {
	// Steps 1-2: records at the From domain that start with v=DMARC1.
	recs, err := c.dmarcRecords(ctx, from)
	if err != nil {
		return discovery{result: "temperror", reason: "DMARC record lookup failed", err: err}
	}
	where := from
	if len(recs) == 0 {
		// Steps 3-4: none there, so at the Organizational Domain.
		if org := orgDomain(from); org != "" && org != from {
			where = org
			recs, err = c.dmarcRecords(ctx, org)
			if err != nil {
				return discovery{result: "temperror", reason: "DMARC record lookup failed", err: err}
			}
		}
	}
	// Step 5: none, or several, and DMARC does not apply.
	switch len(recs) {
	case 0:
		return discovery{result: "none", reason: "no DMARC record"}
	case 1:
	default:
		return discovery{result: "none", reason: "several DMARC records"}
	}
	rec, err := parseRecord(recs[0])
	if err != nil {
		return discovery{result: "permerror", reason: "invalid DMARC record", err: err}
	}
	p := &policy{
		domain:      where,
		policy:      string(rec.Policy),
		adkimStrict: rec.DKIMAlignment == msgdmarc.AlignmentStrict,
		aspfStrict:  rec.SPFAlignment == msgdmarc.AlignmentStrict,
		pct:         100,
	}
	if where != from && rec.SubdomainPolicy != "" {
		// RFC 7489 §6.3: sp= is the policy for the subdomains of the
		// domain publishing it.
		p.policy = string(rec.SubdomainPolicy)
	}
	if rec.Percent != nil {
		p.pct = *rec.Percent
	}
	return discovery{policy: p}
}

// dmarcRecords returns the TXT records at _dmarc.domain that start with
// v=DMARC1 (RFC 7489 §6.6.3 steps 2 and 4). A name that does not exist or
// has no TXT record gives none; other errors are returned.
func (c *Checker) dmarcRecords(ctx context.Context, domain string) ([]string, error) {
	name := "_dmarc." + domain
	if !lookupName(name) {
		return nil, nil
	}
	txts, err := c.res.LookupTXT(ctx, name)
	if err != nil {
		if dns.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	var recs []string
	for _, t := range txts {
		if isDMARC1(t) {
			recs = append(recs, t)
		}
	}
	return recs, nil
}

// isDMARC1 reports whether a TXT record starts with the version tag of
// DMARC1 (RFC 7489 §6.4: dmarc-version = "v" *WSP "=" *WSP "DMARC1",
// followed by dmarc-sep or the end).
func isDMARC1(t string) bool {
	s := strings.TrimLeft(t, " \t")
	if s == "" || (s[0] != 'v' && s[0] != 'V') {
		return false
	}
	s = strings.TrimLeft(s[1:], " \t")
	if !strings.HasPrefix(s, "=") {
		return false
	}
	s = strings.TrimLeft(s[1:], " \t")
	if !strings.HasPrefix(s, "DMARC1") {
		return false
	}
	s = strings.TrimLeft(s[len("DMARC1"):], " \t")
	return s == "" || s[0] == ';'
}

// parseRecord parses a DMARC record with go-msgauth. That parser refuses a
// record with any invalid tag; RFC 7489 §6.3 wants syntax errors outside
// v= and p= discarded in favour of the defaults, so then each tag is
// checked alone and the valid ones are parsed again. RFC 7489 §6.6.3 step
// 6: without a valid p= (or with an invalid sp=), the record counts as
// p=none when it has a valid rua=, and is an error otherwise.
func parseRecord(txt string) (*msgdmarc.Record, error) {
	parts := strings.Split(txt, ";")
	if len(parts) > maxTags {
		parts = parts[:maxTags]
	}
	// RFC 7489 §6.4: tag names and the keywords of p, sp, adkim, aspf,
	// fo and rf are ABNF literals, case-insensitive; go-msgauth compares
	// them exactly.
	for i, part := range parts {
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		switch name {
		case "p", "sp", "adkim", "aspf", "fo", "rf":
			value = strings.ToLower(value)
		}
		parts[i] = name + "=" + value
	}
	rec, err := msgdmarc.Parse(strings.Join(parts, ";"))
	if err == nil {
		return rec, nil
	}
	keep := []string{"v=DMARC1"}
	pValid, spInvalid, ruaValid := false, false, false
	for _, part := range parts[1:] {
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		prefix := "v=DMARC1; p=none; "
		if name == "p" {
			prefix = "v=DMARC1; "
		}
		if _, perr := msgdmarc.Parse(prefix + part); perr != nil {
			spInvalid = spInvalid || name == "sp"
			continue
		}
		keep = append(keep, part)
		switch name {
		case "p":
			pValid = true
		case "rua":
			ruaValid = ruaValid || validReportURI(value)
		}
	}
	if !pValid || spInvalid {
		if ruaValid {
			return msgdmarc.Parse("v=DMARC1; p=none")
		}
		return nil, err
	}
	return msgdmarc.Parse(strings.Join(keep, ";"))
}

// validReportURI reports whether a rua= value holds at least one
// syntactically valid URI (RFC 7489 §6.4 dmarc-uri: a URI, then an
// optional "!" size).
func validReportURI(v string) bool {
	for _, u := range strings.Split(v, ",") {
		u = strings.TrimSpace(u)
		if i := strings.IndexByte(u, '!'); i >= 0 {
			u = u[:i]
		}
		if p, err := url.Parse(u); err == nil && p.Scheme != "" && p.Opaque+p.Host+p.Path != "" {
			return true
		}
	}
	return false
}

// evaluateDMARC computes DMARC's result for r (RFC 7489 §6.6.2 steps 5-6),
// records the alignment in r and draws the pct= sample.
//
// Alignment (RFC 7489 §3.1): SPF counts only when it passed for the
// MAIL FROM identity. RFC 7489 §3.1.2 would let the HELO identity stand in
// for a null reverse-path; we follow its successor draft (DMARCbis: DMARC
// "relies solely on SPF authentication of the domain found in SMTP MAIL
// FROM"), so a bounce aligns only through DKIM. The Organizational Domain
// is RFC 7489 §3.2's (the Public Suffix List), not DMARCbis' DNS tree
// walk.
func (c *Checker) evaluateDMARC(r *Result, from fromInfo, disc discovery) DMARCResult {
	out := DMARCResult{Domain: from.domain}
	if from.domain == "" {
		out.Result, out.Reason = from.result, from.reason
		return out
	}
	p := disc.policy
	var strictSPF, strictDKIM bool
	if p != nil {
		strictSPF, strictDKIM = p.aspfStrict, p.adkimStrict
	}
	out.SPFAligned = r.SPF.Identity == "mailfrom" && r.SPF.Result == "pass" && aligned(r.SPF.Domain, from.domain, strictSPF)
	for _, d := range r.DKIM {
		if d.Result == "pass" && aligned(normalizeDomain(d.Domain), from.domain, strictDKIM) {
			out.DKIMAligned = true
		}
	}
	r.Authenticated = out.SPFAligned || out.DKIMAligned
	r.st.policy = p
	r.st.policyTemp = disc.result == "temperror"
	if p == nil {
		out.Result, out.Reason, out.Err = disc.result, disc.reason, disc.err
		return out
	}
	out.RecordDomain, out.Policy, out.Percent = p.domain, p.policy, p.pct
	switch {
	case r.Authenticated:
		out.Result = "pass"
		return out
	case r.alignedTemp(p):
		// RFC 7489 §6.6.2: no aligned pass, but one might have come but
		// for a temporary error: DMARC cannot conclude.
		out.Result, out.Reason = "temperror", "SPF or DKIM failed temporarily"
	default:
		out.Result, out.Reason = "fail", "no aligned SPF or DKIM pass"
	}
	// RFC 7489 §6.6.4: the policy applies to pct% of failing messages.
	switch {
	case p.pct >= 100:
		r.st.sampled = true
	case p.pct > 0:
		r.st.sampled = c.randN(100) < p.pct
	}
	return out
}

// alignedTemp reports whether an identifier that would align under p
// failed temporarily.
func (r *Result) alignedTemp(p *policy) bool {
	from := r.FromDomain
	if r.SPF.Identity == "mailfrom" && r.SPF.Result == "temperror" && aligned(r.SPF.Domain, from, p.aspfStrict) {
		return true
	}
	for _, d := range r.DKIM {
		if d.Result == "temperror" && aligned(normalizeDomain(d.Domain), from, p.adkimStrict) {
			return true
		}
	}
	return false
}
