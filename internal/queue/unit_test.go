package queue

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"postel/internal/dns"
	"postel/internal/store"
)

func TestReplyRoundTrip(t *testing.T) {
	tests := []struct {
		r    reply
		want string
	}{
		{remoteReply("mx.example.net", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such\nuser"}),
			"mx.example.net said: 550 5.1.1 no such user"},
		{remoteReply("mx", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.NoEnhancedCode, Message: "later"}), "mx said: 451 4.0.0 later"},
		// An enhanced code of the wrong class is not believed.
		{remoteReply("mx", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{4, 1, 1}, Message: "x"}), "mx said: 550 5.0.0 x"},
		{remoteReply("mx", errors.New("EOF")), "451 4.4.2 connection to mx failed: EOF"},
		{okReply("mx", "2.0.0 OK: queued as X"), "mx said: 250 2.0.0 OK: queued as X"},
		{okReply("mx", "queued"), "mx said: 250 2.0.0 queued"},
		{replyNullMX("example.net"), "556 5.1.10 domain example.net accepts no mail (null MX, RFC 7505)"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("String = %q, want %q", got, tt.want)
		}
		if back := parseReply(tt.r.String()); back != tt.r {
			t.Errorf("parseReply(%q) = %+v, want %+v", tt.r.String(), back, tt.r)
		}
	}
	for in, want := range map[string]reply{
		"garbage":            {code: 451, status: "4.0.0", text: "garbage"},
		"":                   {code: 451, status: "4.0.0"},
		"mx said: 999 x":     {code: 451, status: "4.0.0", text: "999 x", mta: "mx"},
		"550 4.1.1 mismatch": {code: 550, status: "5.0.0", text: "4.1.1 mismatch"},
		"a b said: 550 x":    {code: 451, status: "4.0.0", text: "a b said: 550 x"},
	} {
		if got := parseReply(in); got != want {
			t.Errorf("parseReply(%q) = %+v, want %+v", in, got, want)
		}
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"  a\r\n  b\tc ":         "a b c",
		"ü\x00x":                 "??x",
		strings.Repeat("x", 600): strings.Repeat("x", maxReplyText),
	} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidStatus(t *testing.T) {
	for s, want := range map[string]bool{"2.0.0": true, "5.1.10": true, "4.123.456": true, "3.0.0": false, "5.1": false,
		"5.1.1.1": false, "5..1": false, "5.1234.1": false, "55.1.1": false, "": false, "5.a.1": false} {
		if validStatus(s) != want {
			t.Errorf("validStatus(%q) = %v", s, !want)
		}
	}
}

func TestBackoff(t *testing.T) {
	c := Config{}.withDefaults()
	want := []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, 80 * time.Minute, 160 * time.Minute, 4 * time.Hour, 4 * time.Hour}
	for i, w := range want {
		if got := c.backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
	if c.backoff(1000) != 4*time.Hour {
		t.Error("backoff does not stay capped")
	}
}

func TestAddressLiteral(t *testing.T) {
	for in, want := range map[string]string{
		"[192.0.2.1]":        "192.0.2.1",
		"[IPv6:2001:db8::1]": "2001:db8::1",
		"[ipv6:::1]":         "::1",
		"[2001:db8::1]":      "", // IPv6 needs its tag
		"[IPv6:192.0.2.1]":   "",
		"[example.net]":      "",
		"example.net":        "",
		"[]":                 "",
	} {
		ip, ok := addressLiteral(in)
		if got := ""; ok {
			got = ip.String()
			if got != want {
				t.Errorf("addressLiteral(%q) = %s, want %q", in, got, want)
			}
		} else if want != "" {
			t.Errorf("addressLiteral(%q) failed, want %s", in, want)
		}
	}
}

