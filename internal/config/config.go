// Package config reads Postel's one TOML configuration file into a plain,
// validated Config.
//
// Every field carries its documentation twice, kept equal by a test: in its
// Go doc comment (which also states the default) and in its `doc` struct tag,
// from which Reference generates docs/config.md. Parse and Load start from
// Default, overlay the file, reject unknown keys and validate the result once;
// the rest of the server trusts the values it gets.
package config

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// MaxFileSize bounds the configuration file; larger files are refused.
const MaxFileSize = 1 << 20

// Config is the whole configuration file.
type Config struct {
	// Name of this server: used in the SMTP greeting, in Received header fields and as the name of the self-signed certificate. A fully qualified domain name in ASCII (A-label) form; it is folded to lower case. Default: the machine's host name.
	Hostname string `toml:"hostname" doc:"Name of this server: used in the SMTP greeting, in Received header fields and as the name of the self-signed certificate. A fully qualified domain name in ASCII (A-label) form; it is folded to lower case."`
	// Directory holding the database, message files, the queue and the self-signed certificate. Default: "/var/lib/postel".
	DataDir string `toml:"data_dir" doc:"Directory holding the database, message files, the queue and the self-signed certificate."`
	// Where accounts, mailboxes, messages and the queue are kept: the embedded SQLite database in data_dir (one machine), or PostgreSQL, which several Postel nodes can share.
	Store Store `toml:"store" doc:"Where accounts, mailboxes, messages and the queue are kept: the embedded SQLite database in data_dir (one machine), or PostgreSQL, which several Postel nodes can share."`
	// Addresses the servers listen on, as host:port. An empty host listens on every interface; an empty address disables that listener; port 0 takes any free port, which the server's ready log line reports (for tests).
	Listen Listen `toml:"listen" doc:"Addresses the servers listen on, as host:port. An empty host listens on every interface; an empty address disables that listener; port 0 takes any free port, which the server's ready log line reports (for tests)."`
	// TLS certificate used by every listener, for implicit TLS and STARTTLS alike.
	TLS TLS `toml:"tls" doc:"TLS certificate used by every listener, for implicit TLS and STARTTLS alike."`
	// Certificates from an ACME certificate authority (RFC 8555, e.g. Let's Encrypt) for hostname and the mta-sts. and autoconfig. names of every local domain, renewed before they expire, kept in data_dir/acme. Takes the place of [tls] cert_file and key_file.
	ACME ACME `toml:"acme" doc:"Certificates from an ACME certificate authority (RFC 8555, e.g. Let's Encrypt) for hostname and the mta-sts. and autoconfig. names of every local domain, renewed before they expire, kept in data_dir/acme. Takes the place of [tls] cert_file and key_file."`
	// Limits and timeouts of the SMTP servers (inbound on smtp, and submission).
	SMTP SMTP `toml:"smtp" doc:"Limits and timeouts of the SMTP servers (inbound on smtp, and submission)."`
	// Limits and timeouts of the IMAP servers (imap and imaps). The largest message APPEND accepts is smtp.max_message_size (APPENDLIMIT).
	IMAP IMAP `toml:"imap" doc:"Limits and timeouts of the IMAP servers (imap and imaps). The largest message APPEND accepts is smtp.max_message_size (APPENDLIMIT)."`
	// Limits and timeouts of the POP3 servers (pop3 and pop3s).
	POP3 POP3 `toml:"pop3" doc:"Limits and timeouts of the POP3 servers (pop3 and pop3s)."`
	// Outbound delivery: workers, retries, bounces and limits.
	Queue Queue `toml:"queue" doc:"Outbound delivery: workers, retries, bounces and limits."`
	// The DNS resolvers that outbound delivery (MX, A/AAAA, TXT, TLSA) and the checks of inbound mail (SPF, DKIM, DMARC, ARC, PTR, DNS lists) ask.
	DNS DNS `toml:"dns" doc:"The DNS resolvers that outbound delivery (MX, A/AAAA, TXT, TLSA) and the checks of inbound mail (SPF, DKIM, DMARC, ARC, PTR, DNS lists) ask."`
	// Checks of who sent the mail arriving on the smtp listener (SPF, DKIM, DMARC, ARC, reverse DNS, DNS block lists), and what forwarding does to stay trusted (SRS, ARC sealing). See docs/msgauth.md.
	Inbound Inbound `toml:"inbound" doc:"Checks of who sent the mail arriving on the smtp listener (SPF, DKIM, DMARC, ARC, reverse DNS, DNS block lists), and what forwarding does to stay trusted (SRS, ARC sealing). See docs/msgauth.md."`
	// Connection limits shared by every listener (SMTP 25, 587, 465, IMAP, POP3), so that no stranger can shut users out by holding or flooding connections. Each service (the MX, submission, IMAP, POP3) counts its own connections.
	Limits Limits `toml:"limits" doc:"Connection limits shared by every listener (SMTP 25, 587, 465, IMAP, POP3), so that no stranger can shut users out by holding or flooding connections. Each service (the MX, submission, IMAP, POP3) counts its own connections."`
	// Password authentication and the throttling of failed logins.
	Auth Auth `toml:"auth" doc:"Password authentication and the throttling of failed logins."`
	// Logging to standard error.
	Log Log `toml:"log" doc:"Logging to standard error."`
	// How long a shutdown (SIGTERM or SIGINT) waits for sessions and transactions in flight before closing them. Default: "30s".
	ShutdownTimeout Duration `toml:"shutdown_timeout" doc:"How long a shutdown (SIGTERM or SIGINT) waits for sessions and transactions in flight before closing them."`
}

