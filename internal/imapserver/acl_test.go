package imapserver

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postel/internal/store"
	"postel/internal/store/sqlite"
)

// Sharing between the harness's two accounts over TCP: alice owns, bob is
// the grantee (RFC 4314 ACL, RFC 2342 shared namespace, RFC 8440).

const sharedShared = `"Other Users/alice@example.org/Shared"`

// loginAs dials the plain listener and logs in as address.
func (h *harness) loginAs(address, pass string) *raw {
	h.t.Helper()
	r := h.dial(h.addr)
	if got := r.cmd(`LOGIN ` + address + ` "` + pass + `"`); !strings.HasPrefix(last(got), "T OK") {
		h.t.Fatalf("LOGIN %s: %q", address, got)
	}
	return r
}

func last(lines []string) string { return lines[len(lines)-1] }

// want checks that the tagged response of lines starts with prefix.
func want(t *testing.T, what string, lines []string, prefix string) {
	t.Helper()
	if !strings.HasPrefix(last(lines), prefix) {
		t.Fatalf("%s: got %q, want a tagged %q", what, lines, prefix)
	}
}

// hasLine checks that lines hold one equal to line.
func hasLine(t *testing.T, what string, lines []string, line string) {
	t.Helper()
	if !slices.Contains(lines, line) {
		t.Fatalf("%s: no %q in %q", what, line, lines)
	}
}

// shareSetup makes alice's mailbox Shared with two messages, and grants
// bob rights on it through alice's IMAP session.
func shareSetup(t *testing.T, h *harness, rights string) (alice, bob *raw) {
	t.Helper()
	alice = h.loginAs("alice@example.org", alicePass)
	want(t, "CREATE", alice.cmd(`CREATE Shared`), "T OK")
	h.put(h.alice, "Shared", testMsg)
	h.put(h.alice, "Shared", testMsg, `\Flagged`)
	want(t, "SETACL", alice.cmd(`SETACL Shared bob@example.org `+rights), "T OK")
	bob = h.loginAs("bob@example.org", bobPass)
	return alice, bob
}

// TestACLShareReadOnly: with l and r, bob lists, examines, fetches and
// searches alice's Shared in the shared namespace, and nothing else of
// hers; he can change nothing, and reading does not set \Seen.
func TestACLShareReadOnly(t *testing.T) {
	h := newHarness(t)
	_, bob := shareSetup(t, h, "lr")

	ns := bob.cmd("NAMESPACE")
	hasLine(t, "NAMESPACE", ns, `* NAMESPACE (("" "/")) (("Other Users/" "/")) NIL`)

	list := bob.cmd(`LIST "" "*"`)
	want(t, "LIST", list, "T OK")
	hasLine(t, "LIST", list, `* LIST (\Noselect \HasChildren) "/" "Other Users"`)
	hasLine(t, "LIST", list, `* LIST (\Noselect \HasChildren) "/" "Other Users/alice@example.org"`)
	hasLine(t, "LIST", list, `* LIST (\HasNoChildren) "/" `+sharedShared)
	for _, l := range list {
		if strings.Contains(l, "alice@example.org/") && !strings.Contains(l, sharedShared) {
			t.Errorf("bob sees more of alice: %q", l)
		}
	}
	// LIST "Other Users/" "%" walks one level (RFC 2342 §5).
	lvl := bob.cmd(`LIST "Other Users/" "%"`)
	hasLine(t, "LIST level", lvl, `* LIST (\Noselect \HasChildren) "/" "Other Users/alice@example.org"`)

	sel := bob.cmd(`SELECT ` + sharedShared)
	want(t, "SELECT", sel, "T OK [READ-ONLY]")
	hasLine(t, "SELECT", sel, "* 2 EXISTS")
	hasLine(t, "SELECT", sel, "* OK [PERMANENTFLAGS ()] No permanent flags permitted")

	f := bob.cmd(`FETCH 1:2 (FLAGS BODY[])`)
	want(t, "FETCH", f, "T OK")
	if !strings.HasPrefix(f[0], "* 1 FETCH (FLAGS () BODY[] {") {
		t.Errorf("FETCH: %q", f)
	}
	want(t, "SEARCH", bob.cmd(`SEARCH FLAGGED`), "T OK")
	hasLine(t, "SEARCH", bob.cmd(`SEARCH FLAGGED`), "* SEARCH 2")
	want(t, "STORE", bob.cmd(`STORE 1 +FLAGS (\Seen)`), "T NO [READ-ONLY]")
	want(t, "EXPUNGE", bob.cmd(`EXPUNGE`), "T NO [NOPERM]")
	want(t, "APPEND", bob.cmd(`APPEND `+sharedShared+` {3+}`+"\r\nhi\n"), "T NO [NOPERM]")
	want(t, "GETACL", bob.cmd(`GETACL `+sharedShared), "T NO [NOPERM]")
	want(t, "SETACL", bob.cmd(`SETACL `+sharedShared+` bob@example.org lrswi`), "T NO [NOPERM]")
	want(t, "DELETE", bob.cmd(`DELETE `+sharedShared), "T NO [NOPERM]")
	want(t, "RENAME", bob.cmd(`RENAME `+sharedShared+` "Other Users/alice@example.org/Gone"`), "T NO [NOPERM]")
	hasLine(t, "MYRIGHTS", bob.cmd(`MYRIGHTS `+sharedShared), `* MYRIGHTS `+sharedShared+` lr`)
	st := bob.cmd(`STATUS ` + sharedShared + ` (MESSAGES UNSEEN)`)
	hasLine(t, "STATUS", st, `* STATUS `+sharedShared+` (MESSAGES 2 UNSEEN 2)`)
	// Alice's quota is hers: no root named.
	hasLine(t, "GETQUOTAROOT", bob.cmd(`GETQUOTAROOT `+sharedShared), `* QUOTAROOT `+sharedShared)

	for _, m := range h.messages(h.alice, "Shared") {
		if slices.Contains(m.Flags, store.FlagSeen) {
			t.Errorf("reading a read-only share set \\Seen: %+v", m.Flags)
		}
	}
	// Bob's own mailboxes are untouched and his own.
	want(t, "SELECT INBOX", bob.cmd(`SELECT INBOX`), "T OK [READ-WRITE]")
}

