package msgauth

import (
	"strings"
	"testing"
)

// hostile is a Result whose sender-chosen values try to break out of their
// place in the header.
func hostile(v string) *Result {
	return &Result{
		authservID: authservID,
		ClientIP:   "2001:db8::1",
		SPF:        SPFResult{Result: "pass", Identity: "helo", Domain: v, Reason: v},
		DKIM: []DKIMResult{
			{Result: "fail", Domain: v, Selector: v, Algorithm: v, B: v, Reason: v},
			{Result: "pass", Domain: "example.org", Selector: "s", Algorithm: "ed25519-sha256", B: "abc/def+ghi="},
		},
		DMARC: DMARCResult{Result: "fail", Domain: v, Policy: v, Applied: "reject", Reason: v},
		ARC:   ARCResult{Result: "pass", Sealers: []string{v}},
		IPRev: IPRevResult{Result: "fail", Names: []string{v}, Reason: v},
		HELO:  HELOResult{Name: v, Result: "fail"},
		DNSBL: DNSBLResult{Listed: []Listing{{Zone: v, Action: "junk", Answer: v}}},
	}
}

func TestHeaderSafe(t *testing.T) {
	for _, v := range []string{
		"evil.example\r\nX-Injected: yes",
		`a"b\c; spf=pass smtp.mailfrom=bank.example`,
		"(comment) ) ( \x00\x07\x1b[31m",
		"mx.postel.example; dkim=pass",
		"ünïcödé.example \xff\xfe",
		strings.Repeat("long-label.", 60),
	} {
		r := hostile(v)
		h := string(r.Header())
		if strings.Count(h, "Authentication-Results:") != 1 || strings.Contains(h, "X-Injected: yes\r\n") {
			t.Errorf("header for %q injects: %q", v, h)
		}
		for _, line := range strings.Split(strings.TrimSuffix(h, "\r\n"), "\r\n") {
			for _, c := range []byte(line) {
				if c < ' ' && c != '\t' || c == 0x7f {
					t.Errorf("control character %#x in %q", c, line)
				}
			}
		}
		p := parseHeader(t, r)
		if len(p.ours) != 6 {
			t.Fatalf("%d results for %q, want 6: %q", len(p.ours), v, h)
		}
		// What the sender chose holds nothing a parser, naive or not,
		// could take for structure.
		for _, got := range []string{
			p.own("dkim")[0].prop("header.d"), p.own("dkim")[0].prop("header.s"), p.own("dkim")[0].Reason,
			p.own("spf")[0].prop("smtp.helo"), p.own("dmarc")[0].prop("header.from"), p.comments(),
		} {
			if got == "" || strings.ContainsAny(got, ";=\"\\()\r\n\x00\x1b") {
				t.Errorf("value %q from %q", got, v)
			}
		}
		ds := p.dkim()
		if s := p.spf(t); len(ds) != 2 || s.Value != "pass" || ds[0].Value != "fail" || ds[1].Value != "pass" ||
			ds[1].Domain != "example.org" || p.dmarc(t).Value != "fail" || p.iprev(t).Value != "fail" || p.arc(t).Value != "pass" {
			t.Errorf("results changed: %q", h)
		}
		if got := p.own("dkim")[1].prop("header.b"); got != "abc/def+" {
			t.Errorf("header.b = %q", got)
		}
		if got := p.own("iprev")[0].prop("policy.iprev"); got != "2001:db8::1" {
			t.Errorf("policy.iprev = %q", got)
		}
		for _, res := range p.ours {
			if res.Method == "spf" && res.Result != "pass" || res.Method == "dkim" && res.Result == "pass" && res.prop("header.d") != "example.org" {
				t.Errorf("result changed: %+v", res)
			}
		}
		if strings.Contains(r.AuthResults(), "\r") || strings.Contains(r.AuthResults(), "\n") {
			t.Errorf("AuthResults holds a line break: %q", r.AuthResults())
		}
	}
}

// TestHeaderFolding checks that lines stay under 78 characters when
// their atoms allow.
func TestHeaderFolding(t *testing.T) {
	r := hostile("a.example")
	for i := range 6 {
		r.IPRev.Names = append(r.IPRev.Names, strings.Repeat("n", 20)+".example")
		r.DNSBL.Allowed = append(r.DNSBL.Allowed, strings.Repeat("w", i+10)+".example")
	}
	h := string(r.Header())
	for _, line := range strings.Split(strings.TrimSuffix(h, "\r\n"), "\r\n") {
		if len(line) > 77 {
			t.Errorf("line of %d characters: %q", len(line), line)
		}
	}
	parseHeader(t, r)
}

func TestParseAuthResults(t *testing.T) {
	id, res, err := parseAuthResults(`example.com (c1) 1 ; spf (x) = pass (y) smtp . mailfrom = "a b"@example.net (z);` +
		"\r\n\tdkim/1=FAIL reason=\"bad \\\"sig\\\"\" header.d=example.com header.b=\"ab/cd\" (nested (comment));\r\n\tnone; iprev=pass policy.iprev=192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if id != "example.com" || len(res) != 3 {
		t.Fatalf("id %q, %d results: %+v", id, len(res), res)
	}
	if r := res[0]; r.Method != "spf" || r.Result != "pass" || r.prop("smtp.mailfrom") != "a b@example.net" || len(r.Comments) != 3 {
		t.Errorf("spf: %+v", r)
	}
	if r := res[1]; r.Method != "dkim" || r.Result != "fail" || r.Reason != `bad "sig"` || r.prop("header.b") != "ab/cd" || r.Comments[0] != "nested (comment)" {
		t.Errorf("dkim: %+v", r)
	}
	if r := res[2]; r.Method != "iprev" || r.prop("policy.iprev") != "192.0.2.1" {
		t.Errorf("iprev: %+v", r)
	}
	for _, bad := range []string{
		"",
		"; spf=pass",
		"example.com 2; spf=pass",
		"example.com; spf",
		"example.com; spf=",
		"example.com; spf=pass smtp.mailfrom",
		"example.com; spf=pass smtp.mailfrom=",
		"example.com; spf=pass (unterminated",
		`example.com; spf=pass reason="unterminated`,
		"example.com; spf=pass " + strings.Repeat("(", 40) + strings.Repeat(")", 40),
		"example.com" + strings.Repeat("; spf=pass", maxResinfos+1),
	} {
		if _, _, err := parseAuthResults(bad); err == nil {
			t.Errorf("parseAuthResults(%q) succeeded", bad)
		}
	}
	if id, res, err := parseAuthResults("example.com; none"); err != nil || id != "example.com" || len(res) != 0 {
		t.Errorf("none: %q %v %v", id, res, err)
	}
}