// Store selects and tunes the store.
type Store struct {
	// "sqlite": the embedded database in data_dir; "postgres": the PostgreSQL database of dsn, shared by every node that names it (message bodies are kept in it too, so any node serves any message; data_dir still holds spools, certificates and keys). Default: "sqlite".
	Driver string `toml:"driver" doc:"\"sqlite\": the embedded database in data_dir; \"postgres\": the PostgreSQL database of dsn, shared by every node that names it (message bodies are kept in it too, so any node serves any message; data_dir still holds spools, certificates and keys)."`
	// PostgreSQL connection string (driver = "postgres"), as a URL ("postgres://user:password@host:5432/postel?sslmode=verify-full") or key=value pairs. Keep the password out of a world-readable file: the config is read by the server's user only, or use a .pgpass file. Default: "".
	DSN string `toml:"dsn" doc:"PostgreSQL connection string (driver = \"postgres\"), as a URL (\"postgres://user:password@host:5432/postel?sslmode=verify-full\") or key=value pairs. Keep the password out of a world-readable file: the config is read by the server's user only, or use a .pgpass file."`
	// Most PostgreSQL connections one node opens (driver = "postgres"). Default: 16.
	MaxConns int `toml:"max_conns" doc:"Most PostgreSQL connections one node opens (driver = \"postgres\")."`
}

// Listen holds the listening addresses, one per protocol and port.
type Listen struct {
	// SMTP for mail from other servers (RFC 5321), with STARTTLS. Default: ":25".
	SMTP string `toml:"smtp" doc:"SMTP for mail from other servers (RFC 5321), with STARTTLS."`
	// Message submission by users (RFC 6409), with STARTTLS. Default: ":587".
	Submission string `toml:"submission" doc:"Message submission by users (RFC 6409), with STARTTLS."`
	// Message submission over implicit TLS (RFC 8314). Default: ":465".
	Submissions string `toml:"submissions" doc:"Message submission over implicit TLS (RFC 8314)."`
	// IMAP (RFC 9051), with STARTTLS. Default: ":143".
	IMAP string `toml:"imap" doc:"IMAP (RFC 9051), with STARTTLS."`
	// IMAP over implicit TLS (RFC 8314). Default: ":993".
	IMAPS string `toml:"imaps" doc:"IMAP over implicit TLS (RFC 8314)."`
	// POP3 (RFC 1939), with STLS. Default: ":110".
	POP3 string `toml:"pop3" doc:"POP3 (RFC 1939), with STLS."`
	// POP3 over implicit TLS (RFC 8314). Default: ":995".
	POP3S string `toml:"pop3s" doc:"POP3 over implicit TLS (RFC 8314)."`
	// HTTPS: ACME tls-alpn-01 challenges, mail client autoconfiguration (Thunderbird autoconfig, Outlook autodiscover) and the MTA-STS policy of each local domain. Default: ":443".
	HTTPS string `toml:"https" doc:"HTTPS: ACME tls-alpn-01 challenges, mail client autoconfiguration (Thunderbird autoconfig, Outlook autodiscover) and the MTA-STS policy of each local domain."`
	// HTTP: ACME http-01 challenges when [acme] challenge = "http-01", and redirects to HTTPS; empty for none. Default: "".
	HTTP string `toml:"http" doc:"HTTP: ACME http-01 challenges when [acme] challenge = \"http-01\", and redirects to HTTPS; empty for none."`
	// Plain HTTP for the operator: Prometheus metrics (/metrics), liveness (/healthz) and readiness (/readyz: the store answers and every listener is bound). It has no authentication: keep it on a loopback address, or firewalled. Failing to bind it is logged, and the mail service runs without it. Default: "127.0.0.1:8025".
	Admin string `toml:"admin" doc:"Plain HTTP for the operator: Prometheus metrics (/metrics), liveness (/healthz) and readiness (/readyz: the store answers and every listener is bound). It has no authentication: keep it on a loopback address, or firewalled. Failing to bind it is logged, and the mail service runs without it."`
}

