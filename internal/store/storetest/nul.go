package storetest

import (
	"slices"
	"testing"
	"time"

	"postel/internal/store"
)

// nulOf returns the NUL of each UID of a mailbox, failing the test when
// one is missing.
func nulOf(t *testing.T, st store.Store, acct, mb int64, uids ...uint32) []store.NUL {
	t.Helper()
	msgs := messages(t, st, acct, mb)
	out := make([]store.NUL, len(uids))
	for i, uid := range uids {
		j := slices.IndexFunc(msgs, func(m store.Message) bool { return m.UID == uid })
		if j < 0 {
			t.Fatalf("no UID %d in mailbox %d: %+v", uid, mb, msgs)
		}
		out[i] = msgs[j].NUL
	}
	return out
}

// testMessageNUL: whether a message's octets hold a NUL (Message.NUL) is
// recorded when it is stored, from the spool, and travels with it through
// every path that makes a message: delivery, COPY, MOVE, a delivery that
// replaces another (REPLACE, a MOVE across accounts) and an import.
func testMessageNUL(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	b := Account(t, st, "bob@example.org")
	inbox := mailbox(t, st, a.ID, "INBOX")
	clean := Deliver(t, st, "Subject: clean\r\n\r\nno NUL here\r\n", a.ID)[0]
	dirty := Deliver(t, st, "Subject: dirty\r\n\r\nx\x00y\r\n", a.ID)[0]
	// A NUL in the first or the last octet written counts as well as one
	// inside.
	edge := Deliver(t, st, "\x00", a.ID)[0]
	want := []store.NUL{store.NULNone, store.NULSome, store.NULSome}
	if got := nulOf(t, st, a.ID, inbox.ID, clean.UID, dirty.UID, edge.UID); !slices.Equal(got, want) {
		t.Fatalf("delivered: NUL %v, want %v", got, want)
	}

	// COPY and MOVE keep it.
	arch := mailbox(t, st, a.ID, "Archive")
	res, err := st.Copy(ctx, a.ID, inbox.ID, []uint32{clean.UID, dirty.UID}, arch.ID)
	must(t, err)
	if got := nulOf(t, st, a.ID, arch.ID, res.Dest...); !slices.Equal(got, want[:2]) {
		t.Fatalf("copied: NUL %v, want %v", got, want[:2])
	}
	trash := mailbox(t, st, a.ID, "Trash")
	res, _, err = st.Move(ctx, a.ID, arch.ID, res.Dest, trash.ID)
	must(t, err)
	if got := nulOf(t, st, a.ID, trash.ID, res.Dest...); !slices.Equal(got, want[:2]) {
		t.Fatalf("moved: NUL %v, want %v", got, want[:2])
	}

	// A delivery replacing another (REPLACE) has its own body's.
	drafts := mailbox(t, st, a.ID, "Drafts")
	first, err := st.Deliver(ctx, &store.Delivery{Spool: Spool(t, st, "Subject: d1\r\n\r\nclean\r\n"),
		Targets: []store.Target{{AccountID: a.ID, Mailbox: "Drafts"}}})
	must(t, err)
	second, err := st.Deliver(ctx, &store.Delivery{Spool: Spool(t, st, "Subject: d2\r\n\r\nN\x00L\r\n"),
		Targets:  []store.Target{{AccountID: a.ID, Mailbox: "Drafts"}},
		Replaces: &store.MessageRef{AccountID: a.ID, MailboxID: drafts.ID, UID: first[0].UID}})
	must(t, err)
	if got := nulOf(t, st, a.ID, drafts.ID, second[0].UID); got[0] != store.NULSome {
		t.Fatalf("replacing delivery: NUL %v, want NULSome", got)
	}

	// Across accounts (IMAP COPY and MOVE between a shared mailbox and
	// one's own): one delivery each, replacing its source for a MOVE.
	out, err := st.DeliverAll(ctx, []*store.Delivery{
		{Spool: Spool(t, st, "Subject: to bob\r\n\r\nclean\r\n"), Targets: []store.Target{{AccountID: b.ID}}},
		{Spool: Spool(t, st, "Subject: to bob\r\n\r\nx\x00y\r\n"), Targets: []store.Target{{AccountID: b.ID}},
			Replaces: &store.MessageRef{AccountID: a.ID, MailboxID: inbox.ID, UID: dirty.UID}},
	})
	must(t, err)
	bInbox := mailbox(t, st, b.ID, "INBOX")
	if got := nulOf(t, st, b.ID, bInbox.ID, out[0][0].UID, out[1][0].UID); !slices.Equal(got, want[:2]) {
		t.Fatalf("delivered across accounts: NUL %v, want %v", got, want[:2])
	}

	// An import (a store copied into this one) records it from the body.
	if imp, ok := st.(store.Importer); ok {
		mb, err := st.CreateMailbox(ctx, a.ID, "Imported", store.RoleNone)
		must(t, err)
		date := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		for i, body := range []string{"Subject: i\r\n\r\nclean\r\n", "Subject: i\r\n\r\nx\x00y\r\n"} {
			m := store.Message{UID: uint32(10 + i), ModSeq: 5, InternalDate: date, Size: int64(len(body))}
			must(t, imp.ImportMessage(ctx, a.ID, mb.ID, m, &store.Delivery{Spool: Spool(t, st, body)}))
		}
		if got := nulOf(t, st, a.ID, mb.ID, 10, 11); !slices.Equal(got, want[:2]) {
			t.Fatalf("imported: NUL %v, want %v", got, want[:2])
		}
	}
}

// testMetaNUL: the text parsed from a message with NUL octets or octets
// that are no UTF-8 (its search text, decoded header fields) is stored; a
// database whose text cannot hold them (PostgreSQL) must not refuse the
// delivery.
func testMetaNUL(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	raw := "Subject: s\x00t\r\nFrom: a@example.org\r\n\r\nbody\x00text word\r\n"
	d := &store.Delivery{Spool: Spool(t, st, raw), Targets: []store.Target{{AccountID: a.ID}},
		Meta: store.MessageMeta{Subject: "s\x00t caf\xe9", From: "a\x00@example.org", To: "\xff@x", MessageID: "<m\x00@x>",
			InReplyTo: "<r\x00@x>", References: []string{"<q\xfe@x>"},
			HeadersText: "Subject: s\x00t caf\xe9", BodyText: "body\x00text word \xe9t\xe9"}}
	out, err := st.Deliver(ctx, d)
	must(t, err)
	inbox := mailbox(t, st, a.ID, "INBOX")
	metas, err := st.MessageMetas(ctx, a.ID, inbox.ID, []uint32{out[0].UID})
	must(t, err)
	if m := metas[out[0].UID]; m.Subject == "" || m.From == "" {
		t.Fatalf("meta of a message with NUL: %+v", m)
	}
	// Its text is searchable on both sides of the NUL.
	for _, term := range []string{"body", "word"} {
		got, ok, err := st.SearchText(ctx, a.ID, inbox.ID, []string{term}, false)
		must(t, err)
		if !ok || !slices.Contains(got, out[0].UID) {
			t.Errorf("SearchText(%q) = %v, %v; want UID %d among them", term, got, ok, out[0].UID)
		}
	}
}
