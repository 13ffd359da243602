package storetest

import (
	"errors"
	"testing"
	"time"

	"postel/internal/store"
)

// What the processes or nodes of one store share beside the mail: leases
// (POP3 maildrops) and failed logins (the login throttle). Every store
// implements both.

func testLeases(t *testing.T, st store.Store) {
	l, ok := st.(store.Leases)
	if !ok {
		t.Fatalf("%T does not implement store.Leases", st)
	}
	const name = "pop3/maildrop/1"
	must(t, l.AcquireLease(ctx, name, "A", time.Minute))
	wantErr(t, l.AcquireLease(ctx, name, "B", time.Minute), store.ErrInUse)
	must(t, l.AcquireLease(ctx, name, "A", time.Minute)) // a renewal
	must(t, l.ReleaseLease(ctx, name, "B"))              // not B's: nothing happens
	wantErr(t, l.AcquireLease(ctx, name, "B", time.Minute), store.ErrInUse)
	must(t, l.AcquireLease(ctx, "pop3/maildrop/2", "B", time.Minute)) // another name
	must(t, l.ReleaseLease(ctx, name, "A"))
	must(t, l.AcquireLease(ctx, name, "B", 200*time.Millisecond))
	wantErr(t, l.AcquireLease(ctx, name, "A", time.Minute), store.ErrInUse)
	time.Sleep(300 * time.Millisecond) // the lease's own time running out is under test
	must(t, l.AcquireLease(ctx, name, "A", time.Minute))
	for _, bad := range [][2]string{{"", "A"}, {name, ""}} {
		wantErr(t, l.AcquireLease(ctx, bad[0], bad[1], time.Minute), store.ErrInvalid)
	}
	wantErr(t, l.AcquireLease(ctx, "x", "A", 0), store.ErrInvalid)
}

func testLoginFailures(t *testing.T, st store.Store) {
	lf, ok := st.(store.LoginFailures)
	if !ok {
		t.Fatalf("%T does not implement store.LoginFailures", st)
	}
	ae, ok := st.(store.AuthEpochs)
	if !ok {
		t.Fatalf("%T does not implement store.AuthEpochs", st)
	}
	alice := Account(t, st, "alice@example.org")
	Account(t, st, "bob@example.org")
	now := time.Now()
	for _, f := range []struct{ src, acct string }{
		{"ip 192.0.2.1", alice.Address}, {"ip 192.0.2.1", alice.Address}, {"ip 192.0.2.1", "bob@example.org"},
		{"ip 192.0.2.1", ""}, {"ip 2001:db8::/64", alice.Address},
	} {
		must(t, lf.AddLoginFailure(ctx, f.src, f.acct, now))
	}
	count := func(src string, since time.Time) int {
		t.Helper()
		n, err := lf.CountLoginFailures(ctx, src, since)
		must(t, err)
		return n
	}
	if n := count("ip 192.0.2.1", now.Add(-time.Minute)); n != 4 {
		t.Fatalf("failures: %d, want 4", n)
	}
	if n := count("ip 192.0.2.1", now.Add(time.Second)); n != 0 {
		t.Fatalf("failures since later: %d", n)
	}
	must(t, lf.ForgetLoginFailures(ctx, "ip 192.0.2.1", "bob@example.org"))
	if n := count("ip 192.0.2.1", now.Add(-time.Minute)); n != 3 {
		t.Fatalf("after a success as bob: %d, want 3", n)
	}
	if _, err := ae.BumpAuthEpoch(ctx, "Alice@example.org"); err != nil {
		t.Fatal(err)
	}
	if n, m := count("ip 192.0.2.1", now.Add(-time.Minute)), count("ip 2001:db8::/64", now.Add(-time.Minute)); n != 1 || m != 0 {
		t.Fatalf("after alice's unlock: %d and %d, want 1 and 0", n, m)
	}
	must(t, lf.AddLoginFailure(ctx, "ip 192.0.2.9", alice.Address, now))
	must(t, st.SetCredentials(ctx, alice.Address, store.Credentials{PasswordHash: "new"}))
	if n := count("ip 192.0.2.9", now.Add(-time.Minute)); n != 0 {
		t.Fatalf("after alice's new password: %d", n)
	}
	if err := lf.AddLoginFailure(ctx, "ip 192.0.2.3", "", now); errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a failure without an account: %v", err)
	}
}
