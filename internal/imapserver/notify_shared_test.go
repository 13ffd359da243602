package imapserver

import (
	"context"
	"regexp"
	"testing"
)

// sharedStatus is the STATUS NOTIFY sends of alice's Shared, as a
// regular expression.
func sharedStatus(items string) string {
	return `\* STATUS "Other Users/alice@example\.org/Shared" \(` + items + `\)`
}

// TestNotifyShared: bob follows alice's Shared, which she shares with
// him, through her account's changes: NOTIFY SET STATUS gives its STATUS
// at once, and her APPEND, flag change and expunge come as STATUS, while
// bob waits for no command and in IDLE (RFC 5465 §5.2-§5.4); SUBTREE,
// MAILBOXES and SUBSCRIBED cover it, PERSONAL does not (§6.4); her other
// mailboxes are never told of.
func TestNotifyShared(t *testing.T) {
	h := newHarness(t)
	alice, bob := shareSetup(t, h, "lr")
	want(t, "CREATE", alice.cmd(`CREATE Private`), "T OK")

	got := bob.cmd(`NOTIFY SET STATUS (SUBTREE "Other Users/alice@example.org" (MessageNew MessageExpunge FlagChange))`)
	want(t, "NOTIFY", got, "T OK")
	if len(got) != 2 {
		t.Fatalf("NOTIFY SET STATUS: %q", got)
	}
	if !regexp.MustCompile(`^` + sharedStatus(`MESSAGES 2 UIDNEXT 3 UIDVALIDITY \d+ UNSEEN 2`) + `$`).MatchString(got[0]) {
		t.Fatalf("NOTIFY SET STATUS: %q", got)
	}

	appendTo(t, alice, "Shared", notifyMsg)
	bob.expectLine(sharedStatus(`MESSAGES 3 UIDNEXT 4 UIDVALIDITY \d+ UNSEEN 3`))
	appendTo(t, alice, "Private", notifyMsg)
	appendTo(t, alice, "INBOX", notifyMsg)
	bob.quiet()
	want(t, "alice SELECT", alice.cmd(`SELECT Shared`), "T OK")
	want(t, "alice STORE", alice.cmd(`STORE 1 +FLAGS (\Seen \Deleted)`), "T OK")
	bob.expectLine(sharedStatus(`UIDVALIDITY \d+ UNSEEN 2`))
	want(t, "alice EXPUNGE", alice.cmd(`EXPUNGE`), "T OK")
	bob.expectLine(sharedStatus(`MESSAGES 2 UIDNEXT 4 UIDVALIDITY \d+ UNSEEN 2`))

	// In IDLE too.
	bob.send("I IDLE")
	bob.expectLine(`\+ .*`)
	appendTo(t, alice, "Shared", notifyMsg)
	bob.expectLine(sharedStatus(`MESSAGES 3 UIDNEXT 5 UIDVALIDITY \d+ UNSEEN 3`))
	bob.send("DONE")
	bob.expectLine(`I OK IDLE completed`)

	// MAILBOXES naming it and SUBTREE naming its owner (the owner's
	// address in any case).
	for _, set := range []string{`(MAILBOXES "Other Users/Alice@Example.org/Shared" (MessageNew MessageExpunge))`,
		`(SUBTREE "Other Users" (MessageNew MessageExpunge))`,
		`(SUBTREE "Other Users/ALICE@example.ORG" (MessageNew MessageExpunge))`} {
		want(t, "NOTIFY "+set, bob.cmd(`NOTIFY SET `+set), "T OK")
		appendTo(t, alice, "Private", notifyMsg)
		appendTo(t, alice, "Shared", notifyMsg)
		bob.expectLine(sharedStatus(`MESSAGES \d+ UIDNEXT \d+ UIDVALIDITY \d+ UNSEEN \d+`))
		bob.quiet()
	}

	// SUBSCRIBED: a shared mailbox once subscribed by its name in the
	// shared namespace, as LIST (SUBSCRIBED) lists it (RFC 5465 §6.5).
	want(t, "NOTIFY SUBSCRIBED", bob.cmd(`NOTIFY SET (SUBSCRIBED (MessageNew MessageExpunge))`), "T OK")
	appendTo(t, alice, "Shared", notifyMsg)
	bob.quiet()
	want(t, "SUBSCRIBE", bob.cmd(`SUBSCRIBE `+sharedShared), "T OK")
	appendTo(t, alice, "Shared", notifyMsg)
	bob.expectLine(sharedStatus(`MESSAGES \d+ UIDNEXT \d+ UIDVALIDITY \d+ UNSEEN \d+`))
	bob.quiet()

	// PERSONAL: bob's own mailboxes only.
	want(t, "NOTIFY PERSONAL", bob.cmd(`NOTIFY SET (PERSONAL (MessageNew MessageExpunge))`), "T OK")
	appendTo(t, alice, "Shared", notifyMsg)
	bob.quiet()
	bob2 := h.loginAs("bob@example.org", bobPass)
	appendTo(t, bob2, "INBOX", notifyMsg)
	bob.expectLine(`\* STATUS INBOX \(MESSAGES \d+ UIDNEXT \d+ UIDVALIDITY \d+ UNSEEN \d+\)`)
}

