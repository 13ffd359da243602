package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"postel/internal/store"
	"postel/internal/store/storetest"
)

// failingBlobs fails Sync of a batch that put body files while failing is
// set; everything else goes to the real blobs.
type failingBlobs struct {
	store.Blobs
	failing atomic.Bool
	syncs   atomic.Int32 // failed syncs
}

var errDiskGone = errors.New("the disk went away")

func (b *failingBlobs) Sync(ids []int64) error {
	if len(ids) > 0 && b.failing.Load() {
		b.syncs.Add(1)
		return errDiskGone
	}
	return b.Blobs.Sync(ids)
}

// batchOf runs extra, and n deliveries to acct, in one group commit: a
// write holds the writer until all of them are queued behind it. It
// returns each delivery's error, and extra's.
func batchOf(t *testing.T, st *Store, acct int64, n int, extra func(w *wtx) error) ([]error, error) {
	t.Helper()
	ctx := context.Background()
	entered, release := make(chan struct{}), make(chan struct{})
	gate := make(chan error, 1)
	go func() {
		gate <- st.write(ctx, func(*wtx) error {
			close(entered)
			<-release
			return nil
		})
	}()
	<-entered
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		sp := storetest.Spool(t, st, fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i))
		wg.Go(func() {
			_, errs[i] = st.Deliver(ctx, &store.Delivery{Spool: sp, Targets: []store.Target{{AccountID: acct}}})
		})
	}
	var extraErr error
	want := n
	if extra != nil {
		want++
		wg.Go(func() { extraErr = st.write(ctx, extra) })
	}
	// The writes wait in the queue, in full, before the writer is let go.
	for deadline := time.Now().Add(10 * time.Second); len(st.ops) < want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d writes queued", len(st.ops), want)
		}
	}
	close(release)
	if err := <-gate; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	return errs, extraErr
}

// nothingVisible checks that acct's INBOX is as new, that no body file is
// left, and that the subscription saw no change.
func nothingVisible(t *testing.T, st *Store, dir string, acct int64, sub store.Subscription) {
	t.Helper()
	ctx := context.Background()
	mb, err := st.Mailbox(ctx, acct, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := st.Messages(ctx, acct, mb.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 0 || mb.Messages != 0 || mb.UIDNext != 1 {
		t.Fatalf("after the failed batch: %d messages, INBOX %+v", len(msgs), mb)
	}
	if n := countFiles(t, filepath.Join(dir, "msg")); n != 0 {
		t.Fatalf("%d body files left by the failed batch", n)
	}
	if ch := sub.Next(); len(ch) != 0 {
		t.Fatalf("changes published for the failed batch: %+v", ch)
	}
}

// afterwards checks that the store works on: a delivery gets UID 1 (the
// failed batch used none) and is the first change announced.
func afterwards(t *testing.T, st *Store, dir string, acct int64, sub store.Subscription) {
	t.Helper()
	got := storetest.Deliver(t, st, "Subject: after\r\n\r\nafter\r\n", acct)
	if got[0].UID != 1 {
		t.Fatalf("the delivery after the failed batch got UID %d, want 1", got[0].UID)
	}
	select {
	case <-sub.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("no change announced for the delivery after the failed batch")
	}
	if ch := sub.Next(); len(ch) != 1 || ch[0].Kind != store.ChangeAdded || ch[0].UIDs[0] != 1 {
		t.Fatalf("changes after the failed batch: %+v", ch)
	}
	if n := countFiles(t, filepath.Join(dir, "msg")); n != 1 {
		t.Fatalf("%d body files, want 1", n)
	}
}

// TestSyncFailureFailsBatch: when syncing the batch's body files fails,
// every delivery waiting on that commit gets the error and nothing of the
// batch is visible: no message, no body file, no change announced.
func TestSyncFailureFailsBatch(t *testing.T) {
	dir := t.TempDir()
	st := open(t, dir, true)
	defer st.Close()
	a := storetest.Account(t, st, "alice@example.org")
	sub := st.Subscribe(a.ID)
	defer sub.Close()
	blobs := &failingBlobs{Blobs: st.blobs}
	st.blobs = blobs // before any write: the writer reads it after this
	blobs.failing.Store(true)

	errs, _ := batchOf(t, st, a.ID, 5, nil)
	for i, err := range errs {
		if !errors.Is(err, errDiskGone) {
			t.Errorf("delivery %d: %v, want the sync error", i, err)
		}
	}
	if n := blobs.syncs.Load(); n != 1 {
		t.Errorf("%d failed syncs, want 1 (one batch)", n)
	}
	nothingVisible(t, st, dir, a.ID, sub)
	blobs.failing.Store(false)
	afterwards(t, st, dir, a.ID, sub)
}

// TestCommitFailureFailsBatch: when the commit itself fails (here a
// foreign key checked only at commit time, which one write of the batch
// breaks), every write of the batch gets the error and nothing is visible;
// the writer goes on with the next batch.
func TestCommitFailureFailsBatch(t *testing.T) {
	dir := t.TempDir()
	st := open(t, dir, true)
	defer st.Close()
	a := storetest.Account(t, st, "alice@example.org")
	sub := st.Subscribe(a.ID)
	defer sub.Close()

	errs, poisonErr := batchOf(t, st, a.ID, 5, func(w *wtx) error {
		if _, err := w.tx.ExecContext(w.ctx, `PRAGMA defer_foreign_keys = ON`); err != nil {
			return err
		}
		_, err := w.tx.ExecContext(w.ctx, `INSERT INTO junk_rules (account_id, pattern, kind, created) VALUES (999999, 'x.example', 'block', 0)`)
		return err
	})
	if poisonErr == nil || !strings.HasPrefix(poisonErr.Error(), "sqlite: commit: ") {
		t.Fatalf("the write breaking a foreign key: %v, want the commit's error", poisonErr)
	}
	for i, err := range errs {
		if err == nil || err.Error() != poisonErr.Error() {
			t.Errorf("delivery %d: %v, want the commit error %v", i, err, poisonErr)
		}
	}
	nothingVisible(t, st, dir, a.ID, sub)
	afterwards(t, st, dir, a.ID, sub)
}
