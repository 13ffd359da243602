package msgauth

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
	mdns "github.com/miekg/dns"
)

func TestSPF(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.SetRcode("temp.example", mdns.RcodeServerFailure)
	tests := []struct {
		mailFrom   string
		want       string
		wantDomain string
		wantErr    error
	}{
		{"alice@pass.example", "pass", "pass.example", nil},
		{"alice@PASS.Example.", "pass", "pass.example", nil},
		{"alice@fail.example", "fail", "fail.example", nil},
		{"alice@softfail.example", "softfail", "softfail.example", nil},
		{"alice@neutral.example", "neutral", "neutral.example", nil},
		{"alice@nospf.example", "none", "nospf.example", nil},
		{"alice@missing.example", "none", "missing.example", nil},
		{"alice@temp.example", "temperror", "temp.example", nil},
		// RFC 7208 §4.6.4: 10 DNS-querying terms are allowed, not 11.
		{"alice@inc10.example", "pass", "inc10.example", nil},
		{"alice@inc11.example", "permerror", "inc11.example", spf.ErrLookupLimitReached},
		// RFC 7208 §4.6.4: 2 void lookups are allowed, not 3.
		{"alice@void2.example", "fail", "void2.example", nil},
		{"alice@void3.example", "permerror", "void3.example", spf.ErrVoidLookupLimitReached},
		{"alice@bad..example", "none", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.mailFrom, func(t *testing.T) {
			r := e.check(t, tt.mailFrom, plain("alice@elsewhere.example"))
			if r.SPF.Result != tt.want || r.SPF.Identity != "mailfrom" || r.SPF.Domain != tt.wantDomain {
				t.Errorf("SPF = %+v, want %s for %q", r.SPF, tt.want, tt.wantDomain)
			}
			if tt.wantErr != nil && !errors.Is(r.SPF.Err, tt.wantErr) {
				t.Errorf("SPF error %v, want %v", r.SPF.Err, tt.wantErr)
			}
			p := parseHeader(t, r)
			s := p.spf(t)
			if string(s.Value) != tt.want || s.From != tt.wantDomain || s.Helo != "" {
				t.Errorf("header spf=%s smtp.mailfrom=%q smtp.helo=%q, want %s %q", s.Value, s.From, s.Helo, tt.want, tt.wantDomain)
			}
			if own := p.own("spf")[0]; (tt.want == "permerror" || tt.want == "temperror" || tt.want == "none") != (own.Reason != "") {
				t.Errorf("spf reason %q for %s", own.Reason, tt.want)
			}
		})
	}
}

// TestSPFHELO checks the null reverse-path: SPF checks the HELO identity
// (RFC 7208 §2.4), which does not align for DMARC.
func TestSPFHELO(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.Add(txt("_dmarc.sender.example.", "v=DMARC1; p=reject"))
	r := e.check(t, "", plain("postmaster@mail.sender.example"))
	if r.SPF.Result != "pass" || r.SPF.Identity != "helo" || r.SPF.Domain != clientHELO {
		t.Errorf("SPF = %+v, want pass of the HELO identity", r.SPF)
	}
	s := parseHeader(t, r).spf(t)
	if s.Value != authres.ResultPass || s.Helo != clientHELO || s.From != "" {
		t.Errorf("header spf=%s smtp.helo=%q smtp.mailfrom=%q", s.Value, s.Helo, s.From)
	}
	if r.Authenticated || r.DMARC.Result != "fail" || r.DMARC.SPFAligned {
		t.Errorf("HELO identity aligned: authenticated %v, DMARC %+v", r.Authenticated, r.DMARC)
	}
	wantVerdict(t, r, Reject, 550, "DMARC policy of sender.example")

	// An address literal has no SPF.
	ctx := context.Background()
	cl := e.c.CheckClient(ctx, netip.MustParseAddr(clientIP), "[192.0.2.10]")
	r = e.c.CheckMessage(ctx, cl, "", strings.NewReader(plain("a@pass.example")))
	if r.SPF.Result != "none" || r.SPF.Identity != "helo" {
		t.Errorf("SPF of an address literal = %+v", r.SPF)
	}
	// authres keeps the quotes of a quoted value; our parser removes them.
	p := parseHeader(t, r)
	if s := p.spf(t); s.Value != authres.ResultNone || s.Helo != `"[192.0.2.10]"` || p.own("spf")[0].prop("smtp.helo") != "[192.0.2.10]" {
		t.Errorf("header spf=%s smtp.helo=%q", s.Value, s.Helo)
	}
}

// TestTimeout checks that Timeout bounds the lookups: a server that never
// answers gives temporary errors, not a hung check.
func TestTimeout(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Timeout = 300 * time.Millisecond })
	e.srv.Drop(1 << 20)
	r := e.check(t, "alice@pass.example", plain("alice@pass.example"))
	if r.SPF.Result != "temperror" || r.IPRev.Result != "temperror" || r.DMARC.Result != "temperror" {
		t.Errorf("SPF %s, iprev %s, DMARC %s; want temperror", r.SPF.Result, r.IPRev.Result, r.DMARC.Result)
	}
	wantVerdict(t, r, TempFail, 451, "try again later")
}
