package auth

import (
	"container/list"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"postel/internal/store"
)

// ThrottleConfig sets how failed logins are slowed down and locked out, and
// how the password hash is shared among clients. It is the one place for
// these settings. Fields that are zero or negative take their
// DefaultThrottleConfig value.
type ThrottleConfig struct {
	// Window is how long failures count: a source's or an account's count
	// is forgotten once Window passes without a failure of it.
	Window time.Duration
	// BaseDelay and MaxDelay: each failure from a source is answered after
	// BaseDelay * 2^(n-1), n being the source's failures in Window, capped
	// at MaxDelay.
	BaseDelay, MaxDelay time.Duration
	// MaxFailures failures from one source (client IP, IPv6 /64) within
	// Window lock that source out for Lockout: it is refused at once,
	// whatever the account and password. Attempts in progress count
	// towards MaxFailures before their password is checked, so parallel
	// attempts cannot check more passwords than that.
	MaxFailures int
	Lockout     time.Duration

	// AccountMaxDelay caps the delay an account's own failures (from any
	// source) add to the answer of a further failure against it: BaseDelay
	// * 2^(n-1), capped here. An account's failures never lock it and never
	// delay or refuse the right password.
	AccountMaxDelay time.Duration

	// HashConcurrency is how many password hashes (argon2id, 64 MiB each by
	// default) may run at once; HashPerSource how many of them one source
	// may hold; HashQueue how many attempts may wait for a hash. Waiting
	// sources are served fewest outstanding attempts first, round-robin
	// among equals; past HashQueue the attempt of the source with the most
	// outstanding attempts is refused with ErrBusy.
	HashConcurrency, HashPerSource, HashQueue int

	// Shared, when set, shares failure counts of sources with the other
	// nodes of the store (see shared.go); nil: this process counts alone.
	Shared store.LoginFailures
}

// DefaultThrottleConfig returns the defaults: Window 15m, BaseDelay 250ms,
// MaxDelay 5s, MaxFailures 10, Lockout 15m, AccountMaxDelay 2s,
// HashConcurrency GOMAXPROCS up to 4 (memory: 64 MiB a hash), HashPerSource
// 2, HashQueue 1000.
func DefaultThrottleConfig() ThrottleConfig {
	return ThrottleConfig{
		Window:          15 * time.Minute,
		BaseDelay:       250 * time.Millisecond,
		MaxDelay:        5 * time.Second,
		Lockout:         15 * time.Minute,
		MaxFailures:     10,
		AccountMaxDelay: 2 * time.Second,
		HashConcurrency: min(max(runtime.GOMAXPROCS(0), 1), 4),
		HashPerSource:   2,
		HashQueue:       1000,
	}
}

// withDefaults returns cfg with its unset fields defaulted.
func (cfg ThrottleConfig) withDefaults() ThrottleConfig {
	d := DefaultThrottleConfig()
	def := func(v *time.Duration, dv time.Duration) {
		if *v <= 0 {
			*v = dv
		}
	}
	defInt := func(v *int, dv int) {
		if *v <= 0 {
			*v = dv
		}
	}
	def(&cfg.Window, d.Window)
	def(&cfg.BaseDelay, d.BaseDelay)
	def(&cfg.MaxDelay, d.MaxDelay)
	cfg.MaxDelay = max(cfg.MaxDelay, cfg.BaseDelay)
	def(&cfg.Lockout, d.Lockout)
	defInt(&cfg.MaxFailures, d.MaxFailures)
	def(&cfg.AccountMaxDelay, d.AccountMaxDelay)
	defInt(&cfg.HashConcurrency, d.HashConcurrency)
	defInt(&cfg.HashPerSource, d.HashPerSource)
	defInt(&cfg.HashQueue, d.HashQueue)
	return cfg
}

const (
	// defaultMaxKeys bounds the keys a Throttle tracks.
	defaultMaxKeys = 100_000
	// maxAgainst bounds the accounts a source's failures are kept apart
	// for; failures against further accounts still count for the source
	// but no success or unlock of an account forgives them.
	maxAgainst = 32
)