// TLS names the certificate files.
type TLS struct {
	// PEM file with the certificate chain, leaf first. When both cert_file and key_file are empty, a self-signed certificate for hostname is made once and kept in data_dir/tls. Default: "".
	CertFile string `toml:"cert_file" doc:"PEM file with the certificate chain, leaf first. When both cert_file and key_file are empty, a self-signed certificate for hostname is made once and kept in data_dir/tls."`
	// PEM file with the private key of cert_file. Set both or neither. Default: "".
	KeyFile string `toml:"key_file" doc:"PEM file with the private key of cert_file. Set both or neither."`
}

// ACME holds the settings of certificates obtained with ACME.
type ACME struct {
	// Obtain and renew certificates with ACME. Needs listen.https reachable from the Internet on port 443 (tls-alpn-01), or listen.http on port 80 (http-01). Default: false.
	Enabled bool `toml:"enabled" doc:"Obtain and renew certificates with ACME. Needs listen.https reachable from the Internet on port 443 (tls-alpn-01), or listen.http on port 80 (http-01)."`
	// The directory URL of the certificate authority. Default: "https://acme-v02.api.letsencrypt.org/directory".
	DirectoryURL string `toml:"directory_url" doc:"The directory URL of the certificate authority."`
	// Contact address given to the certificate authority for expiry notices; empty for none. Default: "".
	Email string `toml:"email" doc:"Contact address given to the certificate authority for expiry notices; empty for none."`
	// How the certificate authority checks that this server answers for the names: "tls-alpn-01" (on listen.https, RFC 8737) or "http-01" (on listen.http, RFC 8555 §8.3). Default: "tls-alpn-01".
	Challenge string `toml:"challenge" doc:"How the certificate authority checks that this server answers for the names: \"tls-alpn-01\" (on listen.https, RFC 8737) or \"http-01\" (on listen.http, RFC 8555 §8.3)."`
	// PEM file of extra root certificates to trust when talking to the certificate authority (a private or test CA); empty for the system's. Default: "".
	CARoots string `toml:"ca_roots" doc:"PEM file of extra root certificates to trust when talking to the certificate authority (a private or test CA); empty for the system's."`
	// How long before expiry a certificate is renewed. Default: "720h".
	RenewBefore Duration `toml:"renew_before" doc:"How long before expiry a certificate is renewed."`
}

// SMTP holds the limits and timeouts of the SMTP servers.
type SMTP struct {
	// Largest message accepted, in bytes, announced with the SIZE extension (RFC 1870). Default: 52428800.
	MaxMessageSize int64 `toml:"max_message_size" doc:"Largest message accepted, in bytes, announced with the SIZE extension (RFC 1870)."`
	// Most recipients in one transaction; more are answered 452 (RFC 5321 §4.5.3.1.10). RFC 5321 §4.5.3.1.8 asks servers to accept at least 100. Default: 100.
	MaxRecipients int `toml:"max_recipients" doc:"Most recipients in one transaction; more are answered 452 (RFC 5321 §4.5.3.1.10). RFC 5321 §4.5.3.1.8 asks servers to accept at least 100."`
	// Longest line accepted, in bytes including CRLF, for commands and for message text sent with DATA. At least 1000, the text line limit of RFC 5321 §4.5.3.1.6; the default doubles it for lenience, as go-smtp does. Default: 2000.
	MaxLineLength int `toml:"max_line_length" doc:"Longest line accepted, in bytes including CRLF, for commands and for message text sent with DATA. At least 1000, the text line limit of RFC 5321 §4.5.3.1.6; the default doubles it for lenience, as go-smtp does."`
	// How long to wait for the next command (RFC 5321 §4.5.3.2.7 suggests 5 minutes). Default: "5m".
	ReadTimeout Duration `toml:"read_timeout" doc:"How long to wait for the next command (RFC 5321 §4.5.3.2.7 suggests 5 minutes)."`
	// How long writing one reply to the client may take. Default: "5m".
	WriteTimeout Duration `toml:"write_timeout" doc:"How long writing one reply to the client may take."`
	// How long receiving a whole message with DATA or BDAT may take (RFC 5321 §4.5.3.2.6 suggests 10 minutes for the data termination). Default: "10m".
	DataTimeout Duration `toml:"data_timeout" doc:"How long receiving a whole message with DATA or BDAT may take (RFC 5321 §4.5.3.2.6 suggests 10 minutes for the data termination)."`
	// Errors (bad commands, refused recipients) after which the connection is closed. Default: 10.
	MaxErrors int `toml:"max_errors" doc:"Errors (bad commands, refused recipients) after which the connection is closed."`
	// Leave the submitting client's IP address, host name and login out of the Received field of submitted mail (the field keeps this server's name, the TLS version and the message id). Default: true.
	HideSubmissionClient bool `toml:"hide_submission_client" doc:"Leave the submitting client's IP address, host name and login out of the Received field of submitted mail (the field keeps this server's name, the TLS version and the message id)."`
}

