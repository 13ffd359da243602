package arc

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseTagList(t *testing.T) {
	tests := []struct {
		in   string
		want string // name=value|...; "" for an error
	}{
		{"v=1; a=rsa-sha256", "v=1|a=rsa-sha256"},
		{"v=1; a=rsa-sha256;", "v=1|a=rsa-sha256"},
		{" v = 1 ;\r\n\ta=x ; ", "v=1|a=x"},
		{"b=abc\r\n def; bh=x", "b=abc\r\n def|bh=x"},
		{"n=a b  c", "n=a b  c"},
		{"empty=; x_1=2", "empty=|x_1=2"},
		{"x=a=b", "x=a=b"},
		{"n=caf\u00e9", "n=caf\u00e9"}, // UTF-8 values (RFC 8616)
		{"", ""},
		{";", ""},
		{"a=1;;b=2", ""},        // an empty tag-spec
		{"a=1; a=2", ""},        // a repeated name (RFC 6376 §3.2)
		{"A=1; a=2", "A=1|a=2"}, // names are case-sensitive
		{"a", ""},
		{"=1", ""},
		{"1a=x", ""},
		{"a-b=x", ""},
		{"a=x\x00y", ""},
		{"a=x\r\ny", ""},   // a line break that is no fold
		{"a=x\r\n", "a=x"}, // the line break ending the field
		{"a=x\ny", ""},
		{"a=x\n y", "a=x\n y"},
	}
	for _, tt := range tests {
		tags, err := parseTagList(tt.in)
		var parts []string
		for _, tg := range tags {
			parts = append(parts, tg.name+"="+tg.value)
		}
		got := strings.Join(parts, "|")
		if (err != nil) != (tt.want == "") || got != tt.want {
			t.Errorf("parseTagList(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	var many []string
	for i := range maxTags + 1 {
		many = append(many, fmt.Sprintf("t%d=x", i))
	}
	if _, err := parseTagList(strings.Join(many[:maxTags], ";")); err != nil {
		t.Errorf("%d tags: %v", maxTags, err)
	}
	if _, err := parseTagList(strings.Join(many, ";")); err == nil {
		t.Errorf("%d tags accepted", maxTags+1)
	}
}

func TestAARInstance(t *testing.T) {
	tests := []struct {
		in      string
		i       int
		payload string
	}{
		{" i=1; example.org; spf=pass", 1, " example.org; spf=pass"},
		{"i = 50 ;x", 50, "x"},
		{"\r\n i=07;x", 7, "x"},
		{" i=0; x", 0, ""},
		{" i=100; x", 0, ""},
		{" i=1 x", 0, ""},
		{" x; i=1;", 0, ""},
		{" I=1; x", 0, ""}, // %s"i": case-sensitive (RFC 8617 §3.9)
		{" i=; x", 0, ""},
		{"", 0, ""},
	}
	for _, tt := range tests {
		i, payload, ok := aarInstance(tt.in)
		if ok != (tt.i != 0) || i != tt.i || payload != tt.payload {
			t.Errorf("aarInstance(%q) = %d, %q, %v", tt.in, i, payload, ok)
		}
	}
}

func TestParseKeyRecord(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	p := base64.StdEncoding.EncodeToString(spki)
	pkcs1 := base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(&key.PublicKey))
	tests := []struct {
		record, err string // err: "" when the record is good
	}{
		{"v=DKIM1; k=rsa; p=" + p, ""},
		{"p=" + p, ""},
		{"v=DKIM1; h=sha1:sha256; s=email; t=y; n=notes; p=" + p[:40] + "\r\n " + p[40:], ""},
		{"v=DKIM1; p=" + pkcs1, ""},
		{"v=DKIM1; k=rsa; p=", "key revoked"},
		{"v=DKIM1; k=rsa", "no p= tag"},
		{"v=DKIM2; p=" + p, "not a DKIM1 key record"},
		{"k=rsa; v=DKIM1; p=" + p, "not a DKIM1 key record"},
		{"k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", `key type "ed25519", want rsa`},
		{"h=sha1; p=" + p, "key not for sha256"},
		{"s=other; p=" + p, "key not for email"},
		{"p=!!!", "p= is not base64"},
		{"p=" + base64.StdEncoding.EncodeToString([]byte("junk")), "p= is not an RSA public key"},
		// The 512-bit key of the ValiMail suite (RFC 8301 §3.2).
		{valiMailKeys["512._domainkey.example.org"], "RSA key of 512 bits (RFC 8301 §3.2: at least 1024)"},
		{"v=DKIM1; omgwhatsgoingon", `tag "omgwhatsgoingon" without "="`},
	}
	for _, tt := range tests {
		got, err := parseKeyRecord(tt.record)
		switch {
		case tt.err == "" && (err != nil || !got.Equal(&key.PublicKey)):
			t.Errorf("parseKeyRecord(%.50q) = %v", tt.record, err)
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("parseKeyRecord(%.50q) = %v, want %q", tt.record, err, tt.err)
		}
	}
}

func TestParseAMS(t *testing.T) {
	now := time.Unix(2000000000, 0)
	const base = "i=1; a=rsa-sha256; d=example.org; s=sel; h=From:To; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA"
	tests := []struct {
		change func(string) string
		err    string
	}{
		{func(s string) string { return s }, ""},
		{func(s string) string { return s + "; c=relaxed; t=1; x=2000000000; l=10; q=dns/txt; v=1" }, ""},
		{func(s string) string { return strings.Replace(s, "h=From:To", "h=to : FROM", 1) }, ""},
		{func(s string) string { return strings.Replace(s, "h=From:To", "h=To", 1) }, "h= does not name From"},
		{func(s string) string { return strings.Replace(s, "h=From:To", "h=", 1) }, `bad field name "" in h=`},
		{func(s string) string { return strings.Replace(s, "h=From:To", "h=From::To", 1) }, `bad field name "" in h=`},
		{func(s string) string { return strings.Replace(s, "h=From:To", "h=From:ARC-Seal", 1) }, "h= names ARC-Seal"},
		{func(s string) string { return strings.Replace(s, "h=From:To; ", "", 1) }, "no h= tag"},
		{func(s string) string { return strings.Replace(s, "a=rsa-sha256", "a=rsa-sha1", 1) }, "algorithm a=rsa-sha1, want rsa-sha256"},
		{func(s string) string { return strings.Replace(s, "a=rsa-sha256", "a=ed25519-sha256", 1) }, "algorithm a=ed25519-sha256, want rsa-sha256"},
		{func(s string) string { return strings.Replace(s, "d=example.org", "d=exa mple.org", 1) }, "missing or bad d= tag"},
		{func(s string) string { return strings.Replace(s, "s=sel", "s=", 1) }, "missing or bad s= tag"},
		{func(s string) string { return strings.Replace(s, "b=AAAA", "b=", 1) }, "b= is not a base64 signature"},
		{func(s string) string { return strings.Replace(s, "bh=47DEQ", "bh=47DE", 1) }, "bh= is not a base64 SHA-256 hash"},
		{func(s string) string { return s + "; c=fancy" }, `unknown canonicalization "fancy"`},
		{func(s string) string { return s + "; q=http" }, "unknown query method q=http"},
		{func(s string) string { return s + "; l=-1" }, "bad l= tag"},
		{func(s string) string { return s + "; t=12345678901234" }, "bad t= tag"},
		{func(s string) string { return s + "; x=1999999999" }, "signature expired (x=)"},
		{func(s string) string { return s + "; t=200; x=100" }, "x= before t="},
	}
	for _, tt := range tests {
		in := tt.change(base)
		tags, err := parseTagList(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		_, err = parseAMS(tags, now)
		if (tt.err == "" && err != nil) || (tt.err != "" && (err == nil || err.Error() != tt.err)) {
			t.Errorf("parseAMS(%q) = %v, want %q", in, err, tt.err)
		}
	}
}

func TestParseAS(t *testing.T) {
	const base = "i=1; a=rsa-sha256; cv=none; d=example.org; s=sel; t=1; b=AAAA"
	tests := []struct{ in, cv, err string }{
		{base, "none", ""},
		{strings.Replace(base, "cv=none", "cv=Pass", 1), "pass", ""},
		{base + "; unknown=tag", "none", ""},
		{strings.Replace(base, "cv=none", "cv=maybe", 1), "", "bad cv=maybe"},
		{strings.Replace(base, "cv=none; ", "", 1), "", "no cv= tag"},
		{base + "; h=from", "", "h= tag in an ARC-Seal"},
		{strings.Replace(base, "t=1", "t=", 1), "", "bad t= tag"},
	}
	for _, tt := range tests {
		tags, err := parseTagList(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		as, err := parseAS(tags)
		switch {
		case tt.err == "" && (err != nil || as.cv != tt.cv || as.d != "example.org" || as.s != "sel"):
			t.Errorf("parseAS(%q) = %+v, %v", tt.in, as, err)
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("parseAS(%q) = %v, want %q", tt.in, err, tt.err)
		}
	}
}
