package imapserver

import (
	"os"
	"strings"
	"testing"

	"postel/internal/testutil"
)

// TestFetchItems checks FETCH items not covered by the wire scripts:
// BINARY as a literal8 when the decoded octets hold NUL, UNKNOWN-CTE,
// the RFC822 forms, SAVEDATE, MODSEQ, and FLAGS added when BODY[] sets
// \Seen.
func TestFetchItems(t *testing.T) {
	h := newHarness(t)
	nul, err := os.ReadFile("testdata/messages/binary-nul.eml")
	if err != nil {
		t.Fatal(err)
	}
	h.put(h.alice, "INBOX", testutil.CRLF(string(nul)))
	h.put(h.alice, "INBOX", testutil.CRLF("Subject: uu\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n`\nend\n"))
	h.put(h.alice, "INBOX", testMsg)
	r := h.login()
	r.cmd("SELECT INBOX")
	tests := []struct {
		cmd  string
		want []string // the response lines, joined by "\n" after the literals' octets
	}{
		{"FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])", []string{"* 1 FETCH (BINARY[1] ~{5}", "\x00\x01\x02\x03\x04 BINARY.SIZE[1] 5)", "T OK FETCH completed"}},
		{"FETCH 2 (BINARY.PEEK[1])", []string{"T NO [UNKNOWN-CTE] Cannot decode the content transfer encoding"}},
		{"FETCH 2 (BODY.PEEK[1])", []string{"* 2 FETCH (BODY[1] {21}", "begin 644 x", "`", "end", ")", "T OK FETCH completed"}},
		{"FETCH 3 (RFC822.HEADER)", []string{"* 3 FETCH (RFC822.HEADER {148}", "From: Bob <bob@example.org>", "To: alice@example.org",
			"Subject: Hello there", "Date: Mon, 04 Mar 2024 08:00:00 +0000", "Message-ID: <hello@example.org>", "", ")", "T OK FETCH completed"}},
		{"FETCH 3 (FLAGS SAVEDATE)", []string{`* 3 FETCH (FLAGS (\Recent) SAVEDATE "${*}")`, "T OK FETCH completed"}},
		{"FETCH 3 (RFC822.TEXT)", []string{"* 3 FETCH (RFC822.TEXT {28}", "Hi Alice,", "lunch tomorrow?", " FLAGS (\\Seen \\Recent))", "T OK FETCH completed"}},
		{"UID FETCH 3 (RFC822.SIZE MODSEQ)", []string{"* OK [HIGHESTMODSEQ ${*}] Highest", "* 3 FETCH (UID 3 RFC822.SIZE 176 MODSEQ (${*}))", "T OK FETCH completed"}},
		{"FETCH 3 (RFC822)", []string{"* 3 FETCH (RFC822 {176}", "From: Bob <bob@example.org>", "To: alice@example.org",
			"Subject: Hello there", "Date: Mon, 04 Mar 2024 08:00:00 +0000", "Message-ID: <hello@example.org>", "", "Hi Alice,", "lunch tomorrow?", ")", "T OK FETCH completed"}},
	}
	for _, tc := range tests {
		got := r.cmd(tc.cmd)
		ok := len(got) == len(tc.want)
		vars := testutil.Vars{}
		for i := 0; ok && i < len(got); i++ {
			ok = vars.Match(tc.want[i], got[i])
		}
		if !ok {
			t.Errorf("%s:\n got %q\nwant %q", tc.cmd, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}
