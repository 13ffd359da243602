package msgauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"
	msgdkim "github.com/emersion/go-msgauth/dkim"

	"postel/internal/dns"
	"postel/internal/dns/dnstest"
	"postel/internal/message"
)

// The SMTP client of most tests: its PTR and HELO name confirm.
const (
	clientIP   = "192.0.2.10"
	clientHELO = "mail.sender.example"
	authservID = "mx.postel.example"
)

// testKeys are made once per test binary (RSA generation is slow).
type testKeys struct {
	ed, edOther ed25519.PrivateKey
	rsa         *rsa.PrivateKey
	short       []byte // DER of a 512-bit RSA public key (no private key: Go refuses to make one)
}

var keys = sync.OnceValue(func() *testKeys {
	k := &testKeys{}
	var err error
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	if _, k.edOther, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 1024); err != nil {
		panic(err)
	}
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 511))
	if err != nil {
		panic(err)
	}
	n.SetBit(n, 511, 1).SetBit(n, 0, 1) // 512 bits, odd
	if k.short, err = x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: n, E: 65537}); err != nil {
		panic(err)
	}
	return k
})

// txt returns a TXT record in zone syntax, its text split into
// character-strings of at most 255 octets.
func txt(name, text string) string {
	var parts []string
	for len(text) > 255 {
		parts = append(parts, `"`+text[:255]+`"`)
		text = text[255:]
	}
	parts = append(parts, `"`+text+`"`)
	return name + " 300 IN TXT " + strings.Join(parts, " ")
}

func edRecord(k ed25519.PrivateKey) string {
	return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
}

func rsaRecord(der []byte) string {
	return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
}

// baseZone is what the test DNS server serves.
func baseZone() []string {
	k := keys()
	rsaDER, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	if err != nil {
		panic(err)
	}
	z := []string{
		// The client.
		"10.2.0.192.in-addr.arpa. 300 IN PTR mail.sender.example.",
		"mail.sender.example. 300 IN A 192.0.2.10",
		txt("mail.sender.example.", "v=spf1 ip4:192.0.2.10 -all"),
		// A client whose PTR name does not lead back, one without PTR.
		"11.2.0.192.in-addr.arpa. 300 IN PTR liar.example.",
		"liar.example. 300 IN A 198.51.100.1",

		// SPF results.
		txt("pass.example.", "v=spf1 ip4:192.0.2.0/24 -all"),
		txt("fail.example.", "v=spf1 ip4:198.51.100.0/24 -all"),
		txt("softfail.example.", "v=spf1 ~all"),
		txt("neutral.example.", "v=spf1 ?all"),
		"nospf.example. 300 IN A 192.0.2.99",
		txt("nospf.example.", "some other text"),
		txt("void2.example.", "v=spf1 a:nx1.void2.example a:nx2.void2.example -all"),
		txt("void3.example.", "v=spf1 a:nx1.void3.example a:nx2.void3.example a:nx3.void3.example -all"),

		// DMARC policies.
		txt("_dmarc.reject.example.", "v=DMARC1; p=reject"),
		txt("reject.example.", "v=spf1 ip4:198.51.100.0/24 -all"),
		txt("_dmarc.quarantine.example.", "v=DMARC1; p=quarantine"),
		txt("_dmarc.pnone.example.", "v=DMARC1; p=none"),
		txt("_dmarc.pct0.example.", "v=DMARC1; p=reject; pct=0"),
		txt("_dmarc.pct50.example.", "v=DMARC1; p=reject; pct=50"),
		txt("_dmarc.org.example.", "v=DMARC1; p=none; sp=reject"),
		txt("_dmarc.own.org.example.", "v=DMARC1; p=none"),
		txt("_dmarc.relaxed.example.", "v=DMARC1; p=reject"),
		txt("bounce.relaxed.example.", "v=spf1 ip4:192.0.2.10 -all"),
		txt("_dmarc.strict.example.", "v=DMARC1; p=reject; aspf=s; adkim=s"),
		txt("bounce.strict.example.", "v=spf1 ip4:192.0.2.10 -all"),
		txt("_dmarc.twice.example.", "v=DMARC1; p=reject"),
		txt("_dmarc.twice.example.", "v=DMARC1; p=none"),
		txt("_dmarc.notdmarc.example.", "v=spf1 -all"),
		txt("_dmarc.notdmarc.example.", "v=DMARC10; p=reject"),
		txt("_dmarc.broken.example.", "v=DMARC1; p=bogus"),
		txt("_dmarc.brokenrua.example.", "v=DMARC1; p=bogus; rua=mailto:reports@brokenrua.example"),
		txt("_dmarc.lenient.example.", "v=DMARC1; P=Reject; pct=200; fo=9"),
		txt("_dmarc.dtemp.example.", "v=DMARC1; p=reject"),
		txt("_dmarc.ours.example.", "v=DMARC1; p=none"),
		txt("_dmarc.dkim.example.", "v=DMARC1; p=reject"),

		// DKIM keys.
		txt("ed._domainkey.dkim.example.", edRecord(k.ed)),
		txt("wrong._domainkey.dkim.example.", edRecord(k.edOther)),
		txt("revoked._domainkey.dkim.example.", "v=DKIM1; k=ed25519; p="),
		txt("rsa._domainkey.dkim.example.", rsaRecord(rsaDER)),
		txt("short._domainkey.dkim.example.", rsaRecord(k.short)),
		txt("temp._domainkey.dkim.example.", edRecord(k.ed)),
		txt("ed._domainkey.mail.strict.example.", edRecord(k.ed)),
		txt("ed._domainkey.mail.relaxed.example.", edRecord(k.ed)),
		txt("ed._domainkey.reject.example.", edRecord(k.ed)),
		txt("ed._domainkey.ours.example.", edRecord(k.ed)),
		txt("ed._domainkey.other.example.", edRecord(k.ed)),

		// DNS lists: the client is listed by two, allowed by one.
		"10.2.0.192.bl.example. 300 IN A 127.0.0.2",
		"10.2.0.192.junk.example. 300 IN A 127.0.0.4",
		"10.2.0.192.wl.example. 300 IN A 127.0.10.1",
		"10.2.0.192.refusing.example. 300 IN A 127.255.255.254",
		"2.0.0.127.bl.example. 300 IN A 127.0.0.2",
	}
	// SPF lookup limit: 10 includes are allowed, 11 are not.
	for _, n := range []int{10, 11} {
		var terms []string
		for i := 1; i <= n; i++ {
			inc := fmt.Sprintf("i%d.inc%d.example", i, n)
			terms = append(terms, "include:"+inc)
			z = append(z, txt(inc+".", "v=spf1 ip4:203.0.113.0/24 -all"))
		}
		z = append(z, txt(fmt.Sprintf("inc%d.example.", n), "v=spf1 "+strings.Join(terms, " ")+" ip4:192.0.2.10 -all"))
	}
	return z
}

