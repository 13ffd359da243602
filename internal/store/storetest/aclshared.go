package storetest

import (
	"testing"
	"time"

	"postel/internal/store"
)

// testACLSharedChange: what other accounts share with an account is
// announced to it (ChangeShared, no mailbox), after the commit: an entry
// naming it set, changed or removed (only when the list changed), and the
// owner of a mailbox shared with it disabled or enabled. An entry naming
// Anyone, or another account, is not announced to it, nor is an account
// disabled that shares nothing with it.
func testACLSharedChange(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	b := Account(t, st, "bob@example.org")
	c := Account(t, st, "carol@example.org")
	Account(t, st, "dave@example.org")
	shared, err := st.CreateMailbox(ctx, a.ID, "Shared", store.RoleNone)
	must(t, err)
	other, err := st.CreateMailbox(ctx, a.ID, "Other", store.RoleNone)
	must(t, err)
	sub := st.Subscribe(b.ID)
	defer sub.Close()

	// sharedChange waits for bob's next change, which must be a
	// ChangeShared, and runs check when it comes.
	sharedChange := func(what string, check func()) {
		t.Helper()
		select {
		case <-sub.Ready():
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no change announced to bob", what)
		}
		cs := sub.Next()
		if len(cs) != 1 || !isShared(cs[0], b.ID) {
			t.Fatalf("%s: bob was told %+v, want one ChangeShared", what, cs)
		}
		check()
	}
	sharedWith := func(what string, n int) func() {
		return func() {
			t.Helper()
			sw, err := st.SharedWith(ctx, b.ID)
			must(t, err)
			if len(sw) != n {
				t.Fatalf("%s: announced before the commit: SharedWith(bob) = %+v", what, sw)
			}
		}
	}

	must(t, st.SetACL(ctx, a.ID, shared.ID, store.ACLEntry{Identifier: "bob@example.org", Rights: "lr"}))
	sharedChange("SetACL", sharedWith("SetACL", 1))
	must(t, st.SetACL(ctx, a.ID, shared.ID, store.ACLEntry{Identifier: "bob@example.org", Rights: "l"}))
	sharedChange("SetACL changed", func() {})
	must(t, st.SetACL(ctx, a.ID, shared.ID, store.ACLEntry{Identifier: "bob@example.org", Negative: true, Rights: "r"}))
	sharedChange("SetACL negative", func() {})

	// Not bob's: entries naming others or anyone, an entry removed that
	// was not there; and carol's disabling (she shares nothing with bob).
	must(t, st.SetACL(ctx, a.ID, other.ID, store.ACLEntry{Identifier: "carol@example.org", Rights: "lr"}))
	must(t, st.SetACL(ctx, a.ID, other.ID, store.ACLEntry{Identifier: store.Anyone, Rights: "l"}))
	must(t, st.SetACL(ctx, a.ID, other.ID, store.ACLEntry{Identifier: "bob@example.org"}))
	must(t, st.SetDisabled(ctx, "carol@example.org", true))
	must(t, st.SetDisabled(ctx, "carol@example.org", false))
	// dave's share with carol marks the end of what came before it.
	csub := st.Subscribe(c.ID)
	defer csub.Close()
	dave, err := st.Account(ctx, "dave@example.org")
	must(t, err)
	must(t, st.SetACL(ctx, dave.ID, mustMailbox(t, st, dave.ID, "INBOX").ID, store.ACLEntry{Identifier: "carol@example.org", Rights: "l"}))
	select {
	case <-csub.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("carol was not told of dave's share")
	}
	if cs := sub.Next(); len(cs) != 0 {
		t.Fatalf("bob was told %+v of changes not his", cs)
	}

	// The owner disabled and enabled: told once each, to each grantee
	// once (alice shares two mailboxes with carol).
	must(t, st.SetDisabled(ctx, "alice@example.org", true))
	sharedChange("SetDisabled", func() {
		if acct, err := st.AccountByID(ctx, a.ID); err != nil || !acct.Disabled {
			t.Fatalf("announced before the commit: %+v, %v", acct, err)
		}
	})
	must(t, st.SetDisabled(ctx, "alice@example.org", false))
	sharedChange("SetDisabled false", func() {
		if acct, err := st.AccountByID(ctx, a.ID); err != nil || acct.Disabled {
			t.Fatalf("announced before the commit: %+v, %v", acct, err)
		}
	})
	// Carol's feed: dave's share, then alice's two, once each.
	deadline := time.After(10 * time.Second)
	var got []store.Change
	for len(got) < 3 {
		select {
		case <-csub.Ready():
			got = append(got, csub.Next()...)
		case <-deadline:
			t.Fatalf("carol was told %+v, want three ChangeShared", got)
		}
	}
	for _, ch := range got {
		if !isShared(ch, c.ID) {
			t.Fatalf("carol was told %+v, want three ChangeShared", got)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if cs := csub.Next(); len(cs) != 0 {
		t.Fatalf("carol was told more: %+v", cs)
	}
}

// isShared reports whether ch is a ChangeShared announced to account.
func isShared(ch store.Change, account int64) bool {
	return ch.Kind == store.ChangeShared && ch.AccountID == account && ch.MailboxID == 0 && ch.ModSeq == 0 && len(ch.UIDs) == 0
}
