package sqlite

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"postel/internal/store"
	"postel/internal/store/storetest"
)

// backfillState is the backfill row of task: done, upto, and whether it
// is there.
func backfillState(t *testing.T, st *Store, task string) (done, upto int64, ok bool) {
	t.Helper()
	rows, err := st.rdb.Query(`SELECT done, upto FROM backfill WHERE task = ?`, task)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		return 0, 0, false
	}
	if err := rows.Scan(&done, &upto); err != nil {
		t.Fatal(err)
	}
	return done, upto, true
}

// ftsRows counts the blobs with a full-text row (a rowid lookup, as the
// backfill makes it, on the contentless table).
func ftsRows(t *testing.T, st *Store) int {
	t.Helper()
	var n int
	if err := st.rdb.QueryRow(`SELECT COUNT(*) FROM blobs b WHERE EXISTS (SELECT 1 FROM messages_fts WHERE rowid = b.id)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBackfillResumes: the backfill of a version 1 data directory stopped
// after its first committed batch (as by a crash) has recorded how far it
// got; a non-exclusive open (an admin command) leaves it alone; the next
// serving open finishes it, and search and threading fields are complete.
func TestBackfillResumes(t *testing.T) {
	ctx := context.Background()
	dir := copyFixture(t, fixtureDir(1))
	batches := 0
	st, err := Open(ctx, dir, Options{Exclusive: true, backfillBatch: 2, backfillHook: func(task string, done int64) bool {
		batches++
		return false
	}})
	if err != nil {
		t.Fatal(err)
	}
	<-st.backfillDone
	done, upto, ok := backfillState(t, st, "fts")
	if !ok || done <= 0 || done >= upto || batches != 1 {
		t.Fatalf("fts after one batch: done %d of %d (pending %v), %d batches", done, upto, ok, batches)
	}
	if n := ftsRows(t, st); n != 2 {
		t.Fatalf("%d blobs indexed after a batch of 2", n)
	}
	if _, _, ok := backfillState(t, st, "refs"); !ok {
		t.Fatal("refs task gone before it ran")
	}
	st.Close()

	admin := open(t, dir, false)
	<-admin.backfillDone
	if d, _, ok := backfillState(t, admin, "fts"); !ok || d != done {
		t.Fatalf("a non-exclusive open moved the backfill: done %d, pending %v", d, ok)
	}
	admin.Close()

	st = open(t, dir, true)
	defer st.Close()
	<-st.backfillDone
	for _, task := range []string{"fts", "refs"} {
		if _, _, ok := backfillState(t, st, task); ok {
			t.Errorf("task %s still pending", task)
		}
	}
	var blobs int
	if err := st.rdb.QueryRow(`SELECT COUNT(*) FROM blobs`).Scan(&blobs); err != nil {
		t.Fatal(err)
	}
	if n := ftsRows(t, st); n != blobs {
		t.Errorf("%d of %d blobs indexed", n, blobs)
	}
	c := upgradeChecks(t, 1)
	c.Gaps = nil // none: the backfill filled them
	for _, a := range fixtureData.Accounts {
		storetest.CheckUpgradedMailboxes(t, st, fixtureData, a, c)
	}
}

// TestBackfillRefsOfCopies: a copy made while the backfill runs, of a
// message it has not reached yet, gets its In-Reply-To and References too
// (the task goes by blob, which copies share); a version 3 directory's
// full-text rows are all found, none added twice.
func TestBackfillRefsOfCopies(t *testing.T) {
	ctx := context.Background()
	dir := copyFixture(t, fixtureDir(3))
	alice := fixtureData.Accounts[0]
	sent, archive := alice.Mailboxes[1], alice.Mailboxes[5]
	if sent.Name != "Sent" || archive.Name != "Archive" || sent.Messages[0].Blob != 6 {
		t.Fatal("fixture mailboxes moved")
	}
	// The hook runs on the backfill's goroutine, after each batch of one
	// blob: after the first, the copy is made.
	var st *Store
	opened := make(chan struct{})
	var copied []uint32
	var copyErr error
	hook := func(task string, done int64) bool {
		<-opened
		if task == "refs" && copied == nil && copyErr == nil {
			if done >= sent.Messages[0].Blob {
				copyErr = fmt.Errorf("the backfill passed blob %d before the copy", sent.Messages[0].Blob)
				return true
			}
			var res store.CopyResult
			res, copyErr = st.Copy(ctx, alice.ID, sent.ID, []uint32{sent.Messages[0].UID}, archive.ID)
			copied = res.Dest
		}
		return true
	}
	var err error
	st, err = Open(ctx, dir, Options{Exclusive: true, backfillBatch: 1, backfillHook: hook})
	if err != nil {
		t.Fatal(err)
	}
	close(opened)
	defer st.Close()
	<-st.backfillDone
	if copyErr != nil || len(copied) != 1 {
		t.Fatalf("copy during the backfill: %v, %v", copied, copyErr)
	}
	metas, err := st.MessageMetas(ctx, alice.ID, archive.ID, copied)
	if err != nil {
		t.Fatal(err)
	}
	m := metas[copied[0]]
	if m.InReplyTo != "report-0@example.org" || !slices.Equal(m.References, []string{"report-0@example.org"}) {
		t.Errorf("the copy's thread fields: %q %q", m.InReplyTo, m.References)
	}
	var blobs int
	if err := st.rdb.QueryRow(`SELECT COUNT(*) FROM blobs`).Scan(&blobs); err != nil {
		t.Fatal(err)
	}
	if n := ftsRows(t, st); n != blobs {
		t.Errorf("%d of %d blobs indexed", n, blobs)
	}
	for _, a := range fixtureData.Accounts {
		if a.ID == alice.ID {
			continue // her Archive holds the copy now
		}
		c := upgradeChecks(t, 3)
		c.Gaps = nil
		storetest.CheckUpgradedMailboxes(t, st, fixtureData, a, c)
	}
	if _, _, ok := backfillState(t, st, "refs"); ok {
		t.Error("refs task still pending")
	}
}

// TestBackfillNotRecordedForNewStores: a data directory made by this
// version records no backfill task.
func TestBackfillNotRecordedForNewStores(t *testing.T) {
	st := open(t, t.TempDir(), true)
	defer st.Close()
	<-st.backfillDone
	var n int
	if err := st.rdb.QueryRow(`SELECT COUNT(*) FROM backfill`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("backfill rows in a new store: %d, %v", n, err)
	}
}
