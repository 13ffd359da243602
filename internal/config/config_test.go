package config

import (
	"bytes"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite docs/config.md from Reference()")

// full sets every key to a value different from its default.
const full = `
hostname = "MX1.Example.NET"
data_dir = "/srv/postel"
shutdown_timeout = "1m"

[store]
driver = "postgres"
dsn = "postgres://postel@db.example.net/postel"
max_conns = 32

[listen]
smtp = "192.0.2.1:25"
submission = "[2001:db8::1]:587"
submissions = "localhost:4650"
imap = ""
imaps = ":9930"
pop3 = ""
pop3s = "0.0.0.0:9950"
https = ":8443"
http = ":8080"
admin = "[::1]:9100"

[tls]
cert_file = "/etc/ssl/mx1.pem"
key_file = "/etc/ssl/mx1.key"

[acme]
directory_url = "https://acme.example.net/dir"
email = "postmaster@example.net"
challenge = "http-01"
ca_roots = "/etc/ssl/acme-root.pem"
renew_before = "240h"

[smtp]
max_message_size = 1048576
max_recipients = 500
max_line_length = 4096
read_timeout = "1m"
write_timeout = "2m"
data_timeout = "20m"
max_errors = 3
hide_submission_client = false

[imap]
idle_timeout = "45m"
max_command_errors = 5

[pop3]
idle_timeout = "15m"
max_command_errors = 4

[limits]
max_connections = 50
max_connections_per_source = 5
max_unauthenticated = 20
unauthenticated_timeout = "30s"
connection_rate = 30
rcpt_rate = 100
message_rate = 10
greet_delay = "0s"
exempt_networks = ["198.51.100.0/24"]
limit_loopback = true

[queue]
workers = 3
lifetime = "72h"
delay_warning = "2h"
retry_base = "1m"
retry_max = "1h"
lease = "5m"
poll_interval = "10s"
per_domain_concurrency = 4
per_domain_rate = 60
per_account_daily_limit = 500
allow_private_destinations = true
port = 2525

[dns]
servers = ["127.0.0.1:53", "[::1]:5353"]
timeout = "2s"
attempts = 3

[inbound]
checks = false
trusted_networks = ["192.0.2.0/24", "2001:db8::/32"]
check_timeout = "10s"
max_dkim_signatures = 3
dnsbl_reject = ["zen.example.net"]
dnsbl_junk = ["junk.example.net"]
dnswl = ["wl.example.net"]
arc_trusted_sealers = ["lists.example.org"]
arc_seal = false
srs = false

[auth]
allow_plaintext_loopback = true
throttle_window = "1h"
throttle_base_delay = "1s"
throttle_max_delay = "30s"
throttle_max_failures = 4
throttle_lockout = "2h30m"
throttle_account_max_delay = "3s"
hash_concurrency = 2
hash_per_source = 1
hash_queue = 50

[log]
level = "debug"
format = "json"
trace_accounts = ["alice@example.org", "bob@example.net"]
trace_dir = "/var/log/postel/traces"
`

func fullConfig() Config {
	return Config{
		Hostname: "mx1.example.net",
		DataDir:  "/srv/postel",
		Store:    Store{Driver: "postgres", DSN: "postgres://postel@db.example.net/postel", MaxConns: 32},
		Listen: Listen{
			SMTP:        "192.0.2.1:25",
			Submission:  "[2001:db8::1]:587",
			Submissions: "localhost:4650",
			IMAPS:       ":9930",
			POP3S:       "0.0.0.0:9950",
			HTTPS:       ":8443",
			HTTP:        ":8080",
			Admin:       "[::1]:9100",
		},
		ACME: ACME{
			DirectoryURL: "https://acme.example.net/dir",
			Email:        "postmaster@example.net",
			Challenge:    "http-01",
			CARoots:      "/etc/ssl/acme-root.pem",
			RenewBefore:  Duration(240 * time.Hour),
		},
		TLS: TLS{CertFile: "/etc/ssl/mx1.pem", KeyFile: "/etc/ssl/mx1.key"},
		SMTP: SMTP{
			MaxMessageSize: 1 << 20,
			MaxRecipients:  500,
			MaxLineLength:  4096,
			ReadTimeout:    Duration(time.Minute),
			WriteTimeout:   Duration(2 * time.Minute),
			DataTimeout:    Duration(20 * time.Minute),
			MaxErrors:      3,
		},
		Limits: Limits{
			MaxConnections:          50,
			MaxConnectionsPerSource: 5,
			MaxUnauthenticated:      20,
			UnauthenticatedTimeout:  Duration(30 * time.Second),
			ConnectionRate:          30,
			RcptRate:                100,
			MessageRate:             10,
			ExemptNetworks:          []string{"198.51.100.0/24"},
			LimitLoopback:           true,
		},
		Inbound: Inbound{
			TrustedNetworks:   []string{"192.0.2.0/24", "2001:db8::/32"},
			CheckTimeout:      Duration(10 * time.Second),
			MaxDKIMSignatures: 3,
			DNSBLReject:       []string{"zen.example.net"},
			DNSBLJunk:         []string{"junk.example.net"},
			DNSWL:             []string{"wl.example.net"},
			ARCTrustedSealers: []string{"lists.example.org"},
		},
		IMAP: IMAP{
			IdleTimeout:      Duration(45 * time.Minute),
			MaxCommandErrors: 5,
		},
		POP3: POP3{
			IdleTimeout:      Duration(15 * time.Minute),
			MaxCommandErrors: 4,
		},
		Queue: Queue{
			Workers:                  3,
			Lifetime:                 Duration(72 * time.Hour),
			DelayWarning:             Duration(2 * time.Hour),
			RetryBase:                Duration(time.Minute),
			RetryMax:                 Duration(time.Hour),
			Lease:                    Duration(5 * time.Minute),
			PollInterval:             Duration(10 * time.Second),
			PerDomainConcurrency:     4,
			PerDomainRate:            60,
			PerAccountDailyLimit:     500,
			AllowPrivateDestinations: true,
			Port:                     2525,
		},
		DNS: DNS{Servers: []string{"127.0.0.1:53", "[::1]:5353"}, Timeout: Duration(2 * time.Second), Attempts: 3},
		Auth: Auth{
			AllowPlaintextLoopback:  true,
			ThrottleWindow:          Duration(time.Hour),
			ThrottleBaseDelay:       Duration(time.Second),
			ThrottleMaxDelay:        Duration(30 * time.Second),
			ThrottleMaxFailures:     4,
			ThrottleLockout:         Duration(150 * time.Minute),
			ThrottleAccountMaxDelay: Duration(3 * time.Second),
			HashConcurrency:         2,
			HashPerSource:           1,
			HashQueue:               50,
		},
		Log: Log{Level: "debug", Format: "json", TraceAccounts: []string{"alice@example.org", "bob@example.net"},
			TraceDir: "/var/log/postel/traces"},
		ShutdownTimeout: Duration(time.Minute),
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Hostname: strings.ToLower(host),
		DataDir:  "/var/lib/postel",
		Store:    Store{Driver: "sqlite", MaxConns: 16},
		Listen: Listen{
			SMTP: ":25", Submission: ":587", Submissions: ":465",
			IMAP: ":143", IMAPS: ":993", POP3: ":110", POP3S: ":995", HTTPS: ":443", Admin: "127.0.0.1:8025",
		},
		ACME: ACME{
			DirectoryURL: "https://acme-v02.api.letsencrypt.org/directory",
			Challenge:    "tls-alpn-01",
			RenewBefore:  Duration(720 * time.Hour),
		},
		SMTP: SMTP{
			MaxMessageSize:       52428800,
			MaxRecipients:        100,
			MaxLineLength:        2000,
			ReadTimeout:          Duration(5 * time.Minute),
			WriteTimeout:         Duration(5 * time.Minute),
			DataTimeout:          Duration(10 * time.Minute),
			MaxErrors:            10,
			HideSubmissionClient: true,
		},
		Limits: Limits{
			MaxConnections:          1000,
			MaxConnectionsPerSource: 20,
			UnauthenticatedTimeout:  Duration(time.Minute),
			ConnectionRate:          60,
			RcptRate:                300,
			MessageRate:             60,
			GreetDelay:              Duration(time.Second),
			ExemptNetworks:          []string{},
		},
		Inbound: Inbound{
			Checks:            true,
			TrustedNetworks:   []string{},
			CheckTimeout:      Duration(30 * time.Second),
			MaxDKIMSignatures: 5,
			DNSBLReject:       []string{},
			DNSBLJunk:         []string{},
			DNSWL:             []string{},
			ARCTrustedSealers: []string{},
			ARCSeal:           true,
			SRS:               true,
		},
		IMAP: IMAP{
			IdleTimeout:      Duration(30 * time.Minute),
			MaxCommandErrors: 20,
		},
		POP3: POP3{
			IdleTimeout:      Duration(10 * time.Minute),
			MaxCommandErrors: 10,
		},
		Queue: Queue{
			Workers:              8,
			Lifetime:             Duration(120 * time.Hour),
			DelayWarning:         Duration(4 * time.Hour),
			RetryBase:            Duration(5 * time.Minute),
			RetryMax:             Duration(4 * time.Hour),
			Lease:                Duration(15 * time.Minute),
			PollInterval:         Duration(30 * time.Second),
			PerDomainConcurrency: 10,
			Port:                 25,
		},
		DNS: DNS{Servers: []string{}, Timeout: Duration(5 * time.Second), Attempts: 2},
		Auth: Auth{
			AllowPlaintextLoopback:  false,
			ThrottleWindow:          Duration(15 * time.Minute),
			ThrottleBaseDelay:       Duration(250 * time.Millisecond),
			ThrottleMaxDelay:        Duration(5 * time.Second),
			ThrottleMaxFailures:     10,
			ThrottleLockout:         Duration(15 * time.Minute),
			ThrottleAccountMaxDelay: Duration(2 * time.Second),
			HashPerSource:           2,
			HashQueue:               1000,
		},
		Log:             Log{Level: "info", Format: "text", TraceAccounts: []string{}, TraceDir: "traces"},
		ShutdownTimeout: Duration(30 * time.Second),
	}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("Default() =\n%+v\nwant\n%+v", *c, want)
	}
	// The defaults must be valid once a good host name is known.
	c.Hostname = "mail.example.org"
	if err := c.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
}