// Throttle counts failed logins per source (client IP) and per account, in
// memory, so that no stranger can lock a user out:
//
//   - A source's failures delay its failure replies more and more, and
//     MaxFailures of them within Window lock the source out for Lockout.
//     IPv6 sources are counted by /64 prefix, since one host usually holds
//     a whole /64; IPv4-mapped IPv6 addresses count as IPv4. An invalid
//     address (no IP, as on a Unix socket) is not counted.
//   - An account's failures only lengthen the delay of further failure
//     replies against it, up to AccountMaxDelay. They never lock the
//     account: the right password is refused only to a source that is
//     itself locked out or at its limit, that is one that failed
//     MaxFailures times within Window (counting attempts in progress).
//     Any other source, in particular one with no failure in Window, logs
//     in at once.
//   - An attempt reserves its failure before its password is checked
//     (reserve), and the reservation ends as a failure, a success or is
//     given back unchecked; a source's failures plus reservations never
//     pass MaxFailures (one at a time once a lockout is over and the count
//     still stands).
//   - A success from a source forgives that source's failures against that
//     account, in both counts; its failures against other accounts stay,
//     so that a valid login cannot reset guessing elsewhere.
//   - An account's failures, and the failures of sources against it, are
//     forgotten when its store.Account.AuthEpoch moves (a password change
//     or postel user unlock, maybe in another process), at the next
//     attempt that loads the account (sync).
//   - With ThrottleConfig.Shared (nodes on one store), each source's
//     failures are also counted in the store, and a source whose failures
//     on every node reach MaxFailures within Window is refused on all of
//     them (shared.go).
//
// Its memory is bounded: entries expire once their count and lockout are
// over, and at most 100,000 keys are tracked, the least recently used
// evicted first. A Throttle is safe for concurrent use.
type Throttle struct {
	cfg     ThrottleConfig
	maxKeys int
	now     func() time.Time

	mu      sync.Mutex
	entries map[string]*list.Element // values are *throttleEntry
	order   *list.List               // least recently used first
}

// throttleEntry is the count of one source ("ip ...") or account ("user ...").
type throttleEntry struct {
	key      string
	failures int       // within Window
	last     time.Time // last failure
	used     time.Time // last failure or reservation: the order of Throttle.order

	// Sources only.
	pending     int       // reserved: attempts whose password is being checked
	lockedUntil time.Time // zero when never locked
	against     map[string]*againstCount

	// Accounts only.
	epoch int64 // the account's AuthEpoch its failures were counted under
}

// againstCount is a source's failures against one account.
type againstCount struct {
	failures int
	epoch    int64 // the account's AuthEpoch they were counted under
}

// NewThrottle returns a Throttle with cfg, its unset fields defaulted.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	return &Throttle{
		cfg:     cfg.withDefaults(),
		maxKeys: defaultMaxKeys,
		now:     time.Now,
		entries: make(map[string]*list.Element),
		order:   list.New(),
	}
}

// sourceKey returns the key a client address counts under: "ip " and the
// IP, IPv4-mapped addresses as IPv4, IPv6 by its /64; "" for an invalid
// address, which is not counted.
func sourceKey(remote netip.Addr) string {
	if !remote.IsValid() {
		return ""
	}
	ip := remote.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64) // cannot fail for 64 bits of IPv6
		return "ip " + p.String()
	}
	return "ip " + ip.String()
}

// accountKey returns the key an account name counts under: "user " and its
// canonical address as the store looks it up, so that " Bob@x" and "bob@x"
// share one count; "" for no name.
func accountKey(user string) string {
	if user == "" {
		return ""
	}
	if c, err := store.CanonicalAddress(user, false); err == nil {
		user = c
	}
	return "user " + user
}

// refusal says why an attempt is refused before its password is checked;
// its limit names the limit in the log line.
type refusal struct {
	limit   string
	retryIn time.Duration // how long a lockout still lasts; 0 when none
}

// The limits a refusal names.
const (
	limitLocked   = "source locked out"    // MaxFailures reached: Lockout
	limitFailures = "source failure limit" // failures plus attempts in progress at MaxFailures
	limitQueue    = "hash queue full"      // HashQueue attempts wait for a hash
	limitShared   = "source failure limit on every node"
)

