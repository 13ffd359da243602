package imapserver

import (
	"slices"
	"testing"
)

// TestUIDOnlyRefusals: after ENABLE UIDONLY (RFC 9586 §3), every command
// that would take message sequence numbers is BAD [UIDREQUIRED] and runs
// nothing, while its UID form runs; without UIDONLY the same commands run.
func TestUIDOnlyRefusals(t *testing.T) {
	h := newHarness(t)
	h.put(h.alice, "INBOX", "Subject: one\r\n\r\n1\r\n")
	h.put(h.alice, "INBOX", "Subject: two\r\n\r\n2\r\n")
	refused := []string{
		"FETCH 1 (FLAGS)",
		"FETCH 1:* (UID)",
		"STORE 1 +FLAGS (\\Deleted)",
		"SEARCH ALL",
		"COPY 1 Trash",
		"MOVE 1 Trash",
		"SORT (DATE) UTF-8 ALL",
		"THREAD ORDEREDSUBJECT UTF-8 ALL",
		"UID SEARCH 1",
		"UID SEARCH OR 2 SEEN",
		"UID SEARCH NOT 1:*",
		"UID SORT (ARRIVAL) UTF-8 (UNSEEN 2)",
		"UID THREAD REFERENCES UTF-8 1:2",
	}
	const want = "T BAD [UIDREQUIRED] Message sequence numbers are not allowed after ENABLE UIDONLY"
	for _, uidonly := range []bool{true, false} {
		var r *raw
		for i, c := range refused {
			if i%3 == 0 { // a new session before too many BADs end one
				r = h.login()
				if uidonly {
					r.cmd("ENABLE UIDONLY")
				}
				r.cmd("SELECT INBOX")
			}
			got := r.cmd(c)
			if refusedNow := got[len(got)-1] == want; refusedNow != uidonly {
				t.Errorf("UIDONLY %v: %s: %q", uidonly, c, got)
			}
		}
		if !uidonly {
			continue
		}
		// Nothing ran: no flag, copy or move.
		if ms := h.messages(h.alice, "INBOX"); len(ms) != 2 || len(ms[0].Flags) != 0 {
			t.Fatalf("INBOX after the refused commands: %+v", ms)
		}
		if ms := h.messages(h.alice, "Trash"); len(ms) != 0 {
			t.Fatalf("Trash after the refused commands: %+v", ms)
		}
		// What names no message by number runs: the saved result
		// "$" holds UIDs (RFC 5182), EXPUNGE takes no numbers.
		r = h.login()
		r.cmd("ENABLE UIDONLY")
		r.cmd("SELECT INBOX")
		for _, c := range []string{"UID SEARCH RETURN (SAVE) ALL", "UID SEARCH $", "UID FETCH $ (FLAGS)", "UID STORE $ +FLAGS (\\Seen)", "EXPUNGE", "UID EXPUNGE 1:*", "CHECK"} {
			if got := r.cmd(c); !matchPrefix(got[len(got)-1], "T OK ") {
				t.Errorf("UIDONLY: %s: %q", c, got)
			}
		}
	}
}

// TestUIDOnlyUpdates: what another session does reaches a UIDONLY session
// keyed by UID (RFC 9586): flag changes as UIDFETCH, expunges as VANISHED
// (QRESYNC not enabled), new messages as EXISTS; IDLE too.
func TestUIDOnlyUpdates(t *testing.T) {
	h := newHarness(t)
	h.put(h.alice, "INBOX", "Subject: one\r\n\r\n1\r\n")
	h.put(h.alice, "INBOX", "Subject: two\r\n\r\n2\r\n")
	h.put(h.alice, "INBOX", "Subject: three\r\n\r\n3\r\n")
	u := h.login()
	// IMAP4rev2 too: no \Recent, which is not what this is about.
	if got := u.cmd("ENABLE IMAP4rev2 UIDONLY"); !slices.Equal(got, []string{"* ENABLED IMAP4rev2 UIDONLY", "T OK ENABLE completed"}) {
		t.Fatalf("ENABLE UIDONLY: %q", got)
	}
	u.cmd("SELECT INBOX")
	other := h.login()
	other.cmd("SELECT INBOX")

	other.cmd("STORE 3 +FLAGS (\\Flagged)")
	other.cmd("STORE 1 +FLAGS (\\Deleted)")
	other.cmd("EXPUNGE")
	if got := u.cmd("NOOP"); !slices.Equal(got, []string{"* VANISHED 1", "* 3 UIDFETCH (FLAGS (\\Flagged))", "T OK NOOP completed"}) {
		t.Fatalf("NOOP after another session's STORE and EXPUNGE: %q", got)
	}

	u.send("I IDLE")
	if got := u.line(); got != "+ idling" {
		t.Fatalf("IDLE: %q", got)
	}
	h.put(h.alice, "INBOX", "Subject: four\r\n\r\n4\r\n")
	if got := u.line(); got != "* 3 EXISTS" {
		t.Fatalf("IDLE after a delivery: %q", got)
	}
	other.cmd("STORE 1 +FLAGS (\\Seen)") // UID 2
	if got := u.line(); got != "* 2 UIDFETCH (FLAGS (\\Seen))" {
		t.Fatalf("IDLE after a flag change: %q", got)
	}
	u.send("DONE")
	if got := u.until("I "); got[len(got)-1] != "I OK IDLE completed" {
		t.Fatalf("DONE: %q", got)
	}
	// CONDSTORE's unsolicited FETCH keeps MODSEQ, and the UID heads it.
	u.cmd("UID FETCH 4 (MODSEQ)")
	other.cmd("STORE 3 +FLAGS (\\Answered)") // UID 4
	got := u.cmd("NOOP")
	if len(got) != 2 || !matchPrefix(got[0], "* 4 UIDFETCH (FLAGS (\\Answered) MODSEQ (") {
		t.Fatalf("NOOP with CONDSTORE on: %q", got)
	}
}

func matchPrefix(s, prefix string) bool { return len(s) >= len(prefix) && s[:len(prefix)] == prefix }
