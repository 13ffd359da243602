package storetest

import (
	"testing"

	"postel/internal/store"
)

// mailbox reads the account's mailbox name; a failed read fails the test,
// so that no check can pass on the zero value of a call that went wrong.
func mailbox(t *testing.T, st store.Store, acct int64, name string) store.Mailbox {
	t.Helper()
	mb, err := st.Mailbox(ctx, acct, name)
	if err != nil {
		t.Fatalf("Mailbox(%d, %q): %v", acct, name, err)
	}
	return mb
}

// messages lists every message of a mailbox; a failed read fails the test.
func messages(t *testing.T, st store.Store, acct, mb int64) []store.Message {
	t.Helper()
	msgs, err := st.Messages(ctx, acct, mb, 0)
	if err != nil {
		t.Fatalf("Messages(%d, %d): %v", acct, mb, err)
	}
	return msgs
}
