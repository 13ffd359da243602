package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"postel/internal/store"
)

// source returns the n-th test source address, 198.51.100.n.
func source(n int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, byte(n)}) }

// TestLoginRace: parallel wrong attempts against one account hash no more
// passwords than the sources' failure limits allow, because each attempt
// is counted before its hash; the rest are refused at once.
func TestLoginRace(t *testing.T) {
	tests := []struct {
		name     string
		sources  int
		attempts int // in all
	}{
		{"one source", 1, 400},
		{"four sources", 4, 400},
		{"one IPv6 /64, many hosts", 1, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			argon := env.a.argon
			env.a.argon = func(p argonParams, salt, want []byte, pw string) bool {
				time.Sleep(time.Millisecond) // widen the window between count and hash
				return argon(p, salt, want, pw)
			}
			var failed, throttled atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range tc.attempts {
				ip := source(i % tc.sources)
				if strings.Contains(tc.name, "IPv6") {
					ip = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
				}
				wg.Go(func() {
					<-start
					_, err := env.a.Login(context.Background(), "imap", ip, "alice@example.org", fmt.Sprint("guess ", i))
					switch {
					case errors.Is(err, ErrAuthFailed):
						failed.Add(1)
					case errors.Is(err, ErrThrottled):
						throttled.Add(1)
					default:
						t.Errorf("attempt %d: %v", i, err)
					}
				})
			}
			close(start)
			wg.Wait()
			limit := int64(tc.sources * env.a.th.cfg.MaxFailures)
			if h := env.a.hashes.Load(); h > limit {
				t.Errorf("%d passwords hashed, limit %d", h, limit)
			}
			// Exactly the limit: reservations never overshoot, and no
			// attempt is refused while its source has room.
			if failed.Load() != limit || throttled.Load() != int64(tc.attempts)-limit || env.a.hashes.Load() != limit {
				t.Errorf("%d failed, %d throttled, %d hashed; want %d, %d, %d",
					failed.Load(), throttled.Load(), env.a.hashes.Load(), limit, int64(tc.attempts)-limit, limit)
			}
		})
	}
}

