package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"postel/internal/metrics"
	"postel/internal/store"
	"postel/internal/store/storetest"
	"postel/internal/testutil/pgtest"
	"postel/internal/testutil/scrape"
)

// TestUnavailable: with the database server stopped, methods fail
// promptly with store.ErrUnavailable (wrapping the cause); once it runs
// again the pool reconnects, and the follower listens again and catches up
// on what another node wrote meanwhile.
func TestUnavailable(t *testing.T) {
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	opts := Options{SpoolDir: t.TempDir(), ConnectTimeout: 2 * time.Second, OpTimeout: 5 * time.Second}
	a, err := Open(ctx, dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	alice := storetest.Account(t, a, "alice@example.org")
	inbox, err := a.Mailbox(ctx, alice.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	sub := a.Subscribe(alice.ID)
	defer sub.Close()

	srv.Stop(t)
	for _, op := range []struct {
		name string
		fn   func() error
	}{
		{"Ping", func() error { return a.Ping(ctx) }},
		{"Mailbox", func() error { _, err := a.Mailbox(ctx, alice.ID, "INBOX"); return err }},
		{"Deliver", func() error {
			_, err := a.Deliver(ctx, &store.Delivery{Spool: storetest.Spool(t, a, "Subject: x\r\n\r\nx\r\n"),
				Targets: []store.Target{{AccountID: alice.ID}}})
			return err
		}},
		{"OpenMessage", func() error { _, err := a.OpenMessage(ctx, alice.ID, inbox.ID, 1); return err }},
	} {
		start := time.Now()
		err := op.fn()
		took := time.Since(start)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("%s with the server down: %v, want store.ErrUnavailable", op.name, err)
		}
		if took > 7*time.Second {
			t.Fatalf("%s took %v to fail", op.name, took)
		}
		t.Logf("%s: %v after %v", op.name, err, took.Round(time.Millisecond))
	}
	// A caller's own deadline is the caller's: not "unavailable".
	dctx, cancel := context.WithTimeout(ctx, time.Nanosecond)
	time.Sleep(time.Millisecond)
	if err := a.Ping(dctx); errors.Is(err, store.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ping past the caller's deadline: %v", err)
	}
	cancel()

	srv.StartAgain(t)
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := a.Ping(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping after the restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Another node writes; a's follower (re)connects and publishes it.
	b, err := Open(ctx, dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	storetest.Deliver(t, b, "Subject: after\r\n\r\nx\r\n", alice.ID)
	got := waitChange(t, sub, store.ChangeAdded, 10*time.Second)
	if c := got[len(got)-1]; c.AccountID != alice.ID || c.MailboxID != inbox.ID {
		t.Fatalf("change after the restart = %+v", got)
	}
	if _, err := a.Deliver(ctx, &store.Delivery{Spool: storetest.Spool(t, a, "Subject: y\r\n\r\ny\r\n"),
		Targets: []store.Target{{AccountID: alice.ID}}}); err != nil {
		t.Fatalf("Deliver after the restart: %v", err)
	}
}

// TestLargeBody: a body of several chunks reads back whole and by ranges
// across chunk boundaries, through the prefix, from another node too.
func TestLargeBody(t *testing.T) {
	dsn := newDB(t)
	a, b := open(t, dsn), open(t, dsn)
	alice := storetest.Account(t, a, "alice@example.org")
	body := make([]byte, 2*chunkSize+12345)
	for i := range body {
		body[i] = byte('a' + i%26 + (i/chunkSize)%2*('A'-'a'))
	}
	prefix := []byte("Received: big\r\n")
	out, err := a.Deliver(ctx, &store.Delivery{Spool: storetest.Spool(t, a, string(body)), Prefix: prefix,
		Targets: []store.Target{{AccountID: alice.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, prefix...), body...)
	for _, st := range []*Store{a, b} {
		r, err := st.OpenMessage(ctx, alice.ID, out[0].MailboxID, out[0].UID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Size() != int64(len(want)) {
			t.Fatalf("Size = %d, want %d", r.Size(), len(want))
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("whole read: %d bytes, %v", len(got), err)
		}
		for _, c := range []struct{ off, n int64 }{
			{0, 10}, {int64(len(prefix)) - 3, 10}, {int64(len(prefix)) + chunkSize - 5, 10},
			{int64(len(prefix)) + chunkSize - 5, chunkSize + 10}, {int64(len(want)) - 7, 7}, {3, int64(len(want)) - 3},
		} {
			p := make([]byte, c.n)
			n, err := r.ReadAt(p, c.off)
			if err != nil || int64(n) != c.n || !bytes.Equal(p, want[c.off:c.off+c.n]) {
				t.Fatalf("ReadAt(%d, %d) = %d, %v", c.off, c.n, n, err)
			}
		}
		p := make([]byte, 10)
		if n, err := r.ReadAt(p, int64(len(want))-4); n != 4 || err != io.EOF {
			t.Fatalf("ReadAt past the end = %d, %v", n, err)
		}
		r.Close()
	}
	var chunks int
	if err := a.pool.QueryRow(ctx, `SELECT COUNT(*) FROM blob_chunks`).Scan(&chunks); err != nil || chunks != 3 {
		t.Fatalf("%d chunks, %v", chunks, err)
	}
	// An empty body.
	out, err = a.Deliver(ctx, &store.Delivery{Spool: storetest.Spool(t, a, ""), Prefix: prefix,
		Targets: []store.Target{{AccountID: alice.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := b.OpenMessage(ctx, alice.ID, out[0].MailboxID, out[0].UID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || string(got) != string(prefix) {
		t.Fatalf("empty body read %q, %v", got, err)
	}
	r.Close()
}

// blobCounts returns the number of blobs and of those still used.
func blobCounts(t *testing.T, st *Store) (all, used int) {
	t.Helper()
	if err := st.pool.QueryRow(ctx, `SELECT COUNT(*), COUNT(*) FILTER (WHERE refs > 0) FROM blobs`).Scan(&all, &used); err != nil {
		t.Fatal(err)
	}
	return all, used
}

// TestBlobLifecycle: one body for several recipients and the queue is one
// blob; copies share it; it is released when its last message and queue
// entry go, readers that opened it go on reading through the grace
// period, and the janitor deletes it after, with its chunks and text.
// Deleting an account releases its bodies.
func TestBlobLifecycle(t *testing.T) {
	dsn := newDB(t)
	st := open(t, dsn)
	alice := storetest.Account(t, st, "alice@example.org")
	bob := storetest.Account(t, st, "bob@example.org")
	d := &store.Delivery{Spool: storetest.Spool(t, st, "Subject: shared\r\n\r\nshared body\r\n"),
		Meta:    store.MessageMeta{BodyText: "shared body"},
		Targets: []store.Target{{AccountID: alice.ID}, {AccountID: bob.ID}},
		Queue:   &store.QueueEntry{From: "alice@example.org", Recipients: []store.QueueRcpt{{Address: "x@example.net"}}}}
	out, err := st.Deliver(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if all, used := blobCounts(t, st); all != 1 || used != 1 {
		t.Fatalf("%d blobs (%d used) for one delivery", all, used)
	}
	arch, err := st.Mailbox(ctx, alice.ID, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Copy(ctx, alice.ID, out[0].MailboxID, []uint32{out[0].UID}, arch.ID); err != nil {
		t.Fatal(err)
	}
	r, err := st.OpenMessage(ctx, alice.ID, out[0].MailboxID, out[0].UID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, step := range []func() error{
		func() error { _, err := st.Expunge(ctx, alice.ID, out[0].MailboxID, []uint32{out[0].UID}); return err },
		func() error { return st.DeleteQueued(ctx, out[0].QueueID) },
		func() error { return st.DeleteMailbox(ctx, alice.ID, "Archive") },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
		if _, used := blobCounts(t, st); used != 1 {
			t.Fatal("blob released while bob still has the message")
		}
	}
	if err := st.DeleteAccount(ctx, "bob@example.org"); err != nil {
		t.Fatal(err)
	}
	if all, used := blobCounts(t, st); all != 1 || used != 0 {
		t.Fatalf("after the last use: %d blobs, %d used", all, used)
	}
	// The reader opened before goes on, and so does one that has to fetch
	// its chunk from the database now.
	if got, err := io.ReadAll(r); err != nil || !bytes.Contains(got, []byte("shared body")) {
		t.Fatalf("reader after the release: %q, %v", got, err)
	}
	var blobID, size int64
	if err := st.pool.QueryRow(ctx, `SELECT id, size FROM blobs`).Scan(&blobID, &size); err != nil {
		t.Fatal(err)
	}
	cold := st.openBlob(blobID, size, chunkSize, nil)
	p := make([]byte, size)
	if n, err := cold.ReadAt(p, 0); n != int(size) || err != nil || !bytes.Contains(p, []byte("shared body")) {
		t.Fatalf("cold read in the grace period: %q, %v", p[:n], err)
	}
	// The janitor keeps it for blobGrace, then deletes it.
	if err := st.deleteReleasedBlobs(ctx, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if all, _ := blobCounts(t, st); all != 1 {
		t.Fatal("released blob deleted before its grace period")
	}
	if err := st.deleteReleasedBlobs(ctx, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	var blobs, chunks, texts int
	if err := st.pool.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM blobs), (SELECT COUNT(*) FROM blob_chunks), (SELECT COUNT(*) FROM blob_text)`).
		Scan(&blobs, &chunks, &texts); err != nil {
		t.Fatal(err)
	}
	if blobs+chunks+texts != 0 {
		t.Fatalf("after the janitor: %d blobs, %d chunks, %d texts", blobs, chunks, texts)
	}
	cold = st.openBlob(blobID, size, chunkSize, nil)
	if _, err := cold.ReadAt(p, 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("read of a deleted blob: %v", err)
	}
	// Used bytes follow the messages.
	if a, err := st.AccountByID(ctx, alice.ID); err != nil || a.UsedBytes != 0 {
		t.Fatalf("alice uses %d bytes, %v", a.UsedBytes, err)
	}
}

// TestMoveCrossDirections: moves between two mailboxes in both directions
// at once, on two nodes, neither deadlock nor lose messages.
func TestMoveCrossDirections(t *testing.T) {
	dsn := newDB(t)
	a, b := open(t, dsn), open(t, dsn)
	alice := storetest.Account(t, a, "alice@example.org")
	for i := range 20 {
		storetest.Deliver(t, a, fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", i), alice.ID)
	}
	inbox, _ := a.Mailbox(ctx, alice.ID, "INBOX")
	arch, _ := a.Mailbox(ctx, alice.ID, "Archive")
	done := make(chan error, 2)
	move := func(st *Store, from, to int64) {
		for range 20 {
			msgs, err := st.Messages(ctx, alice.ID, from, 0)
			if err != nil {
				done <- err
				return
			}
			if len(msgs) == 0 {
				continue
			}
			if _, _, err := st.Move(ctx, alice.ID, from, []uint32{msgs[0].UID}, to); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}
	go move(a, inbox.ID, arch.ID)
	go move(b, arch.ID, inbox.ID)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	in, _ := a.Messages(ctx, alice.ID, inbox.ID, 0)
	ar, _ := a.Messages(ctx, alice.ID, arch.ID, 0)
	if len(in)+len(ar) != 20 {
		t.Fatalf("%d + %d messages after the moves", len(in), len(ar))
	}
	if _, n, err := a.Usage(ctx, alice.ID); err != nil || n != 20 {
		t.Fatalf("Usage: %d messages, %v", n, err)
	}
}

// TestPingAndQueueStats: Ping answers while the store is open and fails
// once it is closed; QueueStats counts the queue and finds its oldest
// entry.
func TestPingAndQueueStats(t *testing.T) {
	st, err := Open(ctx, newDB(t), Options{SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping of an open store: %v", err)
	}
	if n, oldest, err := st.QueueStats(ctx); err != nil || n != 0 || !oldest.IsZero() {
		t.Fatalf("empty queue: %d, %v, %v", n, oldest, err)
	}
	for i := range 3 {
		sp := storetest.Spool(t, st, fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i))
		if _, err := st.Deliver(ctx, &store.Delivery{Spool: sp, Queue: &store.QueueEntry{From: "a@example.org",
			Recipients: []store.QueueRcpt{{Address: fmt.Sprintf("r%d@example.net", i)}}}}); err != nil {
			t.Fatal(err)
		}
	}
	q, err := st.Queue(ctx)
	if err != nil || len(q) != 3 {
		t.Fatalf("Queue: %d entries, %v", len(q), err)
	}
	created := time.Now().Add(-time.Hour).Truncate(time.Second)
	if _, err := st.pool.Exec(ctx, `UPDATE queue SET created = $1 WHERE id = $2`, created.Unix(), q[1].ID); err != nil {
		t.Fatal(err)
	}
	n, oldest, err := st.QueueStats(ctx)
	if err != nil || n != 3 || !oldest.Equal(created) {
		t.Fatalf("QueueStats = %d, %v, %v; want 3, %v", n, oldest, err, created)
	}
	st.Close()
	if err := st.Ping(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ping of a closed store = %v, want ErrClosed", err)
	}
	if err := st.AddDomain(ctx, "example.org"); !errors.Is(err, ErrClosed) {
		t.Fatalf("write to a closed store = %v, want ErrClosed", err)
	}
}

// TestCommitMetrics: every committed write is measured once.
func TestCommitMetrics(t *testing.T) {
	m := metrics.New()
	st, err := Open(ctx, newDB(t), Options{SpoolDir: t.TempDir(), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acct := storetest.Account(t, st, "alice@example.org") // two writes: domain, account
	for range 5 {
		storetest.Deliver(t, st, "Subject: m\r\n\r\nx\r\n", acct.ID)
	}
	_ = st.AddDomain(ctx, "example.org") // fails: not counted
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	f, err := scrape.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if commits, _ := f.Value("postel_store_commit_duration_seconds"); commits != 7 {
		t.Fatalf("%v commits measured, want 7", commits)
	}
}

// TestUnavailableSilentServer: a server that accepts connections and
// never answers (a network partition, a hung host) fails Open within the
// connect timeout, as store.ErrUnavailable.
func TestUnavailableSilentServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	start := time.Now()
	_, err = Open(ctx, fmt.Sprintf("postgres://postgres@%s/x?sslmode=disable", ln.Addr()),
		Options{SpoolDir: t.TempDir(), ConnectTimeout: time.Second})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open = %v, want store.ErrUnavailable", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Open took %v to fail", took)
	}
}
