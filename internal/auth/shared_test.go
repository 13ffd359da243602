package auth

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"postel/internal/store/sqlite"
)

// TestSharedFailures: two nodes (two Authenticators, each with its own
// Throttle) on one store share each source's failures: a source that
// failed half its limit on each is refused on both, even with the right
// password; another source is not; an unlock of the account lets it in
// again on both.
func TestSharedFailures(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cred, err := NewCredentials(alicePass)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAccount(ctx, "alice@example.org", cred); err != nil {
		t.Fatal(err)
	}
	node := func() *Authenticator {
		cfg := DefaultThrottleConfig()
		cfg.MaxFailures, cfg.Shared = 4, st
		a := NewAuthenticator(st, NewThrottle(cfg), slog.New(slog.DiscardHandler))
		a.sleep = func(context.Context, time.Duration) {}
		return a
	}
	a, b := node(), node()
	x, y := source(1), source(2)
	for _, n := range []*Authenticator{a, a, b, b} {
		if _, err := n.Login(ctx, "imap", x, "alice@example.org", "wrong"); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	for name, n := range map[string]*Authenticator{"A": a, "B": b} {
		if _, err := n.Login(ctx, "imap", x, "alice@example.org", alicePass); !errors.Is(err, ErrThrottled) {
			t.Fatalf("node %s let a source at its limit across the nodes in: %v", name, err)
		}
		if _, err := n.Login(ctx, "imap", y, "alice@example.org", alicePass); err != nil {
			t.Fatalf("node %s refused another source: %v", name, err)
		}
	}
	if _, err := st.BumpAuthEpoch(ctx, "alice@example.org"); err != nil {
		t.Fatal(err)
	}
	for name, n := range map[string]*Authenticator{"A": a, "B": b} {
		if _, err := n.Login(ctx, "imap", x, "alice@example.org", alicePass); err != nil {
			t.Fatalf("node %s after the unlock: %v", name, err)
		}
	}
	if n, err := st.CountLoginFailures(ctx, sourceKey(x), time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("failures left in the store: %d, %v", n, err)
	}
}
