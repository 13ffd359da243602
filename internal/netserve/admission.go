package netserve

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"postel/internal/metrics"
)

// Refusal says why a connection was not admitted.
type Refusal int

// The reasons Admit refuses.
const (
	Admitted      Refusal = iota
	TooMany               // MaxConns, with no idle unauthenticated connection to drop
	TooManyUnauth         // MaxUnauth, with no idle unauthenticated connection to drop
	TooManyFromIP         // MaxConnsPerIP
	TooFast               // ConnRate
)

// String names the limit, as the logs do ("limit=conn_rate").
func (r Refusal) String() string {
	switch r {
	case Admitted:
		return "admitted"
	case TooMany:
		return "max_conns"
	case TooManyUnauth:
		return "max_unauth"
	case TooManyFromIP:
		return "max_conns_per_ip"
	case TooFast:
		return "conn_rate"
	}
	return "unknown"
}

// Text is the human-readable reason, for the protocols' refusals.
func (r Refusal) Text() string {
	switch r {
	case TooManyFromIP:
		return "Too many connections from your address"
	case TooFast:
		return "Too many connections from your address in the last minute, slow down"
	}
	return "Too many connections, try again later"
}

// LimitEvicted names, in the logs, the limit that made Admit drop an idle
// unauthenticated connection for a new one.
const LimitEvicted = "max_unauth"

// Admission counts a server's connections: in total, per source, and the
// unauthenticated ones (Limits.MaxUnauth), oldest first; and it keeps the
// rate at which each source connects. It is safe for concurrent use.
//
// Invariant: a Ticket is counted (total, per source) from Admit until its
// Release or its eviction, whichever comes first, and is in the list of
// unauthenticated connections exactly while counted, not exempt, and not
// marked authenticated.
type Admission struct {
	lim  atomic.Pointer[Limits] // SetLimits replaces it
	rate *RateLimiter
	m    *metrics.Service // nil: nothing counted

	mu          sync.Mutex
	total       int
	byIP        map[netip.Addr]int
	first, last *Ticket // unauthenticated connections, oldest first
	unauth      int
}

// Ticket is one admitted connection.
type Ticket struct {
	a      *Admission
	src    netip.Addr
	exempt bool        // in Limits.Exempt
	evict  func()      // drops the connection
	busy   atomic.Bool // the server works on input from the client

	// Guarded by a.mu.
	counted    bool
	inList     bool
	prev, next *Ticket
}

// NewAdmission applies l (its zero fields take their defaults).
func NewAdmission(l Limits) *Admission {
	l = l.WithDefaults()
	a := &Admission{rate: NewRateLimiter(l.ConnRate), byIP: map[netip.Addr]int{}}
	a.lim.Store(&l)
	return a
}

// SetLimits puts l in force (its zero fields take their defaults): for
// the connections admitted from now on, and for the deadlines of those
// open (a reload). Connections over a lowered limit are not dropped.
func (a *Admission) SetLimits(l Limits) {
	l = l.WithDefaults()
	a.lim.Store(&l)
	a.rate.SetRate(l.ConnRate)
}

// Observe makes the Admission count its service's connections (accepted,
// refused by a limit, evicted, open) and, through its Tickets, their
// bytes. It is called before the first Admit.
func (a *Admission) Observe(m *metrics.Service) { a.m = m }

// Limits returns the limits in force, defaults filled in; the caller must
// not change them (SetLimits replaces them whole).
func (a *Admission) Limits() *Limits { return a.lim.Load() }

