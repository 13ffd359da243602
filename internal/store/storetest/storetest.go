// Package storetest is the conformance suite every store.Store
// implementation runs: call Run from the implementation's tests. An
// implementation must also be a store.JunkStore, a store.AuthEpochs and a
// store.Metadata.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"postel/internal/store"
)

// Opener returns a new, empty store for one test; the suite closes it.
type Opener func(t *testing.T) store.Store

// Run runs the whole suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st store.Store)
	}{
		{"Domains", testDomains},
		{"Accounts", testAccounts},
		{"Aliases", testAliases},
		{"Mailboxes", testMailboxes},
		{"Deliver", testDeliver},
		{"DeliverQueue", testDeliverQueue},
		{"Quota", testQuota},
		{"Flags", testFlags},
		{"Expunge", testExpunge},
		{"Isolation", testIsolation},
		{"Notifications", testNotifications},
		{"ConcurrentDelivery", testConcurrentDelivery},
		{"DeliverAllAtomic", testDeliverAllAtomic},
		{"DeliverReplaces", testDeliverReplaces},
		{"DeliverAllReplacesAcross", testDeliverAllReplacesAcross},
		{"CopyMove", testCopyMove},
		{"CopyKeywordCase", testCopyKeywordCase},
		{"MessageNUL", testMessageNUL},
		{"MetaNUL", testMetaNUL},
		{"SearchText", testSearchText},
		{"Usage", testUsage},
		{"QueueLifecycle", testQueueLifecycle},
		{"JunkRules", testJunkRules},
		{"Reputation", testReputation},
		{"JunkIsolation", testJunkIsolation},
		{"AuthEpoch", testAuthEpoch},
		{"AccountChanges", testAccountChanges},
		{"WatchAccount", testWatchAccount},
		{"Leases", testLeases},
		{"LoginFailures", testLoginFailures},
		{"Metadata", testMetadata},
		{"SubscriptionChanges", testSubscriptionChanges},
		{"Subscriptions", testSubscriptions},
		{"ClaimRecent", testClaimRecent},
		{"ACL", testACL},
		{"ACLLifecycle", testACLLifecycle},
		{"ACLSharedChange", testACLSharedChange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := open(t)
			defer st.Close()
			tc.fn(t, st)
		})
	}
}

var ctx = context.Background()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

// Account makes domain and account; it is exported for other packages'
// tests that need a populated store.
func Account(t *testing.T, st store.Store, address string) store.Account {
	t.Helper()
	d := store.DomainOf(address)
	if ok, err := st.HasDomain(ctx, d); err != nil {
		t.Fatal(err)
	} else if !ok {
		must(t, st.AddDomain(ctx, d))
	}
	a, err := st.CreateAccount(ctx, address, store.Credentials{PasswordHash: "hash-" + address})
	must(t, err)
	return a
}

// Spool returns a finished spool holding body.
func Spool(t *testing.T, st store.Store, body string) store.Spool {
	t.Helper()
	sp, err := st.NewSpool()
	must(t, err)
	_, err = io.WriteString(sp, body)
	must(t, err)
	must(t, sp.Finish())
	return sp
}

// Deliver stores body into the accounts' INBOXes.
func Deliver(t *testing.T, st store.Store, body string, accounts ...int64) []store.Delivered {
	t.Helper()
	d := &store.Delivery{Spool: Spool(t, st, body), Prefix: []byte("Received: test\r\n"),
		Meta: store.MessageMeta{Subject: "test", Envelope: []byte("{}"), Structure: []byte("{}"),
			InReplyTo: "parent@x", References: []string{"root@x", "parent@x"}}}
	for _, a := range accounts {
		d.Targets = append(d.Targets, store.Target{AccountID: a})
	}
	out, err := st.Deliver(ctx, d)
	must(t, err)
	return out
}

func read(t *testing.T, st store.Store, acct, mb int64, uid uint32) string {
	t.Helper()
	r, err := st.OpenMessage(ctx, acct, mb, uid)
	must(t, err)
	defer r.Close()
	b, err := io.ReadAll(r)
	must(t, err)
	if int64(len(b)) != r.Size() {
		t.Fatalf("read %d bytes, Size says %d", len(b), r.Size())
	}
	return string(b)
}

func testDomains(t *testing.T, st store.Store) {
	must(t, st.AddDomain(ctx, "Example.ORG"))
	wantErr(t, st.AddDomain(ctx, "example.org"), store.ErrExists)
	wantErr(t, st.AddDomain(ctx, "bad domain"), store.ErrInvalid)
	must(t, st.AddDomain(ctx, "b.example"))
	ds, err := st.ListDomains(ctx)
	must(t, err)
	if len(ds) != 2 || ds[0].Name != "b.example" || ds[1].Name != "example.org" {
		t.Fatalf("ListDomains = %v", ds)
	}
	if ok, err := st.HasDomain(ctx, "EXAMPLE.org"); err != nil || !ok {
		t.Fatalf("HasDomain = %v, %v", ok, err)
	}
	if ok, err := st.HasDomain(ctx, "other.example"); err != nil || ok {
		t.Fatalf("HasDomain(other) = %v, %v", ok, err)
	}
	Account(t, st, "a@example.org")
	wantErr(t, st.DeleteDomain(ctx, "example.org"), store.ErrInUse)
	must(t, st.DeleteDomain(ctx, "b.example"))
	wantErr(t, st.DeleteDomain(ctx, "b.example"), store.ErrNotFound)
}

