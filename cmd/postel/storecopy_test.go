package main

import (
	"strings"
	"testing"
	"time"

	"postel/internal/storecopy"
)

// TestRedactDSN: the password of a DSN never shows, in either form.
func TestRedactDSN(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"postgres://postel:s3cret@db.example:5432/postel?sslmode=verify-full", "postgres://postel:xxxxx@db.example:5432/postel?sslmode=verify-full"},
		{"postgresql://postel@db/postel?password=s3cret&sslmode=require", "postgresql://postel@db/postel?password=xxxxx&sslmode=require"},
		{"postgres://postel@db/postel", "postgres://postel@db/postel"},
		{"host=db dbname=postel user=postel password=s3cret sslmode=require", "host=db dbname=postel user=postel password=xxxxx sslmode=require"},
		{"host=db password = 'se cr\\'et' dbname=postel", "host=db password=xxxxx dbname=postel"},
		{"host=db dbname=postel", "host=db dbname=postel"},
	} {
		if got := redactDSN(c.in); got != c.want {
			t.Errorf("redactDSN(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestProgressBar: on a terminal the bar is redrawn in place at most every
// 100 ms, and always at the end; elsewhere a plain line every 2 s.
func TestProgressBar(t *testing.T) {
	var tty strings.Builder
	b := &progressBar{w: &tty, tty: true, start: time.Now()}
	for i := int64(1); i <= 10; i++ {
		b.update(storecopy.Progress{Messages: i, TotalMessages: 10, Bytes: i << 20, TotalBytes: 10 << 20})
	}
	b.end()
	out := tty.String()
	if strings.Count(out, "\r[") != 2 || !strings.Contains(out, "\r[###"+strings.Repeat(".", 27)+"]  10%  1/10 messages  1.0 MiB/10.0 MiB") ||
		!strings.Contains(out, "\r["+strings.Repeat("#", 30)+"] 100%  10/10 messages  10.0 MiB/10.0 MiB") || !strings.HasSuffix(out, "\n") {
		t.Fatalf("terminal:\n%q", out)
	}
	var plain strings.Builder
	b = &progressBar{w: &plain, start: time.Now()}
	for i := int64(1); i <= 10; i++ {
		b.update(storecopy.Progress{Messages: i, TotalMessages: 10, Bytes: i << 10, TotalBytes: 10 << 10})
	}
	b.end()
	if out := plain.String(); out != "copied 1/10 messages (1 KiB)\ncopied 10/10 messages (10 KiB)\n" {
		t.Fatalf("not a terminal:\n%q", out)
	}
}
