package imapserver

import (
	"slices"
	"testing"
)

// TestNotifySelectedMuted: NOTIFY SET without a SELECTED group means the
// client wants no message event of the selected mailbox (RFC 5465 §3.1:
// the same as SELECTED NONE), and NOTIFY NONE none at all: the EXISTS,
// EXPUNGE and FETCH that base IMAP sends at the end of commands stop too,
// and message numbers stay as the client knows them. The session's own
// STORE and EXPUNGE still answer with what they did; a NOTIFY SET with a
// SELECTED group brings the changes kept back at once (its implicit
// NOOP, §3.1).
func TestNotifySelectedMuted(t *testing.T) {
	h := newHarness(t)
	a := h.login()
	a.cmd("ENABLE IMAP4rev2") // no RECENT
	b := h.login()
	appendTo(t, b, "INBOX", notifyMsg)
	appendTo(t, b, "INBOX", notifyMsg)
	a.cmd("SELECT INBOX")
	b.cmd("SELECT INBOX")
	onlyOK := func(what string, got []string) {
		t.Helper()
		if len(got) != 1 {
			t.Fatalf("%s: %q, want the tagged OK only", what, got)
		}
	}

	if got := a.cmd("NOTIFY SET (PERSONAL (MessageNew MessageExpunge FlagChange))"); got[len(got)-1] != "T OK NOTIFY completed" {
		t.Fatalf("NOTIFY: %q", got)
	}
	appendTo(t, b, "INBOX", notifyMsg)        // UID 3
	b.cmd(`STORE 1 +FLAGS.SILENT (\Flagged)`) // UID 1
	b.cmd(`STORE 2 +FLAGS.SILENT (\Deleted)`) // UID 2
	b.cmd("EXPUNGE")
	a.quiet()
	onlyOK("NOOP without a SELECTED group", a.cmd("NOOP"))
	if got := a.cmd("UID FETCH 1:* (UID)"); !slices.Equal(got[:len(got)-1], []string{"* 1 FETCH (UID 1)", "* 2 FETCH (UID 2)"}) {
		t.Fatalf("UID FETCH: %q, want the two messages a was told of", got)
	}
	// Its own commands answer as ever.
	if got := a.cmd(`STORE 1 +FLAGS (\Deleted)`); len(got) != 2 || got[0] != `* 1 FETCH (FLAGS (\Deleted \Flagged))` {
		t.Fatalf("STORE: %q", got)
	}
	if got := a.cmd("EXPUNGE"); !slices.Equal(got[:len(got)-1], []string{"* 1 EXPUNGE"}) {
		t.Fatalf("EXPUNGE: %q, want its own expunge only", got)
	}

	// SELECTED again: the expunge of UID 2 and the new UID 3 at once.
	if got := a.cmd("NOTIFY SET (SELECTED (MessageNew MessageExpunge))"); !slices.Equal(got, []string{"* 1 EXPUNGE", "* 1 EXISTS", "T OK NOTIFY completed"}) {
		t.Fatalf("NOTIFY SET SELECTED: %q", got)
	}

	// NOTIFY NONE: nothing of the selected mailbox either, in IDLE too.
	a.cmd("NOTIFY NONE")
	appendTo(t, b, "INBOX", notifyMsg) // UID 4
	a.quiet()
	onlyOK("NOOP after NOTIFY NONE", a.cmd("NOOP"))
	a.send("I IDLE")
	a.expectLine(`\+ .*`)
	appendTo(t, b, "INBOX", notifyMsg) // UID 5
	a.quiet()
	a.send("DONE")
	a.expectLine(`I OK IDLE completed`)

	// SELECTED NONE is the same as no SELECTED group.
	a.cmd("NOTIFY SET (SELECTED NONE) (PERSONAL (MessageNew MessageExpunge))")
	onlyOK("NOOP under SELECTED NONE", a.cmd("NOOP"))
	if got := a.cmd("NOTIFY SET (SELECTED-DELAYED (MessageNew MessageExpunge))"); !slices.Equal(got, []string{"* 3 EXISTS", "T OK NOTIFY completed"}) {
		t.Fatalf("NOTIFY SET SELECTED-DELAYED: %q", got)
	}

	// The deletion of the selected mailbox still ends the session, as in
	// base IMAP.
	b.cmd("CREATE Box")
	appendTo(t, b, "Box", notifyMsg)
	a.cmd("SELECT Box")
	a.cmd("NOTIFY NONE")
	b.cmd("DELETE Box")
	a.send("N NOOP")
	a.expectLine(`\* BYE Selected mailbox was deleted`)
}
