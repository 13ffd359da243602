package queue

import (
	"context"
	"sync"
	"time"
)

// maxIdleDomains is how many domains' limit states are kept before idle
// ones are forgotten.
const maxIdleDomains = 1000

// limiter bounds, per destination domain, the transactions open at once
// and the rate at which they start.
type limiter struct {
	conc     int
	interval time.Duration // between transaction starts; 0: no rate limit

	mu      sync.Mutex
	domains map[string]*domainState
}

type domainState struct {
	slots chan struct{} // one token per open transaction
	next  time.Time     // earliest start of the next transaction
	users int           // holders and waiters
}

func newLimiter(conc, perMinute int) *limiter {
	l := &limiter{conc: conc, domains: map[string]*domainState{}}
	if perMinute > 0 {
		l.interval = time.Minute / time.Duration(perMinute)
	}
	return l
}

// acquire waits until a transaction to domain may start, or ctx ends. The
// returned function ends the transaction.
func (l *limiter) acquire(ctx context.Context, domain string) (func(), error) {
	now := time.Now()
	l.mu.Lock()
	d := l.domains[domain]
	if d == nil {
		if len(l.domains) >= maxIdleDomains {
			l.forget(now)
		}
		d = &domainState{slots: make(chan struct{}, l.conc)}
		l.domains[domain] = d
	}
	d.users++
	var wait time.Duration
	if l.interval > 0 {
		start := now
		if d.next.After(now) {
			start = d.next
		}
		d.next = start.Add(l.interval)
		wait = start.Sub(now)
	}
	l.mu.Unlock()

	done := func() {
		l.mu.Lock()
		d.users--
		l.mu.Unlock()
	}
	select {
	case d.slots <- struct{}{}:
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			<-d.slots
			done()
			return nil, ctx.Err()
		}
	}
	return func() {
		<-d.slots
		done()
	}, nil
}

// forget drops the states of domains nobody uses whose rate window has
// passed; l.mu is held.
func (l *limiter) forget(now time.Time) {
	for name, d := range l.domains {
		if d.users == 0 && !d.next.After(now) {
			delete(l.domains, name)
		}
	}
}
