package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"postel/internal/store"
	"postel/internal/store/storetest"
)

var ctx = context.Background()

// nextChanges waits for the subscription's next changes.
func nextChanges(t *testing.T, sub store.Subscription, within time.Duration) []store.Change {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case <-sub.Ready():
			// A signal may be left from changes taken already.
			if got := sub.Next(); len(got) > 0 {
				return got
			}
		case <-deadline:
			t.Fatalf("no change within %v", within)
			return nil
		}
	}
}

// waitChange waits for a change of the given kind, returning it and those
// before it.
func waitChange(t *testing.T, sub store.Subscription, kind store.ChangeKind, within time.Duration) []store.Change {
	t.Helper()
	deadline := time.After(within)
	var got []store.Change
	for {
		select {
		case <-sub.Ready():
		case <-deadline:
			t.Fatalf("no change of kind %v within %v; got %+v", kind, within, got)
		}
		for _, c := range sub.Next() {
			got = append(got, c)
			if c.Kind == kind {
				return got
			}
		}
	}
}

// caughtUp returns once each store's follower has made two complete looks
// since the call (the first may have begun before it), then empties the
// subscriptions: what was committed before is published and gone.
func caughtUp(t *testing.T, stores []*Store, subs ...store.Subscription) {
	t.Helper()
	for _, st := range stores {
		ch := make(chan struct{}, 2)
		fn := func(int) {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		st.afterLook.Store(&fn)
		for range 2 {
			select {
			case <-ch:
			case <-time.After(10 * time.Second):
				t.Fatal("the follower does not look")
			}
		}
		st.afterLook.Store(nil)
	}
	for _, sub := range subs {
		sub.Next()
	}
}

// TestFeedAcrossNodes: two Stores ("nodes") on one database. What one
// commits reaches the other's subscribers within a second (NOTIFY);
// what a node writes itself is published once, before the write
// returns, and never again by its follower.
func TestFeedAcrossNodes(t *testing.T) {
	dsn := newDB(t)
	a, b := open(t, dsn), open(t, dsn)
	alice := storetest.Account(t, a, "alice@example.org")
	inbox, err := a.Mailbox(ctx, alice.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	subA, subB := a.Subscribe(alice.ID), b.Subscribe(alice.ID)
	defer subA.Close()
	defer subB.Close()
	caughtUp(t, []*Store{a, b}, subA, subB)

	start := time.Now()
	d := storetest.Deliver(t, a, "Subject: one\r\n\r\nx\r\n", alice.ID)
	select {
	case <-subA.Ready():
	default:
		t.Fatal("own change not published when the write returned")
	}
	if got := subA.Next(); len(got) != 1 || got[0].Kind != store.ChangeAdded || got[0].MailboxID != inbox.ID {
		t.Fatalf("own changes = %+v", got)
	}
	got := nextChanges(t, subB, time.Second)
	t.Logf("seen on the other node after %v", time.Since(start))
	if len(got) != 1 || got[0].Kind != store.ChangeAdded || !slices.Equal(got[0].UIDs, []uint32{d[0].UID}) || got[0].ModSeq == 0 {
		t.Fatalf("changes on the other node = %+v", got)
	}
	// The other node reads what was committed, through its own pool.
	if msgs, err := b.Messages(ctx, alice.ID, inbox.ID, 0); err != nil || len(msgs) != 1 {
		t.Fatalf("other node's Messages = %+v, %v", msgs, err)
	}

	if _, err := b.StoreFlags(ctx, alice.ID, inbox.ID, []uint32{1}, store.FlagsAdd, []string{store.FlagSeen}, 0); err != nil {
		t.Fatal(err)
	}
	if got := nextChanges(t, subA, time.Second); len(got) != 1 || got[0].Kind != store.ChangeFlags || !slices.Equal(got[0].UIDs, []uint32{1}) {
		t.Fatalf("flag change from the other node = %+v", got)
	}
	if got := subB.Next(); len(got) != 1 || got[0].Kind != store.ChangeFlags {
		t.Fatalf("own flag change = %+v", got)
	}

	// Deleting the account: the mailboxes' changes, then the account's,
	// in that order on the other node too.
	if err := b.DeleteAccount(ctx, "alice@example.org"); err != nil {
		t.Fatal(err)
	}
	all := waitChange(t, subA, store.ChangeAccount, 2*time.Second)
	var kinds []store.ChangeKind
	for _, c := range all {
		kinds = append(kinds, c.Kind)
	}
	if kinds[len(kinds)-1] != store.ChangeAccount || !slices.Contains(kinds, store.ChangeMailbox) || !slices.Contains(kinds, store.ChangeExpunged) {
		t.Fatalf("changes of the deletion on the other node: %v", kinds)
	}

	// Nothing is published twice: several polls later, nothing more.
	time.Sleep(3 * feedPoll)
	if got := subA.Next(); len(got) != 0 {
		t.Fatalf("published again on a: %+v", got)
	}
	if got := subB.Next(); len(got) != len(all) {
		t.Fatalf("b's own changes: %d, want %d", len(got), len(all))
	}
	if got := subB.Next(); len(got) != 0 {
		t.Fatalf("published again on b: %+v", got)
	}
}

// TestConcurrentAppendTwoNodes: 8 goroutines on each of two nodes append
// into one mailbox at once. UIDs are unique and without holes, MODSEQs
// ascend with them, and a third node's follower sees the additions in
// MODSEQ order: commit order per mailbox.
func TestConcurrentAppendTwoNodes(t *testing.T) {
	dsn := newDB(t)
	nodes := []*Store{open(t, dsn), open(t, dsn)}
	watcher := open(t, dsn)
	alice := storetest.Account(t, nodes[0], "alice@example.org")
	sub := watcher.Subscribe(alice.ID)
	defer sub.Close()
	caughtUp(t, []*Store{watcher}, sub)
	const perGoroutine = 10
	const goroutines = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	var uids []uint32
	for n, st := range nodes {
		for g := range goroutines {
			wg.Go(func() {
				for i := range perGoroutine {
					sp := storetest.Spool(t, st, fmt.Sprintf("Subject: %d/%d/%d\r\n\r\nx\r\n", n, g, i))
					out, err := st.Deliver(ctx, &store.Delivery{Spool: sp, Targets: []store.Target{{AccountID: alice.ID}}})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					uids = append(uids, out[0].UID)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	const total = 2 * goroutines * perGoroutine
	slices.Sort(uids)
	if len(uids) != total || len(slices.Compact(slices.Clone(uids))) != total || uids[0] != 1 || uids[total-1] != total {
		t.Fatalf("UIDs = %v", uids)
	}
	inbox, err := watcher.Mailbox(ctx, alice.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := watcher.Messages(ctx, alice.ID, inbox.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(msgs); i++ {
		if msgs[i].UID <= msgs[i-1].UID || msgs[i].ModSeq <= msgs[i-1].ModSeq {
			t.Fatalf("message %d: UID %d MODSEQ %d after UID %d MODSEQ %d", i, msgs[i].UID, msgs[i].ModSeq, msgs[i-1].UID, msgs[i-1].ModSeq)
		}
	}
	if inbox.UIDNext != total+1 || inbox.HighestModSeq != msgs[total-1].ModSeq || inbox.Messages != total {
		t.Fatalf("INBOX = %+v", inbox)
	}
	// The third node's follower, in the order it published.
	var seen []store.Change
	deadline := time.After(10 * time.Second)
	for len(seen) < total {
		select {
		case <-sub.Ready():
			for _, c := range sub.Next() {
				if c.Kind == store.ChangeAdded {
					seen = append(seen, c)
				}
			}
		case <-deadline:
			t.Fatalf("the watcher saw %d of %d additions", len(seen), total)
		}
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].ModSeq <= seen[i-1].ModSeq || seen[i].UIDs[0] <= seen[i-1].UIDs[0] {
			t.Fatalf("published out of commit order: %+v then %+v", seen[i-1], seen[i])
		}
	}
}

// TestClaimQueueTwoNodes: workers on two nodes claim at once; no entry is
// handed to two of them, and every entry is handed out.
func TestClaimQueueTwoNodes(t *testing.T) {
	dsn := newDB(t)
	nodes := []*Store{open(t, dsn), open(t, dsn)}
	const entries = 60
	for i := range entries {
		sp := storetest.Spool(t, nodes[0], fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", i))
		if _, err := nodes[0].Deliver(ctx, &store.Delivery{Spool: sp, Queue: &store.QueueEntry{From: "a@example.org",
			Recipients: []store.QueueRcpt{{Address: fmt.Sprintf("r%d@example.net", i)}}}}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().Add(time.Second)
	var mu sync.Mutex
	claimed := map[int64][]string{}
	var wg sync.WaitGroup
	for n, st := range nodes {
		for w := range 4 {
			owner := fmt.Sprintf("node%d-worker%d", n, w)
			wg.Go(func() {
				for {
					got, err := st.ClaimQueue(ctx, owner, now, time.Hour, 3)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, e := range got {
						if e.LeaseOwner != owner {
							t.Errorf("entry %d claimed by %s has owner %q", e.ID, owner, e.LeaseOwner)
						}
						claimed[e.ID] = append(claimed[e.ID], owner)
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if len(claimed) != entries {
		t.Fatalf("%d entries claimed, want %d", len(claimed), entries)
	}
	for id, owners := range claimed {
		if len(owners) != 1 {
			t.Fatalf("entry %d claimed by %v", id, owners)
		}
	}
	// Only the owner records the attempt, from either node.
	var id int64
	var owner string
	for k, v := range claimed {
		id, owner = k, v[0]
		break
	}
	other := nodes[1]
	if strings.HasPrefix(owner, "node1") {
		other = nodes[0]
	}
	rc := []store.QueueRcpt{{Address: "x@example.net", Status: "pending"}}
	if err := other.UpdateQueue(ctx, id, "someone-else", rc, time.Now()); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("update by another owner: %v", err)
	}
	if err := other.UpdateQueue(ctx, id, owner, rc, time.Now()); err != nil {
		t.Fatalf("update by the owner through the other node: %v", err)
	}
}

// hold makes st's next write that records changes stop before its commit
// until release is called (at the latest when the test ends); inserted
// is closed when it got there. Later writes pass.
func hold(t *testing.T, st *Store) (inserted chan struct{}, release func()) {
	inserted = make(chan struct{})
	ch := make(chan struct{})
	release = sync.OnceFunc(func() { close(ch) })
	t.Cleanup(release)
	var once sync.Once
	fn := func([]store.Change) error {
		first := false
		once.Do(func() { first = true })
		if first {
			close(inserted)
			<-ch
		}
		return nil
	}
	st.beforeCommit.Store(&fn)
	return inserted, release
}

// watchGaps reports the gaps of st's follower after each of its looks.
func watchGaps(st *Store) <-chan int {
	ch := make(chan int, 100)
	fn := func(gaps int) {
		select {
		case ch <- gaps:
		default:
		}
	}
	st.afterLook.Store(&fn)
	return ch
}

// waitGaps waits until st's follower has looked and waits for gaps (or
// fewer, with atMost).
func waitGaps(t *testing.T, ch <-chan int, want int, atMost bool, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	last := -1
	for {
		select {
		case n := <-ch:
			last = n
			if n == want || (atMost && n <= want) {
				return
			}
		case <-deadline:
			t.Fatalf("follower waits for %d gaps, want %d", last, want)
		}
	}
}

// TestFeedOutOfOrderCommit: node A takes a change's seq first but commits
// after node B, whose seq is higher. The watcher's follower sees B's row
// first, keeps A's seq as a gap, and publishes A's change when it commits.
func TestFeedOutOfOrderCommit(t *testing.T) {
	dsn := newDB(t)
	a, b, w := open(t, dsn), open(t, dsn), open(t, dsn)
	alice := storetest.Account(t, a, "alice@example.org")
	bob := storetest.Account(t, a, "bob@example.org")
	subAlice, subBob := w.Subscribe(alice.ID), w.Subscribe(bob.ID)
	defer subAlice.Close()
	defer subBob.Close()
	caughtUp(t, []*Store{w}, subAlice, subBob)
	gaps := watchGaps(w)

	inserted, release := hold(t, a)
	done := make(chan error, 1)
	go func() {
		_, err := a.Deliver(ctx, &store.Delivery{Spool: storetest.Spool(t, a, "Subject: a\r\n\r\nfirst seq\r\n"),
			Targets: []store.Target{{AccountID: alice.ID}}})
		done <- err
	}()
	<-inserted
	// B commits a higher seq while A's is taken and not committed.
	storetest.Deliver(t, b, "Subject: b\r\n\r\nsecond seq\r\n", bob.ID)
	if got := nextChanges(t, subBob, 2*time.Second); len(got) != 1 || got[0].Kind != store.ChangeAdded {
		t.Fatalf("bob's change = %+v", got)
	}
	// The follower went past A's seq, which it waits for.
	waitGaps(t, gaps, 1, false, 5*time.Second)
	waitGaps(t, gaps, 1, false, 5*time.Second) // still, a look later
	if got := subAlice.Next(); len(got) != 0 {
		t.Fatalf("alice's change published before its commit: %+v", got)
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := nextChanges(t, subAlice, 2*time.Second); len(got) != 1 || got[0].Kind != store.ChangeAdded || got[0].AccountID != alice.ID {
		t.Fatalf("alice's change after its late commit = %+v", got)
	}
	waitGaps(t, gaps, 0, false, 5*time.Second)
}

// TestFeedRolledBackGap: a write that took a seq and rolled back leaves a
// gap the follower stops waiting for once the transaction has ended, with
// nothing published; the feed goes on.
func TestFeedRolledBackGap(t *testing.T) {
	dsn := newDB(t)
	a, w := open(t, dsn), open(t, dsn)
	alice := storetest.Account(t, a, "alice@example.org")
	sub := w.Subscribe(alice.ID)
	defer sub.Close()
	caughtUp(t, []*Store{w}, sub)
	gaps := watchGaps(w)
	fail := errors.New("rolled back on purpose")
	fn := func([]store.Change) error { return fail }
	a.beforeCommit.Store(&fn)
	_, err := a.Deliver(ctx, &store.Delivery{Spool: storetest.Spool(t, a, "Subject: gone\r\n\r\nx\r\n"),
		Targets: []store.Target{{AccountID: alice.ID}}})
	if !errors.Is(err, fail) {
		t.Fatalf("Deliver = %v", err)
	}
	a.beforeCommit.Store(nil)
	storetest.Deliver(t, a, "Subject: kept\r\n\r\nx\r\n", alice.ID)
	got := nextChanges(t, sub, 2*time.Second)
	if len(got) != 1 || !slices.Equal(got[0].UIDs, []uint32{1}) {
		// UID 1 was never committed: the rollback undid its allocation.
		t.Fatalf("changes = %+v", got)
	}
	waitGaps(t, gaps, 0, false, 5*time.Second)
	if got := sub.Next(); len(got) != 0 {
		t.Fatalf("published from a rolled-back write: %+v", got)
	}
}

// TestMigrateConcurrently: nodes opening a new database at once apply
// each migration once.
func TestMigrateConcurrently(t *testing.T) {
	dsn := newDB(t)
	const n = 6
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = Open(ctx, dsn, Options{SpoolDir: t.TempDir()}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	var rows, versions, top int
	if err := stores[0].pool.QueryRow(ctx, `SELECT COUNT(*), COUNT(DISTINCT version), MAX(version) FROM schema_version`).Scan(&rows, &versions, &top); err != nil {
		t.Fatal(err)
	}
	if rows != len(migrations) || versions != len(migrations) || top != len(migrations) {
		t.Fatalf("schema_version: %d rows, %d versions, top %d; want %d", rows, versions, top, len(migrations))
	}
	// Each works.
	storetest.Account(t, stores[n-1], "alice@example.org")
	if _, err := stores[0].Account(ctx, "alice@example.org"); err != nil {
		t.Fatal(err)
	}
}

// TestSchemaTooNew: a database a newer postel migrated is refused, with
// both versions named, and left as it was.
func TestSchemaTooNew(t *testing.T) {
	dsn := newDB(t)
	st := open(t, dsn)
	future := len(migrations) + 1
	if _, err := st.pool.Exec(ctx, `INSERT INTO schema_version (version, applied) VALUES ($1, 0)`, future); err != nil {
		t.Fatal(err)
	}
	shape := func() string {
		var s string
		if err := st.pool.QueryRow(ctx, `SELECT string_agg(table_name || '.' || column_name, ',' ORDER BY table_name, column_name)
			FROM information_schema.columns WHERE table_schema = 'public'`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		var versions string
		if err := st.pool.QueryRow(ctx, `SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_version`).Scan(&versions); err != nil {
			t.Fatal(err)
		}
		return s + "|" + versions
	}
	before := shape()
	_, err := Open(ctx, dsn, Options{SpoolDir: t.TempDir()})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
	}
	for _, want := range []string{fmt.Sprint(future), fmt.Sprint(len(migrations)), "newer"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if after := shape(); after != before {
		t.Fatalf("the refused database changed:\n%s\n%s", before, after)
	}
}