// TestSCRAMRace: parallel SCRAM exchanges with a wrong password, all past
// their first step, check no more proofs than the failure limit allows.
func TestSCRAMRace(t *testing.T) {
	env := newTestEnv(t)
	const n = 400
	type exchange struct {
		srv interface {
			Next([]byte) ([]byte, bool, error)
		}
		final string
	}
	xs := make([]exchange, n)
	var wg sync.WaitGroup
	for i := range xs {
		wg.Go(func() {
			s, err := env.a.NewServer(context.Background(), "SCRAM-SHA-256", "imap", ipA, nil)
			if err != nil {
				t.Error(err)
				return
			}
			conv := scramClient(t, "alice@example.org", "wrong password!", "").NewConversation()
			c1, _ := conv.Step("")
			s1, _, err := s.Next([]byte(c1))
			if err != nil {
				t.Errorf("first step: %v", err)
				return
			}
			c2, err := conv.Step(string(s1))
			if err != nil {
				t.Errorf("client final: %v", err)
				return
			}
			xs[i] = exchange{s, c2}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var failed, throttled atomic.Int64
	start := make(chan struct{})
	for _, x := range xs {
		wg.Go(func() {
			<-start
			_, _, err := x.srv.Next([]byte(x.final))
			switch {
			case errors.Is(err, ErrAuthFailed):
				failed.Add(1)
			case errors.Is(err, ErrThrottled):
				throttled.Add(1)
			default:
				t.Errorf("final: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	limit := int64(env.a.th.cfg.MaxFailures)
	if p := env.a.proofs.Load(); p != limit || failed.Load() != limit || throttled.Load() != n-limit {
		t.Errorf("%d proofs checked, %d failed, %d throttled; want %d, %d, %d", p, failed.Load(), throttled.Load(), limit, limit, n-limit)
	}
}

// TestLockedSourceDoesNotLockOthers: while one source guesses and is
// locked out, another logs in with the right password at once, on every
// path (Login, PLAIN, SCRAM), and the locked source's right password is
// refused.
func TestLockedSourceDoesNotLockOthers(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			env.a.Login(ctx, "imap", ipA, "alice@example.org", fmt.Sprint("guess ", i))
		})
	}
	logins := []func(ip netip.Addr) error{
		func(ip netip.Addr) error {
			_, err := env.a.Login(ctx, "pop3", ip, "alice@example.org", alicePass)
			return err
		},
		func(ip netip.Addr) error {
			s, _ := env.a.NewServer(ctx, "PLAIN", "smtp", ip, nil)
			_, _, err := s.Next([]byte("\x00alice@example.org\x00" + alicePass))
			return err
		},
		func(ip netip.Addr) error {
			s, _ := env.a.NewServer(ctx, "SCRAM-SHA-256", "imap", ip, nil)
			conv := scramClient(t, "alice@example.org", alicePass, "").NewConversation()
			c1, _ := conv.Step("")
			s1, _, err := s.Next([]byte(c1))
			if err != nil {
				return err
			}
			c2, _ := conv.Step(string(s1))
			_, _, err = s.Next([]byte(c2))
			return err
		},
	}
	for i, login := range logins {
		wg.Go(func() {
			if err := login(ipB); err != nil {
				t.Errorf("login %d from another source during the flood: %v", i, err)
			}
		})
	}
	wg.Wait()
	if _, refused, _ := env.a.th.blocked(sourceKey(ipA), accountKey("alice@example.org")); !refused {
		t.Fatalf("the guessing source is not locked out")
	}
	for i, login := range logins {
		if err := login(ipA); !errors.Is(err, ErrThrottled) {
			t.Errorf("login %d from the locked source: %v, want ErrThrottled", i, err)
		}
		if err := login(ipB); err != nil {
			t.Errorf("login %d from another source: %v", i, err)
		}
	}
}

// TestUnlockAndPasswordChange: an account's AuthEpoch moving (postel user
// unlock, or a password change, in another process) ends the lockout of a
// source that failed against it, and forgets the account's count; the
// source's failures against other accounts stay.
func TestUnlockAndPasswordChange(t *testing.T) {
	tests := []struct {
		name     string
		change   func(t *testing.T, f *fakeAccounts)
		password string // alice's, after the change
	}{
		{"unlock", func(t *testing.T, f *fakeAccounts) { f.bumpEpoch("alice@example.org") }, alicePass},
		{"password change", func(t *testing.T, f *fakeAccounts) { f.setPassword(t, "alice@example.org", "a new password") }, "a new password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			ctx := context.Background()
			for i := range 3 {
				env.a.Login(ctx, "imap", ipA, "erin@example.org", fmt.Sprint("guess ", i))
			}
			for i := range 7 {
				env.a.Login(ctx, "imap", ipA, "alice@example.org", fmt.Sprint("guess ", i))
			}
			env.a.Login(ctx, "imap", ipB, "alice@example.org", "guess")
			if _, err := env.a.Login(ctx, "imap", ipA, "alice@example.org", alicePass); !errors.Is(err, ErrThrottled) {
				t.Fatalf("locked source, right password: %v, want ErrThrottled", err)
			}
			tc.change(t, env.accts)
			if _, err := env.a.Login(ctx, "imap", ipA, "alice@example.org", tc.password); err != nil {
				t.Fatalf("after the %s: %v", tc.name, err)
			}
			// The account's count is forgotten: a new failure against it
			// has the first delay; so is ipB's failure against alice.
			env.a.Login(ctx, "imap", netip.MustParseAddr("192.0.2.77"), "alice@example.org", "guess")
			env.a.Login(ctx, "imap", ipB, "bob@example.org", "guess")
			// ipA's three failures against erin stay: this is its fourth.
			env.a.Login(ctx, "imap", ipA, "erin@example.org", "guess")
			got := env.slept()
			if want := []time.Duration{250 * time.Millisecond, 250 * time.Millisecond, 2 * time.Second}; !slices.Equal(got[len(got)-3:], want) {
				t.Errorf("delays after the %s: %v, want %v", tc.name, got[len(got)-3:], want)
			}
		})
	}
}

// gatedHash replaces an Authenticator's hash with one that waits for the
// test's go-ahead and records the order of the passwords it hashed.
type gatedHash struct {
	mu      sync.Mutex
	order   []string
	started chan string
	gate    chan struct{}
}

func newGatedHash(a *Authenticator) *gatedHash {
	g := &gatedHash{started: make(chan string, 1000), gate: make(chan struct{})}
	argon := a.argon
	a.argon = func(p argonParams, salt, want []byte, pw string) bool {
		g.mu.Lock()
		g.order = append(g.order, pw)
		g.mu.Unlock()
		g.started <- pw
		<-g.gate
		return argon(p, salt, want, pw)
	}
	return g
}

// waitFor polls cond until it holds; the bound is generous, the test
// asserts order, not time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestLoginFairHashing: with one hash at a time, three sources flooding
// with wrong passwords cannot keep a new source's login waiting behind
// them: it is hashed next, right after the hash that was running.
func TestLoginFairHashing(t *testing.T) {
	env := newTestEnv(t)
	env.a.th.cfg.MaxFailures = 100
	env.a.sched = newHashScheduler(1, 1, 100)
	g := newGatedHash(env.a)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 15 {
		wg.Go(func() {
			env.a.Login(ctx, "imap", source(i%3), "alice@example.org", fmt.Sprint("guess ", i))
		})
	}
	waitFor(t, "the flood to queue", func() bool { r, w := env.a.sched.stats(); return r == 1 && w == 14 })
	var legit error
	wg.Go(func() { _, legit = env.a.Login(ctx, "imap", ipB, "alice@example.org", alicePass) })
	waitFor(t, "the login to queue", func() bool { _, w := env.a.sched.stats(); return w == 15 })
	for range 16 {
		<-g.started
		g.gate <- struct{}{}
	}
	wg.Wait()
	if legit != nil {
		t.Fatalf("the login failed: %v", legit)
	}
	if i := slices.Index(g.order, alicePass); i != 1 {
		t.Errorf("the new source's login was hashed %d-th, want right after the running one:\n%q", i+1, g.order)
	}
}

// TestLoginHashQueueFull: past HashQueue waiting attempts, the most
// loaded source's newest is refused with ErrBusy (not counted, logged with
// its limit), so a new source still gets in.
func TestLoginHashQueueFull(t *testing.T) {
	env := newTestEnv(t)
	env.a.sched = newHashScheduler(1, 1, 3)
	g := newGatedHash(env.a)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := range 4 {
		wg.Go(func() {
			_, err := env.a.Login(ctx, "imap", ipA, "alice@example.org", fmt.Sprint("guess ", i))
			errs <- err
		})
	}
	waitFor(t, "the queue to fill", func() bool { r, w := env.a.sched.stats(); return r == 1 && w == 3 })
	var legit error
	wg.Go(func() { _, legit = env.a.Login(ctx, "imap", ipB, "alice@example.org", alicePass) })
	if err := <-errs; !errors.Is(err, ErrBusy) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("refused attempt: %v, want ErrBusy (an ErrUnavailable)", err)
	}
	for range 4 {
		<-g.started
		g.gate <- struct{}{}
	}
	wg.Wait()
	close(errs)
	if legit != nil {
		t.Errorf("the new source's login: %v", legit)
	}
	n := 0
	for err := range errs {
		if !errors.Is(err, ErrAuthFailed) {
			t.Errorf("flood attempt: %v", err)
		}
		n++
	}
	if e := env.a.th.entry(sourceKey(ipA)); n != 3 || e == nil || e.failures != 3 || e.pending != 0 {
		t.Errorf("%d flood attempts hashed, source entry %+v; want 3 failures counted, the refused one not", n, e)
	}
	if log := env.logBuf.String(); !strings.Contains(log, `limit="hash queue full"`) || !strings.Contains(log, "remote=192.0.2.1") {
		t.Errorf("the refusal is not logged with its limit and client:\n%s", log)
	}
}

// TestLoginCancelledWhileQueued: an attempt whose context ends while it
// waits for a hash leaves the queue, is not counted and gets ErrUnavailable.
func TestLoginCancelledWhileQueued(t *testing.T) {
	env := newTestEnv(t)
	env.a.sched = newHashScheduler(1, 1, 10)
	g := newGatedHash(env.a)
	var wg sync.WaitGroup
	wg.Go(func() { env.a.Login(context.Background(), "imap", ipA, "alice@example.org", "guess") })
	<-g.started
	ctx, cancel := context.WithCancel(context.Background())
	var err error
	wg.Go(func() { _, err = env.a.Login(ctx, "imap", ipB, "alice@example.org", alicePass) })
	waitFor(t, "the login to queue", func() bool { _, w := env.a.sched.stats(); return w == 1 })
	cancel()
	waitFor(t, "the login to leave the queue", func() bool { _, w := env.a.sched.stats(); return w == 0 })
	g.gate <- struct{}{}
	wg.Wait()
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("cancelled login: %v, want ErrUnavailable", err)
	}
	if e := env.a.th.entry(sourceKey(ipB)); e != nil {
		t.Errorf("the cancelled attempt was counted: %+v", e)
	}
	if r, w := env.a.sched.stats(); r != 0 || w != 0 || len(env.a.sched.sources) != 0 {
		t.Errorf("scheduler not empty: %d running, %d waiting, %d sources", r, w, len(env.a.sched.sources))
	}
}

// floodLogin logs a user in from a fresh source while 500 wrong logins
// from 50 sources (10 each, the default failure limit) are all under way,
// with hashes of params, and returns how long the user's login took and
// how many flood passwords were hashed by then.
func floodLogin(tb testing.TB, params argonParams) (time.Duration, int64) {
	hash := func(pw string) string {
		salt := make([]byte, params.saltLen)
		rand.Read(salt)
		prepped, _ := preparePassword(pw)
		return encodeArgon(params, salt, argonKey(params, prepped, salt))
	}
	accts := &fakeAccounts{accts: map[string]store.Account{
		"victim@example.org": {ID: 1, Address: "victim@example.org", Credentials: store.Credentials{PasswordHash: hash("victim's secret")}},
		"user@example.org":   {ID: 2, Address: "user@example.org", Credentials: store.Credentials{PasswordHash: hash("user's secret")}},
	}}
	a := NewAuthenticator(accts, NewThrottle(DefaultThrottleConfig()), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel() // the flood's queued attempts leave, its delays end
		wg.Wait()
	}()
	var ended atomic.Int64
	const sources, attempts = 50, 500
	for i := range attempts {
		ip := netip.AddrFrom4([4]byte{203, 0, 113, byte(i % sources)})
		wg.Go(func() {
			defer ended.Add(1)
			_, err := a.Login(ctx, "imap", ip, "victim@example.org", fmt.Sprint("guess ", i))
			if err != nil && !errors.Is(err, ErrAuthFailed) && !errors.Is(err, ErrUnavailable) {
				tb.Errorf("flood login: %v", err)
			}
		})
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		r, w := a.sched.stats()
		if int64(w)+a.hashes.Load() >= attempts || ended.Load() > 0 {
			break // every flood attempt waits, hashes or was hashed
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the flood did not start: %d running, %d waiting", r, w)
		}
	}
	flooded := a.hashes.Load()
	start := time.Now()
	id, err := a.Login(ctx, "imap", netip.MustParseAddr("192.0.2.200"), "user@example.org", "user's secret")
	took := time.Since(start)
	if err != nil || id.AccountID != 2 {
		tb.Fatalf("the user's login during the flood: %+v, %v", id, err)
	}
	return took, a.hashes.Load() - flooded
}

// TestLoginUnderFloodCompletes: a user logs in while 500 wrong logins
// from 50 sources wait for their hash (cheap hashes; the benchmark has
// the real ones and the timing).
func TestLoginUnderFloodCompletes(t *testing.T) {
	took, hashed := floodLogin(t, hashArgon)
	t.Logf("login took %v; %d flood passwords hashed meanwhile", took, hashed)
}

// BenchmarkLoginUnderFlood reports how long a user's login takes while
// 500 wrong logins from 50 sources compete for the real argon2id hash
// (64 MiB, t=3, 2 lanes): login-ms is the user's wait, flood-hashes the
// flood's passwords hashed meanwhile. Before fair hashing, the login
// waited behind the whole flood. Run with -benchtime=1x -cpu 2: each
// iteration hashes for a while.
func BenchmarkLoginUnderFlood(b *testing.B) {
	var total time.Duration
	var hashed int64
	for b.Loop() {
		took, h := floodLogin(b, defaultArgon)
		total += took
		hashed += h
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "login-ms")
	b.ReportMetric(float64(hashed)/float64(b.N), "flood-hashes")
}
