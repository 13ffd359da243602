package smtpserver

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// trickle writes s n octets at a time, one write every interval, as a
// slowloris client does, until all is written or a write fails.
func trickle(conn net.Conn, s string, n int, every time.Duration) {
	go func() {
		for len(s) > 0 {
			k := min(n, len(s))
			if _, err := conn.Write([]byte(s[:k])); err != nil {
				return
			}
			s = s[k:]
			time.Sleep(every)
		}
	}()
}

// dialRawFrom is dialRaw from a given loopback address (127.0.0.2 and up
// need no set-up on Linux): a distinct source for the per-source limits.
func dialRawFrom(t testing.TB, addr, from string) (*rawClient, error) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, conn: conn, text: textproto.NewConn(conn)}, nil
}

// expectCut reads the server's last reply to a client it cuts: code and
// enhanced code, then the end of the connection, within a margin far
// below the time the client would need to finish.
func (c *rawClient) expectCut(code int, enhanced string) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, msg, err := c.reply()
	if got != code || !strings.HasPrefix(msg, enhanced) {
		c.t.Fatalf("reply %d %q (%v); want %d %s", got, msg, err, code, enhanced)
	}
	c.expectClosed()
}

// waitLog waits for a log line holding every one of parts.
func (h *harness) waitLog(parts ...string) {
	h.t.Helper()
	waitFor(h.t, fmt.Sprintf("a log line with %q", parts), func() bool {
		for _, line := range readAllLines(h.logs.String()) {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				return true
			}
		}
		return false
	})
}

// TestSlowCommandLine: a command line sent at one octet a second is cut
// when its deadline passes, with 421 and a log line naming the limit; no
// part of it is taken for a command. The deadlines are far shorter than
// the lines take.
func TestSlowCommandLine(t *testing.T) {
	for _, tc := range []struct {
		name   string
		adjust func(*Config)
		sub    bool
		tls    bool // STARTTLS first
		before func(c *rawClient)
		line   string
		limit  string
	}{
		{
			name:   "in a transaction, read_timeout",
			adjust: func(c *Config) { c.ReadTimeout = 2 * time.Second },
			before: func(c *rawClient) {
				c.cmd(250, "EHLO client.example")
				c.cmd(250, "MAIL FROM:<x@remote.net>")
			},
			line:  "RCPT TO:<alice@example.org>\r\n",
			limit: "limit=read_timeout",
		},
		{
			name:   "before AUTH on submission, unauth_timeout",
			adjust: func(c *Config) { c.Limits.UnauthTimeout = 2 * time.Second },
			sub:    true,
			line:   "EHLO client.example\r\n",
			limit:  "limit=unauth_timeout",
		},
		{
			name:   "submission over TLS, unauth_timeout",
			adjust: func(c *Config) { c.Limits.UnauthTimeout = 3 * time.Second },
			sub:    true,
			tls:    true,
			line:   "AUTH PLAIN " + b64("\x00alice@example.org\x00"+alicePass) + "\r\n",
			limit:  "limit=unauth_timeout",
		},
		{
			name:   "idle MX outside a transaction, unauth_timeout",
			adjust: func(c *Config) { c.Limits.UnauthTimeout = 2 * time.Second },
			before: func(c *rawClient) { c.cmd(250, "EHLO client.example") },
			line:   "",
			limit:  "limit=unauth_timeout",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.adjust)
			addr := h.mxAddr
			if tc.sub {
				addr = h.subAddr
			}
			c := dialRaw(t, addr)
			if tc.tls {
				c.cmd(250, "EHLO client.example")
				c.startTLS(h.clientTLS)
				c.cmd(250, "EHLO client.example")
			}
			if tc.before != nil {
				tc.before(c)
			}
			trickle(c.conn, tc.line, 1, time.Second)
			c.expectCut(421, "4.4.2")
			h.waitLog(`msg="timed out"`, tc.limit, "remote=127.0.0.1")
			if strings.Contains(h.logs.String(), "msg=rejected") {
				t.Errorf("part of the line was taken for a command:\n%s", h.logs)
			}
		})
	}
}

