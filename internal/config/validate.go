package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Validate checks every value and returns all problems found, each naming
// its key as written in the file.
func (c *Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...)))
	}

	if c.Hostname == "" {
		add("hostname", `empty; set hostname = "mail.example.org"`)
	} else if err := checkDomain(c.Hostname); err != nil {
		add("hostname", "%v", err)
	}
	if c.DataDir == "" {
		add("data_dir", "empty")
	}
	switch c.Store.Driver {
	case "sqlite":
		if c.Store.DSN != "" {
			add("store.dsn", `set, but driver is "sqlite"; set driver = "postgres" to use it`)
		}
	case "postgres":
		if c.Store.DSN == "" {
			add("store.dsn", `empty; driver "postgres" needs one, e.g. "postgres://postel@db.example.org/postel"`)
		}
	default:
		add("store.driver", `%q is none of "sqlite", "postgres"`, c.Store.Driver)
	}
	if c.Store.MaxConns < 1 || c.Store.MaxConns > 1000 {
		add("store.max_conns", "%d is outside 1..1000", c.Store.MaxConns)
	}

	seen := make(map[string]string)
	for _, l := range []struct{ key, addr string }{
		{"listen.smtp", c.Listen.SMTP},
		{"listen.submission", c.Listen.Submission},
		{"listen.submissions", c.Listen.Submissions},
		{"listen.imap", c.Listen.IMAP},
		{"listen.imaps", c.Listen.IMAPS},
		{"listen.pop3", c.Listen.POP3},
		{"listen.pop3s", c.Listen.POP3S},
		{"listen.https", c.Listen.HTTPS},
		{"listen.http", c.Listen.HTTP},
		{"listen.admin", c.Listen.Admin},
	} {
		if l.addr == "" {
			continue
		}
		norm, err := checkListen(l.addr)
		if err != nil {
			add(l.key, "%v", err)
			continue
		}
		if strings.HasSuffix(norm, ":0") {
			continue // each gets a port of its own
		}
		if other, ok := seen[norm]; ok {
			add(l.key, "address %q is also used by %s", l.addr, other)
			continue
		}
		seen[norm] = l.key
	}

	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		add("tls", "set both cert_file and key_file, or neither for a self-signed certificate")
	}
	if c.ACME.Enabled {
		if c.TLS.CertFile != "" {
			add("acme.enabled", "ACME and [tls] cert_file both name the certificate; use one")
		}
		switch c.ACME.Challenge {
		case "tls-alpn-01":
			if c.Listen.HTTPS == "" {
				add("acme.challenge", `"tls-alpn-01" needs listen.https`)
			}
		case "http-01":
			if c.Listen.HTTP == "" {
				add("acme.challenge", `"http-01" needs listen.http`)
			}
		default:
			add("acme.challenge", "%q is not one of tls-alpn-01, http-01", c.ACME.Challenge)
		}
		if u, err := url.Parse(c.ACME.DirectoryURL); err != nil || u.Scheme != "https" || u.Host == "" {
			add("acme.directory_url", "%q is not an https:// URL", c.ACME.DirectoryURL)
		}
		if c.ACME.RenewBefore <= 0 {
			add("acme.renew_before", "must be greater than 0, got %q", c.ACME.RenewBefore)
		}
	}

	positive := func(key string, v int64) {
		if v <= 0 {
			add(key, "must be greater than 0, got %d", v)
		}
	}
	positive("smtp.max_message_size", c.SMTP.MaxMessageSize)
	positive("smtp.max_recipients", int64(c.SMTP.MaxRecipients))
	// RFC 5321 §4.5.3.1.6: a text line may be 1000 octets including CRLF;
	// go-smtp applies the limit to DATA lines too.
	if c.SMTP.MaxLineLength < 1000 {
		add("smtp.max_line_length", "must be at least 1000 (RFC 5321 §4.5.3.1.6), got %d", c.SMTP.MaxLineLength)
	}
	positive("smtp.max_errors", int64(c.SMTP.MaxErrors))
	positive("imap.max_command_errors", int64(c.IMAP.MaxCommandErrors))
	// RFC 9051 §5.4: an inactivity autologout timer must be at least 30 minutes.
	if c.IMAP.IdleTimeout < Duration(30*time.Minute) {
		add("imap.idle_timeout", "must be at least 30m (RFC 9051 §5.4), got %q", c.IMAP.IdleTimeout)
	}
	positive("pop3.max_command_errors", int64(c.POP3.MaxCommandErrors))
	// RFC 1939 §3: an autologout timer must be at least 10 minutes.
	if c.POP3.IdleTimeout < Duration(10*time.Minute) {
		add("pop3.idle_timeout", "must be at least 10m (RFC 1939 §3), got %q", c.POP3.IdleTimeout)
	}
	positive("queue.workers", int64(c.Queue.Workers))
	positive("queue.per_domain_concurrency", int64(c.Queue.PerDomainConcurrency))
	if c.Queue.PerDomainRate < 0 {
		add("queue.per_domain_rate", "must not be negative, got %d", c.Queue.PerDomainRate)
	}
	if c.Queue.PerAccountDailyLimit < 0 {
		add("queue.per_account_daily_limit", "must not be negative, got %d", c.Queue.PerAccountDailyLimit)
	}
	if c.Queue.Port < 1 || c.Queue.Port > 65535 {
		add("queue.port", "must be a port number, got %d", c.Queue.Port)
	}
	if c.Queue.RetryBase > c.Queue.RetryMax {
		add("queue.retry_base", "%q is more than queue.retry_max (%q)", c.Queue.RetryBase, c.Queue.RetryMax)
	}
	for _, srv := range c.DNS.Servers {
		if _, err := netip.ParseAddrPort(srv); err != nil {
			add("dns.servers", "%q is not ip:port", srv)
		}
	}
	positive("dns.attempts", int64(c.DNS.Attempts))
	positive("limits.max_connections", int64(c.Limits.MaxConnections))
	positive("limits.max_connections_per_source", int64(c.Limits.MaxConnectionsPerSource))
	if c.Limits.MaxConnectionsPerSource > c.Limits.MaxConnections && c.Limits.MaxConnections > 0 {
		add("limits.max_connections_per_source", "%d is more than limits.max_connections (%d)", c.Limits.MaxConnectionsPerSource, c.Limits.MaxConnections)
	}
	if c.Limits.MaxUnauthenticated < 0 || c.Limits.MaxUnauthenticated > c.Limits.MaxConnections {
		add("limits.max_unauthenticated", "must be from 0 to limits.max_connections (%d), got %d", c.Limits.MaxConnections, c.Limits.MaxUnauthenticated)
	}
	positive("limits.connection_rate", int64(c.Limits.ConnectionRate))
	positive("limits.rcpt_rate", int64(c.Limits.RcptRate))
	positive("limits.message_rate", int64(c.Limits.MessageRate))
	if c.Limits.GreetDelay < 0 || c.Limits.GreetDelay > Duration(time.Minute) {
		add("limits.greet_delay", "must be from \"0s\" (off) to \"1m\", got %q", c.Limits.GreetDelay)
	}
	for _, n := range c.Limits.ExemptNetworks {
		if _, err := netip.ParsePrefix(n); err != nil {
			add("limits.exempt_networks", "%q is not a network in CIDR notation (\"192.0.2.0/24\", \"2001:db8::/32\")", n)
		}
	}
	positive("auth.throttle_max_failures", int64(c.Auth.ThrottleMaxFailures))
	if c.Auth.HashConcurrency < 0 {
		add("auth.hash_concurrency", "must not be negative, got %d", c.Auth.HashConcurrency)
	}
	positive("auth.hash_per_source", int64(c.Auth.HashPerSource))
	positive("auth.hash_queue", int64(c.Auth.HashQueue))
	for _, n := range c.Inbound.TrustedNetworks {
		if _, err := netip.ParsePrefix(n); err != nil {
			add("inbound.trusted_networks", "%q is not a network in CIDR notation (\"192.0.2.0/24\", \"2001:db8::/32\")", n)
		}
	}
	positive("inbound.max_dkim_signatures", int64(c.Inbound.MaxDKIMSignatures))
	if n := len(c.Inbound.DNSBLReject) + len(c.Inbound.DNSBLJunk) + len(c.Inbound.DNSWL); n > 10 {
		add("inbound", "%d DNS list zones; at most 10 (each costs a lookup per connection)", n)
	}
	for _, l := range []struct {
		key   string
		zones []string
	}{
		{"inbound.dnsbl_reject", c.Inbound.DNSBLReject},
		{"inbound.dnsbl_junk", c.Inbound.DNSBLJunk},
		{"inbound.dnswl", c.Inbound.DNSWL},
		{"inbound.arc_trusted_sealers", c.Inbound.ARCTrustedSealers},
	} {
		for _, z := range l.zones {
			if err := checkDomain(z); err != nil {
				add(l.key, "%v", err)
			}
		}
	}

	for _, d := range []struct {
		key string
		v   Duration
	}{
		{"smtp.read_timeout", c.SMTP.ReadTimeout},
		{"smtp.write_timeout", c.SMTP.WriteTimeout},
		{"smtp.data_timeout", c.SMTP.DataTimeout},
		{"limits.unauthenticated_timeout", c.Limits.UnauthenticatedTimeout},
		{"queue.lifetime", c.Queue.Lifetime},
		{"queue.delay_warning", c.Queue.DelayWarning},
		{"queue.retry_base", c.Queue.RetryBase},
		{"queue.retry_max", c.Queue.RetryMax},
		{"queue.lease", c.Queue.Lease},
		{"queue.poll_interval", c.Queue.PollInterval},
		{"dns.timeout", c.DNS.Timeout},
		{"inbound.check_timeout", c.Inbound.CheckTimeout},
		{"auth.throttle_window", c.Auth.ThrottleWindow},
		{"auth.throttle_base_delay", c.Auth.ThrottleBaseDelay},
		{"auth.throttle_max_delay", c.Auth.ThrottleMaxDelay},
		{"auth.throttle_lockout", c.Auth.ThrottleLockout},
		{"auth.throttle_account_max_delay", c.Auth.ThrottleAccountMaxDelay},
		{"shutdown_timeout", c.ShutdownTimeout},
	} {
		if d.v <= 0 {
			add(d.key, "must be greater than 0, got %q", d.v)
		}
	}
	if c.Auth.ThrottleBaseDelay > c.Auth.ThrottleMaxDelay {
		add("auth.throttle_base_delay", "%q is more than auth.throttle_max_delay (%q)", c.Auth.ThrottleBaseDelay, c.Auth.ThrottleMaxDelay)
	}

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format", "%q is not one of text, json", c.Log.Format)
	}
	for _, a := range c.Log.TraceAccounts {
		if local, domain, ok := strings.Cut(a, "@"); !ok || local == "" || domain == "" || strings.ContainsAny(a, " \t\r\n/\\") {
			add("log.trace_accounts", "%q is not an account address", a)
		}
	}
	if len(c.Log.TraceAccounts) > 0 && c.Log.TraceDir == "" {
		add("log.trace_dir", "empty, with log.trace_accounts set")
	}
	return errors.Join(errs...)
}