// Source is what the per-source limits count: the address, or for IPv6
// its /64.
func Source(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// Admit counts a new connection from ip, unauthenticated, unless a limit
// refuses it. When MaxConns or MaxUnauth is reached, the oldest
// unauthenticated connection that waits for input (not Busy) is evicted
// to make room: its evict function is called (after Admit's lock is
// released; it must not block) and it no longer counts. Every admitted
// connection must be Released.
func (a *Admission) Admit(ip netip.Addr, evict func()) (*Ticket, Refusal) {
	t, r := a.admit(ip, evict)
	if r != Admitted {
		a.m.Refused(r.String())
	}
	return t, r
}

// admit is Admit but for the counting of refusals.
func (a *Admission) admit(ip netip.Addr, evict func()) (*Ticket, Refusal) {
	lim := a.lim.Load()
	t := &Ticket{a: a, src: Source(ip), exempt: lim.Exempts(ip), evict: evict}
	if !lim.RateExempt(ip) && !a.rate.Allow(ip) {
		return nil, TooFast
	}
	a.mu.Lock()
	if !t.exempt && a.byIP[t.src] >= lim.MaxConnsPerIP {
		a.mu.Unlock()
		return nil, TooManyFromIP
	}
	var victim *Ticket
	if full, budget := a.total >= lim.MaxConns, !t.exempt && a.unauth >= lim.MaxUnauth; full || budget {
		if victim = a.oldestIdle(); victim == nil {
			a.mu.Unlock()
			if full {
				return nil, TooMany
			}
			return nil, TooManyUnauth
		}
		a.uncount(victim)
	}
	a.total++
	a.byIP[t.src]++
	t.counted = true
	a.m.Accepted()
	if !t.exempt {
		a.push(t)
	}
	a.mu.Unlock()
	if victim != nil {
		a.m.Evicted()
		if victim.evict != nil {
			victim.evict()
		}
	}
	return t, Admitted
}

// oldestIdle is the oldest unauthenticated connection that is not Busy,
// or nil; a.mu is held.
func (a *Admission) oldestIdle() *Ticket {
	for t := a.first; t != nil; t = t.next {
		if !t.busy.Load() {
			return t
		}
	}
	return nil
}

// uncount forgets t's slots; a.mu is held.
func (a *Admission) uncount(t *Ticket) {
	if !t.counted {
		return
	}
	t.counted = false
	a.m.Closed()
	a.total--
	if a.byIP[t.src]--; a.byIP[t.src] <= 0 {
		delete(a.byIP, t.src)
	}
	a.remove(t)
}

// push appends t to the unauthenticated list; a.mu is held.
func (a *Admission) push(t *Ticket) {
	if t.inList {
		return
	}
	t.inList, t.prev, t.next = true, a.last, nil
	if a.last != nil {
		a.last.next = t
	} else {
		a.first = t
	}
	a.last = t
	a.unauth++
}

// remove takes t out of the unauthenticated list; a.mu is held.
func (a *Admission) remove(t *Ticket) {
	if !t.inList {
		return
	}
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		a.first = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else {
		a.last = t.prev
	}
	t.inList, t.prev, t.next = false, nil, nil
	a.unauth--
}

// Count is how many admitted connections come from ip's source.
func (a *Admission) Count(ip netip.Addr) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.byIP[Source(ip)]
}

// Unauthenticated is how many admitted connections count in the
// unauthenticated budget.
func (a *Admission) Unauthenticated() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.unauth
}

// Idle is how many unauthenticated connections wait for their client (are
// not Busy): those Admit may evict.
func (a *Admission) Idle() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for t := a.first; t != nil; t = t.next {
		if !t.busy.Load() {
			n++
		}
	}
	return n
}

// Total is how many connections are admitted.
func (a *Admission) Total() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total
}

// Release forgets the connection; it may be called more than once, and
// after an eviction.
func (t *Ticket) Release() {
	if t == nil {
		return
	}
	t.a.mu.Lock()
	t.a.uncount(t)
	t.a.mu.Unlock()
}

// SetUnauth moves the connection out of the unauthenticated budget (false:
// it authenticated, or on port 25 began a transaction) or back into it
// (true: a transaction of port 25 ended), as the newest. Exempt and
// evicted connections are never in it.
func (t *Ticket) SetUnauth(on bool) {
	if t == nil || t.exempt {
		return
	}
	t.a.mu.Lock()
	defer t.a.mu.Unlock()
	switch {
	case !t.counted:
	case on:
		t.a.push(t)
	default:
		t.a.remove(t)
	}
}

// Busy tells whether the server is working on input from the client
// (running a command, checking a password, answering a TLS hello): from
// the read that brought input (true) to the next read (false). A
// connection that is not busy waits for its client, from its admission
// on; only such a one is evicted while unauthenticated.
func (t *Ticket) Busy(busy bool) {
	if t != nil {
		t.busy.Store(busy)
	}
}

// CountIO counts octets read from (in) and written to (out) the
// connection in its service's metrics (Admission.Observe).
func (t *Ticket) CountIO(in, out int) {
	if t != nil {
		t.a.m.Bytes(in, out)
	}
}

// Exempt tells whether the connection comes from an Exempt network.
func (t *Ticket) Exempt() bool { return t != nil && t.exempt }