func TestDev(t *testing.T) {
	c := Dev("./data")
	if err := c.Validate(); err != nil {
		t.Fatalf("Dev().Validate() = %v", err)
	}
	want := Default()
	want.Hostname = "localhost"
	want.DataDir = "./data"
	want.Listen = Listen{
		SMTP: "127.0.0.1:2525", Submission: "127.0.0.1:2587", Submissions: "127.0.0.1:2465",
		IMAP: "127.0.0.1:2143", IMAPS: "127.0.0.1:2993", POP3: "127.0.0.1:2110", POP3S: "127.0.0.1:2995",
		HTTPS: "127.0.0.1:2443", Admin: "127.0.0.1:2080",
	}
	want.Auth.AllowPlaintextLoopback = true
	want.Inbound.TrustedNetworks = []string{"127.0.0.0/8", "::1/128"}
	if !reflect.DeepEqual(*c, *want) {
		t.Errorf("Dev() =\n%+v\nwant\n%+v", *c, *want)
	}
}

func TestParseFull(t *testing.T) {
	c, err := Parse([]byte(full))
	if err != nil {
		t.Fatal(err)
	}
	if want := fullConfig(); !reflect.DeepEqual(*c, want) {
		t.Errorf("Parse(full) =\n%+v\nwant\n%+v", *c, want)
	}
}

