package queue

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"postel/internal/certs"
	"postel/internal/deliver"
	"postel/internal/dkim"
	"postel/internal/smtpserver"
	"postel/internal/store"
	"postel/internal/store/sqlite"
)

// receiver is a second Postel: an MX for example.net with bob's mailbox.
type receiver struct {
	st   *sqlite.Store
	bob  store.Account
	addr string
}

func newReceiver(t *testing.T, cert tls.Certificate) *receiver {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddDomain(ctx, "example.net"); err != nil {
		t.Fatal(err)
	}
	bob, err := st.CreateAccount(ctx, "bob@example.net", store.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	mx := smtpserver.New(smtpserver.ModeMX, smtpserver.Config{Hostname: "mx.example.net"}, st, deliver.NewRouter(st), nil,
		certs.ServerTLSConfig(cert), nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go mx.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		mx.Shutdown(ctx)
	})
	return &receiver{st: st, bob: bob, addr: l.Addr().String()}
}

// A message goes to a second Postel over verified STARTTLS, DKIM-signed
// with both keys; the receiver's copy verifies.
func TestDeliverToPostel(t *testing.T) {
	e := newEnv(t)
	cert := mustCert(t, "mx.example.net")
	e.trust(cert)
	rcv := newReceiver(t, cert)
	e.dns.Add("example.net. 300 IN MX 10 mx.example.net.", "mx.example.net. 300 IN A 127.0.0.2")
	e.route("127.0.0.2", rcv.addr)

	keys := t.TempDir()
	recs, err := dkim.Generate(keys, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		e.dns.Add(r.Zone())
	}
	signer, err := dkim.LoadSigner(keys)
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	q := New(cfg, e.st, e.res, signer, slog.New(slog.NewTextHandler(e.logs, nil)))

	id := e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage)
	if n := e.runOnce(q); n != 1 {
		t.Fatalf("processed %d entries", n)
	}
	if _, ok := e.entry(id); ok {
		t.Fatalf("entry still queued; log:\n%s", e.logs)
	}
	msgs := inbox(t, rcv.st, rcv.bob)
	if len(msgs) != 1 {
		t.Fatalf("bob has %d messages; log:\n%s", len(msgs), e.logs)
	}
	got := msgs[0]
	contains(t, "delivered message", got, "Return-Path: <alice@example.org>", "with ESMTPS", "Received: from client by mail.example.org",
		"DKIM-Signature:", "s=postel-ed25519", "s=postel-rsa")
	if !strings.HasSuffix(got, testMessage) {
		t.Errorf("body changed:\n%s", got)
	}

	vs, err := msgdkim.VerifyWithOptions(strings.NewReader(got), &msgdkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) { return e.res.LookupTXT(context.Background(), name) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 {
		t.Fatalf("%d signatures verified, want 2", len(vs))
	}
	for _, v := range vs {
		if v.Err != nil || v.Domain != "example.org" {
			t.Errorf("DKIM verification: domain %s: %v", v.Domain, v.Err)
		}
	}

	// Mail forwarded by an alias (no submitting account) is not signed:
	// nobody checked its From, so our key must not vouch for it.
	e.enqueue("stranger@elsewhere.test", rcpts("bob@example.net"), testMessage, func(in *deliver.Incoming) { in.AccountID = 0 })
	if n := e.runOnce(q); n != 1 {
		t.Fatalf("processed %d entries", n)
	}
	msgs = inbox(t, rcv.st, rcv.bob)
	if len(msgs) != 2 || strings.Contains(msgs[1], "DKIM-Signature:") {
		t.Fatalf("forwarded mail: %d messages, signed: %v", len(msgs), len(msgs) == 2 && strings.Contains(msgs[1], "DKIM-Signature:"))
	}
}