// blocked reports whether the source src may not try a password now, and
// whether some of its failures were against acct, which an unlock of acct
// (sync) could forgive.
func (t *Throttle) blocked(src, acct string) (r refusal, refused, against bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.expire(now)
	e := t.entry(src)
	if e == nil {
		return refusal{}, false, false
	}
	t.renew(e, now)
	r, refused = t.refusal(e, now)
	return r, refused, refused && e.against[acct] != nil
}

// refusal is blocked for an entry held under t.mu.
func (t *Throttle) refusal(e *throttleEntry, now time.Time) (refusal, bool) {
	if d := e.lockedUntil.Sub(now); d > 0 {
		return refusal{limit: limitLocked, retryIn: d}, true
	}
	// Once a lockout is over while the count still stands, one attempt
	// at a time: its failure locks the source out again.
	if e.pending >= max(t.cfg.MaxFailures-e.failures, 1) {
		return refusal{limit: limitFailures}, true
	}
	return refusal{}, false
}

// sync brings the counts of the account acct up to its AuthEpoch epoch: if
// the account's count was recorded under an earlier epoch, it is forgotten,
// and so are the failures of every source against the account under an
// earlier epoch (one pass over the entries, once per move); failures of src
// against acct under an earlier epoch are forgotten in any case (the
// account's count may have expired before the source's). Epochs only grow,
// so an attempt that loaded the account before the move forgives nothing.
// Cheap unless the epoch moved: a few map look-ups.
func (t *Throttle) sync(src, acct string, epoch int64) {
	if acct == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if a := t.entry(acct); a != nil && a.epoch < epoch {
		a.failures, a.epoch = 0, epoch
		for el := t.order.Front(); el != nil; el = el.Next() {
			if s := el.Value.(*throttleEntry); s.against[acct] != nil && s.against[acct].epoch < epoch {
				t.forgive(s, acct)
			}
		}
	}
	if s := t.entry(src); s != nil && s.against[acct] != nil && s.against[acct].epoch < epoch {
		t.forgive(s, acct)
	}
}

// reservation is one attempt of a source counted before its password is
// checked. It ends once: fail, succeed or giveBack; the later calls do
// nothing, so a deferred giveBack is safe.
type reservation struct {
	t         *Throttle
	src, acct string
	epoch     int64
	done      bool
}

// reserve counts an attempt of src against acct (whose AuthEpoch is epoch)
// in progress, unless src is blocked.
func (t *Throttle) reserve(src, acct string, epoch int64) (*reservation, refusal, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.expire(now)
	if src != "" {
		e := t.touch(src, now)
		t.renew(e, now)
		if r, refused := t.refusal(e, now); refused {
			t.tidy(e)
			return nil, r, false
		}
		e.pending++
	}
	return &reservation{t: t, src: src, acct: acct, epoch: epoch}, refusal{}, true
}

// fail ends the reservation with a failure, counted against its source and
// account. It returns the delay to wait before replying (the source's,
// or the account's if longer) and whether this failure started a lockout of
// the source.
func (r *reservation) fail() (delay time.Duration, lockout bool) {
	if r.done {
		return 0, false
	}
	r.done = true
	t := r.t
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.expire(now)
	if r.src != "" {
		e := t.touch(r.src, now)
		t.renew(e, now)
		e.pending = max(e.pending-1, 0)
		e.failures++
		e.last = now
		if r.acct != "" {
			if c := e.against[r.acct]; c != nil {
				c.failures++
			} else if len(e.against) < maxAgainst {
				if e.against == nil {
					e.against = make(map[string]*againstCount)
				}
				e.against[r.acct] = &againstCount{failures: 1, epoch: r.epoch}
			}
		}
		if e.failures >= t.cfg.MaxFailures {
			lockout = !now.Before(e.lockedUntil)
			e.lockedUntil = now.Add(t.cfg.Lockout)
		}
		delay = t.delay(e.failures, t.cfg.MaxDelay)
	}
	if r.acct != "" {
		a := t.touch(r.acct, now)
		t.renew(a, now)
		if a.failures == 0 {
			a.epoch = r.epoch
		}
		a.failures++
		a.last = now
		delay = max(delay, t.delay(a.failures, t.cfg.AccountMaxDelay))
	}
	return delay, lockout
}