// TestACLShareReadWrite: with lrswite and i, bob changes flags, expunges,
// appends (counted against alice's quota, not his) and copies between his
// mailboxes and hers.
func TestACLShareReadWrite(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if err := h.st.SetQuota(ctx, "alice@example.org", 1<<20); err != nil {
		t.Fatal(err)
	}
	_, bob := shareSetup(t, h, "lrswite")
	want(t, "SETACL +i", h.loginAs("alice@example.org", alicePass).cmd(`SETACL Shared bob@example.org +i`), "T OK")

	sel := bob.cmd(`SELECT ` + sharedShared)
	want(t, "SELECT", sel, "T OK [READ-WRITE]")
	hasLine(t, "SELECT", sel, `* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Flags permitted`)
	hasLine(t, "STORE", bob.cmd(`STORE 1 +FLAGS ($Work \Seen)`), `* 1 FETCH (FLAGS (\Seen $Work))`)
	want(t, "STORE", bob.cmd(`STORE 2 +FLAGS (\Deleted)`), "T OK")
	exp := bob.cmd(`EXPUNGE`)
	want(t, "EXPUNGE", exp, "T OK")
	hasLine(t, "EXPUNGE", exp, "* 2 EXPUNGE")
	msgs := h.messages(h.alice, "Shared")
	if len(msgs) != 1 || !slices.Equal(msgs[0].Flags, []string{store.FlagSeen, "$Work"}) {
		t.Fatalf("alice's Shared after bob's STORE and EXPUNGE: %+v", msgs)
	}

	usedA, _, _ := h.st.Usage(ctx, h.alice.ID)
	usedB, _, _ := h.st.Usage(ctx, h.bob.ID)
	body := "Subject: from bob\r\n\r\nhello\r\n"
	ap := bob.cmd(`APPEND ` + sharedShared + ` (\Seen) {` + itoa(len(body)) + "+}\r\n" + body)
	want(t, "APPEND", ap, "T OK [APPENDUID ")
	afterA, _, _ := h.st.Usage(ctx, h.alice.ID)
	afterB, _, _ := h.st.Usage(ctx, h.bob.ID)
	if afterA != usedA+int64(len(body)) || afterB != usedB {
		t.Errorf("APPEND by bob: alice's use %d -> %d, bob's %d -> %d; want alice's to grow by %d", usedA, afterA, usedB, afterB, len(body))
	}
	// Over alice's quota, bob's APPEND is refused.
	if err := h.st.SetQuota(ctx, "alice@example.org", afterA+1); err != nil {
		t.Fatal(err)
	}
	want(t, "APPEND over quota", bob.cmd(`APPEND `+sharedShared+` {`+itoa(len(body))+"+}\r\n"+body), "T NO [OVERQUOTA]")
	// Before the literal too: a synchronizing literal is refused at once,
	// on alice's quota.
	bob.send(`T APPEND ` + sharedShared + ` {` + itoa(len(body)) + `}`)
	if l := bob.line(); !strings.HasPrefix(l, "T NO [OVERQUOTA]") {
		t.Fatalf("APPEND over alice's quota, before the literal: %q", l)
	}
	if err := h.st.SetQuota(ctx, "alice@example.org", 0); err != nil {
		t.Fatal(err)
	}

	// From the share into bob's own INBOX, and back.
	cp := bob.cmd(`UID COPY 1:* INBOX`)
	want(t, "COPY out", cp, "T OK [COPYUID ")
	if got := h.messages(h.bob, "INBOX"); len(got) != 2 || !slices.Contains(got[0].Flags, store.FlagSeen) {
		t.Fatalf("bob's INBOX after COPY: %+v", got)
	}
	want(t, "SELECT INBOX", bob.cmd(`SELECT INBOX`), "T OK [READ-WRITE]")
	mv := bob.cmd(`MOVE 1 ` + sharedShared)
	want(t, "MOVE in", mv, "T OK")
	hasLine(t, "MOVE in", mv, "* 1 EXPUNGE")
	if got := h.messages(h.alice, "Shared"); len(got) != 3 {
		t.Fatalf("alice's Shared after MOVE into it: %d messages", len(got))
	}
	if got := h.messages(h.bob, "INBOX"); len(got) != 1 {
		t.Fatalf("bob's INBOX after MOVE out of it: %d messages", len(got))
	}
	// Bob's own quota full: his APPEND into alice's mailbox counts
	// against hers, and is taken.
	if err := h.st.SetQuota(ctx, "bob@example.org", 1); err != nil {
		t.Fatal(err)
	}
	bob.send(`T APPEND ` + sharedShared + ` {` + itoa(len(body)) + `}`)
	if l := bob.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("APPEND with bob's quota full, before the literal: %q", l)
	}
	bob.send(body)
	want(t, "APPEND with bob's quota full", bob.until("T "), "T OK [APPENDUID ")
	if err := h.st.SetQuota(ctx, "bob@example.org", 0); err != nil {
		t.Fatal(err)
	}
}

