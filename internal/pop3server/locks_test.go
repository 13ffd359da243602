package pop3server

import (
	"context"
	"errors"
	"testing"
	"time"

	"postel/internal/store/sqlite"
)

// TestStoreLocks: a maildrop locked through one node's StoreLocks is in
// use for another node's, beyond the lease's TTL while its session lives
// (renewed), and free the moment the session gives it back.
func TestStoreLocks(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const ttl = 300 * time.Millisecond
	a, b := NewStoreLocks(st, ttl, nil), NewStoreLocks(st, ttl, nil)
	release, err := a.Lock(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lock(ctx, 7); !errors.Is(err, ErrInUse) {
		t.Fatalf("the other node: %v, want ErrInUse", err)
	}
	if _, err := a.Lock(ctx, 7); !errors.Is(err, ErrInUse) {
		t.Fatalf("a second session on the same node: %v, want ErrInUse", err)
	}
	other, err := b.Lock(ctx, 8)
	if err != nil {
		t.Fatalf("another account's maildrop: %v", err)
	}
	other()
	time.Sleep(3 * ttl) // the session outlives its lease's TTL: renewal is under test
	if _, err := b.Lock(ctx, 7); !errors.Is(err, ErrInUse) {
		t.Fatalf("after three TTLs of a live session: %v, want ErrInUse", err)
	}
	release()
	release() // once only
	r2, err := b.Lock(ctx, 7)
	if err != nil {
		t.Fatalf("after the release: %v", err)
	}
	r2()
}

// TestProcessLocks: the default, one process's locks.
func TestProcessLocks(t *testing.T) {
	l := NewProcessLocks()
	release, err := l.Lock(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Lock(context.Background(), 1); !errors.Is(err, ErrInUse) {
		t.Fatalf("second lock: %v", err)
	}
	release()
	release()
	if _, err := l.Lock(context.Background(), 1); err != nil {
		t.Fatalf("after release: %v", err)
	}
}