// Production dialling: the configured port on the MX's address, no dialer
// mapping.
func TestDeliverToPort(t *testing.T) {
	e := newEnv(t)
	f := newFakeMX(t, nil)
	_, port, _ := net.SplitHostPort(f.addr)
	e.dns.Add("example.net. 300 IN A 127.0.0.1") // implicit MX
	q := e.queue(func(c *Config) {
		c.Dial = nil
		fmt.Sscan(port, &c.Port)
	})
	id := e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage)
	e.runOnce(q)
	if _, ok := e.entry(id); ok || len(f.messages()) != 1 {
		t.Fatalf("not delivered; log:\n%s", e.logs)
	}
	if m := f.messages()[0]; m.from != "alice@example.org" || m.rcpts[0] != "bob@example.net" || m.tls {
		t.Errorf("received %+v", m)
	}
}

// A temporary failure is retried; the reply is kept meanwhile.
func TestTemporaryThenSuccess(t *testing.T) {
	e := newEnv(t)
	f := newFakeMX(t, nil)
	f.rcpt = func(n int, _ string) error {
		if n == 1 {
			return smtpErr(451, smtp.EnhancedCode{4, 7, 1}, "greylisted, try later")
		}
		return nil
	}
	e.dns.Add("example.net. 300 IN MX 10 mx.example.net.", "mx.example.net. 300 IN A 127.0.0.2")
	e.route("127.0.0.2", f.addr)
	q := e.queue()
	id := e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage)

	start := time.Now()
	e.runOnce(q)
	en, ok := e.entry(id)
	if !ok {
		t.Fatal("entry gone after a temporary failure")
	}
	r := en.Recipients[0]
	if r.Status != "pending" || r.Attempts != 1 || r.LastReply != "mx.example.net said: 451 4.7.1 greylisted, try later" {
		t.Errorf("after attempt 1: %+v", r)
	}
	if en.Attempts != 1 || en.NextAttempt.Before(start.Add(-time.Second)) || en.NextAttempt.After(start.Add(3*time.Second)) {
		t.Errorf("entry attempts %d, next attempt in %v", en.Attempts, en.NextAttempt.Sub(start))
	}
	e.runOnce(q)
	if _, ok := e.entry(id); ok {
		t.Fatalf("not delivered at attempt 2; log:\n%s", e.logs)
	}
	if len(f.messages()) != 1 {
		t.Errorf("%d messages received", len(f.messages()))
	}
	if len(inbox(t, e.st, e.alice)) != 0 {
		t.Error("a DSN was sent for a delivered message")
	}
}

// A permanent failure bounces: the DSN in the sender's INBOX reports the
// remote reply.
func TestPermanentFailureDSN(t *testing.T) {
	e := newEnv(t)
	f := newFakeMX(t, nil)
	f.rcpt = func(_ int, to string) error {
		if to == "nobody@example.net" {
			return smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "no such user here")
		}
		return nil
	}
	e.dns.Add("example.net. 300 IN MX 10 mx.example.net.", "mx.example.net. 300 IN A 127.0.0.2")
	e.route("127.0.0.2", f.addr)
	q := e.queue()
	id := e.enqueue("alice@example.org", []store.QueueRcpt{
		{Address: "nobody@example.net", ORcpt: "rfc822;nobody@example.net"},
		{Address: "bob@example.net"},
	}, testMessage, func(in *deliver.Incoming) { in.DSNEnvID = "env-42" })
	e.runOnce(q)
	if _, ok := e.entry(id); ok {
		t.Fatal("entry still queued")
	}
	if m := f.messages(); len(m) != 1 || strings.Join(m[0].rcpts, ",") != "bob@example.net" {
		t.Errorf("received %+v", m)
	}
	box := inbox(t, e.st, e.alice)
	if len(box) != 1 {
		t.Fatalf("alice has %d messages; log:\n%s", len(box), e.logs)
	}
	d := parseDSN(t, box[0])
	if got := strings.Join(d.types, " "); got != "text/plain message/delivery-status text/rfc822-headers" {
		t.Errorf("parts %s", got)
	}
	contains(t, "DSN", box[0], "Return-Path: <>", "Auto-Submitted: auto-replied", "From: Mail Delivery System <MAILER-DAEMON@mail.example.org>")
	contains(t, "delivery-status", d.status,
		"Reporting-MTA: dns; mail.example.org", "Original-Envelope-Id: env-42",
		"Original-Recipient: rfc822;nobody@example.net", "Final-Recipient: rfc822; nobody@example.net",
		"Action: failed", "Status: 5.1.1", "Remote-MTA: dns; mx.example.net",
		"Diagnostic-Code: smtp; 550 5.1.1 no such user here")
	if strings.Contains(d.status, "bob@example.net") {
		t.Error("the delivered recipient is in the DSN")
	}
	contains(t, "returned headers", d.original, "Subject: greetings", "Message-ID: <greetings@example.org>")
	if strings.Contains(d.original, "Hello Bob") {
		t.Error("body returned without RET=FULL")
	}
	contains(t, "text part", d.text, "nobody@example.net", "550 5.1.1 no such user here")
}