// TestACLRevokeWhileSelected: a right taken back counts from the next
// command, for a session that has the mailbox selected too (RFC 4314 §4):
// losing w stops STORE of keywords at once, losing r closes the mailbox.
func TestACLRevokeWhileSelected(t *testing.T) {
	h := newHarness(t)
	alice, bob := shareSetup(t, h, "lrswt")
	want(t, "SELECT", bob.cmd(`SELECT `+sharedShared), "T OK [READ-WRITE]")
	want(t, "STORE", bob.cmd(`STORE 1 +FLAGS ($a)`), "T OK")

	want(t, "SETACL -w", alice.cmd(`SETACL Shared bob@example.org -w`), "T OK")
	want(t, "STORE without w", bob.cmd(`STORE 1 +FLAGS ($b)`), "T NO [NOPERM]")
	// s still allows \Seen; the keyword is dropped, not refused.
	st := bob.cmd(`STORE 1 +FLAGS (\Seen $b)`)
	want(t, "STORE with s", st, "T OK")
	hasLine(t, "STORE with s", st, `* 1 FETCH (FLAGS (\Seen $a))`)

	want(t, "DELETEACL", alice.cmd(`DELETEACL Shared bob@example.org`), "T OK")
	f := bob.cmd(`FETCH 1 FLAGS`)
	want(t, "FETCH after revoke", f, "T NO [NOPERM]")
	hasLine(t, "FETCH after revoke", f, "* OK [CLOSED] Access to the selected mailbox was revoked")
	want(t, "FETCH when closed", bob.cmd(`FETCH 1 FLAGS`), "T BAD")
	want(t, "SELECT after revoke", bob.cmd(`SELECT `+sharedShared), "T NO [NONEXISTENT]")
	if l := bob.cmd(`LIST "" "*"`); slices.ContainsFunc(l, func(s string) bool { return strings.Contains(s, "Other Users") }) {
		t.Errorf("LIST after revoke: %q", l)
	}
}

// TestACLRevokeDuringIdle: a grantee idling in the shared mailbox is told
// at once when its r right is taken back.
func TestACLRevokeDuringIdle(t *testing.T) {
	h := newHarness(t)
	alice, bob := shareSetup(t, h, "lr")
	want(t, "SELECT", bob.cmd(`SELECT `+sharedShared), "T OK")
	bob.send("I IDLE")
	if l := bob.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	want(t, "SETACL", alice.cmd(`SETACL Shared bob@example.org ""`), "T OK")
	if l := bob.line(); l != "* OK [CLOSED] Access to the selected mailbox was revoked" {
		t.Fatalf("during IDLE: %q", l)
	}
	bob.send("DONE")
	want(t, "IDLE", bob.until("I "), "I OK")
	want(t, "FETCH", bob.cmd(`FETCH 1 FLAGS`), "T BAD")
}

// TestACLNonexistent: without l and r, a mailbox of another account is
// answered exactly as one that does not exist (RFC 4314 §4), whatever the
// command; an i right alone lets APPEND in, unseen.
func TestACLNonexistent(t *testing.T) {
	h := newHarness(t)
	alice, bob := shareSetup(t, h, "lr")
	want(t, "CREATE", alice.cmd(`CREATE Drop`), "T OK")
	want(t, "SETACL", alice.cmd(`SETACL Drop bob@example.org i`), "T OK")
	hidden := []string{
		`"Other Users/alice@example.org/INBOX"`,  // exists, no rights
		`"Other Users/alice@example.org/Drop"`,   // exists, i only
		`"Other Users/alice@example.org/NoSuch"`, // does not exist
		`"Other Users/nobody@example.org/INBOX"`, // no such account
		`"Other Users/alice@example.org"`,        // a level
		`"Other Users/bob@example.org/INBOX"`,    // his own, not shared with himself
	}
	for _, cmd := range []string{"SELECT %s", "EXAMINE %s", "STATUS %s (MESSAGES)", "MYRIGHTS %s", "GETACL %s",
		"DELETE %s", "SETACL %s bob@example.org lr", "LISTRIGHTS %s bob@example.org", "GETQUOTAROOT %s"} {
		var first string
		for _, mb := range hidden {
			got := last(bob.cmd(strings.Replace(cmd, "%s", mb, 1)))
			if mb == `"Other Users/alice@example.org/Drop"` && strings.HasPrefix(cmd, "MYRIGHTS") {
				continue // any right lets MYRIGHTS answer (RFC 4314 §4): i here
			}
			if first == "" {
				first = got
				if !strings.HasPrefix(got, "T NO [NONEXISTENT]") {
					t.Errorf("%s %s: %q", cmd, mb, got)
				}
			} else if got != first {
				t.Errorf("%s: %s answered %q, %s %q", cmd, hidden[0], first, mb, got)
			}
		}
	}
	// APPEND and COPY: TRYCREATE for all alike, except where i allows.
	body := "Subject: drop\r\n\r\nx\r\n"
	for _, mb := range hidden {
		got := last(bob.cmd(`APPEND ` + mb + ` {` + itoa(len(body)) + "+}\r\n" + body))
		wantAns := "T NO [TRYCREATE]"
		if strings.Contains(mb, "/Drop") {
			wantAns = "T OK [APPENDUID "
		}
		if !strings.HasPrefix(got, wantAns) {
			t.Errorf("APPEND %s: %q, want %q", mb, got, wantAns)
		}
	}
	if got := h.messages(h.alice, "Drop"); len(got) != 1 {
		t.Errorf("Drop has %d messages, want the one bob appended", len(got))
	}
}

