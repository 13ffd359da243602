package sqlite

import (
	"context"
	"slices"
	"testing"
	"time"

	"postel/internal/store"
	"postel/internal/store/storetest"
)

// next waits for the subscription's next changes.
func nextChanges(t *testing.T, sub store.Subscription, within time.Duration) []store.Change {
	t.Helper()
	select {
	case <-sub.Ready():
		return sub.Next()
	case <-time.After(within):
		t.Fatalf("no change within %v", within)
		return nil
	}
}

// TestFeedAcrossProcesses: what another process (an admin command) writes
// in the data dir reaches the serving store's subscribers, through the
// durable feed; what the server writes itself is published once, before
// the write returns.
func TestFeedAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	srv := open(t, dir, true)
	defer srv.Close()
	ctx := context.Background()
	a := storetest.Account(t, srv, "alice@example.org")
	inbox, err := srv.Mailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	sub := srv.Subscribe(a.ID)
	defer sub.Close()

	// The server's own delivery: published when Deliver returns.
	storetest.Deliver(t, srv, "Subject: one\r\n\r\nx\r\n", a.ID)
	select {
	case <-sub.Ready():
	default:
		t.Fatal("own change not published when the write returned")
	}
	if got := sub.Next(); len(got) != 1 || got[0].Kind != store.ChangeAdded || got[0].MailboxID != inbox.ID {
		t.Fatalf("own changes = %+v", got)
	}

	// An admin process beside it: its writes arrive through the feed.
	cli := open(t, dir, false)
	defer cli.Close()
	d := storetest.Deliver(t, cli, "Subject: two\r\n\r\ny\r\n", a.ID)
	got := nextChanges(t, sub, 5*time.Second)
	if len(got) != 1 || got[0].Kind != store.ChangeAdded || !slices.Equal(got[0].UIDs, []uint32{d[0].UID}) || got[0].ModSeq == 0 {
		t.Fatalf("changes from the other process = %+v", got)
	}
	if _, err := cli.StoreFlags(ctx, a.ID, inbox.ID, []uint32{1, 2}, store.FlagsAdd, []string{store.FlagSeen}, 0); err != nil {
		t.Fatal(err)
	}
	got = nextChanges(t, sub, 5*time.Second)
	if len(got) != 1 || got[0].Kind != store.ChangeFlags || !slices.Equal(got[0].UIDs, []uint32{1, 2}) {
		t.Fatalf("flag change from the other process = %+v", got)
	}
	if err := cli.SetDisabled(ctx, "alice@example.org", true); err != nil {
		t.Fatal(err)
	}
	got = nextChanges(t, sub, 5*time.Second)
	if len(got) != 1 || got[0].Kind != store.ChangeAccount {
		t.Fatalf("account change from the other process = %+v", got)
	}

	// Nothing is published twice: the server's own rows are skipped by its
	// follower, the other process's were taken once.
	storetest.Deliver(t, srv, "Subject: three\r\n\r\nz\r\n", a.ID)
	if got := sub.Next(); len(got) != 1 {
		t.Fatalf("own change = %+v", got)
	}
	time.Sleep(3 * feedPoll) // a negative check: the follower has looked several times
	if got := sub.Next(); len(got) != 0 {
		t.Fatalf("published again: %+v", got)
	}
}

// TestFeedRowsCommitted: the changes are rows of the feed, written in the
// commit; a write that fails leaves none.
func TestFeedRowsCommitted(t *testing.T) {
	dir := t.TempDir()
	st := open(t, dir, true)
	defer st.Close()
	ctx := context.Background()
	a := storetest.Account(t, st, "alice@example.org")
	before, err := st.lastChange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Deliver(t, st, "Subject: one\r\n\r\nx\r\n", a.ID)
	if _, err := st.Deliver(ctx, &store.Delivery{Spool: storetest.Spool(t, st, "Subject: x\r\n\r\n"),
		Targets: []store.Target{{AccountID: a.ID, Mailbox: "No such"}}}); err == nil {
		t.Fatal("delivery to a missing mailbox succeeded")
	}
	after, err := st.lastChange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != before+1 {
		t.Fatalf("feed grew from %d to %d, want one row", before, after)
	}
}

// TestFeedGapResync: rows the follower never read that were pruned (it was
// stopped longer than the feed keeps them) make every subscriber re-read.
func TestFeedGapResync(t *testing.T) {
	dir := t.TempDir()
	srv := open(t, dir, true)
	defer srv.Close()
	ctx := context.Background()
	a := storetest.Account(t, srv, "alice@example.org")
	last, err := srv.lastChange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sub := srv.Subscribe(a.ID)
	defer sub.Close()
	for _, s := range []string{"one", "two", "three"} {
		storetest.Deliver(t, srv, "Subject: "+s+"\r\n\r\nx\r\n", a.ID)
	}
	sub.Next()
	// The two rows after last go unread, pruned.
	if _, err := srv.wdb.ExecContext(ctx, `DELETE FROM changes WHERE seq <= ?`, last+2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv.readFeed(last); err != nil {
		t.Fatal(err)
	}
	got := sub.Next()
	if !slices.ContainsFunc(got, func(c store.Change) bool { return c.Kind == store.ChangeResync }) {
		t.Fatalf("after a gap: %+v, want a ChangeResync", got)
	}
}
