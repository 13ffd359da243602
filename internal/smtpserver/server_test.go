package smtpserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"postel/internal/auth"
	"postel/internal/deliver"
)

const simpleBody = "From: Sender <sender@remote.net>\r\nTo: alice@example.org\r\nSubject: hi\r\n" +
	"Message-ID: <m1@remote.net>\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n\r\nHello Alice.\r\n"

// receivedRE matches the Received field Postel writes (RFC 5321 §4.4) for
// a client that said EHLO helo. Groups: 1 protocol, 2 id, 4 TLS version,
// 5 cipher, 7 authenticated user, 9 "for" recipient, 10 date.
func receivedRE(helo string) *regexp.Regexp {
	return regexp.MustCompile(`^Received: from ` + regexp.QuoteMeta(helo) + ` \(\[127\.0\.0\.1\]\)\r\n` +
		`\tby mx\.example\.org with (\S+) id ([a-z2-7]+\.\d+)` +
		`(\r\n\t\(version=(TLS1\.[23]) cipher=(\S+)\))?` +
		`(\r\n\t\(authenticated as ([^)]+)\))?` +
		`(\r\n\tfor <([^>]+)>)?; (.+)\r\n$`)
}

// parsePrefix splits the server's prefix into Return-Path, Received and the
// other fields it added.
func parsePrefix(t *testing.T, prefix string) (returnPath string, received []string, rest string) {
	t.Helper()
	return parsePrefixFrom(t, prefix, "client.example")
}

func parsePrefixFrom(t *testing.T, prefix, helo string) (returnPath string, received []string, rest string) {
	t.Helper()
	first, after, ok := strings.Cut(prefix, "\r\n")
	if !ok || !strings.HasPrefix(first, "Return-Path: <") || !strings.HasSuffix(first, ">") {
		t.Fatalf("prefix does not start with Return-Path: %q", prefix)
	}
	returnPath = strings.TrimSuffix(strings.TrimPrefix(first, "Return-Path: <"), ">")
	// The Received field runs to its first line not starting with a tab.
	lines := strings.SplitAfter(after, "\r\n")
	n := 1
	for n < len(lines) && strings.HasPrefix(lines[n], "\t") {
		n++
	}
	received = receivedRE(helo).FindStringSubmatch(strings.Join(lines[:n], ""))
	if received == nil {
		t.Fatalf("Received field malformed: %q", strings.Join(lines[:n], ""))
	}
	if _, err := time.Parse(time.RFC1123Z, received[10]); err != nil {
		t.Errorf("Received date %q: %v", received[10], err)
	}
	return returnPath, received, strings.Join(lines[n:], "")
}

// traceFields returns the leading Return-Path and Received fields of an
// MX delivery, which are the whole prefix when the body is unknown.
func traceFields(stored []byte) string {
	lines := strings.SplitAfter(string(stored), "\r\n")
	n := 0
	for n < len(lines) && (strings.HasPrefix(lines[n], "Return-Path: ") || strings.HasPrefix(lines[n], "Received: ") || strings.HasPrefix(lines[n], "\t")) {
		n++
	}
	return strings.Join(lines[:n], "")
}

func TestMXDelivery(t *testing.T) {
	h := newHarness(t)
	c := h.dialSMTP(h.mxAddr, plain)
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("MX offers AUTH")
	}
	for _, ext := range []string{"STARTTLS", "PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING", "DSN"} {
		if ok, _ := c.Extension(ext); !ok {
			t.Errorf("MX does not offer %s", ext)
		}
	}
	if ok, size := c.Extension("SIZE"); !ok || size != "65536" {
		t.Errorf("SIZE = %v %q; want 65536", ok, size)
	}
	if err := send(c, "sender@remote.net", []string{"alice@example.org"}, simpleBody); err != nil {
		t.Fatal(err)
	}
	msgs := h.inbox("alice@example.org")
	if len(msgs) != 1 {
		t.Fatalf("alice has %d messages; want 1", len(msgs))
	}
	prefix := splitPrefix(t, msgs[0], simpleBody)
	rp, rcv, rest := parsePrefix(t, prefix)
	if rp != "sender@remote.net" || rcv[1] != "UTF8SMTP" || rcv[3] != "" || rcv[6] != "" || rcv[9] != "alice@example.org" || rest != "" {
		t.Errorf("prefix = %q", prefix)
	}
	if len(h.inbox("bob@example.org")) != 0 || len(h.queue()) != 0 {
		t.Error("mail went elsewhere too")
	}
}

