package postgres

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"postel/internal/deliver"
	"postel/internal/store"
)

// importSpool is a finished spool of st holding body.
func importSpool(t *testing.T, st *Store, body string) store.Spool {
	t.Helper()
	sp, err := st.NewSpool()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(sp, body); err != nil {
		t.Fatal(err)
	}
	if err := sp.Finish(); err != nil {
		t.Fatal(err)
	}
	return sp
}

// importBody parses body (with prefix) as deliver does for the import.
func importBody(t *testing.T, st *Store, prefix, body string) *store.Delivery {
	t.Helper()
	d, err := deliver.Prepare(importSpool(t, st, body), []byte(prefix), nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestImport: every Importer method keeps what it is given, can run again
// without doubling anything, and leaves the store so that what comes after
// (deliveries, new mailboxes, queue entries) continues above the imported
// identities.
func TestImport(t *testing.T) {
	bg := context.Background()
	st := open(t, newDB(t))
	if err := st.AddDomain(bg, "example.org"); err != nil {
		t.Fatal(err)
	}
	created := time.Unix(1_700_000_000, 0)
	in := store.Account{Address: "Alice@Example.org", Credentials: store.Credentials{PasswordHash: "h", SCRAMSHA256: "s"},
		QuotaBytes: 10, Disabled: true, AuthEpoch: 7, Created: created, UsedBytes: 999}
	id, err := st.ImportAccount(bg, in)
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.AccountByID(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	if a.Address != "alice@example.org" || a.Credentials != in.Credentials || a.QuotaBytes != 10 || !a.Disabled || a.AuthEpoch != 7 ||
		!a.Created.Equal(created) || a.UsedBytes != 0 {
		t.Fatalf("imported account %+v", a)
	}
	if again, err := st.ImportAccount(bg, in); err != nil || again != id {
		t.Fatalf("second import: %d, %v; want %d", again, err, id)
	}
	if mbs, err := st.ListMailboxes(bg, id); err != nil || len(mbs) != 0 {
		t.Fatalf("an imported account has mailboxes: %v, %v", mbs, err)
	}
	if _, err := st.ImportAccount(bg, store.Account{Address: "bob@elsewhere.example"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("account of a domain not here: %v", err)
	}

	// Mailboxes keep their identities; a future UIDVALIDITY pushes the
	// next new mailbox's above it.
	future := uint32(time.Now().Add(1000 * time.Hour).Unix())
	inboxIn := store.Mailbox{Name: "INBOX", UIDValidity: 1000, UIDNext: 10, HighestModSeq: 50, Subscribed: true}
	inbox, err := st.ImportMailbox(bg, id, inboxIn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ImportMailbox(bg, id, store.Mailbox{Name: "Archive/2020", UIDValidity: future, UIDNext: 1, HighestModSeq: 1,
		SpecialUse: store.RoleArchive}); err != nil {
		t.Fatal(err)
	}
	if again, err := st.ImportMailbox(bg, id, inboxIn); err != nil || again != inbox {
		t.Fatalf("second import: %d, %v; want %d", again, err, inbox)
	}
	if _, err := st.ImportMailbox(bg, id, store.Mailbox{Name: "INBOX", UIDValidity: 1001}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("INBOX with another UIDVALIDITY: %v", err)
	}
	mbs, err := st.ListMailboxes(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(mbs) != 2 || mbs[0].Name != "Archive/2020" || mbs[0].UIDValidity != future || mbs[0].SpecialUse != store.RoleArchive ||
		mbs[0].Subscribed || mbs[1].UIDValidity != 1000 || mbs[1].UIDNext != 10 || mbs[1].HighestModSeq != 50 || !mbs[1].Subscribed {
		t.Fatalf("imported mailboxes %+v", mbs)
	}
	fresh, err := st.CreateMailbox(bg, id, "New", "")
	if err != nil {
		t.Fatal(err)
	}
	if fresh.UIDValidity <= future {
		t.Fatalf("new mailbox UIDVALIDITY %d, not above the imported %d", fresh.UIDValidity, future)
	}

	// A message keeps UID, MODSEQ, flags and dates; its bytes are served
	// as given; it is searchable; the quota does not stop it; used bytes
	// count it once.
	const prefix = "Return-Path: <x@remote.example>\r\n"
	const body = "From: x@remote.example\r\nSubject: imported\r\n\r\nthe zanzibar report\r\n"
	idate, sdate := time.Unix(1_600_000_000, 0), time.Unix(1_650_000_000, 0)
	m := store.Message{UID: 3, ModSeq: 20, Flags: []string{"$Label", `\Seen`}, InternalDate: idate, SaveDate: sdate,
		Size: int64(len(prefix + body))}
	d := importBody(t, st, prefix, body)
	if err := st.ImportMessage(bg, id, inbox, m, d); err != nil {
		t.Fatal(err)
	}
	if err := st.ImportMessage(bg, id, inbox, m, importBody(t, st, prefix, body)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second import of UID 3: %v", err)
	}
	bad := m
	bad.UID, bad.Size = 4, 1
	if err := st.ImportMessage(bg, id, inbox, bad, importBody(t, st, prefix, body)); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("import with a wrong size: %v", err)
	}
	if err := st.ImportMessage(bg, id, fresh.ID+1000, m, importBody(t, st, prefix, body)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("import into a missing mailbox: %v", err)
	}
	msgs, err := st.Messages(bg, id, inbox, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].UID != 3 || msgs[0].ModSeq != 20 || !slices.Equal(msgs[0].Flags, []string{`\Seen`, "$Label"}) ||
		!msgs[0].InternalDate.Equal(idate) || !msgs[0].SaveDate.Equal(sdate) || msgs[0].Size != m.Size {
		t.Fatalf("imported messages %+v", msgs)
	}
	r, err := st.OpenMessage(bg, id, inbox, 3)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(got) != prefix+body {
		t.Fatalf("served %q, %v", got, err)
	}
	metas, err := st.MessageMetas(bg, id, inbox, nil)
	if err != nil {
		t.Fatal(err)
	}
	if metas[3].Subject != "imported" || len(metas[3].Envelope) == 0 {
		t.Fatalf("imported meta %+v", metas[3])
	}
	if uids, ok, err := st.SearchText(bg, id, inbox, []string{"Zanzibar"}, false); err != nil || !ok || !slices.Equal(uids, []uint32{3}) {
		t.Fatalf("SearchText = %v, %v, %v", uids, ok, err)
	}
	if used, n, err := st.Usage(bg, id); err != nil || used != m.Size || n != 1 {
		t.Fatalf("Usage = %d, %d, %v; want %d, 1", used, n, err, m.Size)
	}

	// A batch is all or none.
	batch := []store.Message{{UID: 7, ModSeq: 21, Size: int64(len(body))}, {UID: 3, ModSeq: 22}}
	if err := st.ImportMessages(bg, id, inbox, batch, []*store.Delivery{importBody(t, st, "", body), importBody(t, st, "", body)}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("batch with UID 3 again: %v", err)
	}
	if msgs, err := st.Messages(bg, id, inbox, 0); err != nil || len(msgs) != 1 {
		t.Fatalf("after a refused batch: %+v, %v", msgs, err)
	}
	batch[1].UID = 8
	if err := st.ImportMessages(bg, id, inbox, batch, []*store.Delivery{importBody(t, st, "", body), importBody(t, st, "", body)}); err != nil {
		t.Fatal(err)
	}
	if msgs, err := st.Messages(bg, id, inbox, 0); err != nil || len(msgs) != 3 || msgs[1].UID != 7 || msgs[2].ModSeq != 22 {
		t.Fatalf("after a batch: %+v, %v", msgs, err)
	}
	if used, n, err := st.Usage(bg, id); err != nil || used != m.Size+2*int64(len(body)) || n != 3 {
		t.Fatalf("Usage = %d, %d, %v", used, n, err)
	}
	if _, err := st.Expunge(bg, id, inbox, []uint32{7, 8}); err != nil {
		t.Fatal(err)
	}
	// The expunge took MODSEQ 51 (the mailbox's HIGHESTMODSEQ was 50).

	// Removals are recorded once each, and raise UIDNEXT and
	// HIGHESTMODSEQ when above them.
	gone := []store.Expunged{{UID: 2, ModSeq: 15}, {UID: 12, ModSeq: 60}}
	for range 2 {
		if err := st.ImportExpunged(bg, id, inbox, gone); err != nil {
			t.Fatal(err)
		}
	}
	want := []store.Expunged{{UID: 2, ModSeq: 15}, {UID: 7, ModSeq: 51}, {UID: 8, ModSeq: 51}, {UID: 12, ModSeq: 60}}
	if ex, err := st.ExpungedSince(bg, id, inbox, 0); err != nil || !slices.Equal(ex, want) {
		t.Fatalf("ExpungedSince = %v, %v", ex, err)
	}
	if mb, err := st.Mailbox(bg, id, "INBOX"); err != nil || mb.UIDNext != 13 || mb.HighestModSeq != 60 {
		t.Fatalf("INBOX after the expunges: %+v, %v", mb, err)
	}

	// A delivery continues above.
	if err := st.SetQuota(bg, "alice@example.org", 0); err != nil {
		t.Fatal(err)
	}
	out, err := st.Deliver(bg, &store.Delivery{Spool: importSpool(t, st, "Subject: new\r\n\r\nx\r\n"),
		Targets: []store.Target{{AccountID: id}}})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].UID != 13 || out[0].UIDValidity != 1000 {
		t.Fatalf("delivered after the import: %+v", out[0])
	}
	if mb, err := st.Mailbox(bg, id, "INBOX"); err != nil || mb.HighestModSeq != 61 || mb.UIDNext != 14 {
		t.Fatalf("INBOX after a delivery: %+v, %v", mb, err)
	}

	// A queue entry keeps its ID and its recipients' states; new entries
	// come after it.
	lastChange := time.Unix(1_700_000_100, 0)
	qe := store.QueueEntry{ID: 42, AccountID: id, From: "alice@example.org", DSNRet: "HDRS", DSNEnvID: "env1", RequireTLS: true,
		SMTPUTF8: true, Body8Bit: true, Created: created, NextAttempt: created.Add(time.Hour), Attempts: 2,
		Prefix: []byte("Received: q\r\n"), Recipients: []store.QueueRcpt{
			{Address: "a@one.example", Notify: []string{"SUCCESS", "FAILURE"}, ORcpt: "rfc822;a@one.example", Status: "delivered",
				Attempts: 1, LastReply: "250 ok", LastChange: lastChange},
			{Address: "b@two.example", Status: "pending", Attempts: 2, LastReply: "451 later", LastChange: lastChange},
		}}
	qe.Size = int64(len(qe.Prefix)) + int64(len("Subject: q\r\n\r\nx\r\n"))
	if err := st.ImportQueueEntry(bg, qe, importSpool(t, st, "Subject: q\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := st.ImportQueueEntry(bg, qe, importSpool(t, st, "Subject: q\r\n\r\nx\r\n")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second import of entry 42: %v", err)
	}
	e, err := st.QueueEntry(bg, 42)
	if err != nil {
		t.Fatal(err)
	}
	if e.From != qe.From || e.AccountID != id || e.DSNRet != "HDRS" || e.DSNEnvID != "env1" || !e.RequireTLS || !e.SMTPUTF8 ||
		!e.Body8Bit || !e.Created.Equal(created) || !e.NextAttempt.Equal(qe.NextAttempt) || e.Attempts != 2 || e.Size != qe.Size ||
		string(e.Prefix) != "Received: q\r\n" || len(e.Recipients) != 2 {
		t.Fatalf("imported entry %+v", e)
	}
	for i, r := range e.Recipients {
		w := qe.Recipients[i]
		if r.Address != w.Address || !slices.Equal(r.Notify, w.Notify) || r.ORcpt != w.ORcpt || r.Status != w.Status ||
			r.Attempts != w.Attempts || r.LastReply != w.LastReply || !r.LastChange.Equal(w.LastChange) {
			t.Fatalf("recipient %d: %+v, want %+v", i, r, w)
		}
	}
	qr, err := st.OpenQueued(bg, 42)
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(qr)
	qr.Close()
	if err != nil || string(got) != "Received: q\r\nSubject: q\r\n\r\nx\r\n" {
		t.Fatalf("queued bytes %q, %v", got, err)
	}
	out, err = st.Deliver(bg, &store.Delivery{Spool: importSpool(t, st, "Subject: q2\r\n\r\nx\r\n"),
		Queue: &store.QueueEntry{From: "alice@example.org", Recipients: []store.QueueRcpt{{Address: "c@three.example"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].QueueID <= 42 {
		t.Fatalf("new queue entry %d, not above the imported 42", out[0].QueueID)
	}

	// Junk rules and reputations keep their times.
	rule := store.JunkRule{Kind: store.JunkBlock, Pattern: "spam.example", Created: created}
	rep := store.SenderReputation{Sender: "x@remote.example", Spam: 3, Ham: 1, Last: store.MarkHam, Updated: time.Unix(1_700_000_000, 123)}
	for range 2 {
		if err := st.ImportJunkRule(bg, id, rule); err != nil {
			t.Fatal(err)
		}
		if err := st.ImportReputation(bg, id, rep); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.ImportJunkRule(bg, id, store.JunkRule{Kind: store.JunkAllow, Pattern: "spam.example"}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("rule of the other kind: %v", err)
	}
	rules, err := st.JunkRules(bg, id)
	if err != nil || len(rules) != 1 || rules[0] != rule {
		t.Fatalf("JunkRules = %+v, %v", rules, err)
	}
	reps, err := st.Reputations(bg, id)
	if err != nil || len(reps) != 1 || reps[0] != rep {
		t.Fatalf("Reputations = %+v, %v", reps, err)
	}
}
