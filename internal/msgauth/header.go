package msgauth

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Header returns the Authentication-Results field (RFC 8601) to add to the
// message: "Authentication-Results: <authserv-id>;", then one result per
// line (spf, dkim per signature, dmarc, arc, iprev, with the HELO and DNS
// list outcomes as comments of iprev), folded to lines under 78
// characters where possible, CRLF-terminated.
//
// The DNS lists and the HELO check are comments, not methods of their
// own: RFC 7601 §2.7.6 (the text RFC 8601 replaced) asks consumers to
// ignore or delete a whole field that holds an unregistered method.
func (r *Result) Header() []byte {
	var b strings.Builder
	b.WriteString("Authentication-Results: ")
	b.WriteString(r.authservID)
	b.WriteString(";\r\n")
	infos := r.resinfos()
	for i, atoms := range infos {
		line := "\t" + atoms[0]
		for j, a := range atoms[1:] {
			end := 0
			if j == len(atoms)-2 && i < len(infos)-1 {
				end = 1 // the ";" that follows
			}
			if len(line)+1+len(a)+end > 77 {
				b.WriteString(line)
				b.WriteString("\r\n")
				line = "\t  " + a
				continue
			}
			line += " " + a
		}
		b.WriteString(line)
		if i < len(infos)-1 {
			b.WriteString(";")
		}
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}

// AuthResults returns the same results as Header, without the field name
// and the authserv-id, on one line: what ARC-Authentication-Results
// (RFC 8617 §4.1.1) carries after "i=N; authserv-id;".
func (r *Result) AuthResults() string {
	var parts []string
	for _, atoms := range r.resinfos() {
		parts = append(parts, strings.Join(atoms, " "))
	}
	return strings.Join(parts, "; ")
}

// resinfos returns every result as atoms: the pieces of text between
// which the field may be folded.
func (r *Result) resinfos() [][]string {
	var out [][]string

	// RFC 8601 §2.7.2: the SPF identity is smtp.mailfrom, or smtp.helo;
	// without the local-part, which SPF does not authenticate.
	spfRes := orDefault(r.SPF.Result, "none")
	spf := []string{"spf=" + keyword(spfRes)}
	spf = appendReason(spf, r.SPF.Reason, spfRes)
	prop := "smtp.mailfrom"
	if r.SPF.Identity == "helo" {
		prop = "smtp.helo"
	}
	switch {
	case r.SPF.Domain != "":
		spf = append(spf, prop+"="+pvalue(r.SPF.Domain))
	case r.SPF.Identity == "helo" && r.HELO.Name != "":
		spf = append(spf, prop+"="+pvalue(r.HELO.Name))
	}
	out = append(out, spf)

	// RFC 8601 §2.7.1 and RFC 6008: one result per signature, with d=,
	// s=, a= and enough of b= to tell signatures apart.
	if len(r.DKIM) == 0 {
		out = append(out, []string{"dkim=none"})
	}
	bs := bPrefixes(r.DKIM)
	for i, d := range r.DKIM {
		dk := []string{"dkim=" + keyword(orDefault(d.Result, "neutral"))}
		dk = appendReason(dk, d.Reason, d.Result)
		for _, p := range [][2]string{{"header.d", d.Domain}, {"header.s", d.Selector}, {"header.a", d.Algorithm}, {"header.b", bs[i]}} {
			if v := cleanText(p[1], 255); v != "" {
				dk = append(dk, p[0]+"="+pvalue(v))
			}
		}
		if i == len(r.DKIM)-1 && r.DKIMUnchecked > 0 {
			dk = appendComment(dk, fmt.Sprintf("%d more signatures not checked", r.DKIMUnchecked))
		}
		out = append(out, dk)
	}

	// RFC 7489 §11.2 (header.from), RFC 8601 §2.4 (policy.dmarc: the
	// policy applied).
	dm := []string{"dmarc=" + keyword(orDefault(r.DMARC.Result, "none"))}
	dm = appendReason(dm, r.DMARC.Reason, r.DMARC.Result)
	if r.DMARC.Domain != "" {
		dm = append(dm, "header.from="+pvalue(r.DMARC.Domain))
	}
	switch {
	case r.DMARC.Applied != "":
		dm = append(dm, "policy.dmarc="+keyword(r.DMARC.Applied))
		switch {
		case r.DMARC.Override == "trusted_forwarder":
			dm = appendComment(dm, "policy "+r.DMARC.Policy+" overridden: trusted_forwarder, ARC chain of trusted sealers")
		case r.DMARC.Override == "arc":
			dm = appendComment(dm, "policy "+r.DMARC.Policy+" lowered to quarantine: arc, ARC chain of untrusted sealers")
		case r.DMARC.SampledOut:
			dm = appendComment(dm, fmt.Sprintf("policy %s, sampled_out at pct %d", r.DMARC.Policy, r.DMARC.Percent))
		}
	case r.DMARC.Policy != "":
		dm = appendComment(dm, "policy "+r.DMARC.Policy)
	}
	out = append(out, dm)

	// RFC 8617 §10.1 (arc, smtp.remote-ip).
	arc := []string{"arc=" + keyword(orDefault(r.ARC.Result, "none"))}
	if r.ARC.Result != "" && r.ARC.Result != "none" {
		if r.ClientIP != "" {
			arc = append(arc, "smtp.remote-ip="+pvalue(r.ClientIP))
		}
		if len(r.ARC.Sealers) > 0 {
			arc = appendComment(arc, "sealed by "+strings.Join(r.ARC.Sealers, " "))
		}
		arc = appendReason(arc, r.ARC.Reason, r.ARC.Result)
	}
	out = append(out, arc)

	// RFC 8601 §2.7.3 (iprev, policy.iprev); the client checks that have
	// no method of their own as comments.
	ip := []string{"iprev=" + keyword(orDefault(r.IPRev.Result, "permerror"))}
	ip = appendReason(ip, r.IPRev.Reason, r.IPRev.Result)
	if r.ClientIP != "" {
		ip = append(ip, "policy.iprev="+pvalue(r.ClientIP))
	}
	if len(r.IPRev.Names) > 0 {
		ip = appendComment(ip, strings.Join(r.IPRev.Names, " "))
	}
	if r.HELO.Result != "" && r.HELO.Result != "none" {
		ip = appendComment(ip, "helo "+r.HELO.Name+" "+r.HELO.Result)
	}
	for _, l := range r.DNSBL.Listed {
		ip = appendComment(ip, "dnsbl "+l.Zone+" listed "+l.Answer)
	}
	for _, z := range r.DNSBL.Allowed {
		ip = appendComment(ip, "dnswl "+z+" listed")
	}
	for _, z := range r.DNSBL.Errors {
		ip = appendComment(ip, "dns list "+z+" temperror")
	}
	out = append(out, ip)
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// appendReason adds reason="..." to a result other than pass.
func appendReason(atoms []string, reason, result string) []string {
	reason = safeText(cleanText(reason, 200), true)
	if reason == "" || result == "pass" {
		return atoms
	}
	return append(atoms, "reason="+quote(reason))
}

// appendComment adds a comment, split at its spaces so that it can fold.
func appendComment(atoms []string, text string) []string {
	words := strings.Fields(safeText(cleanText(text, 300), true))
	if len(words) == 0 {
		return atoms
	}
	words[0] = "(" + words[0]
	words[len(words)-1] += ")"
	return append(atoms, words...)
}

// keyword makes s a Keyword (RFC 5321 §4.1.2), as result values and
// policies must be.
func keyword(s string) string {
	k := strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return -1
	}, s)
	if k == "" {
		return "none"
	}
	return k
}

