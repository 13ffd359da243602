package test

import (
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// TestClusterFlagsAndExpunge: flag changes and expunges made through node
// A reach an IMAP IDLE session on node B, as untagged FETCH FLAGS and
// EXPUNGE (RFC 9051 §7.4.1, §7.5.2).
func TestClusterFlagsAndExpunge(t *testing.T) {
	a, b := newNodes(t, "")
	a.start()
	b.start()
	a.deliverSMTP(t, "one", "two", "three")
	w := watchInbox(t, b)
	flags, expunged := w.flags, w.expunged

	actor, err := a.imapAs(t, "alice@example.org", alicePassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := actor.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}, Silent: true}
	if err := actor.Store(imap.UIDSetNum(2), store, nil).Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-flags:
		if !slices.Contains(f, imap.FlagFlagged) {
			t.Fatalf("node B's FETCH FLAGS = %v, want \\Flagged", f)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("node B's IDLE saw no FETCH FLAGS")
	}
	del := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}
	if err := actor.Store(imap.UIDSetNum(1), del, nil).Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-flags: // the \Deleted flag's FETCH
	case <-time.After(30 * time.Second):
		t.Fatal("node B's IDLE saw no FETCH FLAGS for \\Deleted")
	}
	if err := actor.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case seq := <-expunged:
		if seq != 1 {
			t.Fatalf("node B's EXPUNGE %d, want 1", seq)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("node B's IDLE saw no EXPUNGE")
	}
}