// TestACLIdleAcrossAccounts: bob idling in the share sees alice's APPEND
// (EXISTS), and alice idling in it sees bob's STORE and EXPUNGE: the view
// of a shared mailbox follows its owner's changes.
func TestACLIdleAcrossAccounts(t *testing.T) {
	h := newHarness(t)
	alice, bob := shareSetup(t, h, "lrswite")
	want(t, "bob SELECT", bob.cmd(`SELECT `+sharedShared), "T OK")
	bob.send("I IDLE")
	bob.line()
	body := "Subject: new\r\n\r\nx\r\n"
	want(t, "alice APPEND", alice.cmd(`APPEND Shared {`+itoa(len(body))+"+}\r\n"+body), "T OK")
	if l := bob.line(); l != "* 3 EXISTS" {
		t.Fatalf("bob during IDLE: %q", l)
	}
	bob.send("DONE")
	want(t, "bob IDLE", bob.until("I "), "I OK")

	alice2 := h.loginAs("alice@example.org", alicePass)
	want(t, "alice SELECT", alice2.cmd(`SELECT Shared`), "T OK")
	alice2.send("I IDLE")
	alice2.line()
	want(t, "bob STORE", bob.cmd(`STORE 3 +FLAGS.SILENT (\Deleted)`), "T OK")
	if l := alice2.line(); l != `* 3 FETCH (FLAGS (\Deleted \Recent))` { // recent: alice2 SELECTed first
		t.Fatalf("alice during IDLE: %q", l)
	}
	want(t, "bob EXPUNGE", bob.cmd(`EXPUNGE`), "T OK")
	if l := alice2.line(); l != `* 3 EXPUNGE` {
		t.Fatalf("alice during IDLE: %q", l)
	}
	alice2.send("DONE")
	want(t, "alice IDLE", alice2.until("I "), "I OK")
}

// TestListMyRights: LIST RETURN (MYRIGHTS) (RFC 8440) gives the rights on
// every mailbox listed, never on a \Noselect level; the owner holds every
// right, with "c" and "d" (RFC 4314 §2.1.1).
func TestListMyRights(t *testing.T) {
	h := newHarness(t)
	alice, bob := shareSetup(t, h, "lrs")
	l := alice.cmd(`LIST "" "*" RETURN (MYRIGHTS)`)
	want(t, "LIST alice", l, "T OK")
	hasLine(t, "LIST alice", l, `* MYRIGHTS INBOX lrswipkxteacd`)
	hasLine(t, "LIST alice", l, `* MYRIGHTS "Shared" lrswipkxteacd`)
	b := bob.cmd(`LIST "" "*" RETURN (MYRIGHTS STATUS (MESSAGES))`)
	want(t, "LIST bob", b, "T OK")
	i := slices.Index(b, `* LIST (\HasNoChildren) "/" `+sharedShared)
	if i < 0 || i+2 >= len(b) || b[i+1] != `* STATUS `+sharedShared+` (MESSAGES 2)` || b[i+2] != `* MYRIGHTS `+sharedShared+` lrs` {
		t.Fatalf("LIST bob: %q", b)
	}
	for _, line := range b {
		if strings.HasPrefix(line, `* MYRIGHTS "Other Users"`) || strings.HasPrefix(line, `* MYRIGHTS "Other Users/alice@example.org" `) {
			t.Errorf("MYRIGHTS of a level: %q", line)
		}
	}
}

