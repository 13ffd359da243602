package auth

import (
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

func newTestThrottle(cfg ThrottleConfig) (*Throttle, *fakeClock) {
	th := NewThrottle(cfg)
	c := newFakeClock()
	th.now = c.now
	return th, c
}

func TestNewThrottleDefaults(t *testing.T) {
	d := DefaultThrottleConfig()
	if want := min(runtime.GOMAXPROCS(0), 4); d.HashConcurrency != want {
		t.Errorf("default HashConcurrency = %d, want %d", d.HashConcurrency, want)
	}
	full := ThrottleConfig{Window: time.Minute, BaseDelay: time.Second, MaxDelay: 2 * time.Second, Lockout: time.Hour,
		MaxFailures: 3, AccountMaxDelay: 3 * time.Second, HashConcurrency: 7, HashPerSource: 1, HashQueue: 9}
	raised := d
	raised.BaseDelay, raised.MaxDelay = 10*time.Second, 10*time.Second
	tests := []struct {
		in, want ThrottleConfig
	}{
		{ThrottleConfig{}, d},
		{ThrottleConfig{Window: -1, MaxFailures: -3, HashQueue: -1, AccountMaxDelay: -time.Second}, d},
		{full, full},
		// MaxDelay below BaseDelay is raised to it.
		{ThrottleConfig{BaseDelay: 10 * time.Second, MaxDelay: time.Second}, raised},
	}
	for _, tc := range tests {
		if got := NewThrottle(tc.in).cfg; got != tc.want {
			t.Errorf("NewThrottle(%+v).cfg = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// Throttle keys of the tests.
const (
	srcA  = "ip 192.0.2.1"
	srcB  = "ip 192.0.2.2"
	alice = "user alice@example.org"
	bob   = "user bob@example.org"
)

// tstep is one event in a throttle scenario, and what it must give.
type tstep struct {
	act       string // "fail", "succeed", "giveback", "hold", "failheld", "advance", "sync", "blocked"
	src, acct string
	epoch     int64
	d         time.Duration // advance: how long; fail: the delay wanted
	refused   string        // the refusal wanted at reserve or blocked; "" when admitted
	lockout   bool          // fail: starts a lockout
}

func fail(src, acct string, delay time.Duration) tstep {
	return tstep{act: "fail", src: src, acct: acct, d: delay}
}
func failLock(src, acct string, delay time.Duration) tstep {
	return tstep{act: "fail", src: src, acct: acct, d: delay, lockout: true}
}
func failE(src, acct string, epoch int64, delay time.Duration) tstep {
	return tstep{act: "fail", src: src, acct: acct, epoch: epoch, d: delay}
}
func failN(n int, src, acct string) []tstep {
	s := make([]tstep, n)
	for i := range s {
		s[i] = tstep{act: "fail", src: src, acct: acct, d: -1}
	}
	return s
}
func refused(src, acct, limit string) tstep {
	return tstep{act: "succeed", src: src, acct: acct, refused: limit}
}
func login(src, acct string) tstep  { return tstep{act: "succeed", src: src, acct: acct} }
func advance(d time.Duration) tstep { return tstep{act: "advance", d: d} }
func unlock(src, acct string, epoch int64) tstep {
	return tstep{act: "sync", src: src, acct: acct, epoch: epoch}
}
func blockedStep(src, acct, limit string) tstep {
	return tstep{act: "blocked", src: src, acct: acct, refused: limit}
}

func seq(parts ...any) []tstep {
	var out []tstep
	for _, p := range parts {
		switch p := p.(type) {
		case tstep:
			out = append(out, p)
		case []tstep:
			out = append(out, p...)
		}
	}
	return out
}

// TestThrottleRules runs scenarios of failures, successes, unlocks and
// time passing against the rules of Throttle.
func TestThrottleRules(t *testing.T) {
	ms := time.Millisecond
	def := DefaultThrottleConfig()
	small := ThrottleConfig{Window: 10 * time.Minute, BaseDelay: time.Second, MaxDelay: time.Minute, Lockout: time.Minute,
		MaxFailures: 3, AccountMaxDelay: 2 * time.Second}
	many := func(n int, acct string, delays ...time.Duration) []tstep {
		var s []tstep
		for i := range n {
			src := fmt.Sprintf("ip 198.51.100.%d", i)
			s = append(s, fail(src, acct, delays[min(i, len(delays)-1)]))
		}
		return s
	}
	tests := []struct {
		name  string
		cfg   ThrottleConfig
		steps []tstep
	}{
		{"a source's delays grow, then it is locked out", def, seq(
			fail(srcA, alice, 250*ms), fail(srcA, bob, 500*ms), fail(srcA, alice, time.Second),
			fail(srcA, alice, 2*time.Second), fail(srcA, alice, 4*time.Second), fail(srcA, alice, 5*time.Second),
			fail(srcA, alice, 5*time.Second), fail(srcA, alice, 5*time.Second), fail(srcA, alice, 5*time.Second),
			failLock(srcA, alice, 5*time.Second),
			refused(srcA, alice, limitLocked), refused(srcA, "user other@example.org", limitLocked),
			// The right password from another source logs in at once.
			login(srcB, alice),
			advance(15*time.Minute-time.Second), refused(srcA, alice, limitLocked),
			advance(time.Second), login(srcA, alice),
		)},
		{"an account's failures never lock it and delay up to AccountMaxDelay", def, seq(
			many(12, alice, 250*ms, 500*ms, time.Second, 2*time.Second),
			login(srcA, alice), // a source with no failure
			login("ip 198.51.100.3", alice),
			fail(srcB, alice, 2*time.Second), // its own first failure, the account's delay
			fail(srcB, bob, 500*ms),          // another account: the source's second failure
		)},
		{"the count stands past the lockout: one failure locks again", small, seq(
			fail(srcA, alice, time.Second), fail(srcA, bob, 2*time.Second), failLock(srcA, alice, 4*time.Second),
			refused(srcA, alice, limitLocked),
			advance(time.Minute), failLock(srcA, alice, 8*time.Second),
			advance(time.Minute), tstep{act: "hold", src: srcA, acct: alice},
			refused(srcA, alice, limitFailures), // one at a time
		)},
		{"a quiet Window forgets", small, seq(
			fail(srcA, alice, time.Second), advance(9*time.Minute), fail(srcA, alice, 2*time.Second),
			advance(10*time.Minute), fail(srcA, alice, time.Second),
		)},
		{"attempts in progress count towards the limit", small, seq(
			tstep{act: "hold", src: srcA, acct: alice}, tstep{act: "hold", src: srcA, acct: alice},
			tstep{act: "hold", src: srcA, acct: bob},
			refused(srcA, alice, limitFailures), blockedStep(srcA, bob, limitFailures),
			login(srcB, alice),
			tstep{act: "failheld"}, refused(srcA, alice, limitLocked),
		)},
		{"an attempt given back does not count", small, seq(
			tstep{act: "giveback", src: srcA, acct: alice}, tstep{act: "giveback", src: srcA, acct: alice},
			tstep{act: "giveback", src: srcA, acct: alice}, tstep{act: "giveback", src: srcA, acct: alice},
			fail(srcA, alice, time.Second),
		)},
		{"success forgives that account's failures only", def, seq(
			failN(2, srcA, bob), failN(3, srcA, alice), login(srcA, alice),
			fail(srcA, "user carol@example.org", time.Second), // third: bob's two stay
		)},
		{"success forgives the source's failures in the account's count too", def, seq(
			failN(3, srcA, alice), fail(srcB, alice, 2*time.Second), login(srcA, alice),
			fail("ip 192.0.2.3", alice, 500*ms), // the account's second
		)},
		{"an unlock forgives the account's and its sources' failures", def, seq(
			failN(10, srcA, alice), fail(srcB, alice, 2*time.Second), blockedStep(srcA, alice, limitLocked),
			unlock("ip 192.0.2.9", alice, 1), // anyone loading alice sees the new epoch
			blockedStep(srcA, bob, ""), login(srcA, alice),
			fail(srcB, bob, 250*ms),                 // srcB's failure against alice was forgiven
			failE("ip 192.0.2.3", alice, 1, 250*ms), // and so was the account's count
		)},
		{"an unlock forgives only the failures against that account", def, seq(
			failN(2, srcA, bob), failN(8, srcA, alice), refused(srcA, bob, limitLocked),
			unlock(srcA, alice, 1),
			fail(srcA, bob, time.Second), // the third, bob's two stay
		)},
		{"the same epoch forgives nothing", def, seq(
			failN(10, srcA, alice), unlock(srcA, alice, 0), blockedStep(srcA, alice, limitLocked),
		)},
		{"failures after an unlock count under the new epoch", small, seq(
			unlock(srcA, alice, 4), failE(srcA, alice, 4, time.Second),
			unlock(srcA, alice, 4), failE(srcA, alice, 4, 2*time.Second),
		)},
		{"IPv6 sources are counted by /64", small, seq(
			fail(sourceKey(netip.MustParseAddr("2001:db8::1")), alice, time.Second),
			fail(sourceKey(netip.MustParseAddr("2001:db8::2:1")), bob, 2*time.Second),
			failLock(sourceKey(netip.MustParseAddr("2001:db8::ffff:1")), bob, 4*time.Second),
			refused(sourceKey(netip.MustParseAddr("2001:db8:0:1::1")), bob, ""),
		)},
		{"no source (a Unix socket) is not counted", small, seq(
			failN(5, "", alice), login("", alice),
		)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			th, clock := newTestThrottle(tc.cfg)
			var held []*reservation
			for i, s := range tc.steps {
				where := fmt.Sprintf("step %d (%s %s %s)", i, s.act, s.src, s.acct)
				switch s.act {
				case "advance":
					clock.advance(s.d)
					continue
				case "sync":
					th.sync(s.src, s.acct, s.epoch)
					continue
				case "failheld":
					for _, r := range held {
						r.fail()
					}
					held = nil
					continue
				case "blocked":
					r, isRefused, _ := th.blocked(s.src, s.acct)
					if isRefused != (s.refused != "") || r.limit != s.refused {
						t.Fatalf("%s: blocked %v %q, want %q", where, isRefused, r.limit, s.refused)
					}
					continue
				}
				res, r, ok := th.reserve(s.src, s.acct, s.epoch)
				if ok != (s.refused == "") || r.limit != s.refused {
					t.Fatalf("%s: reserve admitted %v, refusal %q; want %q", where, ok, r.limit, s.refused)
				}
				if !ok {
					continue
				}
				switch s.act {
				case "hold":
					held = append(held, res)
				case "giveback":
					res.giveBack()
				case "succeed":
					res.succeed()
				case "fail":
					d, lockout := res.fail()
					if s.d >= 0 && d != s.d {
						t.Errorf("%s: delay %v, want %v", where, d, s.d)
					}
					if s.d >= 0 && lockout != s.lockout {
						t.Errorf("%s: lockout started %v, want %v", where, lockout, s.lockout)
					}
				}
			}
		})
	}
}

// TestThrottleUnlockWithoutAccountEntry: a source's failures against an
// account are forgiven at an epoch move even when the account's own count
// is gone.
func TestThrottleUnlockWithoutAccountEntry(t *testing.T) {
	th, _ := newTestThrottle(ThrottleConfig{MaxFailures: 3})
	for range 3 {
		r, _, _ := th.reserve(srcA, alice, 0)
		r.fail()
	}
	th.remove(th.entries[alice])
	if _, isRefused, against := th.blocked(srcA, alice); !isRefused || !against {
		t.Fatalf("blocked = %v against %v, want a lockout with failures against alice", isRefused, against)
	}
	th.sync(srcA, alice, 1)
	if r, isRefused, _ := th.blocked(srcA, alice); isRefused {
		t.Fatalf("still refused after the epoch moved: %+v", r)
	}
	if len(th.entries) != 1 || th.entry(srcA).failures != 0 {
		t.Errorf("entries after unlock: %v", keysOf(th))
	}
}

// TestThrottleReservationEndsOnce: a reservation counts once whatever
// is called after its end, so a deferred giveBack is harmless.
func TestThrottleReservationEndsOnce(t *testing.T) {
	th, _ := newTestThrottle(ThrottleConfig{MaxFailures: 3})
	r, _, _ := th.reserve(srcA, alice, 0)
	r.fail()
	r.fail()
	r.giveBack()
	r.succeed()
	if e := th.entry(srcA); e.failures != 1 || e.pending != 0 {
		t.Errorf("source after one failure ended four times: %d failures, %d pending", e.failures, e.pending)
	}
	r, _, _ = th.reserve(srcB, alice, 0)
	r.succeed()
	r.giveBack()
	if e := th.entry(srcB); e != nil {
		t.Errorf("a source with nothing left is kept: %+v", e)
	}
}

func TestThrottleMemoryBound(t *testing.T) {
	th, clock := newTestThrottle(DefaultThrottleConfig())
	th.maxKeys = 5
	failAt := func(src string) {
		r, _, _ := th.reserve(src, "", 0)
		r.fail()
		clock.advance(time.Second)
	}
	for i := range 8 {
		failAt(fmt.Sprintf("k%d", i))
	}
	if len(th.entries) != 5 || th.order.Len() != 5 {
		t.Fatalf("%d entries, %d in order; want 5", len(th.entries), th.order.Len())
	}
	if want := []string{"k3", "k4", "k5", "k6", "k7"}; !slices.Equal(keysOf(th), want) {
		t.Errorf("kept %v, want the newest %v", keysOf(th), want)
	}
	// A new failure of an old key makes it the newest.
	failAt("k3")
	failAt("k8")
	if want := []string{"k5", "k6", "k7", "k3", "k8"}; !slices.Equal(keysOf(th), want) {
		t.Errorf("kept %v, want %v", keysOf(th), want)
	}
	// A source's failures are kept apart for at most maxAgainst accounts.
	th = NewThrottle(ThrottleConfig{MaxFailures: 1000})
	for i := range maxAgainst + 10 {
		r, _, _ := th.reserve("k8", fmt.Sprintf("user %d@example.org", i), 0)
		r.fail()
	}
	if n := len(th.entry("k8").against); n != maxAgainst || th.entry("k8").failures != maxAgainst+10 {
		t.Errorf("%d accounts kept apart, want %d", n, maxAgainst)
	}
}

func TestThrottleExpiry(t *testing.T) {
	th, clock := newTestThrottle(ThrottleConfig{Window: time.Minute, Lockout: 5 * time.Minute})
	r, _, _ := th.reserve("old", alice, 0)
	r.fail()
	clock.advance(4 * time.Minute)
	held, _, _ := th.reserve("busy", "", 0) // in progress: kept
	r, _, _ = th.reserve("new", "", 0)
	r.fail()
	clock.advance(time.Minute) // "old" and alice are 5m old: gone; "new" is 1m old: kept
	th.blocked("", "")
	if want := []string{"busy", "new"}; !slices.Equal(keysOf(th), want) {
		t.Errorf("kept %v, want %v", keysOf(th), want)
	}
	clock.advance(10 * time.Minute)
	th.blocked("", "")
	if want := []string{"busy"}; !slices.Equal(keysOf(th), want) {
		t.Errorf("kept %v, want %v", keysOf(th), want)
	}
	held.giveBack()
	if len(th.entries) != 0 {
		t.Errorf("kept %v, want none", keysOf(th))
	}
}

func TestThrottleKeys(t *testing.T) {
	tests := []struct {
		addr, user string
		src, acct  string
	}{
		{"192.0.2.7", "a@example.org", "ip 192.0.2.7", "user a@example.org"},
		{"::ffff:192.0.2.7", "", "ip 192.0.2.7", ""},
		{"2001:db8:1:2:3:4:5:6", "", "ip 2001:db8:1:2::/64", ""},
		{"2001:db8:1:2::9", "", "ip 2001:db8:1:2::/64", ""},
		{"fe80::1%eth0", "", "ip fe80::/64", ""},
		{"", "a@example.org", "", "user a@example.org"},
		{"", " A@Example.ORG ", "", "user a@example.org"},
		{"", "not an address", "", "user not an address"},
	}
	for _, tc := range tests {
		var addr netip.Addr
		if tc.addr != "" {
			addr = netip.MustParseAddr(tc.addr)
		}
		if got := sourceKey(addr); got != tc.src {
			t.Errorf("sourceKey(%q) = %q, want %q", tc.addr, got, tc.src)
		}
		if got := accountKey(tc.user); got != tc.acct {
			t.Errorf("accountKey(%q) = %q, want %q", tc.user, got, tc.acct)
		}
	}
}

func TestThrottleConcurrent(t *testing.T) {
	th := NewThrottle(ThrottleConfig{MaxFailures: 50})
	th.maxKeys = 20
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := fmt.Sprintf("k%d", (g*7+i)%40)
				acct := fmt.Sprintf("user %d", i%3)
				th.blocked(k, acct)
				th.sync(k, acct, int64(i/50))
				r, _, ok := th.reserve(k, acct, int64(i/50))
				switch {
				case !ok:
				case i%10 == 0:
					r.succeed()
				case i%7 == 0:
					r.giveBack()
				default:
					r.fail()
				}
			}
		})
	}
	wg.Wait()
	if len(th.entries) > 20 || len(th.entries) != th.order.Len() {
		t.Errorf("%d entries, %d in order; cap 20", len(th.entries), th.order.Len())
	}
	for _, k := range keysOf(th) {
		if e := th.entry(k); e.pending != 0 {
			t.Errorf("%s: %d attempts still pending", k, e.pending)
		}
	}
}

// keysOf lists the tracked keys, oldest first.
func keysOf(th *Throttle) []string {
	var keys []string
	for el := th.order.Front(); el != nil; el = el.Next() {
		keys = append(keys, el.Value.(*throttleEntry).key)
	}
	return keys
}
