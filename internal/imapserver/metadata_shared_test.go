package imapserver

import (
	"fmt"
	"testing"

	"postel/internal/store"
)

// TestMetadataShared: on a mailbox alice shares, bob reads her /shared
// entries with l and r, never her /private ones (RFC 5464 §3.3); he
// changes /shared entries only with w as well, counted against alice's
// limits; /private entries of his own are refused with [METADATA
// NOPRIVATE] (§4.3); without l and any of r, s, w, i, p the answer is NO
// [NOPERM], and without any right the mailbox does not exist for him.
func TestMetadataShared(t *testing.T) {
	h := newHarness(t)
	alice, bob := shareSetup(t, h, "lr")
	want(t, "alice SETMETADATA", alice.cmd(`SETMETADATA Shared (/shared/comment "team" /private/note "mine")`), "T OK")

	got := bob.cmd(`GETMETADATA (DEPTH infinity) ` + sharedShared + ` (/shared /private)`)
	want(t, "bob GETMETADATA", got, "T OK")
	if len(got) != 2 || got[0] != `* METADATA `+sharedShared+` (/shared/comment "team")` {
		t.Fatalf("bob GETMETADATA: %q", got)
	}
	if got := bob.cmd(`GETMETADATA ` + sharedShared + ` /private/note`); len(got) != 1 {
		t.Fatalf("bob sees alice's private entry: %q", got)
	}

	// lr: reading only.
	want(t, "bob SETMETADATA lr", bob.cmd(`SETMETADATA `+sharedShared+` (/shared/comment "bob")`), "T NO [NOPERM] ")
	want(t, "bob SETMETADATA private", bob.cmd(`SETMETADATA `+sharedShared+` (/private/mine "bob")`), "T NO [METADATA NOPRIVATE] ")

	// lrw: /shared entries, into alice's metadata.
	want(t, "SETACL lrw", alice.cmd(`SETACL Shared bob@example.org lrw`), "T OK")
	want(t, "bob SETMETADATA lrw", bob.cmd(`SETMETADATA `+sharedShared+` (/shared/comment "bob")`), "T OK")
	hasLine(t, "alice GETMETADATA", alice.cmd(`GETMETADATA Shared /shared/comment`), `* METADATA "Shared" (/shared/comment "bob")`)
	// All or none: a /private entry with a /shared one sets neither.
	want(t, "bob SETMETADATA mixed", bob.cmd(`SETMETADATA `+sharedShared+` (/shared/comment "x" /private/mine "y")`), "T NO [METADATA NOPRIVATE] ")
	hasLine(t, "alice GETMETADATA", alice.cmd(`GETMETADATA Shared /shared/comment`), `* METADATA "Shared" (/shared/comment "bob")`)

	// alice's limits count, not bob's: fill hers up to one short.
	md := store.Metadata(h.st)
	var es []store.MetadataEntry
	for i := 0; i < store.MaxMetadataEntries-3; i++ {
		es = append(es, store.MetadataEntry{Name: fmt.Sprintf("/private/n%d", i), Value: []byte("x")})
	}
	if err := md.SetMetadata(t.Context(), h.alice.ID, "", es); err != nil {
		t.Fatal(err)
	}
	want(t, "bob SETMETADATA full", bob.cmd(`SETMETADATA `+sharedShared+` (/shared/a "1" /shared/b "2")`), "T NO [METADATA TOOMANY] ")
	want(t, "bob SETMETADATA own", bob.cmd(`SETMETADATA INBOX (/shared/a "1" /shared/b "2")`), "T OK")

	// Not enough rights: r without l, l alone; then none at all, and a
	// name alice has not.
	want(t, "SETACL r", alice.cmd(`SETACL Shared bob@example.org r`), "T OK")
	want(t, "bob GETMETADATA r", bob.cmd(`GETMETADATA `+sharedShared+` /shared/comment`), "T NO [NOPERM] ")
	want(t, "SETACL l", alice.cmd(`SETACL Shared bob@example.org l`), "T OK")
	want(t, "bob GETMETADATA l", bob.cmd(`GETMETADATA `+sharedShared+` /shared/comment`), "T NO [NOPERM] ")
	want(t, "bob SETMETADATA l", bob.cmd(`SETMETADATA `+sharedShared+` (/private/x "1")`), "T NO [NOPERM] ")
	want(t, "SETACL lp", alice.cmd(`SETACL Shared bob@example.org lp`), "T OK")
	hasLine(t, "bob GETMETADATA lp", bob.cmd(`GETMETADATA `+sharedShared+` /shared/comment`), `* METADATA `+sharedShared+` (/shared/comment "bob")`)
	want(t, "DELETEACL", alice.cmd(`DELETEACL Shared bob@example.org`), "T OK")
	want(t, "bob GETMETADATA none", bob.cmd(`GETMETADATA `+sharedShared+` /shared/comment`), "T NO [NONEXISTENT] ")
	want(t, "bob SETMETADATA none", bob.cmd(`SETMETADATA `+sharedShared+` (/shared/comment "z")`), "T NO [NONEXISTENT] ")
	want(t, "bob GETMETADATA other", bob.cmd(`GETMETADATA "Other Users/alice@example.org/INBOX" /shared/comment`), "T NO [NONEXISTENT] ")
	want(t, "bob GETMETADATA level", bob.cmd(`GETMETADATA "Other Users" /shared/comment`), "T NO [NONEXISTENT] ")
}
