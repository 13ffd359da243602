package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"postel/internal/store"
)

// testSubscriptions: subscriptions are a set of names of their own (RFC
// 3501 §6.3.6): a new account's default mailboxes come subscribed, a
// created mailbox does not, a name that is no mailbox can be subscribed,
// and deleting or renaming a mailbox leaves its subscription alone.
func testSubscriptions(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	b := Account(t, st, "bob@example.org")
	var defaults []string
	for _, mb := range store.DefaultMailboxes {
		defaults = append(defaults, mb.Name)
	}
	slices.Sort(defaults)
	subs := func(acct int64, want ...string) {
		t.Helper()
		got, err := st.Subscriptions(ctx, acct)
		must(t, err)
		want = slices.Sorted(slices.Values(want))
		if want == nil {
			want = []string{}
		}
		if got == nil {
			got = []string{}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("Subscriptions(%d) = %q, want %q", acct, got, want)
		}
	}
	subscribed := func(name string, want bool) {
		t.Helper()
		m, err := st.Mailbox(ctx, a.ID, name)
		must(t, err)
		if m.Subscribed != want {
			t.Fatalf("Mailbox(%s).Subscribed = %v, want %v", name, m.Subscribed, want)
		}
	}
	subs(a.ID, defaults...)
	subscribed("INBOX", true)

	_, err := st.CreateMailbox(ctx, a.ID, "Projects/Postel", "")
	must(t, err)
	subscribed("Projects/Postel", false)
	subs(a.ID, defaults...)

	must(t, st.SetSubscribed(ctx, a.ID, "Projects/Postel", true))
	must(t, st.SetSubscribed(ctx, a.ID, "Projects/Postel", true)) // twice is once
	subscribed("Projects/Postel", true)
	// A name that is no mailbox.
	must(t, st.SetSubscribed(ctx, a.ID, "Lists/Later", true))
	subs(a.ID, append(slices.Clone(defaults), "Lists/Later", "Projects/Postel")...)
	subs(b.ID, defaults...)

	// Renamed away: the old name stays subscribed, the new one is not.
	must(t, st.RenameMailbox(ctx, a.ID, "Projects/Postel", "Work/Postel"))
	subscribed("Work/Postel", false)
	// Deleted: the subscription stays, and comes back with the name.
	must(t, st.SetSubscribed(ctx, a.ID, "Work/Postel", true))
	must(t, st.DeleteMailbox(ctx, a.ID, "Work/Postel"))
	subs(a.ID, append(slices.Clone(defaults), "Lists/Later", "Projects/Postel", "Work/Postel")...)
	_, err = st.CreateMailbox(ctx, a.ID, "Work/Postel", "")
	must(t, err)
	subscribed("Work/Postel", true)

	// INBOX in any case is INBOX; unsubscribing a name not there is fine.
	must(t, st.SetSubscribed(ctx, a.ID, "inbox", false))
	subscribed("INBOX", false)
	must(t, st.SetSubscribed(ctx, a.ID, "Nothing/Here", false))
	for _, bad := range []string{"", "/x", "a//b", "a*b"} {
		wantErr(t, st.SetSubscribed(ctx, a.ID, bad, true), store.ErrInvalid)
	}
	wantErr(t, st.SetSubscribed(ctx, a.ID+b.ID+100, "x", true), store.ErrNotFound)

	// They go with the account.
	must(t, st.DeleteAccount(ctx, "alice@example.org"))
	subs(a.ID)
	subs(b.ID, defaults...)
}

// testClaimRecent: ClaimRecent hands each UID to one caller, moves only
// forward, never past the last UID, and STATUS RECENT (Mailbox.Recent)
// counts what is not claimed.
func testClaimRecent(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	b := Account(t, st, "bob@example.org")
	inbox := func() store.Mailbox {
		t.Helper()
		m, err := st.Mailbox(ctx, a.ID, "INBOX")
		must(t, err)
		return m
	}
	if m := inbox(); m.RecentUID != 0 || m.Recent != 0 {
		t.Fatalf("new INBOX: RecentUID %d, Recent %d", m.RecentUID, m.Recent)
	}
	for range 3 {
		Deliver(t, st, "Subject: x\r\n\r\nx\r\n", a.ID)
	}
	m := inbox()
	if m.RecentUID != 0 || m.Recent != 3 {
		t.Fatalf("3 new messages: RecentUID %d, Recent %d", m.RecentUID, m.Recent)
	}
	claim := func(upto, wantFrom uint32) {
		t.Helper()
		from, err := st.ClaimRecent(ctx, a.ID, m.ID, upto)
		must(t, err)
		if from != wantFrom {
			t.Fatalf("ClaimRecent(%d) = %d, want %d", upto, from, wantFrom)
		}
	}
	claim(2, 0)
	if m := inbox(); m.RecentUID != 2 || m.Recent != 1 {
		t.Fatalf("after claiming 2: RecentUID %d, Recent %d", m.RecentUID, m.Recent)
	}
	claim(1, 2)  // below: nothing
	claim(99, 2) // past the last UID: up to it only
	if m := inbox(); m.RecentUID != 3 || m.Recent != 0 {
		t.Fatalf("after claiming all: RecentUID %d, Recent %d", m.RecentUID, m.Recent)
	}
	Deliver(t, st, "Subject: y\r\n\r\ny\r\n", a.ID)
	if m := inbox(); m.RecentUID != 3 || m.Recent != 1 {
		t.Fatalf("one more: RecentUID %d, Recent %d", m.RecentUID, m.Recent)
	}
	// Another account's mailbox is not found.
	_, err := st.ClaimRecent(ctx, b.ID, m.ID, 4)
	wantErr(t, err, store.ErrNotFound)
	if m := inbox(); m.RecentUID != 3 {
		t.Fatalf("another account's claim moved RecentUID to %d", m.RecentUID)
	}
	CheckRecentClaims(t, a.ID, m.ID, st, st, st, st)
}

// CheckRecentClaims delivers messages to the account's mailbox while
// sessions on each of stores (nodes of one database, or the same store
// again) claim concurrently: every new UID is claimed by exactly one.
func CheckRecentClaims(t *testing.T, accountID, mailboxID int64, stores ...store.Store) {
	t.Helper()
	m0, err := stores[0].ListMailboxes(ctx, accountID)
	must(t, err)
	i := slices.IndexFunc(m0, func(m store.Mailbox) bool { return m.ID == mailboxID })
	if i < 0 {
		t.Fatalf("no mailbox %d", mailboxID)
	}
	start := m0[i].UIDNext
	const rounds = 20
	var mu sync.Mutex
	owner := map[uint32]int{}
	var wg sync.WaitGroup
	errs := make(chan error, len(stores)*rounds)
	for round := range rounds {
		Deliver(t, stores[0], fmt.Sprintf("Subject: %d\r\n\r\nround %d\r\n", round, round), accountID)
		upto := start + uint32(round)
		for k, st := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				from, err := st.ClaimRecent(ctx, accountID, mailboxID, upto)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for u := from + 1; u <= upto; u++ {
					if o, ok := owner[u]; ok {
						errs <- fmt.Errorf("UID %d claimed by session %d and %d", u, o, k)
						continue
					}
					owner[u] = k
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for u := start; u < start+rounds; u++ {
		if _, ok := owner[u]; !ok {
			t.Errorf("UID %d claimed by nobody", u)
		}
	}
}
