package msgauth

import (
	"crypto"
	"fmt"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

func TestDKIM(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.SetRcode("temp._domainkey.dkim.example", mdns.RcodeServerFailure)
	k := keys()
	msg := plain("Alice <alice@dkim.example>")
	tests := []struct {
		name       string
		selector   string
		key        crypto.Signer
		tamper     func(string) string
		want       string
		wantReason string
		wantAlg    string
		verdict    Action
	}{
		{"ed25519", "ed", k.ed, nil, "pass", "", "ed25519-sha256", Accept},
		{"rsa", "rsa", k.rsa, nil, "pass", "", "rsa-sha256", Accept},
		{"body changed", "ed", k.ed, func(m string) string { return strings.Replace(m, "Hello.", "Hello!", 1) },
			"fail", "body hash did not verify", "ed25519-sha256", Reject},
		{"header changed", "ed", k.ed, func(m string) string { return strings.Replace(m, "Subject: test", "Subject: tset", 1) },
			"fail", "signature did not verify", "ed25519-sha256", Reject},
		{"wrong key", "wrong", k.ed, nil, "fail", "signature did not verify", "ed25519-sha256", Reject},
		{"revoked key", "revoked", k.ed, nil, "permerror", "key revoked", "ed25519-sha256", Reject},
		{"no key", "missing", k.ed, nil, "permerror", "no key for signature", "ed25519-sha256", Reject},
		// RFC 8301 §3.2: an RSA key under 1024 bits never verifies.
		{"short rsa key", "short", k.rsa, nil, "policy", "key is too short", "rsa-sha256", Reject},
		// The key lookup failed: DMARC cannot conclude, the client retries.
		{"key lookup SERVFAIL", "temp", k.ed, nil, "temperror", "key lookup failed", "ed25519-sha256", TempFail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signed := sign(t, msg, "dkim.example", tt.selector, tt.key)
			if tt.tamper != nil {
				signed = tt.tamper(signed)
			}
			r := e.check(t, "alice@fail.example", signed)
			if len(r.DKIM) != 1 {
				t.Fatalf("%d DKIM results", len(r.DKIM))
			}
			d := r.DKIM[0]
			if d.Result != tt.want || d.Domain != "dkim.example" || d.Selector != tt.selector || d.Algorithm != tt.wantAlg {
				t.Errorf("DKIM = %+v, want %s", d, tt.want)
			}
			p := parseHeader(t, r)
			ds := p.dkim()
			if len(ds) != 1 || string(ds[0].Value) != tt.want || ds[0].Domain != "dkim.example" {
				t.Fatalf("header dkim results %+v", ds)
			}
			own := p.own("dkim")[0]
			if own.prop("header.s") != tt.selector || own.prop("header.a") != tt.wantAlg {
				t.Errorf("header.s=%q header.a=%q", own.prop("header.s"), own.prop("header.a"))
			}
			if b := own.prop("header.b"); len(b) < 8 || !strings.HasPrefix(d.B, b) {
				t.Errorf("header.b=%q is not a prefix of b=%q", b, d.B)
			}
			if !strings.Contains(own.Reason, tt.wantReason) || (tt.wantReason == "") != (own.Reason == "") {
				t.Errorf("reason %q, want %q", own.Reason, tt.wantReason)
			}
			if r.Verdict.Action != tt.verdict {
				t.Errorf("verdict %v %q, want %v", r.Verdict.Action, r.Verdict.Reason, tt.verdict)
			}
			if got := p.dmarc(t); tt.want == "pass" && got.Value != "pass" {
				t.Errorf("dmarc=%s with an aligned DKIM pass", got.Value)
			}
		})
	}
}

// TestDKIMMaxSignatures checks that only the first MaxSignatures
// signatures are verified, and that the others are noted.
func TestDKIMMaxSignatures(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxSignatures = 2 })
	k := keys()
	msg := plain("alice@dkim.example")
	// The topmost signatures fail; the valid one is third.
	msg = sign(t, msg, "dkim.example", "ed", k.ed)
	msg = sign(t, msg, "dkim.example", "wrong", k.ed)
	msg = sign(t, msg, "other.example", "wrong", k.ed)
	r := e.check(t, "alice@fail.example", msg)
	if len(r.DKIM) != 2 || r.DKIMUnchecked != 1 {
		t.Fatalf("%d results, %d unchecked; want 2 and 1", len(r.DKIM), r.DKIMUnchecked)
	}
	p := parseHeader(t, r)
	ds := p.dkim()
	if len(ds) != 2 || ds[0].Domain != "other.example" || ds[1].Domain != "dkim.example" {
		t.Fatalf("header dkim results %+v", ds)
	}
	for _, d := range ds {
		if d.Value == "pass" {
			t.Errorf("signature of %s passed", d.Domain)
		}
	}
	if !strings.Contains(p.comments(), "1 more signatures not checked") {
		t.Errorf("comments %q do not note the unchecked signature", p.comments())
	}
	own := p.own("dkim")
	if own[0].prop("header.b") == own[1].prop("header.b") {
		t.Errorf("header.b %q does not tell the signatures apart", own[0].prop("header.b"))
	}
	wantVerdict(t, r, Reject, 550, "DMARC policy of dkim.example")

	// With the default limit, the third signature is checked and passes.
	e = newEnv(t, nil)
	r = e.check(t, "alice@fail.example", msg)
	if len(r.DKIM) != 3 || r.DKIMUnchecked != 0 || r.DKIM[2].Result != "pass" {
		t.Fatalf("DKIM = %+v, %d unchecked", r.DKIM, r.DKIMUnchecked)
	}
	wantVerdict(t, r, Accept, 0, "")
}

// TestDKIMExpired checks x= against the configured clock.
func TestDKIMExpired(t *testing.T) {
	e := newEnv(t, nil)
	signed := sign(t, plain("alice@dkim.example"), "dkim.example", "ed", keys().ed)
	r := e.check(t, "alice@fail.example", signed)
	if r.DKIM[0].Result != "pass" {
		t.Fatalf("DKIM = %+v", r.DKIM[0])
	}
	// A signature expiring at the epoch plus one second, seen now.
	expired := strings.Replace(signed, "DKIM-Signature: ", "DKIM-Signature: x=1; ", 1)
	r = e.check(t, "alice@fail.example", expired)
	if r.DKIM[0].Result == "pass" {
		t.Errorf("expired signature: %+v", r.DKIM[0])
	}
}

func TestParseTags(t *testing.T) {
	tags := parseTags(" v=1; a=rsa-sha256;\r\n\td=Example.ORG ; s = sel;\tb=ab cd\r\n ef==; junk; h=From:To")
	want := map[string]string{"v": "1", "a": "rsa-sha256", "d": "Example.ORG", "s": "sel", "b": "abcdef==", "h": "From:To"}
	for name, v := range want {
		if got, ok := tagValue(tags, name); !ok || got != v {
			t.Errorf("%s=%q, want %q", name, got, v)
		}
	}
	if _, ok := tagValue(tags, "junk"); ok {
		t.Error("a part without = became a tag")
	}
	if n := len(parseTags(strings.Repeat("a=b;", 1000))); n != maxTags {
		t.Errorf("%d tags, want the bound %d", n, maxTags)
	}
	if got := fmt.Sprint(bPrefixes([]DKIMResult{{B: "abcdefgh1"}, {B: "abcdefgh2"}, {B: "xyz"}, {B: "a b\r\nc;d=e f g h i j"}})); got != "[abcdefgh1 abcdefgh2 xyz abcdefghi]" {
		t.Errorf("bPrefixes = %s", got)
	}
}
