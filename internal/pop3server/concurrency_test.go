package pop3server

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"postel/internal/store"
)

// TestConcurrencyWithIMAP covers what issue 4 defines about sessions
// sharing the INBOX with IMAP and with deliveries:
//   - messages arriving during a session appear in the next one only;
//   - a message expunged by someone else during a session gets a clear
//     -ERR on RETR, and the session goes on and QUITs normally;
//   - QUIT's expunge is announced to subscribers (IMAP sessions) as one
//     ChangeExpunged of the marked UIDs.
func TestConcurrencyWithIMAP(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	d1 := h.put(h.alice, "", "Subject: one\r\n\r\n1\r\n")
	d2 := h.put(h.alice, "", "Subject: two\r\n\r\n2\r\n")
	d3 := h.put(h.alice, "", "Subject: three\r\n\r\n3\r\n")
	mb, _ := h.inbox(h.alice)

	r := h.login()
	r.expect("STAT", "+OK 3 ")

	// A delivery during the session: not part of it.
	d4 := h.put(h.alice, "", "Subject: four\r\n\r\n4\r\n")
	r.expect("STAT", "+OK 3 ")
	r.expect("RETR 4", "-ERR No such message")
	_, list := r.multi("UIDL")
	if strings.Contains(list, uidl(mb.UIDValidity, d4.UID)) {
		t.Fatalf("UIDL lists a message delivered during the session:\n%s", list)
	}

	// An expunge by IMAP during the session.
	if _, err := h.st.Expunge(ctx, h.alice.ID, mb.ID, []uint32{d2.UID}); err != nil {
		t.Fatal(err)
	}
	r.expect("RETR 2", "-ERR Message 2 was deleted by another session")
	r.expect("TOP 2 0", "-ERR Message 2 was deleted by another session")
	if _, body := r.multi("RETR 3"); body != "Subject: three\r\n\r\n3\r\n" {
		t.Fatalf("RETR 3 after the expunge: %q", body)
	}

	// DELE of the expunged message and of another; QUIT removes what is
	// left of them, and the store announces it.
	sub := h.st.Subscribe(h.alice.ID)
	defer sub.Close()
	r.expect("DELE 1", "+OK")
	r.expect("DELE 2", "+OK")
	r.expect("QUIT", "+OK")
	r.closed()
	select {
	case <-sub.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("no change announced after QUIT")
	}
	var expunged []uint32
	for _, c := range sub.Next() {
		if c.Kind == store.ChangeExpunged && c.MailboxID == mb.ID {
			expunged = append(expunged, c.UIDs...)
		}
	}
	if !slices.Equal(expunged, []uint32{d1.UID}) {
		t.Fatalf("expunge announced for UIDs %v; want [%d]", expunged, d1.UID)
	}

	// The next session sees message three and the one delivered meanwhile,
	// with the same unique-ids.
	r = h.login()
	_, list = r.multi("UIDL")
	want := "1 " + uidl(mb.UIDValidity, d3.UID) + "\r\n2 " + uidl(mb.UIDValidity, d4.UID) + "\r\n"
	if list != want {
		t.Fatalf("UIDL in the next session:\n%s\nwant:\n%s", list, want)
	}
}

// TestInUse: a second simultaneous login to a maildrop gets -ERR [IN-USE]
// (RFC 2449 §8.1.1), with USER/PASS and with AUTH, on either port; another
// account is not affected; the maildrop is free again after QUIT.
func TestInUse(t *testing.T) {
	h := newHarness(t)
	first := h.login()

	second := h.dial()
	second.expect("USER alice@example.org", "+OK")
	second.expect("PASS "+alicePass, "-ERR [IN-USE] Maildrop is in use by another session")
	third := h.connect(h.tlsAddr, h.clientTLS)
	third.line()
	third.expect("AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGFsaWNlJ3MgY29ycmVjdCBob3JzZQ==", "-ERR [IN-USE] ")

	bob := h.dial()
	bob.expect("USER bob@example.org", "+OK")
	bob.expect("PASS "+bobPass, "+OK Maildrop locked and ready")

	// A wrong password is told as such, not as IN-USE: the lock tells
	// nothing to someone without the password.
	second.expect("USER alice@example.org", "+OK")
	second.expect("PASS wrong", "-ERR [AUTH] Authentication failed")

	first.expect("QUIT", "+OK")
	first.closed()
	second.expect("USER alice@example.org", "+OK")
	second.expect("PASS "+alicePass, "+OK Maildrop locked and ready")
}
