package queue

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"postel/internal/store"
)

func testDSN(action string, rcpts ...dsnRcpt) *dsn {
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	return &dsn{hostname: "mail.example.org", sender: "alice@example.org", arrival: now.Add(-time.Hour), now: now,
		retryUntil: now.Add(96 * time.Hour), action: action, rcpts: rcpts}
}

func writeTestDSN(t testing.TB, d *dsn, orig string) string {
	t.Helper()
	var b bytes.Buffer
	if err := d.write(&b, strings.NewReader(orig), int64(len(orig))); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestDSNParts(t *testing.T) {
	failed := dsnRcpt{rcpt: store.QueueRcpt{Address: "bob@example.net"}, action: actionFailed,
		reply: reply{code: 550, status: "5.1.1", text: "unknown", mta: "mx.example.net"}}
	tests := []struct {
		name  string
		d     *dsn
		types string
		has   []string
		lacks []string
	}{
		{"failure, headers", testDSN(actionFailed, failed),
			"text/plain message/delivery-status text/rfc822-headers",
			[]string{"Subject: Undelivered Mail", "Arrival-Date: Fri, 02 Jan 2026 14:04:05 +0000", "Last-Attempt-Date: Fri, 02 Jan 2026 15:04:05 +0000"},
			[]string{"Hello Bob", "Will-Retry-Until"}},
		{"failure, full", func() *dsn { d := testDSN(actionFailed, failed); d.full = true; return d }(),
			"text/plain message/delivery-status message/rfc822", []string{"Hello Bob"}, nil},
		{"delay ignores RET=FULL", func() *dsn {
			r := failed
			r.action, r.reply = actionDelayed, reply{code: 451, status: "4.4.1", text: "cannot connect"}
			d := testDSN(actionDelayed, r)
			d.full = true
			return d
		}(), "text/plain message/delivery-status text/rfc822-headers",
			[]string{"Action: delayed", "Will-Retry-Until: Tue, 06 Jan 2026 15:04:05 +0000", "Diagnostic-Code: X-Postel; cannot connect"},
			[]string{"Hello Bob", "Remote-MTA"}},
		{"SMTPUTF8", func() *dsn {
			r := failed
			r.rcpt.Address = "bøb@example.net"
			d := testDSN(actionFailed, r)
			d.utf8 = true
			return d
		}(), "text/plain message/global-delivery-status message/global-headers",
			[]string{"Final-Recipient: utf-8; bøb@example.net", "report-type=global-delivery-status"}, nil},
		{"non-ASCII without SMTPUTF8", func() *dsn {
			r := failed
			r.rcpt.Address = "bøb@example.net"
			return testDSN(actionFailed, r)
		}(), "text/plain message/delivery-status text/rfc822-headers",
			[]string{"Final-Recipient: rfc822; b?b@example.net"}, nil},
	}
	for _, tt := range tests {
		raw := writeTestDSN(t, tt.d, testMessage)
		p := parseDSN(t, raw)
		if got := strings.Join(p.types, " "); got != tt.types {
			t.Errorf("%s: parts %s, want %s", tt.name, got, tt.types)
		}
		contains(t, tt.name, raw, tt.has...)
		for _, s := range tt.lacks {
			if strings.Contains(raw, s) {
				t.Errorf("%s: DSN contains %q", tt.name, s)
			}
		}
	}
}

func TestOriginalHeaders(t *testing.T) {
	tests := []struct{ in, want string }{
		{testMessage, strings.Split(testMessage, "\r\n\r\n")[0] + "\r\n"},
		{"A: 1\nB: 2\n\nbody", "A: 1\r\nB: 2\r\n"},
		{"A: 1\r\nB: x\ry\r\n", "A: 1\r\nB: xy\r\n"},
		{"A: 1\r\nB: no newline", "A: 1\r\nB: no newline\r\n"},
		{"", ""},
		{"\r\nbody", ""},
	}
	for _, tt := range tests {
		if got := string(originalHeaders(strings.NewReader(tt.in), int64(len(tt.in)))); got != tt.want {
			t.Errorf("originalHeaders(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Beyond the bound, whole lines only.
	long := strings.Repeat("X-Long: "+strings.Repeat("x", 90)+"\r\n", maxDSNHeaders/50)
	got := originalHeaders(strings.NewReader(long), int64(len(long)))
	if len(got) > maxDSNHeaders || !bytes.HasSuffix(got, []byte("x\r\n")) || len(got)%100 != 0 {
		t.Errorf("bounded headers: %d bytes, ending %q", len(got), got[max(0, len(got)-10):])
	}
}

// A boundary found in the returned headers is replaced.
func TestDSNBoundaryCollision(t *testing.T) {
	d := testDSN(actionFailed, dsnRcpt{rcpt: store.QueueRcpt{Address: "b@example.net"}, action: actionFailed, reply: replyLocal("x")})
	d.boundary = "=_fixed"
	raw := writeTestDSN(t, d, "X-Trap: --=_fixed\r\n\r\nbody\r\n")
	if d.boundary == "=_fixed" {
		t.Fatal("colliding boundary kept")
	}
	parseDSN(t, raw)
}

// FuzzDSN writes DSNs for arbitrary original messages and replies: they
// always parse as a multipart/report of three parts, with one
// Final-Recipient per recipient.
func FuzzDSN(f *testing.F) {
	f.Add([]byte(testMessage), "no such user", "bob@example.net", false, false)
	f.Add([]byte("X: --=_\r\n\r\n"), "a\r\nb", "b\x00@x", true, true)
	f.Add([]byte("\xff\xfe: \r\r\n\n\n"), strings.Repeat("é", 300), "ü@example", false, true)
	f.Fuzz(func(t *testing.T, orig []byte, text, addr string, full, utf8 bool) {
		d := testDSN(actionFailed,
			dsnRcpt{rcpt: store.QueueRcpt{Address: addr, ORcpt: "rfc822;" + addr}, action: actionFailed, reply: reply{code: 550, status: "5.0.0", text: clean(text), mta: "mx"}},
			dsnRcpt{rcpt: store.QueueRcpt{Address: "x@example.net"}, action: actionFailed, reply: replyLocal(text)},
		)
		d.full, d.utf8 = full, utf8
		var b bytes.Buffer
		if err := d.write(&b, bytes.NewReader(orig), int64(len(orig))); err != nil {
			t.Fatal(err)
		}
		if full && bytes.Contains(orig, []byte("--"+d.boundary)) {
			return // the returned message itself contains the random boundary
		}
		p := parseDSN(t, b.String())
		if n := strings.Count(p.status, "Final-Recipient:"); n != 2 {
			t.Fatalf("%d Final-Recipient fields:\n%s", n, p.status)
		}
		hdr, _, _ := strings.Cut(b.String(), "\r\n\r\n")
		for _, line := range strings.Split(hdr, "\r\n") {
			if len(line) > 998 {
				t.Fatalf("header line of %d octets", len(line))
			}
		}
	})
}
