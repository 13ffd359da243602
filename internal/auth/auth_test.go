package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"postel/internal/store"
	"postel/internal/testutil"
)

func TestMain(m *testing.M) {
	// Cheap hashing keeps the tests fast under -race. Hashes carry their
	// parameters, so verification runs at the same low cost.
	hashArgon = argonParams{memory: 64, time: 1, threads: 1, saltLen: 16, keyLen: 32}
	scramIterations = minSCRAMIter // the least the xdg-go/scram client accepts
	os.Exit(m.Run())
}

// fakeAccounts is an Accounts in memory.
type fakeAccounts struct {
	mu      sync.Mutex
	accts   map[string]store.Account // by lower-case address
	err     error                    // when set, every lookup fails with it
	lookups []string
}

func (f *fakeAccounts) Account(ctx context.Context, address string) (store.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups = append(f.lookups, address)
	if f.err != nil {
		return store.Account{}, f.err
	}
	a, ok := f.accts[address]
	if !ok {
		return store.Account{}, store.ErrNotFound
	}
	return a, nil
}

// bumpEpoch moves the account's AuthEpoch on, as postel user unlock does.
func (f *fakeAccounts) bumpEpoch(address string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.accts[address]
	a.AuthEpoch++
	f.accts[address] = a
}

// setPassword changes the account's credentials as store.SetCredentials
// does: the AuthEpoch moves on.
func (f *fakeAccounts) setPassword(t testing.TB, address, password string) {
	cred, err := NewCredentials(password)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.accts[address]
	a.Credentials = cred
	a.AuthEpoch++
	f.accts[address] = a
}

func (f *fakeAccounts) lookupCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.lookups)
}

// fakeClock is a settable clock for Throttle.now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Test accounts and their passwords.
const (
	alicePass = "correct horse battery staple"
	bobPass   = "bob's secret"
	erinPass  = "🔑 emoji key" // SASLprep refuses it: no SCRAM keys
)

var (
	ipA = netip.MustParseAddr("192.0.2.1")
	ipB = netip.MustParseAddr("192.0.2.2")
	ipC = netip.MustParseAddr("2001:db8::1")
)

// testEnv is an Authenticator over fake accounts, with a fake clock, the
// failure delays recorded instead of slept, and the log captured.
type testEnv struct {
	a      *Authenticator
	accts  *fakeAccounts
	clock  *fakeClock
	logBuf *testutil.SyncBuffer

	mu     sync.Mutex
	sleeps []time.Duration
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	creds := func(pw string) store.Credentials {
		c, err := NewCredentials(pw)
		if err != nil {
			t.Fatalf("NewCredentials: %v", err)
		}
		return c
	}
	accts := &fakeAccounts{accts: map[string]store.Account{
		"alice@example.org": {ID: 1, Address: "alice@example.org", Credentials: creds(alicePass)},
		"bob@example.org":   {ID: 2, Address: "bob@example.org", Credentials: creds(bobPass), Disabled: true},
		"carol@example.org": {ID: 3, Address: "carol@example.org", Credentials: store.Credentials{PasswordHash: "$argon2id$garbage"}},
		"erin@example.org":  {ID: 5, Address: "erin@example.org", Credentials: creds(erinPass)},
	}}
	env := &testEnv{accts: accts, clock: newFakeClock(), logBuf: &testutil.SyncBuffer{}}
	th := NewThrottle(DefaultThrottleConfig())
	th.now = env.clock.now
	log := slog.New(slog.NewTextHandler(env.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env.a = NewAuthenticator(accts, th, log)
	env.a.sleep = func(_ context.Context, d time.Duration) {
		env.mu.Lock()
		defer env.mu.Unlock()
		env.sleeps = append(env.sleeps, d)
	}
	return env
}

func (e *testEnv) slept() []time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]time.Duration(nil), e.sleeps...)
}

// noSecrets fails the test if the log holds any test password.
func (e *testEnv) noSecrets(t *testing.T) {
	t.Helper()
	log := e.logBuf.String()
	for _, pw := range []string{alicePass, bobPass, erinPass, "wrong password!"} {
		if strings.Contains(log, pw) {
			t.Errorf("log contains password %q:\n%s", pw, log)
		}
	}
}

