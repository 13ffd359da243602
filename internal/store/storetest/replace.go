package storetest

import (
	"testing"

	"postel/internal/store"
)

// testDeliverReplaces: a Delivery with Replaces stores the new message and
// expunges the old one in one transaction (IMAP REPLACE, RFC 8508): both
// or neither; the quota counts the space the old message frees.
func testDeliverReplaces(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	b := Account(t, st, "bob@example.org")
	old := Deliver(t, st, "Subject: draft 1\r\n\r\n"+string(make([]byte, 40))+"\r\n", a.ID)[0]
	inbox := old.MailboxID
	drafts := mailbox(t, st, a.ID, "Drafts")
	ref := &store.MessageRef{AccountID: a.ID, MailboxID: inbox, UID: old.UID}

	// The old message gone meanwhile: nothing is stored.
	gone := Deliver(t, st, "Subject: gone\r\n\r\nx\r\n", a.ID)[0]
	_, err := st.Expunge(ctx, a.ID, inbox, []uint32{gone.UID})
	must(t, err)
	_, err = st.Deliver(ctx, &store.Delivery{Spool: Spool(t, st, "Subject: new\r\n\r\nnew\r\n"),
		Targets:  []store.Target{{AccountID: a.ID, Mailbox: "Drafts"}},
		Replaces: &store.MessageRef{AccountID: a.ID, MailboxID: inbox, UID: gone.UID}})
	wantErr(t, err, store.ErrNotFound)
	// Another account's message cannot be named.
	_, err = st.Deliver(ctx, &store.Delivery{Spool: Spool(t, st, "Subject: new\r\n\r\nnew\r\n"),
		Targets:  []store.Target{{AccountID: b.ID, Mailbox: "Drafts"}},
		Replaces: &store.MessageRef{AccountID: b.ID, MailboxID: inbox, UID: old.UID}})
	wantErr(t, err, store.ErrNotFound)
	// A target that fails (no such mailbox) keeps the old message.
	_, err = st.Deliver(ctx, &store.Delivery{Spool: Spool(t, st, "Subject: new\r\n\r\nnew\r\n"),
		Targets: []store.Target{{AccountID: a.ID, Mailbox: "Nope"}}, Replaces: ref})
	wantErr(t, err, store.ErrNotFound)
	if ms := messages(t, st, a.ID, inbox); len(ms) != 1 || ms[0].UID != old.UID {
		t.Fatalf("after failed replaces, INBOX = %+v", ms)
	}
	if ms := messages(t, st, a.ID, drafts.ID); len(ms) != 0 {
		t.Fatalf("after failed replaces, Drafts = %+v", ms)
	}

	// A quota the old and new message do not fit in together, but the
	// new one alone does.
	used, _, err := st.Usage(ctx, a.ID)
	must(t, err)
	must(t, st.SetQuota(ctx, a.Address, used+30))
	out, err := st.Deliver(ctx, &store.Delivery{Spool: Spool(t, st, "Subject: draft 2\r\n\r\n"+string(make([]byte, 40))+"\r\n"),
		Targets: []store.Target{{AccountID: a.ID, Mailbox: "Drafts"}}, Replaces: ref})
	must(t, err)
	if ms := messages(t, st, a.ID, inbox); len(ms) != 0 {
		t.Fatalf("replaced message still in INBOX: %+v", ms)
	}
	if got := read(t, st, a.ID, drafts.ID, out[0].UID); got != "Subject: draft 2\r\n\r\n"+string(make([]byte, 40))+"\r\n" {
		t.Fatalf("new message reads %q", got)
	}
	ex, err := st.ExpungedSince(ctx, a.ID, inbox, 0)
	must(t, err)
	found := false
	for _, e := range ex {
		found = found || e.UID == old.UID
	}
	if !found {
		t.Fatalf("the replaced message is not among the expunged: %+v", ex)
	}
}

// testDeliverAllReplacesAcross: IMAP MOVE between accounts (a shared
// mailbox and the grantee's own) is a DeliverAll whose deliveries each
// replace their source in another account: all or none (RFC 6851 §3.3),
// and the space moves from one account's use to the other's.
func testDeliverAllReplacesAcross(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	b := Account(t, st, "bob@example.org")
	m1 := Deliver(t, st, "Subject: one\r\n\r\n1\r\n", a.ID)[0]
	m2 := Deliver(t, st, "Subject: two\r\n\r\n2\r\n", a.ID)[0]
	m3 := Deliver(t, st, "Subject: three\r\n\r\n3\r\n", a.ID)[0]
	inbox := m1.MailboxID
	_, err := st.Expunge(ctx, a.ID, inbox, []uint32{m3.UID})
	must(t, err)
	move := func(uids ...uint32) error {
		var ds []*store.Delivery
		for _, uid := range uids {
			ds = append(ds, &store.Delivery{Spool: Spool(t, st, "Subject: moved\r\n\r\nx\r\n"),
				Targets:  []store.Target{{AccountID: b.ID, Mailbox: "INBOX"}},
				Replaces: &store.MessageRef{AccountID: a.ID, MailboxID: inbox, UID: uid}})
		}
		_, err := st.DeliverAll(ctx, ds)
		return err
	}
	bInbox := mailbox(t, st, b.ID, "INBOX")
	// One source gone: nothing moves.
	counts := func(when string, inA, inB int) {
		t.Helper()
		if ms := messages(t, st, a.ID, inbox); len(ms) != inA {
			t.Fatalf("%s, alice's INBOX = %+v", when, ms)
		}
		if ms := messages(t, st, b.ID, bInbox.ID); len(ms) != inB {
			t.Fatalf("%s, bob's INBOX = %+v", when, ms)
		}
	}
	wantErr(t, move(m1.UID, m3.UID), store.ErrNotFound)
	counts("after a failed move", 2, 0)
	usedA, _, err := st.Usage(ctx, a.ID)
	must(t, err)
	must(t, move(m1.UID, m2.UID))
	counts("after the move", 0, 2)
	afterA, _, err := st.Usage(ctx, a.ID)
	must(t, err)
	usedB, _, err := st.Usage(ctx, b.ID)
	must(t, err)
	if afterA >= usedA || usedB == 0 {
		t.Fatalf("use after the move: alice %d -> %d, bob %d", usedA, afterA, usedB)
	}
}