// TestNotifySharedRevoked: when alice takes the r right back, bob is told
// of her Shared no more, from that change on; when she gives it back, he
// is again; with no right left at all, nothing either (RFC 4314 §4).
func TestNotifySharedRevoked(t *testing.T) {
	h := newHarness(t)
	alice, bob := shareSetup(t, h, "lr")
	want(t, "NOTIFY", bob.cmd(`NOTIFY SET (SUBTREE "Other Users" (MessageNew MessageExpunge))`), "T OK")
	appendTo(t, alice, "Shared", notifyMsg)
	bob.expectLine(sharedStatus(`MESSAGES 3 UIDNEXT 4 UIDVALIDITY \d+ UNSEEN 3`))

	want(t, "SETACL l", alice.cmd(`SETACL Shared bob@example.org l`), "T OK")
	appendTo(t, alice, "Shared", notifyMsg)
	bob.quiet()
	want(t, "SETACL lr", alice.cmd(`SETACL Shared bob@example.org lr`), "T OK")
	appendTo(t, alice, "Shared", notifyMsg)
	bob.expectLine(sharedStatus(`MESSAGES 5 UIDNEXT 6 UIDVALIDITY \d+ UNSEEN 5`))

	want(t, "DELETEACL", alice.cmd(`DELETEACL Shared bob@example.org`), "T OK")
	appendTo(t, alice, "Shared", notifyMsg)
	bob.quiet()
	if got := bob.cmd("NOOP"); len(got) != 1 {
		t.Fatalf("NOOP: %q", got)
	}
}

// TestNotifySharedMetadata: MailboxMetadataChange of alice's Shared comes
// to bob as METADATA naming the /shared entries she changed, never her
// /private ones (RFC 5465 §5.7; RFC 5464 §3.3, §4.4.2).
func TestNotifySharedMetadata(t *testing.T) {
	h := newHarness(t)
	alice, bob := shareSetup(t, h, "lr")
	want(t, "alice SETMETADATA", alice.cmd(`SETMETADATA Shared (/shared/old "1")`), "T OK")
	want(t, "NOTIFY", bob.cmd(`NOTIFY SET (MAILBOXES "Other Users/alice@example.org/Shared" (MailboxMetadataChange))`), "T OK")
	want(t, "alice SETMETADATA", alice.cmd(`SETMETADATA Shared (/shared/comment "x" /shared/old NIL)`), "T OK")
	bob.expectLine(`\* METADATA "Other Users/alice@example\.org/Shared" /shared/comment /shared/old`)
	want(t, "alice SETMETADATA private", alice.cmd(`SETMETADATA Shared (/private/p "y")`), "T OK")
	bob.quiet()
}

// TestNotifySharedSelected: the selected shared mailbox's new messages
// come from its view under a SELECTED group (EXISTS and the FETCH of
// MessageNew's attributes, RFC 5465 §5.2, §6.1), never as STATUS; once
// it is closed, the SUBTREE group tells them by STATUS.
func TestNotifySharedSelected(t *testing.T) {
	h := newHarness(t)
	alice, bob := shareSetup(t, h, "lr")
	want(t, "bob ENABLE", bob.cmd(`ENABLE IMAP4rev2`), "T OK") // no RECENT
	want(t, "bob SELECT", bob.cmd(`SELECT `+sharedShared), "T OK")
	want(t, "NOTIFY", bob.cmd(`NOTIFY SET (SELECTED (MessageNew (UID) MessageExpunge)) (SUBTREE "Other Users" (MessageNew MessageExpunge))`), "T OK")
	appendTo(t, alice, "Shared", notifyMsg)
	bob.expectLine(`\* 3 EXISTS`)
	bob.expectLine(`\* 3 FETCH \(UID 3\)`)
	bob.quiet()
	want(t, "bob UNSELECT", bob.cmd(`UNSELECT`), "T OK")
	appendTo(t, alice, "Shared", notifyMsg)
	bob.expectLine(sharedStatus(`MESSAGES 4 UIDNEXT 5 UIDVALIDITY \d+ UNSEEN 4`))
}