// TestACLCommands: SETACL's replace, "+" and "-" forms, the obsolete c
// and d (RFC 4314 §2.1.1), negative rights and anyone, GETACL, LISTRIGHTS,
// DELETEACL, and the refusals.
func TestACLCommands(t *testing.T) {
	h := newHarness(t)
	alice := h.loginAs("alice@example.org", alicePass)
	want(t, "CREATE", alice.cmd(`CREATE Team`), "T OK")
	for _, c := range []string{
		`SETACL Team bob@example.org lr`,
		`SETACL Team bob@example.org +wc`,
		`SETACL Team bob@example.org -r`,
		`SETACL Team anyone l`,
		`SETACL Team -bob@example.org d`,
	} {
		want(t, c, alice.cmd(c), "T OK")
	}
	hasLine(t, "GETACL", alice.cmd(`GETACL Team`),
		`* ACL "Team" alice@example.org lrswipkxteacd anyone l bob@example.org lwkxc -bob@example.org ted`)
	hasLine(t, "LISTRIGHTS", alice.cmd(`LISTRIGHTS Team bob@example.org`), `* LISTRIGHTS "Team" bob@example.org "" l r s w i p k x t e a c d`)
	hasLine(t, "LISTRIGHTS owner", alice.cmd(`LISTRIGHTS Team alice@example.org`), `* LISTRIGHTS "Team" alice@example.org lrswipkxtea`)
	hasLine(t, "MYRIGHTS", alice.cmd(`MYRIGHTS Team`), `* MYRIGHTS "Team" lrswipkxteacd`)
	want(t, "unknown right", alice.cmd(`SETACL Team bob@example.org lrz`), "T BAD")
	want(t, "owner", alice.cmd(`SETACL Team alice@example.org l`), "T NO [CANNOT]")
	want(t, "unknown account", alice.cmd(`SETACL Team carol@example.org l`), "T NO [CANNOT]")
	want(t, "no mailbox", alice.cmd(`SETACL Nope bob@example.org l`), "T NO [NONEXISTENT]")
	want(t, "DELETEACL", alice.cmd(`DELETEACL Team -bob@example.org`), "T OK")
	want(t, "DELETEACL anyone", alice.cmd(`DELETEACL Team anyone`), "T OK")
	hasLine(t, "GETACL after", alice.cmd(`GETACL Team`), `* ACL "Team" alice@example.org lrswipkxteacd bob@example.org lwkxc`)

	// A negative right for bob wins over anyone's.
	want(t, "anyone lr", alice.cmd(`SETACL Team anyone lr`), "T OK")
	want(t, "-bob r", alice.cmd(`SETACL Team -bob@example.org r`), "T OK")
	bob := h.loginAs("bob@example.org", bobPass)
	hasLine(t, "bob MYRIGHTS", bob.cmd(`MYRIGHTS "Other Users/alice@example.org/Team"`), `* MYRIGHTS "Other Users/alice@example.org/Team" lwkxc`)
	want(t, "bob SELECT", bob.cmd(`SELECT "Other Users/alice@example.org/Team"`), "T NO [NOPERM]")

	// With a, bob administers: he may grant, and read the list.
	want(t, "+a", alice.cmd(`SETACL Team bob@example.org +a`), "T OK")
	want(t, "bob GETACL", bob.cmd(`GETACL "Other Users/alice@example.org/Team"`), "T OK")
	want(t, "bob SETACL", bob.cmd(`SETACL "Other Users/alice@example.org/Team" -bob@example.org ""`), "T OK")
	hasLine(t, "bob MYRIGHTS", bob.cmd(`MYRIGHTS "Other Users/alice@example.org/Team"`),
		`* MYRIGHTS "Other Users/alice@example.org/Team" lrwkxac`)
	// With k he creates below, and the new mailbox keeps the list; x
	// lets him delete it.
	want(t, "-x", alice.cmd(`SETACL Team bob@example.org -x`), "T OK")
	want(t, "bob CREATE without k on a level", bob.cmd(`CREATE "Other Users/alice@example.org/Top"`), "T NO [NOPERM]")
	want(t, "bob CREATE", bob.cmd(`CREATE "Other Users/alice@example.org/Team/Sub"`), "T OK")
	h.mailbox(h.alice, "Team/Sub")
	want(t, "bob DELETE without x", bob.cmd(`DELETE "Other Users/alice@example.org/Team/Sub"`), "T NO [NOPERM]")
	want(t, "bob +x", bob.cmd(`SETACL "Other Users/alice@example.org/Team/Sub" bob@example.org +x`), "T OK")
	want(t, "bob DELETE", bob.cmd(`DELETE "Other Users/alice@example.org/Team/Sub"`), "T OK")
	// The shared namespace is not a place for one's own mailboxes.
	want(t, "CREATE in Other Users", alice.cmd(`CREATE "Other Users/x"`), "T NO [CANNOT]")
}