// Limits holds the connection limits of every listener. A source is an IP
// address, or an IPv6 /64.
type Limits struct {
	// Most connections at once to one service; past it, the oldest connection that has not logged in (or, on the MX, is between transactions) is dropped to admit the new one, or the new one is refused when there is none. Default: 1000.
	MaxConnections int `toml:"max_connections" doc:"Most connections at once to one service; past it, the oldest connection that has not logged in (or, on the MX, is between transactions) is dropped to admit the new one, or the new one is refused when there is none."`
	// Most connections at once from one source to one service; mail clients open several per account. Default: 20.
	MaxConnectionsPerSource int `toml:"max_connections_per_source" doc:"Most connections at once from one source to one service; mail clients open several per account."`
	// Most connections at once that have not logged in (IMAP, POP3, submission) or, on the MX, are not in a transaction; past it the oldest of them waiting for its client is dropped. Logged-in sessions keep their slots. 0: half of max_connections. Default: 0.
	MaxUnauthenticated int `toml:"max_unauthenticated" doc:"Most connections at once that have not logged in (IMAP, POP3, submission) or, on the MX, are not in a transaction; past it the oldest of them waiting for its client is dropped. Logged-in sessions keep their slots. 0: half of max_connections."`
	// How long a connection may take from connecting to logging in (and on the MX from connecting, or from the end of a transaction, to the next MAIL). Default: "1m".
	UnauthenticatedTimeout Duration `toml:"unauthenticated_timeout" doc:"How long a connection may take from connecting to logging in (and on the MX from connecting, or from the end of a transaction, to the next MAIL)."`
	// Connections one source may open per minute to one service; more are refused. Default: 60.
	ConnectionRate int `toml:"connection_rate" doc:"Connections one source may open per minute to one service; more are refused."`
	// RCPT commands per minute one source may send to the MX; more are answered 450 4.7.1. Default: 300.
	RcptRate int `toml:"rcpt_rate" doc:"RCPT commands per minute one source may send to the MX; more are answered 450 4.7.1."`
	// Messages (MAIL commands) per minute one source may send to the MX; more are answered 450 4.7.1. Default: 60.
	MessageRate int `toml:"message_rate" doc:"Messages (MAIL commands) per minute one source may send to the MX; more are answered 450 4.7.1."`
	// How long the MX waits before its greeting to see whether the client talks first, which RFC 5321 §3.1 forbids: such a client is dropped with 554. "0s" turns the check off. Default: "1s".
	GreetDelay Duration `toml:"greet_delay" doc:"How long the MX waits before its greeting to see whether the client talks first, which RFC 5321 §3.1 forbids: such a client is dropped with 554. \"0s\" turns the check off."`
	// Networks, in CIDR notation, exempt from the per-source limits (connections at once, rates, the early-talker check) and from the unauthenticated budget: relays and webmail hosts you run. Default: [].
	ExemptNetworks []string `toml:"exempt_networks" doc:"Networks, in CIDR notation, exempt from the per-source limits (connections at once, rates, the early-talker check) and from the unauthenticated budget: relays and webmail hosts you run."`
	// Apply the rates and the early-talker check to loopback clients too; off, local tools and webmail are spared them (never the connection limits). Default: false.
	LimitLoopback bool `toml:"limit_loopback" doc:"Apply the rates and the early-talker check to loopback clients too; off, local tools and webmail are spared them (never the connection limits)."`
}