func testAccounts(t *testing.T, st store.Store) {
	_, err := st.CreateAccount(ctx, "x@nowhere.example", store.Credentials{})
	wantErr(t, err, store.ErrNotFound)
	a := Account(t, st, "Alice@Example.org")
	if a.Address != "alice@example.org" || a.Domain != "example.org" || a.ID == 0 {
		t.Fatalf("account = %+v", a)
	}
	_, err = st.CreateAccount(ctx, "ALICE@example.org", store.Credentials{})
	wantErr(t, err, store.ErrExists)
	got, err := st.Account(ctx, "ALICE@EXAMPLE.ORG")
	must(t, err)
	if got.ID != a.ID || got.Credentials.PasswordHash != "hash-Alice@Example.org" {
		t.Fatalf("Account = %+v", got)
	}
	mbs, err := st.ListMailboxes(ctx, a.ID)
	must(t, err)
	roles := map[string]string{}
	for _, m := range mbs {
		roles[m.Name] = m.SpecialUse
		if m.UIDValidity == 0 || m.UIDNext != 1 || !m.Subscribed {
			t.Fatalf("new mailbox %+v", m)
		}
	}
	for _, d := range store.DefaultMailboxes {
		if r, ok := roles[d.Name]; !ok || r != d.Role {
			t.Fatalf("mailbox %s role %q (present %v), want %q", d.Name, r, ok, d.Role)
		}
	}
	must(t, st.SetCredentials(ctx, "alice@example.org", store.Credentials{PasswordHash: "new", SCRAMSHA256: "scram"}))
	must(t, st.SetQuota(ctx, "alice@example.org", 1000))
	must(t, st.SetDisabled(ctx, "alice@example.org", true))
	got, err = st.AccountByID(ctx, a.ID)
	must(t, err)
	if got.Credentials.PasswordHash != "new" || got.Credentials.SCRAMSHA256 != "scram" || got.QuotaBytes != 1000 || !got.Disabled {
		t.Fatalf("after updates: %+v", got)
	}
	wantErr(t, st.SetCredentials(ctx, "nobody@example.org", store.Credentials{}), store.ErrNotFound)
	must(t, st.SetDisabled(ctx, "alice@example.org", false))
	if got, err := st.Account(ctx, "alice@example.org"); err != nil || got.Disabled {
		t.Fatalf("after enabling: %+v, %v", got, err)
	}
	Account(t, st, "bob@example.org")
	all, err := st.ListAccounts(ctx)
	must(t, err)
	if len(all) != 2 {
		t.Fatalf("ListAccounts = %d accounts", len(all))
	}
	Deliver(t, st, "Subject: x\r\n\r\nhi\r\n", a.ID)
	must(t, st.DeleteAccount(ctx, "alice@example.org"))
	_, err = st.Account(ctx, "alice@example.org")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, st.DeleteAccount(ctx, "alice@example.org"), store.ErrNotFound)
	if mbs, err := st.ListMailboxes(ctx, a.ID); err != nil || len(mbs) != 0 {
		t.Fatalf("deleted account still has %d mailboxes (%v)", len(mbs), err)
	}
}

func testAliases(t *testing.T, st store.Store) {
	Account(t, st, "alice@example.org")
	must(t, st.AddAlias(ctx, "Team@example.org", "alice@example.org"))
	must(t, st.AddAlias(ctx, "team@example.org", "friend@elsewhere.example"))
	wantErr(t, st.AddAlias(ctx, "team@example.org", "alice@example.org"), store.ErrExists)
	must(t, st.AddAlias(ctx, "@example.org", "alice@example.org"))
	wantErr(t, st.AddAlias(ctx, "x@notlocal.example", "alice@example.org"), store.ErrInvalid)
	wantErr(t, st.AddAlias(ctx, "y@example.org", "@example.org"), store.ErrInvalid)
	a, err := st.Alias(ctx, "TEAM@example.org")
	must(t, err)
	if !slices.Equal(a.Targets, []string{"alice@example.org", "friend@elsewhere.example"}) {
		t.Fatalf("alias = %+v", a)
	}
	if c, err := st.Alias(ctx, "@example.org"); err != nil || len(c.Targets) != 1 {
		t.Fatalf("catch-all = %+v, %v", c, err)
	}
	_, err = st.Alias(ctx, "none@example.org")
	wantErr(t, err, store.ErrNotFound)
	must(t, st.DeleteAlias(ctx, "team@example.org", "friend@elsewhere.example"))
	if a, err := st.Alias(ctx, "team@example.org"); err != nil || !slices.Equal(a.Targets, []string{"alice@example.org"}) {
		t.Fatalf("after delete one: %+v, %v", a, err)
	}
	all, err := st.ListAliases(ctx)
	must(t, err)
	if len(all) != 2 {
		t.Fatalf("ListAliases = %+v", all)
	}
	must(t, st.DeleteAlias(ctx, "team@example.org", ""))
	wantErr(t, st.DeleteAlias(ctx, "team@example.org", ""), store.ErrNotFound)
}

func testMailboxes(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	m, err := st.CreateMailbox(ctx, a.ID, "Projects", "")
	must(t, err)
	_, err = st.CreateMailbox(ctx, a.ID, "Projects", "")
	wantErr(t, err, store.ErrExists)
	for _, bad := range []string{"", "/x", "x/", "a//b", "a\x00b", "a*b"} {
		_, err = st.CreateMailbox(ctx, a.ID, bad, "")
		wantErr(t, err, store.ErrInvalid)
	}
	_, err = st.CreateMailbox(ctx, a.ID, "Projects/Postel", "")
	must(t, err)
	if _, err := st.Mailbox(ctx, a.ID, "inbox"); err != nil {
		t.Fatalf("INBOX is case-insensitive: %v", err)
	}
	must(t, st.RenameMailbox(ctx, a.ID, "Projects", "Work"))
	w, err := st.Mailbox(ctx, a.ID, "Work")
	must(t, err)
	if w.ID != m.ID || w.UIDValidity != m.UIDValidity {
		t.Fatalf("rename changed identity: %+v vs %+v", w, m)
	}
	if _, err := st.Mailbox(ctx, a.ID, "Work/Postel"); err != nil {
		t.Fatalf("child not renamed: %v", err)
	}
	wantErr(t, st.RenameMailbox(ctx, a.ID, "Work", "Sent"), store.ErrExists)
	wantErr(t, st.RenameMailbox(ctx, a.ID, "Work", "Work/Sub"), store.ErrInvalid)
	wantErr(t, st.RenameMailbox(ctx, a.ID, "INBOX", "Old"), store.ErrInvalid)
	wantErr(t, st.DeleteMailbox(ctx, a.ID, "INBOX"), store.ErrInvalid)
	must(t, st.DeleteMailbox(ctx, a.ID, "Work"))
	if _, err := st.Mailbox(ctx, a.ID, "Work/Postel"); err != nil {
		t.Fatalf("child deleted with parent: %v", err)
	}
	again, err := st.CreateMailbox(ctx, a.ID, "Work", "")
	must(t, err)
	if again.UIDValidity <= w.UIDValidity {
		t.Fatalf("recreated mailbox UIDVALIDITY %d not above %d", again.UIDValidity, w.UIDValidity)
	}
	must(t, st.SetSubscribed(ctx, a.ID, "Work", false))
	if m, err := st.Mailbox(ctx, a.ID, "Work"); err != nil || m.Subscribed {
		t.Fatalf("after unsubscribing: %+v, %v", m, err)
	}
	_, err = st.CreateMailbox(ctx, a.ID, "Old", `\Bogus`)
	wantErr(t, err, store.ErrInvalid)
}

