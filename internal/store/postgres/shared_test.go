package postgres

import (
	"errors"
	"testing"
	"time"

	"postel/internal/store"
	"postel/internal/store/storetest"
)

// TestLeases: a lease held on one node is refused to another owner on any
// node until it is released or runs out; its owner renews it.
func TestLeases(t *testing.T) {
	dsn := newDB(t)
	a, b := open(t, dsn), open(t, dsn)
	const name = "pop3/maildrop/1"
	if err := a.AcquireLease(ctx, name, "A", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.AcquireLease(ctx, name, "B", time.Minute); !errors.Is(err, store.ErrInUse) {
		t.Fatalf("second owner: %v, want ErrInUse", err)
	}
	if err := b.AcquireLease(ctx, name, "A", time.Minute); err != nil {
		t.Fatalf("renewal by the owner through the other node: %v", err)
	}
	if err := b.ReleaseLease(ctx, name, "B"); err != nil {
		t.Fatalf("release by a non-owner: %v", err)
	}
	if err := b.AcquireLease(ctx, name, "B", time.Minute); !errors.Is(err, store.ErrInUse) {
		t.Fatalf("a non-owner's release freed the lease: %v", err)
	}
	if err := a.ReleaseLease(ctx, name, "A"); err != nil {
		t.Fatal(err)
	}
	if err := b.AcquireLease(ctx, name, "B", 200*time.Millisecond); err != nil {
		t.Fatalf("after the release: %v", err)
	}
	if err := a.AcquireLease(ctx, name, "A", time.Minute); !errors.Is(err, store.ErrInUse) {
		t.Fatalf("while B holds it: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := a.AcquireLease(ctx, name, "A", time.Minute); err != nil {
		t.Fatalf("after B's lease ran out: %v", err)
	}
	for _, bad := range [][2]string{{"", "A"}, {name, ""}} {
		if err := a.AcquireLease(ctx, bad[0], bad[1], time.Minute); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("AcquireLease(%q, %q): %v", bad[0], bad[1], err)
		}
	}
	if err := a.AcquireLease(ctx, "x", "A", 0); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("AcquireLease without a ttl: %v", err)
	}
}

// TestLoginFailures: failures recorded on one node count on the other; a
// success forgets the source's failures against that account; an unlock
// or a new password forgets every failure against the account; a day-old
// failure goes.
func TestLoginFailures(t *testing.T) {
	dsn := newDB(t)
	a, b := open(t, dsn), open(t, dsn)
	alice := storetest.Account(t, a, "alice@example.org")
	storetest.Account(t, a, "bob@example.org")
	now := time.Now()
	for _, f := range []struct{ src, acct string }{
		{"192.0.2.1", alice.Address}, {"192.0.2.1", alice.Address}, {"192.0.2.1", "bob@example.org"},
		{"192.0.2.1", ""}, {"2001:db8::/64", alice.Address},
	} {
		if err := a.AddLoginFailure(ctx, f.src, f.acct, now); err != nil {
			t.Fatal(err)
		}
	}
	count := func(src string, since time.Time) int {
		t.Helper()
		n, err := b.CountLoginFailures(ctx, src, since)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count("192.0.2.1", now.Add(-time.Minute)); n != 4 {
		t.Fatalf("failures on the other node: %d, want 4", n)
	}
	if n := count("192.0.2.1", now.Add(time.Second)); n != 0 {
		t.Fatalf("failures since later: %d", n)
	}
	if err := b.ForgetLoginFailures(ctx, "192.0.2.1", "bob@example.org"); err != nil {
		t.Fatal(err)
	}
	if n := count("192.0.2.1", now.Add(-time.Minute)); n != 3 {
		t.Fatalf("after a success as bob: %d, want 3", n)
	}
	if _, err := b.BumpAuthEpoch(ctx, "Alice@example.org"); err != nil {
		t.Fatal(err)
	}
	if n, m := count("192.0.2.1", now.Add(-time.Minute)), count("2001:db8::/64", now.Add(-time.Minute)); n != 1 || m != 0 {
		t.Fatalf("after alice's unlock: %d and %d, want 1 and 0", n, m)
	}
	if err := a.AddLoginFailure(ctx, "192.0.2.9", alice.Address, now); err != nil {
		t.Fatal(err)
	}
	if err := a.SetCredentials(ctx, alice.Address, store.Credentials{PasswordHash: "new"}); err != nil {
		t.Fatal(err)
	}
	if n := count("192.0.2.9", now.Add(-time.Minute)); n != 0 {
		t.Fatalf("after alice's new password: %d", n)
	}
	if err := a.AddLoginFailure(ctx, "192.0.2.2", "", now.Add(-25*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := a.pruneShared(ctx, now); err != nil {
		t.Fatal(err)
	}
	if n := count("192.0.2.2", time.Time{}); n != 0 {
		t.Fatalf("a day-old failure is kept: %d", n)
	}
}
