package auth

import (
	"container/list"
	"net/netip"
	"sync"
	"time"

	"postel/internal/store"
)

// ThrottleConfig sets how failed logins are slowed down and locked out.
// Fields that are zero or negative take their DefaultThrottleConfig value.
type ThrottleConfig struct {
	// Failures within Window count; each failure adds a growing delay
	// (BaseDelay * 2^(n-1), capped at MaxDelay) before the reply; after MaxFailures
	// failures the IP or account is locked out for Lockout.
	//
	// A key's count is forgotten once Window passes without a failure.
	Window, BaseDelay, MaxDelay, Lockout time.Duration
	MaxFailures                          int
}

// DefaultThrottleConfig returns the defaults: Window 15m, BaseDelay 250ms,
// MaxDelay 5s, MaxFailures 10, Lockout 15m.
func DefaultThrottleConfig() ThrottleConfig {
	return ThrottleConfig{
		Window:      15 * time.Minute,
		BaseDelay:   250 * time.Millisecond,
		MaxDelay:    5 * time.Second,
		Lockout:     15 * time.Minute,
		MaxFailures: 10,
	}
}

// defaultMaxKeys bounds the keys a Throttle tracks.
const defaultMaxKeys = 100_000

// Throttle counts failed logins per client IP and per account, in memory.
// Its memory is bounded: entries expire once their count and lockout are
// over, and at most 100,000 keys are tracked, the least recently failed
// evicted first.
//
// IPv6 clients are counted by /64 prefix, since one host usually holds a
// whole /64; IPv4-mapped IPv6 addresses count as IPv4. An invalid address
// (no IP, as on a Unix socket) is not counted. Note that anyone can lock an
// account out by failing MaxFailures times with its name: while it lasts,
// even the right password is refused.
//
// A Throttle is safe for concurrent use.
type Throttle struct {
	cfg     ThrottleConfig
	maxKeys int
	now     func() time.Time

	mu      sync.Mutex
	entries map[string]*list.Element // values are *throttleEntry
	order   *list.List               // least recently failed first
}

type throttleEntry struct {
	key         string
	failures    int
	last        time.Time // last failure
	lockedUntil time.Time
}

// NewThrottle returns a Throttle with cfg, its unset fields defaulted.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	d := DefaultThrottleConfig()
	if cfg.Window <= 0 {
		cfg.Window = d.Window
	}
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = d.BaseDelay
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = d.MaxDelay
	}
	cfg.MaxDelay = max(cfg.MaxDelay, cfg.BaseDelay)
	if cfg.Lockout <= 0 {
		cfg.Lockout = d.Lockout
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = d.MaxFailures
	}
	return &Throttle{
		cfg:     cfg,
		maxKeys: defaultMaxKeys,
		now:     time.Now,
		entries: make(map[string]*list.Element),
		order:   list.New(),
	}
}

// throttleKeys returns the keys an attempt counts against: the client's IP
// (its /64 for IPv6) and the lower-cased account name, when known.
func throttleKeys(remote netip.Addr, user string) []string {
	keys := make([]string, 0, 2)
	if remote.IsValid() {
		ip := remote.Unmap().WithZone("")
		if ip.Is6() {
			p, _ := ip.Prefix(64) // cannot fail for 64 bits of IPv6
			keys = append(keys, "ip "+p.String())
		} else {
			keys = append(keys, "ip "+ip.String())
		}
	}
	if user != "" {
		// The account's canonical address, as the store looks it up: " Bob@x"
		// and "bob@x" are one account and must share one counter.
		if c, err := store.CanonicalAddress(user, false); err == nil {
			user = c
		}
		keys = append(keys, "user "+user)
	}
	return keys
}

// lockedFor returns how long the longest lockout among keys still lasts,
// or 0 when none is locked out.
func (t *Throttle) lockedFor(keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.expire(now)
	var d time.Duration
	for _, k := range keys {
		if el, ok := t.entries[k]; ok {
			d = max(d, el.Value.(*throttleEntry).lockedUntil.Sub(now))
		}
	}
	return d
}

// fail counts one failure against each key. It returns the delay to wait
// before replying (the largest among keys) and whether this failure started
// a lockout.
func (t *Throttle) fail(keys ...string) (delay time.Duration, lockout bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.expire(now)
	for _, k := range keys {
		var e *throttleEntry
		if el, ok := t.entries[k]; ok {
			e = el.Value.(*throttleEntry)
			if now.Sub(e.last) >= t.cfg.Window {
				e.failures = 0
			}
			t.order.MoveToBack(el)
		} else {
			if len(t.entries) >= t.maxKeys {
				t.remove(t.order.Front())
			}
			e = &throttleEntry{key: k}
			t.entries[k] = t.order.PushBack(e)
		}
		e.failures++
		e.last = now
		if e.failures >= t.cfg.MaxFailures {
			if !now.Before(e.lockedUntil) {
				lockout = true
			}
			e.lockedUntil = now.Add(t.cfg.Lockout)
		}
		delay = max(delay, t.delay(e.failures))
	}
	return delay, lockout
}

// succeed forgets the failures of keys.
func (t *Throttle) succeed(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		if el, ok := t.entries[k]; ok {
			t.remove(el)
		}
	}
}

// delay is BaseDelay * 2^(n-1), capped at MaxDelay.
func (t *Throttle) delay(n int) time.Duration {
	d := t.cfg.BaseDelay
	for i := 1; i < n && d < t.cfg.MaxDelay; i++ {
		d *= 2
	}
	return min(d, t.cfg.MaxDelay)
}

// expire drops entries whose last failure is older than both Window and
// Lockout: their count is forgotten and any lockout is over. The list is in
// order of last failure, so only its front needs looking at.
func (t *Throttle) expire(now time.Time) {
	keep := max(t.cfg.Window, t.cfg.Lockout)
	for el := t.order.Front(); el != nil; el = t.order.Front() {
		if now.Sub(el.Value.(*throttleEntry).last) < keep {
			return
		}
		t.remove(el)
	}
}

func (t *Throttle) remove(el *list.Element) {
	delete(t.entries, el.Value.(*throttleEntry).key)
	t.order.Remove(el)
}