func TestLogin(t *testing.T) {
	alice := Identity{AccountID: 1, Address: "alice@example.org"}
	tests := []struct {
		name     string
		user, pw string
		want     Identity
		wantErr  error
		reason   string // in the log line of a failure
		counted  bool   // failure counted against the account
	}{
		{"right password", "alice@example.org", alicePass, alice, nil, "", false},
		{"user name case-insensitive", "Alice@Example.ORG", alicePass, alice, nil, "", false},
		{"non-breaking space maps to space (SASLprep)", "alice@example.org", "correct\u00a0horse battery staple", alice, nil, "", false},
		{"emoji password without SCRAM", "erin@example.org", erinPass, Identity{AccountID: 5, Address: "erin@example.org"}, nil, "", false},
		{"wrong password", "alice@example.org", "wrong password!", Identity{}, ErrAuthFailed, "wrong password", true},
		{"password case matters", "alice@example.org", strings.ToUpper(alicePass), Identity{}, ErrAuthFailed, "wrong password", true},
		{"unknown user", "nobody@example.org", alicePass, Identity{}, ErrAuthFailed, "unknown user", true},
		{"disabled account, right password", "bob@example.org", bobPass, Identity{}, ErrAuthFailed, "account disabled", true},
		{"unusable stored hash", "carol@example.org", "anything", Identity{}, ErrAuthFailed, "stored password hash unusable", true},
		{"empty user name", "", alicePass, Identity{}, ErrAuthFailed, "invalid user name", false},
		{"control character in user name", "alice@example.org\r\n", alicePass, Identity{}, ErrAuthFailed, "invalid user name", false},
		{"user name too long", strings.Repeat("a", 300) + "@example.org", alicePass, Identity{}, ErrAuthFailed, "invalid user name", false},
		{"password too long", "alice@example.org", strings.Repeat("x", MaxPasswordLen+1), Identity{}, ErrAuthFailed, "password too long", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			id, err := env.a.Login(context.Background(), "imap", ipA, tc.user, tc.pw)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("Login error = %v, want %v", err, tc.wantErr)
			}
			if id != tc.want {
				t.Errorf("Login identity = %+v, want %+v", id, tc.want)
			}
			log := env.logBuf.String()
			if tc.wantErr == nil {
				if len(env.slept()) != 0 {
					t.Errorf("slept %v on success", env.slept())
				}
				if !strings.Contains(log, "auth succeeded") {
					t.Errorf("success not logged:\n%s", log)
				}
			} else {
				if got := env.slept(); len(got) != 1 || got[0] != 250*time.Millisecond {
					t.Errorf("slept %v, want [250ms]", got)
				}
				for _, want := range []string{"auth failed", "protocol=imap", "remote=192.0.2.1", `reason="` + tc.reason + `"`} {
					if !strings.Contains(log, want) {
						t.Errorf("log lacks %q:\n%s", want, log)
					}
				}
				ip, acct := sourceKey(ipA), "user "+strings.ToLower(tc.user)
				if _, ok := env.a.th.entries[ip]; !ok {
					t.Errorf("failure not counted against the IP")
				}
				if _, ok := env.a.th.entries[acct]; ok != tc.counted {
					t.Errorf("failure counted against the account: %v, want %v", ok, tc.counted)
				}
			}
			env.noSecrets(t)
		})
	}
}

func TestLoginLooksUpLowerCase(t *testing.T) {
	env := newTestEnv(t)
	if _, err := env.a.Login(context.Background(), "pop3", ipA, "ALICE@example.ORG", alicePass); err != nil {
		t.Fatal(err)
	}
	if got := env.accts.lookups; len(got) != 1 || got[0] != "alice@example.org" {
		t.Errorf("lookups = %q, want [alice@example.org]", got)
	}
}

func TestLoginStoreError(t *testing.T) {
	env := newTestEnv(t)
	env.accts.err = errors.New("disk on fire")
	_, err := env.a.Login(context.Background(), "smtp", ipA, "alice@example.org", alicePass)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Login error = %v, want ErrUnavailable", err)
	}
	if n := len(env.a.th.entries); n != 0 {
		t.Errorf("a server fault was counted as %d failures", n)
	}
	if log := env.logBuf.String(); !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "disk on fire") {
		t.Errorf("store error not logged as an error:\n%s", log)
	}
}

func TestLoginSuccessClearsCounters(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	for _, user := range []string{"bob@example.org", "bob@example.org", "alice@example.org", "alice@example.org", "alice@example.org"} {
		if _, err := env.a.Login(ctx, "imap", ipA, user, "nope"); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("want ErrAuthFailed, got %v", err)
		}
	}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}
	if got := env.slept(); !slices.Equal(got, want) {
		t.Errorf("delays = %v, want %v", got, want)
	}
	if _, err := env.a.Login(ctx, "imap", ipA, "alice@example.org", alicePass); err != nil {
		t.Fatal(err)
	}
	// The address's failures against alice are forgiven, in its count
	// and alice's; those against bob stay, so that one valid login cannot
	// reset guessing at other accounts.
	if got := keysOf(env.a.th); !slices.Equal(got, []string{"user bob@example.org", sourceKey(ipA)}) {
		t.Errorf("throttle entries after success: %q, want bob's and the address's", got)
	}
	env.a.Login(ctx, "imap", ipB, "alice@example.org", "nope")
	if got := env.slept(); got[len(got)-1] != 250*time.Millisecond {
		t.Errorf("account delay after success = %v, want 250ms", got[len(got)-1])
	}
	env.a.Login(ctx, "imap", ipA, "erin@example.org", "nope")
	if got := env.slept(); got[len(got)-1] != time.Second {
		t.Errorf("address delay after a success at another account = %v, want 1s (its third failure)", got[len(got)-1])
	}
}

// TestThrottleCanonicalName: spellings of one account share its counter.
func TestThrottleCanonicalName(t *testing.T) {
	if a, b := accountKey(" Alice@Example.ORG "), accountKey("alice@example.org"); a != b {
		t.Fatalf("keys differ: %q vs %q", a, b)
	}
}