func testDeliver(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	b := Account(t, st, "bob@example.org")
	body := "From: x@y.example\r\nSubject: hello\r\n\r\nbody line\r\n"
	got := Deliver(t, st, body, a.ID, b.ID)
	if len(got) != 2 || got[0].UID != 1 || got[1].UID != 1 || got[0].MailboxID == got[1].MailboxID {
		t.Fatalf("Delivered = %+v", got)
	}
	want := "Received: test\r\n" + body
	if s := read(t, st, a.ID, got[0].MailboxID, 1); s != want {
		t.Fatalf("stored %q, want %q", s, want)
	}
	if s := read(t, st, b.ID, got[1].MailboxID, 1); s != want {
		t.Fatalf("stored for bob %q", s)
	}
	// Partial reads through ReaderAt.
	r, err := st.OpenMessage(ctx, a.ID, got[0].MailboxID, 1)
	must(t, err)
	buf := make([]byte, 10)
	n, err := r.ReadAt(buf, 10)
	if err != nil || string(buf[:n]) != want[10:20] {
		t.Fatalf("ReadAt = %q, %v", buf[:n], err)
	}
	r.Close()

	second := Deliver(t, st, "Subject: two\r\n\r\n2\r\n", a.ID)
	if second[0].UID != 2 {
		t.Fatalf("second UID = %d", second[0].UID)
	}
	msgs, err := st.Messages(ctx, a.ID, got[0].MailboxID, 0)
	must(t, err)
	if len(msgs) != 2 || msgs[0].UID != 1 || msgs[1].UID != 2 || msgs[1].ModSeq <= msgs[0].ModSeq {
		t.Fatalf("Messages = %+v", msgs)
	}
	if msgs[0].Size != int64(len(want)) {
		t.Fatalf("Size = %d, want %d", msgs[0].Size, len(want))
	}
	metas, err := st.MessageMetas(ctx, a.ID, got[0].MailboxID, []uint32{1, 2, 99})
	must(t, err)
	if len(metas) != 2 || metas[1].Subject != "test" || string(metas[1].Envelope) != "{}" ||
		metas[1].InReplyTo != "parent@x" || !slices.Equal(metas[1].References, []string{"root@x", "parent@x"}) {
		t.Fatalf("MessageMetas = %+v", metas)
	}
	since, err := st.Messages(ctx, a.ID, got[0].MailboxID, msgs[0].ModSeq)
	must(t, err)
	if len(since) != 1 || since[0].UID != 2 {
		t.Fatalf("changedSince = %+v", since)
	}
	mb, err := st.Mailbox(ctx, a.ID, "INBOX")
	must(t, err)
	if mb.Messages != 2 || mb.Unseen != 2 || mb.UIDNext != 3 || mb.HighestModSeq < msgs[1].ModSeq {
		t.Fatalf("INBOX = %+v", mb)
	}

	// APPEND-style delivery to another mailbox with flags and a date.
	date := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	d := &store.Delivery{Spool: Spool(t, st, "Subject: draft\r\n\r\nx\r\n"),
		Targets: []store.Target{{AccountID: a.ID, Mailbox: "Drafts", Flags: []string{`\draft`, `\Seen`, "$Label1"}, InternalDate: date}}}
	out, err := st.Deliver(ctx, d)
	must(t, err)
	dm, err := st.Messages(ctx, a.ID, out[0].MailboxID, 0)
	must(t, err)
	if len(dm) != 1 || !slices.Equal(dm[0].Flags, []string{`\Draft`, `\Seen`, "$Label1"}) || !dm[0].InternalDate.Equal(date) {
		t.Fatalf("appended = %+v", dm)
	}
	// A keyword the mailbox has keeps its case there (RFC 9051 §2.3.2).
	d = &store.Delivery{Spool: Spool(t, st, "Subject: draft 2\r\n\r\nx\r\n"),
		Targets: []store.Target{{AccountID: a.ID, Mailbox: "Drafts", Flags: []string{"$LABEL1", "Zed", "$new"}}}}
	_, err = st.Deliver(ctx, d)
	must(t, err)
	dm, err = st.Messages(ctx, a.ID, out[0].MailboxID, 0)
	must(t, err)
	if len(dm) != 2 || !slices.Equal(dm[1].Flags, []string{"$Label1", "$new", "Zed"}) {
		t.Fatalf("appended with a keyword in another case = %+v", dm)
	}
	_, err = st.Deliver(ctx, &store.Delivery{Spool: Spool(t, st, "x"), Targets: []store.Target{{AccountID: a.ID, Mailbox: "Nope"}}})
	wantErr(t, err, store.ErrNotFound)
	_, err = st.Deliver(ctx, &store.Delivery{Spool: Spool(t, st, "x"), Targets: []store.Target{{AccountID: a.ID, Flags: []string{`\Recent`}}}})
	wantErr(t, err, store.ErrInvalid)
}

