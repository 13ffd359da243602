package storetest

import (
	"reflect"
	"testing"
	"time"

	"postel/internal/store"
)

// testACL: entries are set, replaced, listed in order and removed; what an
// account may reach of others' mailboxes is listed; bad rights, the owner
// itself, strangers' mailboxes and unknown grantees are refused; every
// change is announced to the owner's account.
func testACL(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	b := Account(t, st, "bob@example.org")
	c := Account(t, st, "carol@example.org")
	shared, err := st.CreateMailbox(ctx, a.ID, "Shared", store.RoleNone)
	must(t, err)
	inbox, err := st.Mailbox(ctx, a.ID, "INBOX")
	must(t, err)
	sub := st.Subscribe(a.ID)
	defer sub.Close()

	must(t, st.SetACL(ctx, a.ID, shared.ID, store.ACLEntry{Identifier: "Bob@Example.org", Rights: "rlr"}))
	must(t, st.SetACL(ctx, a.ID, shared.ID, store.ACLEntry{Identifier: "carol@example.org", Rights: "lrswite"}))
	must(t, st.SetACL(ctx, a.ID, shared.ID, store.ACLEntry{Identifier: "ANYONE", Rights: "l"}))
	must(t, st.SetACL(ctx, a.ID, shared.ID, store.ACLEntry{Identifier: "carol@example.org", Negative: true, Rights: "e"}))
	// Replacing keeps one entry.
	must(t, st.SetACL(ctx, a.ID, shared.ID, store.ACLEntry{Identifier: "bob@example.org", Rights: "ilr"}))
	got, err := st.MailboxACL(ctx, a.ID, shared.ID)
	must(t, err)
	want := []store.ACLEntry{
		{Identifier: store.Anyone, Rights: "l"},
		{Identifier: "bob@example.org", Rights: "lri"},
		{Identifier: "carol@example.org", Rights: "lrswite"},
		{Identifier: "carol@example.org", Negative: true, Rights: "e"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("MailboxACL = %+v\nwant %+v", got, want)
	}
	if l, err := st.MailboxACL(ctx, a.ID, inbox.ID); err != nil || len(l) != 0 {
		t.Fatalf("INBOX's ACL = %+v, %v; want none", l, err)
	}

	// What bob reaches: his own entry and anyone's, never his own mailboxes.
	must(t, st.SetACL(ctx, b.ID, mustMailbox(t, st, b.ID, "INBOX").ID, store.ACLEntry{Identifier: store.Anyone, Rights: "lr"}))
	sw, err := st.SharedWith(ctx, b.ID)
	must(t, err)
	wantSW := []store.SharedMailbox{{OwnerID: a.ID, Owner: "alice@example.org", MailboxID: shared.ID, Name: "Shared",
		Entries: []store.ACLEntry{{Identifier: store.Anyone, Rights: "l"}, {Identifier: "bob@example.org", Rights: "lri"}}}}
	if !reflect.DeepEqual(sw, wantSW) {
		t.Fatalf("SharedWith(bob) = %+v\nwant %+v", sw, wantSW)
	}
	sw, err = st.SharedWith(ctx, c.ID)
	must(t, err)
	if len(sw) != 2 || sw[0].Owner != "alice@example.org" || len(sw[0].Entries) != 3 || sw[1].Owner != "bob@example.org" || sw[1].Name != "INBOX" {
		t.Fatalf("SharedWith(carol) = %+v", sw)
	}

	// Removing an entry; removing one that is not there is no error.
	must(t, st.SetACL(ctx, a.ID, shared.ID, store.ACLEntry{Identifier: "carol@example.org", Negative: true}))
	must(t, st.SetACL(ctx, a.ID, shared.ID, store.ACLEntry{Identifier: "carol@example.org", Negative: true}))
	got, err = st.MailboxACL(ctx, a.ID, shared.ID)
	must(t, err)
	if len(got) != 3 {
		t.Fatalf("after removal: %+v", got)
	}

	wantErr(t, st.SetACL(ctx, a.ID, shared.ID, store.ACLEntry{Identifier: "bob@example.org", Rights: "lrz"}), store.ErrInvalid)
	wantErr(t, st.SetACL(ctx, a.ID, shared.ID, store.ACLEntry{Identifier: "alice@example.org", Rights: "lr"}), store.ErrInvalid)
	wantErr(t, st.SetACL(ctx, a.ID, shared.ID, store.ACLEntry{Identifier: "nobody@example.org", Rights: "lr"}), store.ErrNotFound)
	wantErr(t, st.SetACL(ctx, b.ID, shared.ID, store.ACLEntry{Identifier: "carol@example.org", Rights: "lr"}), store.ErrNotFound)
	_, err = st.MailboxACL(ctx, b.ID, shared.ID)
	wantErr(t, err, store.ErrNotFound)

	// Each of the six changes above was announced, and the removal of an
	// entry that was not there was not: a change to another mailbox marks
	// the end of what was announced before it.
	marker := mustMailbox(t, st, a.ID, "INBOX")
	must(t, st.SetACL(ctx, a.ID, marker.ID, store.ACLEntry{Identifier: store.Anyone, Rights: "l"}))
	n := 0
	deadline := time.After(5 * time.Second)
	for done := false; !done; {
		select {
		case <-sub.Ready():
			for _, ch := range sub.Next() {
				switch {
				case ch.Kind == store.ChangeMailbox && ch.MailboxID == marker.ID && ch.AccountID == a.ID:
					done = true
				case done:
				case ch.Kind != store.ChangeMailbox || ch.MailboxID != shared.ID || ch.AccountID != a.ID:
					t.Fatalf("unexpected change %+v", ch)
				default:
					n++
				}
			}
		case <-deadline:
			t.Fatalf("%d changes announced and not the marker's", n)
		}
	}
	if n != 6 {
		t.Fatalf("%d changes announced, want 6", n)
	}
}

func mustMailbox(t *testing.T, st store.Store, account int64, name string) store.Mailbox {
	t.Helper()
	mb, err := st.Mailbox(ctx, account, name)
	must(t, err)
	return mb
}

// testACLLifecycle: an entry follows its mailbox through RENAME, and goes
// when the mailbox, the grantee or the owner is deleted; a mailbox made
// again under the same name starts with none.
func testACLLifecycle(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	b := Account(t, st, "bob@example.org")
	Account(t, st, "carol@example.org")
	mb, err := st.CreateMailbox(ctx, a.ID, "Team", store.RoleNone)
	must(t, err)
	must(t, st.SetACL(ctx, a.ID, mb.ID, store.ACLEntry{Identifier: "bob@example.org", Rights: "lr"}))
	must(t, st.RenameMailbox(ctx, a.ID, "Team", "Projects/Team"))
	sw, err := st.SharedWith(ctx, b.ID)
	must(t, err)
	if len(sw) != 1 || sw[0].Name != "Projects/Team" || sw[0].MailboxID != mb.ID {
		t.Fatalf("after RENAME: %+v", sw)
	}
	must(t, st.DeleteMailbox(ctx, a.ID, "Projects/Team"))
	mb2, err := st.CreateMailbox(ctx, a.ID, "Projects/Team", store.RoleNone)
	must(t, err)
	if sw, err := st.SharedWith(ctx, b.ID); err != nil || len(sw) != 0 {
		t.Fatalf("after DELETE and CREATE: %+v, %v", sw, err)
	}
	if l, err := st.MailboxACL(ctx, a.ID, mb2.ID); err != nil || len(l) != 0 {
		t.Fatalf("new mailbox's ACL = %+v, %v", l, err)
	}

	// The grantee goes: its entries go; an account made again under its
	// address gets nothing.
	must(t, st.SetACL(ctx, a.ID, mb2.ID, store.ACLEntry{Identifier: "bob@example.org", Rights: "lr"}))
	must(t, st.SetACL(ctx, a.ID, mb2.ID, store.ACLEntry{Identifier: "carol@example.org", Rights: "lr"}))
	must(t, st.DeleteAccount(ctx, "bob@example.org"))
	b2 := Account(t, st, "bob@example.org")
	if sw, err := st.SharedWith(ctx, b2.ID); err != nil || len(sw) != 0 {
		t.Fatalf("new bob reaches %+v, %v", sw, err)
	}
	l, err := st.MailboxACL(ctx, a.ID, mb2.ID)
	must(t, err)
	if len(l) != 1 || l[0].Identifier != "carol@example.org" {
		t.Fatalf("after the grantee went: %+v", l)
	}

	// The owner goes: nothing of its lists is left.
	c, err := st.Account(ctx, "carol@example.org")
	must(t, err)
	must(t, st.DeleteAccount(ctx, "alice@example.org"))
	if sw, err := st.SharedWith(ctx, c.ID); err != nil || len(sw) != 0 {
		t.Fatalf("after the owner went: %+v, %v", sw, err)
	}
}
