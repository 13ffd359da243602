package imapserver

import (
	"bufio"
	"compress/flate"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"postel/internal/trace"
)

// TestIMAPRedactor: LOGIN's password, AUTHENTICATE's exchange and the
// content of literals never show; the commands and responses around them
// do.
func TestIMAPRedactor(t *testing.T) {
	type step struct {
		server bool
		line   string
		want   string
		skip   int64
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"LOGIN with atoms and quoted strings", []step{
			{false, `a1 LOGIN alice@example.org "pass word"`, "a1 LOGIN alice@example.org ***", 0},
			{false, `a2 login "alice@example.org" secret`, `a2 login "alice@example.org" ***`, 0},
			{false, `a3 LOGIN "al\"ice" "x"`, `a3 LOGIN "al\"ice" ***`, 0},
			{true, "a3 NO [AUTHENTICATIONFAILED] Invalid credentials", "a3 NO [AUTHENTICATIONFAILED] Invalid credentials", 0},
		}},
		{"LOGIN with literals", []step{
			{false, "a1 LOGIN {17}", "a1 LOGIN ***", 17},
			{true, "+ Ready for literal data", "+ Ready for literal data", 0},
			{false, " {6}", "***", 6},
			{false, "", "", 0},
			{false, "a2 LOGIN alice {6+}", "a2 LOGIN alice ***", 6},
			{false, "", "", 0},
			{false, "a3 NOOP", "a3 NOOP", 0},
		}},
		{"AUTHENTICATE", []step{
			{false, "a1 AUTHENTICATE PLAIN AGFsaWNlAHB3", "a1 AUTHENTICATE PLAIN ***", 0},
			{true, "a1 OK Logged in", "a1 OK Logged in", 0},
			{false, "a2 AUTHENTICATE LOGIN", "a2 AUTHENTICATE LOGIN", 0},
			{true, "+ VXNlcm5hbWU6", "+ VXNlcm5hbWU6", 0},
			{false, "YWxpY2U=", "***", 0},
			{true, "+ UGFzc3dvcmQ6", "+ UGFzc3dvcmQ6", 0},
			{false, "c2VjcmV0", "***", 0},
			{true, "a2 NO [AUTHENTICATIONFAILED] Invalid credentials", "a2 NO [AUTHENTICATIONFAILED] Invalid credentials", 0},
			{false, "a3 CAPABILITY", "a3 CAPABILITY", 0},
		}},
		{"APPEND and FETCH literals", []step{
			{false, `a1 APPEND INBOX (\Seen) {310}`, `a1 APPEND INBOX (\Seen) {310}`, 310},
			{false, "", "", 0},
			{false, "a2 APPEND INBOX {5+} {7}", "a2 APPEND INBOX {5+} {7}", 7}, // only a literal at the end of a line counts
			{true, "* 1 FETCH (UID 4 BODY[] {1234}", "* 1 FETCH (UID 4 BODY[] {1234}", 1234},
			{true, ")", ")", 0},
			{true, "* 2 FETCH (BINARY[1] ~{99}", "* 2 FETCH (BINARY[1] ~{99}", 99},
			{true, "* 3 FETCH (FLAGS (x{y}))", "* 3 FETCH (FLAGS (x{y}))", 0},
		}},
	}
	for _, tc := range tests {
		r := newIMAPRedactor()
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

// TestIMAPTrace: on a real socket, a trace of the client's address shows
// LOGIN without the password, APPEND without the message, FETCH without
// the body; a trace begun while the session is open joins it after the
// command the session waits for.
func TestIMAPTrace(t *testing.T) {
	hub := trace.NewHub()
	h := newHarness(t, func(c *Config) { c.Trace = hub })
	sub := hub.Subscribe(trace.Filter{Nets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, 1000)
	const bodyMark = "imap-body-nobody-may-see"
	msg := "Subject: traced\r\n\r\n" + bodyMark + "\r\n"

	r := h.dial(h.addr)
	r.send(`L LOGIN alice@example.org "` + alicePass + `"`)
	r.until("L OK")
	r.send(fmt.Sprintf("A APPEND INBOX {%d}", len(msg)))
	r.until("+ ")
	r.send(msg)
	r.until("A OK")
	r.cmd("SELECT INBOX")
	r.cmd("FETCH 1 BODY[]")

	// A second trace, of alice, joins after the command the session
	// waits for: it starts between commands, never inside one.
	late := hub.Subscribe(trace.Filter{Accounts: []string{"alice@example.org"}}, 1000)
	r.send("W NOOP")
	r.until("W OK")
	r.cmd("NOOP")
	r.cmd("LOGOUT")

	collect := func(s *trace.Sub) string {
		var lines []string
		deadline := time.After(10 * time.Second)
		for {
			select {
			case e := <-s.Events():
				lines = append(lines, e.Dir+": "+e.Text)
				if e.Text == "connection closed" {
					return strings.Join(lines, "\n")
				}
			case <-deadline:
				t.Fatalf("trace did not end:\n%s", strings.Join(lines, "\n"))
			}
		}
	}
	all := collect(sub)
	for _, want := range []string{
		"S: * OK [CAPABILITY ", "C: L LOGIN alice@example.org ***", "S: L OK ",
		fmt.Sprintf("C: A APPEND INBOX {%d}", len(msg)), "S: + Ready for literal data", "S: A OK ",
		fmt.Sprintf("S: * 1 FETCH (BODY[] {%d}", len(msg)), "C: T LOGOUT", "S: * BYE",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("trace lacks %q:\n%s", want, all)
		}
	}
	for _, secret := range []string{alicePass, bodyMark, "Subject: traced"} {
		if strings.Contains(all, secret) {
			t.Errorf("trace shows %q:\n%s", secret, all)
		}
	}
	lateAll := collect(late)
	// It starts before W NOOP or T NOOP (W's response may reach the client
	// before the session is back between commands), never earlier.
	if !strings.Contains(lateAll, "C: T NOOP") || strings.Contains(lateAll, "FETCH") || strings.Contains(lateAll, "SELECT") {
		t.Errorf("late trace:\n%s", lateAll)
	}
}

// TestIMAPTraceCompress: after COMPRESS DEFLATE the trace shows the
// dialogue decompressed, not the compressed octets, both ways.
func TestIMAPTraceCompress(t *testing.T) {
	hub := trace.NewHub()
	h := newHarness(t, func(c *Config) { c.Trace = hub })
	h.put(h.alice, "INBOX", testMsg)
	sub := hub.Subscribe(trace.Filter{Nets: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, 1000)
	r := h.login()
	r.send("z COMPRESS DEFLATE")
	if l := r.line(); l != "z OK DEFLATE active" {
		t.Fatalf("COMPRESS: %q", l)
	}
	zr := bufio.NewReader(flate.NewReader(r.br))
	zw, err := flate.NewWriter(r.c, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"a SELECT INBOX", "b FETCH 1 BODY.PEEK[]", "c LOGOUT"} {
		io.WriteString(zw, cmd+"\r\n")
		if err := zw.Flush(); err != nil {
			t.Fatal(err)
		}
		tag := cmd[:2]
		for {
			r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
			l, err := zr.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: %v", cmd, err)
			}
			if strings.HasPrefix(l, tag) {
				break
			}
		}
	}
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
	for _, want := range []string{"C: z COMPRESS DEFLATE", "S: z OK DEFLATE active", "C: a SELECT INBOX", "S: a OK [READ-WRITE]",
		"C: b FETCH 1 BODY.PEEK[]", "S: * 1 FETCH (BODY[] {", "S: b OK FETCH completed", "C: c LOGOUT", "S: * BYE"} {
		if !strings.Contains(all, want) {
			t.Errorf("trace lacks %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, `\x`) || strings.Contains(all, "Subject: Hello there") {
		t.Errorf("trace shows compressed octets or the message:\n%s", all)
	}
}
