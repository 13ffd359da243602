package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"postel/internal/store"
	"postel/internal/store/storetest"
)

// intentBlobs checks, at every Put, that the blob ID lies in a range of
// blob_intents already committed (read through the store's read pool,
// which sees only committed data), and records the IDs put. crash makes
// the batch fail at Sync and leaves its files, as a process killed between
// the link and the commit would.
type intentBlobs struct {
	store.Blobs
	db *sql.DB

	mu      sync.Mutex
	puts    []int64
	outside []int64
	crash   bool
	stuck   bool // Remove fails (a file that cannot be removed)
}

func watchIntents(st *Store) *intentBlobs {
	b := &intentBlobs{Blobs: st.blobs, db: st.rdb}
	st.blobs = b // before any write: the writer reads it after this
	return b
}

func (b *intentBlobs) Put(sp store.Spool, id int64) error {
	var ok bool
	if err := b.db.QueryRow(`SELECT EXISTS (SELECT 1 FROM blob_intents WHERE lo <= ? AND ? < hi)`, id, id).Scan(&ok); err != nil {
		return err
	}
	b.mu.Lock()
	b.puts = append(b.puts, id)
	if !ok {
		b.outside = append(b.outside, id)
	}
	b.mu.Unlock()
	return b.Blobs.Put(sp, id)
}

func (b *intentBlobs) Sync(ids []int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.crash && len(ids) > 0 {
		return errDiskGone
	}
	return b.Blobs.Sync(ids)
}

func (b *intentBlobs) Remove(id int64) error {
	b.mu.Lock()
	crash, stuck := b.crash, b.stuck
	b.mu.Unlock()
	if stuck {
		return errDiskGone
	}
	if crash {
		return nil // the process is gone: nothing removes the file
	}
	return b.Blobs.Remove(id)
}

func (b *intentBlobs) setStuck(v bool) {
	b.mu.Lock()
	b.stuck = v
	b.mu.Unlock()
}

func (b *intentBlobs) setCrash(v bool) {
	b.mu.Lock()
	b.crash = v
	b.mu.Unlock()
}

// check fails the test for any blob put outside a committed intent.
func (b *intentBlobs) check(t *testing.T) []int64 {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.outside) > 0 {
		t.Errorf("blob IDs %v linked outside any committed intent", b.outside)
	}
	return slices.Clone(b.puts)
}

