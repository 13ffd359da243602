package queue

import (
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"time"

	"postel/internal/metrics"
)

// Config tunes a Queue. A zero field takes its default.
type Config struct {
	// Metrics counts the outcomes of the mail log (sent, deferred,
	// bounced, and the DSNs delivered or queued); nil for none.
	Metrics *metrics.Metrics
	// Hostname is this host's name: sent in EHLO, compared with MX hosts
	// (RFC 5321 §5.1), the Reporting-MTA of DSNs and the domain of their
	// MAILER-DAEMON sender. Default "localhost".
	Hostname string
	// Workers is the number of messages delivered at once. Default 8.
	Workers int
	// Lease is how long a worker holds an entry; an attempt is cut off
	// before it ends, and an entry whose worker died is taken again after
	// it. Default 15m.
	Lease time.Duration
	// Lifetime is how long temporary failures are retried before the
	// message bounces. Default 120h (5 days, RFC 5321 §4.5.4.1 suggests
	// 4-5 days).
	Lifetime time.Duration
	// DelayWarning is the age after which a sender is told once that a
	// message is still being retried (a "delayed" DSN). Default 4h; a
	// value longer than Lifetime never warns.
	DelayWarning time.Duration
	// RetryBase is the wait after the first failed attempt; it doubles
	// with every attempt up to RetryMax. Defaults 5m and 4h.
	RetryBase, RetryMax time.Duration
	// PollInterval is how often the store is asked for due entries when
	// nothing wakes the workers. Default 30s.
	PollInterval time.Duration
	// PerDomainConcurrency bounds the transactions open at once to one
	// destination domain. Default 10.
	PerDomainConcurrency int
	// PerDomainRate bounds the transactions started per minute to one
	// destination domain, spread evenly. 0: no limit.
	PerDomainRate int
	// PerAccountDailyLimit bounds the recipients of the mail one account
	// may submit for remote delivery in 24 hours (see MaySend). 0: no limit.
	PerAccountDailyLimit int
	// ConnectTimeout bounds a TCP connection set-up. Default 30s.
	ConnectTimeout time.Duration
	// CommandTimeout bounds the wait for the greeting and every reply
	// (RFC 5321 §4.5.3.2 suggests 5 minutes). Default 5m.
	CommandTimeout time.Duration
	// DataTimeout bounds the wait for the reply to the end of the data
	// and every write of it (RFC 5321 §4.5.3.2.5-6: 3 and 10 minutes).
	// Default 10m.
	DataTimeout time.Duration
	// IdleTimeout is how long a connection stays open unused for the next
	// message to the same host; MaxIdlePerHost bounds such connections per
	// host. Defaults 30s and 2.
	IdleTimeout    time.Duration
	MaxIdlePerHost int
	// PolicyTimeout bounds the fetch of an MTA-STS policy. Default 30s.
	PolicyTimeout time.Duration

	// Port is the TCP port of remote MX hosts. Default 25; other values
	// are for tests.
	// AllowPrivate lets delivery go to loopback, private and link-local
	// addresses. Off, an MX (or address literal) resolving only to such
	// addresses is not used: mail submitted here must not reach internal
	// services that trust this host's address.
	AllowPrivate bool

	Port int
	// Dial opens connections to MX hosts ("tcp", "ip:port"). Default a
	// net.Dialer; tests map addresses to local servers.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// RootCAs verifies the certificates of MX hosts and MTA-STS policy
	// servers. Default (nil) the system roots; set by tests.
	RootCAs *x509.CertPool
	// HTTPClient fetches MTA-STS policies. Default a client with
	// PolicyTimeout and RootCAs; redirects are never followed whatever
	// the client says (RFC 8461 §3.3).
	HTTPClient *http.Client
}

func (c Config) withDefaults() Config {
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.Hostname == "" {
		c.Hostname = "localhost"
	}
	defInt(&c.Workers, 8)
	defDur(&c.Lease, 15*time.Minute)
	defDur(&c.Lifetime, 120*time.Hour)
	defDur(&c.DelayWarning, 4*time.Hour)
	defDur(&c.RetryBase, 5*time.Minute)
	defDur(&c.RetryMax, 4*time.Hour)
	defDur(&c.PollInterval, 30*time.Second)
	defInt(&c.PerDomainConcurrency, 10)
	defDur(&c.ConnectTimeout, 30*time.Second)
	defDur(&c.CommandTimeout, 5*time.Minute)
	defDur(&c.DataTimeout, 10*time.Minute)
	defDur(&c.IdleTimeout, 30*time.Second)
	defInt(&c.MaxIdlePerHost, 2)
	defDur(&c.PolicyTimeout, 30*time.Second)
	defInt(&c.Port, 25)
	if c.Dial == nil {
		d := &net.Dialer{Timeout: c.ConnectTimeout}
		c.Dial = d.DialContext
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{
			Timeout:   c.PolicyTimeout,
			Transport: &http.Transport{TLSClientConfig: tlsClientConfig(c.RootCAs)},
		}
	}
	return c
}

// backoff is the wait after the n-th failed attempt (n >= 1): RetryBase
// doubled every attempt, at most RetryMax.
func (c Config) backoff(n int) time.Duration {
	d := c.RetryBase
	for i := 1; i < n && d < c.RetryMax; i++ {
		d *= 2
	}
	return min(d, c.RetryMax)
}