// TestSlowData: the data of a message is cut when DataTimeout has passed
// since DATA (or the first BDAT), however it comes: at one octet a second,
// or steadily in 4 KiB pieces, so that no read of go-smtp's (32 KiB at a
// time) waits as long as the deadline.
func TestSlowData(t *testing.T) {
	text := "Subject: slow\r\n\r\n" + strings.Repeat(strings.Repeat("x", 78)+"\r\n", 1200) // 96 KiB
	for _, tc := range []struct {
		name  string
		bdat  bool
		chunk int
		every time.Duration
	}{
		{"DATA, an octet a second", false, 1, time.Second},
		{"BDAT, an octet a second", true, 1, time.Second},
		{"DATA, 4 KiB every 300ms", false, 4 << 10, 300 * time.Millisecond},
		{"BDAT, 4 KiB every 300ms", true, 4 << 10, 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) {
				c.DataTimeout = 3 * time.Second
				c.MaxMessageBytes = 1 << 20
			})
			c := dialRaw(t, h.mxAddr)
			c.cmd(250, "EHLO client.example")
			c.cmd(250, "MAIL FROM:<x@remote.net>")
			c.cmd(250, "RCPT TO:<alice@example.org>")
			data := text + ".\r\n"
			if tc.bdat {
				c.send(fmt.Sprintf("BDAT %d LAST\r\n", len(text)))
				data = text
			} else {
				c.cmd(354, "DATA")
			}
			trickle(c.conn, data, tc.chunk, tc.every)
			c.expectCut(421, "4.4.2")
			h.waitLog(`msg="timed out"`, "limit=data_timeout")
			if n := len(h.inbox("alice@example.org")); n != 0 {
				t.Errorf("alice has %d messages", n)
			}
		})
	}
}

// TestDotCR: a line starting ".\r" without LF is a bare CR like any other
// (RFC 5321 §2.3.8), refused with 550 5.6.0; go-smtp's own reader would
// drop it silently from the stored text. Dot-stuffing still works, and
// the data ends at the first CRLF.CRLF.
func TestDotCR(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name, data string
		code       int
		stored     string // the body stored, when 250
	}{ // data without the final ".\r\n"
		{"dot CR then text", "Subject: a\r\n\r\nfirst\r\n.\rhidden\r\n", 550, ""},
		{"dot CR alone", "Subject: a\r\n\r\nfirst\r\n.\r\r\nlast\r\n", 550, ""},
		{"dot CR at the start", ".\rSubject: a\r\n\r\nx\r\n", 550, ""},
		{"CR CRLF then the end", "Subject: a\r\n\r\nbody\r\r\n", 550, ""},
		{"dot-stuffed", "Subject: a\r\n\r\n..two\r\n.one\r\n...\r\n\r\n", 250,
			"Subject: a\r\n\r\n.two\r\none\r\n..\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(h.inbox("alice@example.org"))
			c := dialRaw(t, h.mxAddr)
			c.cmd(250, "EHLO client.example")
			c.cmd(250, "MAIL FROM:<x@remote.net>")
			c.cmd(250, "RCPT TO:<alice@example.org>")
			c.cmd(354, "DATA")
			c.send(tc.data + ".\r\n")
			msg := c.expect(tc.code)
			if tc.code == 550 && (!strings.HasPrefix(msg, "5.6.0") || !strings.Contains(msg, "RFC 5321 §2.3.8")) {
				t.Errorf("reply %q", msg)
			}
			c.cmd(250, "NOOP") // the next command is read from its start
			msgs := h.inbox("alice@example.org")
			switch {
			case tc.code == 550 && len(msgs) != before:
				t.Errorf("stored %d messages, want none: %q", len(msgs)-before, msgs[len(msgs)-1])
			case tc.code == 250 && (len(msgs) != before+1 || !strings.HasSuffix(string(msgs[len(msgs)-1]), "\r\n"+tc.stored)):
				t.Errorf("stored %q, want it to end %q", msgs[len(msgs)-1], tc.stored)
			}
		})
	}
}

