package msgauth

import (
	"crypto/x509"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"

	"postel/internal/msgauth/arc"
)

// forwarded returns a message from a@reject.example (p=reject), DKIM-signed
// by reject.example, as the mailing list lists.example sends it on: it
// tagged the subject and added a footer, which breaks the signature, and
// sealed with ARC what it had seen (RFC 8617 §1's use case).
func forwarded(t *testing.T) string {
	t.Helper()
	orig := sign(t, plain("a@reject.example"), "reject.example", "ed", keys().ed)
	listed := strings.Replace(orig, "Subject: test", "Subject: [list] test", 1) + "-- \r\nthe list footer\r\n"
	s := &arc.Sealer{Domain: "lists.example", Selector: "arc", Key: keys().rsa}
	set, err := s.Seal(strings.NewReader(listed), arc.Result{Status: "none"}, "lists.example",
		"dkim=pass header.d=reject.example header.s=ed; spf=pass smtp.mailfrom=a@reject.example; dmarc=pass header.from=reject.example")
	if err != nil || len(set) == 0 {
		t.Fatalf("Seal: %q, %v", set, err)
	}
	return string(set) + listed
}

func arcEnv(t *testing.T, trusted ...string) *env {
	e := newEnv(t, func(c *Config) { c.TrustedARCSealers = trusted })
	der, err := x509.MarshalPKIXPublicKey(&keys().rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Add(txt("arc._domainkey.lists.example.", rsaRecord(der)))
	return e
}

// TestARCForward: a DMARC-failing message forwarded by a list that sealed
// it is delivered when the list is trusted, filed as junk when it is not,
// refused when the seal is broken, and deferred when the seal's key cannot
// be looked up; every time the Authentication-Results field says so.
func TestARCForward(t *testing.T) {
	msg := forwarded(t)
	const mailFrom = "list-bounces@lists.example"

	t.Run("trusted sealer", func(t *testing.T) {
		r := arcEnv(t, "lists.example").check(t, mailFrom, msg)
		wantVerdict(t, r, Accept, 0, "")
		p := parseHeader(t, r)
		if a := p.arc(t); a.Value != "pass" {
			t.Errorf("arc=%s", a.Value)
		}
		if d := p.dmarc(t); d.Value != "fail" || d.From != "reject.example" {
			t.Errorf("dmarc=%s header.from=%s", d.Value, d.From)
		}
		if dk := p.dkim(); len(dk) != 1 || dk[0].Value != "fail" {
			t.Errorf("dkim = %+v", dk)
		}
		if !strings.Contains(p.comments(), "trusted_forwarder") {
			t.Errorf("comments %q lack the override", p.comments())
		}
		if r.Chain.Status != "pass" || r.Chain.Instances != 1 || len(r.Chain.Sealers) != 1 {
			t.Errorf("chain = %+v", r.Chain)
		}
	})
	t.Run("untrusted sealer", func(t *testing.T) {
		r := arcEnv(t).check(t, mailFrom, msg)
		wantVerdict(t, r, Junk, 0, "forwarded (ARC)")
		if a := parseHeader(t, r).arc(t); a.Value != "pass" {
			t.Errorf("arc=%s", a.Value)
		}
	})
	t.Run("broken seal", func(t *testing.T) {
		r := arcEnv(t, "lists.example").check(t, mailFrom, strings.Replace(msg, "the list footer", "a changed footer", 1))
		wantVerdict(t, r, Reject, 550, "DMARC policy of reject.example")
		if a := parseHeader(t, r).arc(t); a.Value != "fail" {
			t.Errorf("arc=%s", a.Value)
		}
	})
	t.Run("key lookup fails", func(t *testing.T) {
		e := arcEnv(t)
		e.srv.SetRcode("arc._domainkey.lists.example", mdns.RcodeServerFailure)
		r := e.check(t, mailFrom, msg)
		wantVerdict(t, r, TempFail, 451, "temporary")
	})
	t.Run("no chain", func(t *testing.T) {
		r := arcEnv(t, "lists.example").check(t, mailFrom, plain("a@reject.example"))
		wantVerdict(t, r, Reject, 550, "DMARC policy")
		if a := parseHeader(t, r).arc(t); a.Value != "none" {
			t.Errorf("arc=%s", a.Value)
		}
	})
	// A passing chain on a message that passes DMARC changes nothing.
	t.Run("chain on good mail", func(t *testing.T) {
		set := msg[:strings.Index(msg, "\r\nDKIM-Signature:")+2]
		r := arcEnv(t).check(t, mailFrom, set+sign(t, plain("a@reject.example"), "reject.example", "ed", keys().ed))
		if r.DMARC.Result != "pass" || r.Chain.Status != "fail" {
			t.Errorf("dmarc %+v, chain %+v", r.DMARC, r.Chain)
		}
		wantVerdict(t, r, Accept, 0, "")
	})
}
