package metrics

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"postel/internal/testutil/scrape"
)

// serve exposes m on a real socket and returns its /metrics URL.
func serve(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics"
}

// TestCounts: what the methods count is what a Prometheus parser reads
// back, series by series.
func TestCounts(t *testing.T) {
	m := New()
	imap := m.Service(ServiceIMAP)
	if m.Service(ServiceIMAP) != imap {
		t.Fatal("Service made twice")
	}
	imap.Accepted()
	imap.Accepted()
	imap.Accepted()
	imap.Closed()
	imap.Refused("conn_rate")
	imap.Evicted()
	imap.Bytes(100, 2000)
	imap.Bytes(5, 0)
	m.Service(ServiceSubmission).Received()
	m.Service(ServiceSubmission).Received()
	m.Login("imap", LoginOK)
	m.Login("pop3", LoginFailed)
	m.Login("pop3", LoginFailed)
	m.Login("smtp", LoginRefused)
	m.Recipient(OutcomeDelivered)
	m.Recipient(OutcomeQueued)
	m.Recipient(OutcomeQueued)
	m.Commit(3, 2*time.Millisecond)
	m.Commit(1, time.Millisecond)
	m.TraceDropped(7)

	f, err := scrape.Get(serve(t, m))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"postel_connections_accepted_total", []string{"service", "imap"}, 3},
		{"postel_connections_accepted_total", []string{"service", "pop3"}, 0},
		{"postel_connections_open", []string{"service", "imap"}, 2},
		{"postel_connections_refused_total", []string{"service", "imap", "limit", "conn_rate"}, 1},
		{"postel_connections_evicted_total", []string{"service", "imap"}, 1},
		{"postel_received_bytes_total", []string{"service", "imap"}, 105},
		{"postel_sent_bytes_total", []string{"service", "imap"}, 2000},
		{"postel_messages_received_total", []string{"service", "submission"}, 2},
		{"postel_messages_received_total", []string{"service", "smtp"}, 0},
		{"postel_logins_total", []string{"protocol", "imap", "result", "ok"}, 1},
		{"postel_logins_total", []string{"protocol", "pop3", "result", "failed"}, 2},
		{"postel_logins_total", []string{"protocol", "smtp", "result", "refused"}, 1},
		{"postel_logins_total", []string{"protocol", "smtp", "result", "ok"}, 0},
		{"postel_mail_recipients_total", []string{"outcome", "delivered"}, 1},
		{"postel_mail_recipients_total", []string{"outcome", "queued"}, 2},
		{"postel_mail_recipients_total", []string{"outcome", "bounced"}, 0},
		{"postel_store_commit_duration_seconds", nil, 2},
		{"postel_store_commit_writes", nil, 2},
		{"postel_trace_dropped_lines_total", nil, 7},
	} {
		got, ok := f.Value(c.name, c.labels...)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v; series: %v", c.name, c.labels, got, ok, c.want, f.Series(c.name))
		}
	}
	if h := f["postel_store_commit_writes"].GetMetric()[0].GetHistogram(); h.GetSampleSum() != 4 {
		t.Errorf("commit writes sum = %v, want 4", h.GetSampleSum())
	}
	if _, ok := f.Value("go_goroutines"); !ok {
		t.Error("no Go runtime metrics")
	}
}

// TestNil: a nil *Metrics and a nil *Service count nothing and do not
// panic, so that tests and admin commands need none.
func TestNil(t *testing.T) {
	var m *Metrics
	s := m.Service(ServiceSMTP)
	if s != nil {
		t.Fatal("nil Metrics gave a Service")
	}
	s.Accepted()
	s.Closed()
	s.Refused("max_conns")
	s.Evicted()
	s.Bytes(1, 1)
	s.Received()
	m.Login("imap", LoginOK)
	m.Recipient(OutcomeSent)
	m.Commit(1, time.Second)
	m.TraceDropped(1)
	m.WatchQueue(nil)
	m.WatchCertificates(nil)
}

// TestScrapeTime: the queue and certificate gauges are computed at each
// scrape; a failing queue query leaves the other metrics served.
func TestScrapeTime(t *testing.T) {
	m := New()
	now := time.Now()
	var n int
	var qerr error
	m.WatchQueue(func(context.Context) (int, time.Time, error) {
		if n == 0 {
			return 0, time.Time{}, qerr
		}
		return n, now.Add(-90 * time.Second), qerr
	})
	expiry := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	m.WatchCertificates(func() []Cert {
		return []Cert{
			{Name: "mx.example.org", Source: "file", NotAfter: expiry},
			{Name: "mta-sts.example.org", Source: "acme", NotAfter: expiry.Add(time.Hour)},
			{Name: "mx.example.org", Source: "file", NotAfter: expiry}, // listed twice: one series
		}
	})
	url := serve(t, m)

	for _, step := range []struct {
		n        int
		err      error
		messages float64
		minAge   float64
		present  bool
	}{
		{0, nil, 0, 0, true},
		{4, nil, 4, 90, true},
		{4, errors.New("database is closed"), 0, 0, false},
	} {
		n, qerr = step.n, step.err
		f, err := scrape.Get(url)
		if err != nil {
			t.Fatalf("n=%d: %v", step.n, err)
		}
		got, ok := f.Value("postel_queue_messages")
		age, _ := f.Value("postel_queue_oldest_age_seconds")
		if ok != step.present || got != step.messages || age < step.minAge || (step.minAge == 0 && age != 0) {
			t.Errorf("n=%d err=%v: queue messages %v (present %v), age %v", step.n, step.err, got, ok, age)
		}
		if v, ok := f.Value("postel_certificate_expiry_timestamp_seconds", "name", "mx.example.org", "source", "file"); !ok || v != float64(expiry.Unix()) {
			t.Errorf("certificate expiry %v (present %v), want %d", v, ok, expiry.Unix())
		}
		if got := len(f.Series("postel_certificate_expiry_timestamp_seconds")); got != 2 {
			t.Errorf("%d certificate series, want 2", got)
		}
	}
}
