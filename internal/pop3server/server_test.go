package pop3server

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xdg-go/scram"

	"postel/internal/store"
)

func TestLineLength(t *testing.T) {
	h := newHarness(t)
	// Longer than RFC 2449's 255 octets but within our 512: served.
	r := h.dial()
	r.expect("USER "+strings.Repeat("u", 300)+"@example.org", "+OK ")
	r.expect("QUIT", "+OK ")
	r.closed()

	// Beyond 512 octets: refused, and the connection closed, since the
	// rest of the line cannot be trusted.
	for _, n := range []int{507, 10000} {
		r = h.dial()
		r.send("NOOP " + strings.Repeat("x", n))
		if l := r.line(); l != "-ERR Line too long" {
			t.Fatalf("%d-octet line: got %q", n+7, l)
		}
		r.closed()
	}

	// A SASL response line is bounded by maxSASLLine.
	r = h.dial()
	r.expect("AUTH PLAIN", "+ ")
	r.send(strings.Repeat("A", maxSASLLine))
	if l := r.line(); l != "-ERR Line too long" {
		t.Fatalf("long SASL response: got %q", l)
	}
	r.closed()
}

// TestTimeouts: a client that does not log in within UnauthTimeout, or
// stays silent for IdleTimeout after logging in, is closed without a word;
// activity keeps a session open. No check here measures how long anything
// took: the timeouts are shown by the closes and the log lines.
func TestTimeouts(t *testing.T) {
	const idle = 1500 * time.Millisecond
	h := newHarness(t, func(c *Config) {
		c.IdleTimeout = idle
		c.Limits.UnauthTimeout = time.Second
	})
	h.put(h.alice, "", "Subject: a\r\n\r\nx\r\n")

	// Not logged in within UnauthTimeout: closed, without a word.
	r := h.dial()
	r.closed()
	h.waitLog(`msg="session timed out"`, "limit=unauth_timeout")

	// Logged in: commands a tenth of IdleTimeout apart, for twice
	// IdleTimeout in all, keep the session (each restarts the timer).
	r = h.login()
	r.expect("DELE 1", "+OK ")
	for end := time.Now().Add(2 * idle); time.Now().Before(end); {
		time.Sleep(idle / 10)
		r.expect("NOOP", "+OK")
	}
	// Then silent: RFC 1939 §3 autologout, no response, and no UPDATE
	// state: the message marked deleted stays.
	r.closed()
	h.waitLog(`msg="session timed out"`, "limit=idle_timeout")
	if _, msgs := h.inbox(h.alice); len(msgs) != 1 {
		t.Fatalf("INBOX holds %d messages after a timeout; want 1", len(msgs))
	}
}

func TestHTTPCloses(t *testing.T) {
	h := newHarness(t)
	for _, req := range []string{"GET / HTTP/1.1", "POST /form HTTP/1.0", "options * HTTP/1.1"} {
		r := h.dial()
		r.send(req)
		r.closed()
	}
}

// TestSTLSInjection: commands sent with STLS, before the TLS negotiation,
// are dropped (CVE-2011-0411) rather than run over TLS.
func TestSTLSInjection(t *testing.T) {
	h := newHarness(t)
	r := h.dial()
	r.send("STLS\r\nUSER mallory@example.org\r\nPASS x")
	if l := r.line(); l != "+OK Begin TLS negotiation now" {
		t.Fatalf("STLS: %q", l)
	}
	tc := tls.Client(r.c, h.clientTLS)
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	r = &raw{t: t, c: tc, br: bufio.NewReader(tc)}
	// Had the USER been kept, PASS would be tried; it must be refused.
	r.expect("PASS "+alicePass, "-ERR Send USER first")
	if !strings.Contains(h.logs.String(), "input pipelined after STLS discarded") {
		t.Fatal("the discarded input was not logged")
	}
}

// TestPipelining: commands sent in one write are answered in order
// (RFC 2449 §6.6).
func TestPipelining(t *testing.T) {
	h := newHarness(t)
	h.put(h.alice, "", "Subject: a\r\n\r\nx\r\n")
	r := h.dial()
	r.send("USER alice@example.org\r\nPASS " + alicePass + "\r\nSTAT\r\nLIST\r\nUIDL 1\r\nRETR 1\r\nNOOP\r\nQUIT")
	mb, _ := h.inbox(h.alice)
	want := []string{
		"+OK Send your password", "+OK Maildrop locked and ready, 1 messages (17 octets)",
		"+OK 1 17", "+OK 1 messages (17 octets)", "1 17", ".",
		"+OK 1 " + uidl(mb.UIDValidity, 1), "+OK 17 octets", "Subject: a", "", "x", ".", "+OK",
		"+OK pop.example.org Postel POP3 server signing off (1 messages left)",
	}
	for _, w := range want {
		if l := r.line(); l != w {
			t.Fatalf("got %q, want %q", l, w)
		}
	}
	r.closed()
}

func uidl(uidValidity, uid uint32) string {
	return strconv.FormatUint(uint64(uidValidity), 10) + "." + strconv.FormatUint(uint64(uid), 10)
}

