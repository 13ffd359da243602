package msgauth

import (
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

func TestDMARC(t *testing.T) {
	k := keys()
	tests := []struct {
		name      string
		from      string // From address
		mailFrom  string
		signD     string // DKIM d= (selector "ed"), "" for none
		randN     int    // what RandN answers, -1 when it must not be called
		want      string // dmarc result
		wantFrom  string // header.from
		policy    string // DMARC.Policy, the published one
		applied   string // policy.dmarc
		action    Action
		code      int
		reasonHas string
	}{
		{name: "reject", from: "a@reject.example", mailFrom: "a@fail.example", randN: -1,
			want: "fail", wantFrom: "reject.example", policy: "reject", applied: "reject",
			action: Reject, code: 550, reasonHas: "rejected by the DMARC policy of reject.example"},
		{name: "quarantine", from: "a@quarantine.example", mailFrom: "a@fail.example", randN: -1,
			want: "fail", wantFrom: "quarantine.example", policy: "quarantine", applied: "quarantine",
			action: Junk, reasonHas: "DMARC policy of quarantine.example"},
		{name: "none", from: "a@pnone.example", mailFrom: "a@fail.example", randN: -1,
			want: "fail", wantFrom: "pnone.example", policy: "none", applied: "none", action: Accept},
		// RFC 7489 §6.6.4: pct=0 spares every message: reject becomes
		// quarantine.
		{name: "pct=0", from: "a@pct0.example", mailFrom: "a@fail.example", randN: -1,
			want: "fail", wantFrom: "pct0.example", policy: "reject", applied: "quarantine",
			action: Junk, reasonHas: "pct0.example"},
		{name: "pct=50 sampled", from: "a@pct50.example", mailFrom: "a@fail.example", randN: 49,
			want: "fail", wantFrom: "pct50.example", policy: "reject", applied: "reject",
			action: Reject, code: 550, reasonHas: "pct50.example"},
		{name: "pct=50 spared", from: "a@pct50.example", mailFrom: "a@fail.example", randN: 50,
			want: "fail", wantFrom: "pct50.example", policy: "reject", applied: "quarantine", action: Junk},
		// RFC 7489 §6.6.3: no record at the subdomain, so the
		// Organizational Domain's, whose sp= applies.
		{name: "sp of the organizational domain", from: "a@sub.org.example", mailFrom: "a@fail.example", randN: -1,
			want: "fail", wantFrom: "sub.org.example", policy: "reject", applied: "reject",
			action: Reject, code: 550, reasonHas: "DMARC policy of org.example"},
		{name: "sp deeper", from: "a@a.b.org.example", mailFrom: "a@fail.example", randN: -1,
			want: "fail", wantFrom: "a.b.org.example", policy: "reject", applied: "reject", action: Reject, code: 550},
		{name: "p of the organizational domain", from: "a@org.example", mailFrom: "a@fail.example", randN: -1,
			want: "fail", wantFrom: "org.example", policy: "none", applied: "none", action: Accept},
		{name: "own record of a subdomain", from: "a@own.org.example", mailFrom: "a@fail.example", randN: -1,
			want: "fail", wantFrom: "own.org.example", policy: "none", applied: "none", action: Accept},
		// Alignment, RFC 7489 §3.1.
		{name: "spf relaxed", from: "a@relaxed.example", mailFrom: "b@bounce.relaxed.example", randN: -1,
			want: "pass", wantFrom: "relaxed.example", policy: "reject", action: Accept},
		{name: "spf strict", from: "a@strict.example", mailFrom: "b@bounce.strict.example", randN: -1,
			want: "fail", wantFrom: "strict.example", policy: "reject", applied: "reject", action: Reject, code: 550},
		{name: "dkim relaxed", from: "a@relaxed.example", mailFrom: "a@fail.example", signD: "mail.relaxed.example", randN: -1,
			want: "pass", wantFrom: "relaxed.example", policy: "reject", action: Accept},
		{name: "dkim strict", from: "a@strict.example", mailFrom: "a@fail.example", signD: "mail.strict.example", randN: -1,
			want: "fail", wantFrom: "strict.example", policy: "reject", applied: "reject", action: Reject, code: 550},
		{name: "dkim of another domain", from: "a@reject.example", mailFrom: "a@fail.example", signD: "dkim.example", randN: -1,
			want: "fail", wantFrom: "reject.example", policy: "reject", applied: "reject", action: Reject, code: 550},
		{name: "dkim aligned, spf failing", from: "a@reject.example", mailFrom: "a@reject.example", signD: "reject.example", randN: -1,
			want: "pass", wantFrom: "reject.example", policy: "reject", action: Accept},
		// Records.
		{name: "two records", from: "a@twice.example", mailFrom: "a@fail.example", randN: -1,
			want: "none", wantFrom: "twice.example", action: Accept},
		{name: "no v=DMARC1 record", from: "a@notdmarc.example", mailFrom: "a@fail.example", randN: -1,
			want: "none", wantFrom: "notdmarc.example", action: Accept},
		{name: "no record", from: "a@nospf.example", mailFrom: "a@fail.example", randN: -1,
			want: "none", wantFrom: "nospf.example", action: Accept},
		{name: "invalid p", from: "a@broken.example", mailFrom: "a@fail.example", randN: -1,
			want: "permerror", wantFrom: "broken.example", action: Accept},
		// RFC 7489 §6.6.3 step 6: invalid p= with a valid rua= is p=none.
		{name: "invalid p with rua", from: "a@brokenrua.example", mailFrom: "a@fail.example", randN: -1,
			want: "fail", wantFrom: "brokenrua.example", policy: "none", applied: "none", action: Accept},
		// RFC 7489 §6.3: bad pct= and fo= are dropped, P=Reject is p=reject.
		{name: "lenient record", from: "a@lenient.example", mailFrom: "a@fail.example", randN: -1,
			want: "fail", wantFrom: "lenient.example", policy: "reject", applied: "reject", action: Reject, code: 550},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			e := newEnv(t, func(c *Config) {
				c.RandN = func(n int) int {
					calls++
					if n != 100 {
						t.Errorf("RandN(%d), want RandN(100)", n)
					}
					return tt.randN
				}
			})
			msg := plain(tt.from)
			if tt.signD != "" {
				msg = sign(t, msg, tt.signD, "ed", k.ed)
			}
			r := e.check(t, tt.mailFrom, msg)
			if tt.randN < 0 && calls > 0 {
				t.Errorf("RandN called %d times", calls)
			}
			if tt.randN >= 0 && calls != 1 {
				t.Errorf("RandN called %d times, want once", calls)
			}
			d := r.DMARC
			if d.Result != tt.want || d.Domain != tt.wantFrom || d.Policy != tt.policy || d.Applied != tt.applied {
				t.Errorf("DMARC = %+v, want %s policy %q applied %q", d, tt.want, tt.policy, tt.applied)
			}
			if r.Authenticated != (tt.want == "pass") {
				t.Errorf("Authenticated = %v with dmarc=%s", r.Authenticated, tt.want)
			}
			p := parseHeader(t, r)
			hd := p.dmarc(t)
			if string(hd.Value) != tt.want || hd.From != tt.wantFrom {
				t.Errorf("header dmarc=%s header.from=%q", hd.Value, hd.From)
			}
			if got := p.own("dmarc")[0].prop("policy.dmarc"); got != tt.applied {
				t.Errorf("header policy.dmarc=%q, want %q", got, tt.applied)
			}
			wantVerdict(t, r, tt.action, tt.code, tt.reasonHas)
		})
	}
}

