package msgauth

import (
	"fmt"
	"strings"
)

// auth is the part of the verdict's input that DNS failures leave open:
// decide evaluates rules 1-4 with the open parts at their best and at their
// worst.
type auth struct {
	spfPass  bool     // SPF passed for smtp.mailfrom
	dkimPass []string // d= of the passing signatures (normalized)
	policy   *policy  // the DMARC policy; nil: none
	sampled  bool     // the policy applies to this message (pct=)
	local    string   // a From domain that is ours
	tooMany  bool     // too many From domains to tell
	arcTrust bool     // an ARC chain that could not be validated vouches, trusted
}

// worstPolicy stands for a DMARC record whose lookup failed: it could be
// the strictest one.
var worstPolicy = &policy{policy: "reject", adkimStrict: true, aspfStrict: true, pct: 100}

// decide computes the verdict (the package comment lists the rules) and
// records in r.DMARC how the policy was applied.
func (r *Result) decide() Verdict {
	switch {
	case r.st.headerTooBig:
		return Verdict{Action: Reject, Reason: fmt.Sprintf("message header over %d bytes", MaxHeaderBytes),
			Code: 552, Enhanced: [3]int{5, 3, 4}}
	case r.st.readErr != nil:
		return Verdict{Action: TempFail, Reason: "error reading the message; try again later",
			Code: 451, Enhanced: [3]int{4, 3, 0}}
	}

	actual := auth{
		spfPass: r.SPF.Identity == "mailfrom" && r.SPF.Result == "pass",
		policy:  r.st.policy,
		sampled: r.st.sampled,
		local:   r.st.local,
		tooMany: r.st.fromTooMany,
	}
	for _, d := range r.DKIM {
		if d.Result == "pass" {
			actual.dkimPass = append(actual.dkimPass, normalizeDomain(d.Domain))
		}
	}
	// The best case: what failed temporarily passed, the DMARC record that
	// could not be read does not exist, IsLocalDomain said no.
	best := actual
	best.dkimPass = append([]string(nil), actual.dkimPass...)
	if r.SPF.Identity == "mailfrom" && r.SPF.Result == "temperror" {
		best.spfPass = true
	}
	for _, d := range r.DKIM {
		if d.Result == "temperror" {
			best.dkimPass = append(best.dkimPass, normalizeDomain(d.Domain))
		}
	}
	best.arcTrust = r.st.arcTemp
	// The worst case: the record was the strictest, the domain was ours.
	worst := actual
	if r.st.policyTemp {
		worst.policy, worst.sampled = worstPolicy, true
	}
	if r.st.localTemp != "" && worst.local == "" {
		worst.local = r.st.localTemp
	}
	vb, _ := r.rules(best)
	vw, _ := r.rules(worst)
	if vb.Action != vw.Action {
		// The outcome hangs on a lookup that failed for now.
		return Verdict{Action: TempFail,
			Reason: "temporary failure checking the authentication of the message; try again later",
			Code:   451, Enhanced: [3]int{4, 7, 0}}
	}

	v, applied := r.rules(actual)
	if r.DMARC.Result == "fail" || r.DMARC.Result == "temperror" {
		r.DMARC.Applied, r.DMARC.Override = applied.policy, applied.override
		r.DMARC.SampledOut = actual.policy != nil && !actual.sampled
	}
	if v.Action != Accept {
		return v
	}
	return r.listVerdict()
}

// applied is how a DMARC policy was applied.
type applied struct {
	policy   string // none, quarantine or reject; "" when DMARC did not fail
	override string // trusted_forwarder or arc
}