// TestDataTooLargeResyncs: past MaxMessageBytes the data is read to its
// end, refused with 552, and the next command works.
func TestDataTooLargeResyncs(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxMessageBytes = 1000 })
	c := dialRaw(t, h.mxAddr)
	c.cmd(250, "EHLO client.example")
	c.cmd(250, "MAIL FROM:<x@remote.net>")
	c.cmd(250, "RCPT TO:<alice@example.org>")
	c.cmd(354, "DATA")
	c.send("Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("y", 70)+"\r\n.NOOP\r\n", 30) + ".\r\n")
	if msg := c.expect(552); !strings.HasPrefix(msg, "5.3.4") {
		t.Errorf("reply %q", msg)
	}
	c.cmd(250, "NOOP")
}

// TestEarlyTalker: on port 25 a client that talks before the greeting is
// dropped with 554 and a log line; a client that waits is greeted. The
// check is off for submission.
func TestEarlyTalker(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Limits.LimitLoopback = true // loopback is spared by default
		c.Limits.GreetDelay = 500 * time.Millisecond
	})
	talker, err := dialRawFrom(t, h.mxAddr, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	talker.send("EHLO spam.example\r\n")
	talker.expectCut(554, "5.5.1")
	h.waitLog(`msg="early talker dropped"`, "limit=pregreet", "remote=127.0.0.1")

	polite := dialRaw(t, h.mxAddr)
	polite.cmd(250, "EHLO client.example")

	// Submission: no wait, and talking first is harmless.
	sub, err := dialRawFrom(t, h.subAddr, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	sub.send("EHLO client.example\r\n")
	sub.expect(220)
	sub.expect(250)
}

// TestEarlyTalkerLoopbackSpared: by default loopback clients are not
// checked.
func TestEarlyTalkerLoopbackSpared(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Limits.GreetDelay = 2 * time.Second })
	c, err := dialRawFrom(t, h.mxAddr, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	c.send("EHLO client.example\r\n")
	c.expect(220)
	c.expect(250)
}

// TestConnRate: past Limits.ConnRate connections a minute from one source,
// 421 4.7.0 and a log line; another source is not affected; an exempt
// network is not limited.
func TestConnRate(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Limits.LimitLoopback = true
		c.Limits.ConnRate = 3
		c.Limits.Exempt = []netip.Prefix{netip.MustParsePrefix("127.0.0.9/32")}
	})
	for range 3 {
		c, err := dialRawFrom(t, h.mxAddr, "127.0.0.2")
		if err != nil {
			t.Fatal(err)
		}
		c.expect(220)
		c.cmd(221, "QUIT")
	}
	c, err := dialRawFrom(t, h.mxAddr, "127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	c.expectCut(421, "4.7.0 Too many connections from your address in the last minute")
	h.waitLog(`msg="connection refused"`, "limit=conn_rate", "remote=127.0.0.2")
	other, err := dialRawFrom(t, h.mxAddr, "127.0.0.3")
	if err != nil {
		t.Fatal(err)
	}
	other.expect(220)
	for range 5 {
		c, err := dialRawFrom(t, h.mxAddr, "127.0.0.9")
		if err != nil {
			t.Fatal(err)
		}
		c.expect(220)
		c.cmd(221, "QUIT")
	}
}

// TestMessageAndRcptRates: on port 25, past Limits.MessageRate MAIL
// commands or Limits.RcptRate RCPT commands a minute from one source, 450
// 4.7.1 and a log line. Submission is not limited so.
func TestMessageAndRcptRates(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Limits.LimitLoopback = true
		c.Limits.GreetDelay = -1
		c.Limits.MessageRate = 2
		c.Limits.RcptRate = 3
		c.MaxErrors = 100
	})
	c := dialRaw(t, h.mxAddr)
	c.cmd(250, "EHLO client.example")
	c.cmd(250, "MAIL FROM:<x@remote.net>")
	c.cmd(250, "RCPT TO:<alice@example.org>")
	c.cmd(250, "RCPT TO:<bob@example.org>")
	c.cmd(550, "RCPT TO:<nobody@example.org>") // counted too
	if msg := c.cmd(450, "RCPT TO:<alice@example.org>"); !strings.HasPrefix(msg, "4.7.1") {
		t.Errorf("RCPT over the rate: %q", msg)
	}
	h.waitLog(`msg=rejected`, "limit=rcpt_rate", "remote=127.0.0.1")
	c.cmd(354, "DATA")
	c.send(simpleBody + ".\r\n")
	c.expect(250)
	c.cmd(250, "MAIL FROM:<x@remote.net>")
	c.cmd(250, "RSET")
	if msg := c.cmd(450, "MAIL FROM:<x@remote.net>"); !strings.HasPrefix(msg, "4.7.1") {
		t.Errorf("MAIL over the rate: %q", msg)
	}
	h.waitLog(`msg=rejected`, "limit=message_rate", "remote=127.0.0.1")
	if n := len(h.inbox("alice@example.org")); n != 1 {
		t.Errorf("alice has %d messages", n)
	}
}