// TestDMARCTempFail checks that a DNS failure the outcome depends on
// gives TempFail, and one it does not depend on does not.
func TestDMARCTempFail(t *testing.T) {
	e := newEnv(t, nil)
	k := keys()
	e.srv.SetRcode("_dmarc.dtemp.example", mdns.RcodeServerFailure)
	e.srv.SetRcode("stemp.example", mdns.RcodeServerFailure)
	e.srv.SetRcode("temp.example", mdns.RcodeServerFailure)
	e.srv.Add(
		txt("ed._domainkey.dtemp.example.", edRecord(k.ed)),
		txt("ed._domainkey.mail.dtemp.example.", edRecord(k.ed)),
		txt("_dmarc.stemp.example.", "v=DMARC1; p=reject"),
		txt("ed._domainkey.stemp.example.", edRecord(k.ed)),
		txt("_dmarc.snone.example.", "v=DMARC1; p=none"),
	)
	tests := []struct {
		name     string
		from     string
		mailFrom string
		signD    string
		dmarc    string
		action   Action
	}{
		// The DMARC record cannot be read and nothing aligned passed.
		{"record lookup fails", "a@dtemp.example", "a@fail.example", "", "temperror", TempFail},
		// A pass for the From domain itself aligns under any record.
		{"record lookup fails, exact dkim pass", "a@dtemp.example", "a@fail.example", "dtemp.example", "temperror", Accept},
		// A relaxed pass would fail a strict record.
		{"record lookup fails, relaxed dkim pass", "a@dtemp.example", "a@fail.example", "mail.dtemp.example", "temperror", TempFail},
		// SPF failed temporarily for an aligned domain under p=reject.
		{"spf temperror aligned", "a@stemp.example", "a@stemp.example", "", "temperror", TempFail},
		{"spf temperror, dkim pass", "a@stemp.example", "a@stemp.example", "stemp.example", "pass", Accept},
		// SPF failed temporarily for a domain that does not align.
		{"spf temperror unaligned", "a@reject.example", "a@temp.example", "", "fail", Reject},
		// Nothing to decide: p=none.
		{"spf temperror under p=none", "a@snone.example", "a@snone.example", "", "fail", Accept},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := plain(tt.from)
			if tt.signD != "" {
				msg = sign(t, msg, tt.signD, "ed", k.ed)
			}
			r := e.check(t, tt.mailFrom, msg)
			if r.DMARC.Result != tt.dmarc {
				t.Errorf("DMARC = %+v, want %s", r.DMARC, tt.dmarc)
			}
			if hd := parseHeader(t, r).dmarc(t); string(hd.Value) != tt.dmarc {
				t.Errorf("header dmarc=%s", hd.Value)
			}
			code := map[Action]int{TempFail: 451, Reject: 550}[tt.action]
			wantVerdict(t, r, tt.action, code, "")
			if tt.action == TempFail && r.Verdict.Enhanced != [3]int{4, 7, 0} {
				t.Errorf("enhanced code %v", r.Verdict.Enhanced)
			}
		})
	}
}