func TestParsePartial(t *testing.T) {
	c, err := Parse([]byte("hostname = \"mx.example.org\"\n[smtp]\nmax_recipients = 250\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Hostname = "mx.example.org"
	want.SMTP.MaxRecipients = 250
	if !reflect.DeepEqual(*c, *want) {
		t.Errorf("got\n%+v\nwant\n%+v", *c, *want)
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"empty hostname", func(c *Config) { c.Hostname = "" }, "hostname: empty"},
		{"hostname underscore", func(c *Config) { c.Hostname = "mail_1.example.org" }, `hostname: "mail_1.example.org" contains '_'`},
		{"hostname trailing dot", func(c *Config) { c.Hostname = "mail.example.org." }, "hostname: \"mail.example.org.\" has an empty label"},
		{"hostname hyphen", func(c *Config) { c.Hostname = "-mail.example.org" }, "hostname: \"-mail.example.org\" has a label that starts or ends with a hyphen"},
		{"hostname long label", func(c *Config) { c.Hostname = strings.Repeat("a", 64) + ".org" }, "hostname: " + `"` + strings.Repeat("a", 64) + `.org" has a label longer than 63`},
		{"hostname too long", func(c *Config) { c.Hostname = strings.Repeat("abcdefghi.", 26) + "org" }, "hostname: \"abcdefghi.abcdefghi.\"...: longer than 253"},
		{"hostname IP", func(c *Config) { c.Hostname = "192.0.2.1" }, "hostname: \"192.0.2.1\" is an IP address"},
		{"hostname unicode", func(c *Config) { c.Hostname = "bücher.example" }, "xn-- form"},
		{"data_dir", func(c *Config) { c.DataDir = "" }, "data_dir: empty"},
		{"store driver", func(c *Config) { c.Store.Driver = "mysql" }, `store.driver: "mysql" is none of "sqlite", "postgres"`},
		{"postgres without dsn", func(c *Config) { c.Store.Driver = "postgres" }, `store.dsn: empty; driver "postgres" needs one`},
		{"dsn with sqlite", func(c *Config) { c.Store.DSN = "postgres://x/y" }, `store.dsn: set, but driver is "sqlite"`},
		{"store max_conns", func(c *Config) { c.Store.MaxConns = 0 }, "store.max_conns: 0 is outside 1..1000"},
		{"listen no port", func(c *Config) { c.Listen.SMTP = "25" }, `listen.smtp: "25" is not host:port`},
		{"listen port range", func(c *Config) { c.Listen.IMAP = ":65536" }, "listen.imap: \":65536\": port must be a number from 0 (any free port) to 65535"},
		{"listen port negative", func(c *Config) { c.Listen.POP3 = "127.0.0.1:-1" }, "listen.pop3: \"127.0.0.1:-1\": port must be"},
		{"listen port name", func(c *Config) { c.Listen.IMAPS = ":imaps" }, "listen.imaps: \":imaps\": port must be"},
		{"listen bad host", func(c *Config) { c.Listen.Submission = "bad host:587" }, `listen.submission: "bad host:587": host is neither`},
		{"listen zone", func(c *Config) { c.Listen.Submissions = "[fe80::1%eth0]:465" }, "listen.submissions: \"[fe80::1%eth0]:465\": zoned"},
		{"listen duplicate", func(c *Config) { c.Listen.POP3S = "[0:0::1]:025"; c.Listen.SMTP = "[::1]:25" }, `listen.pop3s: address "[0:0::1]:025" is also used by listen.smtp`},
		{"listen duplicate same", func(c *Config) { c.Listen.IMAP = ":25" }, `listen.imap: address ":25" is also used by listen.smtp`},
		{"tls cert only", func(c *Config) { c.TLS.CertFile = "/x.pem" }, "tls: set both cert_file and key_file"},
		{"tls key only", func(c *Config) { c.TLS.KeyFile = "/x.key" }, "tls: set both cert_file and key_file"},
		{"max_message_size", func(c *Config) { c.SMTP.MaxMessageSize = 0 }, "smtp.max_message_size: must be greater than 0, got 0"},
		{"max_recipients", func(c *Config) { c.SMTP.MaxRecipients = -1 }, "smtp.max_recipients: must be greater than 0, got -1"},
		{"max_line_length", func(c *Config) { c.SMTP.MaxLineLength = 999 }, "smtp.max_line_length: must be at least 1000 (RFC 5321 §4.5.3.1.6), got 999"},
		{"max_errors", func(c *Config) { c.SMTP.MaxErrors = 0 }, "smtp.max_errors: must be greater than 0"},
		{"read_timeout", func(c *Config) { c.SMTP.ReadTimeout = 0 }, `smtp.read_timeout: must be greater than 0, got "0s"`},
		{"write_timeout", func(c *Config) { c.SMTP.WriteTimeout = Duration(-time.Second) }, `smtp.write_timeout: must be greater than 0, got "-1s"`},
		{"data_timeout", func(c *Config) { c.SMTP.DataTimeout = 0 }, "smtp.data_timeout: must be greater than 0"},
		{"max connections", func(c *Config) { c.Limits.MaxConnections = 0 }, "limits.max_connections: must be greater than 0"},
		{"per source over total", func(c *Config) { c.Limits.MaxConnectionsPerSource = 1001 }, "limits.max_connections_per_source: 1001 is more than limits.max_connections (1000)"},
		{"per source", func(c *Config) { c.Limits.MaxConnectionsPerSource = 0 }, "limits.max_connections_per_source: must be greater than 0"},
		{"unauthenticated over total", func(c *Config) { c.Limits.MaxUnauthenticated = 1001 }, "limits.max_unauthenticated: must be from 0 to limits.max_connections (1000), got 1001"},
		{"unauthenticated timeout", func(c *Config) { c.Limits.UnauthenticatedTimeout = 0 }, "limits.unauthenticated_timeout: must be greater than 0"},
		{"connection rate", func(c *Config) { c.Limits.ConnectionRate = 0 }, "limits.connection_rate: must be greater than 0"},
		{"greet delay", func(c *Config) { c.Limits.GreetDelay = Duration(2 * time.Minute) }, `limits.greet_delay: must be from "0s" (off) to "1m", got "2m"`},
		{"exempt network", func(c *Config) { c.Limits.ExemptNetworks = []string{"10.0.0.1"} }, `limits.exempt_networks: "10.0.0.1" is not a network`},
		{"acme and cert file", func(c *Config) { c.ACME.Enabled = true; c.TLS.CertFile, c.TLS.KeyFile = "/a", "/b" }, "acme.enabled: ACME and [tls] cert_file both name the certificate"},
		{"acme challenge", func(c *Config) { c.ACME.Enabled = true; c.ACME.Challenge = "dns-01" }, `acme.challenge: "dns-01" is not one of tls-alpn-01, http-01`},
		{"acme http-01 without listener", func(c *Config) { c.ACME.Enabled = true; c.ACME.Challenge = "http-01" }, `acme.challenge: "http-01" needs listen.http`},
		{"acme directory", func(c *Config) { c.ACME.Enabled = true; c.ACME.DirectoryURL = "http://acme.example/dir" }, `acme.directory_url: "http://acme.example/dir" is not an https:// URL`},
		{"trusted network", func(c *Config) { c.Inbound.TrustedNetworks = []string{"192.0.2.1"} }, `inbound.trusted_networks: "192.0.2.1" is not a network in CIDR notation`},
		{"dkim signatures", func(c *Config) { c.Inbound.MaxDKIMSignatures = 0 }, "inbound.max_dkim_signatures: must be greater than 0"},
		{"check timeout", func(c *Config) { c.Inbound.CheckTimeout = 0 }, "inbound.check_timeout: must be greater than 0"},
		{"dnsbl zone", func(c *Config) { c.Inbound.DNSBLJunk = []string{"bad zone"} }, `inbound.dnsbl_junk: "bad zone" contains ' '`},
		{"arc sealer", func(c *Config) { c.Inbound.ARCTrustedSealers = []string{"lists..example"} }, `inbound.arc_trusted_sealers: "lists..example" has an empty label`},
		{"too many zones", func(c *Config) {
			for i := range 11 {
				c.Inbound.DNSWL = append(c.Inbound.DNSWL, fmt.Sprintf("wl%d.example", i))
			}
		}, "inbound: 11 DNS list zones; at most 10"},
		{"hash concurrency", func(c *Config) { c.Auth.HashConcurrency = -1 }, "auth.hash_concurrency: must not be negative"},
		{"hash queue", func(c *Config) { c.Auth.HashQueue = 0 }, "auth.hash_queue: must be greater than 0"},
		{"imap command errors", func(c *Config) { c.IMAP.MaxCommandErrors = 0 }, "imap.max_command_errors: must be greater than 0"},
		{"imap idle timeout", func(c *Config) { c.IMAP.IdleTimeout = Duration(29 * time.Minute) }, `imap.idle_timeout: must be at least 30m (RFC 9051 §5.4), got "29m"`},
		{"queue workers", func(c *Config) { c.Queue.Workers = 0 }, "queue.workers: must be greater than 0"},
		{"queue port", func(c *Config) { c.Queue.Port = 70000 }, "queue.port: must be a port number, got 70000"},
		{"queue rate", func(c *Config) { c.Queue.PerDomainRate = -1 }, "queue.per_domain_rate: must not be negative"},
		{"queue retry", func(c *Config) { c.Queue.RetryBase = Duration(5 * time.Hour) }, `queue.retry_base: "5h" is more than queue.retry_max ("4h")`},
		{"queue lifetime", func(c *Config) { c.Queue.Lifetime = 0 }, "queue.lifetime: must be greater than 0"},
		{"dns servers", func(c *Config) { c.DNS.Servers = []string{"resolver"} }, `dns.servers: "resolver" is not ip:port`},
		{"dns attempts", func(c *Config) { c.DNS.Attempts = 0 }, "dns.attempts: must be greater than 0"},
		{"pop3 command errors", func(c *Config) { c.POP3.MaxCommandErrors = 0 }, "pop3.max_command_errors: must be greater than 0"},
		{"pop3 idle timeout", func(c *Config) { c.POP3.IdleTimeout = Duration(9 * time.Minute) }, `pop3.idle_timeout: must be at least 10m (RFC 1939 §3), got "9m"`},
		{"throttle_window", func(c *Config) { c.Auth.ThrottleWindow = 0 }, "auth.throttle_window: must be greater than 0"},
		{"throttle_base_delay", func(c *Config) { c.Auth.ThrottleBaseDelay = 0 }, "auth.throttle_base_delay: must be greater than 0"},
		{"throttle_max_delay", func(c *Config) { c.Auth.ThrottleMaxDelay = 0 }, "auth.throttle_max_delay: must be greater than 0"},
		{"base over max delay", func(c *Config) { c.Auth.ThrottleBaseDelay = Duration(time.Minute) }, `auth.throttle_base_delay: "1m" is more than auth.throttle_max_delay ("5s")`},
		{"throttle_max_failures", func(c *Config) { c.Auth.ThrottleMaxFailures = 0 }, "auth.throttle_max_failures: must be greater than 0"},
		{"throttle_lockout", func(c *Config) { c.Auth.ThrottleLockout = 0 }, "auth.throttle_lockout: must be greater than 0"},
		{"shutdown_timeout", func(c *Config) { c.ShutdownTimeout = 0 }, "shutdown_timeout: must be greater than 0"},
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, `log.level: "verbose" is not one of debug, info, warn, error`},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, `log.format: "xml" is not one of text, json`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Hostname = "mail.example.org"
			tt.change(c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestValidateAll(t *testing.T) {
	// Every problem is reported at once.
	c := Default()
	c.Hostname = ""
	c.DataDir = ""
	c.Log.Format = "xml"
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil")
	}
	for _, key := range []string{"hostname:", "data_dir:", "log.format:"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("Validate() = %q, missing %s", err, key)
		}
	}
}

func TestValidateAccepts(t *testing.T) {
	for _, host := range []string{"localhost", "mx", "MAIL.example.org", "1mail.example.org", "xn--bcher-kva.example", "a-b.c-d.example"} {
		c := Default()
		c.Hostname = host
		if err := c.Validate(); err != nil {
			t.Errorf("hostname %q: %v", host, err)
		}
	}
	for _, addr := range []string{":25", "127.0.0.1:25", "[::1]:25", "[::]:25", "localhost:25", "mail.example.org:65535"} {
		c := Default()
		c.Hostname = "localhost"
		c.Listen = Listen{SMTP: addr}
		if err := c.Validate(); err != nil {
			t.Errorf("listen %q: %v", addr, err)
		}
	}
	// Port 0 (any free port) on every listener at once: no two share one.
	c := Default()
	c.Hostname = "localhost"
	c.Listen = Listen{SMTP: "127.0.0.1:0", Submission: "127.0.0.1:0", IMAPS: "127.0.0.1:0", HTTPS: "127.0.0.1:0", Admin: "127.0.0.1:0"}
	if err := c.Validate(); err != nil {
		t.Errorf("every listener on port 0: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"unknown top", "hostnme = \"x\"", `config: unknown key "hostnme"`},
		{"unknown in section", "[smtp]\nmax_recpients = 5", `config: unknown key "smtp.max_recpients"`},
		{"unknown section", "[imapd]\nlisten = \":143\"\nfoo = 1", `config: unknown key "imapd"`},
		{"unknown several", "a = 1\n[log]\nlevl = \"x\"", `config: unknown keys "a", "log.levl"`},
		{"syntax", "hostname = ", "config: toml: line 1"},
		{"type", "[smtp]\nmax_recipients = \"many\"", "max_recipients"},
		{"section type", "smtp = 5", "smtp"},
		{"bad duration", "[smtp]\nread_timeout = \"5 minutes\"", `invalid duration "5 minutes"`},
		{"duration number", "shutdown_timeout = 30", `invalid duration "30"`},
		{"overflow", "[smtp]\nmax_recipients = 99999999999999999999", "max_recipients"},
		{"invalid value", "hostname = \"mail.example.org\"\n[log]\nlevel = \"loud\"", "log.level"},
		{"too large", strings.Repeat("#", MaxFileSize+1), "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.data))
			if err == nil {
				t.Fatalf("Parse() = %+v, want error containing %q", c, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse() error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		text    string
		want    time.Duration
		str     string
		wantErr bool
	}{
		{"250ms", 250 * time.Millisecond, "250ms", false},
		{"30s", 30 * time.Second, "30s", false},
		{"5m", 5 * time.Minute, "5m", false},
		{"90m", 90 * time.Minute, "1h30m", false},
		{"2h", 2 * time.Hour, "2h", false},
		{"1h0m1s", time.Hour + time.Second, "1h0m1s", false},
		{"1.5s", 1500 * time.Millisecond, "1.5s", false},
		{"0", 0, "0s", false},
		{"-5m", -5 * time.Minute, "-5m", false},
		{"5", 0, "", true},
		{"5 m", 0, "", true},
		{"", 0, "", true},
		{"1d", 0, "", true},
		{"9999999999h", 0, "", true},
		{strings.Repeat("1", 65) + "s", 0, "", true},
	}
	for _, tt := range tests {
		var d Duration
		err := d.UnmarshalText([]byte(tt.text))
		if (err != nil) != tt.wantErr {
			t.Errorf("UnmarshalText(%q) error = %v, want error %v", tt.text, err, tt.wantErr)
			continue
		}
		if tt.wantErr {
			continue
		}
		if time.Duration(d) != tt.want {
			t.Errorf("UnmarshalText(%q) = %v, want %v", tt.text, time.Duration(d), tt.want)
		}
		text, err := d.MarshalText()
		if err != nil || string(text) != tt.str {
			t.Errorf("MarshalText(%v) = %q, %v, want %q", time.Duration(d), text, err, tt.str)
		}
		var back Duration
		if err := back.UnmarshalText(text); err != nil || back != d {
			t.Errorf("round trip of %q: %v, %v", text, time.Duration(back), err)
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	dev := Dev("/tmp/postel")
	full := fullConfig()
	for _, c := range []*Config{&full, dev} {
		var buf bytes.Buffer
		if err := c.Encode(&buf); err != nil {
			t.Fatal(err)
		}
		back, err := Parse(buf.Bytes())
		if err != nil {
			t.Fatalf("Parse(Encode()) = %v\n%s", err, buf.String())
		}
		if !reflect.DeepEqual(*back, *c) {
			t.Errorf("round trip:\n%+v\nwant\n%+v\nTOML:\n%s", *back, *c, buf.String())
		}
	}
	// Durations are written the way operators write them.
	var buf bytes.Buffer
	if err := Default().Encode(&buf); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{`read_timeout = "5m"`, `throttle_base_delay = "250ms"`, `shutdown_timeout = "30s"`, "max_message_size = 52428800", "[listen]"} {
		if !strings.Contains(buf.String(), line) {
			t.Errorf("Encode() lacks %q:\n%s", line, buf.String())
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "postel.toml")
	if err := os.WriteFile(path, []byte(full), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := fullConfig(); !reflect.DeepEqual(*c, want) {
		t.Errorf("Load() =\n%+v\nwant\n%+v", *c, want)
	}

	missing := filepath.Join(dir, "missing.toml")
	if _, err := Load(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load(missing) error = %v, want it to name the path", err)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[smtp]\nmax_errors = 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "smtp.max_errors") {
		t.Errorf("Load(bad) error = %v, want it to name the path and the key", err)
	}
	big := filepath.Join(dir, "big.toml")
	if err := os.WriteFile(big, bytes.Repeat([]byte("#"), MaxFileSize+10), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load(big) error = %v, want too large", err)
	}
}

func TestDefaultPath(t *testing.T) {
	t.Chdir(t.TempDir())
	if got := DefaultPath(); got != "/etc/postel/postel.toml" {
		t.Errorf("DefaultPath() without ./postel.toml = %q", got)
	}
	if err := os.WriteFile("postel.toml", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := DefaultPath(); got != "./postel.toml" {
		t.Errorf("DefaultPath() with ./postel.toml = %q", got)
	}
}

func TestSlogLevel(t *testing.T) {
	for level, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
	} {
		if got := (Log{Level: level}).SlogLevel(); got != want {
			t.Errorf("SlogLevel(%q) = %v, want %v", level, got, want)
		}
	}
}