// TestEvictionSMTP: when the unauthenticated budget is full, a new
// connection evicts the oldest idle one outside a transaction (421 4.7.0
// and a log line); connections in a transaction or after AUTH keep their
// slots; a transaction's end puts an MX connection back in the budget.
func TestEvictionSMTP(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Limits.MaxUnauth = 2 })
	inTx := dialRaw(t, h.mxAddr)
	inTx.cmd(250, "EHLO client.example")
	inTx.cmd(250, "MAIL FROM:<x@remote.net>")
	authed := dialRaw(t, h.subAddr)
	authed.cmd(250, "EHLO client.example")
	authed.startTLS(h.clientTLS)
	authed.cmd(250, "EHLO client.example")
	authed.authPlain("alice@example.org", alicePass, 235)

	oldest := dialRaw(t, h.mxAddr) // over TLS: the 421 is written from inside its read
	oldest.cmd(250, "EHLO client.example")
	oldest.startTLS(h.clientTLS)
	oldest.cmd(250, "EHLO client.example")
	newer := dialRaw(t, h.mxAddr)
	newer.cmd(250, "EHLO client.example")
	// Both wait for their next command (the server is done with the last).
	waitFor(t, "two idle connections in the budget", func() bool {
		return h.mx.admission.Unauthenticated() == 2 && h.mx.admission.Idle() == 2
	})
	newest := dialRaw(t, h.mxAddr)
	oldest.expectCut(421, "4.7.0 Too many connections, closing this idle one")
	h.waitLog(`msg="connection dropped"`, "limit=max_unauth", "remote=127.0.0.1")
	newer.cmd(250, "NOOP")
	newest.cmd(250, "EHLO client.example")
	inTx.cmd(250, "RCPT TO:<alice@example.org>")
	authed.cmd(250, "NOOP")

	// The transaction ends: inTx is back in the budget, as its newest, so
	// the next connection evicts newer.
	inTx.cmd(250, "RSET")
	waitFor(t, "three idle connections in the budget", func() bool {
		return h.mx.admission.Unauthenticated() == 3 && h.mx.admission.Idle() == 3
	})
	dialRaw(t, h.mxAddr)
	newer.expectCut(421, "4.7.0")
	inTx.cmd(250, "NOOP")
}

// TestExhaustionSMTP: many idle connections from many sources, far more
// than the total allows, cannot keep a real sender out: each new one
// evicts the oldest idle one, and a delivery goes through.
func TestExhaustionSMTP(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Limits.MaxConns = 60
		c.Limits.MaxConnsPerIP = 10
	})
	var conns []net.Conn
	for i := range 200 {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(2+i%40))}}
		c, err := d.Dial("tcp", h.mxAddr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// The budget (by default half the total) holds the newest 30.
	waitFor(t, "the budget full", func() bool {
		return h.mx.admission.Unauthenticated() == 30 && h.mx.admission.Total() == 30
	})
	c := dialRaw(t, h.mxAddr)
	c.cmd(250, "EHLO client.example")
	c.cmd(250, "MAIL FROM:<x@remote.net>")
	c.cmd(250, "RCPT TO:<alice@example.org>")
	c.cmd(354, "DATA")
	c.send(simpleBody + ".\r\n")
	c.expect(250)
	if n := len(h.inbox("alice@example.org")); n != 1 {
		t.Fatalf("alice has %d messages", n)
	}
	// Every idle connection beyond the budget was told 421 and closed.
	evicted := 0
	for _, c := range conns[:100] {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		if strings.Contains(string(b), "421 4.7.0 Too many connections, closing this idle one") {
			evicted++
		}
	}
	if evicted != 100 {
		t.Errorf("%d of the 100 oldest idle connections were evicted", evicted)
	}
}