// RET=FULL returns the whole message.
func TestDSNFull(t *testing.T) {
	e := newEnv(t)
	f := newFakeMX(t, nil)
	f.data = func() error { return smtpErr(554, smtp.EnhancedCode{5, 7, 1}, "spam") }
	e.dns.Add("example.net. 300 IN A 127.0.0.2")
	e.route("127.0.0.2", f.addr)
	q := e.queue()
	e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage, func(in *deliver.Incoming) { in.DSNRet = "FULL" })
	e.runOnce(q)
	box := inbox(t, e.st, e.alice)
	if len(box) != 1 {
		t.Fatalf("alice has %d messages", len(box))
	}
	d := parseDSN(t, box[0])
	if d.types[2] != "message/rfc822" || !strings.Contains(d.original, "Hello Bob.") {
		t.Errorf("original part %s:\n%s", d.types[2], d.original)
	}
	contains(t, "status", d.status, "Status: 5.7.1", "Diagnostic-Code: smtp; 554 5.7.1 spam", "Remote-MTA: dns; example.net")
}

// NOTIFY=NEVER and the null reverse-path get no DSN.
func TestNoDSN(t *testing.T) {
	for _, tt := range []struct {
		name   string
		from   string
		notify []string
	}{
		{"null sender", "", nil},
		{"NOTIFY=NEVER", "alice@example.org", []string{"NEVER"}},
		{"NOTIFY=SUCCESS", "alice@example.org", []string{"SUCCESS"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			f := newFakeMX(t, nil)
			f.rcpt = func(int, string) error { return smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "no") }
			e.dns.Add("example.net. 300 IN A 127.0.0.2")
			e.route("127.0.0.2", f.addr)
			q := e.queue()
			id := e.enqueue(tt.from, []store.QueueRcpt{{Address: "bob@example.net", Notify: tt.notify}}, testMessage)
			e.runOnce(q)
			if _, ok := e.entry(id); ok {
				t.Error("entry still queued")
			}
			if n := len(inbox(t, e.st, e.alice)); n != 0 {
				t.Errorf("%d DSNs", n)
			}
			all, _ := e.st.Queue(e.ctx)
			if len(all) != 0 {
				t.Errorf("%d entries queued (a DSN to a remote?)", len(all))
			}
		})
	}
}

// A DSN for a remote sender is queued from the null reverse-path, and a
// failure to deliver it makes no further DSN.
func TestDSNToRemoteSender(t *testing.T) {
	e := newEnv(t)
	f := newFakeMX(t, nil)
	f.rcpt = func(int, string) error { return smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "no") }
	e.dns.Add("example.net. 300 IN A 127.0.0.2", "example.com. 300 IN A 127.0.0.2")
	e.route("127.0.0.2", f.addr)
	q := e.queue()
	e.enqueue("carol@example.com", rcpts("bob@example.net"), testMessage)
	e.runOnce(q)
	all, _ := e.st.Queue(e.ctx)
	if len(all) != 1 || all[0].From != "" || all[0].Recipients[0].Address != "carol@example.com" {
		t.Fatalf("queue after the bounce: %+v", all)
	}
	e.runOnce(q) // the DSN itself bounces: nothing more
	all, _ = e.st.Queue(e.ctx)
	if len(all) != 0 {
		t.Errorf("queue after the DSN bounced: %+v", all)
	}
	if n := len(inbox(t, e.st, e.alice)); n != 0 {
		t.Errorf("%d messages for alice", n)
	}
}