func TestLoginLockout(t *testing.T) {
	ctx := context.Background()
	t.Run("an account is never locked", func(t *testing.T) {
		env := newTestEnv(t)
		// Failures from many addresses: the account counts them, and
		// its delay stops at AccountMaxDelay.
		for i := range 20 {
			ip := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
			if _, err := env.a.Login(ctx, "smtp", ip, "alice@example.org", "guess"); !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("attempt %d: %v", i, err)
			}
		}
		if got := env.slept(); got[len(got)-1] != 2*time.Second || slices.Max(got) != 2*time.Second {
			t.Errorf("delays %v, want at most AccountMaxDelay (2s)", got)
		}
		if strings.Contains(env.logBuf.String(), "auth lockout started") {
			t.Errorf("a lockout started:\n%s", env.logBuf.String())
		}
		// The right password logs in at once, from a fresh address or
		// from one that failed once.
		n := len(env.slept())
		for _, ip := range []netip.Addr{ipB, netip.AddrFrom4([4]byte{198, 51, 100, 3})} {
			if _, err := env.a.Login(ctx, "smtp", ip, "alice@example.org", alicePass); err != nil {
				t.Errorf("right password from %v: %v", ip, err)
			}
		}
		if len(env.slept()) != n {
			t.Errorf("the right password was delayed: %v", env.slept()[n:])
		}
		env.noSecrets(t)
	})
	t.Run("a source is locked", func(t *testing.T) {
		env := newTestEnv(t)
		for i := range 10 {
			user := "user" + string(rune('a'+i)) + "@example.org"
			if _, err := env.a.Login(ctx, "imap", ipC, user, "guess"); !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("attempt %d: %v", i, err)
			}
		}
		if !strings.Contains(env.logBuf.String(), "auth lockout started") {
			t.Errorf("lockout not logged")
		}
		lookups, hashes := env.accts.lookupCount(), env.a.hashes.Load()
		// Same /64, another host: locked out too, whatever the account,
		// without a look-up (it never failed against alice) or a hash.
		if _, err := env.a.Login(ctx, "imap", netip.MustParseAddr("2001:db8::99"), "alice@example.org", alicePass); !errors.Is(err, ErrThrottled) {
			t.Fatalf("locked IP: got %v, want ErrThrottled", err)
		}
		if env.accts.lookupCount() != lookups || env.a.hashes.Load() != hashes {
			t.Errorf("locked-out attempt looked the account up or hashed")
		}
		// Another address logs in.
		if _, err := env.a.Login(ctx, "imap", ipA, "alice@example.org", alicePass); err != nil {
			t.Errorf("other IP: %v", err)
		}
		log := env.logBuf.String()
		for _, want := range []string{`msg="auth refused"`, `limit="source locked out"`, "retry_in=15m0s", "remote=2001:db8::99"} {
			if !strings.Contains(log, want) {
				t.Errorf("refusal log lacks %q:\n%s", want, log)
			}
		}
		// The lockout ends.
		env.clock.advance(15 * time.Minute)
		if _, err := env.a.Login(ctx, "imap", ipC, "alice@example.org", alicePass); err != nil {
			t.Errorf("after lockout: %v", err)
		}
	})
}

func TestLoginSleepRespectsContext(t *testing.T) {
	accts := &fakeAccounts{}
	th := NewThrottle(ThrottleConfig{BaseDelay: time.Hour, MaxDelay: time.Hour})
	a := NewAuthenticator(accts, th, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := a.Login(ctx, "smtp", ipA, "x@example.org", "pw"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("got %v, want ErrAuthFailed", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Login slept %v despite the context ending", d)
	}
}

func TestSleepCtx(t *testing.T) {
	start := time.Now()
	sleepCtx(context.Background(), 20*time.Millisecond)
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("slept %v, want at least 20ms", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start = time.Now()
	sleepCtx(ctx, time.Hour)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("slept %v on a cancelled context", d)
	}
}

func TestLoginConcurrent(t *testing.T) {
	env := newTestEnv(t)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			pw := alicePass
			if i%2 == 1 {
				pw = "wrong"
			}
			_, err := env.a.Login(context.Background(), "imap", ipA, "alice@example.org", pw)
			if err != nil && !errors.Is(err, ErrAuthFailed) && !errors.Is(err, ErrThrottled) {
				t.Errorf("unexpected error %v", err)
			}
		})
	}
	wg.Wait()
}

func TestNewAuthenticatorDefaults(t *testing.T) {
	a := NewAuthenticator(&fakeAccounts{}, nil, nil)
	if a.th == nil || a.th.cfg != DefaultThrottleConfig() || a.log == nil || len(a.secret) != 32 {
		t.Errorf("defaults not set: %+v", a)
	}
	got := a.Mechanisms()
	if want := []string{"SCRAM-SHA-256", "PLAIN", "LOGIN"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Mechanisms = %q, want %q", got, want)
	}
	got[0] = "changed"
	if a.Mechanisms()[0] != "SCRAM-SHA-256" {
		t.Errorf("Mechanisms shares its slice")
	}
}