func TestSTARTTLS(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name, addr, proto, auth string
	}{
		{"mx", h.mxAddr, "UTF8SMTPS", ""},
		{"submission", h.subAddr, "UTF8SMTPSA", "alice@example.org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := h.dialSMTP(tc.addr, startTLS)
			if st, ok := c.TLSConnectionState(); !ok || st.Version != tls.VersionTLS13 {
				t.Fatalf("TLS state %v %v", ok, st.Version)
			}
			if ok, _ := c.Extension("STARTTLS"); ok {
				t.Error("STARTTLS offered again after TLS")
			}
			if tc.auth != "" {
				if err := c.Auth(smtp.PlainAuth("", "alice@example.org", alicePass, "127.0.0.1")); err != nil {
					t.Fatal(err)
				}
			}
			body := strings.Replace(simpleBody, "sender@remote.net", "alice@example.org", 1)
			from := "sender@remote.net"
			if tc.auth != "" {
				from = "alice@example.org"
			}
			if err := send(c, from, []string{"bob@example.org"}, body); err != nil {
				t.Fatal(err)
			}
			msgs := h.inbox("bob@example.org")
			_, rcv, _ := parsePrefix(t, splitPrefix(t, msgs[len(msgs)-1], body))
			if rcv[1] != tc.proto || rcv[4] != "TLS1.3" || !strings.HasPrefix(rcv[5], "TLS_") || rcv[7] != tc.auth {
				t.Errorf("Received: proto %q version %q cipher %q auth %q", rcv[1], rcv[4], rcv[5], rcv[7])
			}
		})
	}
}

