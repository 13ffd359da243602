package pop3server

import (
	"context"
	"testing"
)

// TestAccountEnds: when the account is deleted or disabled, its POP3
// session in the TRANSACTION state ends at once with -ERR saying why, and
// the messages it marked as deleted stay (no UPDATE state, RFC 1939 §6);
// another account's session goes on.
func TestAccountEnds(t *testing.T) {
	for _, c := range []struct {
		act, reply string
	}{
		{"delete", "-ERR [SYS/PERM] Account deleted"},
		{"disable", "-ERR [SYS/PERM] Account disabled"},
	} {
		t.Run(c.act, func(t *testing.T) {
			h := newHarness(t)
			h.put(h.alice, "", "Subject: kept\r\n\r\nx\r\n")
			bob := h.dial()
			bob.expect("USER bob@example.org", "+OK ")
			bob.expect("PASS "+bobPass, "+OK ")
			r := h.login()
			r.expect("DELE 1", "+OK")
			var err error
			if c.act == "delete" {
				err = h.st.DeleteAccount(context.Background(), "alice@example.org")
			} else {
				err = h.st.SetDisabled(context.Background(), "alice@example.org", true)
			}
			if err != nil {
				t.Fatal(err)
			}
			if l := r.line(); l != c.reply {
				t.Fatalf("after the account went: %q, want %q", l, c.reply)
			}
			r.closed()
			if c.act == "disable" {
				// Not QUIT: the message marked as deleted stays.
				if _, msgs := h.inbox(h.alice); len(msgs) != 1 {
					t.Fatalf("alice's INBOX has %d messages, want the 1 not expunged", len(msgs))
				}
			}
			bob.expect("NOOP", "+OK")
		})
	}
}
