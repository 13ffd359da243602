package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"postel/internal/store"
	"postel/internal/store/storetest"
)

func open(t testing.TB, dir string, exclusive bool) *Store {
	t.Helper()
	st, err := Open(context.Background(), dir, Options{Exclusive: exclusive})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, t.TempDir(), true) })
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, path)
		}
		return nil
	})
	return out
}

func countFiles(t *testing.T, dir string) int { return len(files(t, dir)) }

// TestReopenKeepsEverything checks data and UID state survive a restart and
// migrations are not run twice.
func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	st := open(t, dir, true)
	a := storetest.Account(t, st, "alice@example.org")
	storetest.Deliver(t, st, "Subject: 1\r\n\r\none\r\n", a.ID)
	st.Close()
	st = open(t, dir, true)
	defer st.Close()
	got := storetest.Deliver(t, st, "Subject: 2\r\n\r\ntwo\r\n", a.ID)
	if got[0].UID != 2 {
		t.Fatalf("UID after reopen = %d", got[0].UID)
	}
}

// TestExclusiveLock: a second serving process on the same directory is
// refused; an admin open beside it works.
func TestExclusiveLock(t *testing.T) {
	dir := t.TempDir()
	st := open(t, dir, true)
	defer st.Close()
	if _, err := Open(context.Background(), dir, Options{Exclusive: true}); err == nil {
		t.Fatal("second exclusive open succeeded")
	}
	admin := open(t, dir, false)
	defer admin.Close()
	if err := admin.AddDomain(context.Background(), "example.org"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := st.HasDomain(context.Background(), "example.org"); !ok {
		t.Fatal("server does not see the admin's write")
	}
}

// TestCleanAfterCrash simulates what a crash can leave: a spool in tmp/ (in
// the middle of DATA) and a blob file linked but never committed. Reopening
// removes both and keeps committed blobs.
func TestCleanAfterCrash(t *testing.T) {
	dir := t.TempDir()
	st := open(t, dir, true)
	a := storetest.Account(t, st, "alice@example.org")
	storetest.Deliver(t, st, "Subject: kept\r\n\r\nx\r\n", a.ID)
	sp, err := st.NewSpool()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(sp, "half a message")
	// A linked, uncommitted blob with the next ID.
	sp2 := storetest.Spool(t, st, "linked but not committed")
	if err := st.blobs.Put(sp2, 2); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if n := countFiles(t, filepath.Join(dir, "tmp")); n != 2 {
		t.Fatalf("tmp has %d files before reopen", n)
	}
	st = open(t, dir, true)
	defer st.Close()
	if n := countFiles(t, filepath.Join(dir, "tmp")); n != 0 {
		t.Fatalf("tmp has %d files after reopen", n)
	}
	if got := files(t, filepath.Join(dir, "msg")); len(got) != 1 || filepath.Base(got[0]) != "1" {
		t.Fatalf("msg files after reopen: %v", got)
	}
	mb, _ := st.Mailbox(context.Background(), a.ID, "INBOX")
	if r, err := st.OpenMessage(context.Background(), a.ID, mb.ID, 1); err != nil {
		t.Fatal(err)
	} else {
		r.Close()
	}
}

// TestBlobSharedAndCollected: one body for several recipients is one file,
// removed when the last message using it goes.
func TestBlobSharedAndCollected(t *testing.T) {
	dir := t.TempDir()
	st := open(t, dir, true)
	defer st.Close()
	ctx := context.Background()
	a := storetest.Account(t, st, "alice@example.org")
	b := storetest.Account(t, st, "bob@example.org")
	got := storetest.Deliver(t, st, "Subject: shared\r\n\r\nx\r\n", a.ID, b.ID)
	if n := countFiles(t, filepath.Join(dir, "msg")); n != 1 {
		t.Fatalf("%d body files for one delivery", n)
	}
	if n := countFiles(t, filepath.Join(dir, "tmp")); n != 0 {
		t.Fatalf("%d spool files left after delivery", n)
	}
	if _, err := st.Expunge(ctx, a.ID, got[0].MailboxID, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	if n := countFiles(t, filepath.Join(dir, "msg")); n != 1 {
		t.Fatal("body removed while bob still has the message")
	}
	if _, err := st.Expunge(ctx, b.ID, got[1].MailboxID, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	if n := countFiles(t, filepath.Join(dir, "msg")); n != 0 {
		t.Fatal("body file not removed after the last expunge")
	}
}

// TestFailedWriteDoesNotFailBatch: writes batched together commit or fail
// on their own.
func TestFailedWriteDoesNotFailBatch(t *testing.T) {
	st := open(t, t.TempDir(), true)
	defer st.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Odd ones are duplicates of the even ones before them.
			errs[i] = st.AddDomain(ctx, fmt.Sprintf("d%d.example", i/2))
		}()
	}
	wg.Wait()
	okCount := 0
	for _, err := range errs {
		if err == nil {
			okCount++
		}
	}
	ds, _ := st.ListDomains(ctx)
	if okCount != 10 || len(ds) != 10 {
		t.Fatalf("%d writes succeeded, %d domains", okCount, len(ds))
	}
}

func benchDeliver(b *testing.B, parallel int) {
	st := open(b, b.TempDir(), true)
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

// BenchmarkDeliver measures durable delivery of 4 KiB messages with one
// writer per CPU and with 20 per CPU (group commit at work).
func BenchmarkDeliver(b *testing.B) {
	b.Run("senders=GOMAXPROCS", func(b *testing.B) { benchDeliver(b, 1) })
	b.Run("senders=20xGOMAXPROCS", func(b *testing.B) { benchDeliver(b, 20) })
}

// TestPrivateFiles: the data directory and database are the server's
// alone, even when the directory existed with a looser mode.
func TestPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	st := open(t, dir, true)
	st.Close()
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "postel.db"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
}

// TestReputationBound: past the bound, a new sender pushes out the least
// recently updated one, of that account only.
func TestReputationBound(t *testing.T) {
	st := open(t, t.TempDir(), true)
	defer st.Close()
	st.maxReputations = 3
	ctx := context.Background()
	a := storetest.Account(t, st, "alice@example.org")
	b := storetest.Account(t, st, "bob@example.org")
	for _, s := range []string{"1@x.example", "2@x.example", "3@x.example", "4@x.example"} {
		if err := st.TrainSender(ctx, b.ID, s, true); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{"1@x.example", "2@x.example", "3@x.example", "1@x.example", "4@x.example"} {
		if err := st.TrainSender(ctx, a.ID, s, true); err != nil {
			t.Fatal(err)
		}
	}
	senders := func(acct int64) string {
		all, err := st.Reputations(ctx, acct)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range all {
			out = append(out, fmt.Sprintf("%s:%d", r.Sender, r.Spam))
		}
		return fmt.Sprint(out)
	}
	// 2 was the least recently updated: 1 was trained again after it.
	if got := senders(a.ID); got != "[1@x.example:2 3@x.example:1 4@x.example:1]" {
		t.Fatalf("alice's reputations = %s", got)
	}
	if got := senders(b.ID); got != "[2@x.example:1 3@x.example:1 4@x.example:1]" {
		t.Fatalf("bob's reputations = %s", got)
	}
	// Training a known sender never drops another.
	if err := st.TrainSender(ctx, a.ID, "3@x.example", false); err != nil {
		t.Fatal(err)
	}
	if got := senders(a.ID); got != "[1@x.example:2 3@x.example:1 4@x.example:1]" {
		t.Fatalf("alice's reputations after training a known sender = %s", got)
	}
}
