package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"postel/internal/store"
)

// junkStore is st as a store.JunkStore, which every implementation must
// also be.
func junkStore(t *testing.T, st store.Store) store.JunkStore {
	t.Helper()
	js, ok := st.(store.JunkStore)
	if !ok {
		t.Fatalf("%T does not implement store.JunkStore", st)
	}
	return js
}

func ruleStrings(t *testing.T, js store.JunkStore, acct int64) []string {
	t.Helper()
	rules, err := js.JunkRules(ctx, acct)
	must(t, err)
	var out []string
	for _, r := range rules {
		if r.Created.IsZero() {
			t.Errorf("rule %+v has no creation time", r)
		}
		out = append(out, r.Kind+" "+r.Pattern)
	}
	return out
}

func testJunkRules(t *testing.T, st store.Store) {
	js := junkStore(t, st)
	a := Account(t, st, "alice@example.org")
	must(t, js.AddJunkRule(ctx, a.ID, store.JunkAllow, "Friends.Example"))
	must(t, js.AddJunkRule(ctx, a.ID, store.JunkBlock, " Spammer@Bad.EXAMPLE "))
	must(t, js.AddJunkRule(ctx, a.ID, store.JunkBlock, "@other.example"))
	// IDNA: a U-label domain is kept as its A-label.
	must(t, js.AddJunkRule(ctx, a.ID, store.JunkBlock, "BÜCHER.example"))
	want := []string{"allow friends.example", "block other.example", "block spammer@bad.example", "block xn--bcher-kva.example"}
	if got := ruleStrings(t, js, a.ID); !slices.Equal(got, want) {
		t.Fatalf("JunkRules = %q, want %q", got, want)
	}
	// One rule per pattern, whatever its spelling or kind.
	wantErr(t, js.AddJunkRule(ctx, a.ID, store.JunkAllow, "friends.example"), store.ErrExists)
	wantErr(t, js.AddJunkRule(ctx, a.ID, store.JunkBlock, "FRIENDS.example."), store.ErrExists)
	wantErr(t, js.AddJunkRule(ctx, a.ID, store.JunkAllow, "xn--bcher-kva.example"), store.ErrExists)
	for _, kind := range []string{"", "deny", "Allow"} {
		wantErr(t, js.AddJunkRule(ctx, a.ID, kind, "x.example"), store.ErrInvalid)
	}
	for _, p := range []string{"", "@", "user@", "a b.example", "*.example.com", "x@[192.0.2.1]", "bob<x>@example.com",
		"bad\r\n.example", "-x.example", strings.Repeat("a", 64) + "." + strings.Repeat("b", 64) + ".example",
		strings.Repeat("u", 300) + "@" + strings.Repeat("d", 60) + ".example", "\xff@example.com"} {
		wantErr(t, js.AddJunkRule(ctx, a.ID, store.JunkBlock, p), store.ErrInvalid)
	}
	wantErr(t, js.AddJunkRule(ctx, a.ID+1000, store.JunkBlock, "x.example"), store.ErrNotFound)

	// Deleting takes the kind the pattern has.
	wantErr(t, js.DeleteJunkRule(ctx, a.ID, store.JunkBlock, "friends.example"), store.ErrNotFound)
	must(t, js.DeleteJunkRule(ctx, a.ID, store.JunkAllow, "FRIENDS.example"))
	wantErr(t, js.DeleteJunkRule(ctx, a.ID, store.JunkAllow, "friends.example"), store.ErrNotFound)
	wantErr(t, js.DeleteJunkRule(ctx, a.ID, store.JunkBlock, "not a pattern"), store.ErrInvalid)
	must(t, js.AddJunkRule(ctx, a.ID, store.JunkBlock, "friends.example"))
	if got := ruleStrings(t, js, a.ID); len(got) != 4 || got[0] != "block friends.example" {
		t.Fatalf("after re-adding as a block: %q", got)
	}

	// At most MaxJunkRules per account; others are not affected.
	var wg sync.WaitGroup
	errs := make([]error, store.MaxJunkRules-4)
	for i := range errs {
		wg.Go(func() { errs[i] = js.AddJunkRule(ctx, a.ID, store.JunkBlock, fmt.Sprintf("d%d.example", i)) })
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
	wantErr(t, js.AddJunkRule(ctx, a.ID, store.JunkAllow, "one-too-many.example"), store.ErrQuota)
	b := Account(t, st, "bob@example.org")
	must(t, js.AddJunkRule(ctx, b.ID, store.JunkAllow, "one-too-many.example"))
	must(t, js.DeleteJunkRule(ctx, a.ID, store.JunkBlock, "d0.example"))
	must(t, js.AddJunkRule(ctx, a.ID, store.JunkAllow, "one-too-many.example"))
	if got := ruleStrings(t, js, a.ID); len(got) != store.MaxJunkRules {
		t.Fatalf("%d rules, want %d", len(got), store.MaxJunkRules)
	}
}

func testReputation(t *testing.T, st store.Store) {
	js := junkStore(t, st)
	a := Account(t, st, "alice@example.org")
	r, err := js.Reputation(ctx, a.ID, "bob@example.com")
	must(t, err)
	if r != (store.SenderReputation{}) {
		t.Fatalf("reputation before training = %+v", r)
	}
	must(t, js.TrainSender(ctx, a.ID, "Bob@Example.COM", true))
	must(t, js.TrainSender(ctx, a.ID, "bob@example.com", true))
	must(t, js.TrainSender(ctx, a.ID, "bob@EXAMPLE.com", false))
	must(t, js.TrainSender(ctx, a.ID, "carol@bücher.example", false))
	r, err = js.Reputation(ctx, a.ID, "BOB@example.com")
	must(t, err)
	if r.Sender != "bob@example.com" || r.Spam != 2 || r.Ham != 1 || r.Last != store.MarkHam || r.Updated.IsZero() {
		t.Fatalf("reputation = %+v", r)
	}
	must(t, js.TrainSender(ctx, a.ID, "bob@example.com", true))
	if r, err = js.Reputation(ctx, a.ID, "bob@example.com"); err != nil || r.Spam != 3 || r.Last != store.MarkSpam {
		t.Fatalf("after another spam mark: %+v, %v", r, err)
	}
	all, err := js.Reputations(ctx, a.ID)
	must(t, err)
	if len(all) != 2 || all[0].Sender != "bob@example.com" || all[1].Sender != "carol@xn--bcher-kva.example" || all[1].Ham != 1 {
		t.Fatalf("Reputations = %+v", all)
	}
	wantErr(t, js.TrainSender(ctx, a.ID, "not an address", true), store.ErrInvalid)
	wantErr(t, js.TrainSender(ctx, a.ID, "x@", true), store.ErrInvalid)
	_, err = js.Reputation(ctx, a.ID, "nobody")
	wantErr(t, err, store.ErrInvalid)
	wantErr(t, js.TrainSender(ctx, a.ID+1000, "bob@example.com", true), store.ErrNotFound)

	must(t, js.ClearReputation(ctx, a.ID, "BOB@example.com"))
	wantErr(t, js.ClearReputation(ctx, a.ID, "bob@example.com"), store.ErrNotFound)
	if r, err = js.Reputation(ctx, a.ID, "bob@example.com"); err != nil || r != (store.SenderReputation{}) {
		t.Fatalf("after ClearReputation: %+v, %v", r, err)
	}
	// Training starts again from nothing.
	must(t, js.TrainSender(ctx, a.ID, "bob@example.com", false))
	if r, err = js.Reputation(ctx, a.ID, "bob@example.com"); err != nil || r.Spam != 0 || r.Ham != 1 || r.Last != store.MarkHam {
		t.Fatalf("after clearing and training again: %+v, %v", r, err)
	}
}

// testJunkIsolation: one account's rules and reputations are invisible
// to another and out of its reach, and go with the account.
func testJunkIsolation(t *testing.T, st store.Store) {
	js := junkStore(t, st)
	a := Account(t, st, "alice@example.org")
	b := Account(t, st, "bob@example.org")
	must(t, js.AddJunkRule(ctx, a.ID, store.JunkBlock, "spam.example"))
	must(t, js.TrainSender(ctx, a.ID, "x@spam.example", true))
	if got := ruleStrings(t, js, b.ID); len(got) != 0 {
		t.Fatalf("bob sees rules %q", got)
	}
	if all, err := js.Reputations(ctx, b.ID); err != nil || len(all) != 0 {
		t.Fatalf("bob sees reputations %+v, %v", all, err)
	}
	if r, err := js.Reputation(ctx, b.ID, "x@spam.example"); err != nil || r != (store.SenderReputation{}) {
		t.Fatalf("bob's reputation of alice's sender: %+v, %v", r, err)
	}
	wantErr(t, js.DeleteJunkRule(ctx, b.ID, store.JunkBlock, "spam.example"), store.ErrNotFound)
	wantErr(t, js.ClearReputation(ctx, b.ID, "x@spam.example"), store.ErrNotFound)
	// The same pattern and sender for bob are his own.
	must(t, js.AddJunkRule(ctx, b.ID, store.JunkAllow, "spam.example"))
	must(t, js.TrainSender(ctx, b.ID, "x@spam.example", false))
	if got := ruleStrings(t, js, a.ID); !slices.Equal(got, []string{"block spam.example"}) {
		t.Fatalf("alice's rules after bob's = %q", got)
	}
	if r, err := js.Reputation(ctx, a.ID, "x@spam.example"); err != nil || r.Spam != 1 || r.Ham != 0 {
		t.Fatalf("alice's reputation after bob's training: %+v, %v", r, err)
	}

	must(t, st.DeleteAccount(ctx, "alice@example.org"))
	if got := ruleStrings(t, js, a.ID); len(got) != 0 {
		t.Fatalf("deleted account still has rules %q", got)
	}
	if all, err := js.Reputations(ctx, a.ID); err != nil || len(all) != 0 {
		t.Fatalf("deleted account still has reputations %+v, %v", all, err)
	}
	wantErr(t, js.TrainSender(ctx, a.ID, "x@spam.example", true), store.ErrNotFound)
	wantErr(t, js.AddJunkRule(ctx, a.ID, store.JunkBlock, "spam.example"), store.ErrNotFound)
	// A new account of the same address starts clean.
	a2 := Account(t, st, "alice@example.org")
	if got := ruleStrings(t, js, a2.ID); len(got) != 0 {
		t.Fatalf("recreated account inherits rules %q", got)
	}
	if got := ruleStrings(t, js, b.ID); !slices.Equal(got, []string{"allow spam.example"}) {
		t.Fatalf("bob's rules after alice's deletion = %q", got)
	}
}