func TestImplicitTLS(t *testing.T) {
	h := newHarness(t)
	c := h.dialSMTP(h.subTLSAddr, implicit)
	if ok, mechs := c.Extension("AUTH"); !ok || !strings.Contains(mechs, "PLAIN") {
		t.Fatalf("AUTH on 465 = %v %q", ok, mechs)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered on implicit TLS")
	}
	if err := c.Auth(smtp.PlainAuth("", "alice@example.org", alicePass, "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	body := "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: over 465\r\n\r\nHi.\r\n"
	if err := send(c, "alice@example.org", []string{"bob@example.org"}, body); err != nil {
		t.Fatal(err)
	}
	msgs := h.inbox("bob@example.org")
	if len(msgs) != 1 {
		t.Fatalf("bob has %d messages", len(msgs))
	}
	rp, rcv, rest := parsePrefix(t, splitPrefix(t, msgs[0], body))
	if rp != "alice@example.org" || rcv[1] != "UTF8SMTPSA" || rcv[4] != "TLS1.3" || rcv[7] != "alice@example.org" {
		t.Errorf("Return-Path %q Received %q", rp, rcv[0])
	}
	// Submission added the missing Message-ID and Date.
	if !regexp.MustCompile(`^Message-ID: <[a-z2-7]+@mx\.example\.org>\r\nDate: [^\r\n]+\r\n$`).MatchString(rest) {
		t.Errorf("added fields = %q", rest)
	}
}

func TestAuthMechanisms(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name string
		auth smtp.Auth
		user string // who is then authenticated; "" when it must fail with 535
	}{
		{"PLAIN", smtp.PlainAuth("", "alice@example.org", alicePass, "127.0.0.1"), "alice@example.org"},
		{"PLAIN upper-case user", smtp.PlainAuth("", "ALICE@example.org", alicePass, "127.0.0.1"), "alice@example.org"},
		{"PLAIN wrong password", smtp.PlainAuth("", "alice@example.org", "wrong", "127.0.0.1"), ""},
		{"PLAIN unknown user", smtp.PlainAuth("", "nobody@example.org", alicePass, "127.0.0.1"), ""},
		{"PLAIN other authzid", smtp.PlainAuth("bob@example.org", "alice@example.org", alicePass, "127.0.0.1"), ""},
		{"LOGIN", &loginAuth{"bob@example.org", bobPass}, "bob@example.org"},
		{"LOGIN wrong password", &loginAuth{"bob@example.org", alicePass}, ""},
		{"SCRAM-SHA-256", &scramAuth{user: "alice@example.org", pass: alicePass}, "alice@example.org"},
		{"SCRAM-SHA-256 wrong password", &scramAuth{user: "alice@example.org", pass: "nope"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := h.dialSMTP(h.subAddr, startTLS)
			err := c.Auth(tc.auth)
			if tc.user == "" {
				if code(err) != 535 || !strings.Contains(err.Error(), "5.7.8") {
					t.Fatalf("Auth: %v; want 535 5.7.8", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Auth: %v", err)
			}
			// Authenticated as tc.user: mail can be submitted as that user,
			// and only as that user.
			body := "From: " + tc.user + "\r\nSubject: x\r\n\r\nx\r\n"
			if err := send(c, tc.user, []string{"alice@example.org"}, body); err != nil {
				t.Fatal(err)
			}
			other := map[string]string{"alice@example.org": "bob@example.org", "bob@example.org": "alice@example.org"}[tc.user]
			if err := c.Mail(other); code(err) != 550 {
				t.Fatalf("MAIL FROM another user: %v", err)
			}
		})
	}
	if strings.Contains(h.logs.String(), alicePass) || strings.Contains(h.logs.String(), bobPass) {
		t.Error("a password appears in the log")
	}
}

func TestAuthBeforeTLS(t *testing.T) {
	h := newHarness(t)
	c := dialRaw(t, h.subAddr)
	ehlo := c.cmd(250, "EHLO client.example")
	if hasExt(ehlo, "AUTH") || !hasExt(ehlo, "STARTTLS") {
		t.Fatalf("EHLO before TLS on 587: %q", ehlo)
	}
	if msg := c.authPlainCode(530, 523); !strings.Contains(msg, "5.7") {
		t.Errorf("AUTH before TLS: %q", msg)
	}
	c.cmd(530, "MAIL FROM:<alice@example.org>")
	c.startTLS(h.clientTLS)
	ehlo = c.cmd(250, "EHLO client.example")
	if !hasExt(ehlo, "AUTH") || !strings.Contains(ehlo, "SCRAM-SHA-256") || !strings.Contains(ehlo, "LOGIN") {
		t.Fatalf("EHLO after TLS: %q", ehlo)
	}
	c.authPlain("alice@example.org", alicePass, 235)
	c.cmd(250, "MAIL FROM:<alice@example.org>")
}

// authPlainCode sends AUTH PLAIN and accepts any of the given codes.
func (c *rawClient) authPlainCode(codes ...int) string {
	c.t.Helper()
	c.send("AUTH PLAIN " + b64("\x00alice@example.org\x00"+alicePass) + "\r\n")
	got, msg, _ := c.reply()
	if !slices.Contains(codes, got) {
		c.t.Fatalf("AUTH reply %d %q; want one of %v", got, msg, codes)
	}
	return msg
}

func TestPlaintextLoopback(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.AllowPlaintextLoopback = true })
	c := dialRaw(t, h.subAddr)
	if ehlo := c.cmd(250, "EHLO client.example"); !hasExt(ehlo, "AUTH") {
		t.Fatalf("AUTH not offered to a loopback client: %q", ehlo)
	}
	c.authPlain("alice@example.org", alicePass, 235)
	// The MX never offers AUTH.
	m := dialRaw(t, h.mxAddr)
	if ehlo := m.cmd(250, "EHLO client.example"); hasExt(ehlo, "AUTH") {
		t.Fatalf("MX offers AUTH: %q", ehlo)
	}
}

func TestRelayDenied(t *testing.T) {
	h := newHarness(t)
	c := dialRaw(t, h.mxAddr)
	c.cmd(250, "EHLO client.example")
	c.cmd(250, "MAIL FROM:<alice@example.org>")
	for _, rcpt := range []string{"victim@remote.net", "alice@example.org.evil", "alice@[127.0.0.1]", "@example.org:x@remote.net"} {
		c.send("RCPT TO:<" + rcpt + ">\r\n")
		got, msg, _ := c.reply()
		if got/100 != 5 {
			t.Errorf("RCPT %s: %d %s; want refusal", rcpt, got, msg)
		}
		if got == 554 && !strings.HasPrefix(msg, "5.7.1") {
			t.Errorf("RCPT %s: %q", rcpt, msg)
		}
	}
	c.cmd(502, "DATA") // no recipient accepted
	if q := h.queue(); len(q) != 0 {
		t.Fatalf("queued %+v", q)
	}
}

func TestUnknownUser(t *testing.T) {
	h := newHarness(t)
	c := dialRaw(t, h.mxAddr)
	c.cmd(250, "EHLO client.example")
	c.cmd(250, "MAIL FROM:<x@remote.net>")
	if msg := c.cmd(550, "RCPT TO:<nobody@example.org>"); !strings.HasPrefix(msg, "5.1.1") {
		t.Errorf("unknown user: %q", msg)
	}
	if msg := c.cmd(501, "RCPT TO:<a b@example.org>"); !strings.HasPrefix(msg, "5.") {
		t.Errorf("bad address: %q", msg)
	}
}

func TestSubmissionPolicy(t *testing.T) {
	h := newHarness(t)
	t.Run("no auth", func(t *testing.T) {
		c := dialRawTLS(t, h.subTLSAddr, h.clientTLS)
		c.cmd(250, "EHLO client.example")
		if msg := c.cmd(530, "MAIL FROM:<alice@example.org>"); !strings.HasPrefix(msg, "5.7.0") {
			t.Errorf("MAIL without AUTH: %q", msg)
		}
	})
	login := func(t *testing.T) *rawClient {
		c := dialRawTLS(t, h.subTLSAddr, h.clientTLS)
		c.cmd(250, "EHLO client.example")
		c.authPlain("alice@example.org", alicePass, 235)
		return c
	}
	t.Run("envelope", func(t *testing.T) {
		c := login(t)
		for _, from := range []string{"bob@example.org", "alice@example.org.evil", "ceo@remote.net", ""} {
			c.send("MAIL FROM:<" + from + ">\r\n")
			if got, msg, _ := c.reply(); got != 550 || !strings.HasPrefix(msg, "5.7.1") {
				t.Errorf("MAIL FROM:<%s>: %d %s; want 550 5.7.1", from, got, msg)
			}
		}
		c.cmd(250, "MAIL FROM:<Alice+lists@EXAMPLE.org>")
	})
	t.Run("header", func(t *testing.T) {
		for _, from := range []string{
			"From: bob@example.org",
			"From: Alice <alice@example.org>, Bob <bob@example.org>",
			"From: \"alice@example.org\" <ceo@remote.net>",
			"From: alice@example.org\r\nFrom: bob@example.org",
			"From: <<<",
			"From: alice@example.org\r\nSender: bob@example.org",
			"From: alice@example.org\r\nResent-From: ceo@remote.net",
			"From: alice@example.org\r\nResent-Sender: <<<",
		} {
			c := login(t)
			c.cmd(250, "MAIL FROM:<alice@example.org>")
			c.cmd(250, "RCPT TO:<bob@example.org>")
			c.cmd(354, "DATA")
			c.send(from + "\r\nSubject: spoof\r\n\r\nbody\r\n.\r\n")
			if got, msg, _ := c.reply(); got != 550 || !strings.HasPrefix(msg, "5.") {
				t.Errorf("%q: %d %s; want 550", from, got, msg)
			}
		}
		if n := len(h.inbox("bob@example.org")); n != 0 {
			t.Errorf("spoofed messages stored: %d", n)
		}
		c := login(t)
		c.cmd(250, "MAIL FROM:<alice@example.org>")
		c.cmd(250, "RCPT TO:<bob@example.org>")
		c.cmd(354, "DATA")
		c.send("From: =?utf-8?q?Alice?= <ALICE+x@example.org>\r\nSender: alice@example.org\r\nSubject: fine\r\n\r\nbody\r\n.\r\n")
		c.expect(250)
		if n := len(h.inbox("bob@example.org")); n != 1 {
			t.Errorf("bob has %d messages; want 1", n)
		}
	})
}

func TestSubmissionQueue(t *testing.T) {
	h := newHarness(t)
	c := dialRawTLS(t, h.subTLSAddr, h.clientTLS)
	c.cmd(250, "EHLO client.example")
	c.authPlain("alice@example.org", alicePass, 235)
	c.cmd(250, "MAIL FROM:<alice@example.org> RET=HDRS ENVID=env+2B1 BODY=8BITMIME SMTPUTF8 REQUIRETLS")
	c.cmd(250, "RCPT TO:<far@remote.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;far@remote.net")
	c.cmd(250, "RCPT TO:<Other@Remote.NET>")
	c.cmd(250, "RCPT TO:<bob@example.org>")
	c.cmd(354, "DATA")
	body := "From: alice@example.org\r\nTo: far@remote.net\r\nSubject: out\r\nMessage-ID: <x@y>\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n\r\nbody \xc3\xa9\r\n"
	c.send(body + ".\r\n")
	c.expect(250)

	q := h.queue()
	if len(q) != 1 {
		t.Fatalf("queue = %+v", q)
	}
	e := q[0]
	if e.From != "alice@example.org" || e.AccountID != h.alice.ID || e.DSNRet != "HDRS" || e.DSNEnvID != "env+1" ||
		!e.Body8Bit || !e.SMTPUTF8 || !e.RequireTLS {
		t.Errorf("queue entry = %+v", e)
	}
	if len(e.Recipients) != 2 {
		t.Fatalf("recipients = %+v", e.Recipients)
	}
	r0, r1 := e.Recipients[0], e.Recipients[1]
	if strings.EqualFold(r0.Address, "other@remote.net") {
		r0, r1 = r1, r0
	}
	if r0.Address != "far@remote.net" || !slices.Equal(r0.Notify, []string{"SUCCESS", "FAILURE"}) || r0.ORcpt != "RFC822;far@remote.net" {
		t.Errorf("far = %+v", r0)
	}
	if !strings.EqualFold(r1.Address, "other@remote.net") || len(r1.Notify) != 0 || r1.ORcpt != "" {
		t.Errorf("other = %+v", r1)
	}
	// The local recipient got it at once, with the same bytes.
	msgs := h.inbox("bob@example.org")
	if len(msgs) != 1 {
		t.Fatalf("bob has %d messages", len(msgs))
	}
	_, rcv, rest := parsePrefix(t, splitPrefix(t, msgs[0], body))
	if rcv[9] != "" || rest != "" { // three recipients: no "for"; Message-ID and Date present
		t.Errorf("Received %q, added %q", rcv[0], rest)
	}
}

func TestMXForwardAndRouting(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if err := h.st.AddDomain(ctx, "lists.example"); err != nil {
		t.Fatal(err)
	}
	for _, a := range [][2]string{
		{"team@example.org", "alice@example.org"},
		{"team@example.org", "bob@example.org"},
		{"fwd@example.org", "ext@remote.net"},
		{"@lists.example", "bob@example.org"},
	} {
		if err := h.st.AddAlias(ctx, a[0], a[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		rcpt       string
		alice, bob int // messages each has after this delivery
		queued     int
	}{
		{"alice+tag@example.org", 1, 0, 0},
		{"team@example.org", 2, 1, 0},
		{"anything@lists.example", 2, 2, 0},
		{"fwd@example.org", 2, 2, 1},
	} {
		c := h.dialSMTP(h.mxAddr, plain)
		if err := send(c, "sender@remote.net", []string{tc.rcpt}, simpleBody); err != nil {
			t.Fatalf("%s: %v", tc.rcpt, err)
		}
		a, b, q := len(h.inbox("alice@example.org")), len(h.inbox("bob@example.org")), len(h.queue())
		if a != tc.alice || b != tc.bob || q != tc.queued {
			t.Errorf("after %s: alice %d bob %d queued %d; want %d %d %d", tc.rcpt, a, b, q, tc.alice, tc.bob, tc.queued)
		}
	}
	q := h.queue()
	if len(q) == 1 && (q[0].Recipients[0].Address != "ext@remote.net" || q[0].Recipients[0].ORcpt != "rfc822;fwd@example.org" || q[0].From != "sender@remote.net") {
		t.Errorf("forwarded entry = %+v", q[0])
	}
}

func TestQuota(t *testing.T) {
	h := newHarness(t)
	if err := h.st.SetQuota(context.Background(), "alice@example.org", 1000); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, h.mxAddr)
	c.cmd(250, "EHLO client.example")
	c.cmd(250, "MAIL FROM:<x@remote.net> SIZE=5000")
	if msg := c.cmd(452, "RCPT TO:<alice@example.org>"); !strings.HasPrefix(msg, "4.2.2") {
		t.Errorf("over quota: %q", msg)
	}
	c.cmd(250, "RCPT TO:<bob@example.org>")
	c.cmd(250, "RSET")
	// Without SIZE, the store refuses at delivery.
	c.cmd(250, "MAIL FROM:<x@remote.net>")
	c.cmd(250, "RCPT TO:<alice@example.org>")
	c.cmd(354, "DATA")
	c.send("Subject: big\r\n\r\n" + strings.Repeat("0123456789\r\n", 100) + ".\r\n")
	if msg := c.expect(452); !strings.HasPrefix(msg, "4.2.2") {
		t.Errorf("over quota at delivery: %q", msg)
	}
	if n := len(h.inbox("alice@example.org")); n != 0 {
		t.Errorf("alice has %d messages", n)
	}
}

func TestLimits(t *testing.T) {
	h := newHarness(t)
	t.Run("recipients", func(t *testing.T) {
		c := dialRaw(t, h.mxAddr)
		c.cmd(250, "EHLO client.example")
		c.cmd(250, "MAIL FROM:<x@remote.net>")
		for range h.cfg.MaxRecipients {
			c.cmd(250, "RCPT TO:<alice@example.org>")
		}
		if msg := c.cmd(452, "RCPT TO:<bob@example.org>"); !strings.HasPrefix(msg, "4.5.3") {
			t.Errorf("too many recipients: %q", msg)
		}
	})
	t.Run("SIZE", func(t *testing.T) {
		c := dialRaw(t, h.mxAddr)
		c.cmd(250, "EHLO client.example")
		if msg := c.cmd(552, "MAIL FROM:<x@remote.net> SIZE=%d", h.cfg.MaxMessageBytes+1); !strings.HasPrefix(msg, "5.3.4") {
			t.Errorf("SIZE over: %q", msg)
		}
	})
	t.Run("data size", func(t *testing.T) {
		c := dialRaw(t, h.mxAddr)
		c.cmd(250, "EHLO client.example")
		c.cmd(250, "MAIL FROM:<x@remote.net>")
		c.cmd(250, "RCPT TO:<alice@example.org>")
		c.cmd(354, "DATA")
		line := strings.Repeat("x", 98) + "\r\n"
		c.send("Subject: big\r\n\r\n" + strings.Repeat(line, int(h.cfg.MaxMessageBytes)/len(line)+1) + ".\r\n")
		if msg := c.expect(552); !strings.HasPrefix(msg, "5.3.4") {
			t.Errorf("data over: %q", msg)
		}
		// The session goes on.
		c.cmd(250, "NOOP")
	})
	t.Run("BDAT size", func(t *testing.T) {
		c := dialRaw(t, h.mxAddr)
		c.cmd(250, "EHLO client.example")
		c.cmd(250, "MAIL FROM:<x@remote.net>")
		c.cmd(250, "RCPT TO:<alice@example.org>")
		// go-smtp discards an oversized chunk through its line-length
		// limit, so the chunk has lines.
		line := strings.Repeat("x", 98) + "\r\n"
		chunk := strings.Repeat(line, int(h.cfg.MaxMessageBytes)/len(line)+1)
		c.send(fmt.Sprintf("BDAT %d LAST\r\n", len(chunk)) + chunk)
		if msg := c.expect(552); !strings.HasPrefix(msg, "5.3.4") {
			t.Errorf("BDAT over: %q", msg)
		}
	})
	t.Run("line length", func(t *testing.T) {
		c := dialRaw(t, h.mxAddr)
		c.cmd(250, "EHLO client.example")
		c.cmd(250, "MAIL FROM:<x@remote.net>")
		c.cmd(250, "RCPT TO:<alice@example.org>")
		c.cmd(354, "DATA")
		c.send("Subject: long\r\n\r\n" + strings.Repeat("y", 3000) + "\r\n.\r\n")
		if got, msg, _ := c.reply(); got/100 != 5 {
			t.Errorf("long line: %d %s", got, msg)
		}
	})
	if n := len(h.inbox("alice@example.org")); n != 0 {
		t.Errorf("alice has %d messages", n)
	}
	t.Run("errors", func(t *testing.T) {
		c := dialRaw(t, h.mxAddr)
		c.cmd(250, "EHLO client.example")
		c.cmd(250, "MAIL FROM:<x@remote.net>")
		for range h.cfg.MaxErrors - 1 {
			c.cmd(550, "RCPT TO:<nobody@example.org>")
		}
		if msg := c.cmd(421, "RCPT TO:<nobody@example.org>"); !strings.HasPrefix(msg, "4.7.0") {
			t.Errorf("last error: %q", msg)
		}
		c.expectClosed()
	})
}

func TestSmuggling(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct{ name, data string }{
		{"LF.CRLF", "Subject: a\r\n\r\nfirst\n.\r\nMAIL FROM:<evil@remote.net>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n"},
		{"CRLF.LF", "Subject: a\r\n\r\nfirst\r\n.\nMAIL FROM:<evil@remote.net>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n"},
		{"bare CR", "Subject: a\r\n\r\nfirst\r.\rMAIL FROM:<evil@remote.net>\r\n.\r\n"},
		{"bare LF in header", "Subject: a\nX: b\r\n\r\nbody\r\n.\r\n"},
		// go-smtp's data reader does not end the data at CR CRLF.CRLF, so
		// the client ends it once more.
		{"CR CRLF", "Subject: a\r\n\r\nbody\r\r\n.\r\nMAIL FROM:<evil@remote.net>\r\n\r\n.\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, h.mxAddr)
			c.cmd(250, "EHLO client.example")
			c.cmd(250, "MAIL FROM:<x@remote.net>")
			c.cmd(250, "RCPT TO:<alice@example.org>")
			c.cmd(354, "DATA")
			c.send(tc.data)
			if msg := c.expect(550); !strings.HasPrefix(msg, "5.6.0") || !strings.Contains(msg, "RFC 5321") {
				t.Errorf("reply %q", msg)
			}
			c.cmd(250, "NOOP") // nothing smuggled runs after the data
		})
	}
	t.Run("BDAT", func(t *testing.T) {
		c := dialRaw(t, h.mxAddr)
		c.cmd(250, "EHLO client.example")
		c.cmd(250, "MAIL FROM:<x@remote.net>")
		c.cmd(250, "RCPT TO:<alice@example.org>")
		chunk := "Subject: a\r\n\r\nbare\nLF\r\n"
		c.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(chunk), chunk))
		if msg := c.expect(550); !strings.HasPrefix(msg, "5.6.0") {
			t.Errorf("reply %q", msg)
		}
	})
	if a, b := len(h.inbox("alice@example.org")), len(h.inbox("bob@example.org")); a != 0 || b != 0 {
		t.Errorf("stored: alice %d bob %d", a, b)
	}
}

