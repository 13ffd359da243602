package imapserver

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestAccountEnds: when the account is deleted or disabled, each of its
// sessions ends at once with a BYE saying why, whatever it is doing:
// waiting for a command, selected, idling; another account's session goes
// on.
func TestAccountEnds(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup []string // commands before the account goes
		idle  bool
		act   string // "delete" or "disable"
		bye   string
	}{
		{"deleted, waiting", nil, false, "delete", "* BYE Account deleted"},
		{"deleted, selected", []string{"SELECT INBOX"}, false, "delete", "* BYE Account deleted"},
		{"deleted, idling", []string{"SELECT INBOX"}, true, "delete", "* BYE Account deleted"},
		{"deleted, idling unselected", nil, true, "delete", "* BYE Account deleted"},
		{"disabled, waiting", nil, false, "disable", "* BYE Account disabled"},
		{"disabled, idling", []string{"SELECT INBOX"}, true, "disable", "* BYE Account disabled"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			bob := h.dial(h.addr)
			bob.send(`B LOGIN bob@example.org "` + bobPass + `"`)
			bob.until("B OK")
			bob.cmd("SELECT INBOX")
			r := h.login()
			for _, cmd := range c.setup {
				if got := r.cmd(cmd); !strings.HasPrefix(got[len(got)-1], "T OK") {
					t.Fatalf("%s: %q", cmd, got)
				}
			}
			if c.idle {
				r.send("I IDLE")
				if l := r.line(); !strings.HasPrefix(l, "+ ") {
					t.Fatalf("IDLE: %q", l)
				}
			}
			var err error
			if c.act == "delete" {
				err = h.st.DeleteAccount(context.Background(), "alice@example.org")
			} else {
				err = h.st.SetDisabled(context.Background(), "alice@example.org", true)
			}
			if err != nil {
				t.Fatal(err)
			}
			if l := r.line(); l != c.bye {
				t.Fatalf("after the account went: %q, want %q", l, c.bye)
			}
			r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if rest, err := io.ReadAll(r.br); err != nil || len(rest) != 0 {
				t.Fatalf("after BYE: %q, %v; want the connection closed", rest, err)
			}
			if got := bob.cmd("NOOP"); got[len(got)-1] != "T OK NOOP completed" {
				t.Fatalf("bob's session: %q", got)
			}
		})
	}
}

// TestSelectedMailboxDeleted: a mailbox deleted while another session has
// it selected ends that session with a BYE (RFC 2180 §3), in IDLE at
// once; a session with another mailbox selected goes on.
func TestSelectedMailboxDeleted(t *testing.T) {
	h := newHarness(t)
	if _, err := h.st.CreateMailbox(context.Background(), h.alice.ID, "Projects", ""); err != nil {
		t.Fatal(err)
	}
	h.put(h.alice, "Projects", "Subject: one\r\n\r\nx\r\n")
	r := h.login()
	r.cmd("SELECT Projects")
	r.send("I IDLE")
	if l := r.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	other := h.login()
	other.cmd("SELECT INBOX")
	if err := h.st.DeleteMailbox(context.Background(), h.alice.ID, "Projects"); err != nil {
		t.Fatal(err)
	}
	var l string
	for l = r.line(); strings.HasPrefix(l, "* ") && !strings.HasPrefix(l, "* BYE"); l = r.line() {
		// EXPUNGEs of the messages may come first.
	}
	if l != "* BYE Selected mailbox was deleted" {
		t.Fatalf("idling session: %q", l)
	}
	if got := other.cmd("NOOP"); got[len(got)-1] != "T OK NOOP completed" {
		t.Fatalf("the session with INBOX selected: %q", got)
	}
}