// checkListen checks a host:port listening address and returns it in a
// normal form, for spotting two listeners on one address.
func checkListen(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port (use \":25\" for every interface, \"127.0.0.1:25\" or \"[::1]:25\")", addr)
	}
	// Port 0 lets the system choose a free port, which the ready line
	// reports: for tests, which then never race another process for it.
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("%q: port must be a number from 0 (any free port) to 65535", addr)
	}
	switch ip, err := netip.ParseAddr(host); {
	case host == "":
	case err == nil:
		if ip.Zone() != "" {
			return "", fmt.Errorf("%q: zoned IPv6 addresses are not supported", addr)
		}
		host = ip.String()
	default:
		if err := checkDomain(host); err != nil {
			return "", fmt.Errorf("%q: host is neither an IP address nor a host name: %v", addr, err)
		}
		host = strings.ToLower(host)
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}

// checkDomain checks a host name in ASCII: RFC 1035 §2.3.1 labels of
// letters, digits and hyphens, relaxed by RFC 1123 §2.1 to allow a leading
// digit; labels of at most 63 octets, the name at most 253 (RFC 1035 §2.3.4
// without the final dot and length octets).
func checkDomain(name string) error {
	if len(name) > 253 {
		return fmt.Errorf("%.20q...: longer than 253 characters", name)
	}
	// RFC 1123 §2.1: a name must not look like a dotted-decimal address.
	if _, err := netip.ParseAddr(name); err == nil {
		return fmt.Errorf("%q is an IP address, not a host name", name)
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" {
			return fmt.Errorf("%q has an empty label (leading, trailing or doubled dot)", name)
		}
		if len(label) > 63 {
			return fmt.Errorf("%q has a label longer than 63 characters", name)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q has a label that starts or ends with a hyphen", name)
		}
		for i := 0; i < len(label); i++ {
			ch := label[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-') {
				return fmt.Errorf("%q contains %q; use letters, digits, hyphens and dots (internationalized names in their xn-- form)", name, ch)
			}
		}
	}
	return nil
}