func TestBDAT(t *testing.T) {
	h := newHarness(t)
	c := dialRaw(t, h.mxAddr)
	c.cmd(250, "EHLO client.example")
	// Pipelined envelope (RFC 2920), then three chunks (RFC 3030).
	c.send("MAIL FROM:<x@remote.net>\r\nRCPT TO:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\n")
	c.expect(250)
	c.expect(250)
	c.expect(250)
	chunks := []string{"Subject: chunked\r\n", "\r\nline one\r\n.leading dot stays\r\n", "last\r\n"}
	for i, ch := range chunks {
		last := ""
		if i == len(chunks)-1 {
			last = " LAST"
		}
		c.send(fmt.Sprintf("BDAT %d%s\r\n%s", len(ch), last, ch))
		c.expect(250)
	}
	want := strings.Join(chunks, "")
	for _, rcpt := range []string{"alice@example.org", "bob@example.org"} {
		msgs := h.inbox(rcpt)
		if len(msgs) != 1 {
			t.Fatalf("%s has %d messages", rcpt, len(msgs))
		}
		_, rcv, _ := parsePrefix(t, splitPrefix(t, msgs[0], want))
		if rcv[9] != "" {
			t.Errorf("for clause with two recipients: %q", rcv[0])
		}
	}
}

func TestPipelinedTransactions(t *testing.T) {
	h := newHarness(t)
	c := dialRaw(t, h.mxAddr)
	c.cmd(250, "EHLO client.example")
	c.send("MAIL FROM:<x@remote.net>\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
	c.expect(250)
	c.expect(550)
	c.expect(250)
	c.expect(354)
	c.send("Subject: one\r\n\r\n..dot-stuffed\r\n.\r\n")
	c.expect(250)
	msgs := h.inbox("alice@example.org")
	if len(msgs) != 1 {
		t.Fatalf("alice has %d messages", len(msgs))
	}
	splitPrefix(t, msgs[0], "Subject: one\r\n\r\n.dot-stuffed\r\n")
}

func TestConcurrentSenders(t *testing.T) {
	h := newHarness(t)
	const senders = 50
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for i := range senders {
		wg.Go(func() {
			c, err := h.dialSMTPErr(h.mxAddr, plain)
			if err != nil {
				errs <- fmt.Errorf("sender %d: %w", i, err)
				return
			}
			body := fmt.Sprintf("From: s%d@remote.net\r\nSubject: message %d\r\nMessage-ID: <%d@remote.net>\r\n\r\nbody %d\r\n", i, i, i, i)
			if err := send(c, fmt.Sprintf("s%d@remote.net", i), []string{"alice@example.org"}, body); err != nil {
				errs <- fmt.Errorf("sender %d: %w", i, err)
			}
			c.Quit()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	msgs := h.inbox("alice@example.org")
	if len(msgs) != senders {
		t.Fatalf("alice has %d messages; want %d", len(msgs), senders)
	}
	seen := map[string]bool{}
	idRE := regexp.MustCompile(`Message-ID: <(\d+)@remote\.net>`)
	for _, m := range msgs {
		id := idRE.FindSubmatch(m)
		if id == nil || seen[string(id[1])] {
			t.Fatalf("missing or duplicate message: %q", m)
		}
		seen[string(id[1])] = true
	}
}

func TestPerIPLimit(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Limits.MaxConnsPerIP = 2 })
	a := dialRaw(t, h.mxAddr)
	dialRaw(t, h.mxAddr)
	conn, err := netDial(h.mxAddr)
	if err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, conn: conn, text: textproto.NewConn(conn)}
	defer conn.Close()
	if got, msg, _ := c.reply(); got != 421 || msg != "4.7.0 Too many connections from your address" {
		t.Fatalf("third connection: %d %q", got, msg)
	}
	c.expectClosed()
	a.cmd(221, "QUIT")
	waitFor(t, "release of a slot", func() bool { return h.mx.connCount(loopback) < 2 })
	dialRaw(t, h.mxAddr).cmd(250, "EHLO client.example")
}

func TestShutdown(t *testing.T) {
	h := newHarness(t)
	busy := dialRaw(t, h.mxAddr)
	busy.cmd(250, "EHLO client.example")
	busy.cmd(250, "MAIL FROM:<x@remote.net>")
	busy.cmd(250, "RCPT TO:<alice@example.org>")
	busy.cmd(354, "DATA")
	busy.send("Subject: in flight\r\n\r\nfirst half\r\n")
	idle := dialRaw(t, h.mxAddr)
	idle.cmd(250, "EHLO client.example")
	waitFor(t, "both connections tracked", func() bool { return h.mx.connCount(loopback) == 2 })

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- h.mx.Shutdown(ctx)
	}()
	if msg := idle.expect(421); !strings.HasPrefix(msg, "4.3.2") {
		t.Errorf("idle session: %q", msg)
	}
	idle.expectClosed()
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned before the transaction ended: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	busy.send("second half\r\n.\r\n")
	busy.expect(250)
	if msg := busy.expect(421); !strings.HasPrefix(msg, "4.3.2") {
		t.Errorf("after the transaction: %q", msg)
	}
	busy.expectClosed()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if msgs := h.inbox("alice@example.org"); len(msgs) != 1 {
		t.Fatalf("alice has %d messages", len(msgs))
	}
	// New connections are refused.
	if c, err := netDial(h.mxAddr); err == nil {
		c.Close()
		t.Error("still accepting after Shutdown")
	}
}

