package smtpserver

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"
	mdns "github.com/miekg/dns"

	"postel/internal/dkim"
	"postel/internal/dns"
	"postel/internal/dns/dnstest"
	"postel/internal/junk"
	"postel/internal/message"
	"postel/internal/msgauth"
	"postel/internal/msgauth/arc"
	"postel/internal/srs"
	"postel/internal/testutil"
)

// sealKeys are example.org's DKIM keys, made once per test binary (RSA
// generation is slow): ARC seals with the RSA one.
var sealKeys = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "smtpserver-dkim")
	if err != nil {
		return "", err
	}
	_, err = dkim.Generate(dir, "example.org")
	return dir, err
})

// inboundEnv is an MX with every inbound check on, asking a test DNS
// server that publishes the test domains' records. Clients come from
// 127.0.0.1, which good.example's SPF authorizes.
type inboundEnv struct {
	*harness
	dns    *dnstest.Server
	res    *dns.Client
	filter *junk.Filter
	srs    *srs.SRS
}

// lateJunk lets the harness's Config name the junk filter made once the
// harness's store exists.
type lateJunk struct{ f **junk.Filter }

func (l lateJunk) Decide(ctx context.Context, id int64, s junk.Signals) (junk.Decision, error) {
	return (*l.f).Decide(ctx, id, s)
}