// A null MX bounces at once, without connecting anywhere.
func TestNullMX(t *testing.T) {
	e := newEnv(t)
	e.dns.Add("example.net. 300 IN MX 0 .")
	q := e.queue()
	id := e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage)
	e.runOnce(q)
	if _, ok := e.entry(id); ok {
		t.Fatal("entry still queued")
	}
	if d := e.dialed(); len(d) != 0 {
		t.Errorf("dialled %v", d)
	}
	box := inbox(t, e.st, e.alice)
	if len(box) != 1 {
		t.Fatalf("alice has %d messages", len(box))
	}
	d := parseDSN(t, box[0])
	contains(t, "status", d.status, "Status: 5.1.10", "Diagnostic-Code: X-Postel; domain example.net accepts no mail (null MX")
}

// A domain that does not exist bounces; a DNS failure defers.
func TestDNSOutcomes(t *testing.T) {
	e := newEnv(t)
	e.dns.SetRcode("broken.example", 2) // SERVFAIL
	q := e.queue()
	gone := e.enqueue("alice@example.org", rcpts("bob@missing.example"), testMessage)
	stays := e.enqueue("alice@example.org", rcpts("bob@broken.example"), testMessage)
	e.runOnce(q)
	if _, ok := e.entry(gone); ok {
		t.Error("mail to a missing domain still queued")
	}
	en, ok := e.entry(stays)
	if !ok {
		t.Fatal("mail to a domain with a DNS failure bounced")
	}
	if r := en.Recipients[0].LastReply; !strings.HasPrefix(r, "451 4.4.3 DNS lookup failed") {
		t.Errorf("last reply %q", r)
	}
	box := inbox(t, e.st, e.alice)
	if len(box) != 1 || !strings.Contains(parseDSN(t, box[0]).status, "Status: 5.1.2") {
		t.Errorf("DSNs: %v", box)
	}
}

// MX hosts are tried by preference; one that refuses connections is
// skipped for the next; every address of a host is tried.
func TestMXOrderAndFallback(t *testing.T) {
	e := newEnv(t)
	f := newFakeMX(t, nil)
	e.dns.Add(
		"example.net. 300 IN MX 30 mx3.example.net.",
		"example.net. 300 IN MX 10 mx1.example.net.",
		"example.net. 300 IN MX 20 mx2.example.net.",
		"mx1.example.net. 300 IN A 127.0.0.11",
		"mx1.example.net. 300 IN A 127.0.0.12",
		"mx2.example.net. 300 IN A 127.0.0.21",
		"mx3.example.net. 300 IN A 127.0.0.31",
	)
	e.route("127.0.0.21", f.addr) // mx1 is down, mx2 up
	q := e.queue()
	id := e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage)
	e.runOnce(q)
	if _, ok := e.entry(id); ok || len(f.messages()) != 1 {
		t.Fatalf("not delivered; log:\n%s", e.logs)
	}
	d := e.dialed()
	if len(d) != 3 || d[2] != "127.0.0.21:25" || !strings.HasPrefix(d[0], "127.0.0.1") || !strings.HasPrefix(d[1], "127.0.0.1") || d[0] == d[1] {
		t.Errorf("dialled %v, want both mx1 addresses, then mx2", d)
	}

	// All down: deferred, with the last failure.
	q.pool.closeAll() // no idle connection to mx2 either
	e.mu.Lock()
	e.routes = map[string]string{}
	e.dials = nil
	e.mu.Unlock()
	id = e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage)
	e.runOnce(q)
	en, ok := e.entry(id)
	if !ok {
		t.Fatal("gone when all MX hosts are down")
	}
	if r := en.Recipients[0].LastReply; !strings.HasPrefix(r, "451 4.4.1 cannot connect to mx3.example.net") {
		t.Errorf("last reply %q", r)
	}
	if n := len(e.dialed()); n != 4 {
		t.Errorf("dialled %d addresses, want 4", n)
	}
}

