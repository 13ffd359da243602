package auth

import (
	"fmt"
	"net/netip"
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
	tests := []struct {
		in, want ThrottleConfig
	}{
		{ThrottleConfig{}, DefaultThrottleConfig()},
		{ThrottleConfig{Window: -1, MaxFailures: -3}, DefaultThrottleConfig()},
		{
			ThrottleConfig{Window: time.Minute, BaseDelay: time.Second, MaxDelay: 2 * time.Second, Lockout: time.Hour, MaxFailures: 3},
			ThrottleConfig{Window: time.Minute, BaseDelay: time.Second, MaxDelay: 2 * time.Second, Lockout: time.Hour, MaxFailures: 3},
		},
		{ // MaxDelay below BaseDelay is raised to it.
			ThrottleConfig{BaseDelay: 10 * time.Second, MaxDelay: time.Second},
			ThrottleConfig{Window: 15 * time.Minute, BaseDelay: 10 * time.Second, MaxDelay: 10 * time.Second, Lockout: 15 * time.Minute, MaxFailures: 10},
		},
	}
	for _, tc := range tests {
		if got := NewThrottle(tc.in).cfg; got != tc.want {
			t.Errorf("NewThrottle(%+v).cfg = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestThrottleDelaysAndLockout(t *testing.T) {
	th, clock := newTestThrottle(DefaultThrottleConfig())
	ms := time.Millisecond
	want := []time.Duration{250 * ms, 500 * ms, time.Second, 2 * time.Second, 4 * time.Second,
		5 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if d := th.lockedFor("k"); d != 0 {
			t.Fatalf("locked for %v before failure %d", d, i+1)
		}
		d, lockout := th.fail("k")
		if d != w {
			t.Errorf("failure %d: delay %v, want %v", i+1, d, w)
		}
		if lockout != (i == len(want)-1) {
			t.Errorf("failure %d: lockout %v", i+1, lockout)
		}
		clock.advance(time.Second)
	}
	if d := th.lockedFor("k"); d != 15*time.Minute-time.Second {
		t.Errorf("lockedFor = %v, want 14m59s", d)
	}
	if d := th.lockedFor("other", "k"); d != 15*time.Minute-time.Second {
		t.Errorf("lockedFor(other, k) = %v, want the lockout of k", d)
	}
	if d := th.lockedFor("other"); d != 0 {
		t.Errorf("an unrelated key is locked for %v", d)
	}
	clock.advance(15*time.Minute - 2*time.Second)
	if d := th.lockedFor("k"); d != time.Second {
		t.Errorf("lockedFor near the end = %v, want 1s", d)
	}
	clock.advance(time.Second)
	if d := th.lockedFor("k"); d != 0 {
		t.Errorf("still locked for %v after Lockout", d)
	}
	if len(th.entries) != 0 || th.order.Len() != 0 {
		t.Errorf("expired entry kept: %d entries, %d in order", len(th.entries), th.order.Len())
	}
}

func TestThrottleWindow(t *testing.T) {
	cfg := ThrottleConfig{Window: 10 * time.Minute, BaseDelay: time.Second, MaxDelay: time.Minute, Lockout: time.Minute, MaxFailures: 3}
	th, clock := newTestThrottle(cfg)
	th.fail("k")
	clock.advance(9 * time.Minute)
	if d, _ := th.fail("k"); d != 2*time.Second {
		t.Errorf("second failure within Window: delay %v, want 2s", d)
	}
	// Quiet for a whole Window: the count starts again.
	clock.advance(10 * time.Minute)
	if d, lockout := th.fail("k"); d != time.Second || lockout {
		t.Errorf("after a quiet Window: delay %v lockout %v, want 1s false", d, lockout)
	}
	th.fail("k")
	if _, lockout := th.fail("k"); !lockout {
		t.Errorf("third failure did not lock out")
	}
	// Lockout (1m) shorter than Window (10m): once it ends, the count still
	// stands, so the next failure locks out again at once.
	clock.advance(time.Minute)
	if d := th.lockedFor("k"); d != 0 {
		t.Fatalf("still locked for %v", d)
	}
	if d, lockout := th.fail("k"); !lockout || d != 8*time.Second {
		t.Errorf("failure after lockout: delay %v lockout %v, want 8s true", d, lockout)
	}
}

func TestThrottleSucceed(t *testing.T) {
	th, _ := newTestThrottle(DefaultThrottleConfig())
	for range 5 {
		th.fail("ip 192.0.2.1", "user a@example.org")
	}
	th.fail("ip 192.0.2.1", "user b@example.org")
	th.succeed("ip 192.0.2.1", "user a@example.org")
	if _, ok := th.entries["user b@example.org"]; !ok || len(th.entries) != 1 {
		t.Errorf("entries after succeed: %v", keysOf(th))
	}
	if d, _ := th.fail("user a@example.org"); d != 250*time.Millisecond {
		t.Errorf("count not cleared: delay %v", d)
	}
}

func TestThrottleDelayTakesLargest(t *testing.T) {
	th, _ := newTestThrottle(DefaultThrottleConfig())
	for range 3 {
		th.fail("ip x")
	}
	if d, _ := th.fail("ip x", "user new"); d != 2*time.Second {
		t.Errorf("delay = %v, want 2s (the IP's, 4th failure)", d)
	}
}

func TestThrottleMemoryBound(t *testing.T) {
	th, clock := newTestThrottle(DefaultThrottleConfig())
	th.maxKeys = 5
	for i := range 8 {
		th.fail(fmt.Sprintf("k%d", i))
		clock.advance(time.Second)
	}
	if len(th.entries) != 5 || th.order.Len() != 5 {
		t.Fatalf("%d entries, %d in order; want 5", len(th.entries), th.order.Len())
	}
	if want := []string{"k3", "k4", "k5", "k6", "k7"}; !slices.Equal(keysOf(th), want) {
		t.Errorf("kept %v, want the newest %v", keysOf(th), want)
	}
	// A new failure of an old key makes it the newest.
	th.fail("k3")
	th.fail("k8")
	if want := []string{"k5", "k6", "k7", "k3", "k8"}; !slices.Equal(keysOf(th), want) {
		t.Errorf("kept %v, want %v", keysOf(th), want)
	}
}

func TestThrottleExpiry(t *testing.T) {
	th, clock := newTestThrottle(ThrottleConfig{Window: time.Minute, Lockout: 5 * time.Minute})
	th.fail("old")
	clock.advance(4 * time.Minute)
	th.fail("new")
	clock.advance(time.Minute) // "old" is 5m old: gone; "new" is 1m old: kept
	th.lockedFor()
	if want := []string{"new"}; !slices.Equal(keysOf(th), want) {
		t.Errorf("kept %v, want %v", keysOf(th), want)
	}
	clock.advance(4 * time.Minute)
	th.lockedFor()
	if len(th.entries) != 0 {
		t.Errorf("kept %v, want none", keysOf(th))
	}
}

func TestThrottleKeys(t *testing.T) {
	tests := []struct {
		addr, user string
		want       []string
	}{
		{"192.0.2.7", "a@example.org", []string{"ip 192.0.2.7", "user a@example.org"}},
		{"::ffff:192.0.2.7", "", []string{"ip 192.0.2.7"}},
		{"2001:db8:1:2:3:4:5:6", "", []string{"ip 2001:db8:1:2::/64"}},
		{"2001:db8:1:2::9", "", []string{"ip 2001:db8:1:2::/64"}},
		{"fe80::1%eth0", "", []string{"ip fe80::/64"}},
		{"", "a@example.org", []string{"user a@example.org"}},
	}
	for _, tc := range tests {
		var addr netip.Addr
		if tc.addr != "" {
			addr = netip.MustParseAddr(tc.addr)
		}
		if got := throttleKeys(addr, tc.user); !slices.Equal(got, tc.want) {
			t.Errorf("throttleKeys(%q, %q) = %q, want %q", tc.addr, tc.user, got, tc.want)
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
				th.fail(k, "shared")
				th.lockedFor(k)
				if i%10 == 0 {
					th.succeed(k)
				}
			}
		})
	}
	wg.Wait()
	if len(th.entries) > 20 || len(th.entries) != th.order.Len() {
		t.Errorf("%d entries, %d in order; cap 20", len(th.entries), th.order.Len())
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