// Inbound holds the checks of mail from other servers.
type Inbound struct {
	// Check SPF, DKIM, DMARC and ARC, forward-confirmed reverse DNS and the DNS lists below for every message received on the smtp listener, record the results in one Authentication-Results field, and refuse, defer or file into Junk what the policy says. Off, mail is accepted unchecked (only for a host behind another filtering server). Default: true.
	Checks bool `toml:"checks" doc:"Check SPF, DKIM, DMARC and ARC, forward-confirmed reverse DNS and the DNS lists below for every message received on the smtp listener, record the results in one Authentication-Results field, and refuse, defer or file into Junk what the policy says. Off, mail is accepted unchecked (only for a host behind another filtering server)."`
	// Client networks, in CIDR notation, whose mail is not checked, e.g. a backup MX that checked it already. Their mail still gets an Authentication-Results field saying so. serve --dev trusts loopback. Default: [].
	TrustedNetworks []string `toml:"trusted_networks" doc:"Client networks, in CIDR notation, whose mail is not checked, e.g. a backup MX that checked it already. Their mail still gets an Authentication-Results field saying so. serve --dev trusts loopback."`
	// How long all the checks of one message may take together, and separately those of one connection (reverse DNS, DNS lists); a lookup cut short counts as a temporary DNS failure, which defers the message with 451 when it could change the verdict. Default: "30s".
	CheckTimeout Duration `toml:"check_timeout" doc:"How long all the checks of one message may take together, and separately those of one connection (reverse DNS, DNS lists); a lookup cut short counts as a temporary DNS failure, which defers the message with 451 when it could change the verdict."`
	// Most DKIM signatures verified per message (RFC 6376 §6.1 lets a verifier limit them); further ones are recorded as not checked. Default: 5.
	MaxDKIMSignatures int `toml:"max_dkim_signatures" doc:"Most DKIM signatures verified per message (RFC 6376 §6.1 lets a verifier limit them); further ones are recorded as not checked."`
	// DNS block list zones (e.g. "zen.spamhaus.org") whose listing of the client refuses its mail with 554. At most 10 zones in all lists. Default: [].
	DNSBLReject []string `toml:"dnsbl_reject" doc:"DNS block list zones (e.g. \"zen.spamhaus.org\") whose listing of the client refuses its mail with 554. At most 10 zones in all lists."`
	// DNS block list zones whose listing of the client files its mail into the recipients' Junk. Default: [].
	DNSBLJunk []string `toml:"dnsbl_junk" doc:"DNS block list zones whose listing of the client files its mail into the recipients' Junk."`
	// DNS allow list zones (e.g. "list.dnswl.org") whose listing of the client exempts it from the block lists. Default: [].
	DNSWL []string `toml:"dnswl" doc:"DNS allow list zones (e.g. \"list.dnswl.org\") whose listing of the client exempts it from the block lists."`
	// Domains whose valid ARC seal (RFC 8617) is trusted to vouch for a message that fails DMARC after they forwarded it (mailing lists, forwarders): such mail is delivered normally. A valid ARC chain from other sealers only lowers a DMARC reject to Junk. Default: [].
	ARCTrustedSealers []string `toml:"arc_trusted_sealers" doc:"Domains whose valid ARC seal (RFC 8617) is trusted to vouch for a message that fails DMARC after they forwarded it (mailing lists, forwarders): such mail is delivered normally. A valid ARC chain from other sealers only lowers a DMARC reject to Junk."`
	// Seal mail that aliases forward to remote addresses with ARC (RFC 8617), using the RSA DKIM key of the alias's domain (postel dkim gen), so the next hop can trust the results seen here. Default: true.
	ARCSeal bool `toml:"arc_seal" doc:"Seal mail that aliases forward to remote addresses with ARC (RFC 8617), using the RSA DKIM key of the alias's domain (postel dkim gen), so the next hop can trust the results seen here."`
	// Rewrite the envelope sender of mail that aliases forward to remote addresses with SRS (SRS0=...@the alias's domain), so SPF still passes at the next hop, and route bounces to such addresses back to the original sender. The secret is kept in data_dir/srs.key. Default: true.
	SRS bool `toml:"srs" doc:"Rewrite the envelope sender of mail that aliases forward to remote addresses with SRS (SRS0=...@the alias's domain), so SPF still passes at the next hop, and route bounces to such addresses back to the original sender. The secret is kept in data_dir/srs.key."`
}