// TestACLPythonImaplib: Python's imaplib shares a mailbox (SETACL,
// GETACL, LISTRIGHTS, DELETEACL) and reads it as the grantee (NAMESPACE,
// LIST, MYRIGHTS, SELECT, FETCH, STORE). python3 is required.
func TestACLPythonImaplib(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.AllowPlaintextLoopback = false })
	outb := runImaplib(t, h, "testdata/acl_imaplib.py", "alice@example.org", alicePass, "bob@example.org", bobPass)
	var out struct {
		GetACL        string `json:"getacl"`
		ListRights    string `json:"listrights"`
		Namespace     string
		List          []string
		MyRights      string
		GetACLGrantee string `json:"getacl_grantee"`
		Select        int
		FetchMeta     string `json:"fetch_meta"`
		Fetch         string
		Store         []string
		GetACLAfter   string `json:"getacl_after"`
	}
	if err := json.Unmarshal(outb, &out); err != nil {
		t.Fatalf("%v: %s", err, outb)
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"getacl", out.GetACL == `"PyShared" alice@example.org lrswipkxteacd bob@example.org lrsw`},
		{"listrights", out.ListRights == `"PyShared" bob@example.org "" l r s w i p k x t e a c d`},
		{"namespace", out.Namespace == `(("" "/")) (("Other Users/" "/")) NIL`},
		{"list", slices.Equal(out.List, []string{`(\Noselect \HasChildren) "/" "Other Users/alice@example.org"`,
			`(\HasNoChildren) "/" "Other Users/alice@example.org/PyShared"`})},
		{"myrights", out.MyRights == `"Other Users/alice@example.org/PyShared" lrsw`},
		{"getacl by the grantee", out.GetACLGrantee == "NO"},
		{"select", out.Select == 1},
		{"fetch", strings.Contains(out.FetchMeta, `FLAGS (\Flagged)`) && out.Fetch == "for bob\r\n"},
		{"store", slices.Equal(out.Store, []string{`1 (FLAGS (\Flagged \Seen $Bob))`})},
		{"getacl after", out.GetACLAfter == `"PyShared" alice@example.org lrswipkxteacd`},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: unexpected answer; imaplib saw %s", c.what, outb)
		}
	}
	if m := h.messages(h.alice, "PyShared"); len(m) != 1 || !slices.Equal(m[0].Flags, []string{store.FlagFlagged, store.FlagSeen, "$Bob"}) {
		t.Errorf("alice's PyShared after bob's STORE: %+v", m)
	}
}