// cleanText drops control characters and invalid UTF-8 from s and cuts it
// to at most max bytes.
func cleanText(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == utf8.RuneError || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
	if len(s) > max {
		s = s[:max]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return strings.TrimSpace(s)
}

// safeText replaces by "?" every character of s that needs escaping or
// that a parser could take for structure: quotes, backslashes,
// parentheses, and the ";" and "=" that naive parsers split results and
// properties at, quoted or not; space too unless spaces is set.
func safeText(s string, spaces bool) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
			return r
		case strings.ContainsRune(".,:_-+/[]@", r), spaces && r == ' ':
			return r
		}
		return '?'
	}, s)
}

// pvalue writes a property value (RFC 8601 §2.2): a token (a domain name
// is one) as it is, anything else made safe and quoted.
func pvalue(s string) string {
	s = cleanText(s, 255)
	if isToken(s) {
		return s
	}
	return quote(safeText(s, false))
}

// quote writes s as a quoted string (RFC 5322 §3.2.4).
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// bPrefixes returns, for each signature, the shortest prefix of its b= of
// at least 8 characters that no other signature's b= shares (RFC 6008 §4),
// keeping only base64 characters.
func bPrefixes(sigs []DKIMResult) []string {
	bs := make([]string, len(sigs))
	for i, s := range sigs {
		bs[i] = strings.Map(func(r rune) rune {
			if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '+' || r == '/' {
				return r
			}
			return -1
		}, s.B)
		if len(bs[i]) > 128 {
			bs[i] = bs[i][:128]
		}
	}
	out := make([]string, len(sigs))
	for i, b := range bs {
		n := min(8, len(b))
		for ; n < len(b); n++ {
			unique := true
			for j, o := range bs {
				if j != i && strings.HasPrefix(o, b[:n]) {
					unique = false
					break
				}
			}
			if unique {
				break
			}
		}
		out[i] = b[:n]
	}
	return out
}