func openWith(t *testing.T, dir string, exclusive bool, reserve int64) *Store {
	t.Helper()
	st, err := Open(context.Background(), dir, Options{Exclusive: exclusive, blobReserve: reserve})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// blobFiles lists the IDs of the body files under dir, ascending.
func blobFiles(t *testing.T, dir string) []int64 {
	t.Helper()
	var out []int64
	for _, f := range files(t, filepath.Join(dir, "msg")) {
		id, err := strconv.ParseInt(filepath.Base(f), 10, 64)
		if err != nil {
			t.Fatalf("stray file %s", f)
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func blobRows(t *testing.T, st *Store) []int64 {
	t.Helper()
	rows, err := st.rdb.Query(`SELECT id FROM blobs ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := scanInt64s(rows)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func intentRows(t *testing.T, st *Store) []store.IDRange {
	t.Helper()
	rows, err := st.rdb.Query(`SELECT lo, hi FROM blob_intents ORDER BY lo`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []store.IDRange
	for rows.Next() {
		var r store.IDRange
		if err := rows.Scan(&r.Lo, &r.Hi); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func deliverBody(ctx context.Context, st *Store, acct int64, body string) ([]store.Delivered, error) {
	sp, err := st.NewSpool()
	if err != nil {
		return nil, err
	}
	io.WriteString(sp, body)
	if err := sp.Finish(); err != nil {
		return nil, err
	}
	return st.Deliver(ctx, &store.Delivery{Spool: sp, Targets: []store.Target{{AccountID: acct}}})
}

// TestIntentOrphanRemoved: a body linked under a committed intent whose
// batch never committed (the process died between the link and the
// commit) is removed at the next exclusive Open, whether the server or an
// admin process left it; bodies with a row stay and read back.
func TestIntentOrphanRemoved(t *testing.T) {
	for _, exclusive := range []bool{true, false} {
		t.Run(fmt.Sprintf("exclusive=%v", exclusive), func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			setup := open(t, dir, true)
			a := storetest.Account(t, setup, "alice@example.org")
			setup.Close()

			st := openWith(t, dir, exclusive, 4)
			b := watchIntents(st)
			kept := storetest.Deliver(t, st, "Subject: kept\r\n\r\nkept\r\n", a.ID)
			b.setCrash(true)
			if _, err := deliverBody(ctx, st, a.ID, "Subject: lost\r\n\r\nlost\r\n"); !errors.Is(err, errDiskGone) {
				t.Fatalf("delivery in the crashing batch: %v", err)
			}
			puts := b.check(t)
			if len(puts) != 2 {
				t.Fatalf("puts %v", puts)
			}
			orphan := puts[1]
			if got := blobFiles(t, dir); !slices.Equal(got, puts) {
				t.Fatalf("files %v before the restart, want %v", got, puts)
			}
			if got := blobRows(t, st); !slices.Equal(got, puts[:1]) {
				t.Fatalf("blob rows %v, want %v", got, puts[:1])
			}
			st.Close()

			st = open(t, dir, true)
			defer st.Close()
			if got := blobFiles(t, dir); !slices.Equal(got, puts[:1]) {
				t.Fatalf("files %v after the restart, want %v (orphan %d removed)", got, puts[:1], orphan)
			}
			r, err := st.OpenMessage(ctx, a.ID, kept[0].MailboxID, kept[0].UID)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(r)
			r.Close()
			if string(body) != "Received: test\r\nSubject: kept\r\n\r\nkept\r\n" {
				t.Fatalf("kept body %q", body)
			}
			// Settled: only the mark is left, above every ID given.
			if got := intentRows(t, st); len(got) != 1 || got[0].Lo != got[0].Hi || got[0].Lo <= orphan {
				t.Fatalf("blob_intents after the clean-up: %v", got)
			}
		})
	}
}

// TestBlobIDsUnderIntents: every body is linked under an ID of an intent
// committed before (single deliveries, DeliverAll, batches, ranges
// running out mid-way); used ranges go as the writer moves on; a write
// that takes a blob ID it did not declare fails.
func TestBlobIDsUnderIntents(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openWith(t, dir, true, 3)
	defer st.Close()
	b := watchIntents(st)
	a := storetest.Account(t, st, "alice@example.org")
	for i := range 5 {
		storetest.Deliver(t, st, fmt.Sprintf("Subject: %d\r\n\r\none\r\n", i), a.ID)
	}
	var all []*store.Delivery
	for i := range 4 {
		all = append(all, &store.Delivery{Spool: storetest.Spool(t, st, fmt.Sprintf("Subject: all %d\r\n\r\n", i)),
			Targets: []store.Target{{AccountID: a.ID}}})
	}
	if _, err := st.DeliverAll(ctx, all); err != nil {
		t.Fatal(err)
	}
	errs, _ := batchOf(t, st, a.ID, 7, nil)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("batched delivery %d: %v", i, err)
		}
	}
	err := st.write(ctx, func(w *wtx) error {
		_, err := w.newBlobID()
		return err
	})
	if !errors.Is(err, errNoBlobID) {
		t.Fatalf("a write taking an undeclared blob ID: %v", err)
	}
	puts := b.check(t)
	if len(puts) != 16 || !slices.IsSorted(puts) || len(slices.Compact(slices.Clone(puts))) != 16 {
		t.Fatalf("blob IDs put: %v", puts)
	}
	if got := blobRows(t, st); !slices.Equal(got, puts) {
		t.Fatalf("blob rows %v, want %v", got, puts)
	}
	// Only the writer's current range is left.
	if got := intentRows(t, st); len(got) != 1 || got[0].Lo > puts[len(puts)-1] || got[0].Hi <= puts[len(puts)-1] {
		t.Fatalf("blob_intents %v, last ID %d", got, puts[len(puts)-1])
	}
}

// TestFilesLeftByFailuresRemovedAtStart: a body a failed batch could not
// remove keeps its range past the writer's next reservation, and a
// deleted blob's file that could not be removed keeps its blob_gc row;
// the next exclusive Open removes both files.
func TestFilesLeftByFailuresRemovedAtStart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openWith(t, dir, true, 2)
	b := watchIntents(st)
	a := storetest.Account(t, st, "alice@example.org")
	gone := storetest.Deliver(t, st, "Subject: expunged\r\n\r\n", a.ID)
	b.setCrash(true)
	b.setStuck(true)
	if _, err := deliverBody(ctx, st, a.ID, "Subject: failed\r\n\r\n"); !errors.Is(err, errDiskGone) {
		t.Fatalf("failing delivery: %v", err)
	}
	b.setCrash(false)
	if _, err := st.Expunge(ctx, a.ID, gone[0].MailboxID, []uint32{gone[0].UID}); err != nil {
		t.Fatal(err)
	}
	b.setStuck(false)
	// More deliveries: new ranges, and a commit after the expunge's.
	for i := range 3 {
		storetest.Deliver(t, st, fmt.Sprintf("Subject: %d\r\n\r\n", i), a.ID)
	}
	puts := b.check(t)
	left := puts[:2] // the expunged body and the failed one
	var gc []int64
	rows, err := st.rdb.Query(`SELECT blob_id FROM blob_gc`)
	if err != nil {
		t.Fatal(err)
	}
	if gc, err = scanInt64s(rows); err != nil || !slices.Equal(gc, left[:1]) {
		t.Fatalf("blob_gc %v, %v; want %v", gc, err, left[:1])
	}
	ranges := intentRows(t, st)
	if !slices.ContainsFunc(ranges, func(r store.IDRange) bool { return r.Lo <= left[1] && left[1] < r.Hi }) {
		t.Fatalf("blob_intents %v lost the range of the file left at %d", ranges, left[1])
	}
	if got := blobFiles(t, dir); !slices.Equal(got, puts) {
		t.Fatalf("files %v, want %v", got, puts)
	}
	st.Close()
	st = open(t, dir, true)
	defer st.Close()
	if got := blobFiles(t, dir); !slices.Equal(got, puts[2:]) {
		t.Fatalf("files after restart %v, want %v", got, puts[2:])
	}
}

// TestBlobIDsAscendAcrossRestarts: blob IDs only go up, across restarts of
// the server and an admin process in between, and never repeat one a
// failed batch took.
func TestBlobIDsAscendAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var all []int64
	var acct int64
	for round, exclusive := range []bool{true, true, false, true, false, true} {
		st := openWith(t, dir, exclusive, 4)
		b := watchIntents(st)
		if round == 0 {
			acct = storetest.Account(t, st, "alice@example.org").ID
		}
		for i := range 3 {
			storetest.Deliver(t, st, fmt.Sprintf("Subject: %d.%d\r\n\r\n", round, i), acct)
		}
		if round == 1 {
			// A failed batch: its IDs are spent.
			b.setCrash(true)
			if _, err := deliverBody(ctx, st, acct, "Subject: failed\r\n\r\n"); err == nil {
				t.Fatal("the failing batch committed")
			}
			b.setCrash(false)
		}
		all = append(all, b.check(t)...)
		st.Close()
	}
	for i := 1; i < len(all); i++ {
		if all[i] <= all[i-1] {
			t.Fatalf("blob IDs not strictly ascending across restarts: %v", all)
		}
	}
	st := open(t, dir, true)
	defer st.Close()
	if got, rows := blobFiles(t, dir), blobRows(t, st); !slices.Equal(got, rows) || len(rows) != 18 {
		t.Fatalf("files %v, rows %v", got, rows)
	}
}

// TestAdminBesideServerBlobIDs: an admin process (a non-exclusive Store)
// delivering beside the server reserves ranges that never overlap the
// server's: no ID is taken twice and every body reads back as written.
// When the server restarts meanwhile, its clean-up settles the admin's
// range (IDs left in it); the admin's next write notices and reserves a
// new one.
func TestAdminBesideServerBlobIDs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	server := openWith(t, dir, true, 4)
	a := storetest.Account(t, server, "alice@example.org")
	admin := openWith(t, dir, false, 1000)
	defer admin.Close()
	sb, ab := watchIntents(server), watchIntents(admin)

	bodies := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	deliverFrom := func(st *Store, who string, n int) {
		for i := range n {
			wg.Go(func() {
				body := fmt.Sprintf("Subject: %s %d\r\n\r\nfrom %s, %d\r\n", who, i, who, i)
				if _, err := deliverBody(ctx, st, a.ID, body); err != nil {
					t.Errorf("%s delivery %d: %v", who, i, err)
					return
				}
				mu.Lock()
				bodies[body] = true
				mu.Unlock()
			})
		}
	}
	deliverFrom(server, "server", 30)
	deliverFrom(admin, "admin", 30)
	wg.Wait()

	// The server restarts while the admin process stays.
	sPuts := sb.check(t)
	server.Close()
	server = openWith(t, dir, true, 4)
	defer server.Close()
	sb2 := watchIntents(server)
	deliverFrom(admin, "admin-after", 5)
	deliverFrom(server, "server-after", 5)
	wg.Wait()

	aPuts := ab.check(t)
	sPuts = append(sPuts, sb2.check(t)...)
	ids := append(slices.Clone(sPuts), aPuts...)
	slices.Sort(ids)
	if len(ids) != 70 || len(slices.Compact(slices.Clone(ids))) != 70 {
		t.Fatalf("%d blob IDs, some twice: server %v, admin %v", len(ids), sPuts, aPuts)
	}
	if got := blobRows(t, server); !slices.Equal(got, ids) {
		t.Fatalf("blob rows %v, want %v", got, ids)
	}
	if got := blobFiles(t, dir); !slices.Equal(got, ids) {
		t.Fatalf("files %v, want %v", got, ids)
	}
	mb, err := server.Mailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := server.Messages(ctx, a.ID, mb.ID, 0)
	if err != nil || len(msgs) != 70 {
		t.Fatalf("%d messages, %v", len(msgs), err)
	}
	for _, m := range msgs {
		r, err := server.OpenMessage(ctx, a.ID, mb.ID, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r)
		r.Close()
		if !bodies[string(body)] {
			t.Fatalf("UID %d reads %q, not a body written", m.UID, body)
		}
		delete(bodies, string(body))
	}
}

// TestCleanWaitsForWriterBeside: the start-up clean-up runs under SQLite's
// write lock, so a body another process has linked in a batch not yet
// committed is not taken for an orphan: the clean-up (of the server's next
// start, run here by hand) waits for that commit, and the body stays.
func TestCleanWaitsForWriterBeside(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	server := open(t, dir, true)
	defer server.Close()
	a := storetest.Account(t, server, "alice@example.org")
	admin := open(t, dir, false)
	defer admin.Close()

	// A first write holds the admin's writer while a delivery and then a
	// gate queue behind it; released, they share the next batch in that
	// order, and the gate holds it open after the body is linked.
	entered, unblock := make(chan struct{}), make(chan struct{})
	linked, release := make(chan []int64, 1), make(chan struct{})
	wrote := make(chan error, 3)
	go func() {
		wrote <- admin.write(ctx, func(*wtx) error {
			close(entered)
			<-unblock
			return nil
		})
	}()
	<-entered
	sp := storetest.Spool(t, admin, "Subject: beside\r\n\r\nbeside\r\n")
	go func() {
		_, err := admin.Deliver(ctx, &store.Delivery{Spool: sp, Targets: []store.Target{{AccountID: a.ID}}})
		wrote <- err
	}()
	waitQueued(t, admin, 1)
	go func() {
		wrote <- admin.write(ctx, func(w *wtx) error {
			var ids []int64
			for _, f := range files(t, filepath.Join(dir, "msg")) {
				id, _ := strconv.ParseInt(filepath.Base(f), 10, 64)
				ids = append(ids, id)
			}
			linked <- ids
			<-release
			return nil
		})
	}()
	waitQueued(t, admin, 2)
	close(unblock)
	ids := <-linked
	if len(ids) != 1 {
		close(release)
		t.Fatalf("files %v in the open batch, want the delivery's", ids)
	}
	id := ids[0]

	cleaned := make(chan error, 1)
	go func() {
		_, err := server.cleanIntents(ctx)
		cleaned <- err
	}()
	// Give the clean-up time to run too early, if it could.
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-cleaned:
		close(release)
		t.Fatalf("the clean-up finished (%v) while another process held a batch open", err)
	default:
	}
	close(release)
	for range 3 {
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
	}
	if err := <-cleaned; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(server.blobs.(*store.FileBlobs).Path(id)); err != nil {
		t.Fatalf("the admin's committed body %d: %v", id, err)
	}
	if got := blobRows(t, server); !slices.Equal(got, []int64{id}) {
		t.Fatalf("blob rows %v, want [%d]", got, id)
	}
	// The admin's range was settled: its next body goes under a new one.
	storetest.Deliver(t, admin, "Subject: next\r\n\r\n", a.ID)
	if got := blobRows(t, server); len(got) != 2 || got[1] <= id {
		t.Fatalf("blob rows %v after the admin's next delivery", got)
	}
}

// waitQueued waits until n writes wait in st's queue.
func waitQueued(t *testing.T, st *Store, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(st.ops) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d writes queued", len(st.ops), n)
		}
	}
}

// TestFileBlobsClean: FileBlobs.Clean removes every spool and, across
// shard directories, exactly the files in the intents that are not
// committed.
func TestFileBlobsClean(t *testing.T) {
	dir := t.TempDir()
	b, err := store.NewFileBlobs(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids := []int64{5, 4095, 4096, 4100, 8191, 9000, 20000, 1 << 40}
	for _, id := range ids {
		sp, err := b.NewSpool()
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(sp, "x")
		if err := sp.Finish(); err != nil {
			t.Fatal(err)
		}
		if err := b.Put(sp, id); err != nil {
			t.Fatal(err)
		}
		if id == 5 {
			continue // its spool stays, as if received when the process died
		}
		sp.Discard()
	}
	committed := map[int64]bool{4100: true, 20000: true}
	n, err := b.Clean([]store.IDRange{{Lo: 9000, Hi: math.MaxInt64}, {Lo: 4095, Hi: 4101}, {Lo: 6000, Hi: 6000}},
		func(id int64) (bool, error) { return committed[id], nil })
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{5, 4100, 8191, 20000}
	if got := blobFiles(t, dir); n != 1+4 || !slices.Equal(got, want) {
		t.Fatalf("Clean removed %d; files %v, want %v", n, got, want)
	}
	if n := countFiles(t, filepath.Join(dir, "tmp")); n != 0 {
		t.Fatalf("%d spools left", n)
	}
	if n, err := b.Clean(nil, nil); err != nil || n != 0 {
		t.Fatalf("Clean without intents: %d, %v", n, err)
	}
}
