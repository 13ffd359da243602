package auth

import (
	"context"
	"net/http/httptest"
	"testing"

	"postel/internal/metrics"
	"postel/internal/testutil/scrape"
)

// TestLoginMetrics: every attempt is counted once by protocol and result,
// through Login and through SASL alike; an attempt the throttle refuses
// counts as refused, not failed.
func TestLoginMetrics(t *testing.T) {
	env := newTestEnv(t)
	m := metrics.New()
	env.a.Metrics = m
	ctx := context.Background()
	login := func(protocol, user, pw string) error {
		_, err := env.a.Login(ctx, protocol, ipA, user, pw)
		return err
	}
	if err := login("imap", "alice@example.org", alicePass); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := login("pop3", "alice@example.org", "wrong password!"); err == nil {
			t.Fatal("wrong password accepted")
		}
	}
	srv, err := env.a.NewServer(ctx, "PLAIN", "smtp", ipB, func(Identity) {})
	if err != nil {
		t.Fatal(err)
	}
	if _, done, err := srv.Next([]byte("\x00alice@example.org\x00" + alicePass)); err != nil || !done {
		t.Fatalf("PLAIN: done %v, %v", done, err)
	}
	// Past the source's failure limit, attempts are refused unchecked.
	max := DefaultThrottleConfig().MaxFailures
	for range max - 3 {
		login("imap", "nobody@example.org", "x")
	}
	if err := login("imap", "alice@example.org", alicePass); err == nil {
		t.Fatal("a locked-out source logged in")
	}

	hs := httptest.NewServer(m.Handler())
	defer hs.Close()
	f, err := scrape.Get(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		protocol, result string
		want             float64
	}{
		{"imap", metrics.LoginOK, 1},
		{"imap", metrics.LoginFailed, float64(max - 3)},
		{"imap", metrics.LoginRefused, 1},
		{"pop3", metrics.LoginFailed, 3},
		{"pop3", metrics.LoginOK, 0},
		{"smtp", metrics.LoginOK, 1},
		{"smtp", metrics.LoginFailed, 0},
	} {
		if got, ok := f.Value("postel_logins_total", "protocol", c.protocol, "result", c.result); !ok || got != c.want {
			t.Errorf("logins %s %s = %v (present %v), want %v", c.protocol, c.result, got, ok, c.want)
		}
	}
	env.noSecrets(t)
}
