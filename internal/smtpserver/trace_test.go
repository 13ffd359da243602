package smtpserver

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"postel/internal/metrics"
	"postel/internal/testutil/scrape"
	"postel/internal/trace"
)

// TestSMTPRedactor: AUTH's initial response and exchange and the message
// data never show; everything else does, and a refused DATA or AUTH
// leaves the dialogue readable.
func TestSMTPRedactor(t *testing.T) {
	type step struct {
		server bool
		line   string
		want   string // "" for nothing shown
		skip   int64
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"AUTH PLAIN with initial response", []step{
			{false, "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "AUTH PLAIN ***", 0},
			{true, "235 2.7.0 Authentication succeeded", "235 2.7.0 Authentication succeeded", 0},
			{false, "MAIL FROM:<a@example.org>", "MAIL FROM:<a@example.org>", 0},
		}},
		{"AUTH LOGIN exchange, lines pipelined before the challenges", []step{
			{false, "auth login", "auth login", 0},
			{false, "YWxpY2U=", "***", 0},
			{false, "c2VjcmV0", "***", 0},
			{true, "334 VXNlcm5hbWU6", "334 VXNlcm5hbWU6", 0},
			{true, "334 UGFzc3dvcmQ6", "334 UGFzc3dvcmQ6", 0},
			{true, "535 5.7.8 Authentication credentials invalid", "535 5.7.8 Authentication credentials invalid", 0},
			{false, "QUIT", "QUIT", 0},
		}},
		{"AUTH cancelled", []step{
			{false, "AUTH LOGIN", "AUTH LOGIN", 0},
			{true, "334 VXNlcm5hbWU6", "334 VXNlcm5hbWU6", 0},
			{false, "*", "*", 0},
			{true, "501 5.0.0 Negotiation cancelled", "501 5.0.0 Negotiation cancelled", 0},
			{false, "NOOP", "NOOP", 0},
		}},
		{"DATA", []step{
			{false, "DATA", "DATA", 0},
			{true, "354 2.0.0 Go ahead", "354 2.0.0 Go ahead", 0},
			{false, "Subject: secret plans", "", 0},
			{false, "", "", 0},
			{false, "..the body", "", 0},
			{false, ".", "[message data: 37 octets] .", 0},
			{true, "250 2.0.0 Ok: queued as x.1", "250 2.0.0 Ok: queued as x.1", 0},
			{false, "QUIT", "QUIT", 0},
		}},
		{"DATA refused", []step{
			{false, "DATA", "DATA", 0},
			{true, "554 5.5.1 Error: no valid recipients", "554 5.5.1 Error: no valid recipients", 0},
			{false, "RSET", "RSET", 0},
		}},
		{"DATA refused after lines sent early: they stay hidden", []step{
			{false, "DATA", "DATA", 0},
			{false, "Subject: pipelined too early", "", 0},
			{true, "554 5.5.1 Error: no valid recipients", "554 5.5.1 Error: no valid recipients", 0},
			{false, "more body", "", 0},
			{false, ".", "[message data: 41 octets] .", 0},
		}},
		{"BDAT", []step{
			{false, "BDAT 12 LAST", "BDAT 12 LAST", 12},
			{true, "250 2.0.0 Ok: queued as x.2", "250 2.0.0 Ok: queued as x.2", 0},
			{false, "BDAT x", "BDAT x", 0},
		}},
	}
	for _, tc := range tests {
		r := newSMTPRedactor()
		for i, s := range tc.steps {
			f := r.Client
			if s.server {
				f = r.Server
			}
			got, skip := f([]byte(s.line))
			if got != s.want || skip != s.skip {
				t.Errorf("%s, step %d (%q): shown %q skip %d, want %q skip %d", tc.name, i, s.line, got, skip, s.want, s.skip)
			}
		}
	}
}