// Recipients of one domain share one transaction; two messages to the same
// host share one connection.
func TestGroupingAndReuse(t *testing.T) {
	e := newEnv(t)
	f := newFakeMX(t, nil)
	e.dns.Add("example.net. 300 IN MX 10 mx.example.net.", "example.com. 300 IN MX 10 mx.example.net.",
		"mx.example.net. 300 IN A 127.0.0.2")
	e.route("127.0.0.2", f.addr)
	q := e.queue()
	e.enqueue("alice@example.org", rcpts("bob@example.net", "carol@example.com", "dave@example.net"), testMessage)
	e.runOnce(q)
	e.enqueue("alice@example.org", rcpts("erin@example.net"), testMessage)
	e.runOnce(q)
	msgs := f.messages()
	var got []string
	for _, m := range msgs {
		got = append(got, strings.Join(m.rcpts, "+"))
	}
	want := map[string]bool{"bob@example.net+dave@example.net": true, "carol@example.com": true, "erin@example.net": true}
	if len(got) != 3 || !want[got[0]] || !want[got[1]] || got[2] != "erin@example.net" {
		t.Errorf("transactions %v", got)
	}
	// The two domains of the first message may be sent in parallel on two
	// connections; the second message reuses one of them.
	if n := f.connections(); n > 2 {
		t.Errorf("%d connections for 3 transactions", n)
	}
	q.pool.closeAll()
}

// Without a policy, a certificate that does not verify still gets TLS.
func TestOpportunisticTLS(t *testing.T) {
	e := newEnv(t)
	f := newFakeMX(t, ptr(mustCert(t, "other.invalid"))) // not trusted
	e.dns.Add("example.net. 300 IN A 127.0.0.2")
	e.route("127.0.0.2", f.addr)
	q := e.queue()
	e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage)
	e.runOnce(q)
	if m := f.messages(); len(m) != 1 || !m[0].tls {
		t.Fatalf("received %+v; log:\n%s", m, e.logs)
	}
}

func ptr[T any](v T) *T { return &v }

// The delay warning is sent once, at the first attempt past DelayWarning.
func TestDelayWarningOnce(t *testing.T) {
	e := newEnv(t)
	f := newFakeMX(t, nil)
	f.rcpt = func(int, string) error { return smtpErr(452, smtp.EnhancedCode{4, 2, 2}, "mailbox full") }
	e.dns.Add("example.net. 300 IN A 127.0.0.2")
	e.route("127.0.0.2", f.addr)
	q := e.queue(func(c *Config) { c.DelayWarning = 2 * time.Second })
	id := e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage)
	created := time.Now()
	e.runOnce(q)
	if n := len(inbox(t, e.st, e.alice)); n != 0 {
		t.Fatalf("%d messages after the first attempt", n)
	}
	time.Sleep(time.Until(created.Add(2100 * time.Millisecond)))
	e.runOnce(q)
	e.runOnce(q)
	box := inbox(t, e.st, e.alice)
	if len(box) != 1 {
		t.Fatalf("%d warnings, want 1", len(box))
	}
	d := parseDSN(t, box[0])
	contains(t, "warning", d.status, "Action: delayed", "Status: 4.2.2", "Will-Retry-Until:", "Diagnostic-Code: smtp; 452 4.2.2 mailbox full")
	contains(t, "warning", box[0], "Subject: Delayed Mail")
	if en, ok := e.entry(id); !ok || en.Recipients[0].Status != "pending" || en.Recipients[0].Attempts != 3 {
		t.Errorf("entry %+v", en)
	}
}

