package sqlite

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"postel/internal/metrics"
	"postel/internal/store"
	"postel/internal/store/storetest"
	"postel/internal/testutil/scrape"
)

// TestPingAndQueueStats: Ping answers while the store is open and fails
// once it is closed; QueueStats counts the queue and finds its oldest
// entry.
func TestPingAndQueueStats(t *testing.T) {
	ctx := context.Background()
	st := open(t, t.TempDir(), true)
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping of an open store: %v", err)
	}
	if n, oldest, err := st.QueueStats(ctx); err != nil || n != 0 || !oldest.IsZero() {
		t.Fatalf("empty queue: %d, %v, %v", n, oldest, err)
	}
	for i := range 3 {
		sp := storetest.Spool(t, st, fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i))
		if _, err := st.Deliver(ctx, &store.Delivery{Spool: sp, Queue: &store.QueueEntry{
			From: "a@example.org", NextAttempt: time.Now(),
			Recipients: []store.QueueRcpt{{Address: fmt.Sprintf("r%d@example.net", i), Status: "pending"}},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	q, err := st.Queue(ctx)
	if err != nil || len(q) != 3 {
		t.Fatalf("Queue: %d entries, %v", len(q), err)
	}
	// The store dates entries at their arrival: make the second one
	// older than the others.
	created := time.Now().Add(-time.Hour).Truncate(time.Second)
	if _, err := st.wdb.ExecContext(ctx, `UPDATE queue SET created = ? WHERE id = ?`, created.Unix(), q[1].ID); err != nil {
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
}

// TestCommitMetrics: every group commit is measured once, with the
// number of writes it held.
func TestCommitMetrics(t *testing.T) {
	m := metrics.New()
	st, err := Open(context.Background(), t.TempDir(), Options{Exclusive: true, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acct := storetest.Account(t, st, "alice@example.org") // two writes: domain, account
	errs, _ := batchOf(t, st, acct.ID, 5, nil)            // one commit: the gate and 5 deliveries
	for i, err := range errs {
		if err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	f, err := scrape.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	commits, _ := f.Value("postel_store_commit_duration_seconds")
	writes := f["postel_store_commit_writes"].GetMetric()[0].GetHistogram()
	// CreateAccount may make its INBOX in the same write or not: the
	// counts are those of the writes this test made, whatever they are.
	if commits < 3 || float64(writes.GetSampleCount()) != commits || writes.GetSampleSum() < 8 {
		t.Fatalf("commits %v, writes histogram count %d sum %v", commits, writes.GetSampleCount(), writes.GetSampleSum())
	}
	var six bool
	for _, b := range writes.GetBucket() {
		if b.GetUpperBound() == 4 && b.GetCumulativeCount() == writes.GetSampleCount() {
			t.Fatalf("no commit held more than 4 writes: %v", writes)
		}
		six = six || b.GetUpperBound() == 8
	}
	if !six {
		t.Fatalf("buckets: %v", writes.GetBucket())
	}
}

// BenchmarkDeliverMetrics is BenchmarkDeliver with the commits measured
// (Options.Metrics), to compare with it.
func BenchmarkDeliverMetrics(b *testing.B) {
	b.Run("senders=GOMAXPROCS", func(b *testing.B) { benchDeliverMetrics(b, 1) })
	b.Run("senders=20xGOMAXPROCS", func(b *testing.B) { benchDeliverMetrics(b, 20) })
}

func benchDeliverMetrics(b *testing.B, parallel int) {
	st, err := Open(context.Background(), b.TempDir(), Options{Exclusive: true, Metrics: metrics.New()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.AddDomain(ctx, "example.org"); err != nil {
		b.Fatal(err)
	}
	a, err := st.CreateAccount(ctx, "alice@example.org", store.Credentials{})
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 4096)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	b.SetBytes(int64(len(body)))
	b.SetParallelism(parallel)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			sp, err := st.NewSpool()
			if err != nil {
				b.Error(err)
				return
			}
			sp.Write(body)
			if err := sp.Finish(); err != nil {
				b.Error(err)
				return
			}
			if _, err := st.Deliver(ctx, &store.Delivery{Spool: sp, Targets: []store.Target{{AccountID: a.ID}}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