// rules evaluates rules 1 to 4 for a.
func (r *Result) rules(a auth) (Verdict, applied) {
	from := r.FromDomain
	var strictSPF, strictDKIM bool
	if a.policy != nil {
		strictSPF, strictDKIM = a.policy.aspfStrict, a.policy.adkimStrict
	}
	authenticated := from != "" && a.spfPass && aligned(r.SPF.Domain, from, strictSPF)
	for _, d := range a.dkimPass {
		authenticated = authenticated || (from != "" && aligned(d, from, strictDKIM))
	}

	var ap applied
	if a.policy != nil && !authenticated {
		ap.policy = a.policy.policy
		if !a.sampled {
			// RFC 7489 §6.6.4: a message spared by pct= gets the next
			// milder policy.
			switch ap.policy {
			case "reject":
				ap.policy = "quarantine"
			case "quarantine":
				ap.policy = "none"
			}
		}
		// Rule 2: a passing ARC chain whose oldest set saw the message
		// authenticated.
		if ap.policy != "none" && (a.arcTrust || r.arcVouches(a.policy)) {
			if a.arcTrust || (r.c != nil && r.c.trustedSealers(r.ARC.Sealers)) {
				ap.policy, ap.override = "none", "trusted_forwarder"
			} else if ap.policy == "reject" {
				ap.policy, ap.override = "quarantine", "arc"
			}
		}
		if ap.policy == "reject" {
			// Rule 1.
			return Verdict{Action: Reject, Reason: "rejected by the DMARC policy of " + a.policy.domain,
				Code: 550, Enhanced: [3]int{5, 7, 1}}, ap
		}
	}
	// Rule 3: our own domain, unauthenticated. No policy and no pct
	// changes this; only a chain of trusted sealers that saw it
	// authenticated does (a list our users post to that breaks their
	// signature and keeps their From).
	if !authenticated && (a.local != "" || a.tooMany) && !(a.local != "" && r.trustedVouch(a)) {
		reason := "spoofed sender: " + a.local + " is local and the message is not authenticated"
		if a.local == "" {
			reason = fmt.Sprintf("spoofed sender: more than %d From domains", maxFromDomains)
		}
		return Verdict{Action: Reject, Reason: reason, Code: 550, Enhanced: [3]int{5, 7, 1}}, ap
	}
	if ap.policy == "quarantine" {
		// Rule 4.
		reason := "quarantined by the DMARC policy of " + a.policy.domain
		if ap.override == "arc" {
			reason = "rejected by the DMARC policy of " + a.policy.domain + ", kept as the message was forwarded (ARC)"
		}
		return Verdict{Action: Junk, Reason: reason}, ap
	}
	return Verdict{Action: Accept}, ap
}

// listVerdict is rule 5: the DNS block lists, unless an allow list lists
// the client.
func (r *Result) listVerdict() Verdict {
	if len(r.DNSBL.Allowed) > 0 {
		return Verdict{Action: Accept}
	}
	var junk string
	for _, l := range r.DNSBL.Listed {
		switch l.Action {
		case "reject":
			return Verdict{Action: Reject, Reason: "client " + r.ClientIP + " is listed by " + l.Zone,
				Code: 554, Enhanced: [3]int{5, 7, 1}}
		case "junk":
			if junk == "" {
				junk = l.Zone
			}
		}
	}
	if junk != "" {
		return Verdict{Action: Junk, Reason: "client " + r.ClientIP + " is listed by " + junk}
	}
	return Verdict{Action: Accept}
}

// arcVouches reports whether the message has a passing ARC chain whose
// oldest set's Authentication-Results show the From domain authenticated:
// dmarc=pass for it, or spf/dkim=pass for a domain aligned with it under p.
func (r *Result) arcVouches(p *policy) bool {
	if r.ARC.Result != "pass" || r.FromDomain == "" {
		return false
	}
	results, ok := parseOldestAuthResults(r.ARC.OldestAuthResults)
	if !ok {
		return false
	}
	from := r.FromDomain
	for _, res := range results {
		if res.Result != "pass" {
			continue
		}
		switch res.Method {
		case "dmarc":
			if normalizeDomain(res.prop("header.from")) == from {
				return true
			}
		case "spf":
			if mf := res.prop("smtp.mailfrom"); mf != "" && aligned(normalizeDomain(addrDomain(mf)), from, p.aspfStrict) {
				return true
			}
		case "dkim":
			if d := res.prop("header.d"); d != "" && aligned(normalizeDomain(d), from, p.adkimStrict) {
				return true
			}
		}
	}
	return false
}

// parseOldestAuthResults parses the value of an ARC-Authentication-Results
// field, with or without its "i=N;" and its authserv-id.
func parseOldestAuthResults(s string) ([]authResult, bool) {
	if rest, ok := skipInstance(s); ok {
		s = rest
	}
	if _, res, err := parseAuthResults(s); err == nil {
		return res, true
	}
	if _, res, err := parseAuthResults("unknown;" + s); err == nil {
		return res, true
	}
	return nil, false
}

// trustedVouch reports whether a passing ARC chain of trusted sealers saw
// the From domain authenticated (with relaxed alignment when the domain
// publishes no policy), or, in the best case of a chain that could not be
// validated for now, might have.
func (r *Result) trustedVouch(a auth) bool {
	if a.arcTrust {
		return true
	}
	p := a.policy
	if p == nil {
		p = &policy{}
	}
	return r.c != nil && r.arcVouches(p) && r.c.trustedSealers(r.ARC.Sealers)
}

// trustedSealers reports whether every ARC sealer is trusted. Every one,
// not only the newest: the override rests on the results the oldest
// sealer recorded, and any later sealer could have altered the message
// and sealed again; a chain is as good as its least trusted link.
func (c *Checker) trustedSealers(sealers []string) bool {
	if len(sealers) == 0 {
		return false
	}
	for _, s := range sealers {
		if !c.trusted[strings.ToLower(s)] {
			return false
		}
	}
	return true
}
