package imapserver

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestReplaceSessions: REPLACE (RFC 8508) as other sessions and QRESYNC
// see it, and over quota. Another session on the mailbox learns of the
// expunge and the new message like any; a QRESYNC session is told
// VANISHED and HIGHESTMODSEQ; a replacement the quota cannot take (even with the old
// message's space freed) is NO [OVERQUOTA] and changes nothing.
func TestReplaceSessions(t *testing.T) {
	h := newHarness(t)
	old := h.put(h.alice, "Drafts", "Subject: v1\r\n\r\n"+strings.Repeat("a", 50)+"\r\n")
	h.put(h.alice, "Drafts", "Subject: other\r\n\r\nb\r\n")

	watcher := h.login()
	watcher.cmd("SELECT Drafts")
	r := h.login()
	r.cmd("ENABLE QRESYNC")
	r.cmd("SELECT Drafts")

	newMsg := "Subject: v2\r\n\r\nshort\r\n"
	r.send(fmt.Sprintf("A UID REPLACE %d Drafts {%d+}", old.UID, len(newMsg)))
	r.send(newMsg)
	got := r.until("A ")
	// With QRESYNC the tagged OK carries the mailbox's HIGHESTMODSEQ.
	hms := h.mailbox(h.alice, "Drafts").HighestModSeq
	want := []string{
		fmt.Sprintf("* OK [APPENDUID %d 3] Replacement message ready", old.UIDValidity),
		fmt.Sprintf("* VANISHED %d", old.UID),
		"* 2 EXISTS",
		// RFC 3501 §7.3.2: with EXISTS, the session's recent messages:
		// the new one (the watcher's SELECT claimed the others).
		"* 1 RECENT",
		fmt.Sprintf("A OK [HIGHESTMODSEQ %d] REPLACE completed", hms),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("UID REPLACE with QRESYNC:\n got %q\nwant %q", got, want)
	}
	if got := watcher.cmd("NOOP"); !slices.Equal(got, []string{"* 1 EXPUNGE", "* 2 EXISTS", "* 1 RECENT", "T OK NOOP completed"}) {
		t.Fatalf("the other session saw %q", got)
	}

	// Over quota: the old message (22 octets) frees too little for the
	// new one.
	used, _, err := h.st.Usage(context.Background(), h.alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.st.SetQuota(context.Background(), h.alice.Address, used+10); err != nil {
		t.Fatal(err)
	}
	big := "Subject: v3\r\n\r\n" + strings.Repeat("c", 40) + "\r\n"
	r.send(fmt.Sprintf("B UID REPLACE 3 Drafts {%d+}", len(big)))
	r.send(big)
	if got := r.until("B "); !slices.Equal(got, []string{"B NO [OVERQUOTA] Quota exceeded"}) {
		t.Fatalf("over quota: %q", got)
	}
	ms := h.messages(h.alice, "Drafts")
	if len(ms) != 2 || ms[0].UID != 2 || ms[1].UID != 3 {
		t.Fatalf("after the refused REPLACE, Drafts = %+v", ms)
	}
	if got := watcher.cmd("NOOP"); !slices.Equal(got, []string{"T OK NOOP completed"}) {
		t.Fatalf("the other session saw %q after the refused REPLACE", got)
	}

	// A full account can still replace a message with a smaller one:
	// the old one's space counts (the store's commit checks).
	if err := h.st.SetQuota(context.Background(), h.alice.Address, used); err != nil {
		t.Fatal(err)
	}
	small := "Subject: v4\r\n\r\nx\r\n"
	r.send(fmt.Sprintf("C UID REPLACE 3 Drafts {%d}", len(small)))
	if got := r.line(); !strings.HasPrefix(got, "+ ") {
		t.Fatalf("REPLACE in a full account got %q, not a continuation", got)
	}
	r.send(small)
	if got := r.until("C "); got[len(got)-1] != fmt.Sprintf("C OK [HIGHESTMODSEQ %d] REPLACE completed", h.mailbox(h.alice, "Drafts").HighestModSeq) {
		t.Fatalf("REPLACE with a smaller message in a full account: %q", got)
	}
}