func testDeliverQueue(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	q := &store.QueueEntry{AccountID: a.ID, From: "alice@example.org", DSNRet: "HDRS", DSNEnvID: "env1", SMTPUTF8: true,
		Recipients: []store.QueueRcpt{{Address: "x@remote.example", Notify: []string{"FAILURE", "DELAY"}, ORcpt: "rfc822;x@remote.example"}, {Address: "y@remote.example"}},
		Prefix:     []byte("Received: x\r\n")}
	out, err := st.Deliver(ctx, &store.Delivery{Spool: Spool(t, st, "Subject: out\r\n\r\nbye\r\n"), Prefix: []byte("Return-Path: <alice@example.org>\r\nReceived: x\r\n"),
		Targets: []store.Target{{AccountID: a.ID, Mailbox: "Sent", Flags: []string{`\Seen`}}}, Queue: q})
	must(t, err)
	if out[0].QueueID == 0 {
		t.Fatalf("no queue ID: %+v", out)
	}
	qs, err := st.Queue(ctx)
	must(t, err)
	if len(qs) != 1 {
		t.Fatalf("Queue = %+v", qs)
	}
	e := qs[0]
	if e.ID != out[0].QueueID || e.From != "alice@example.org" || e.DSNRet != "HDRS" || e.DSNEnvID != "env1" || !e.SMTPUTF8 ||
		len(e.Recipients) != 2 || !slices.Equal(e.Recipients[0].Notify, []string{"FAILURE", "DELAY"}) ||
		e.Recipients[0].ORcpt != "rfc822;x@remote.example" || e.Recipients[0].Status != "pending" {
		t.Fatalf("queue entry = %+v", e)
	}
	r, err := st.OpenQueued(ctx, e.ID)
	must(t, err)
	b, err := io.ReadAll(r)
	must(t, err)
	r.Close()
	if string(b) != "Received: x\r\nSubject: out\r\n\r\nbye\r\n" || e.Size != int64(len(b)) {
		t.Fatalf("queued body %q size %d", b, e.Size)
	}
	// Queue-only delivery (no local target).
	out, err = st.Deliver(ctx, &store.Delivery{Spool: Spool(t, st, "x\r\n"), Queue: &store.QueueEntry{From: "a@example.org",
		Recipients: []store.QueueRcpt{{Address: "z@remote.example"}}}})
	must(t, err)
	if len(out) != 1 || out[0].QueueID == 0 {
		t.Fatalf("queue-only = %+v", out)
	}
}

func testQuota(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	must(t, st.SetQuota(ctx, a.Address, 100))
	got := Deliver(t, st, "Subject: small\r\n\r\n12345\r\n", a.ID) // 16 + 27 bytes
	_, err := st.Deliver(ctx, &store.Delivery{Spool: Spool(t, st, string(make([]byte, 80))), Targets: []store.Target{{AccountID: a.ID}}})
	wantErr(t, err, store.ErrQuota)
	_, err = st.Expunge(ctx, a.ID, got[0].MailboxID, []uint32{got[0].UID})
	must(t, err)
	_, err = st.Deliver(ctx, &store.Delivery{Spool: Spool(t, st, string(make([]byte, 80))), Targets: []store.Target{{AccountID: a.ID}}})
	must(t, err)
}

func testFlags(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	for range 3 {
		Deliver(t, st, "Subject: f\r\n\r\nx\r\n", a.ID)
	}
	mb := mailbox(t, st, a.ID, "INBOX")
	before := mb.HighestModSeq
	ch, err := st.StoreFlags(ctx, a.ID, mb.ID, []uint32{1, 2, 7}, store.FlagsAdd, []string{`\Seen`, "Work"}, 0)
	must(t, err)
	if len(ch) != 2 || ch[0].UID != 1 || ch[1].UID != 2 || ch[0].ModSeq <= before || ch[0].ModSeq != ch[1].ModSeq ||
		!slices.Equal(ch[0].Flags, []string{`\Seen`, "Work"}) {
		// RFC 9051 §2.3.2: a keyword keeps the case it was set with.
		t.Fatalf("add = %+v", ch)
	}
	mod1 := ch[0].ModSeq
	// Adding the same again changes nothing and bumps no MODSEQ.
	ch, err = st.StoreFlags(ctx, a.ID, mb.ID, []uint32{1}, store.FlagsAdd, []string{`\SEEN`}, 0)
	must(t, err)
	if len(ch) != 0 {
		t.Fatalf("no-op store changed %+v", ch)
	}
	ch, err = st.StoreFlags(ctx, a.ID, mb.ID, []uint32{1}, store.FlagsRemove, []string{"work"}, 0)
	must(t, err)
	if len(ch) != 1 || !slices.Equal(ch[0].Flags, []string{`\Seen`}) || ch[0].ModSeq <= mod1 {
		t.Fatalf("remove = %+v", ch)
	}
	// UNCHANGEDSINCE: message 2 was changed at mod1, so a test against an
	// older value conflicts; message 3 passes.
	ch, err = st.StoreFlags(ctx, a.ID, mb.ID, []uint32{2, 3}, store.FlagsReplace, []string{`\Flagged`}, mod1-1)
	must(t, err)
	if len(ch) != 2 || !ch[0].Conflict || ch[0].UID != 2 || ch[1].Conflict || !slices.Equal(ch[1].Flags, []string{`\Flagged`}) {
		t.Fatalf("unchangedsince = %+v", ch)
	}
	_, err = st.StoreFlags(ctx, a.ID, mb.ID, []uint32{1}, store.FlagsAdd, []string{`\Bogus`}, 0)
	wantErr(t, err, store.ErrInvalid)
	mb2 := mailbox(t, st, a.ID, "INBOX")
	if mb2.Unseen != 1 || mb2.HighestModSeq != ch[1].ModSeq {
		t.Fatalf("INBOX after flags = %+v", mb2)
	}
	// A keyword matches case-insensitively and keeps the case it has in
	// the mailbox (message 2 has "Work"), whatever the case asked for.
	ch, err = st.StoreFlags(ctx, a.ID, mb.ID, []uint32{3}, store.FlagsAdd, []string{"WORK", "Later_1"}, 0)
	must(t, err)
	if len(ch) != 1 || !slices.Equal(ch[0].Flags, []string{`\Flagged`, "Later_1", "Work"}) {
		t.Fatalf("add in another case = %+v", ch)
	}
	ch, err = st.StoreFlags(ctx, a.ID, mb.ID, []uint32{1}, store.FlagsReplace, []string{"later_1", "work"}, 0)
	must(t, err)
	if len(ch) != 1 || !slices.Equal(ch[0].Flags, []string{"Later_1", "Work"}) {
		t.Fatalf("replace in another case = %+v", ch)
	}
	ch, err = st.StoreFlags(ctx, a.ID, mb.ID, []uint32{1, 3}, store.FlagsRemove, []string{"wORK", "LATER_1"}, 0)
	must(t, err)
	if len(ch) != 2 || len(ch[0].Flags) != 0 || !slices.Equal(ch[1].Flags, []string{`\Flagged`}) {
		t.Fatalf("remove in another case = %+v", ch)
	}
}

