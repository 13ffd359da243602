package storetest

import (
	"errors"
	"testing"
	"time"

	"postel/internal/store"
)

// accountChange waits for the next ChangeAccount of sub, checks it names
// account, and runs check at the moment it arrives: a change is announced
// only after its commit, so the store already shows it.
func accountChange(t *testing.T, sub store.Subscription, account int64, check func()) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case <-sub.Ready():
		case <-deadline:
			t.Fatalf("no ChangeAccount for account %d", account)
		}
		for _, c := range sub.Next() {
			if c.Kind != store.ChangeAccount {
				continue
			}
			if c.AccountID != account || c.MailboxID != 0 {
				t.Fatalf("ChangeAccount = %+v, want account %d and no mailbox", c, account)
			}
			check()
			return
		}
	}
}

// testAccountChanges: disabling, enabling and deleting an account each
// announce a ChangeAccount to its subscribers (only theirs), after the
// commit; deleting announces it after the changes of its mailboxes.
func testAccountChanges(t *testing.T, st store.Store) {
	alice := Account(t, st, "alice@example.org")
	bob := Account(t, st, "bob@example.org")
	sub := st.Subscribe(alice.ID)
	defer sub.Close()
	other := st.Subscribe(bob.ID)
	defer other.Close()

	must(t, st.SetDisabled(ctx, "Alice@Example.org", true))
	accountChange(t, sub, alice.ID, func() {
		a, err := st.AccountByID(ctx, alice.ID)
		if err != nil || !a.Disabled {
			t.Fatalf("announced before the commit: %+v, %v", a, err)
		}
	})
	must(t, st.SetDisabled(ctx, "alice@example.org", false))
	accountChange(t, sub, alice.ID, func() {
		if a, err := st.AccountByID(ctx, alice.ID); err != nil || a.Disabled {
			t.Fatalf("announced before the commit: %+v, %v", a, err)
		}
	})
	wantErr(t, st.SetDisabled(ctx, "nobody@example.org", true), store.ErrNotFound)

	Deliver(t, st, "Subject: x\r\n\r\nx\r\n", alice.ID)
	must(t, st.DeleteAccount(ctx, "alice@example.org"))
	var kinds []store.ChangeKind
	deadline := time.After(10 * time.Second)
	for len(kinds) == 0 || kinds[len(kinds)-1] != store.ChangeAccount {
		select {
		case <-sub.Ready():
		case <-deadline:
			t.Fatalf("changes after DeleteAccount: %v, no ChangeAccount", kinds)
		}
		for _, c := range sub.Next() {
			kinds = append(kinds, c.Kind)
		}
	}
	if _, err := st.AccountByID(ctx, alice.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("account still there when its deletion was announced: %v", err)
	}
	// The delivery, then the deletion: the mailboxes' changes come before
	// the account's.
	if kinds[0] != store.ChangeAdded || !containsKind(kinds, store.ChangeMailbox) {
		t.Fatalf("changes = %v, want the delivery, the mailboxes deleted, then the account", kinds)
	}
	if n := other.Next(); len(n) != 0 {
		t.Fatalf("bob saw alice's changes: %+v", n)
	}
}

func containsKind(kinds []store.ChangeKind, k store.ChangeKind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

// testWatchAccount: store.WatchAccount over the implementation calls end
// once, with the reason, when the account is disabled or deleted; not for
// other changes of the account nor for another account; at once for an
// account already disabled or gone; never after stop.
func testWatchAccount(t *testing.T, st store.Store) {
	watch := func(a store.Account) (<-chan store.AccountEnd, func()) {
		ends := make(chan store.AccountEnd, 2)
		stop := store.WatchAccount(st, a.ID, func(e store.AccountEnd) { ends <- e })
		return ends, stop
	}
	wait := func(ends <-chan store.AccountEnd, want store.AccountEnd) {
		t.Helper()
		select {
		case got := <-ends:
			if got != want {
				t.Fatalf("end(%v), want %v", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("end(%v) never called", want)
		}
	}

	alice := Account(t, st, "alice@example.org")
	bob := Account(t, st, "bob@example.org")
	aliceEnds, stopAlice := watch(alice)
	defer stopAlice()
	bobEnds, stopBob := watch(bob)

	// Other changes of alice's, and bob's deletion, leave alice's
	// sessions alone; bob's watch ends.
	Deliver(t, st, "Subject: x\r\n\r\nx\r\n", alice.ID)
	must(t, st.SetQuota(ctx, "alice@example.org", 1<<20))
	must(t, st.DeleteAccount(ctx, "bob@example.org"))
	wait(bobEnds, store.AccountDeleted)
	stopBob()
	select {
	case e := <-aliceEnds:
		t.Fatalf("alice's watch ended (%v) on other changes", e)
	default:
	}

	must(t, st.SetDisabled(ctx, "alice@example.org", true))
	wait(aliceEnds, store.AccountDisabled)
	// end is called once: enabling, disabling again and deleting tell
	// nobody.
	must(t, st.SetDisabled(ctx, "alice@example.org", false))
	must(t, st.SetDisabled(ctx, "alice@example.org", true))

	// A watch that starts on an account already disabled ends at once.
	again, stopAgain := watch(alice)
	wait(again, store.AccountDisabled)
	stopAgain()

	// After stop, end is not called.
	carol := Account(t, st, "carol@example.org")
	carolEnds, stopCarol := watch(carol)
	stopCarol()
	must(t, st.DeleteAccount(ctx, "carol@example.org"))
	// A watch that starts on an account already gone ends at once: its
	// end is what proves the deletion was seen, so carol's stopped watch
	// had its chance.
	late, stopLate := watch(carol)
	wait(late, store.AccountDeleted)
	stopLate()
	select {
	case e := <-carolEnds:
		t.Fatalf("carol's stopped watch ended (%v)", e)
	case e := <-aliceEnds:
		t.Fatalf("alice's watch ended twice (%v)", e)
	default:
	}
}