// Past its lifetime a message bounces with the last temporary reply.
func TestLifetimeExpired(t *testing.T) {
	e := newEnv(t)
	f := newFakeMX(t, nil)
	f.rcpt = func(int, string) error { return smtpErr(421, smtp.EnhancedCode{4, 3, 2}, "busy") }
	e.dns.Add("example.net. 300 IN A 127.0.0.2")
	e.route("127.0.0.2", f.addr)
	q := e.queue(func(c *Config) { c.Lifetime = time.Second })
	id := e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage)
	time.Sleep(1100 * time.Millisecond)
	e.runOnce(q)
	if _, ok := e.entry(id); ok {
		t.Fatal("entry still queued past its lifetime")
	}
	box := inbox(t, e.st, e.alice)
	if len(box) != 1 {
		t.Fatalf("%d DSNs", len(box))
	}
	d := parseDSN(t, box[0])
	contains(t, "DSN", d.status, "Action: failed", "Status: 4.3.2", "Diagnostic-Code: smtp; 421 4.3.2 busy")
}

// NOTIFY=SUCCESS to a server without DSN support gives a "relayed" DSN.
func TestRelayedDSN(t *testing.T) {
	e := newEnv(t)
	f := newFakeMX(t, nil, func(s *smtp.Server) { s.EnableDSN = false })
	e.dns.Add("example.net. 300 IN A 127.0.0.2")
	e.route("127.0.0.2", f.addr)
	q := e.queue()
	e.enqueue("alice@example.org", []store.QueueRcpt{{Address: "bob@example.net", Notify: []string{"SUCCESS", "FAILURE"}}}, testMessage)
	e.runOnce(q)
	box := inbox(t, e.st, e.alice)
	if len(box) != 1 {
		t.Fatalf("%d DSNs", len(box))
	}
	d := parseDSN(t, box[0])
	contains(t, "DSN", d.status, "Action: relayed", "Status: 2.0.0")
}

// REQUIRETLS: no TLS at the receiver bounces with 5.7.30; verified TLS at
// a receiver offering REQUIRETLS delivers.
func TestRequireTLS(t *testing.T) {
	requireTLS := func(in *deliver.Incoming) { in.RequireTLS = true }
	t.Run("no TLS", func(t *testing.T) {
		e := newEnv(t)
		f := newFakeMX(t, nil, func(s *smtp.Server) { s.EnableREQUIRETLS = true })
		e.dns.Add("example.net. 300 IN MX 10 mx.example.net.", "mx.example.net. 300 IN A 127.0.0.2")
		e.dns.SetAuthenticated(true)
		e.route("127.0.0.2", f.addr)
		q := e.queue()
		id := e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage, requireTLS)
		e.runOnce(q)
		if _, ok := e.entry(id); ok || len(f.messages()) != 0 {
			t.Fatalf("not bounced; log:\n%s", e.logs)
		}
		box := inbox(t, e.st, e.alice)
		if len(box) != 1 {
			t.Fatalf("%d DSNs", len(box))
		}
		contains(t, "DSN", parseDSN(t, box[0]).status, "Status: 5.7.30")
	})
	t.Run("insecure MX", func(t *testing.T) {
		e := newEnv(t)
		cert := mustCert(t, "mx.example.net")
		e.trust(cert)
		f := newFakeMX(t, &cert, func(s *smtp.Server) { s.EnableREQUIRETLS = true })
		e.dns.Add("example.net. 300 IN MX 10 mx.example.net.", "mx.example.net. 300 IN A 127.0.0.2")
		e.route("127.0.0.2", f.addr)
		q := e.queue()
		e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage, requireTLS)
		e.runOnce(q)
		if len(f.messages()) != 0 || len(inbox(t, e.st, e.alice)) != 1 {
			t.Fatalf("delivered with unsigned MX records; log:\n%s", e.logs)
		}
	})
	t.Run("verified", func(t *testing.T) {
		e := newEnv(t)
		cert := mustCert(t, "mx.example.net")
		e.trust(cert)
		f := newFakeMX(t, &cert, func(s *smtp.Server) { s.EnableREQUIRETLS = true })
		e.dns.Add("example.net. 300 IN MX 10 mx.example.net.", "mx.example.net. 300 IN A 127.0.0.2")
		e.dns.SetAuthenticated(true)
		e.route("127.0.0.2", f.addr)
		q := e.queue()
		id := e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage, requireTLS)
		e.runOnce(q)
		m := f.messages()
		if _, ok := e.entry(id); ok || len(m) != 1 || !m[0].tls || !m[0].opts.RequireTLS {
			t.Fatalf("received %+v; log:\n%s", m, e.logs)
		}
	})
	t.Run("no REQUIRETLS at the receiver", func(t *testing.T) {
		e := newEnv(t)
		cert := mustCert(t, "mx.example.net")
		e.trust(cert)
		f := newFakeMX(t, &cert)
		e.dns.Add("example.net. 300 IN MX 10 mx.example.net.", "mx.example.net. 300 IN A 127.0.0.2")
		e.dns.SetAuthenticated(true)
		e.route("127.0.0.2", f.addr)
		q := e.queue()
		e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage, requireTLS)
		e.runOnce(q)
		box := inbox(t, e.st, e.alice)
		if len(f.messages()) != 0 || len(box) != 1 {
			t.Fatalf("not bounced; log:\n%s", e.logs)
		}
		contains(t, "DSN", parseDSN(t, box[0]).status, "Status: 5.7.30", "does not offer REQUIRETLS")
	})
}