// IMAP holds the limits and timeouts of the IMAP servers.
type IMAP struct {
	// How long an authenticated connection may stay silent, IDLE included, before it is logged out (RFC 9051 §5.4: at least 30 minutes). Default: "30m".
	IdleTimeout Duration `toml:"idle_timeout" doc:"How long an authenticated connection may stay silent, IDLE included, before it is logged out (RFC 9051 §5.4: at least 30 minutes)."`
	// Bad commands after which the connection is closed. Default: 20.
	MaxCommandErrors int `toml:"max_command_errors" doc:"Bad commands after which the connection is closed."`
}

// POP3 holds the limits and timeouts of the POP3 servers.
type POP3 struct {
	// How long a logged-in connection may stay silent before it is closed (RFC 1939 §3: at least 10 minutes). Default: "10m".
	IdleTimeout Duration `toml:"idle_timeout" doc:"How long a logged-in connection may stay silent before it is closed (RFC 1939 §3: at least 10 minutes)."`
	// Refused commands after which the connection is closed. Default: 10.
	MaxCommandErrors int `toml:"max_command_errors" doc:"Refused commands after which the connection is closed."`
}

// Queue holds the settings of outbound delivery.
type Queue struct {
	// Delivery workers running at once. Default: 8.
	Workers int `toml:"workers" doc:"Delivery workers running at once."`
	// How long a message is retried before it is bounced. Default: "120h".
	Lifetime Duration `toml:"lifetime" doc:"How long a message is retried before it is bounced."`
	// After how long still undelivered the sender gets a delay warning (once). Default: "4h".
	DelayWarning Duration `toml:"delay_warning" doc:"After how long still undelivered the sender gets a delay warning (once)."`
	// First retry interval; each retry doubles it up to retry_max. Default: "5m".
	RetryBase Duration `toml:"retry_base" doc:"First retry interval; each retry doubles it up to retry_max."`
	// Longest interval between retries. Default: "4h".
	RetryMax Duration `toml:"retry_max" doc:"Longest interval between retries."`
	// How long a worker holds a message; a worker that dies loses it to another after this. Default: "15m".
	Lease Duration `toml:"lease" doc:"How long a worker holds a message; a worker that dies loses it to another after this."`
	// How often the queue looks for messages that became due, besides being woken by new mail. Default: "30s".
	PollInterval Duration `toml:"poll_interval" doc:"How often the queue looks for messages that became due, besides being woken by new mail."`
	// Most connections at once to one destination domain. Default: 10.
	PerDomainConcurrency int `toml:"per_domain_concurrency" doc:"Most connections at once to one destination domain."`
	// Most transactions per minute to one destination domain; 0 for no limit. Default: 0.
	PerDomainRate int `toml:"per_domain_rate" doc:"Most transactions per minute to one destination domain; 0 for no limit."`
	// Most remote recipients one account may send to in 24 hours; 0 for no limit. Default: 0.
	PerAccountDailyLimit int `toml:"per_account_daily_limit" doc:"Most remote recipients one account may send to in 24 hours; 0 for no limit."`
	// Deliver to loopback, private and link-local addresses too. Off, mail is never sent to an MX or address literal that resolves only to such addresses, so submitted mail cannot reach internal services that trust this host. Default: false.
	AllowPrivateDestinations bool `toml:"allow_private_destinations" doc:"Deliver to loopback, private and link-local addresses too. Off, mail is never sent to an MX or address literal that resolves only to such addresses, so submitted mail cannot reach internal services that trust this host."`
	// Port dialled on the MX hosts. Only tests change it: SMTP between servers is port 25 (RFC 5321 §4.5.4.2). Default: 25.
	Port int `toml:"port" doc:"Port dialled on the MX hosts. Only tests change it: SMTP between servers is port 25 (RFC 5321 §4.5.4.2)."`
}

// DNS names the resolvers.
type DNS struct {
	// Resolvers as host:port, asked in order; empty for those of /etc/resolv.conf. DANE needs a local validating resolver (it trusts the AD bit). Default: [].
	Servers []string `toml:"servers" doc:"Resolvers as host:port, asked in order; empty for those of /etc/resolv.conf. DANE needs a local validating resolver (it trusts the AD bit)."`
	// How long to wait for one answer. Default: "5s".
	Timeout Duration `toml:"timeout" doc:"How long to wait for one answer."`
	// Tries per resolver before the next. Default: 2.
	Attempts int `toml:"attempts" doc:"Tries per resolver before the next."`
}

