// Package metrics owns Postel's Prometheus metrics: one registry per
// server, the collectors, and the handler that serves them (the admin
// listener's /metrics). The protocol packages, the queue, the store and
// auth count through the small nil-safe methods below and import nothing
// else of Prometheus: a nil *Metrics (tests, admin commands) counts
// nothing.
//
// Conventions (https://prometheus.io/docs/practices/naming/): every name
// starts with postel_, carries its unit (_seconds, _bytes) and, for
// counters, ends in _total. Labels take a few fixed values only (service,
// protocol, limit, result, outcome) or, for certificates, the configured
// names: never an account, an address or a client IP, so the number of
// series stays bounded whatever the traffic.
package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The services that count connections and bytes: the MX (port 25),
// submission (587 and 465), IMAP (143 and 993), POP3 (110 and 995).
const (
	ServiceSMTP       = "smtp"
	ServiceSubmission = "submission"
	ServiceIMAP       = "imap"
	ServicePOP3       = "pop3"
)

// Services lists the services, for series that exist from the start.
var Services = []string{ServiceSMTP, ServiceSubmission, ServiceIMAP, ServicePOP3}

// Results of a login (postel_logins_total's result label).
const (
	LoginOK      = "ok"      // the password or SASL exchange was right
	LoginFailed  = "failed"  // wrong password, unknown or disabled account
	LoginRefused = "refused" // throttled or the hash queue full: no password checked
)

// Outcomes of a message for one recipient (postel_mail_recipients_total's
// outcome label); the mail log (internal/maillog) writes the same words
// as result=.
const (
	OutcomeDelivered = "delivered" // stored in a local mailbox
	OutcomeQueued    = "queued"    // put in the outbound queue
	OutcomeRefused   = "refused"   // refused to the client (RCPT, or after the data)
	OutcomeSent      = "sent"      // delivered to a remote MX
	OutcomeDeferred  = "deferred"  // a remote attempt failed for now; retried
	OutcomeBounced   = "bounced"   // failed for good: a DSN goes to the sender
)

// Outcomes lists the outcomes.
var Outcomes = []string{OutcomeDelivered, OutcomeQueued, OutcomeRefused, OutcomeSent, OutcomeDeferred, OutcomeBounced}

// Metrics is a server's registry and collectors. Its methods are safe for
// concurrent use and do nothing on a nil *Metrics.
type Metrics struct {
	reg *prometheus.Registry

	connAccepted *prometheus.CounterVec // service
	connRefused  *prometheus.CounterVec // service, limit
	connEvicted  *prometheus.CounterVec // service
	connOpen     *prometheus.GaugeVec   // service
	bytesIn      *prometheus.CounterVec // service
	bytesOut     *prometheus.CounterVec // service
	received     *prometheus.CounterVec // service
	logins       *prometheus.CounterVec // protocol, result
	recipients   *prometheus.CounterVec // outcome
	commitTime   prometheus.Histogram
	commitWrites prometheus.Histogram
	traceDropped prometheus.Counter

	mu       sync.Mutex
	services map[string]*Service
}