// TestNotifySharedNames: MailboxName and SubscriptionChange of the
// mailboxes shared with bob (RFC 5465 §5.4, §5.5), who follows no one's
// changes when alice shares her first mailbox with him: her SETACL is
// told to his own feed (store.ChangeShared), so the share comes as a
// LIST at once and her APPEND as a STATUS; his other session's SUBSCRIBE
// of its name as a LIST with \Subscribed; her RENAME as a LIST with
// OLDNAME; the l right taken back as a LIST (\NonExistent) (§5.4:
// revoking l is a deletion), given back as a LIST; alice disabled as a
// LIST (\NonExistent), enabled again as a LIST, her mailbox's events
// coming again; her DELETE as a LIST (\NonExistent). Her mailboxes not
// shared with bob are never told of, nor are shared ones under PERSONAL.
func TestNotifySharedNames(t *testing.T) {
	h := newHarness(t)
	alice := h.loginAs("alice@example.org", alicePass)
	want(t, "CREATE", alice.cmd(`CREATE Shared`), "T OK")
	want(t, "CREATE", alice.cmd(`CREATE Private`), "T OK")
	bob := h.loginAs("bob@example.org", bobPass)
	want(t, "NOTIFY", bob.cmd(`NOTIFY SET (SUBTREE "Other Users" (MessageNew MessageExpunge MailboxName SubscriptionChange))`), "T OK")
	list := func(attrs, name string) string {
		return `\* LIST \(` + attrs + `\) "/" "Other Users/alice@example\.org/` + name + `"`
	}
	status := func(name, items string) string {
		return `\* STATUS "Other Users/alice@example\.org/` + name + `" \(` + items + `\)`
	}

	want(t, "SETACL", alice.cmd(`SETACL Shared bob@example.org lr`), "T OK")
	bob.expectLine(list(``, "Shared"))
	appendTo(t, alice, "Shared", notifyMsg)
	bob.expectLine(status("Shared", `MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1`))
	appendTo(t, alice, "Private", notifyMsg)
	bob.quiet()

	bob2 := h.loginAs("bob@example.org", bobPass)
	want(t, "SUBSCRIBE", bob2.cmd(`SUBSCRIBE "Other Users/alice@example.org/Shared"`), "T OK")
	bob.expectLine(list(`\\Subscribed`, "Shared"))
	want(t, "UNSUBSCRIBE", bob2.cmd(`UNSUBSCRIBE "Other Users/alice@example.org/Shared"`), "T OK")
	bob.expectLine(list(``, "Shared"))

	want(t, "RENAME", alice.cmd(`RENAME Shared Team`), "T OK")
	bob.expectLine(list(``, "Team") + ` \("OLDNAME" \("Other Users/alice@example\.org/Shared"\)\)`)
	appendTo(t, alice, "Team", notifyMsg)
	bob.expectLine(status("Team", `MESSAGES 2 UIDNEXT 3 UIDVALIDITY \d+ UNSEEN 2`))

	want(t, "SETACL r", alice.cmd(`SETACL Team bob@example.org r`), "T OK")
	bob.expectLine(list(`\\NonExistent`, "Team"))
	appendTo(t, alice, "Team", notifyMsg)
	bob.quiet()
	want(t, "SETACL lr", alice.cmd(`SETACL Team bob@example.org lr`), "T OK")
	bob.expectLine(list(``, "Team"))

	if err := h.st.SetDisabled(context.Background(), "alice@example.org", true); err != nil {
		t.Fatal(err)
	}
	bob.expectLine(list(`\\NonExistent`, "Team"))
	h.put(h.alice, "Team", testMsg)
	bob.quiet()
	if err := h.st.SetDisabled(context.Background(), "alice@example.org", false); err != nil {
		t.Fatal(err)
	}
	bob.expectLine(list(``, "Team"))
	h.put(h.alice, "Team", testMsg)
	bob.expectLine(status("Team", `MESSAGES 5 UIDNEXT 6 UIDVALIDITY \d+ UNSEEN 5`))

	alice = h.loginAs("alice@example.org", alicePass)
	want(t, "DELETE", alice.cmd(`DELETE Team`), "T OK")
	bob.expectLine(list(`\\NonExistent`, "Team"))
	bob.quiet()

	// PERSONAL never covers a shared mailbox (§6.4).
	want(t, "NOTIFY PERSONAL", bob.cmd(`NOTIFY SET (PERSONAL (MailboxName SubscriptionChange))`), "T OK")
	want(t, "SETACL", alice.cmd(`SETACL Private bob@example.org lr`), "T OK")
	bob.quiet()
}

// TestNotifySharedOwnerEnabled: bob follows alice's Shared by message
// events only; while alice is disabled it is told of no more (she shares
// nothing, sharingOwner); once she is enabled again it is, though bob let
// her feed go: her enabling is told to his own feed (store.ChangeShared).
// His other session's CREATE, told after it on his feed, marks when his
// session has read it.
func TestNotifySharedOwnerEnabled(t *testing.T) {
	h := newHarness(t)
	_, bob := shareSetup(t, h, "lr")
	want(t, "NOTIFY", bob.cmd(`NOTIFY SET (PERSONAL (MailboxName)) (SUBTREE "Other Users" (MessageNew MessageExpunge))`), "T OK")
	if err := h.st.SetDisabled(context.Background(), "alice@example.org", true); err != nil {
		t.Fatal(err)
	}
	h.put(h.alice, "Shared", testMsg)
	bob.quiet()
	if err := h.st.SetDisabled(context.Background(), "alice@example.org", false); err != nil {
		t.Fatal(err)
	}
	bob2 := h.loginAs("bob@example.org", bobPass)
	want(t, "CREATE", bob2.cmd(`CREATE Marker`), "T OK")
	bob.expectLine(`\* LIST \(\) "/" "Marker"`)
	h.put(h.alice, "Shared", testMsg)
	bob.expectLine(sharedStatus(`MESSAGES 4 UIDNEXT 5 UIDVALIDITY \d+ UNSEEN \d+`))
}
