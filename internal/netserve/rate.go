package netserve

import (
	"net/netip"
	"sync"
	"time"
)

// maxRateSources bounds the sources a RateLimiter remembers. Past it, a
// source it does not know yet is let through untracked (the concurrency
// limits still hold): memory stays bounded whatever the number of
// addresses an attacker has.
const maxRateSources = 1 << 16

// RateLimiter counts events per source (an IPv4 address or an IPv6 /64)
// with a token bucket: a source may spend PerMinute tokens at once, and
// gets them back at PerMinute a minute. It is safe for concurrent use.
type RateLimiter struct {
	perMinute float64

	mu        sync.Mutex
	buckets   map[netip.Addr]bucket
	lastSweep time.Time
	now       func() time.Time // tests replace it
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewRateLimiter returns a limiter of perMinute events per source.
func NewRateLimiter(perMinute int) *RateLimiter {
	return &RateLimiter{perMinute: float64(perMinute), buckets: map[netip.Addr]bucket{}, now: time.Now}
}

// SetRate changes the rate; buckets fuller than the new rate are cut to
// it at their next use.
func (r *RateLimiter) SetRate(perMinute int) {
	r.mu.Lock()
	r.perMinute = float64(perMinute)
	r.mu.Unlock()
}

// Allow takes a token of ip's source and reports whether there was one.
func (r *RateLimiter) Allow(ip netip.Addr) bool {
	src := Source(ip)
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if now.Sub(r.lastSweep) >= time.Minute {
		r.sweep(now)
	}
	b, known := r.buckets[src]
	if !known {
		if len(r.buckets) >= maxRateSources {
			return true
		}
		b = bucket{tokens: r.perMinute, at: now}
	}
	b.tokens = r.refill(b, now)
	b.at = now
	ok := b.tokens >= 1
	if ok {
		b.tokens--
	}
	r.buckets[src] = b
	return ok
}

// refill is what b holds at now.
func (r *RateLimiter) refill(b bucket, now time.Time) float64 {
	return min(r.perMinute, b.tokens+now.Sub(b.at).Minutes()*r.perMinute)
}

// sweep forgets the sources whose bucket is full again; r.mu is held.
func (r *RateLimiter) sweep(now time.Time) {
	r.lastSweep = now
	for src, b := range r.buckets {
		if r.refill(b, now) >= r.perMinute {
			delete(r.buckets, src)
		}
	}
}

// sources is how many sources r remembers (tests).
func (r *RateLimiter) sources() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.buckets)
}