func testExpunge(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	for range 3 {
		Deliver(t, st, "Subject: e\r\n\r\nx\r\n", a.ID)
	}
	mb := mailbox(t, st, a.ID, "INBOX")
	ex, err := st.Expunge(ctx, a.ID, mb.ID, []uint32{2, 9})
	must(t, err)
	if len(ex) != 1 || ex[0].UID != 2 || ex[0].ModSeq <= mb.HighestModSeq {
		t.Fatalf("Expunge = %+v", ex)
	}
	_, err = st.OpenMessage(ctx, a.ID, mb.ID, 2)
	wantErr(t, err, store.ErrNotFound)
	since, err := st.ExpungedSince(ctx, a.ID, mb.ID, mb.HighestModSeq)
	must(t, err)
	if len(since) != 1 || since[0] != ex[0] {
		t.Fatalf("ExpungedSince = %+v", since)
	}
	if none, err := st.ExpungedSince(ctx, a.ID, mb.ID, ex[0].ModSeq); err != nil || len(none) != 0 {
		t.Fatalf("ExpungedSince(latest) = %+v, %v", none, err)
	}
	// ExpungeDeleted takes only what carries \Deleted at commit time.
	_, err = st.StoreFlags(ctx, a.ID, mb.ID, []uint32{1}, store.FlagsAdd, []string{store.FlagDeleted}, 0)
	must(t, err)
	ex, err = st.ExpungeDeleted(ctx, a.ID, mb.ID, []uint32{1, 3})
	must(t, err)
	if len(ex) != 1 || ex[0].UID != 1 {
		t.Fatalf("ExpungeDeleted = %+v", ex)
	}
	Deliver(t, st, "Subject: e\r\n\r\nx\r\n", a.ID) // UID 4
	_, err = st.StoreFlags(ctx, a.ID, mb.ID, []uint32{3, 4}, store.FlagsAdd, []string{store.FlagDeleted}, 0)
	must(t, err)
	_, err = st.StoreFlags(ctx, a.ID, mb.ID, []uint32{4}, store.FlagsRemove, []string{store.FlagDeleted}, 0)
	must(t, err)
	if ex, err = st.ExpungeDeleted(ctx, a.ID, mb.ID, nil); err != nil || len(ex) != 1 || ex[0].UID != 3 {
		t.Fatalf("ExpungeDeleted(all) = %+v, %v", ex, err)
	}
	// UIDs are never reused.
	got := Deliver(t, st, "Subject: e\r\n\r\nx\r\n", a.ID)
	if got[0].UID != 5 {
		t.Fatalf("UID after expunge = %d, want 4", got[0].UID)
	}
	msgs := messages(t, st, a.ID, mb.ID)
	var uids []uint32
	for _, m := range msgs {
		uids = append(uids, m.UID)
	}
	if !slices.Equal(uids, []uint32{4, 5}) {
		t.Fatalf("UIDs = %v", uids)
	}
}

func testIsolation(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	b := Account(t, st, "bob@example.org")
	got := Deliver(t, st, "Subject: private\r\n\r\nsecret\r\n", a.ID)
	mbA := got[0].MailboxID
	// Bob names Alice's mailbox ID: nothing is found, nothing changes.
	_, err := st.OpenMessage(ctx, b.ID, mbA, got[0].UID)
	wantErr(t, err, store.ErrNotFound)
	_, err = st.Messages(ctx, b.ID, mbA, 0)
	wantErr(t, err, store.ErrNotFound)
	_, err = st.MessageMetas(ctx, b.ID, mbA, []uint32{1})
	wantErr(t, err, store.ErrNotFound)
	_, err = st.StoreFlags(ctx, b.ID, mbA, []uint32{1}, store.FlagsAdd, []string{`\Deleted`}, 0)
	wantErr(t, err, store.ErrNotFound)
	_, err = st.Expunge(ctx, b.ID, mbA, []uint32{1})
	wantErr(t, err, store.ErrNotFound)
	_, err = st.ExpungedSince(ctx, b.ID, mbA, 0)
	wantErr(t, err, store.ErrNotFound)
	_, err = st.ExpungeDeleted(ctx, b.ID, mbA, nil)
	wantErr(t, err, store.ErrNotFound)
	_, err = st.Deliver(ctx, &store.Delivery{Spool: Spool(t, st, "x"), Targets: []store.Target{{AccountID: b.ID, Mailbox: "INBOX"}}})
	must(t, err)
	if s := read(t, st, a.ID, mbA, 1); s != "Received: test\r\nSubject: private\r\n\r\nsecret\r\n" {
		t.Fatalf("alice's message changed: %q", s)
	}
	msgs := messages(t, st, a.ID, mbA)
	if len(msgs) != 1 || len(msgs[0].Flags) != 0 {
		t.Fatalf("alice's INBOX = %+v", msgs)
	}
}

