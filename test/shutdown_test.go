package test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGTERM drains (issue 11, part 2): the listeners close, every session
// gets its protocol's goodbye, and the process exits 0 within
// shutdown_timeout. (A transaction in flight finishing with 250 is
// TestSIGTERMFinishesTransaction's.)

// lineConn is a raw dialogue of a line protocol, for exact control of what
// is said and an exact record of what the server says last.
type lineConn struct {
	t    *testing.T
	name string
	c    net.Conn
	r    *bufio.Reader
}

func dialLines(t *testing.T, name, addr string, implicitTLS bool) *lineConn {
	t.Helper()
	c := dial(t, addr, implicitTLS, 60*time.Second)
	return &lineConn{t: t, name: name, c: c, r: bufio.NewReader(c)}
}

// until sends line (unless empty) and reads lines up to one starting with
// prefix, which it returns.
func (l *lineConn) until(line, prefix string) string {
	l.t.Helper()
	if line != "" {
		if _, err := io.WriteString(l.c, line+"\r\n"); err != nil {
			l.t.Fatalf("%s: %v", l.name, err)
		}
	}
	for {
		got, err := l.r.ReadString('\n')
		if err != nil {
			l.t.Fatalf("%s: waiting for %q after %q: %v (read %q)", l.name, prefix, line, err, got)
		}
		if strings.HasPrefix(got, prefix) {
			return got
		}
	}
}

// lastWords reads what the server says until it closes the connection,
// and checks the connection was closed (not left open, not reset).
func (l *lineConn) lastWords() string {
	l.t.Helper()
	rest, err := io.ReadAll(l.r)
	var ne net.Error
	switch {
	case err == nil:
	case errors.As(err, &ne) && ne.Timeout():
		l.t.Errorf("%s: still open after SIGTERM; said %q", l.name, rest)
	default:
		l.t.Errorf("%s: %v after %q", l.name, err, rest)
	}
	return string(rest)
}

// TestSIGTERMGoodbyes: with SMTP sessions idle after EHLO (on port 25
// and over implicit TLS on submissions), an IMAP
// session idle in the selected state, one in IDLE and a POP3 session in
// the TRANSACTION state, SIGTERM gets each its protocol's goodbye and the
// connection closed: 421 4.3.2 (RFC 5321 §3.8), an untagged BYE (RFC 9051
// §7.1.5), -ERR [SYS/TEMP] (RFC 3206: the POP3 session ends without
// entering UPDATE, so a DELE it made deletes nothing, RFC 1939 §6). The
// process exits 0, well within shutdown_timeout (20 s): nothing waits
// for the drain's deadline.
func TestSIGTERMGoodbyes(t *testing.T) {
	in := newInstance(t, "")
	in.setup()
	in.start()
	s := in.dataToAlice(t)
	s.cmd("Subject: kept\r\n\r\nPOP3 deletes me without QUIT\r\n.", "250")
	s.c.Close()

	smtp := dialLines(t, "SMTP", in.ports["smtp"], false)
	smtp.until("", "220 ")
	smtp.until("EHLO client.example", "250 ")

	// Over TLS, the 421 goes through the TLS layer.
	sub := dialLines(t, "submissions", in.ports["submissions"], true)
	sub.until("", "220 ")
	sub.until("EHLO client.example", "250 ")

	imap := dialLines(t, "IMAP", in.ports["imaps"], true)
	imap.until("", "* OK")
	imap.until(`a LOGIN "alice@example.org" "`+alicePassword+`"`, "a OK")
	imap.until("b SELECT INBOX", "b OK")

	idle := dialLines(t, "IMAP IDLE", in.ports["imaps"], true)
	idle.until("", "* OK")
	idle.until(`a LOGIN "alice@example.org" "`+alicePassword+`"`, "a OK")
	idle.until("b SELECT INBOX", "b OK")
	idle.until("c IDLE", "+ ")

	pop := dialLines(t, "POP3", in.ports["pop3s"], true)
	pop.until("", "+OK")
	pop.until("USER alice@example.org", "+OK")
	pop.until("PASS "+alicePassword, "+OK")
	if stat := pop.until("STAT", "+OK"); !strings.HasPrefix(stat, "+OK 1 ") {
		t.Fatalf("STAT: %q", stat)
	}
	pop.until("DELE 1", "+OK")

	mark := in.logLen()
	sent := time.Now()
	if err := in.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		conn *lineConn
		want string
	}{
		{smtp, "421 4.3.2 "},
		{sub, "421 4.3.2 "},
		{imap, "* BYE "},
		{idle, "* BYE "},
		{pop, "-ERR [SYS/TEMP] "},
	} {
		got := c.conn.lastWords()
		t.Logf("%s: %q", c.conn.name, got)
		if !strings.HasPrefix(got, c.want) || strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "\r\n") {
			t.Errorf("%s: last words %q, want one line %q...", c.conn.name, got, c.want)
		}
	}
	select {
	case err := <-in.exited:
		in.running = false
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("still running after shutdown_timeout (20s)")
	}
	t.Logf("exited %v after SIGTERM", time.Since(sent).Round(time.Millisecond))
	if l := in.logLines(mark, "shutdown did not finish cleanly"); len(l) > 0 {
		t.Errorf("the drain did not finish by itself: %q", l)
	}
	if len(in.logLines(mark, `msg="postel stopped"`)) != 1 {
		t.Errorf("no stop line in the log")
	}
	if got := in.messages("INBOX"); len(got) != 1 || !strings.Contains(got[0], "Subject: kept") {
		t.Fatalf("INBOX after a POP3 DELE without QUIT: %q", got)
	}
}