// TestSCRAM logs in with SCRAM-SHA-256 (RFC 7677) over implicit TLS, with
// an initial response; the server-final-message comes as a challenge
// answered by an empty line.
func TestSCRAM(t *testing.T) {
	h := newHarness(t)
	for _, password := range []string{alicePass, "wrong"} {
		client, err := scram.SHA256.NewClient("alice@example.org", password, "")
		if err != nil {
			t.Fatal(err)
		}
		conv := client.NewConversation()
		r := h.connect(h.tlsAddr, h.clientTLS)
		r.line()
		first, _ := conv.Step("")
		l := r.expect("AUTH SCRAM-SHA-256 "+base64.StdEncoding.EncodeToString([]byte(first)), "+ ")
		serverFirst, err := base64.StdEncoding.DecodeString(l[2:])
		if err != nil {
			t.Fatal(err)
		}
		final, err := conv.Step(string(serverFirst))
		if err != nil {
			t.Fatal(err)
		}
		l = r.expect(base64.StdEncoding.EncodeToString([]byte(final)), "")
		if password != alicePass {
			if l != "-ERR [AUTH] Authentication failed" {
				t.Fatalf("wrong password: %q", l)
			}
			continue
		}
		serverFinal, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(l, "+ "))
		if err != nil || !strings.HasPrefix(l, "+ ") {
			t.Fatalf("server-final: %q", l)
		}
		if _, err := conv.Step(string(serverFinal)); err != nil || !conv.Valid() {
			t.Fatalf("server signature not valid: %v", err)
		}
		r.expect("", "+OK Maildrop locked and ready")
		r.expect("QUIT", "+OK")
	}
}

func TestConnectionLimits(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Limits.MaxConnsPerIP = 2 })
	a, b := h.dial(), h.dial()
	r := h.connect(h.addr, nil)
	if l := r.line(); l != "-ERR [SYS/TEMP] Too many connections from your address" {
		t.Fatalf("third connection: %q", l)
	}
	r.closed()
	a.expect("QUIT", "+OK")
	a.closed()
	// The slot is free again once the server has released it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r = h.connect(h.addr, nil)
		if l := r.line(); strings.HasPrefix(l, "+OK") {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("no slot after a QUIT: %q", l)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.expect("NOOP", "-ERR Command not valid in this state")
}

// TestShutdown: a session waiting for a command is told and closed, and
// what it marked deleted stays.
func TestShutdown(t *testing.T) {
	h := newHarness(t)
	h.put(h.alice, "", "Subject: a\r\n\r\nx\r\n")
	r := h.login()
	r.expect("DELE 1", "+OK ")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if l := r.line(); l != "-ERR [SYS/TEMP] Server shutting down" {
		t.Fatalf("got %q", l)
	}
	r.closed()
	if _, msgs := h.inbox(h.alice); len(msgs) != 1 {
		t.Fatalf("INBOX holds %d messages after shutdown; want 1", len(msgs))
	}
}

// TestRetrBytes: RETR gives back exactly what the store (and so IMAP's
// BODY[]) serves: prefix and body, with the size it announces; QUIT sets
// \Seen on retrieved messages, not on those only looked at with TOP.
func TestRetrBytes(t *testing.T) {
	h := newHarness(t)
	body := "From: bob@example.org\r\nSubject: bytes\r\n\r\n" +
		".hidden\r\n\r\n.\r\nline with \x80 8-bit and \x00 NUL\r\n" + strings.Repeat("0123456789", 10000) + "\r\nend\r\n"
	d1 := h.put(h.alice, "Return-Path: <bob@example.org>\r\nReceived: from test\r\n", body)
	d2 := h.put(h.alice, "", "Subject: two\r\n\r\nx\r\n")
	want := h.stored(h.alice, d1.UID)

	r := h.login()
	status, got := r.multi("RETR 1")
	if status != "+OK "+strconv.Itoa(len(want))+" octets" {
		t.Fatalf("RETR status %q; want %d octets", status, len(want))
	}
	if unstuff(got) != want {
		t.Fatalf("RETR gave %d octets that differ from the %d stored", len(unstuff(got)), len(want))
	}
	r.multi("TOP 2 1")
	r.expect("QUIT", "+OK")
	r.closed()
	_, msgs := h.inbox(h.alice)
	flags := map[uint32][]string{}
	for _, m := range msgs {
		flags[m.UID] = m.Flags
	}
	if !slices.Contains(flags[d1.UID], store.FlagSeen) || slices.Contains(flags[d2.UID], store.FlagSeen) {
		t.Fatalf("flags after QUIT: %v; want \\Seen on UID %d only", flags, d1.UID)
	}
}

// TestDroppedConnection: a session that ends without QUIT deletes nothing.
func TestDroppedConnection(t *testing.T) {
	h := newHarness(t)
	h.put(h.alice, "", "Subject: a\r\n\r\nx\r\n")
	r := h.login()
	r.expect("DELE 1", "+OK ")
	r.c.Close()
	// The lock goes with the session, which ends the moment it sees its
	// socket closed: a login at once finds the maildrop free (RFC 1939
	// §6), the login waiting for the ending session if need be.
	r = h.dial()
	r.expect("USER alice@example.org", "+OK")
	if l := r.expect("PASS "+alicePass, ""); !strings.HasPrefix(l, "+OK Maildrop locked and ready, 1 messages") {
		t.Fatalf("login right after a dropped connection: %q", l)
	}
	if _, msgs := h.inbox(h.alice); len(msgs) != 1 {
		t.Fatalf("INBOX holds %d messages; want 1", len(msgs))
	}
}

// TestServeAfterShutdown: Serve on a closed server returns at once.
func TestServeAfterShutdown(t *testing.T) {
	h := newHarness(t)
	if err := h.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	l := &closeRecorder{}
	if err := h.srv.Serve(l); err != ErrServerClosed || !l.closed {
		t.Fatalf("Serve after Shutdown = %v (listener closed %v)", err, l.closed)
	}
}

// closeRecorder is a listener that only records Close.
type closeRecorder struct {
	net.Listener
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }
