package maillog

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"postel/internal/metrics"
	"postel/internal/testutil/scrape"
)

// TestRecord: each outcome is one line of fixed shape, and one count of
// its result.
func TestRecord(t *testing.T) {
	tests := []struct {
		e    Entry
		want string
	}{
		{Entry{ID: "abc.1", MessageID: "<m@x>", From: "a@example.net", To: "bob@example.org", Size: 1234,
			Result: Delivered, Mailbox: "INBOX", Delay: 1500 * time.Microsecond},
			`msg=mail id=abc.1 message_id=<m@x> from=a@example.net to=bob@example.org size=1234 result=delivered mailbox=INBOX delay=2ms`},
		{Entry{ID: "abc.2", QueueID: 17, From: "alice@example.org", To: "carol@example.net", Size: 99, Result: Queued},
			`msg=mail id=abc.2 queue_id=17 from=alice@example.org to=carol@example.net size=99 result=queued delay=0s`},
		{Entry{From: "", To: "nobody@example.org", Result: Refused, Code: 550, Reply: "5.1.1 No such user here", Reason: "no such user"},
			`msg=mail from=<> to=nobody@example.org result=refused code=550 reply="5.1.1 No such user here" reason="no such user" delay=0s`},
		{Entry{QueueID: 17, From: "alice@example.org", To: "carol@example.net", Size: 99, Result: Sent, MX: "mx.example.net",
			Code: 250, Reply: "2.0.0 Ok: queued as X", Delay: 3 * time.Second},
			`msg=mail queue_id=17 from=alice@example.org to=carol@example.net size=99 result=sent mx=mx.example.net code=250 reply="2.0.0 Ok: queued as X" delay=3s`},
		{Entry{QueueID: 18, From: "alice@example.org", To: "dave@example.net", Result: Deferred, Code: 451, Reply: "4.4.1 cannot connect"},
			`msg=mail queue_id=18 from=alice@example.org to=dave@example.net result=deferred code=451 reply="4.4.1 cannot connect" delay=0s`},
		{Entry{QueueID: 18, From: "alice@example.org", To: "dave@example.net", Result: Bounced, Code: 550, Reply: "5.1.1 unknown", Delay: time.Hour},
			`msg=mail queue_id=18 from=alice@example.org to=dave@example.net result=bounced code=550 reply="5.1.1 unknown" delay=1h0m0s`},
	}
	m := metrics.New()
	for _, tc := range tests {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
		Record(log, m, tc.e)
		if got := strings.TrimSuffix(strings.TrimPrefix(buf.String(), "level=INFO "), "\n"); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
	Record(nil, m, Entry{Result: Delivered}) // counted without a log
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	f, err := scrape.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for outcome, want := range map[string]float64{Delivered: 2, Queued: 1, Refused: 1, Sent: 1, Deferred: 1, Bounced: 1} {
		if got, _ := f.Value("postel_mail_recipients_total", "outcome", outcome); got != want {
			t.Errorf("%s: %v, want %v", outcome, got, want)
		}
	}
}