// New makes the registry with every collector, the Go runtime's and the
// process's included.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		connAccepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postel_connections_accepted_total",
			Help: "Connections admitted, by service.",
		}, []string{"service"}),
		connRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postel_connections_refused_total",
			Help: "Connections refused by a connection limit ([limits]), by service and limit.",
		}, []string{"service", "limit"}),
		connEvicted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postel_connections_evicted_total",
			Help: "Idle unauthenticated connections dropped to admit a new one, by service.",
		}, []string{"service"}),
		connOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "postel_connections_open",
			Help: "Connections admitted and not yet closed, by service.",
		}, []string{"service"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postel_received_bytes_total",
			Help: "Octets read from clients, TLS included, by service.",
		}, []string{"service"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postel_sent_bytes_total",
			Help: "Octets written to clients, TLS included, by service.",
		}, []string{"service"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postel_messages_received_total",
			Help: "Messages accepted over SMTP (250 after the data), by service (smtp: the MX, submission).",
		}, []string{"service"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postel_logins_total",
			Help: "Login attempts by protocol (smtp, imap, pop3) and result: ok, failed (wrong credentials), refused (throttled, no password checked).",
		}, []string{"protocol", "result"}),
		recipients: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postel_mail_recipients_total",
			Help: "Outcomes of messages per recipient, as the mail log (msg=mail) writes them: delivered (local mailbox), queued, refused, sent (remote MX accepted), deferred (attempt failed, retried), bounced.",
		}, []string{"outcome"}),
		commitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "postel_store_commit_duration_seconds",
			Help:    "Time of one group commit of the store's writer: the transaction with its writes, the fsyncs and the commit.",
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 15), // 0.25 ms to 4 s
		}),
		commitWrites: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "postel_store_commit_writes",
			Help:    "Writes (deliveries, flag changes, ...) sharing one group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10), // 1 to 512
		}),
		traceDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "postel_trace_dropped_lines_total",
			Help: "Protocol trace lines not delivered because a trace reader was too slow.",
		}),
		services: map[string]*Service{},
	}
	m.reg.MustRegister(m.connAccepted, m.connRefused, m.connEvicted, m.connOpen, m.bytesIn, m.bytesOut,
		m.received, m.logins, m.recipients, m.commitTime, m.commitWrites, m.traceDropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Every series of a fixed label value exists from the start, at 0, so
	// that rates and absent() work before the first event.
	for _, s := range Services {
		m.Service(s)
		m.received.WithLabelValues(s)
	}
	for _, p := range []string{"smtp", "imap", "pop3"} {
		for _, r := range []string{LoginOK, LoginFailed, LoginRefused} {
			m.logins.WithLabelValues(p, r)
		}
	}
	for _, o := range Outcomes {
		m.recipients.WithLabelValues(o)
	}
	return m
}

// Handler serves the metrics in the Prometheus text format (or
// OpenMetrics, when asked).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Registry is the registry, for collectors of other packages.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Login counts a login attempt of protocol ("smtp", "imap", "pop3") with
// its result (LoginOK, LoginFailed, LoginRefused).
func (m *Metrics) Login(protocol, result string) {
	if m == nil {
		return
	}
	m.logins.WithLabelValues(protocol, result).Inc()
}

// Recipient counts one outcome of a message for one recipient.
func (m *Metrics) Recipient(outcome string) {
	if m == nil {
		return
	}
	m.recipients.WithLabelValues(outcome).Inc()
}

// Commit records one group commit of the store: how many writes it held
// and how long it took. It is called on the store's writer goroutine, the
// hot path: two atomic adds per histogram, no lock.
func (m *Metrics) Commit(writes int, took time.Duration) {
	if m == nil {
		return
	}
	m.commitWrites.Observe(float64(writes))
	m.commitTime.Observe(took.Seconds())
}

// TraceDropped counts protocol trace lines a slow reader missed.
func (m *Metrics) TraceDropped(n int) {
	if m == nil || n <= 0 {
		return
	}
	m.traceDropped.Add(float64(n))
}

// Service is the counters of one service, resolved once so that counting
// a connection or its bytes does no label lookup. Its methods do nothing
// on a nil *Service.
type Service struct {
	name     string
	refused  *prometheus.CounterVec
	accepted prometheus.Counter
	evicted  prometheus.Counter
	open     prometheus.Gauge
	in, out  prometheus.Counter
	received prometheus.Counter
}

// Service returns the counters of service (one of Services).
func (m *Metrics) Service(service string) *Service {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.services[service]; s != nil {
		return s
	}
	s := &Service{
		name:     service,
		refused:  m.connRefused,
		accepted: m.connAccepted.WithLabelValues(service),
		evicted:  m.connEvicted.WithLabelValues(service),
		open:     m.connOpen.WithLabelValues(service),
		in:       m.bytesIn.WithLabelValues(service),
		out:      m.bytesOut.WithLabelValues(service),
		received: m.received.WithLabelValues(service),
	}
	m.services[service] = s
	return s
}

