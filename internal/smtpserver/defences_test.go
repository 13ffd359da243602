package smtpserver

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// headerNames lists the field names of a stored message's header block,
// in order, and fails on a line that is neither a field nor a folded
// continuation, or on a bare CR or LF in it.
func headerNames(t *testing.T, stored []byte) []string {
	t.Helper()
	hdr, _, ok := bytes.Cut(stored, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("no header block in %q", stored)
	}
	if n := bytes.Count(hdr, []byte("\r\n")); bytes.Count(hdr, []byte("\r")) != n || bytes.Count(hdr, []byte("\n")) != n {
		t.Fatalf("bare CR or LF in the stored header %q", hdr)
	}
	var names []string
	for _, line := range strings.Split(string(hdr), "\r\n") {
		if strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
			continue
		}
		name, _, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			t.Fatalf("stored header line %q is no field", line)
		}
		names = append(names, name)
	}
	return names
}

// TestReceivedInjection: what the client names itself (EHLO) and its
// envelope sender (MAIL FROM) go into the fields the server adds before the
// message. A CR, parentheses, a semicolon, quotes or a backslash in them
// cannot add a header field, end the Received clause early or open a
// comment in it (cleanHelo, clean): the stored bytes show the client's
// name as one harmless token and the sender without control characters.
func TestReceivedInjection(t *testing.T) {
	h := newHarness(t)
	// go-smtp ends a line at LF only: the CR stays in the argument. The
	// EHLO name runs to the first space.
	const helo = "evil(x)\";\\y\rX-Injected:"
	const cleaned = "evil_x____y_X-Injected:"
	const from = "\"a)\r;(b\"@remote.net"
	const body = "Subject: injected?\r\n\r\nbody\r\n"
	for _, c := range []struct {
		name       string
		submission bool
	}{{"MX", false}, {"submission", true}} {
		t.Run(c.name, func(t *testing.T) {
			var s *rawClient
			sender := from
			if c.submission {
				s = dialRawTLS(t, h.subTLSAddr, h.clientTLS)
				s.cmd(250, "EHLO %s trailing words", helo)
				s.authPlain("alice@example.org", alicePass, 235)
				sender = "alice@example.org"
			} else {
				s = dialRaw(t, h.mxAddr)
				s.cmd(250, "EHLO %s trailing words", helo)
			}
			before := len(h.inbox("bob@example.org"))
			s.cmd(250, "MAIL FROM:<%s>", sender)
			s.cmd(250, "RCPT TO:<bob@example.org>")
			s.cmd(354, "DATA")
			s.send(body + ".\r\n")
			s.expect(250)
			msgs := h.inbox("bob@example.org")
			if len(msgs) != before+1 {
				t.Fatalf("bob has %d messages; want %d", len(msgs), before+1)
			}
			stored := msgs[len(msgs)-1]
			names := headerNames(t, stored)
			want := []string{"Return-Path", "Received", "Subject"}
			if c.submission {
				want = []string{"Return-Path", "Received", "From", "Message-ID", "Date", "Subject"}
			}
			if fmt.Sprint(names) != fmt.Sprint(want) {
				t.Fatalf("header fields %q; want %q in\n%s", names, want, stored)
			}
			prefix := splitPrefix(t, stored, body)
			rp, rcv, _ := parsePrefixFrom(t, prefix, cleaned)
			if rcv[9] != "bob@example.org" {
				t.Errorf("Received for <%s>", rcv[9])
			}
			if received := rcv[0]; strings.Count(received, ";") != 1 || strings.Count(received, "(") != strings.Count(received, ")") {
				t.Errorf("the Received clause was broken into: %q", received)
			}
			// The Return-Path is one line (headerNames), with no control
			// character left in it.
			if strings.ContainsFunc(rp, func(r rune) bool { return r < 0x20 || r == 0x7f }) || !strings.HasSuffix(rp, "@"+strings.SplitN(sender, "@", 2)[1]) {
				t.Errorf("Return-Path <%q> for sender %q", rp, sender)
			}
		})
	}
}

// TestSubmissionHeaderRefusals: submission refuses a message whose header
// block it cannot check (too large, or not header fields), and stores
// nothing; the MX, which has no From to check, takes the same messages.
func TestSubmissionHeaderRefusals(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxMessageBytes = 2 << 20 })
	var large strings.Builder
	large.WriteString("From: alice@example.org\r\n")
	for i := 0; large.Len() <= maxHeaderBytes; i++ {
		fmt.Fprintf(&large, "X-Filler-%d: %s\r\n", i, strings.Repeat("x", 200))
	}
	large.WriteString("Subject: large\r\n\r\nbody\r\n")
	for _, c := range []struct {
		name, msg string
		code      int
		reply     string
	}{
		{"too large", large.String(), 552, "5.3.4 Message header too large"},
		{"not a field", "From: alice@example.org\r\nthis line is no header field\r\nSubject: x\r\n\r\nbody\r\n", 550, "5.6.0 Malformed message header"},
		{"continuation first", " folded before any field\r\nFrom: alice@example.org\r\n\r\nbody\r\n", 550, "5.6.0 Malformed message header"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(h.inbox("bob@example.org"))
			s := dialRawTLS(t, h.subTLSAddr, h.clientTLS)
			s.cmd(250, "EHLO client.example")
			s.authPlain("alice@example.org", alicePass, 235)
			s.cmd(250, "MAIL FROM:<alice@example.org>")
			s.cmd(250, "RCPT TO:<bob@example.org>")
			s.cmd(354, "DATA")
			s.send(c.msg + ".\r\n")
			if got := s.expect(c.code); got != c.reply {
				t.Errorf("submission: %d %q; want %q", c.code, got, c.reply)
			}
			s.cmd(250, "NOOP") // the session goes on
			if n := len(h.inbox("bob@example.org")); n != before {
				t.Fatalf("submission stored a refused message: %d messages, had %d", n, before)
			}

			m := dialRaw(t, h.mxAddr)
			m.cmd(250, "EHLO client.example")
			m.cmd(250, "MAIL FROM:<someone@remote.net>")
			m.cmd(250, "RCPT TO:<bob@example.org>")
			m.cmd(354, "DATA")
			m.send(c.msg + ".\r\n")
			m.expect(250)
			if msgs := h.inbox("bob@example.org"); len(msgs) != before+1 || !bytes.HasSuffix(msgs[before], []byte(c.msg)) {
				t.Fatalf("the MX did not store the message as sent: %d messages", len(msgs))
			}
		})
	}
}