// Auth holds the password authentication policy.
type Auth struct {
	// Allow passwords over unencrypted connections from loopback addresses. Over other connections passwords are only accepted after TLS. Meant for development. Default: false.
	AllowPlaintextLoopback bool `toml:"allow_plaintext_loopback" doc:"Allow passwords over unencrypted connections from loopback addresses. Over other connections passwords are only accepted after TLS. Meant for development."`
	// Period over which failed logins are counted: a client address's (an IPv6 /64 counts as one) or an account's failures are forgotten once this passes without a failure. Default: "15m".
	ThrottleWindow Duration `toml:"throttle_window" doc:"Period over which failed logins are counted: a client address's (an IPv6 /64 counts as one) or an account's failures are forgotten once this passes without a failure."`
	// Delay before answering after a client address's first failed login; it doubles with each further failure. Default: "250ms".
	ThrottleBaseDelay Duration `toml:"throttle_base_delay" doc:"Delay before answering after a client address's first failed login; it doubles with each further failure."`
	// Longest delay before answering a failed login. Default: "5s".
	ThrottleMaxDelay Duration `toml:"throttle_max_delay" doc:"Longest delay before answering a failed login."`
	// Failed logins from one client address within throttle_window after which that address is refused for throttle_lockout. Attempts count before their password is checked, so parallel attempts cannot try more. An account is never locked: other addresses still log in with the right password. Default: 10.
	ThrottleMaxFailures int `toml:"throttle_max_failures" doc:"Failed logins from one client address within throttle_window after which that address is refused for throttle_lockout. Attempts count before their password is checked, so parallel attempts cannot try more. An account is never locked: other addresses still log in with the right password."`
	// How long a client address stays refused after throttle_max_failures. postel user unlock and postel user passwd lift it for the addresses that failed against that account. Default: "15m".
	ThrottleLockout Duration `toml:"throttle_lockout" doc:"How long a client address stays refused after throttle_max_failures. postel user unlock and postel user passwd lift it for the addresses that failed against that account."`
	// Longest delay an account's own failures (from any address) add to further wrong passwords for it; a right password is never delayed. Default: "2s".
	ThrottleAccountMaxDelay Duration `toml:"throttle_account_max_delay" doc:"Longest delay an account's own failures (from any address) add to further wrong passwords for it; a right password is never delayed."`
	// Password hashes (argon2id, 64 MiB each) computed at once; 0 for the number of CPUs, at most 4. Default: 0.
	HashConcurrency int `toml:"hash_concurrency" doc:"Password hashes (argon2id, 64 MiB each) computed at once; 0 for the number of CPUs, at most 4."`
	// Password hashes one client address may have computed at once; the others wait, the addresses taking turns, so a flood of logins from some addresses does not delay users on others. Default: 2.
	HashPerSource int `toml:"hash_per_source" doc:"Password hashes one client address may have computed at once; the others wait, the addresses taking turns, so a flood of logins from some addresses does not delay users on others."`
	// Logins that may wait for a password hash; past it, the busiest address's newest attempt is answered "try again later". Default: 1000.
	HashQueue int `toml:"hash_queue" doc:"Logins that may wait for a password hash; past it, the busiest address's newest attempt is answered \"try again later\"."`
}

// Log holds the logging settings.
type Log struct {
	// Lowest level logged: debug, info, warn or error. Default: "info".
	Level string `toml:"level" doc:"Lowest level logged: debug, info, warn or error."`
	// Line format: text (key=value) or json. Default: "text".
	Format string `toml:"format" doc:"Line format: text (key=value) or json."`
	// Accounts whose sessions (SMTP submission, IMAP, POP3) are written to a protocol trace file each, trace_dir/ADDRESS.log: what the client and the server said, with passwords, authentication exchanges and message bodies left out. For a problem report; postel trace shows the same live. Default: [].
	TraceAccounts []string `toml:"trace_accounts" doc:"Accounts whose sessions (SMTP submission, IMAP, POP3) are written to a protocol trace file each, trace_dir/ADDRESS.log: what the client and the server said, with passwords, authentication exchanges and message bodies left out. For a problem report; postel trace shows the same live."`
	// Directory of the trace files of trace_accounts, relative to data_dir unless absolute. Default: "traces".
	TraceDir string `toml:"trace_dir" doc:"Directory of the trace files of trace_accounts, relative to data_dir unless absolute."`
}