// TestACLImapclient: go-imap's imapclient as both accounts: SETACL,
// GETACL, MYRIGHTS, NAMESPACE, LIST of the shared namespace, and IDLE in
// the shared mailbox seeing the owner's APPEND.
func TestACLImapclient(t *testing.T) {
	h := newHarness(t)
	alice := h.client(nil)
	if err := alice.Create("Team", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := alice.SetACL("Team", "bob@example.org", imap.RightModificationReplace, imap.RightSet("lrswite")).Wait(); err != nil {
		t.Fatal(err)
	}
	acl, err := alice.GetACL("Team").Wait()
	if err != nil || string(acl.Rights["bob@example.org"]) != "lrswited" || string(acl.Rights["alice@example.org"]) != "lrswipkxteacd" {
		t.Fatalf("GETACL = %+v, %v", acl, err)
	}

	exists := make(chan uint32, 10)
	bob, err := imapclient.DialTLS(h.tlsAddr, &imapclient.Options{TLSConfig: h.clientTLS,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		}}})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if err := bob.Login("bob@example.org", bobPass).Wait(); err != nil {
		t.Fatal(err)
	}
	ns, err := bob.Namespace().Wait()
	// RFC 2342: the second element, other users' namespace.
	if err != nil || len(ns.Other) != 1 || ns.Other[0].Prefix != "Other Users/" || ns.Other[0].Delim != '/' || len(ns.Shared) != 0 {
		t.Fatalf("NAMESPACE = %+v, %v", ns, err)
	}
	list, err := bob.List("Other Users/", "*", nil).Collect()
	if err != nil || len(list) != 2 || list[1].Mailbox != "Other Users/alice@example.org/Team" {
		t.Fatalf("LIST = %+v, %v", list, err)
	}
	const shared = "Other Users/alice@example.org/Team"
	mr, err := bob.MyRights(shared).Wait()
	if err != nil || string(mr.Rights) != "lrswited" {
		t.Fatalf("MYRIGHTS = %+v, %v", mr, err)
	}
	if _, err := bob.Select(shared, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := bob.Idle()
	if err != nil {
		t.Fatal(err)
	}
	h.put(h.alice, "Team", testMsg)
	timeout := time.After(10 * time.Second)
	for n := uint32(0); n != 1; {
		select {
		case n = <-exists: // an EXISTS 0 of the SELECT may come first
		case <-timeout:
			t.Fatal("no EXISTS 1 pushed to the grantee after the owner's delivery")
		}
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := bob.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if m := h.messages(h.alice, "Team"); len(m) != 1 || !slices.Contains(m[0].Flags, store.FlagSeen) {
		t.Errorf("alice's Team after bob's STORE: %+v", m)
	}
}

// TestACLPartialRights: each flag right alone (RFC 4314 §4): PERMANENTFLAGS
// lists what may be stored, FETCH of a body sets \Seen only with s,
// APPEND keeps only the flags allowed, CLOSE expunges only with e.
func TestACLPartialRights(t *testing.T) {
	h := newHarness(t)
	alice, bob := shareSetup(t, h, "lrs")
	sel := bob.cmd(`SELECT ` + sharedShared)
	want(t, "SELECT lrs", sel, "T OK [READ-WRITE]")
	hasLine(t, "SELECT lrs", sel, `* OK [PERMANENTFLAGS (\Seen)] Flags permitted`)
	want(t, "FETCH lrs", bob.cmd(`FETCH 1 BODY[]`), "T OK")
	if m := h.messages(h.alice, "Shared"); !slices.Contains(m[0].Flags, store.FlagSeen) {
		t.Errorf("FETCH BODY[] with s did not set \\Seen: %+v", m[0].Flags)
	}
	// A FLAGS replacement changes only what s covers: \Flagged stays.
	st := bob.cmd(`STORE 2 FLAGS (\Seen \Answered)`)
	want(t, "STORE FLAGS lrs", st, "T OK")
	hasLine(t, "STORE FLAGS lrs", st, `* 2 FETCH (FLAGS (\Flagged \Seen))`)
	st = bob.cmd(`STORE 2 FLAGS ()`)
	hasLine(t, "STORE FLAGS () lrs", st, `* 2 FETCH (FLAGS (\Flagged))`)

	want(t, "SETACL lrwit", alice.cmd(`SETACL Shared bob@example.org lrwit`), "T OK")
	sel = bob.cmd(`SELECT ` + sharedShared)
	hasLine(t, "SELECT lrwit", sel, `* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Draft \*)] Flags permitted`)
	want(t, "FETCH lrwit", bob.cmd(`FETCH 2 BODY[]`), "T OK")
	if m := h.messages(h.alice, "Shared"); slices.Contains(m[1].Flags, store.FlagSeen) {
		t.Errorf("FETCH BODY[] without s set \\Seen: %+v", m[1].Flags)
	}
	body := "Subject: flags\r\n\r\nx\r\n"
	want(t, "APPEND lrwit", bob.cmd(`APPEND `+sharedShared+` (\Seen \Flagged $k) {`+itoa(len(body))+"+}\r\n"+body), "T OK")
	if m := h.messages(h.alice, "Shared"); len(m) != 3 || !slices.Equal(m[2].Flags, []string{store.FlagFlagged, "$k"}) {
		t.Errorf("APPEND without s kept %+v, want \\Flagged $k", m[len(m)-1].Flags)
	}
	// Without s, FLAGS keeps \Seen and replaces the rest.
	st = bob.cmd(`STORE 1 FLAGS ($x \Answered)`)
	want(t, "STORE FLAGS lrwit", st, "T OK")
	hasLine(t, "STORE FLAGS lrwit", st, `* 1 FETCH (FLAGS (\Answered \Seen $x))`)
	want(t, "STORE \\Deleted", bob.cmd(`STORE 1:* +FLAGS.SILENT (\Deleted)`), "T OK")
	want(t, "EXPUNGE without e", bob.cmd(`EXPUNGE`), "T NO [NOPERM]")
	want(t, "MOVE without e", bob.cmd(`MOVE 1 INBOX`), "T NO [NOPERM]")
	want(t, "CLOSE without e", bob.cmd(`CLOSE`), "T OK")
	if m := h.messages(h.alice, "Shared"); len(m) != 3 {
		t.Errorf("CLOSE without e expunged: %d messages left", len(m))
	}
}

// TestACLCopyAcrossLimit: a COPY between accounts takes at most
// maxCopyAcross messages (NO [LIMIT]), and nothing of a refused one is
// copied.
func TestACLCopyAcrossLimit(t *testing.T) {
	defer func(n int) { maxCopyAcross = n }(maxCopyAcross)
	maxCopyAcross = 1
	h := newHarness(t)
	_, bob := shareSetup(t, h, "lrswite")
	want(t, "SELECT", bob.cmd(`SELECT `+sharedShared), "T OK")
	want(t, "COPY 2", bob.cmd(`COPY 1:2 INBOX`), "T NO [LIMIT]")
	if n := len(h.messages(h.bob, "INBOX")); n != 0 {
		t.Fatalf("a refused COPY left %d messages", n)
	}
	want(t, "COPY 1", bob.cmd(`COPY 2 INBOX`), "T OK [COPYUID ")
	if m := h.messages(h.bob, "INBOX"); len(m) != 1 || !slices.Equal(m[0].Flags, []string{store.FlagFlagged}) {
		t.Fatalf("bob's INBOX after COPY: %+v", m)
	}
}

// TestACLMoveAcrossExpunged: a MOVE out of a shared mailbox into the
// grantee's own is one transaction (RFC 6851 §3.3), and a message another
// session expunged before it, or while it ran, is left out
// (RFC 9051 §6.4.9) instead of failing the command or being copied anyway.
func TestACLMoveAcrossExpunged(t *testing.T) {
	defer func() { testHookAcross = nil }()
	h := newHarness(t)
	ctx := context.Background()
	alice, bob := shareSetup(t, h, "lrswite")
	h.put(h.alice, "Shared", testMsg)
	want(t, "SELECT", bob.cmd(`SELECT `+sharedShared), "T OK")
	// Alice expunges message 2; bob's session has not heard of it.
	want(t, "alice SELECT", alice.cmd(`SELECT Shared`), "T OK")
	want(t, "alice STORE", alice.cmd(`UID STORE 2 +FLAGS.SILENT (\Deleted)`), "T OK")
	want(t, "alice EXPUNGE", alice.cmd(`UID EXPUNGE 2`), "T OK")
	mv := bob.cmd(`UID MOVE 1:2 INBOX`)
	want(t, "UID MOVE", mv, "T OK")
	hasCopyUID(t, "UID MOVE", mv, "1 1")
	if got := h.messages(h.bob, "INBOX"); len(got) != 1 {
		t.Fatalf("bob's INBOX after the MOVE: %d messages, want 1", len(got))
	}
	if got := h.messages(h.alice, "Shared"); len(got) != 1 || got[0].UID != 3 {
		t.Fatalf("alice's Shared after the MOVE: %+v, want UID 3 alone", got)
	}

	// Expunged between bob's read and the commit: the store refuses the
	// whole move, the session leaves the gone message out and moves the
	// rest, all in one transaction.
	h.put(h.alice, "Shared", testMsg)
	want(t, "NOOP", bob.cmd(`NOOP`), "T OK")
	testHookAcross = func() {
		testHookAcross = nil
		mb, err := h.st.Mailbox(ctx, h.alice.ID, "Shared")
		if err == nil {
			_, err = h.st.Expunge(ctx, h.alice.ID, mb.ID, []uint32{3})
		}
		if err != nil {
			t.Error(err)
		}
	}
	mv = bob.cmd(`UID MOVE 3:4 INBOX`)
	want(t, "UID MOVE during an expunge", mv, "T OK")
	hasCopyUID(t, "UID MOVE during an expunge", mv, "4 2")
	if got := h.messages(h.bob, "INBOX"); len(got) != 2 {
		t.Fatalf("bob's INBOX after the second MOVE: %d messages, want 2", len(got))
	}
	if got := h.messages(h.alice, "Shared"); len(got) != 0 {
		t.Fatalf("alice's Shared after the second MOVE: %+v", got)
	}
}

// hasCopyUID checks that lines hold MOVE's untagged COPYUID with the UID
// sets sets (after the UIDVALIDITY).
func hasCopyUID(t *testing.T, what string, lines []string, sets string) {
	t.Helper()
	for _, l := range lines {
		if strings.HasPrefix(l, "* OK [COPYUID ") && strings.HasSuffix(l, " "+sets+"] Moved") {
			return
		}
	}
	t.Fatalf("%s: no COPYUID ... %s in %q", what, sets, lines)
}

// revokingStore is h.st whose next subscription to the owner's changes
// first takes the grantee's rights on the mailbox away: a revoke that
// commits while SELECT reads the rights, before it follows the feed.
type revokingStore struct {
	*sqlite.Store
	owner, mailbox int64
	grantee        string
	armed          *atomic.Bool
}

func (s revokingStore) Subscribe(accountID int64) store.Subscription {
	if accountID == s.owner && s.armed.CompareAndSwap(true, false) {
		if err := s.Store.SetACL(context.Background(), s.owner, s.mailbox, store.ACLEntry{Identifier: s.grantee}); err != nil {
			panic(err)
		}
	}
	return s.Store.Subscribe(accountID)
}

// TestACLRevokeDuringSelect: rights taken back while SELECT opens the
// shared mailbox (after it read them, before it followed the owner's
// changes) count from the next command: the feed never tells of that
// revoke, so the view reads the rights again once.
func TestACLRevokeDuringSelect(t *testing.T) {
	h := newHarness(t)
	shareSetup(t, h, "lr")
	mb := h.mailbox(h.alice, "Shared")
	armed := &atomic.Bool{}
	st := revokingStore{Store: h.st, owner: h.alice.ID, mailbox: mb.ID, grantee: "bob@example.org", armed: armed}
	bob := h.loginVia(st, Config{AllowPlaintextLoopback: true}, nil, "bob@example.org", bobPass)
	armed.Store(true)
	want(t, "SELECT", bob.cmd(`SELECT `+sharedShared), "T OK")
	if armed.Load() {
		t.Fatal("the store was not asked to follow the owner's changes")
	}
	f := bob.cmd(`FETCH 1 BODY.PEEK[]`)
	want(t, "FETCH after the revoke", f, "T NO [NOPERM]")
	hasLine(t, "FETCH after the revoke", f, "* OK [CLOSED] Access to the selected mailbox was revoked")
}

// TestACLRevokeNotifySelected: with NOTIFY sending the selected shared
// mailbox's events while no command runs (RFC 5465 §5.1), a revoke of r
// closes it before anything more of it is told, as in IDLE.
func TestACLRevokeNotifySelected(t *testing.T) {
	h := newHarness(t)
	alice, bob := shareSetup(t, h, "lr")
	want(t, "SELECT", bob.cmd(`SELECT `+sharedShared), "T OK")
	want(t, "NOTIFY", bob.cmd(`NOTIFY SET (SELECTED (MessageNew (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)]) MessageExpunge))`), "T OK")
	want(t, "SETACL", alice.cmd(`SETACL Shared bob@example.org l`), "T OK")
	h.put(h.alice, "Shared", "Subject: secret\r\n\r\nnot for bob\r\n")
	if l := bob.line(); l != "* OK [CLOSED] Access to the selected mailbox was revoked" {
		t.Fatalf("after the revoke: %q", l)
	}
	bob.quiet()
}
