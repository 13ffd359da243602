package imapserver

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// dated is a message with a Date and a Subject, CRLF.
func dated(day int, subject string) string {
	return fmt.Sprintf("From: a@example.org\r\nTo: b@example.org\r\nSubject: %s\r\nDate: %02d Mar 2024 10:00:00 +0000\r\n\r\nbody\r\n", subject, day)
}

// wantLines checks the lines a command got, exactly and in order.
func wantLines(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// selectInbox selects INBOX over r and returns the SELECT's lines.
func selectInbox(t *testing.T, r *raw) {
	t.Helper()
	if l := r.cmd("SELECT INBOX"); !strings.HasPrefix(l[len(l)-1], "T OK") {
		t.Fatalf("SELECT: %q", l)
	}
}

// TestContextSearch: UID SEARCH RETURN (UPDATE) keeps its result live
// (RFC 5267 §4.3): flag changes by another session and by the client's
// own STORE, new mail and expunges are followed by ESEARCH ADDTO and
// REMOVEFROM, a REMOVEFROM before the EXPUNGE it is due to, until
// CANCELUPDATE.
func TestContextSearch(t *testing.T) {
	h := newHarness(t)
	for d := 1; d <= 3; d++ {
		h.put(h.alice, "INBOX", dated(d, "m"))
	}
	r := h.login()
	selectInbox(t, r)
	other := h.login()
	selectInbox(t, other)

	r.send("C1 UID SEARCH RETURN (UPDATE) UNSEEN")
	wantLines(t, "search", r.until("C1 "), `* ESEARCH (TAG "C1") UID ALL 1:3`, "C1 OK SEARCH completed")

	// RFC 5267 §4.3: a tag in use by a live context is refused.
	r.send("C1 SEARCH RETURN (UPDATE) ALL")
	wantLines(t, "tag reuse", r.until("C1 "), "C1 BAD Tag reuse: a context with this tag is live")

	// Another session marks 2 seen: it leaves the result.
	other.cmd(`STORE 2 +FLAGS.SILENT (\Seen)`)
	wantLines(t, "seen elsewhere", r.cmd("NOOP"),
		`* 2 FETCH (FLAGS (\Seen \Recent))`, `* ESEARCH (TAG "C1") UID REMOVEFROM (0 2)`, "T OK NOOP completed")

	// New mail enters it, after its EXISTS (§4.3.3).
	h.put(h.alice, "INBOX", dated(4, "m"))
	h.put(h.alice, "INBOX", dated(5, "m"), `\Seen`)
	wantLines(t, "new mail", r.cmd("NOOP"),
		"* 5 EXISTS", "* 5 RECENT", `* ESEARCH (TAG "C1") UID ADDTO (0 4)`, "T OK NOOP completed")

	// The client's own STORE: 2 comes back, 3 goes; told after the
	// FETCH responses of the STORE.
	wantLines(t, "own store", r.cmd(`STORE 2,3 FLAGS (\Seen \Flagged)`),
		`* 2 FETCH (FLAGS (\Flagged \Seen \Recent))`, `* 3 FETCH (FLAGS (\Flagged \Seen \Recent))`,
		`* ESEARCH (TAG "C1") UID REMOVEFROM (0 3)`, "T OK STORE completed")
	wantLines(t, "own store", r.cmd(`STORE 2 -FLAGS (\Seen)`),
		`* 2 FETCH (FLAGS (\Flagged \Recent))`, `* ESEARCH (TAG "C1") UID ADDTO (0 2)`, "T OK STORE completed")

	// Expunged elsewhere: REMOVEFROM comes before the EXPUNGE (§4.3.4).
	other.cmd(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	other.cmd("EXPUNGE")
	wantLines(t, "expunge elsewhere", r.cmd("NOOP"),
		`* ESEARCH (TAG "C1") UID REMOVEFROM (0 1)`, "* 1 EXPUNGE", "T OK NOOP completed")

	// CANCELUPDATE of an unknown tag fails; of C1, ends the updates.
	wantLines(t, "cancel unknown", r.cmd(`CANCELUPDATE "C1" "nope"`), "T NO No search context with tag nope")
	wantLines(t, "cancel", r.cmd(`CANCELUPDATE "C1"`), "T OK CANCELUPDATE completed")
	other.cmd(`STORE 1 +FLAGS.SILENT (\Seen)`)
	wantLines(t, "after cancel", r.cmd("NOOP"), `* 1 FETCH (FLAGS (\Flagged \Seen \Recent))`, "T OK NOOP completed")
	// The tag is free again.
	r.send("C1 SEARCH RETURN (UPDATE COUNT) UNSEEN")
	wantLines(t, "tag free", r.until("C1 "), `* ESEARCH (TAG "C1") COUNT 1`, "C1 OK SEARCH completed")
}

// TestContextSearchSeqNumbers: a SEARCH (not UID) context speaks in
// message sequence numbers, and a program that names messages by
// position is searched again in full, since an expunge renumbers them.
func TestContextSearchSeqNumbers(t *testing.T) {
	h := newHarness(t)
	for d := 1; d <= 4; d++ {
		h.put(h.alice, "INBOX", dated(d, "m"))
	}
	r := h.login()
	selectInbox(t, r)
	other := h.login()
	selectInbox(t, other)
	r.send("P1 SEARCH RETURN (UPDATE) 3:*")
	wantLines(t, "search", r.until("P1 "), `* ESEARCH (TAG "P1") ALL 3:4`, "P1 OK SEARCH completed")
	other.cmd(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	other.cmd("EXPUNGE")
	// Message 1 goes: the old 3 is now 2, outside 3:*.
	wantLines(t, "renumbered", r.cmd("NOOP"), "* 1 EXPUNGE", `* ESEARCH (TAG "P1") REMOVEFROM (0 2)`, "T OK NOOP completed")
	h.put(h.alice, "INBOX", dated(5, "m"))
	wantLines(t, "new", r.cmd("NOOP"), "* 4 EXISTS", "* 4 RECENT", `* ESEARCH (TAG "P1") ADDTO (0 4)`, "T OK NOOP completed")
	// FETCH (a sequence-number command) may not be told of expunges; the
	// REMOVEFROM comes with the EXPUNGE, before it.
	other.cmd("NOOP")
	other.cmd(`STORE 4 +FLAGS.SILENT (\Deleted)`)
	other.cmd("EXPUNGE")
	wantLines(t, "fetch", r.cmd("FETCH 1 UID"), "* 1 FETCH (UID 2)", "T OK FETCH completed")
	wantLines(t, "noop", r.cmd("NOOP"), `* ESEARCH (TAG "P1") REMOVEFROM (0 4)`, "* 4 EXPUNGE", "T OK NOOP completed")
	// A new "$" changes a program that uses it.
	r.send("P2 UID SEARCH RETURN (UPDATE) $")
	wantLines(t, "saved", r.until("P2 "), `* ESEARCH (TAG "P2") UID`, "P2 OK SEARCH completed")
	wantLines(t, "save", r.cmd("SEARCH RETURN (SAVE) 1"), `* ESEARCH (TAG "P2") UID ADDTO (0 2)`, "T OK SEARCH completed")
}

// TestContextSort: SORT RETURN (UPDATE) (CONTEXT=SORT) puts new results at
// their place in the sort order and removes results at theirs (RFC 5267
// §4.3.3, §4.3.4), runs of adjacent results as one pair.
func TestContextSort(t *testing.T) {
	h := newHarness(t)
	for _, d := range []int{10, 20, 30, 40} {
		h.put(h.alice, "INBOX", dated(d%28+1, "m")) // days 11, 21, 3, 13
	}
	r := h.login()
	selectInbox(t, r)
	other := h.login()
	selectInbox(t, other)
	// By date: 3 (3rd), 1 (11th), 4 (13th), 2 (21st).
	r.send("S1 SORT RETURN (UPDATE MIN) (DATE) UTF-8 UNSEEN")
	wantLines(t, "sort", r.until("S1 "), `* ESEARCH (TAG "S1") MIN 3`, "S1 OK SORT completed")
	r.send("S2 UID SORT RETURN (UPDATE ALL) (REVERSE DATE) UTF-8 UNSEEN")
	wantLines(t, "uid sort", r.until("S2 "), `* ESEARCH (TAG "S2") UID ALL 2,4,1,3`, "S2 OK SORT completed")

	// New mail of the 12th and the 1st: between 1 and 4, and first.
	h.put(h.alice, "INBOX", dated(12, "m"))
	h.put(h.alice, "INBOX", dated(1, "m"))
	wantLines(t, "new mail", r.cmd("NOOP"), "* 6 EXISTS", "* 6 RECENT",
		`* ESEARCH (TAG "S1") ADDTO (1 6 4 5)`,
		`* ESEARCH (TAG "S2") UID ADDTO (3 5 6 6)`,
		"T OK NOOP completed")
	// Now 6, 3, 1, 5, 4, 2. 1 and 5 are seen elsewhere (adjacent), and 2.
	other.cmd("NOOP")
	other.cmd(`STORE 1,5,2 +FLAGS.SILENT (\Seen)`)
	wantLines(t, "seen", r.cmd("NOOP"),
		`* 1 FETCH (FLAGS (\Seen \Recent))`, `* 2 FETCH (FLAGS (\Seen \Recent))`, `* 5 FETCH (FLAGS (\Seen \Recent))`,
		`* ESEARCH (TAG "S1") REMOVEFROM (3 1,5 4 2)`,
		`* ESEARCH (TAG "S2") UID REMOVEFROM (1 2 2 5,1)`,
		"T OK NOOP completed")
	// Expunging 3 (first in S1, last in S2) comes before its EXPUNGE.
	other.cmd(`STORE 3 +FLAGS.SILENT (\Deleted)`)
	other.cmd("EXPUNGE")
	wantLines(t, "expunge", r.cmd("UID FETCH 1 UID"),
		`* ESEARCH (TAG "S1") REMOVEFROM (2 3)`,
		`* ESEARCH (TAG "S2") UID REMOVEFROM (2 3)`,
		"* 3 EXPUNGE", "* 1 FETCH (UID 1)", "T OK FETCH completed")
	wantLines(t, "after", r.cmd("SORT RETURN () (DATE) UTF-8 UNSEEN"), `* ESEARCH (TAG "T") ALL 5,3`, "T OK SORT completed")
}

// TestContextLimit: past maxContexts live contexts, a search is answered
// in full but not kept: an untagged NO [NOUPDATE "tag"] (RFC 5267 §4.3.1).
func TestContextLimit(t *testing.T) {
	h := newHarness(t)
	h.put(h.alice, "INBOX", dated(1, "m"))
	r := h.login()
	selectInbox(t, r)
	for i := range maxContexts {
		tag := fmt.Sprintf("U%d", i)
		r.send(tag + " SEARCH RETURN (UPDATE COUNT) ALL")
		wantLines(t, "context", r.until(tag+" "), `* ESEARCH (TAG "`+tag+`") COUNT 1`, tag+" OK SEARCH completed")
	}
	r.send("X SORT RETURN (UPDATE COUNT) (DATE) UTF-8 ALL")
	wantLines(t, "refused", r.until("X "), `* ESEARCH (TAG "X") COUNT 1`,
		`* NO [NOUPDATE "X"] Too many contexts, this search will not be updated`, "X OK SORT completed")
	// Cancelling one makes room.
	wantLines(t, "cancel", r.cmd(`CANCELUPDATE "U0" "U1"`), "T OK CANCELUPDATE completed")
	r.send("Y SORT RETURN (UPDATE COUNT) (DATE) UTF-8 ALL")
	wantLines(t, "room", r.until("Y "), `* ESEARCH (TAG "Y") COUNT 1`, "Y OK SORT completed")
	// A new selection ends every context: the tag is free there.
	selectInbox(t, r)
	r.send("U2 SEARCH RETURN (UPDATE COUNT) ALL")
	wantLines(t, "reselected", r.until("U2 "), `* ESEARCH (TAG "U2") COUNT 1`, "U2 OK SEARCH completed")
	// CANCELUPDATE needs a selected mailbox and a quoted tag.
	wantLines(t, "quoted", r.cmd("CANCELUPDATE U2"), `T BAD expected '"' near "U2"`)
}

// TestContextIdle: during IDLE, the updates of a context come with the
// EXISTS of new mail (RFC 5267 §4.3.2: "when the client is using the
// IDLE facility").
func TestContextIdle(t *testing.T) {
	h := newHarness(t)
	h.put(h.alice, "INBOX", dated(1, "m"))
	r := h.login()
	selectInbox(t, r)
	r.send("I1 UID SEARCH RETURN (UPDATE) SUBJECT hello")
	wantLines(t, "search", r.until("I1 "), `* ESEARCH (TAG "I1") UID`, "I1 OK SEARCH completed")
	r.send("I2 IDLE")
	if l := r.line(); l != "+ idling" {
		t.Fatalf("IDLE: %q", l)
	}
	h.put(h.alice, "INBOX", dated(2, "hello there"))
	if l := r.line(); l != "* 2 EXISTS" {
		t.Fatalf("got %q", l)
	}
	if l := r.line(); l != "* 2 RECENT" { // RFC 3501 §7.3.2
		t.Fatalf("got %q", l)
	}
	if l := r.line(); l != `* ESEARCH (TAG "I1") UID ADDTO (0 2)` {
		t.Fatalf("got %q", l)
	}
	r.send("DONE")
	wantLines(t, "done", r.until("I2 "), "I2 OK IDLE completed")
}

// TestContextTimed: a program with YOUNGER (RFC 5032) changes as time
// passes, with no change to the mailbox: it is searched again at an
// update once a second has passed.
func TestContextTimed(t *testing.T) {
	h := newHarness(t)
	r := h.login()
	body := dated(1, "m") // APPEND: its internal date is now
	r.send(fmt.Sprintf("A APPEND INBOX {%d+}\r\n%s", len(body), body))
	if l := r.until("A "); !strings.HasPrefix(l[len(l)-1], "A OK") {
		t.Fatalf("APPEND: %q", l)
	}
	selectInbox(t, r)
	r.send("Y1 UID SEARCH RETURN (UPDATE) YOUNGER 3")
	wantLines(t, "search", r.until("Y1 "), `* ESEARCH (TAG "Y1") UID ALL 1`, "Y1 OK SEARCH completed")
	time.Sleep(4 * time.Second)
	wantLines(t, "later", r.cmd("NOOP"), `* ESEARCH (TAG "Y1") UID REMOVEFROM (0 1)`, "T OK NOOP completed")
}