// Accepted counts an admitted connection, open from now on.
func (s *Service) Accepted() {
	if s == nil {
		return
	}
	s.accepted.Inc()
	s.open.Inc()
}

// Closed counts the end of an admitted connection (closed or evicted).
func (s *Service) Closed() {
	if s == nil {
		return
	}
	s.open.Dec()
}

// Refused counts a connection a limit refused, named as in the logs
// (netserve.Refusal.String: "max_conns_per_ip", ...).
func (s *Service) Refused(limit string) {
	if s == nil {
		return
	}
	s.refused.WithLabelValues(s.name, limit).Inc()
}

// Evicted counts an idle unauthenticated connection dropped for a new one.
func (s *Service) Evicted() {
	if s == nil {
		return
	}
	s.evicted.Inc()
}

// Bytes counts octets read from (in) and written to (out) a client.
func (s *Service) Bytes(in, out int) {
	if s == nil {
		return
	}
	if in > 0 {
		s.in.Add(float64(in))
	}
	if out > 0 {
		s.out.Add(float64(out))
	}
}

// Received counts a message accepted over SMTP.
func (s *Service) Received() {
	if s == nil {
		return
	}
	s.received.Inc()
}

// scrapeTimeout bounds the store queries made at a scrape.
const scrapeTimeout = 5 * time.Second

// QueueStats reads the outbound queue at scrape time: how many messages
// wait, and when the oldest arrived (zero when none).
type QueueStats func(ctx context.Context) (messages int, oldest time.Time, err error)

// WatchQueue adds postel_queue_messages and postel_queue_oldest_age_seconds,
// computed at each scrape by stats.
func (m *Metrics) WatchQueue(stats QueueStats) {
	if m == nil {
		return
	}
	m.reg.MustRegister(&queueCollector{stats: stats, now: time.Now})
}

var (
	queueMessagesDesc = prometheus.NewDesc("postel_queue_messages",
		"Messages in the outbound queue (read from the store at the scrape).", nil, nil)
	queueAgeDesc = prometheus.NewDesc("postel_queue_oldest_age_seconds",
		"Age of the oldest message in the outbound queue; 0 when it is empty.", nil, nil)
)

type queueCollector struct {
	stats QueueStats
	now   func() time.Time
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueMessagesDesc
	ch <- queueAgeDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	n, oldest, err := c.stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queueMessagesDesc, err)
		return
	}
	age := 0.0
	if n > 0 && !oldest.IsZero() {
		age = max(c.now().Sub(oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(queueMessagesDesc, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(queueAgeDesc, prometheus.GaugeValue, age)
}

// Cert is a certificate in service, as certs.Manager.Certificates lists it.
type Cert struct {
	Name     string // the name it is served for
	Source   string // "file", "self-signed", "acme"
	NotAfter time.Time
}

// WatchCertificates adds postel_certificate_expiry_timestamp_seconds, one
// series per certificate in service (name and source), read at each
// scrape from list.
func (m *Metrics) WatchCertificates(list func() []Cert) {
	if m == nil {
		return
	}
	m.reg.MustRegister(&certCollector{list: list})
}

var certExpiryDesc = prometheus.NewDesc("postel_certificate_expiry_timestamp_seconds",
	"When a certificate in service expires, in seconds since the Unix epoch (alert on it minus time()).",
	[]string{"name", "source"}, nil)

type certCollector struct{ list func() []Cert }

func (c *certCollector) Describe(ch chan<- *prometheus.Desc) { ch <- certExpiryDesc }

func (c *certCollector) Collect(ch chan<- prometheus.Metric) {
	seen := map[[2]string]bool{}
	for _, cert := range c.list() {
		k := [2]string{cert.Name, cert.Source}
		if seen[k] {
			continue
		}
		seen[k] = true
		ch <- prometheus.MustNewConstMetric(certExpiryDesc, prometheus.GaugeValue,
			float64(cert.NotAfter.Unix()), cert.Name, cert.Source)
	}
}
