package pop3server

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"postel/internal/trace"
)

// TestPOP3Redactor: PASS, APOP's digest and AUTH's exchange never show,
// nor the messages of RETR and TOP, even pipelined; other multi-line
// replies do.
func TestPOP3Redactor(t *testing.T) {
	type step struct {
		server bool
		line   string
		want   string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"USER and PASS", []step{
			{true, "+OK pop.example.org ready", "+OK pop.example.org ready"},
			{false, "USER alice@example.org", "USER alice@example.org"},
			{true, "+OK Send your password", "+OK Send your password"},
			{false, "pass correct horse", "pass ***"},
			{true, "+OK Maildrop locked", "+OK Maildrop locked"},
		}},
		{"APOP", []step{
			{false, "APOP alice c4c9334bac560ecc979e58001b3e22fb", "APOP alice ***"},
		}},
		{"AUTH exchange", []step{
			{false, "AUTH PLAIN", "AUTH PLAIN"},
			{true, "+ ", "+ "},
			{false, "AGFsaWNlAHB3", "***"},
			{true, "-ERR [AUTH] Authentication failed", "-ERR [AUTH] Authentication failed"},
			{false, "AUTH PLAIN AGFsaWNlAHB3", "AUTH PLAIN ***"},
			{true, "+OK Maildrop locked", "+OK Maildrop locked"},
			{false, "STAT", "STAT"},
		}},
		{"AUTH listing, CAPA and pipelined RETRs", []step{
			{false, "AUTH", "AUTH"},
			{true, "+OK Mechanisms follow", "+OK Mechanisms follow"},
			{true, "PLAIN", "PLAIN"},
			{true, ".", "."},
			{false, "CAPA", "CAPA"},
			{false, "RETR 1", "RETR 1"},
			{false, "RETR 9", "RETR 9"},
			{false, "TOP 1 0", "TOP 1 0"},
			{true, "+OK Capability list follows", "+OK Capability list follows"},
			{true, "UIDL", "UIDL"},
			{true, ".", "."},
			{true, "+OK 20 octets", "+OK 20 octets"},
			{true, "Subject: x", ""},
			{true, "", ""},
			{true, "..body", ""},
			{true, ".", "[message: 22 octets] ."},
			{true, "-ERR No such message", "-ERR No such message"},
			{true, "+OK", "+OK"},
			{true, "Subject: x", ""},
			{true, ".", "[message: 12 octets] ."},
			{false, "LIST", "LIST"},
			{true, "+OK 1 messages", "+OK 1 messages"},
			{true, "1 20", "1 20"},
			{true, ".", "."},
		}},
	}
	for _, tc := range tests {
		r := newPOP3Redactor()
		for i, s := range tc.steps {
			f := r.Client
			if s.server {
				f = r.Server
			}
			if got, skip := f([]byte(s.line)); got != s.want || skip != 0 {
				t.Errorf("%s, step %d (%q): shown %q skip %d, want %q", tc.name, i, s.line, got, skip, s.want)
			}
		}
	}
}

// TestPOP3Trace: on a real socket, a trace of alice's account shows her
// session from the greeting, PASS without the password and RETR without
// the message.
func TestPOP3Trace(t *testing.T) {
	hub := trace.NewHub()
	h := newHarness(t, func(c *Config) { c.Trace = hub })
	sub := hub.Subscribe(trace.Filter{Accounts: []string{"alice@example.org"}}, 1000)
	other := hub.Subscribe(trace.Filter{Nets: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}}, 1000)
	const bodyMark = "pop3-body-nobody-may-see"
	h.put(h.alice, "", "Subject: traced\r\n\r\n"+bodyMark+"\r\n")

	r := h.login()
	r.multi("RETR 1")
	r.expect("QUIT", "+OK")

	var lines []string
	deadline := time.After(10 * time.Second)
	for len(lines) == 0 || lines[len(lines)-1] != "*: connection closed" {
		select {
		case e := <-sub.Events():
			lines = append(lines, e.Dir+": "+e.Text)
		case <-deadline:
			t.Fatalf("trace did not end:\n%s", strings.Join(lines, "\n"))
		}
	}
	all := strings.Join(lines, "\n")
	for _, want := range []string{"S: +OK pop.example.org", "C: USER alice@example.org", "C: PASS ***", "C: RETR 1",
		"S: [message: ", "C: QUIT"} {
		if !strings.Contains(all, want) {
			t.Errorf("trace lacks %q:\n%s", want, all)
		}
	}
	for _, secret := range []string{alicePass, bodyMark, "Subject: traced"} {
		if strings.Contains(all, secret) {
			t.Errorf("trace shows %q:\n%s", secret, all)
		}
	}
	select {
	case e := <-other.Events():
		t.Errorf("a trace of 192.0.2.1 got %+v", e)
	default:
	}
}
