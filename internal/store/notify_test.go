package store

import "testing"

// TestHubBounded: a subscriber that never reads holds at most MaxPending
// changes, and still learns of every mailbox that changed, with its
// highest MODSEQ.
func TestHubBounded(t *testing.T) {
	h := NewHub()
	sub := h.Subscribe(1)
	defer sub.Close()
	other := h.Subscribe(2)
	defer other.Close()
	for i := range 10 * MaxPending {
		h.Publish([]Change{{AccountID: 1, MailboxID: int64(i % 3), Kind: ChangeFlags, UIDs: []uint32{uint32(i)}, ModSeq: uint64(i + 1)}})
	}
	h.Publish([]Change{{AccountID: 1, MailboxID: 7, Kind: ChangeAdded, UIDs: []uint32{1}, ModSeq: 5}})
	got := sub.Next()
	if len(got) > MaxPending+1 {
		t.Fatalf("%d changes held", len(got))
	}
	seen := map[int64]uint64{}
	for _, c := range got {
		seen[c.MailboxID] = max(seen[c.MailboxID], c.ModSeq)
	}
	want := map[int64]uint64{7: 5}
	for i := range 10 * MaxPending {
		want[int64(i%3)] = uint64(i + 1)
	}
	for mb, ms := range want {
		if seen[mb] != ms {
			t.Errorf("mailbox %d: highest MODSEQ %d, want %d (all: %v)", mb, seen[mb], ms, seen)
		}
	}
	if n := other.Next(); len(n) != 0 {
		t.Fatalf("another account's subscriber got %d changes", len(n))
	}
	if n := sub.Next(); len(n) != 0 {
		t.Fatalf("Next again: %d", len(n))
	}
}

// TestHubResync: PublishResync reaches every subscription of every account;
// merged with an account's change, the resync stays (it covers it).
func TestHubResync(t *testing.T) {
	h := NewHub()
	a, b := h.Subscribe(1), h.Subscribe(2)
	defer a.Close()
	defer b.Close()
	h.PublishResync()
	for i, sub := range []Subscription{a, b} {
		got := sub.Next()
		if len(got) != 1 || got[0].Kind != ChangeResync || got[0].AccountID != int64(i+1) {
			t.Fatalf("subscription %d got %+v", i, got)
		}
	}
	merged := merge([]Change{{AccountID: 1, Kind: ChangeAccount}, {AccountID: 1, Kind: ChangeResync}, {AccountID: 1, MailboxID: 3, Kind: ChangeFlags}})
	if len(merged) != 2 || merged[0].Kind != ChangeResync || merged[1].MailboxID != 3 {
		t.Fatalf("merged %+v", merged)
	}
}