func testNotifications(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	b := Account(t, st, "bob@example.org")
	sub := st.Subscribe(a.ID)
	defer sub.Close()
	other := st.Subscribe(b.ID)
	defer other.Close()
	got := Deliver(t, st, "Subject: n\r\n\r\nx\r\n", a.ID)
	mb := got[0].MailboxID
	_, err := st.StoreFlags(ctx, a.ID, mb, []uint32{1}, store.FlagsAdd, []string{`\Seen`}, 0)
	must(t, err)
	_, err = st.Expunge(ctx, a.ID, mb, []uint32{1})
	must(t, err)
	var changes []store.Change
	deadline := time.After(5 * time.Second)
	for len(changes) < 3 {
		select {
		case <-sub.Ready():
			changes = append(changes, sub.Next()...)
		case <-deadline:
			t.Fatalf("changes = %+v", changes)
		}
	}
	kinds := []store.ChangeKind{store.ChangeAdded, store.ChangeFlags, store.ChangeExpunged}
	for i, c := range changes {
		if c.Kind != kinds[i] || c.MailboxID != mb || c.AccountID != a.ID || !slices.Equal(c.UIDs, []uint32{1}) || c.ModSeq == 0 {
			t.Fatalf("change %d = %+v", i, c)
		}
	}
	if n := other.Next(); len(n) != 0 {
		t.Fatalf("bob saw alice's changes: %+v", n)
	}
}

func testConcurrentDelivery(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	const n = 50
	var wg sync.WaitGroup
	uids := make([]uint32, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sp, err := st.NewSpool()
			if err != nil {
				errs[i] = err
				return
			}
			fmt.Fprintf(sp, "Subject: %d\r\n\r\nbody %d\r\n", i, i)
			if err := sp.Finish(); err != nil {
				errs[i] = err
				return
			}
			out, err := st.Deliver(ctx, &store.Delivery{Spool: sp, Targets: []store.Target{{AccountID: a.ID}}})
			if err != nil {
				errs[i] = err
				return
			}
			uids[i] = out[0].UID
		}()
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
	slices.Sort(uids)
	for i, u := range uids {
		if u != uint32(i+1) {
			t.Fatalf("UIDs = %v", uids)
		}
	}
	mb := mailbox(t, st, a.ID, "INBOX")
	msgs := messages(t, st, a.ID, mb.ID)
	bodies := map[string]bool{}
	for _, m := range msgs {
		bodies[read(t, st, a.ID, mb.ID, m.UID)] = true
	}
	if len(msgs) != n || len(bodies) != n {
		t.Fatalf("%d messages, %d distinct bodies", len(msgs), len(bodies))
	}
}

func testDeliverAllAtomic(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	ok := &store.Delivery{Spool: Spool(t, st, "Subject: 1\r\n\r\n1\r\n"), Targets: []store.Target{{AccountID: a.ID, Mailbox: "Drafts"}}}
	bad := &store.Delivery{Spool: Spool(t, st, "Subject: 2\r\n\r\n2\r\n"), Targets: []store.Target{{AccountID: a.ID, Mailbox: "Nope"}}}
	_, err := st.DeliverAll(ctx, []*store.Delivery{ok, bad})
	wantErr(t, err, store.ErrNotFound)
	if mb := mailbox(t, st, a.ID, "Drafts"); mb.Messages != 0 || mb.UIDNext != 1 {
		t.Fatalf("a failed MULTIAPPEND left %+v", mb)
	}
	d1 := &store.Delivery{Spool: Spool(t, st, "Subject: 1\r\n\r\n1\r\n"), Targets: []store.Target{{AccountID: a.ID, Mailbox: "Drafts"}}}
	d2 := &store.Delivery{Spool: Spool(t, st, "Subject: 2\r\n\r\n2\r\n"), Targets: []store.Target{{AccountID: a.ID, Mailbox: "Drafts"}}}
	out, err := st.DeliverAll(ctx, []*store.Delivery{d1, d2})
	must(t, err)
	if len(out) != 2 || out[0][0].UID != 1 || out[1][0].UID != 2 {
		t.Fatalf("DeliverAll = %+v", out)
	}
}

