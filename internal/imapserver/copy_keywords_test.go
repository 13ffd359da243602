package imapserver

import (
	"slices"
	"testing"
)

// TestCopyAcrossKeywordCase: a COPY or MOVE from a mailbox shared by
// another account into one's own (copyAcross, one delivery per message)
// gives each keyword the case the destination already has (RFC 9051
// §2.3.2), as a COPY within the account does (testdata/wire/
// copy-keyword-case.txt); a keyword new there keeps the source's.
func TestCopyAcrossKeywordCase(t *testing.T) {
	h := newHarness(t)
	_, bob := shareSetup(t, h, "lrswite")
	h.put(h.alice, "Shared", testMsg, "$label1", "work") // 3
	h.put(h.alice, "Shared", testMsg, "$label1", "Home") // 4
	h.put(h.bob, "INBOX", testMsg, "$Label1", "WORK")    // 1
	want(t, "SELECT", bob.cmd(`SELECT `+sharedShared), "T OK")
	want(t, "COPY", bob.cmd(`COPY 3 INBOX`), "T OK [COPYUID ")
	want(t, "MOVE", bob.cmd(`MOVE 4 INBOX`), "T OK")
	got := h.messages(h.bob, "INBOX")
	wantFlags := [][]string{{"$Label1", "WORK"}, {"$Label1", "WORK"}, {"$Label1", "Home"}}
	if len(got) != len(wantFlags) {
		t.Fatalf("bob's INBOX: %+v", got)
	}
	for i, m := range got {
		if !slices.Equal(m.Flags, wantFlags[i]) {
			t.Errorf("bob's INBOX UID %d: flags %q, want %q", m.UID, m.Flags, wantFlags[i])
		}
	}
}