func TestShutdownTimeout(t *testing.T) {
	h := newHarness(t)
	busy := dialRaw(t, h.mxAddr)
	busy.cmd(250, "EHLO client.example")
	busy.cmd(250, "MAIL FROM:<x@remote.net>")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := h.mx.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown = %v; want DeadlineExceeded", err)
	}
	busy.expectClosed()
}

func TestLogs(t *testing.T) {
	h := newHarness(t)
	c := h.dialSMTP(h.subAddr, startTLS)
	if err := c.Auth(smtp.PlainAuth("", "alice@example.org", alicePass, "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	body := "From: alice@example.org\r\nSubject: logged\r\nMessage-ID: <logged@example.org>\r\n\r\nx\r\n"
	if err := send(c, "alice@example.org", []string{"bob@example.org", "nobody@example.org"}, body); code(err) != 550 {
		t.Fatalf("send: %v", err)
	}
	c.Reset()
	if err := send(c, "alice@example.org", []string{"bob@example.org"}, body); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	waitFor(t, "connection closed line", func() bool { return strings.Contains(h.logs.String(), "connection closed") })
	logs := h.logs.String()
	for _, want := range []string{"msg=\"connection accepted\"", "msg=rejected", "reason=\"no such user\"", "result=delivered",
		"message_id=<logged@example.org>", "msg=authenticated"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	for _, line := range readAllLines(logs) {
		if strings.Contains(line, "service=smtp-") && !strings.Contains(line, " conn=") && !strings.Contains(line, "msg=\"smtp: ") {
			t.Errorf("log line without conn id: %s", line)
		}
	}
	if strings.Contains(logs, alicePass) || strings.Contains(logs, b64("\x00alice@example.org\x00"+alicePass)) {
		t.Error("password in the log")
	}
}

func netDial(addr string) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, 2*time.Second)
}

// TestMaxConns: a session in a transaction keeps its slot; when every slot
// is held so, a new connection is refused.
func TestMaxConns(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Limits.MaxConns = 1 })
	busy := dialRaw(t, h.mxAddr)
	busy.cmd(250, "EHLO client.example")
	busy.cmd(250, "MAIL FROM:<x@remote.net>")
	conn, err := netDial(h.mxAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &rawClient{t: t, conn: conn, text: textproto.NewConn(conn)}
	if got, msg, _ := c.reply(); got != 421 || !strings.HasPrefix(msg, "4.7.0") {
		t.Fatalf("second connection: %d %q", got, msg)
	}
	c.expectClosed()
	busy.cmd(250, "RCPT TO:<alice@example.org>")
}

