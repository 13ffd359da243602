package imapserver

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// A disabled owner shares nothing: its grantees find its shared mailboxes
// as mailboxes that do not exist, from their next command, until the
// owner is enabled again.

// TestACLOwnerDisabled: once alice is disabled, bob's LIST, LSUB and
// LIST-EXTENDED leave out what she shared (with him or with anyone), and
// every command naming one of her shared mailboxes is answered exactly as
// for a mailbox of an account that does not exist. Enabling her again
// gives bob back what he had.
func TestACLOwnerDisabled(t *testing.T) {
	h := newHarness(t)
	alice, bob := shareSetup(t, h, "lrswipkxtea")
	want(t, "CREATE Public", alice.cmd(`CREATE Public`), "T OK")
	want(t, "SETACL anyone", alice.cmd(`SETACL Public anyone lr`), "T OK")
	h.put(h.bob, "INBOX", testMsg)

	lists := []string{`LIST "" "*"`, `LSUB "" "*"`, `LIST (SUBSCRIBED) "" "*"`, `LIST "" "Other Users/%/%"`,
		`LIST "" "*" RETURN (MYRIGHTS STATUS (MESSAGES))`, `LIST "Other Users/" "*"`}
	shows := func(what string) bool {
		for _, l := range lists {
			got := bob.cmd(l)
			want(t, l, got, "T OK")
			if slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "alice@example.org") }) {
				return true
			}
		}
		return false
	}
	if !shows("before") {
		t.Fatal("LIST does not show alice's shared mailboxes before she is disabled")
	}
	want(t, "SELECT before", bob.cmd(`SELECT `+sharedShared), "T OK")
	want(t, "CLOSE", bob.cmd(`CLOSE`), "T OK")

	if err := h.st.SetDisabled(context.Background(), "alice@example.org", true); err != nil {
		t.Fatal(err)
	}
	for _, l := range lists {
		if got := bob.cmd(l); slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "alice@example.org") }) {
			t.Errorf("%s shows alice's mailboxes while she is disabled: %q", l, got)
		}
	}
	// Each command on alice's Shared (she exists, disabled) is answered
	// as on the same name of an account that does not exist.
	body := "Subject: drop\r\n\r\nx\r\n"
	cmds := []string{`SELECT "%s"`, `EXAMINE "%s"`, `STATUS "%s" (MESSAGES)`, `MYRIGHTS "%s"`, `GETACL "%s"`,
		`SETACL "%s" bob@example.org lr`, `DELETEACL "%s" bob@example.org`, `LISTRIGHTS "%s" bob@example.org`,
		`GETQUOTAROOT "%s"`, `DELETE "%s"`, `RENAME "%s" Mine`, `SUBSCRIBE "%s"`, `CREATE "%s/Child"`,
		`APPEND "%s" {` + itoa(len(body)) + "+}\r\n" + body,
		`SELECT INBOX`, `COPY 1 "%s"`, `MOVE 1 "%s"`, `UID COPY 1:* "%s"`}
	names := []string{"Other Users/alice@example.org/Shared", "Other Users/nobody@example.org/Shared"}
	for _, cmd := range cmds {
		if !strings.Contains(cmd, "%s") {
			want(t, cmd, bob.cmd(cmd), "T OK")
			continue
		}
		var got [2]string
		for i, mb := range names {
			got[i] = last(bob.cmd(strings.ReplaceAll(cmd, "%s", mb)))
		}
		verb := strings.Fields(cmd)[0]
		switch {
		case got[0] != got[1]:
			t.Errorf("%s: alice's answered %q, nobody's %q", verb, got[0], got[1])
		case verb != "SUBSCRIBE" && !strings.HasPrefix(got[0], "T NO ["):
			t.Errorf("%s: %q, want a NO as for a mailbox that does not exist", verb, got[0])
		}
	}
	// SUBSCRIBE above kept both names: LSUB and LIST (SUBSCRIBED) give
	// them alike, as subscriptions of no mailbox (RFC 9051 §6.3.9).
	for _, l := range []string{`LSUB "" "Other Users/*"`, `LIST (SUBSCRIBED) "" "Other Users/*"`} {
		got := bob.cmd(l)
		var alices, nobodys string
		for _, line := range got {
			if strings.Contains(line, "alice@example.org") {
				alices = line
			} else if strings.Contains(line, "nobody@example.org") {
				nobodys = line
			}
		}
		if alices == "" || strings.ReplaceAll(alices, "alice@", "nobody@") != nobodys ||
			!(strings.Contains(alices, `\NonExistent`) || strings.HasPrefix(alices, `* LSUB (\Noselect)`)) {
			t.Errorf("%s: alice's and nobody's differ, or are mailboxes: %q", l, got)
		}
	}
	if got := h.messages(h.alice, "Shared"); len(got) != 2 {
		t.Errorf("alice's Shared has %d messages, want the 2 it had", len(got))
	}

	if err := h.st.SetDisabled(context.Background(), "alice@example.org", false); err != nil {
		t.Fatal(err)
	}
	if !shows("after") {
		t.Error("LIST does not show alice's shared mailboxes once she is enabled again")
	}
	want(t, "SELECT after enable", bob.cmd(`SELECT `+sharedShared), "T OK")
	hasLine(t, "MYRIGHTS after enable", bob.cmd(`MYRIGHTS `+sharedShared), `* MYRIGHTS `+sharedShared+` lrswipkxteacd`)
}

// TestACLOwnerDisabledWhileSelected: a grantee with the shared mailbox
// selected sees it go at its next command when the owner is disabled, as
// when its r right is revoked (checkSelected): OK [CLOSED] and the
// command of the selected state refused; one idling is told at once.
func TestACLOwnerDisabledWhileSelected(t *testing.T) {
	h := newHarness(t)
	_, bob := shareSetup(t, h, "lr")
	want(t, "SELECT", bob.cmd(`SELECT `+sharedShared), "T OK")
	idler := h.loginAs("bob@example.org", bobPass)
	want(t, "idler SELECT", idler.cmd(`SELECT `+sharedShared), "T OK")
	idler.send("I IDLE")
	if l := idler.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}

	if err := h.st.SetDisabled(context.Background(), "alice@example.org", true); err != nil {
		t.Fatal(err)
	}
	if l := idler.line(); l != "* OK [CLOSED] Access to the selected mailbox was revoked" {
		t.Fatalf("during IDLE: %q", l)
	}
	idler.send("DONE")
	want(t, "IDLE", idler.until("I "), "I OK")
	want(t, "idler FETCH", idler.cmd(`FETCH 1 FLAGS`), "T BAD")

	f := bob.cmd(`FETCH 1 FLAGS`)
	want(t, "FETCH after disable", f, "T NO [NOPERM]")
	hasLine(t, "FETCH after disable", f, "* OK [CLOSED] Access to the selected mailbox was revoked")
	want(t, "FETCH when closed", bob.cmd(`FETCH 1 FLAGS`), "T BAD")
	want(t, "SELECT while disabled", bob.cmd(`SELECT `+sharedShared), "T NO [NONEXISTENT]")

	if err := h.st.SetDisabled(context.Background(), "alice@example.org", false); err != nil {
		t.Fatal(err)
	}
	want(t, "SELECT after enable", bob.cmd(`SELECT `+sharedShared), "T OK")
	want(t, "FETCH after enable", bob.cmd(`FETCH 1 FLAGS`), "T OK")
}
