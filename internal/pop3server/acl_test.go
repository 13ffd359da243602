package pop3server

import (
	"context"
	"testing"

	"postel/internal/store"
)

// TestSharedMailboxesStayOut: an account that others shared mailboxes
// with (IMAP ACL, RFC 4314), their INBOX included, sees in POP3 its own
// INBOX only (RFC 1939 §1: one maildrop), and the owner's maildrop is
// its own.
func TestSharedMailboxesStayOut(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.put(h.alice, "", "Subject: alice's\r\n\r\na\r\n")
	h.put(h.alice, "", "Subject: alice's too\r\n\r\nb\r\n")
	h.put(h.bob, "", "Subject: bob's\r\n\r\nc\r\n")
	inbox, _ := h.inbox(h.alice)
	for _, id := range []string{"bob@example.org", store.Anyone} {
		if err := h.st.SetACL(ctx, h.alice.ID, inbox.ID, store.ACLEntry{Identifier: id, Rights: store.ACLRights}); err != nil {
			t.Fatal(err)
		}
	}
	r := h.dial()
	r.expect("USER bob@example.org", "+OK ")
	r.expect("PASS "+bobPass, "+OK ")
	r.expect("STAT", "+OK 1 ")
	if _, body := r.multi("RETR 1"); body != "Subject: bob's\r\n\r\nc\r\n" {
		t.Fatalf("bob's RETR 1: %q", body)
	}
	r.expect("QUIT", "+OK")
	r = h.login()
	r.expect("STAT", "+OK 2 ")
	r.expect("QUIT", "+OK")
}