// SlogLevel returns Level as a slog.Level; Level must be valid (see Validate).
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Default returns the configuration used for every key the file leaves out.
// The hostname is the machine's, lower-cased; it is empty when the system
// does not know it (Validate then asks for one).
func Default() *Config {
	host, _ := os.Hostname() // An error leaves it empty, which Validate reports.
	return &Config{
		Hostname: strings.ToLower(host),
		DataDir:  "/var/lib/postel",
		Store:    Store{Driver: "sqlite", MaxConns: 16},
		Listen: Listen{
			SMTP:        ":25",
			Submission:  ":587",
			Submissions: ":465",
			IMAP:        ":143",
			IMAPS:       ":993",
			POP3:        ":110",
			POP3S:       ":995",
			HTTPS:       ":443",
			Admin:       "127.0.0.1:8025",
		},
		ACME: ACME{
			DirectoryURL: "https://acme-v02.api.letsencrypt.org/directory",
			Challenge:    "tls-alpn-01",
			RenewBefore:  Duration(30 * 24 * time.Hour),
		},
		SMTP: SMTP{
			MaxMessageSize:       50 << 20,
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
}

// Dev returns the development configuration: data in dir, host name
// "localhost", every listener on 127.0.0.1 at an unprivileged port, and
// passwords allowed without TLS from loopback addresses.
func Dev(dir string) *Config {
	c := Default()
	c.Hostname = "localhost"
	c.DataDir = dir
	c.Listen = Listen{
		SMTP:        "127.0.0.1:2525",
		Submission:  "127.0.0.1:2587",
		Submissions: "127.0.0.1:2465",
		IMAP:        "127.0.0.1:2143",
		IMAPS:       "127.0.0.1:2993",
		POP3:        "127.0.0.1:2110",
		POP3S:       "127.0.0.1:2995",
		HTTPS:       "127.0.0.1:2443",
		Admin:       "127.0.0.1:2080",
	}
	c.Auth.AllowPlaintextLoopback = true
	// Mail sent to the dev server from this machine is not checked:
	// a local test client is not a server with SPF and DKIM records.
	c.Inbound.TrustedNetworks = []string{"127.0.0.0/8", "::1/128"}
	c.Log.Level = "info"
	return c
}

// DefaultPath returns the configuration file used when none is named:
// "./postel.toml" when it exists, else "/etc/postel/postel.toml".
func DefaultPath() string {
	const local = "./postel.toml"
	if _, err := os.Stat(local); err == nil {
		return local
	}
	return "/etc/postel/postel.toml"
}

// Load reads the file at path over Default and validates the result.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: reading %s: %w", path, err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse reads TOML over Default and validates the result. Keys Config does
// not know are an error, so that misspellings do not go unnoticed.
func Parse(data []byte) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("config: file larger than %d bytes", MaxFileSize)
	}
	c := Default()
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(c)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := unknownKeys(md.Undecoded()); err != nil {
		return nil, err
	}
	c.Hostname = strings.ToLower(c.Hostname)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// unknownKeys reports undecoded keys, naming each unknown table once rather
// than every key inside it, and the known key probably meant when one is
// close: `unknown key "smtp.max_mesage_size" (did you mean
// "smtp.max_message_size"?)`.
func unknownKeys(keys []toml.Key) error {
	undecoded := make(map[string]bool, len(keys))
	for _, k := range keys {
		undecoded[k.String()] = true
	}
	var names []string
	for _, k := range keys {
		if len(k) > 1 && undecoded[k[:len(k)-1].String()] {
			continue
		}
		name := fmt.Sprintf("%q", k.String())
		if len(k) <= 2 {
			table := ""
			if len(k) == 2 {
				table = k[0]
			}
			if s := suggest(table, k[len(k)-1]); s != "" {
				name += fmt.Sprintf(" (did you mean %q?)", s)
			}
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil
	}
	if len(names) == 1 {
		return fmt.Errorf("config: unknown key %s", names[0])
	}
	return fmt.Errorf("config: unknown keys %s", strings.Join(names, ", "))
}

// Encode writes c as TOML, in a form Parse reads back to an equal Config.
func (c *Config) Encode(w io.Writer) error {
	enc := toml.NewEncoder(w)
	enc.Indent = ""
	if err := enc.Encode(c); err != nil {
		return fmt.Errorf("config: encoding: %w", err)
	}
	return nil
}