// DANE-EE: a matching TLSA record delivers; a mismatch defers, never in
// the clear; records without the AD bit are ignored.
func TestDANE(t *testing.T) {
	cert := mustCert(t, "mx.example.net") // not in the roots: DANE alone vouches
	spki := sha256.Sum256(cert.Leaf.RawSubjectPublicKeyInfo)
	good := "_25._tcp.mx.example.net. 300 IN TLSA 3 1 1 " + hex.EncodeToString(spki[:])
	bad := "_25._tcp.mx.example.net. 300 IN TLSA 3 1 1 " + strings.Repeat("ab", 32)
	for _, tt := range []struct {
		name      string
		tlsa      string
		ad        bool
		delivered bool
	}{
		{"match", good, true, true},
		{"mismatch", bad, true, false},
		{"mismatch unauthenticated", bad, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			f := newFakeMX(t, &cert)
			e.dns.Add("example.net. 300 IN MX 10 mx.example.net.", "mx.example.net. 300 IN A 127.0.0.2", tt.tlsa)
			e.dns.SetAuthenticated(tt.ad)
			e.route("127.0.0.2", f.addr)
			q := e.queue()
			id := e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage)
			e.runOnce(q)
			en, queued := e.entry(id)
			if queued == tt.delivered || (len(f.messages()) == 1) != tt.delivered {
				t.Fatalf("queued %v, received %d; log:\n%s", queued, len(f.messages()), e.logs)
			}
			if !tt.delivered && !strings.Contains(en.Recipients[0].LastReply, "4.7.5") {
				t.Errorf("last reply %q", en.Recipients[0].LastReply)
			}
		})
	}
}

// DANE with a server that offers no STARTTLS defers.
func TestDANENoSTARTTLS(t *testing.T) {
	e := newEnv(t)
	f := newFakeMX(t, nil)
	e.dns.Add("example.net. 300 IN MX 10 mx.example.net.", "mx.example.net. 300 IN A 127.0.0.2",
		"_25._tcp.mx.example.net. 300 IN TLSA 3 1 1 "+strings.Repeat("ab", 32))
	e.dns.SetAuthenticated(true)
	e.route("127.0.0.2", f.addr)
	q := e.queue()
	id := e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage)
	e.runOnce(q)
	en, ok := e.entry(id)
	if !ok || len(f.messages()) != 0 {
		t.Fatal("delivered in the clear despite DANE")
	}
	if r := en.Recipients[0].LastReply; !strings.HasPrefix(r, "451 4.7.10 mx.example.net does not offer STARTTLS, required by DANE") {
		t.Errorf("last reply %q", r)
	}
}

