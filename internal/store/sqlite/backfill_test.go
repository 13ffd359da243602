package sqlite

import (
	"context"
	"fmt"
	"slices"
	"strings"
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

// plantStaleMeta writes into the messages of blob what the parser before
// source routes and CFWS in angle-addrs stored for storetest.StaleRouteBody, with
// structure (of another message) standing for an older builder's, and
// has_nul NULL, as before migration 15.
func plantStaleMeta(t *testing.T, st *Store, blob int64, structure []byte) {
	t.Helper()
	meta, err := fixtureMeta([]byte(storetest.StaleRoutePrefix + storetest.StaleRouteBody))
	if err != nil {
		t.Fatal(err)
	}
	old, err := storetest.StaleEnvelope(meta.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	err = st.write(context.Background(), func(w *wtx) error {
		_, err := w.tx.ExecContext(w.ctx, `UPDATE messages SET envelope = ?, structure = ?, hdr_subject = '',
			hdr_cc = ?, has_nul = NULL WHERE blob_id = ?`, old, structure, storetest.StaleCc, blob)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBackfillMetaReparses: migration 16 records the "meta" task over the
// messages stored before it, and the backfill parses each again as
// delivery does today (prefix and body): ENVELOPE gets the source route
// (RFC 3501 §7.4.2 addr-adl), the Cc search column loses the comments of
// its angle-addr (SEARCH CC user@example.org), the structure is today's,
// and has_nul becomes known, for every message sharing the blob.
func TestBackfillMetaReparses(t *testing.T) {
	ctx := context.Background()
	st := open(t, t.TempDir(), true)
	defer st.Close()
	alice := storetest.Account(t, st, "alice@example.org")
	bob := storetest.Account(t, st, "bob@example.org")
	deliverRaw := func(prefix, body string, targets ...store.Target) []store.Delivered {
		meta, err := fixtureMeta([]byte(prefix + body))
		if err != nil {
			t.Fatal(err)
		}
		out, err := st.Deliver(ctx, &store.Delivery{Spool: storetest.Spool(t, st, body), Prefix: []byte(prefix), Meta: meta, Targets: targets})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	route := deliverRaw(storetest.StaleRoutePrefix, storetest.StaleRouteBody, store.Target{AccountID: alice.ID}, store.Target{AccountID: bob.ID})
	nul := deliverRaw("", storetest.StaleNULBody, store.Target{AccountID: alice.ID})
	var routeBlob, nulBlob int64
	if err := st.rdb.QueryRow(`SELECT blob_id FROM messages WHERE id = ?`, route[0].MessageID).Scan(&routeBlob); err != nil {
		t.Fatal(err)
	}
	if err := st.rdb.QueryRow(`SELECT blob_id FROM messages WHERE id = ?`, nul[0].MessageID).Scan(&nulBlob); err != nil {
		t.Fatal(err)
	}
	nulMeta, err := fixtureMeta([]byte(storetest.StaleNULBody))
	if err != nil {
		t.Fatal(err)
	}
	plantStaleMeta(t, st, routeBlob, nulMeta.Structure)
	if err := st.write(ctx, func(w *wtx) error {
		if _, err := w.tx.ExecContext(w.ctx, `UPDATE messages SET has_nul = NULL WHERE blob_id = ?`, nulBlob); err != nil {
			return err
		}
		_, err := w.tx.ExecContext(w.ctx, migrations[15])
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if done, upto, ok := backfillState(t, st, "meta"); !ok || done != 0 || upto != nulBlob {
		t.Fatalf("meta task: done %d upto %d pending %v; want 0, %d, pending", done, upto, ok, nulBlob)
	}
	if m := metasOf(t, st, route[0]); strings.Contains(m.Cc, "user@example.org") {
		t.Fatalf("planted Cc %q", m.Cc)
	}

	if err := st.Backfill(); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := backfillState(t, st, "meta"); ok {
		t.Error("meta task still pending")
	}
	want, err := fixtureMeta([]byte(storetest.StaleRoutePrefix + storetest.StaleRouteBody))
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range route {
		storetest.CheckUnstale(t, i, metasOf(t, st, d), want)
		if n := nulOfMessage(t, st, d); n != store.NULNone {
			t.Errorf("message %d: NUL %d after the backfill, want NULNone", i, n)
		}
	}
	if n := nulOfMessage(t, st, nul[0]); n != store.NULSome {
		t.Errorf("NUL message: NUL %d after the backfill, want NULSome", n)
	}
}

// metasOf is the MessageMeta of a delivered message.
func metasOf(t *testing.T, st *Store, d store.Delivered) store.MessageMeta {
	t.Helper()
	acct := accountOf(t, st, d)
	metas, err := st.MessageMetas(context.Background(), acct, d.MailboxID, []uint32{d.UID})
	if err != nil || len(metas) != 1 {
		t.Fatalf("MessageMetas: %v, %v", metas, err)
	}
	return metas[d.UID]
}

// nulOfMessage is store.Message.NUL of a delivered message.
func nulOfMessage(t *testing.T, st *Store, d store.Delivered) store.NUL {
	t.Helper()
	msgs, err := st.Messages(context.Background(), accountOf(t, st, d), d.MailboxID, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.UID == d.UID {
			return m.NUL
		}
	}
	t.Fatalf("no message UID %d", d.UID)
	return 0
}

func accountOf(t *testing.T, st *Store, d store.Delivered) int64 {
	t.Helper()
	var id int64
	if err := st.rdb.QueryRow(`SELECT account_id FROM mailboxes WHERE id = ?`, d.MailboxID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestBackfillMetaResumes: the meta backfill of a version 14 data
// directory (no has_nul then) stopped after its first committed batch has
// recorded how far it got, with has_nul known for that blob's messages
// only; the next serving open finishes it.
func TestBackfillMetaResumes(t *testing.T) {
	ctx := context.Background()
	dir := copyFixture(t, fixtureDir(14))
	st, err := Open(ctx, dir, Options{Exclusive: true, backfillBatch: 1, backfillHook: func(task string, done int64) bool {
		return task != "meta"
	}})
	if err != nil {
		t.Fatal(err)
	}
	<-st.backfillDone
	done, upto, ok := backfillState(t, st, "meta")
	if !ok || done <= 0 || done >= upto {
		t.Fatalf("meta after one batch: done %d of %d (pending %v)", done, upto, ok)
	}
	var known, unknown int
	if err := st.rdb.QueryRow(`SELECT COUNT(*) FILTER (WHERE has_nul IS NOT NULL AND blob_id <= ?),
		COUNT(*) FILTER (WHERE has_nul IS NULL AND blob_id > ?) FROM messages`, done, done).Scan(&known, &unknown); err != nil {
		t.Fatal(err)
	}
	var all int
	if err := st.rdb.QueryRow(`SELECT COUNT(*) FROM messages`).Scan(&all); err != nil {
		t.Fatal(err)
	}
	if known == 0 || known+unknown != all {
		t.Fatalf("after one batch up to blob %d: %d messages known at or below it, %d unknown above, of %d", done, known, unknown, all)
	}
	st.Close()

	st = open(t, dir, true)
	defer st.Close()
	<-st.backfillDone
	if _, _, ok := backfillState(t, st, "meta"); ok {
		t.Error("meta task still pending")
	}
	c := upgradeChecks(t, 14)
	for _, a := range fixtureData.Accounts {
		storetest.CheckUpgradedMailboxes(t, st, fixtureData, a, c)
	}
}