func newInboundEnv(t testing.TB, trusted ...string) *inboundEnv {
	t.Helper()
	keyDir, err := sealKeys()
	if err != nil {
		t.Fatal(err)
	}
	srv := dnstest.New(t)
	srv.Add(
		"1.0.0.127.in-addr.arpa. 300 IN PTR mail.good.example.",
		"mail.good.example. 300 IN A 127.0.0.1",
		`good.example. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"`,
		`_dmarc.good.example. 300 IN TXT "v=DMARC1; p=reject"`,
		`reject.example. 300 IN TXT "v=spf1 -all"`,
		`_dmarc.reject.example. 300 IN TXT "v=DMARC1; p=reject"`,
		`quarantine.example. 300 IN TXT "v=spf1 -all"`,
		`_dmarc.quarantine.example. 300 IN TXT "v=DMARC1; p=quarantine"`,
		`example.org. 300 IN TXT "v=spf1 -all"`,
		`_dmarc.tempfail.example. 300 IN TXT "v=DMARC1; p=reject"`,
	)
	srv.SetRcode("tempfail.example", mdns.RcodeServerFailure)
	srv.SetRcode("_dmarc.tempfail.example", mdns.RcodeServerFailure)
	recs, err := dkim.Records(keyDir, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		srv.Add(fmt.Sprintf("%s 300 IN TXT %q", r.Name, r.Value))
	}
	res, err := dns.New(dns.Config{Servers: []string{srv.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := dkim.LoadSigner(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := srs.New([][]byte{[]byte("0123456789abcdef0123456789abcdef")}, 0)
	if err != nil {
		t.Fatal(err)
	}
	e := &inboundEnv{dns: srv, res: res, srs: s}
	var hasDomain func(context.Context, string) (bool, error)
	chk, err := msgauth.New(msgauth.Config{
		AuthServID:    "mx.example.org",
		Resolver:      res,
		IsLocalDomain: func(ctx context.Context, d string) (bool, error) { return hasDomain(ctx, d) },
	})
	if err != nil {
		t.Fatal(err)
	}
	var nets []netip.Prefix
	for _, n := range trusted {
		nets = append(nets, netip.MustParsePrefix(n))
	}
	logs := &testutil.SyncBuffer{}
	e.harness = newHarnessSRS(t, logs, s, func(c *Config) {
		c.Inbound = Inbound{
			Checker: chk,
			Trusted: nets,
			Junk:    lateJunk{&e.filter},
			Sealer: func(domain string) *arc.Sealer {
				d, sel, key, ok := signer.RSAKey(domain)
				if !ok {
					return nil
				}
				return &arc.Sealer{Domain: d, Selector: sel, Key: key}
			},
		}
	})
	e.logs = logs
	hasDomain = e.st.HasDomain
	e.filter = junk.New(e.st)
	return e
}

// send runs one MX transaction and returns the reply to the data.
func (e *inboundEnv) send(t *testing.T, from string, rcpts []string, msg string) (int, string) {
	t.Helper()
	c := dialRaw(t, e.mxAddr)
	c.cmd(250, "EHLO mail.good.example")
	c.cmd(250, "MAIL FROM:<%s>", from)
	for _, r := range rcpts {
		c.cmd(250, "RCPT TO:<%s>", r)
	}
	c.cmd(354, "DATA")
	c.send(msg + ".\r\n")
	code, text, _ := c.reply()
	return code, text
}

// mailbox returns the stored bytes of the messages in one of addr's
// mailboxes.
func (e *inboundEnv) mailbox(t *testing.T, addr, name string) [][]byte {
	t.Helper()
	ctx := context.Background()
	a := e.account(addr)
	mb, err := e.st.Mailbox(ctx, a.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := e.st.Messages(ctx, a.ID, mb.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs {
		r, err := e.st.OpenMessage(ctx, a.ID, mb.ID, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// fields returns the header fields of a stored message.
func fields(t *testing.T, msg []byte) []message.Field {
	t.Helper()
	hdr, err := message.ReadHeader(bufio.NewReader(bytes.NewReader(msg)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return message.Fields(hdr)
}

// values returns the values of the fields named name.
func values(fs []message.Field, name string) []string {
	var out []string
	for _, f := range fs {
		if f.Is(name) {
			out = append(out, f.Value())
		}
	}
	return out
}

// ourResults parses the one Authentication-Results field of ours with
// go-msgauth's authres (not by string matching) and returns its results
// by method.
func ourResults(t *testing.T, msg []byte) map[string]authres.Result {
	t.Helper()
	out := map[string]authres.Result{}
	n := 0
	for _, v := range values(fields(t, msg), "Authentication-Results") {
		id, results, err := authres.Parse(v)
		if err != nil {
			t.Fatalf("authres.Parse(%q): %v", v, err)
		}
		if id != "mx.example.org" {
			continue
		}
		n++
		for _, r := range results {
			switch r := r.(type) {
			case *authres.SPFResult:
				out["spf"] = r
			case *authres.DKIMResult:
				out["dkim"] = r
			case *authres.DMARCResult:
				out["dmarc"] = r
			case *authres.ARCResult:
				out["arc"] = r
			case *authres.IPRevResult:
				out["iprev"] = r
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d Authentication-Results fields of ours in %q", n, msg)
	}
	return out
}

func msgFrom(from string) string {
	return "From: " + from + "\r\nTo: bob@example.org\r\nSubject: checked\r\n" +
		"Message-ID: <" + strings.ReplaceAll(from, "@", ".") + "@test>\r\n\r\nHello.\r\n"
}

// TestInboundChecks: on port 25, what the checks decide happens to the
// message, and what they saw is in the one Authentication-Results field.
func TestInboundChecks(t *testing.T) {
	e := newInboundEnv(t)
	t.Run("pass", func(t *testing.T) {
		if code, text := e.send(t, "a@good.example", []string{"bob@example.org"}, msgFrom("a@good.example")); code != 250 {
			t.Fatalf("%d %s", code, text)
		}
		msgs := e.inbox("bob@example.org")
		if len(msgs) != 1 {
			t.Fatalf("bob has %d messages", len(msgs))
		}
		r := ourResults(t, msgs[0])
		if spf := r["spf"].(*authres.SPFResult); spf.Value != authres.ResultPass || spf.From != "good.example" {
			t.Errorf("spf = %+v", spf)
		}
		if dm := r["dmarc"].(*authres.DMARCResult); dm.Value != authres.ResultPass || dm.From != "good.example" {
			t.Errorf("dmarc = %+v", dm)
		}
		if ip := r["iprev"].(*authres.IPRevResult); ip.Value != authres.ResultPass {
			t.Errorf("iprev = %+v", ip)
		}
		if fs := fields(t, msgs[0]); !fs[0].Is("Return-Path") || !fs[1].Is("Authentication-Results") || !fs[2].Is("Received") {
			t.Errorf("trace fields in the wrong order: %s, %s, %s", fs[0].Name, fs[1].Name, fs[2].Name)
		}
	})
	for _, tc := range []struct {
		name, mailFrom, from string
		code                 int
		text                 string
	}{
		{"DMARC reject", "a@reject.example", "a@reject.example", 550, "5.7.1 rejected by the DMARC policy of reject.example"},
		{"spoofed local sender", "ceo@remote.net", "Boss <alice@example.org>", 550, "5.7.1 spoofed sender: example.org is local"},
		{"DNS failure", "a@tempfail.example", "a@tempfail.example", 451, "4.7.0 temporary failure"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.inbox("bob@example.org"))
			code, text := e.send(t, tc.mailFrom, []string{"bob@example.org"}, msgFrom(tc.from))
			if code != tc.code || !strings.HasPrefix(text, tc.text) {
				t.Errorf("reply %d %s; want %d %s", code, text, tc.code, tc.text)
			}
			if n := len(e.inbox("bob@example.org")); n != before {
				t.Errorf("stored anyway: %d messages", n)
			}
		})
	}
}

// TestInboundQuarantine: p=quarantine files the message into the Junk of
// each recipient with its reason in X-Postel-Junk; once the user took one
// out of Junk (trained ham), the next one from that sender goes to the
// INBOX, its header saying why.
func TestInboundQuarantine(t *testing.T) {
	e := newInboundEnv(t)
	msg := msgFrom("news@quarantine.example")
	if code, text := e.send(t, "news@quarantine.example", []string{"bob@example.org", "alice@example.org"}, msg); code != 250 {
		t.Fatalf("%d %s", code, text)
	}
	for _, who := range []string{"bob@example.org", "alice@example.org"} {
		junked := e.mailbox(t, who, "Junk")
		if len(junked) != 1 || len(e.inbox(who)) != 0 {
			t.Fatalf("%s: %d in Junk, %d in INBOX", who, len(junked), len(e.inbox(who)))
		}
		fs := fields(t, junked[0])
		if v := values(fs, "X-Postel-Junk"); len(v) != 1 || v[0] != "yes; quarantined by the DMARC policy of quarantine.example" {
			t.Errorf("%s: X-Postel-Junk %q", who, v)
		}
		if !fs[1].Is("X-Postel-Junk") {
			t.Errorf("X-Postel-Junk is not right below Return-Path: %s", fs[1].Name)
		}
		if !bytes.HasSuffix(junked[0], []byte(msg)) {
			t.Errorf("the body was changed: %q", junked[0])
		}
	}
	// Bob moves it out of Junk (the IMAP server trains the filter so).
	if err := e.filter.Train(context.Background(), e.bob.ID, "news@quarantine.example", false); err != nil {
		t.Fatal(err)
	}
	if code, text := e.send(t, "news@quarantine.example", []string{"bob@example.org", "alice@example.org"}, msg); code != 250 {
		t.Fatalf("%d %s", code, text)
	}
	inbox := e.inbox("bob@example.org")
	if len(inbox) != 1 || len(e.mailbox(t, "bob@example.org", "Junk")) != 1 {
		t.Fatalf("bob: %d in INBOX", len(inbox))
	}
	if v := values(fields(t, inbox[0]), "X-Postel-Junk"); len(v) != 1 || !strings.HasPrefix(v[0], "no; you moved 1 earlier message from news@quarantine.example out of Junk") {
		t.Errorf("X-Postel-Junk %q", v)
	}
	// Alice trained nothing: hers is in Junk again.
	if n := len(e.mailbox(t, "alice@example.org", "Junk")); n != 2 {
		t.Errorf("alice has %d in Junk; want 2", n)
	}
}

// TestInboundStripsForged: Authentication-Results and ARC fields in our
// name, and X-Postel-Junk, are removed before the message is stored (RFC
// 8601 §5); others' fields and the rest of the message stay as sent.
func TestInboundStripsForged(t *testing.T) {
	e := newInboundEnv(t)
	forged := "Authentication-Results: mx.example.org; dkim=pass header.d=bank.example; dmarc=pass\r\n" +
		"Authentication-Results: MX.Example.ORG (comment);\r\n\tspf=pass smtp.mailfrom=a@bank.example\r\n" +
		"ARC-Authentication-Results: i=1; mx.example.org; dmarc=pass\r\n" +
		"X-Postel-Junk: no; you allowed everything\r\n"
	kept := "Authentication-Results: relay.other.example; spf=pass smtp.mailfrom=a@good.example\r\n"
	msg := forged + kept + msgFrom("a@good.example")
	if code, text := e.send(t, "a@good.example", []string{"bob@example.org"}, msg); code != 250 {
		t.Fatalf("%d %s", code, text)
	}
	stored := e.inbox("bob@example.org")[0]
	if !bytes.HasSuffix(stored, []byte(kept+msgFrom("a@good.example"))) {
		t.Errorf("stored %q", stored)
	}
	for _, f := range strings.Split(strings.TrimSuffix(forged, "\r\n"), "\r\n") {
		if strings.HasPrefix(f, "\t") {
			continue
		}
		if bytes.Contains(stored, []byte(f)) {
			t.Errorf("still there: %q", f)
		}
	}
	r := ourResults(t, stored) // exactly one of ours, and ours says what we saw
	if dk := r["dkim"].(*authres.DKIMResult); dk.Value != authres.ResultNone {
		t.Errorf("a dkim result we did not find: %+v", dk)
	}
}

// TestInboundTrusted: mail from a trusted network is not checked, and its
// Authentication-Results says so.
func TestInboundTrusted(t *testing.T) {
	e := newInboundEnv(t, "127.0.0.0/8")
	if code, text := e.send(t, "ceo@remote.net", []string{"bob@example.org"}, msgFrom("alice@example.org")); code != 250 {
		t.Fatalf("%d %s", code, text)
	}
	v := values(fields(t, e.inbox("bob@example.org")[0]), "Authentication-Results")
	if len(v) != 1 || !strings.HasPrefix(v[0], "mx.example.org; none") {
		t.Errorf("Authentication-Results %q", v)
	}
}

// TestInboundForward: mail an alias forwards to a remote address is queued
// with an SRS envelope sender of the alias's domain and an ARC seal that
// validates; a bounce to that SRS address goes back to the original
// sender, and nothing but a bounce may use it.
func TestInboundForward(t *testing.T) {
	e := newInboundEnv(t)
	ctx := context.Background()
	if err := e.st.AddAlias(ctx, "fwd@example.org", "ext@remote.net"); err != nil {
		t.Fatal(err)
	}
	msg := msgFrom("a@good.example")
	if code, text := e.send(t, "a@good.example", []string{"fwd@example.org"}, msg); code != 250 {
		t.Fatalf("%d %s", code, text)
	}
	q := e.queue()
	if len(q) != 1 {
		t.Fatalf("queue = %+v", q)
	}
	sender := q[0].From
	if !strings.HasPrefix(sender, "SRS0=") || !strings.HasSuffix(sender, "@example.org") {
		t.Fatalf("queued sender %q", sender)
	}
	if orig, err := e.srs.Reverse(sender, time.Now()); err != nil || orig != "a@good.example" {
		t.Errorf("Reverse(%s) = %q, %v", sender, orig, err)
	}
	r, err := e.st.OpenQueued(ctx, q[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	queued, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(queued, []byte("ARC-Seal: i=1; ")) || !bytes.HasSuffix(queued, []byte(msg)) {
		t.Fatalf("queued %q\n%s", queued, e.logs.String())
	}
	chain, err := arc.Verify(ctx, bytes.NewReader(queued), arc.Options{LookupTXT: e.res.LookupTXT})
	if err != nil || chain.Status != "pass" || len(chain.Sealers) != 1 || chain.Sealers[0] != "example.org" {
		t.Errorf("the seal does not validate: %+v, %v", chain, err)
	}
	if !strings.Contains(chain.OldestAuthResults, "dmarc=pass") {
		t.Errorf("sealed results %q", chain.OldestAuthResults)
	}

	// A bounce comes back to the SRS address.
	c := dialRaw(t, e.mxAddr)
	c.cmd(250, "EHLO mail.good.example")
	c.cmd(250, "MAIL FROM:<someone@remote.net>")
	if text := c.cmd(550, "RCPT TO:<%s>", sender); !strings.HasPrefix(text, "5.7.1") {
		t.Errorf("non-bounce to an SRS address: %s", text)
	}
	c.cmd(250, "RSET")
	c.cmd(250, "MAIL FROM:<>")
	c.cmd(250, "RCPT TO:<%s>", sender)
	c.cmd(354, "DATA")
	c.send("From: MAILER-DAEMON@remote.net\r\nSubject: failure notice\r\n\r\nsorry\r\n.\r\n")
	c.expect(250)
	q = e.queue()
	if len(q) != 2 {
		t.Fatalf("queue = %+v", q)
	}
	back := q[1]
	if back.ID < q[0].ID {
		back = q[0]
	}
	if back.From != "" || len(back.Recipients) != 1 || back.Recipients[0].Address != "a@good.example" {
		t.Errorf("bounce queued as %+v", back)
	}
	// An SRS address we did not make is nobody.
	c.cmd(250, "MAIL FROM:<>")
	c.cmd(550, "RCPT TO:<SRS0=xxxx=AA=good.example=a@example.org>")
}
