package netserve

import (
	"net/netip"
	"time"
)

// Limits are the connection limits every listener applies (SMTP on 25, 587
// and 465, IMAP, POP3), in one place: what a stranger may hold or open so
// that no one can starve or shut out the users (issue 10). A zero field
// takes its default.
//
// A source is an IPv4 address or an IPv6 /64, which one host usually has
// whole.
type Limits struct {
	// MaxConns bounds the connections of a server at once; more are
	// refused ("421 4.7.0", "* BYE", "-ERR [SYS/TEMP]"). Default 1000.
	MaxConns int
	// MaxConnsPerIP bounds the connections at once from one source.
	// Default 20.
	MaxConnsPerIP int
	// MaxUnauth bounds the connections that have not authenticated yet
	// (IMAP, POP3, submission) or, on port 25, are not in a mail
	// transaction (before MAIL, or after the end of the last one). When
	// it is reached, or MaxConns is, the oldest of them that waits for
	// input is dropped to admit the new connection, so that idle
	// connections cannot shut real clients out; authenticated sessions
	// keep their slots. Default: half of MaxConns.
	MaxUnauth int
	// UnauthTimeout is how long a connection may stay unauthenticated:
	// from connecting to logging in (IMAP, POP3, submission), and on port
	// 25 from connecting, or from the end of a transaction, to the next
	// MAIL. Default 1m.
	UnauthTimeout time.Duration
	// ConnRate bounds the connections one source may open per minute
	// (a token bucket as large as the rate); more are refused. Default 60.
	ConnRate int
	// RcptRate bounds the RCPT commands per minute from one source on
	// port 25; more get "450 4.7.1". Default 300.
	RcptRate int
	// MessageRate bounds the transactions (MAIL commands) per minute from
	// one source on port 25; more get "450 4.7.1". Default 60.
	MessageRate int
	// GreetDelay is how long port 25 waits before its greeting to see
	// whether the client talks first, which RFC 5321 §3.1 and §4.3.1 do
	// not allow (postscreen's "pregreet" test); such a client gets 554
	// and is dropped. Never on submission. Default 1s; negative: no wait.
	GreetDelay time.Duration
	// Exempt lists the networks whose clients none of the per-source
	// limits (concurrency, rates, the early-talker check) apply to, and
	// whose connections stay out of the unauthenticated budget (never
	// evicted; UnauthTimeout still applies): relays and webmail hosts the
	// operator trusts. Default none.
	Exempt []netip.Prefix
	// LimitLoopback applies the per-source rates and the early-talker
	// check to loopback clients too. By default they are exempt from
	// them (local webmail and tools reconnect often); the per-source
	// concurrency limit and the unauthenticated budget apply to loopback
	// either way.
	LimitLoopback bool
}

// The defaults of Limits.
const (
	DefaultMaxConns      = 1000
	DefaultMaxConnsPerIP = 20
	DefaultUnauthTimeout = time.Minute
	DefaultConnRate      = 60
	DefaultRcptRate      = 300
	DefaultMessageRate   = 60
	DefaultGreetDelay    = time.Second
)

// WithDefaults fills the zero fields with their defaults.
func (l Limits) WithDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxConns, DefaultMaxConns)
	def(&l.MaxConnsPerIP, DefaultMaxConnsPerIP)
	def(&l.MaxUnauth, max(l.MaxConns/2, 1))
	l.MaxUnauth = min(l.MaxUnauth, l.MaxConns)
	if l.UnauthTimeout <= 0 {
		l.UnauthTimeout = DefaultUnauthTimeout
	}
	def(&l.ConnRate, DefaultConnRate)
	def(&l.RcptRate, DefaultRcptRate)
	def(&l.MessageRate, DefaultMessageRate)
	if l.GreetDelay == 0 {
		l.GreetDelay = DefaultGreetDelay
	}
	return l
}

// Exempts tells whether ip is in one of the Exempt networks.
func (l *Limits) Exempts(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range l.Exempt {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// RateExempt tells whether the per-source rates and the early-talker
// check spare ip: an Exempt network, or loopback unless LimitLoopback.
func (l *Limits) RateExempt(ip netip.Addr) bool {
	return l.Exempts(ip) || (!l.LimitLoopback && ip.Unmap().IsLoopback())
}
