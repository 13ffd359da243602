package imapserver

import (
	"context"
	"strings"
	"testing"
)

// TestCatenateBounds: the assembled message stays within APPENDLIMIT
// (NO [TOOBIG], RFC 4469: counted over TEXT and URL parts, refused
// before the continuation of the literal that would pass it) and within
// the account's quota (NO [OVERQUOTA]); a CATENATE has at most 256
// parts (NO [LIMIT]) and URLs of at most 4096 octets (BAD). Nothing is
// stored after a refusal, and the session goes on.
func TestCatenateBounds(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.AppendLimit = 100 })
	h.put(h.alice, "INBOX", "Subject: forty octets long\r\n\r\n12345678\r\n")
	r := h.login()

	// 60 octets of TEXT, then a URL of 40: 100 fits exactly.
	text := "Subject: s\r\n\r\n" + strings.Repeat("x", 44) + "\r\n"
	r.send(`A APPEND Drafts CATENATE (TEXT {60+}`)
	r.send(text[:58])
	r.send(` URL "/INBOX/;UID=1")`)
	if got := r.until("A "); !strings.HasPrefix(got[len(got)-1], "A OK [APPENDUID ") {
		t.Fatalf("exactly APPENDLIMIT: %q", got)
	}
	// One octet more in a URL part.
	r.send(`B APPEND Drafts CATENATE (TEXT {61+}`)
	r.send(text[:58] + "y")
	r.send(` URL "/INBOX/;UID=1")`)
	if got := r.until("B "); got[len(got)-1] != "B NO [TOOBIG] CATENATE message of 101 octets or more too large (APPENDLIMIT 100)" {
		t.Fatalf("URL past APPENDLIMIT: %q", got)
	}
	// A synchronizing TEXT literal that would pass it gets no continuation.
	r.send(`C APPEND Drafts CATENATE (URL "/INBOX/;UID=1" URL "/INBOX/;UID=1" TEXT {21}`)
	if got := r.line(); got != "C NO [TOOBIG] CATENATE message of 101 octets or more too large (APPENDLIMIT 100)" {
		t.Fatalf("TEXT past APPENDLIMIT: %q", got)
	}
	if n := len(h.messages(h.alice, "Drafts")); n != 1 {
		t.Fatalf("Drafts holds %d messages after the refusals, want 1", n)
	}

	// Parts and URL length.
	many := strings.Repeat(` URL "/INBOX/;UID=1/;PARTIAL=40"`, 257) // 0 octets each
	if got := r.cmd(`APPEND Drafts CATENATE (` + many[1:] + `)`); got[len(got)-1] != "T NO [LIMIT] too many CATENATE parts (limit 256)" {
		t.Fatalf("257 parts: %q", got)
	}
	long := `"/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(` + strings.Repeat("a", 4096) + `)"`
	if got := r.cmd(`APPEND Drafts CATENATE (URL ` + long + `)`); got[len(got)-1] != "T BAD URL too long (limit 4096 octets)" {
		t.Fatalf("long URL: %q", got)
	}

	// Quota: the URL's octets count.
	if err := h.st.SetQuota(context.Background(), h.alice.Address, 90); err != nil {
		t.Fatal(err)
	}
	if got := r.cmd(`APPEND Drafts CATENATE (URL "/INBOX/;UID=1")`); !strings.HasPrefix(got[len(got)-1], "T NO [OVERQUOTA] ") {
		t.Fatalf("over quota: %q", got)
	}
	if got := r.cmd(`NOOP`); got[len(got)-1] != "T OK NOOP completed" {
		t.Fatalf("after the refusals: %q", got)
	}
}
