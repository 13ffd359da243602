package storetest

import (
	"slices"
	"testing"

	"postel/internal/store"
)

// testCopyKeywordCase: COPY and MOVE give each keyword the case it
// already has in the destination mailbox (RFC 9051 §2.3.2: keywords match
// case-insensitively; one keeps the case it was first set with there),
// not the source's spelling; one the destination lacks comes as the
// source spells it, and all the copies of one command agree on it.
func testCopyKeywordCase(t *testing.T, st store.Store) {
	a := Account(t, st, "alice@example.org")
	for i := range 4 {
		Deliver(t, st, "Subject: k\r\n\r\nbody "+string(rune('a'+i))+"\r\n", a.ID)
	}
	inbox := mailbox(t, st, a.ID, "INBOX")
	arch := mailbox(t, st, a.ID, "Archive")
	set := func(mb int64, uid uint32, kw ...string) {
		t.Helper()
		_, err := st.StoreFlags(ctx, a.ID, mb, []uint32{uid}, store.FlagsAdd, kw, 0)
		must(t, err)
	}
	set(inbox.ID, 1, "$label1", "work")
	set(inbox.ID, 2, "$LABEL1", "New", "WORK")
	set(inbox.ID, 3, "NEW", "work")
	// The destination knows $Label1 (and only it).
	res, err := st.Copy(ctx, a.ID, inbox.ID, []uint32{4}, arch.ID)
	must(t, err)
	set(arch.ID, res.Dest[0], "$Label1")
	if msgs := messages(t, st, a.ID, arch.ID); len(msgs) != 1 || !slices.Equal(msgs[0].Flags, []string{"$Label1"}) {
		t.Fatalf("Archive before = %+v", msgs)
	}

	res, err = st.Copy(ctx, a.ID, inbox.ID, []uint32{1, 2}, arch.ID)
	must(t, err)
	res2, _, err := st.Move(ctx, a.ID, inbox.ID, []uint32{3}, arch.ID)
	must(t, err)
	want := map[uint32][]string{
		res.Dest[0]: {"$Label1", "work"}, // the destination's spelling, not the source's
		// New: new to the destination, as the source spells it; WORK: as
		// the first copy of the same command brought it.
		res.Dest[1]:  {"$Label1", "New", "work"},
		res2.Dest[0]: {"New", "work"}, // NEW: as the destination now has it
	}
	msgs := messages(t, st, a.ID, arch.ID)
	if len(msgs) != 4 {
		t.Fatalf("Archive = %+v", msgs)
	}
	for _, m := range msgs[1:] {
		if w := want[m.UID]; !slices.Equal(m.Flags, w) {
			t.Errorf("Archive UID %d: flags %q, want %q", m.UID, m.Flags, w)
		}
	}
}