// env is a test DNS server with the base zone and a Checker using it.
type env struct {
	srv *dnstest.Server
	c   *Checker
}

func newEnv(t testing.TB, configure func(*Config)) *env {
	t.Helper()
	srv := dnstest.New(t)
	srv.Add(baseZone()...)
	res, err := dns.New(dns.Config{Servers: []string{srv.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{AuthServID: authservID, Resolver: res}
	if configure != nil {
		configure(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, c: c}
}

// check runs both checks for a message from the test client.
func (e *env) check(t testing.TB, mailFrom, msg string) *Result {
	t.Helper()
	ctx := context.Background()
	cl := e.c.CheckClient(ctx, netip.MustParseAddr(clientIP), clientHELO)
	return e.c.CheckMessage(ctx, cl, mailFrom, strings.NewReader(msg))
}

// plain returns an unsigned message from the given From field value.
func plain(from string) string {
	return "From: " + from + "\r\n" +
		"To: bob@postel.example\r\n" +
		"Subject: test\r\n" +
		"Date: Mon, 2 Jan 2006 15:04:05 +0000\r\n" +
		"Message-ID: <1@test.example>\r\n" +
		"\r\n" +
		"Hello.\r\n"
}

// sign prepends a DKIM signature by domain/selector with key.
func sign(t testing.TB, msg, domain, selector string, key crypto.Signer) string {
	t.Helper()
	var b bytes.Buffer
	err := msgdkim.Sign(&b, strings.NewReader(msg), &msgdkim.SignOptions{
		Domain: domain, Selector: selector, Signer: key,
		HeaderCanonicalization: msgdkim.CanonicalizationRelaxed,
		BodyCanonicalization:   msgdkim.CanonicalizationRelaxed,
		HeaderKeys:             []string{"From", "To", "Subject", "Date", "Message-ID"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// parsed is a produced Authentication-Results field read back: by
// go-msgauth's authres.Parse, and by ours for what authres does not keep
// (properties other than the few it knows, reasons with spaces, comments).
type parsed struct {
	id      string
	results []authres.Result
	ours    []authResult
}

// parseHeader reads r.Header() back, checking its form on the way.
func parseHeader(t testing.TB, r *Result) parsed {
	t.Helper()
	h := r.Header()
	if !bytes.HasSuffix(h, []byte("\r\n")) {
		t.Fatalf("header does not end with CRLF: %q", h)
	}
	for i, line := range strings.Split(strings.TrimSuffix(string(h), "\r\n"), "\r\n") {
		if i > 0 && line[0] != '\t' {
			t.Errorf("line %d does not start with a tab: %q", i, line)
		}
		// Only a line with a space inside could have been folded.
		if len(line) >= 78 && strings.Contains(strings.TrimLeft(line, "\t "), " ") && !strings.Contains(line, `"`) {
			t.Errorf("line %d is %d characters: %q", i, len(line), line)
		}
		if strings.ContainsAny(line, "\r\n\x00") {
			t.Errorf("line %d holds a control character: %q", i, line)
		}
	}
	fields := message.Fields(append(h, "\r\n"...))
	if len(fields) != 1 || !fields[0].Is("Authentication-Results") {
		t.Fatalf("header %q is not one Authentication-Results field", h)
	}
	v := fields[0].Value()
	var p parsed
	var err error
	if p.id, p.results, err = authres.Parse(v); err != nil {
		t.Fatalf("authres.Parse(%q): %v", v, err)
	}
	id, ours, err := parseAuthResults(v)
	if err != nil {
		t.Fatalf("parseAuthResults(%q): %v", v, err)
	}
	p.ours = ours
	if id != p.id || id != authservID {
		t.Errorf("authserv-id %q (authres %q), want %q", id, p.id, authservID)
	}
	if len(ours) != len(p.results) {
		t.Errorf("%d results, authres found %d, in %q", len(ours), len(p.results), v)
	}
	// The same results, folding aside.
	if a, b := strings.Fields(r.AuthResults()), strings.Fields(v[strings.IndexByte(v, ';')+1:]); !slices.Equal(a, b) {
		t.Errorf("AuthResults %q differs from the header %q", r.AuthResults(), v)
	}
	return p
}

func (p parsed) spf(t testing.TB) *authres.SPFResult {
	t.Helper()
	for _, r := range p.results {
		if s, ok := r.(*authres.SPFResult); ok {
			return s
		}
	}
	t.Fatal("no spf result")
	return nil
}

func (p parsed) dkim() []*authres.DKIMResult {
	var out []*authres.DKIMResult
	for _, r := range p.results {
		if d, ok := r.(*authres.DKIMResult); ok {
			out = append(out, d)
		}
	}
	return out
}

func (p parsed) dmarc(t testing.TB) *authres.DMARCResult {
	t.Helper()
	for _, r := range p.results {
		if d, ok := r.(*authres.DMARCResult); ok {
			return d
		}
	}
	t.Fatal("no dmarc result")
	return nil
}

func (p parsed) iprev(t testing.TB) *authres.IPRevResult {
	t.Helper()
	for _, r := range p.results {
		if d, ok := r.(*authres.IPRevResult); ok {
			return d
		}
	}
	t.Fatal("no iprev result")
	return nil
}

func (p parsed) arc(t testing.TB) *authres.ARCResult {
	t.Helper()
	for _, r := range p.results {
		if d, ok := r.(*authres.ARCResult); ok {
			return d
		}
	}
	t.Fatal("no arc result")
	return nil
}

// own returns our parser's results of method.
func (p parsed) own(method string) []authResult {
	var out []authResult
	for _, r := range p.ours {
		if r.Method == method {
			out = append(out, r)
		}
	}
	return out
}

// comments returns every comment of the field, joined.
func (p parsed) comments() string {
	var all []string
	for _, r := range p.ours {
		all = append(all, r.Comments...)
	}
	return strings.Join(all, " | ")
}

// wantVerdict checks the action and, for Reject and TempFail, the reply.
func wantVerdict(t testing.TB, r *Result, action Action, code int, reasonPart string) {
	t.Helper()
	v := r.Verdict
	if v.Action != action {
		t.Errorf("verdict %v (%q), want %v", v.Action, v.Reason, action)
		return
	}
	if v.Code != code {
		t.Errorf("verdict code %d %v, want %d", v.Code, v.Enhanced, code)
	}
	if !strings.Contains(v.Reason, reasonPart) {
		t.Errorf("verdict reason %q lacks %q", v.Reason, reasonPart)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
