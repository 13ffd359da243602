package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"postel/internal/store"
)

// metadataStore is st as a store.Metadata, which every implementation
// must also be.
func metadataStore(t *testing.T, st store.Store) store.Metadata {
	t.Helper()
	ms, ok := st.(store.Metadata)
	if !ok {
		t.Fatalf("%T does not implement store.Metadata", st)
	}
	return ms
}

func metadataString(t *testing.T, ms store.Metadata, acct int64, mailbox string) string {
	t.Helper()
	es, err := ms.Metadata(ctx, acct, mailbox)
	must(t, err)
	var b strings.Builder
	for _, e := range es {
		if e.Value == nil {
			t.Errorf("entry %s has a nil value", e.Name)
		}
		fmt.Fprintf(&b, "%s=%q ", e.Name, e.Value)
	}
	return strings.TrimSpace(b.String())
}

func testMetadata(t *testing.T, st store.Store) {
	ms := metadataStore(t, st)
	a := Account(t, st, "alice@example.org")
	b := Account(t, st, "bob@example.org")
	sub := st.Subscribe(a.ID)
	defer sub.Close()

	// Server entries (mailbox "") and mailbox entries; names are
	// canonical in lower case; an empty value is a value.
	must(t, ms.SetMetadata(ctx, a.ID, "", []store.MetadataEntry{
		{Name: "/shared/Comment", Value: []byte("server note")},
		{Name: "/private/vendor/x/empty", Value: []byte{}},
	}))
	must(t, ms.SetMetadata(ctx, a.ID, "inbox", []store.MetadataEntry{{Name: "/private/comment", Value: []byte("mine\x00bin")}}))
	if got, want := metadataString(t, ms, a.ID, ""), `/private/vendor/x/empty="" /shared/comment="server note"`; got != want {
		t.Fatalf("server metadata = %s, want %s", got, want)
	}
	if got, want := metadataString(t, ms, a.ID, "INBOX"), `/private/comment="mine\x00bin"`; got != want {
		t.Fatalf("INBOX metadata = %s, want %s", got, want)
	}
	// Another account sees none of it.
	if got := metadataString(t, ms, b.ID, ""); got != "" {
		t.Fatalf("bob's server metadata = %s", got)
	}
	if got := metadataString(t, ms, b.ID, "INBOX"); got != "" {
		t.Fatalf("bob's INBOX metadata = %s", got)
	}

	// Changes are announced per mailbox, 0 for the server.
	inbox := mailbox(t, st, a.ID, "INBOX")
	waitKinds(t, sub, map[int64]store.ChangeKind{0: store.ChangeMetadata, inbox.ID: store.ChangeMetadata})

	// Replace and remove in one call; removing what is not there is fine.
	must(t, ms.SetMetadata(ctx, a.ID, "", []store.MetadataEntry{
		{Name: "/shared/comment", Value: []byte("new")},
		{Name: "/private/vendor/x/empty"},
		{Name: "/private/none"},
	}))
	if got, want := metadataString(t, ms, a.ID, ""), `/shared/comment="new"`; got != want {
		t.Fatalf("server metadata = %s, want %s", got, want)
	}

	// Bad names and arguments change nothing (all or none).
	for _, name := range []string{"", "comment", "/other/x", "/private", "/shared", "/private/a*", "/private/a%", "/private//a",
		"/private/a/", "/private/\x01", "/private/é", "/shared/" + strings.Repeat("x", store.MaxMetadataName)} {
		err := ms.SetMetadata(ctx, a.ID, "", []store.MetadataEntry{{Name: "/shared/comment", Value: []byte("lost")}, {Name: name, Value: []byte("v")}})
		wantErr(t, err, store.ErrInvalid)
	}
	wantErr(t, ms.SetMetadata(ctx, a.ID, "", []store.MetadataEntry{{Name: "/shared/a", Value: []byte("1")}, {Name: "/SHARED/A", Value: []byte("2")}}), store.ErrInvalid)
	wantErr(t, ms.SetMetadata(ctx, a.ID, "No such", []store.MetadataEntry{{Name: "/shared/a", Value: []byte("1")}}), store.ErrNotFound)
	_, err := ms.Metadata(ctx, a.ID, "No such")
	wantErr(t, err, store.ErrNotFound)
	_, err = ms.Metadata(ctx, 1<<40, "")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, ms.SetMetadata(ctx, 1<<40, "", []store.MetadataEntry{{Name: "/shared/a", Value: []byte("1")}}), store.ErrNotFound)

	// Limits: a value too big; too many entries; too many octets.
	big := bytes.Repeat([]byte("v"), store.MaxMetadataValue+1)
	err = ms.SetMetadata(ctx, a.ID, "", []store.MetadataEntry{{Name: "/shared/comment", Value: []byte("lost")}, {Name: "/shared/big", Value: big}})
	wantErr(t, err, store.ErrMetadataTooBig)
	if got, want := metadataString(t, ms, a.ID, ""), `/shared/comment="new"`; got != want {
		t.Fatalf("after refusals, server metadata = %s, want %s", got, want)
	}
	many := make([]store.MetadataEntry, store.MaxMetadataEntries)
	for i := range many {
		many[i] = store.MetadataEntry{Name: fmt.Sprintf("/private/n%d", i), Value: []byte("x")}
	}
	err = ms.SetMetadata(ctx, a.ID, "", many)
	wantErr(t, err, store.ErrMetadataTooMany)
	if errors.Is(err, store.ErrMetadataTooBig) {
		t.Fatalf("too many is not too big: %v", err)
	}
	// Exactly at the limit passes (two entries are there already, one
	// of the server, one of INBOX); then a new entry does not, a new
	// value of one there does.
	must(t, ms.SetMetadata(ctx, a.ID, "", many[:store.MaxMetadataEntries-2]))
	wantErr(t, ms.SetMetadata(ctx, a.ID, "Sent", many[:1]), store.ErrMetadataTooMany)
	must(t, ms.SetMetadata(ctx, a.ID, "INBOX", []store.MetadataEntry{{Name: "/private/comment", Value: []byte("changed")}}))
	// Removing is always allowed; the same count after is too.
	for i := range many {
		many[i].Value = nil
	}
	must(t, ms.SetMetadata(ctx, a.ID, "", many))
	must(t, ms.SetMetadata(ctx, a.ID, "INBOX", many))
	n := store.MaxMetadataTotal / store.MaxMetadataValue
	val := bytes.Repeat([]byte("y"), store.MaxMetadataValue)
	var full []store.MetadataEntry
	for i := 0; i <= n; i++ {
		full = append(full, store.MetadataEntry{Name: fmt.Sprintf("/private/big%d", i), Value: val})
	}
	err = ms.SetMetadata(ctx, a.ID, "", full)
	wantErr(t, err, store.ErrQuota)
	if errors.Is(err, store.ErrMetadataTooMany) || errors.Is(err, store.ErrMetadataTooBig) {
		t.Fatalf("total over the limit is neither too many nor too big: %v", err)
	}
	must(t, ms.SetMetadata(ctx, a.ID, "", full[:n-1]))
	for i := range full[:n-1] {
		full[i].Value = nil
	}
	must(t, ms.SetMetadata(ctx, a.ID, "", full[:n-1]))

	// A mailbox's entries follow it through RENAME (children too) and go
	// with DELETE: a new mailbox of the same name has none.
	_, err = st.CreateMailbox(ctx, a.ID, "Work/Sub", "")
	must(t, err)
	must(t, ms.SetMetadata(ctx, a.ID, "Work/Sub", []store.MetadataEntry{{Name: "/shared/comment", Value: []byte("sub")}}))
	_, err = st.CreateMailbox(ctx, a.ID, "Work", "")
	must(t, err)
	must(t, ms.SetMetadata(ctx, a.ID, "Work", []store.MetadataEntry{{Name: "/shared/comment", Value: []byte("work")}}))
	must(t, st.RenameMailbox(ctx, a.ID, "Work", "Job"))
	if got, want := metadataString(t, ms, a.ID, "Job/Sub"), `/shared/comment="sub"`; got != want {
		t.Fatalf("Job/Sub metadata = %s, want %s", got, want)
	}
	if got, want := metadataString(t, ms, a.ID, "Job"), `/shared/comment="work"`; got != want {
		t.Fatalf("Job metadata = %s, want %s", got, want)
	}
	must(t, st.DeleteMailbox(ctx, a.ID, "Job"))
	_, err = st.CreateMailbox(ctx, a.ID, "Job", "")
	must(t, err)
	if got := metadataString(t, ms, a.ID, "Job"); got != "" {
		t.Fatalf("a new Job has metadata %s", got)
	}

	// Deleting the account removes its entries (and nothing of bob's).
	must(t, ms.SetMetadata(ctx, b.ID, "", []store.MetadataEntry{{Name: "/shared/comment", Value: []byte("bob")}}))
	must(t, st.DeleteAccount(ctx, a.Address))
	a2 := Account(t, st, "alice@example.org")
	if got := metadataString(t, ms, a2.ID, ""); got != "" {
		t.Fatalf("a new alice has server metadata %s", got)
	}
	if got, want := metadataString(t, ms, b.ID, ""), `/shared/comment="bob"`; got != want {
		t.Fatalf("bob's metadata = %s, want %s", got, want)
	}
}

// waitKinds waits until sub announced every mailbox's change of want.
func waitKinds(t *testing.T, sub store.Subscription, want map[int64]store.ChangeKind) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case <-sub.Ready():
			for _, c := range sub.Next() {
				if k, ok := want[c.MailboxID]; ok && k == c.Kind {
					delete(want, c.MailboxID)
				}
			}
		case <-deadline:
			t.Fatalf("changes not announced: %v", want)
		}
	}
}

func testSubscriptionChanges(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	sub := st.Subscribe(a.ID)
	defer sub.Close()
	mb, err := st.CreateMailbox(ctx, a.ID, "Lists", "")
	must(t, err)
	sub.Next()
	must(t, st.SetSubscribed(ctx, a.ID, "Lists", !mb.Subscribed))
	waitKinds(t, sub, map[int64]store.ChangeKind{mb.ID: store.ChangeSubscription})
}
