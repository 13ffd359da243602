package storetest

import (
	"slices"
	"sync"
	"testing"

	"postel/internal/store"
)

// authEpochs is st as a store.AuthEpochs, which every implementation must
// also be.
func authEpochs(t *testing.T, st store.Store) store.AuthEpochs {
	t.Helper()
	ae, ok := st.(store.AuthEpochs)
	if !ok {
		t.Fatalf("%T does not implement store.AuthEpochs", st)
	}
	return ae
}

// epochOf reads the account's AuthEpoch by address, by ID and in the list,
// which must agree.
func epochOf(t *testing.T, st store.Store, a store.Account) int64 {
	t.Helper()
	byAddr, err := st.Account(ctx, a.Address)
	must(t, err)
	byID, err := st.AccountByID(ctx, a.ID)
	must(t, err)
	all, err := st.ListAccounts(ctx)
	must(t, err)
	i := slices.IndexFunc(all, func(o store.Account) bool { return o.ID == a.ID })
	if i < 0 || byAddr.AuthEpoch != byID.AuthEpoch || all[i].AuthEpoch != byID.AuthEpoch {
		t.Fatalf("AuthEpoch of %s disagrees: Account %d, AccountByID %d, ListAccounts %v", a.Address, byAddr.AuthEpoch, byID.AuthEpoch, all)
	}
	return byID.AuthEpoch
}

// testAuthEpoch: BumpAuthEpoch and SetCredentials move an account's
// AuthEpoch on, and only that account's.
func testAuthEpoch(t *testing.T, st store.Store) {
	ae := authEpochs(t, st)
	alice := Account(t, st, "alice@example.org")
	bob := Account(t, st, "bob@example.org")
	e0, bob0 := epochOf(t, st, alice), epochOf(t, st, bob)
	if alice.AuthEpoch != e0 {
		t.Fatalf("CreateAccount returned AuthEpoch %d, the store reads %d", alice.AuthEpoch, e0)
	}

	e1, err := ae.BumpAuthEpoch(ctx, " Alice@Example.ORG ")
	must(t, err)
	if e1 <= e0 || epochOf(t, st, alice) != e1 {
		t.Fatalf("BumpAuthEpoch: %d -> %d, the store reads %d", e0, e1, epochOf(t, st, alice))
	}
	must(t, st.SetCredentials(ctx, "alice@example.org", store.Credentials{PasswordHash: "other"}))
	if e2 := epochOf(t, st, alice); e2 <= e1 {
		t.Fatalf("SetCredentials left AuthEpoch at %d (was %d)", e2, e1)
	}
	if got := epochOf(t, st, bob); got != bob0 {
		t.Fatalf("bob's AuthEpoch moved from %d to %d", bob0, got)
	}

	_, err = ae.BumpAuthEpoch(ctx, "nobody@example.org")
	wantErr(t, err, store.ErrNotFound)
	_, err = ae.BumpAuthEpoch(ctx, "not an address")
	wantErr(t, err, store.ErrInvalid)

	// Concurrent bumps each get their own value; none is lost.
	before := epochOf(t, st, bob)
	var mu sync.Mutex
	var got []int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			e, err := ae.BumpAuthEpoch(ctx, "bob@example.org")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			got = append(got, e)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(got)
	if len(slices.Compact(got)) != 8 || got[0] <= before || epochOf(t, st, bob) != got[7] {
		t.Fatalf("8 concurrent bumps from %d gave %v, the store reads %d", before, got, epochOf(t, st, bob))
	}
}