func testCopyMove(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	b := Account(t, st, "bob@example.org")
	for i := range 3 {
		Deliver(t, st, fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i), a.ID)
	}
	inbox := mailbox(t, st, a.ID, "INBOX")
	arch := mailbox(t, st, a.ID, "Archive")
	_, err := st.StoreFlags(ctx, a.ID, inbox.ID, []uint32{3}, store.FlagsAdd, []string{`\Flagged`, "work"}, 0)
	must(t, err)
	res, err := st.Copy(ctx, a.ID, inbox.ID, []uint32{3, 1, 9}, arch.ID)
	must(t, err)
	if res.UIDValidity != arch.UIDValidity || !slices.Equal(res.Source, []uint32{1, 3}) || !slices.Equal(res.Dest, []uint32{1, 2}) {
		t.Fatalf("Copy = %+v", res)
	}
	msgs := messages(t, st, a.ID, arch.ID)
	if len(msgs) != 2 || !slices.Equal(msgs[1].Flags, []string{`\Flagged`, "work"}) {
		t.Fatalf("copies = %+v", msgs)
	}
	if got := read(t, st, a.ID, arch.ID, 2); got != read(t, st, a.ID, inbox.ID, 3) {
		t.Fatalf("copy body differs: %q", got)
	}
	metas, err := st.MessageMetas(ctx, a.ID, arch.ID, nil)
	must(t, err)
	if len(metas) != 2 || metas[1].Subject != "test" {
		t.Fatalf("MessageMetas(all) = %+v", metas)
	}
	// Move: gone from the source (recorded as expunged), in the destination.
	res, gone, err := st.Move(ctx, a.ID, inbox.ID, []uint32{2}, arch.ID)
	must(t, err)
	if !slices.Equal(res.Dest, []uint32{3}) || len(gone) != 1 || gone[0].UID != 2 {
		t.Fatalf("Move = %+v, %+v", res, gone)
	}
	if msgs := messages(t, st, a.ID, inbox.ID); len(msgs) != 2 {
		t.Fatalf("source after move has %d messages", len(msgs))
	}
	if got := read(t, st, a.ID, arch.ID, 3); !strings.Contains(got, "body 1") {
		t.Fatalf("moved body %q", got)
	}
	// BlobID: a copy and a moved message keep their body's, distinct
	// messages have distinct ones (IMAP OBJECTID's EMAILID rests on it).
	blobs := map[uint32]int64{}
	for _, m := range messages(t, st, a.ID, inbox.ID) {
		blobs[m.UID] = m.BlobID
	}
	archived := map[uint32]int64{}
	for _, m := range messages(t, st, a.ID, arch.ID) {
		archived[m.UID] = m.BlobID
	}
	if blobs[1] == 0 || blobs[1] == blobs[3] || archived[1] != blobs[1] || archived[2] != blobs[3] ||
		archived[3] == 0 || archived[3] == blobs[1] || archived[3] == blobs[3] {
		t.Fatalf("BlobIDs: INBOX %v, Archive %v", blobs, archived)
	}
	// Another account's mailbox is neither a source nor a destination.
	bInbox := mailbox(t, st, b.ID, "INBOX")
	_, err = st.Copy(ctx, a.ID, inbox.ID, []uint32{1}, bInbox.ID)
	wantErr(t, err, store.ErrNotFound)
	_, _, err = st.Move(ctx, b.ID, inbox.ID, []uint32{1}, bInbox.ID)
	wantErr(t, err, store.ErrNotFound)
	if msgs := messages(t, st, b.ID, bInbox.ID); len(msgs) != 0 {
		t.Fatalf("bob got alice's message: %+v", msgs)
	}
	// Expunging the original keeps the copy readable (shared body).
	_, err = st.Expunge(ctx, a.ID, inbox.ID, []uint32{1})
	must(t, err)
	if got := read(t, st, a.ID, arch.ID, 1); !strings.Contains(got, "body 0") {
		t.Fatalf("copy after original expunged: %q", got)
	}
}

func testSearchText(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	b := Account(t, st, "bob@example.org")
	put := func(acct int64, headers, body string) {
		d := &store.Delivery{Spool: Spool(t, st, headers+"\r\n"+body), Meta: store.MessageMeta{HeadersText: headers, BodyText: body},
			Targets: []store.Target{{AccountID: acct}}}
		_, err := st.Deliver(ctx, d)
		must(t, err)
	}
	put(a.ID, "Subject: Quarterly report", "The numbers are in. Ünïcode Straße")
	put(a.ID, "Subject: lunch", "see you at noon, report later")
	put(b.ID, "Subject: bob's report", "quarterly numbers")
	inbox := mailbox(t, st, a.ID, "INBOX")
	for _, c := range []struct {
		terms   []string
		headers bool
		want    []uint32
		ok      bool
	}{
		{[]string{"REPORT"}, false, []uint32{2}, true},
		{[]string{"report"}, true, []uint32{1, 2}, true},
		{[]string{"quarterly", "numbers"}, true, []uint32{1}, true},
		{[]string{"ünïcode"}, false, []uint32{1}, true},
		{[]string{"in"}, false, nil, false},
		{[]string{"in", "noon"}, false, []uint32{2}, true},
		{[]string{`quo"te`}, false, nil, true},
	} {
		got, ok, err := st.SearchText(ctx, a.ID, inbox.ID, c.terms, c.headers)
		must(t, err)
		if ok != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("SearchText(%q, %v) = %v, %v; want %v, %v", c.terms, c.headers, got, ok, c.want, c.ok)
		}
	}
	_, _, err := st.SearchText(ctx, b.ID, inbox.ID, []string{"report"}, true)
	wantErr(t, err, store.ErrNotFound)
	// Expunged messages leave the index; copies stay found.
	arch := mailbox(t, st, a.ID, "Archive")
	_, err = st.Copy(ctx, a.ID, inbox.ID, []uint32{1}, arch.ID)
	must(t, err)
	_, err = st.Expunge(ctx, a.ID, inbox.ID, []uint32{1})
	must(t, err)
	if got, ok, err := st.SearchText(ctx, a.ID, arch.ID, []string{"quarterly"}, true); err != nil || !ok || !slices.Equal(got, []uint32{1}) {
		t.Errorf("copy not found after the original's expunge: %v, %v, %v", got, ok, err)
	}
	if got, ok, err := st.SearchText(ctx, a.ID, inbox.ID, []string{"quarterly"}, true); err != nil || !ok || len(got) != 0 {
		t.Errorf("expunged message still found: %v, %v, %v", got, ok, err)
	}
}

func testUsage(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	got := Deliver(t, st, "Subject: u\r\n\r\n12345\r\n", a.ID)
	Deliver(t, st, "Subject: v\r\n\r\n1\r\n", a.ID)
	bytes, n, err := st.Usage(ctx, a.ID)
	must(t, err)
	want := int64(2*len("Received: test\r\n") + len("Subject: u\r\n\r\n12345\r\n") + len("Subject: v\r\n\r\n1\r\n"))
	if bytes != want || n != 2 {
		t.Fatalf("Usage = %d bytes, %d messages; want %d, 2", bytes, n, want)
	}
	if acct, err := st.AccountByID(ctx, a.ID); err != nil || acct.UsedBytes != want {
		t.Fatalf("UsedBytes = %d, %v", acct.UsedBytes, err)
	}
	_, err = st.StoreFlags(ctx, a.ID, got[0].MailboxID, []uint32{1}, store.FlagsAdd, []string{`\Deleted`}, 0)
	must(t, err)
	// DeletedSize: the size of message 1 alone, the one with \Deleted.
	if mb := mailbox(t, st, a.ID, "INBOX"); mb.Deleted != 1 || mb.Size != want ||
		mb.DeletedSize != int64(len("Received: test\r\n")+len("Subject: u\r\n\r\n12345\r\n")) {
		t.Fatalf("mailbox = %+v", mb)
	}
	_, _, err = st.Usage(ctx, 999999)
	wantErr(t, err, store.ErrNotFound)
}