// succeed ends the reservation with a success: the source's failures
// against the account are forgiven, in both counts. The source's failures
// against other accounts stay.
func (r *reservation) succeed() {
	if r.done {
		return
	}
	r.done = true
	t := r.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.entry(r.src); e != nil {
		e.pending = max(e.pending-1, 0)
		if c := e.against[r.acct]; c != nil {
			if a := t.entry(r.acct); a != nil && a.epoch == c.epoch {
				a.failures = max(a.failures-c.failures, 0)
				t.tidy(a)
			}
			t.forgive(e, r.acct)
		}
		t.tidy(e)
	}
}

// giveBack ends the reservation without counting it: no password was
// checked (the request ended, the hash queue was full, the exchange was
// malformed).
func (r *reservation) giveBack() {
	if r.done {
		return
	}
	r.done = true
	t := r.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.entry(r.src); e != nil {
		e.pending = max(e.pending-1, 0)
		t.tidy(e)
	}
}

// entry returns the entry of key, or nil. t.mu must be held.
func (t *Throttle) entry(key string) *throttleEntry {
	if el, ok := t.entries[key]; ok {
		return el.Value.(*throttleEntry)
	}
	return nil
}

// touch returns the entry of key, made the most recently used, creating it
// (and evicting the least recently used past maxKeys) if need be. t.mu must
// be held.
func (t *Throttle) touch(key string, now time.Time) *throttleEntry {
	el, ok := t.entries[key]
	if ok {
		t.order.MoveToBack(el)
	} else {
		if len(t.entries) >= t.maxKeys {
			t.remove(t.order.Front())
		}
		el = t.order.PushBack(&throttleEntry{key: key})
		t.entries[key] = el
	}
	e := el.Value.(*throttleEntry)
	e.used = now
	return e
}

// renew forgets the count of an entry whose last failure is a Window old.
// t.mu must be held.
func (t *Throttle) renew(e *throttleEntry, now time.Time) {
	if e.failures > 0 && now.Sub(e.last) >= t.cfg.Window {
		e.failures = 0
		e.against = nil
	}
}

// forgive takes the source's failures against acct off its count, ending
// its lockout if the count falls below MaxFailures. t.mu must be held.
func (t *Throttle) forgive(s *throttleEntry, acct string) {
	c := s.against[acct]
	if c == nil {
		return
	}
	s.failures = max(s.failures-c.failures, 0)
	delete(s.against, acct)
	if s.failures < t.cfg.MaxFailures {
		s.lockedUntil = time.Time{}
	}
}

// tidy removes an entry that holds nothing. t.mu must be held.
func (t *Throttle) tidy(e *throttleEntry) {
	if e.failures == 0 && e.pending == 0 && len(e.against) == 0 && !t.now().Before(e.lockedUntil) {
		if el, ok := t.entries[e.key]; ok && el.Value == e {
			t.remove(el)
		}
	}
}

// delay is BaseDelay * 2^(n-1), capped at limit.
func (t *Throttle) delay(n int, limit time.Duration) time.Duration {
	d := t.cfg.BaseDelay
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// expire drops entries last used longer ago than both Window and Lockout:
// their count is forgotten and any lockout is over. The list is in order
// of use, so only its front needs looking at; an entry with attempts in
// progress stays.
func (t *Throttle) expire(now time.Time) {
	keep := max(t.cfg.Window, t.cfg.Lockout)
	for el := t.order.Front(); el != nil; {
		e := el.Value.(*throttleEntry)
		if now.Sub(e.used) < keep {
			return
		}
		next := el.Next()
		if e.pending == 0 {
			t.remove(el)
		}
		el = next
	}
}

func (t *Throttle) remove(el *list.Element) {
	delete(t.entries, el.Value.(*throttleEntry).key)
	t.order.Remove(el)
}