func TestDataTimeout(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.DataTimeout = 300 * time.Millisecond })
	c := dialRaw(t, h.mxAddr)
	c.cmd(250, "EHLO client.example")
	c.cmd(250, "MAIL FROM:<x@remote.net>")
	c.cmd(250, "RCPT TO:<alice@example.org>")
	c.cmd(354, "DATA")
	c.send("Subject: slow\r\n\r\nand then nothing")
	if msg := c.expect(421); !strings.HasPrefix(msg, "4.4.2") {
		t.Errorf("data timeout: %q", msg)
	}
	c.expectClosed()
	if n := len(h.inbox("alice@example.org")); n != 0 {
		t.Errorf("alice has %d messages", n)
	}
}

func TestServeAfterShutdown(t *testing.T) {
	h := newHarness(t)
	s := New(ModeMX, h.cfg, h.st, nil, nil, nil, nil)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		l.Close()
		t.Fatal("Serve after Shutdown did not return")
	}
}

func TestAuthErrors(t *testing.T) {
	h := newHarness(t)
	c := dialRawTLS(t, h.subTLSAddr, h.clientTLS)
	c.cmd(250, "EHLO client.example")
	if msg := c.cmd(501, "AUTH PLAIN %s", b64("no separators")); !strings.HasPrefix(msg, "5.5.2") {
		t.Errorf("malformed PLAIN: %q", msg)
	}
	if msg := c.cmd(504, "AUTH CRAM-MD5"); !strings.HasPrefix(msg, "5.5.4") {
		t.Errorf("unknown mechanism: %q", msg)
	}

	// A throttle that locks out after two failures.
	th := auth.NewThrottle(auth.ThrottleConfig{Window: time.Minute, BaseDelay: time.Millisecond,
		MaxDelay: time.Millisecond, MaxFailures: 2, Lockout: time.Minute})
	s := New(ModeSubmission, h.cfg, h.st, deliver.NewRouter(h.st), auth.NewAuthenticator(h.st, th, nil), h.sub.tls, nil)
	addr := h.serve(s, nil)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	c = dialRaw(t, addr)
	c.cmd(250, "EHLO client.example")
	c.startTLS(h.clientTLS)
	c.cmd(250, "EHLO client.example")
	c.cmd(535, "AUTH PLAIN %s", b64("\x00alice@example.org\x00wrong"))
	c.cmd(535, "AUTH PLAIN %s", b64("\x00alice@example.org\x00wrong again"))
	if msg := c.authPlain("alice@example.org", alicePass, 454); !strings.HasPrefix(msg, "4.7.0") {
		t.Errorf("throttled: %q", msg)
	}
}

func TestInternalError(t *testing.T) {
	h := newHarness(t)
	c := dialRaw(t, h.mxAddr)
	c.cmd(250, "EHLO client.example")
	c.cmd(250, "MAIL FROM:<x@remote.net>")
	h.st.Close()
	msg := c.cmd(451, "RCPT TO:<alice@example.org>")
	if msg != "4.3.0 Internal server error, try again later" {
		t.Errorf("reply %q", msg)
	}
	if !strings.Contains(h.logs.String(), `level=ERROR msg="resolving recipient"`) {
		t.Errorf("no error logged:\n%s", h.logs.String())
	}
}