// TestFromDomain checks the Author Domain rules of RFC 7489 §6.6.1.
func TestFromDomain(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name       string
		from       string // From field lines, "" for none
		wantDomain string
		wantAddr   string
		dmarc      string
	}{
		{"one address", "From: Alice <alice@Reject.Example>", "reject.example", "alice@reject.example", "fail"},
		{"two addresses, one domain", "From: a@reject.example, b@REJECT.example", "reject.example", "", "fail"},
		{"two domains", "From: a@pass.example, b@reject.example", "", "", "permerror"},
		{"two From fields", "From: a@pass.example\r\nFrom: a@pass.example", "", "", "permerror"},
		{"no From", "", "", "", "none"},
		{"group only", "From: undisclosed:;", "", "", "none"},
		{"no domain", "From: alice", "", "", "permerror"},
		{"invalid domain", "From: a@exa_mple..com", "", "", "permerror"},
		{"IDN", "From: a@bücher.example", "xn--bcher-kva.example", "a@xn--bcher-kva.example", "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := plain("x@y.example")
			msg = strings.Replace(msg, "From: x@y.example\r\n", tt.from+"\r\n", 1)
			if tt.from == "" {
				msg = strings.TrimPrefix(msg, "\r\n")
			}
			// SPF passes for pass.example; it must not authenticate an
			// ambiguous From.
			r := e.check(t, "a@pass.example", msg)
			if r.FromDomain != tt.wantDomain || r.From != tt.wantAddr || r.DMARC.Result != tt.dmarc {
				t.Errorf("From %q domain %q, DMARC %+v; want %q %q %s", r.From, r.FromDomain, r.DMARC, tt.wantAddr, tt.wantDomain, tt.dmarc)
			}
			if tt.wantDomain == "" && r.Authenticated {
				t.Error("authenticated without an Author Domain")
			}
			hd := parseHeader(t, r).dmarc(t)
			if string(hd.Value) != tt.dmarc || hd.From != tt.wantDomain {
				t.Errorf("header dmarc=%s header.from=%q", hd.Value, hd.From)
			}
		})
	}
}

func TestIsDMARC1(t *testing.T) {
	for s, want := range map[string]bool{
		"v=DMARC1; p=none":  true,
		"v=DMARC1":          true,
		" V = DMARC1 ;p=x":  true,
		"v=DMARC1p=reject":  false,
		"v=DMARC10; p=none": false,
		"v=dmarc1; p=none":  false,
		"p=none; v=DMARC1":  false,
		"":                  false,
	} {
		if got := isDMARC1(s); got != want {
			t.Errorf("isDMARC1(%q) = %v", s, got)
		}
	}
}
