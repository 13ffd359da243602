package test

import (
	"strings"
	"testing"
)

// TestPOP3Curl reads and deletes with curl over POP3S and STLS; the
// deletion is seen through the store (and so by IMAP).
func TestPOP3Curl(t *testing.T) {
	in := newInstance(t, "")
	in.setup()
	in.start()
	in.deliverSMTP(t, "first", "second")
	user := "alice@example.org:" + alicePassword
	list := mustRun(t, "curl", "-sSk", "--user", user, "pop3s://"+in.ports["pop3s"]+"/")
	stored := in.messages("INBOX")
	if !strings.Contains(list, "1 ") || !strings.Contains(list, "2 ") || len(stored) != 2 {
		t.Fatalf("curl LIST:\n%s", list)
	}
	msg := mustRun(t, "curl", "-sSk", "--ssl-reqd", "--user", user, "pop3://"+in.ports["pop3"]+"/2")
	if msg != stored[1] {
		t.Fatalf("RETR over STLS = %q, stored %q", msg, stored[1])
	}
	mustRun(t, "curl", "-sSk", "--user", user, "-X", "DELE", "-I", "pop3s://"+in.ports["pop3s"]+"/1")
	if got := in.messages("INBOX"); len(got) != 1 || !strings.Contains(got[0], "Subject: second") {
		t.Fatalf("INBOX after DELE and QUIT: %d messages", len(got))
	}
}