// A worker that dies keeps its entry only until the lease ends; then
// another delivers it.
func TestLeaseExpiry(t *testing.T) {
	e := newEnv(t)
	f := newFakeMX(t, nil)
	e.dns.Add("example.net. 300 IN A 127.0.0.2")
	e.route("127.0.0.2", f.addr)
	id := e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage)
	// The dead worker: claims and never updates.
	dead, err := e.st.ClaimQueue(e.ctx, "dead worker", time.Now(), 3*time.Second, 10)
	if err != nil || len(dead) != 1 {
		t.Fatalf("claim: %v, %v", dead, err)
	}
	q := e.queue()
	claims := watchClaims(q)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q.Run(ctx) }()
	// Run's first claim comes while the dead worker's lease holds.
	if n := claims.next(t); n != 0 {
		t.Fatalf("Run's first claim took %d entries, still leased", n)
	}
	waitFor(t, 6*time.Second, "delivery after the lease", func() bool {
		_, ok := e.entry(id)
		return !ok
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if n := len(f.messages()); n != 1 {
		t.Errorf("%d deliveries", n)
	}
	// The dead worker wakes up: its lease is gone, its record is refused.
	rc := dead[0].Recipients
	rc[0].Status = "failed"
	if err := e.st.UpdateQueue(e.ctx, id, dead[0].LeaseOwner, rc, time.Now()); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("late update by the dead worker: %v", err)
	}
}

// Run delivers what Kick announces, and returns when its context ends.
func TestRunKick(t *testing.T) {
	e := newEnv(t)
	f := newFakeMX(t, nil)
	e.dns.Add("example.net. 300 IN A 127.0.0.2")
	e.route("127.0.0.2", f.addr)
	q := e.queue(func(c *Config) { c.PollInterval = time.Hour })
	claims := watchClaims(q)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q.Run(ctx) }()
	// Run's first claim finds nothing; then only Kick can wake it.
	if n := claims.next(t); n != 0 {
		t.Fatalf("Run's first claim took %d entries from an empty queue", n)
	}
	var ids []int64
	for range 5 {
		ids = append(ids, e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage))
	}
	q.Kick()
	// The event is the entries leaving the queue (the remote's 250s
	// recorded), not the remote having the messages: a cancel between the
	// final dot and its 250 would leave an entry deferred.
	waitFor(t, 5*time.Second, "deliveries recorded", func() bool {
		for _, id := range ids {
			if _, ok := e.entry(id); ok {
				return false
			}
		}
		return true
	})
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if n := len(f.messages()); n != 5 {
		t.Errorf("the remote got %d messages, want 5", n)
	}
}

// MaySend applies the per-account daily limit.
func TestMaySend(t *testing.T) {
	e := newEnv(t)
	q := e.queue(func(c *Config) { c.PerAccountDailyLimit = 3 })
	e.enqueue("alice@example.org", rcpts("a@example.net", "b@example.net"), testMessage)
	for _, tt := range []struct {
		n    int
		want bool
	}{{1, true}, {2, false}} {
		ok, err := q.MaySend(e.ctx, e.alice.ID, tt.n)
		if err != nil || ok != tt.want {
			t.Errorf("MaySend(%d) = %v, %v; want %v", tt.n, ok, err, tt.want)
		}
	}
	if ok, _ := e.queue().MaySend(e.ctx, e.alice.ID, 1000); !ok {
		t.Error("no limit configured, yet refused")
	}
}

// An MX resolving only to private or loopback addresses is not used unless
// the configuration allows it: submitted mail must not reach internal
// services that trust this host.
func TestPrivateDestinationRefused(t *testing.T) {
	e := newEnv(t)
	e.dns.Add("example.net. 300 IN MX 10 mx.example.net.", "mx.example.net. 300 IN A 10.1.2.3", "mx.example.net. 300 IN A 127.0.0.2")
	q := e.queue(func(c *Config) { c.AllowPrivate = false })
	id := e.enqueue("alice@example.org", rcpts("bob@example.net", "x@[192.168.1.1]"), testMessage)
	if n := e.runOnce(q); n != 1 {
		t.Fatalf("processed %d entries", n)
	}
	en, ok := e.entry(id)
	if !ok {
		t.Fatal("entry gone")
	}
	for _, r := range en.Recipients {
		if r.Status != "pending" || !strings.Contains(r.LastReply, "no public address") {
			t.Errorf("%s: %s %q", r.Address, r.Status, r.LastReply)
		}
	}
}