func testQueueLifecycle(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	enqueue := func(rcpts ...string) int64 {
		q := &store.QueueEntry{AccountID: a.ID, From: "alice@example.org", Prefix: []byte("Received: q\r\n")}
		for _, r := range rcpts {
			q.Recipients = append(q.Recipients, store.QueueRcpt{Address: r})
		}
		out, err := st.Deliver(ctx, &store.Delivery{Spool: Spool(t, st, "Subject: q\r\n\r\nx\r\n"), Queue: q})
		must(t, err)
		return out[0].QueueID
	}
	id1 := enqueue("a@one.example", "b@one.example")
	id2 := enqueue("c@two.example")
	now := time.Now()
	if n, err := st.SentToday(ctx, a.ID, now.Add(-time.Hour)); err != nil || n != 3 {
		t.Fatalf("SentToday = %d, %v", n, err)
	}
	if n, err := st.SentToday(ctx, a.ID, now.Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("SentToday(future) = %d, %v", n, err)
	}
	got, err := st.ClaimQueue(ctx, "A", now, time.Minute, 10)
	must(t, err)
	if len(got) != 2 || got[0].ID != id1 || len(got[0].Recipients) != 2 || got[0].LeaseUntil.IsZero() || got[0].LeaseOwner != "A" {
		t.Fatalf("ClaimQueue = %+v", got)
	}
	if _, err := st.ClaimQueue(ctx, "", now, time.Minute, 10); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("claim without an owner: %v", err)
	}
	// Leased entries are not handed out again until the lease runs out.
	if again, err := st.ClaimQueue(ctx, "B", now, time.Minute, 10); err != nil || len(again) != 0 {
		t.Fatalf("claimed twice: %+v, %v", again, err)
	}
	after, err := st.ClaimQueue(ctx, "B", now.Add(2*time.Minute), time.Minute, 1)
	must(t, err)
	if len(after) != 1 || after[0].ID != id1 || after[0].LeaseOwner != "B" {
		t.Fatalf("after the lease: %+v", after)
	}
	// A's lease ran out and B holds the entry: A's record changes nothing.
	rc := slices.Clone(got[0].Recipients)
	rc[0].Status, rc[0].Attempts, rc[0].LastReply = "failed", 1, "550 A says no"
	rc[1].Status = "failed"
	wantErr(t, st.UpdateQueue(ctx, id1, "A", rc, now), store.ErrLeaseLost)
	wantErr(t, st.UpdateQueue(ctx, id1, "", rc, now), store.ErrInvalid)
	if e, err := st.QueueEntry(ctx, id1); err != nil || e.Attempts != 0 || e.LeaseOwner != "B" || e.Recipients[0].Status != "pending" {
		t.Fatalf("after the lost lease's update: %+v, %v", e, err)
	}
	// One recipient delivered, one deferred: the entry stays, due later.
	rc = after[0].Recipients
	rc[0].Status, rc[0].Attempts, rc[0].LastReply = "delivered", 1, "250 2.0.0 ok"
	rc[1].Status, rc[1].Attempts, rc[1].LastReply = "pending", 1, "451 4.3.0 try later"
	next := now.Add(10 * time.Minute)
	must(t, st.UpdateQueue(ctx, id1, "B", rc, next))
	e, err := st.QueueEntry(ctx, id1)
	must(t, err)
	if e.Attempts != 1 || !e.LeaseUntil.IsZero() || e.LeaseOwner != "" || e.NextAttempt.Unix() != next.Unix() ||
		e.Recipients[0].Status != "delivered" || e.Recipients[1].LastReply != "451 4.3.0 try later" {
		t.Fatalf("after update: %+v", e)
	}
	// The update released the lease: B cannot record a second time.
	wantErr(t, st.UpdateQueue(ctx, id1, "B", rc, next), store.ErrLeaseLost)
	// At +3m entry 2's lease has run out (it is claimable again); entry 1
	// is not due before +10m.
	if due, err := st.ClaimQueue(ctx, "C", now.Add(3*time.Minute), time.Minute, 10); err != nil || len(due) != 1 || due[0].ID != id2 {
		t.Fatalf("claimed at +3m: %+v, %v", due, err)
	}
	must(t, st.RetryQueued(ctx, id1))
	due, err := st.ClaimQueue(ctx, "D", time.Now().Add(time.Second), time.Minute, 10)
	must(t, err)
	if len(due) != 1 || due[0].ID != id1 {
		t.Fatalf("after retry: %+v", due)
	}
	// The last pending recipient fails: the entry is gone.
	rc = due[0].Recipients
	rc[1].Status = "failed"
	must(t, st.UpdateQueue(ctx, id1, "D", rc[1:], time.Now()))
	_, err = st.QueueEntry(ctx, id1)
	wantErr(t, err, store.ErrNotFound)
	_, err = st.OpenQueued(ctx, id1)
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, st.UpdateQueue(ctx, id1, "D", nil, time.Now()), store.ErrLeaseLost)
	wantErr(t, st.UpdateQueue(ctx, id2, "C", []store.QueueRcpt{{Address: "c@two.example", Status: "bogus"}}, time.Now()), store.ErrInvalid)
	// An operator's delete ends C's lease too.
	must(t, st.DeleteQueued(ctx, id2))
	wantErr(t, st.UpdateQueue(ctx, id2, "C", nil, time.Now()), store.ErrLeaseLost)
	wantErr(t, st.DeleteQueued(ctx, id2), store.ErrNotFound)
	wantErr(t, st.RetryQueued(ctx, id2), store.ErrNotFound)
	if q, err := st.Queue(ctx); err != nil || len(q) != 0 {
		t.Fatalf("queue not empty: %+v, %v", q, err)
	}
}