// TestTrace: on real sockets, a trace of alice's account shows her whole
// submission session, its start before AUTH and STARTTLS included, with
// AUTH's credentials and the message data left out; a trace of another
// account shows nothing. The mail log and the metrics count the session's
// outcomes.
func TestTrace(t *testing.T) {
	hub := trace.NewHub()
	m := metrics.New()
	h := newHarness(t, func(c *Config) { c.Trace, c.Metrics = hub, m })
	sub := hub.Subscribe(trace.Filter{Accounts: []string{"alice@example.org"}}, 1000)
	other := hub.Subscribe(trace.Filter{Accounts: []string{"bob@example.org"}, Nets: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}, 1000)
	const bodyMark = "the-body-nobody-may-see"

	c := dialRaw(t, h.subAddr)
	c.cmd(250, "EHLO client.example")
	c.startTLS(h.clientTLS)
	c.cmd(250, "EHLO client.example")
	c.authPlain("alice@example.org", alicePass, 235)
	c.cmd(250, "MAIL FROM:<alice@example.org>")
	c.cmd(250, "RCPT TO:<bob@example.org>")
	c.cmd(250, "RCPT TO:<carol@example.net>")
	c.cmd(354, "DATA")
	c.send("From: alice@example.org\r\nSubject: hi\r\n\r\n" + bodyMark + "\r\n.\r\n")
	queued := c.expect(250)
	c.cmd(250, "MAIL FROM:<alice@example.org>")
	c.cmd(550, "RCPT TO:<nobody@example.org>")
	c.cmd(221, "QUIT")

	var lines []string
	waitFor(t, "the end of the trace", func() bool {
		for {
			select {
			case e := <-sub.Events():
				lines = append(lines, e.Dir+": "+e.Text)
				if e.Account != "alice@example.org" {
					t.Errorf("event without the account: %+v", e)
				}
				continue
			default:
			}
			return len(lines) > 0 && lines[len(lines)-1] == "*: connection closed"
		}
	})
	all := strings.Join(lines, "\n")
	for _, want := range []string{
		"S: 250-STARTTLS", // the first EHLO's reply, before TLS
		"C: STARTTLS",
		"*: session over TLS after the greeting and HELO/EHLO client.example",
		"C: AUTH PLAIN ***",
		"S: 235 2.0.0 Authentication succeeded",
		"C: RCPT TO:<carol@example.net>",
		"C: [message data: 65 octets] .",
		"S: 250 " + queued,
		"S: 550 5.1.1 No such user here",
		"C: QUIT",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("trace lacks %q:\n%s", want, all)
		}
	}
	for _, secret := range []string{alicePass, b64("\x00alice@example.org\x00" + alicePass), bodyMark, "Subject: hi"} {
		if strings.Contains(all, secret) {
			t.Errorf("trace shows %q:\n%s", secret, all)
		}
	}
	select {
	case e := <-other.Events():
		t.Errorf("a trace of bob and 192.0.2.0/24 got %+v", e)
	default:
	}

	// The mail log: one line per recipient outcome.
	id := strings.TrimPrefix(queued, "2.0.0 Ok: queued as ")
	var mail []string
	for _, l := range readAllLines(h.logs.String()) {
		if strings.Contains(l, " msg=mail ") {
			mail = append(mail, l)
		}
	}
	for i, want := range [][]string{
		{" id=" + id + " message_id=", " from=alice@example.org to=bob@example.org size=", " result=delivered mailbox=INBOX delay="},
		{" id=" + id + " queue_id=", " from=alice@example.org to=carol@example.net size=", " result=queued delay="},
		{" from=alice@example.org to=nobody@example.org result=refused code=550 reply=\"5.1.1 No such user here\" reason=\"no such user\" delay="},
	} {
		if i >= len(mail) {
			t.Fatalf("%d mail log lines, want 3:\n%s", len(mail), strings.Join(mail, "\n"))
		}
		for _, w := range want {
			if !strings.Contains(mail[i], w) {
				t.Errorf("mail log line %d lacks %q: %s", i, w, mail[i])
			}
		}
	}
	if len(mail) != 3 {
		t.Errorf("%d mail log lines, want 3:\n%s", len(mail), strings.Join(mail, "\n"))
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	f, err := scrape.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"postel_messages_received_total", []string{"service", "submission"}, 1},
		{"postel_messages_received_total", []string{"service", "smtp"}, 0},
		{"postel_mail_recipients_total", []string{"outcome", "delivered"}, 1},
		{"postel_mail_recipients_total", []string{"outcome", "queued"}, 1},
		{"postel_mail_recipients_total", []string{"outcome", "refused"}, 1},
		{"postel_connections_accepted_total", []string{"service", "submission"}, 1},
	} {
		if got, ok := f.Value(c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if in, _ := f.Value("postel_received_bytes_total", "service", "submission"); in < 200 {
		t.Errorf("received bytes %v", in)
	}
}