func TestRecipientDomain(t *testing.T) {
	for in, want := range map[string]string{
		"bob@Example.NET":    "example.net",
		"bob@bücher.example": "xn--bcher-kva.example",
		"a@b@example.net.":   "example.net",
		"bob@[192.0.2.1]":    "[192.0.2.1]",
		"bob":                "",
		"bob@":               "",
	} {
		if got := recipientDomain(in); got != want {
			t.Errorf("recipientDomain(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResolveRoute(t *testing.T) {
	e := newEnv(t)
	e.dns.Add(
		"eq.example. 300 IN MX 10 a.example.",
		"eq.example. 300 IN MX 10 b.example.",
		"eq.example. 300 IN MX 20 c.example.",
		"self.example. 300 IN MX 10 a.example.",
		"self.example. 300 IN MX 20 mail.example.org.",
		"self.example. 300 IN MX 30 c.example.",
		"selffirst.example. 300 IN MX 5 MAIL.example.org.",
		"selftie.example. 300 IN MX 10 mail.example.org.",
		"selftie.example. 300 IN MX 10 a.example.",
		"mixed.example. 300 IN MX 0 .",
		"mixed.example. 300 IN MX 10 a.example.",
		"implicit.example. 300 IN A 192.0.2.1",
	)
	q := e.queue()
	ctx := context.Background()
	names := func(r route) string {
		var out []string
		for _, h := range r.hosts {
			out = append(out, h.name)
		}
		return strings.Join(out, " ")
	}
	// Equal preferences come in both orders, the lower preference first.
	seen := map[string]bool{}
	for range 50 {
		r, fail := q.resolveRoute(ctx, "eq.example")
		if fail != nil {
			t.Fatal(fail)
		}
		seen[names(r)] = true
	}
	if len(seen) != 2 || !seen["a.example b.example c.example"] || !seen["b.example a.example c.example"] {
		t.Errorf("orders seen: %v", seen)
	}
	for _, tt := range []struct{ domain, want, fail string }{
		{"self.example", "a.example", ""}, // only hosts preferred to us
		{"selffirst.example", "", "5.4.6"},
		{"selftie.example", "", "5.4.6"},
		{"mixed.example", "a.example", ""}, // a null MX among others is ignored
		{"implicit.example", "implicit.example", ""},
		{"missing.example", "", "5.1.2"},
	} {
		r, fail := q.resolveRoute(ctx, tt.domain)
		if tt.fail != "" {
			if fail == nil || fail.status != tt.fail || !fail.permanent() {
				t.Errorf("%s: route %v, failure %v; want %s", tt.domain, names(r), fail, tt.fail)
			}
			continue
		}
		if fail != nil || names(r) != tt.want {
			t.Errorf("%s: route %q, failure %v; want %q", tt.domain, names(r), fail, tt.want)
		}
	}
	r, fail := q.resolveRoute(ctx, "[192.0.2.7]")
	if fail != nil || len(r.hosts) != 1 || r.hosts[0].ip != netip.MustParseAddr("192.0.2.7") {
		t.Errorf("address literal: %+v %v", r, fail)
	}
}

func TestLimiterConcurrency(t *testing.T) {
	l := newLimiter(2, 0)
	ctx := context.Background()
	r1, err1 := l.acquire(ctx, "a.example")
	r2, err2 := l.acquire(ctx, "a.example")
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if r, err := l.acquire(ctx, "b.example"); err != nil {
		t.Fatal("another domain is limited too")
	} else {
		r()
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := l.acquire(short, "a.example"); err == nil {
		t.Fatal("a third transaction started")
	}
	got := make(chan error)
	go func() {
		r, err := l.acquire(ctx, "a.example")
		if err == nil {
			r()
		}
		got <- err
	}()
	r1()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	r2()
	l.mu.Lock()
	users := l.domains["a.example"].users
	l.mu.Unlock()
	if users != 0 {
		t.Errorf("%d users left", users)
	}
}

func TestLimiterRate(t *testing.T) {
	l := newLimiter(10, 600) // one per 100ms
	ctx := context.Background()
	start := time.Now()
	for range 3 {
		r, err := l.acquire(ctx, "a.example")
		if err != nil {
			t.Fatal(err)
		}
		r()
	}
	// The rate is a floor on the time taken; no ceiling is checked, which
	// a loaded machine could break.
	if d := time.Since(start); d < 190*time.Millisecond {
		t.Errorf("3 transactions at 600/min took %v, want at least 200ms", d)
	}
	// Forgetting idle domains keeps the map bounded.
	for i := range maxIdleDomains + 10 {
		r, _ := (&limiter{conc: 1, domains: l.domains}).acquire(ctx, strings.Repeat("x", i%50)+string(rune('a'+i%26))+".example"+string(rune('0'+i/26%10))+string(rune('0'+i/260)))
		r()
	}
	if n := len(l.domains); n > maxIdleDomains {
		t.Errorf("%d domain states kept", n)
	}
}

// testCA makes a CA and a leaf for host signed by it.
func testCA(t *testing.T, host string, leafNotAfter time.Time) (ca, leaf *x509.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: leafNotAfter, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ = x509.ParseCertificate(leafDER)
	return ca, leaf
}

func tlsa(usage, selector, matching uint8, data []byte) dns.TLSA {
	return dns.TLSA{Usage: usage, Selector: selector, MatchingType: matching, Data: data}
}

func TestDANEVerify(t *testing.T) {
	now := time.Now()
	ca, leaf := testCA(t, "mx.example.net", now.Add(time.Hour))
	_, expired := testCA(t, "mx.example.net", now.Add(-time.Minute))
	sha := func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
	sha5 := func(b []byte) []byte { s := sha512.Sum512(b); return s[:] }
	chain := []*x509.Certificate{leaf, ca}
	names := []string{"mx.example.net", "example.net"}
	tests := []struct {
		name  string
		recs  []dns.TLSA
		chain []*x509.Certificate
		names []string
		ok    bool
	}{
		{"EE spki sha256", []dns.TLSA{tlsa(3, 1, 1, sha(leaf.RawSubjectPublicKeyInfo))}, chain, names, true},
		{"EE cert full", []dns.TLSA{tlsa(3, 0, 0, leaf.Raw)}, chain, names, true},
		{"EE cert sha512", []dns.TLSA{tlsa(3, 0, 2, sha5(leaf.Raw))}, chain, names, true},
		{"EE ignores names and expiry", []dns.TLSA{tlsa(3, 1, 1, sha(expired.RawSubjectPublicKeyInfo))}, []*x509.Certificate{expired}, []string{"other.example"}, true},
		{"EE mismatch", []dns.TLSA{tlsa(3, 1, 1, sha(ca.RawSubjectPublicKeyInfo))}, chain, names, false},
		{"TA spki", []dns.TLSA{tlsa(2, 1, 1, sha(ca.RawSubjectPublicKeyInfo))}, chain, names, true},
		{"TA checks the name", []dns.TLSA{tlsa(2, 1, 1, sha(ca.RawSubjectPublicKeyInfo))}, chain, []string{"other.example"}, false},
		{"TA not in chain", []dns.TLSA{tlsa(2, 1, 1, sha(ca.RawSubjectPublicKeyInfo))}, []*x509.Certificate{leaf}, names, false},
		{"TA matching the leaf itself", []dns.TLSA{tlsa(2, 0, 1, sha(leaf.Raw))}, []*x509.Certificate{leaf}, names, true},
		{"TA matching the leaf, other name", []dns.TLSA{tlsa(2, 0, 1, sha(leaf.Raw))}, []*x509.Certificate{leaf}, []string{"x.example"}, false},
		{"no records", nil, chain, names, false},
		{"no chain", []dns.TLSA{tlsa(3, 1, 1, sha(leaf.RawSubjectPublicKeyInfo))}, nil, names, false},
	}
	for _, tt := range tests {
		err := daneVerify(tt.recs, tt.chain, tt.names, now)
		if (err == nil) != tt.ok {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	if got := usableTLSA([]dns.TLSA{tlsa(0, 1, 1, []byte{1}), tlsa(1, 1, 1, []byte{1}), tlsa(2, 1, 1, []byte{1}), tlsa(3, 2, 1, []byte{1}), tlsa(3, 1, 3, []byte{1}), tlsa(3, 1, 1, nil), tlsa(3, 0, 0, []byte{2})}); len(got) != 2 {
		t.Errorf("usable records: %+v", got)
	}
}

func TestTLSStateSatisfies(t *testing.T) {
	dane := []dns.TLSA{tlsa(3, 1, 1, []byte{1})}
	tests := []struct {
		s    tlsState
		p    tlsPolicy
		want bool
	}{
		{tlsState{}, tlsPolicy{}, true},
		{tlsState{}, tlsPolicy{stsEnforce: true}, false},
		{tlsState{on: true}, tlsPolicy{stsEnforce: true}, false},
		{tlsState{on: true, pkixOK: true}, tlsPolicy{stsEnforce: true}, true},
		{tlsState{on: true, pkixOK: true}, tlsPolicy{dane: dane}, false},
		{tlsState{on: true, daneOK: true}, tlsPolicy{dane: dane}, true},
		{tlsState{}, tlsPolicy{daneUnusable: true}, false},
		{tlsState{on: true}, tlsPolicy{daneUnusable: true}, true},
		{tlsState{on: true}, tlsPolicy{requireTLS: true}, false},
		{tlsState{on: true, daneOK: true}, tlsPolicy{requireTLS: true}, true},
		{tlsState{on: true, pkixOK: true}, tlsPolicy{requireTLS: true}, true},
	}
	for _, tt := range tests {
		if got := tt.s.satisfies(tt.p); got != tt.want {
			t.Errorf("%+v satisfies %+v = %v", tt.s, tt.p, got)
		}
	}
}

func TestHasExtension(t *testing.T) {
	ehlo := "mx.example.net greets you\nPIPELINING\nSTARTTLS\nSIZE 1000"
	if !hasExtension(ehlo, "starttls") || !hasExtension(ehlo, "SIZE") || hasExtension(ehlo, "mx.example.net") || hasExtension("", "STARTTLS") {
		t.Error("hasExtension")
	}
}

func TestRcptOptions(t *testing.T) {
	tests := []struct {
		rc     store.QueueRcpt
		notify string
		orcpt  string
	}{
		{store.QueueRcpt{Notify: []string{"SUCCESS", "failure"}, ORcpt: "rfc822;bob@example.net"}, "SUCCESS,FAILURE", "RFC822;bob@example.net"},
		{store.QueueRcpt{Notify: []string{"NEVER"}, ORcpt: "RFC822;b\x01@x"}, "NEVER", ""},
		{store.QueueRcpt{Notify: []string{"NEVER", "SUCCESS"}}, "", ""},
		{store.QueueRcpt{Notify: []string{"BOGUS"}, ORcpt: "utf-8;bü@x"}, "", "UTF-8;bü@x"},
		{store.QueueRcpt{ORcpt: "x400;whatever"}, "", ""},
	}
	for _, tt := range tests {
		o := rcptOptions(&tt.rc)
		var n []string
		for _, v := range o.Notify {
			n = append(n, string(v))
		}
		orcpt := ""
		if o.OriginalRecipient != "" {
			orcpt = string(o.OriginalRecipientType) + ";" + o.OriginalRecipient
		}
		if strings.Join(n, ",") != tt.notify || orcpt != tt.orcpt {
			t.Errorf("rcptOptions(%+v) = %v %q", tt.rc, n, orcpt)
		}
	}
}

func TestDescribe(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	e := store.QueueEntry{
		ID: 7, AccountID: 3, From: "alice@example.org", Size: 1234, Created: now.Add(-90 * time.Minute),
		NextAttempt: now.Add(10 * time.Minute), Attempts: 2, RequireTLS: true, DSNRet: "HDRS",
		Recipients: []store.QueueRcpt{
			{Address: "bob@example.net", Status: "pending", Attempts: 2, LastReply: "mx said: 451 4.7.1 greylisted", Notify: []string{"FAILURE"}},
			{Address: "carol@example.com", Status: "delivered", Attempts: 1, LastReply: "mx said: 250 2.0.0 ok"},
		},
	}
	d := Describe(e, now)
	contains(t, "Describe", d, "Queue ID:     7", "From:         <alice@example.org>", "Attempts:     2",
		"Queued:       2026-01-02T13:30:00Z (1h30m ago)", "Options:      REQUIRETLS RET=HDRS",
		"Recipient:    <bob@example.net>\n  Status:     pending\n  Attempts:   2\n  Last reply: mx said: 451 4.7.1 greylisted\n  Notify:     FAILURE",
		"Recipient:    <carol@example.com>\n  Status:     delivered")
	l := List([]store.QueueEntry{e}, now)
	contains(t, "List", l, "ID ", "7 ", "1h30m", "1234", "10m", "<alice@example.org> -> bob@example.net\n")
	if strings.Contains(l, "carol") {
		t.Error("List shows a delivered recipient")
	}
	if List(nil, now) != "queue is empty\n" {
		t.Error("empty list")
	}
}

// FuzzParseReply reads arbitrary LastReply values: parsing is stable, so
// that what a DSN reports is what was recorded.
func FuzzParseReply(f *testing.F) {
	f.Add("mx.example.net said: 550 5.1.1 no such user")
	f.Add("451 4.4.1 cannot connect to mx: refused")
	f.Add("x said: 250")
	f.Add("said: said: 4")
	f.Fuzz(func(t *testing.T, s string) {
		r := parseReply(s)
		if r.code < 200 || r.code > 599 || !validStatus(r.status) || r.status[0] != byte('0'+r.code/100) {
			t.Fatalf("parseReply(%q) = %+v", s, r)
		}
		if again := parseReply(r.String()); again != r {
			t.Fatalf("parseReply(%q) = %+v, then %+v", s, r, again)
		}
	})
}
