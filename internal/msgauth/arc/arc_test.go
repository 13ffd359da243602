package arc

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"postel/internal/dkim"
	"postel/internal/dns"
	"postel/internal/dns/dnstest"
	"postel/internal/message"
)

// Two sealers: a mailing list whose key comes from internal/dkim (as
// Postel's own sealing key will), and a forwarder with a key made here.
// RSA keys are made once per test binary.
const (
	listDomain    = "lists.example.org"
	forwardDomain = "forward.example"
	forwardSel    = "arc2"
)

type testKeys struct {
	dir      string
	list     *Sealer
	listRecs []dkim.Record
	forward  *Sealer
	fwdRec   string // zone line
}

var keys = sync.OnceValues(func() (*testKeys, error) {
	dir, err := os.MkdirTemp("", "arctest")
	if err != nil {
		return nil, err
	}
	k := &testKeys{dir: dir}
	if k.listRecs, err = dkim.Generate(dir, listDomain); err != nil {
		return nil, err
	}
	signer, err := dkim.LoadSigner(dir)
	if err != nil {
		return nil, err
	}
	d, sel, key, ok := signer.RSAKey(listDomain)
	if !ok {
		return nil, errors.New("no RSA key for " + listDomain)
	}
	k.list = &Sealer{Domain: d, Selector: sel, Key: key}
	fkey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	k.forward = &Sealer{Domain: forwardDomain, Selector: forwardSel, Key: fkey}
	k.fwdRec = txtRecord(keyName(forwardSel, forwardDomain), "v=DKIM1; k=rsa; p="+publicKey(&fkey.PublicKey))
	return k, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if k, err := keys(); err == nil {
		os.RemoveAll(k.dir)
	}
	os.Exit(code)
}

// publicKey is the p= value of an RSA key (RFC 6376 §3.6.1).
func publicKey(pub *rsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

// txtRecord is a zone-file TXT record, split into character-strings of at
// most 255 octets.
func txtRecord(name, value string) string {
	var parts []string
	for value != "" {
		n := min(len(value), 200)
		parts = append(parts, `"`+value[:n]+`"`)
		value = value[n:]
	}
	return mdns.Fqdn(name) + " 300 IN TXT " + strings.Join(parts, " ")
}

// env is a test DNS server publishing both sealers' keys, and the options
// that query it through a dns.Client.
type env struct {
	*testKeys
	dns  *dnstest.Server
	opts Options
}

func newEnv(t *testing.T) *env {
	t.Helper()
	k, err := keys()
	if err != nil {
		t.Fatal(err)
	}
	srv := dnstest.New(t)
	for _, r := range k.listRecs {
		srv.Add(r.Zone())
	}
	srv.Add(k.fwdRec)
	client, err := dns.New(dns.Config{Servers: []string{srv.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return &env{testKeys: k, dns: srv, opts: Options{LookupTXT: client.LookupTXT}}
}

func (e *env) verify(t *testing.T, msg string) (Result, error) {
	t.Helper()
	return Verify(context.Background(), strings.NewReader(msg), e.opts)
}

// mustVerify verifies msg and checks its status.
func (e *env) mustVerify(t *testing.T, msg, status string) Result {
	t.Helper()
	res, err := e.verify(t, msg)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if res.Status != status {
		t.Fatalf("Verify = %+v, want status %s", res, status)
	}
	return res
}

// seal seals msg and returns it with the new set prepended.
func seal(t *testing.T, s *Sealer, msg string, chain Result, results string) string {
	t.Helper()
	set, err := s.Seal(strings.NewReader(msg), chain, s.Domain, results)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if set == nil {
		t.Fatal("Seal added no set")
	}
	return string(set) + msg
}

const baseMessage = "Received: from mail.example.com (mail.example.com [192.0.2.7])\r\n" +
	"\tby mx.lists.example.org; Mon, 2 Jan 2006 15:04:06 +0000\r\n" +
	"Authentication-Results: lists.example.org; spf=pass smtp.mailfrom=example.com\r\n" +
	"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s; h=from:subject;\r\n" +
	"\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\r\n" +
	"From: Alice <alice@example.com>\r\n" +
	"To: list@lists.example.org\r\n" +
	"Subject: hello\r\n" +
	"Date: Mon, 2 Jan 2006 15:04:05 +0000\r\n" +
	"Message-ID: <1@example.com>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Hello  list. \r\n" +
	"\r\n"

const listResults = "spf=pass smtp.mailfrom=example.com; dkim=pass header.d=example.com"

// listHop is baseMessage sealed by the list.
func listHop(t *testing.T, e *env) string {
	t.Helper()
	none := e.mustVerify(t, baseMessage, "none")
	return seal(t, e.list, baseMessage, none, listResults)
}

// forwardHop is what the forwarder sends on after the list: it changes the
// subject and the body (which breaks the list's AMS), adds its own
// Authentication-Results, and seals.
func forwardHop(t *testing.T, e *env, m1 string) string {
	t.Helper()
	chain := e.mustVerify(t, m1, "pass")
	m := strings.Replace(m1, "Subject: hello", "Subject: [fwd] hello", 1) + "-- \r\nforwarded\r\n"
	m = "Authentication-Results: forward.example; arc=pass\r\n" + m
	return seal(t, e.forward, m, chain, "arc=pass header.oldest-pass=0")
}

// arcFields returns the ARC fields of msg.
func arcFields(t *testing.T, msg string) []message.Field {
	t.Helper()
	hdr, err := message.ReadHeader(bufio.NewReader(strings.NewReader(msg)), MaxHeaderBytes)
	if err != nil {
		t.Fatal(err)
	}
	var out []message.Field
	for _, f := range message.Fields(hdr) {
		if arcName(f) != "" {
			out = append(out, f)
		}
	}
	return out
}

// field returns the raw ARC field of that name and instance in msg.
func field(t *testing.T, msg, name string, i int) string {
	t.Helper()
	for _, f := range arcFields(t, msg) {
		if n, _, _, err := instanceOf(f, arcName(f)); err == nil && n == i && f.Is(name) {
			return string(f.Raw)
		}
	}
	t.Fatalf("no %s i=%d in message", name, i)
	return ""
}

func TestNoChain(t *testing.T) {
	e := newEnv(t)
	res := e.mustVerify(t, baseMessage, "none")
	if res.Instances != 0 || res.Reason != "" || res.Sealers != nil || e.dns.Queries() != 0 {
		t.Errorf("Verify = %+v after %d queries", res, e.dns.Queries())
	}
}

func TestSealVerify(t *testing.T) {
	e := newEnv(t)
	m1 := listHop(t, e)
	res := e.mustVerify(t, m1, "pass")
	if res.Instances != 1 || len(res.Sealers) != 1 || res.Sealers[0] != listDomain ||
		res.OldestAuthResults != listDomain+"; "+listResults || res.Reason != "" {
		t.Errorf("Verify = %+v", res)
	}

	// The set: AS, AMS, AAR in that order, every line folded within 78
	// characters and ending in CRLF.
	set := m1[:len(m1)-len(baseMessage)]
	if !strings.HasPrefix(set, "ARC-Seal: i=1; a=rsa-sha256; t=") ||
		!strings.Contains(set, "\r\nARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed/relaxed;") ||
		!strings.Contains(set, "\r\nARC-Authentication-Results: i=1; lists.example.org; spf=pass") ||
		!strings.Contains(set, "cv=none;") || !strings.HasSuffix(set, "\r\n") {
		t.Errorf("set:\n%s", set)
	}
	for _, line := range strings.SplitAfter(strings.TrimSuffix(set, "\r\n"), "\r\n") {
		if len(strings.TrimSuffix(line, "\r\n")) > lineWidth || strings.ContainsAny(strings.TrimSuffix(line, "\r\n"), "\r\n") {
			t.Errorf("line %q", line)
		}
	}
	if fs := arcFields(t, m1); len(fs) != 3 || !fs[0].Is(fieldAS) || !fs[1].Is(fieldAMS) || !fs[2].Is(fieldAAR) {
		t.Errorf("fields %v", fs)
	}

	// h=: the fields present, From, Subject, Date, To and Cc over-signed
	// (as our DKIM signatures do), the DKIM-Signature, and neither
	// Received nor Authentication-Results.
	tags, err := parseTagList(fieldValue(message.Fields([]byte(field(t, m1, fieldAMS, 1)))[0]))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := tags.get("h")
	if want := "From:From:Subject:Subject:Date:Date:To:To:Cc:Message-ID:MIME-Version:Content-Type:DKIM-Signature"; removeFWS(h) != want {
		t.Errorf("h=%s, want %s", removeFWS(h), want)
	}
}

func TestSecondSet(t *testing.T) {
	e := newEnv(t)
	m1 := listHop(t, e)
	m2 := forwardHop(t, e, m1)
	res := e.mustVerify(t, m2, "pass")
	if res.Instances != 2 || strings.Join(res.Sealers, ",") != listDomain+","+forwardDomain ||
		res.OldestAuthResults != listDomain+"; "+listResults {
		t.Errorf("Verify = %+v", res)
	}
	if !strings.Contains(field(t, m2, fieldAS, 2), "cv=pass") {
		t.Error("second seal lacks cv=pass")
	}
	// The forwarder's changes without its seal break the list's AMS.
	unsealed := m2[strings.Index(m2, "Authentication-Results: forward.example"):]
	res = e.mustVerify(t, unsealed, "fail")
	if !strings.Contains(res.Reason, "ARC-Message-Signature i=1: body hash") || res.Instances != 1 || res.Sealers != nil {
		t.Errorf("Verify(unsealed) = %+v", res)
	}
}

func TestBrokenChains(t *testing.T) {
	e := newEnv(t)
	m2 := forwardHop(t, e, listHop(t, e))
	cut := func(m, s string) string {
		if !strings.Contains(m, s) {
			t.Fatalf("%q not in message", s)
		}
		return strings.Replace(m, s, "", 1)
	}
	aar1 := field(t, m2, fieldAAR, 1)
	tests := []struct {
		name, reason string
		msg          string
	}{
		{"body changed", "ARC-Message-Signature i=2: body hash does not match", m2 + "PS\r\n"},
		{"subject changed", "ARC-Message-Signature i=2: signature does not verify",
			strings.Replace(m2, "Subject: [fwd] hello", "Subject: [fwd] bye", 1)},
		{"From added", "ARC-Message-Signature i=2: signature does not verify",
			strings.Replace(m2, "To: ", "From: eve@example.net\r\nTo: ", 1)},
		{"AAR changed", "ARC-Seal i=2: signature does not verify",
			strings.Replace(m2, aar1, strings.Replace(aar1, "spf=pass", "spf=fail", 1), 1)},
		{"AMS 1 changed", "ARC-Seal i=2: signature does not verify",
			strings.Replace(m2, "ARC-Message-Signature: i=1;", "ARC-Message-Signature:  i=1 ;", 1)},
		{"set 1 removed", "ARC set i=1 missing",
			cut(cut(cut(m2, aar1), field(t, m2, fieldAMS, 1)), field(t, m2, fieldAS, 1))},
		{"AS 1 removed", "ARC set i=1 has no ARC-Seal", cut(m2, field(t, m2, fieldAS, 1))},
		{"AMS 2 removed", "ARC set i=2 has no ARC-Message-Signature", cut(m2, field(t, m2, fieldAMS, 2))},
		{"AAR 1 duplicated", "two ARC-Authentication-Results fields with i=1", aar1 + m2},
		{"AS 2 duplicated", "two ARC-Seal fields with i=2", field(t, m2, fieldAS, 2) + m2},
		{"instance 51", "ARC-Seal i=51: more than 50 ARC sets",
			strings.Replace(m2, "ARC-Seal: i=2;", "ARC-Seal: i=51;", 1)},
		{"instance 0", "ARC-Authentication-Results: no valid i= before \";\"",
			strings.Replace(m2, "ARC-Authentication-Results: i=1;", "ARC-Authentication-Results: i=0;", 1)},
		{"cv=none at i=2", "ARC-Seal i=2 has cv=none, want pass", strings.Replace(m2, "cv=pass", "cv=none", 1)},
		{"cv=fail at i=2", "ARC-Seal i=2 has cv=fail", strings.Replace(m2, "cv=pass", "cv=fail", 1)},
		{"cv=pass at i=1", "ARC-Seal i=1 has cv=pass, want none", strings.Replace(m2, "cv=none", "cv=pass", 1)},
		{"seal with h=", "ARC-Seal i=1: h= tag in an ARC-Seal", strings.Replace(m2, "cv=none;", "cv=none; h=from;", 1)},
		{"bad tag list", "ARC-Message-Signature: empty tag", strings.Replace(m2, "ARC-Message-Signature: i=1;", "ARC-Message-Signature: i=1;;", 1)},
	}
	for _, tt := range tests {
		res := e.mustVerify(t, tt.msg, "fail")
		if res.Reason != tt.reason || res.Sealers != nil || res.OldestAuthResults != "" {
			t.Errorf("%s: Verify = %+v, want reason %q", tt.name, res, tt.reason)
		}
	}
	// Unsigned fields and relaxed canonicalization tolerate harmless
	// changes: a new Received field, refolding, trailing blank lines.
	harmless := "Received: by mx.example.net; Mon, 2 Jan 2006 15:05:00 +0000\r\n" +
		strings.Replace(m2, "Subject: [fwd] hello", "SUBJECT:  [fwd]\r\n hello ", 1) + "\r\n\r\n"
	e.mustVerify(t, harmless, "pass")
}

func TestKeyProblems(t *testing.T) {
	e := newEnv(t)
	m2 := forwardHop(t, e, listHop(t, e))
	fwdKey := keyName(forwardSel, forwardDomain)

	// A key lookup that may pass is temporary...
	e.dns.SetRcode(fwdKey, mdns.RcodeServerFailure)
	res, err := e.verify(t, m2)
	if !errors.Is(err, ErrTemporary) || res.Status != "fail" || res.Instances != 2 {
		t.Errorf("SERVFAIL: %+v, %v", res, err)
	}
	// ...unless something else fails for good.
	res, err = e.verify(t, m2+"PS\r\n")
	if err != nil || res.Status != "fail" || !strings.Contains(res.Reason, "body hash") {
		t.Errorf("SERVFAIL and a broken body: %+v, %v", res, err)
	}
	e.dns.SetRcode(fwdKey, mdns.RcodeSuccess)

	for _, tt := range []struct {
		name, record, reason string
	}{
		{"revoked", "v=DKIM1; k=rsa; p=", "ARC-Message-Signature i=2: key " + fwdKey + ": key revoked"},
		{"ed25519", "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
			"ARC-Message-Signature i=2: key " + fwdKey + ": key type \"ed25519\", want rsa"},
		{"other key", "v=DKIM1; k=rsa; p=" + func() string {
			k, _ := keys()
			return publicKey(&k.list.Key.(*rsa.PrivateKey).PublicKey)
		}(), "ARC-Message-Signature i=2: signature does not verify"},
		{"missing", "", "ARC-Message-Signature i=2: no key record at " + fwdKey},
	} {
		e.dns.Remove(fwdKey, mdns.TypeNone)
		if tt.record != "" {
			e.dns.Add(txtRecord(fwdKey, tt.record))
		}
		res, err := e.verify(t, m2)
		if err != nil || res.Status != "fail" || res.Reason != tt.reason {
			t.Errorf("%s: Verify = %+v, %v; want reason %q", tt.name, res, err, tt.reason)
		}
	}
}

// A chain that failed is sealed with cv=fail, the seal covering only the
// new set; after that nobody seals it again.
func TestSealFailedChain(t *testing.T) {
	e := newEnv(t)
	m1 := listHop(t, e)
	broken := m1 + "PS: changed without a seal\r\n"
	chain := e.mustVerify(t, broken, "fail")
	m2 := seal(t, e.forward, broken, chain, "arc=fail")
	as2 := field(t, m2, fieldAS, 2)
	if !strings.Contains(as2, "cv=fail") {
		t.Fatalf("seal %q", as2)
	}
	res := e.mustVerify(t, m2, "fail")
	if res.Reason != "ARC-Seal i=2 has cv=fail" || res.Instances != 2 {
		t.Errorf("Verify = %+v", res)
	}
	// RFC 8617 §5.1.2: the seal signs the new set as if it were alone.
	set := arcSet{aar: []byte(field(t, m2, fieldAAR, 2)), ams: []byte(field(t, m2, fieldAMS, 2)), as: []byte(as2)}
	digests, err := sealDigests([]arcSet{set})
	if err != nil {
		t.Fatal(err)
	}
	tags, err := parseTagList(fieldValue(message.Fields([]byte(as2))[0]))
	if err != nil {
		t.Fatal(err)
	}
	as, err := parseAS(tags)
	if err != nil {
		t.Fatal(err)
	}
	pub := &e.forward.Key.(*rsa.PrivateKey).PublicKey
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digests[0], as.sig); err != nil {
		t.Errorf("cv=fail seal does not sign its set alone: %v", err)
	}
	// §5.1 step 2: a chain whose newest seal says fail gets no new set.
	if set, err := e.list.Seal(strings.NewReader(m2), res, listDomain, "arc=fail"); set != nil || err != nil {
		t.Errorf("Seal after cv=fail = %q, %v", set, err)
	}
}

// A chain may have 50 sets, not 51 (RFC 8617 §4.2.1); MaxSets lowers the
// bound.
func TestFiftySets(t *testing.T) {
	e := newEnv(t)
	m := baseMessage
	chain := e.mustVerify(t, m, "none")
	for i := 1; i <= 50; i++ {
		s := e.list
		if i%2 == 0 {
			s = e.forward
		}
		m = seal(t, s, m, chain, fmt.Sprintf("arc=%s", chain.Status))
		chain = e.mustVerify(t, m, "pass")
		if chain.Instances != i || len(chain.Sealers) != i {
			t.Fatalf("after %d seals: %+v", i, chain)
		}
	}
	if set, err := e.list.Seal(strings.NewReader(m), chain, listDomain, "arc=pass"); set != nil || err != nil {
		t.Errorf("Seal of set 51 = %q, %v", set, err)
	}
	opts := e.opts
	opts.MaxSets = 10
	res, err := Verify(context.Background(), strings.NewReader(m), opts)
	if err != nil || res.Status != "fail" || !strings.Contains(res.Reason, "more than 10 ARC sets") || res.Instances != 50 {
		t.Errorf("MaxSets 10: %+v, %v", res, err)
	}
}

func TestSealErrors(t *testing.T) {
	e := newEnv(t)
	m1 := listHop(t, e)
	pass := e.mustVerify(t, m1, "pass")
	none := Result{Status: "none"}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	good := *e.list
	with := func(f func(s *Sealer)) *Sealer {
		s := good
		f(&s)
		return &s
	}
	tests := []struct {
		name       string
		s          *Sealer
		msg        string
		chain      Result
		id, result string
	}{
		{"Ed25519 key", with(func(s *Sealer) { s.Key = edKey }), baseMessage, none, "x.example", ""},
		{"no key", with(func(s *Sealer) { s.Key = nil }), baseMessage, none, "x.example", ""},
		{"bad domain", with(func(s *Sealer) { s.Domain = "not a domain" }), baseMessage, none, "x.example", ""},
		{"bare domain", with(func(s *Sealer) { s.Domain = "org" }), baseMessage, none, "x.example", ""},
		{"bad selector", with(func(s *Sealer) { s.Selector = "a;b" }), baseMessage, none, "x.example", ""},
		{"bad authserv-id", &good, baseMessage, none, "x example", ""},
		{"empty authserv-id", &good, baseMessage, none, "", ""},
		{"line break in results", &good, baseMessage, none, "x.example", "spf=pass\r\nX-Evil: 1"},
		{"bad status", &good, baseMessage, Result{Status: "temperror"}, "x.example", ""},
		{"none on a chain", &good, m1, none, "x.example", ""},
		{"pass without chain", &good, baseMessage, Result{Status: "pass"}, "x.example", ""},
		{"wrong count", &good, m1, Result{Status: "pass", Instances: 2}, "x.example", ""},
		{"header too large", &good, "X: " + strings.Repeat("y", MaxHeaderBytes) + "\r\n\r\n", none, "x.example", ""},
	}
	for _, tt := range tests {
		if set, err := tt.s.Seal(strings.NewReader(tt.msg), tt.chain, tt.id, tt.result); err == nil {
			t.Errorf("%s: Seal succeeded: %s", tt.name, set)
		}
	}
	// Empty results become "none" (RFC 8601 §2.2); the seal still works.
	set, err := good.Seal(strings.NewReader(m1), pass, "x.example", " ; ")
	if err != nil || !strings.Contains(string(set), "ARC-Authentication-Results: i=2; x.example; none\r\n") {
		t.Errorf("Seal with no results = %q, %v", set, err)
	}
	e.mustVerify(t, string(set)+m1, "pass")
	// A long result is folded, not cut.
	long := strings.Repeat("dkim=pass header.d=example.com; ", 10)
	set, err = good.Seal(strings.NewReader(m1), pass, "x.example", long)
	if err != nil {
		t.Fatal(err)
	}
	res := e.mustVerify(t, string(set)+m1, "pass")
	aar := field(t, string(set)+m1, fieldAAR, 2)
	if _, payload, _ := aarInstance(aar[strings.IndexByte(aar, ':')+1:]); unfold(payload) != "x.example; "+strings.TrimSpace(long) {
		t.Errorf("AAR %q (%+v)", aar, res)
	}
}

func TestVerifyErrors(t *testing.T) {
	e := newEnv(t)
	if _, err := e.verify(t, "X: "+strings.Repeat("y", MaxHeaderBytes)+"\r\n\r\n"); !errors.Is(err, message.ErrHeaderTooLarge) {
		t.Errorf("oversized header: %v", err)
	}
	m1 := listHop(t, e)
	if _, err := Verify(context.Background(), strings.NewReader(m1), Options{}); err == nil {
		t.Error("Verify without LookupTXT succeeded")
	}
	// A cancelled context is no definite answer.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Verify(ctx, strings.NewReader(m1), e.opts)
	if !errors.Is(err, ErrTemporary) || res.Status != "fail" {
		t.Errorf("cancelled: %+v, %v", res, err)
	}
}
