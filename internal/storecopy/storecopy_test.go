package storecopy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"postel/internal/deliver"
	"postel/internal/store"
	"postel/internal/store/postgres"
	"postel/internal/store/sqlite"
	"postel/internal/testutil/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.RunMain(m)) }

var bg = context.Background()

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// openSource opens a SQLite store in a new directory, as an admin command
// would (not exclusive).
func openSource(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(bg, t.TempDir(), sqlite.Options{})
	must(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

// openTarget opens the PostgreSQL store of a fresh database.
func openTarget(t testing.TB) *postgres.Store {
	t.Helper()
	st, err := postgres.Open(bg, pgtest.Shared(t).NewDatabase(t), postgres.Options{SpoolDir: t.TempDir()})
	must(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

// put stores one message as SMTP or APPEND would: spooled, parsed once by
// deliver.Prepare, delivered to the targets.
func put(t testing.TB, st store.Store, prefix, body string, targets ...store.Target) []store.Delivered {
	t.Helper()
	sp, err := st.NewSpool()
	must(t, err)
	_, err = io.WriteString(sp, body)
	must(t, err)
	must(t, sp.Finish())
	d, err := deliver.Prepare(sp, []byte(prefix), targets)
	must(t, err)
	out, err := st.Deliver(bg, d)
	must(t, err)
	return out
}

func mailboxID(t testing.TB, st store.Store, acct int64, name string) int64 {
	t.Helper()
	mb, err := st.Mailbox(bg, acct, name)
	must(t, err)
	return mb.ID
}

// populate fills a SQLite store through its normal API with everything a
// copy must carry.
func populate(t *testing.T, st *sqlite.Store) {
	t.Helper()
	for _, d := range []string{"example.org", "example.net"} {
		must(t, st.AddDomain(bg, d))
	}
	alice, err := st.CreateAccount(bg, "alice@example.org", store.Credentials{PasswordHash: "$argon2id$alice", SCRAMSHA256: "scram-alice"})
	must(t, err)
	bob, err := st.CreateAccount(bg, "bob@example.net", store.Credentials{PasswordHash: "$argon2id$bob"})
	must(t, err)
	_, err = st.CreateAccount(bg, "carol@example.org", store.Credentials{})
	must(t, err)
	must(t, st.SetQuota(bg, "alice@example.org", 50<<20))
	for range 2 {
		_, err := st.BumpAuthEpoch(bg, "alice@example.org")
		must(t, err)
	}
	must(t, st.SetDisabled(bg, "bob@example.net", true))
	must(t, st.SetCredentials(bg, "carol@example.org", store.Credentials{PasswordHash: "$argon2id$carol2"}))
	for _, a := range [][2]string{
		{"info@example.org", "alice@example.org"}, {"info@example.org", "bob@example.net"},
		{"@example.net", "bob@example.net"}, {"fwd@example.org", "someone@remote.example"},
	} {
		must(t, st.AddAlias(bg, a[0], a[1]))
	}

	// Nested mailboxes, one unsubscribed, one deleted and made again (a
	// higher UIDVALIDITY).
	for _, name := range []string{"Projects", "Projects/2026", "Projects/2026/Q1", "Lists"} {
		_, err := st.CreateMailbox(bg, alice.ID, name, "")
		must(t, err)
	}
	must(t, st.DeleteMailbox(bg, alice.ID, "Lists"))
	_, err = st.CreateMailbox(bg, alice.ID, "Lists", "")
	must(t, err)
	must(t, st.SetSubscribed(bg, alice.ID, "Projects/2026", false))
	// Subscriptions of their own: one mailbox, one name that is none.
	must(t, st.SetSubscribed(bg, alice.ID, "Projects", true))
	must(t, st.SetSubscribed(bg, alice.ID, "Gone/Away", true))
	// Lists is shared (RFC 4314): with bob, and with anyone but carol.
	lists := mailboxID(t, st, alice.ID, "Lists")
	must(t, st.SetACL(bg, alice.ID, lists, store.ACLEntry{Identifier: "bob@example.net", Rights: "lrs"}))
	must(t, st.SetACL(bg, alice.ID, lists, store.ACLEntry{Identifier: store.Anyone, Rights: "l"}))
	must(t, st.SetACL(bg, alice.ID, lists, store.ACLEntry{Identifier: "carol@example.org", Negative: true, Rights: "l"}))

	const prefix = "Return-Path: <x@remote.example>\r\nReceived: from client.example by mx.test.example\r\n"
	inbox := mailboxID(t, st, alice.ID, "INBOX")
	for i := 1; i <= 20; i++ {
		word := fmt.Sprintf("word%d", i)
		if i == 5 {
			word = "zanzibar"
		}
		p := prefix
		if i%3 == 0 {
			p = ""
		}
		put(t, st, p, fmt.Sprintf("From: Sender %d <s%d@remote.example>\r\nTo: alice@example.org\r\nSubject: message %d\r\n"+
			"Message-ID: <m%d@remote.example>\r\nReferences: <root@remote.example>\r\nDate: Mon, 2 Mar 2026 10:%02d:00 +0100\r\n\r\n"+
			"Body of message %d with %s.\r\n", i, i, i, i, i, i, word),
			store.Target{AccountID: alice.ID, InternalDate: time.Unix(1_772_000_000+int64(i)*60, 0)})
	}
	// A session saw half of them as recent: the rest are recent still.
	if _, err := st.ClaimRecent(bg, alice.ID, inbox, 10); err != nil {
		t.Fatal(err)
	}
	// A large body: several of the PostgreSQL store's 1 MiB chunks.
	big := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/\r\n"), 40000)
	put(t, st, prefix, "From: big@remote.example\r\nSubject: large\r\nContent-Type: application/octet-stream\r\n"+
		"Content-Transfer-Encoding: base64\r\n\r\n"+string(big), store.Target{AccountID: alice.ID})
	// One delivery to two accounts: one body shared in the source.
	put(t, st, prefix, "From: x@remote.example\r\nSubject: to both\r\n\r\nshared body\r\n",
		store.Target{AccountID: alice.ID}, store.Target{AccountID: bob.ID})
	// APPENDs with flags into a nested mailbox.
	for i, flags := range [][]string{{`\Draft`}, {`\Seen`, "$Forwarded"}, nil} {
		put(t, st, "", fmt.Sprintf("Subject: draft %d\r\n\r\ndraft\r\n", i),
			store.Target{AccountID: alice.ID, Mailbox: "Projects/2026/Q1", Flags: flags, InternalDate: time.Unix(1_700_000_000, 0)})
	}

	// Flags, keywords, expunges, a move and a copy.
	_, err = st.StoreFlags(bg, alice.ID, inbox, []uint32{1, 2, 3, 4, 5}, store.FlagsAdd, []string{`\Seen`}, 0)
	must(t, err)
	_, err = st.StoreFlags(bg, alice.ID, inbox, []uint32{2}, store.FlagsAdd, []string{`\Flagged`, "$Important", "custom_kw"}, 0)
	must(t, err)
	_, err = st.StoreFlags(bg, alice.ID, inbox, []uint32{3}, store.FlagsReplace, []string{`\Answered`}, 0)
	must(t, err)
	_, err = st.StoreFlags(bg, alice.ID, inbox, []uint32{4, 11}, store.FlagsAdd, []string{`\Deleted`}, 0)
	must(t, err)
	_, err = st.Expunge(bg, alice.ID, inbox, []uint32{6, 7})
	must(t, err)
	_, err = st.ExpungeDeleted(bg, alice.ID, inbox, []uint32{4})
	must(t, err)
	_, _, err = st.Move(bg, alice.ID, inbox, []uint32{8, 9}, mailboxID(t, st, alice.ID, "Projects"))
	must(t, err)
	_, err = st.Copy(bg, alice.ID, inbox, []uint32{10, 5}, mailboxID(t, st, alice.ID, "Projects/2026"))
	must(t, err)

	// The queue: one entry with a delivered and a pending recipient after
	// an attempt, one untouched.
	enqueue := func(rcpts ...store.QueueRcpt) int64 {
		sp, err := st.NewSpool()
		must(t, err)
		_, err = io.WriteString(sp, "From: alice@example.org\r\nSubject: out\r\n\r\noutbound\r\n")
		must(t, err)
		must(t, sp.Finish())
		d, err := deliver.Prepare(sp, nil, nil)
		must(t, err)
		d.Queue = &store.QueueEntry{AccountID: alice.ID, From: "alice@example.org", Recipients: rcpts, DSNRet: "HDRS",
			DSNEnvID: "env-1", SMTPUTF8: true, Prefix: []byte("Received: from [127.0.0.1] by mx.test.example\r\n")}
		out, err := st.Deliver(bg, d)
		must(t, err)
		return out[0].QueueID
	}
	id := enqueue(store.QueueRcpt{Address: "a@one.example", Notify: []string{"SUCCESS", "FAILURE"}, ORcpt: "rfc822;a@one.example"},
		store.QueueRcpt{Address: "b@two.example"})
	enqueue(store.QueueRcpt{Address: "c@three.example"})
	claimed, err := st.ClaimQueue(bg, "worker", time.Now(), time.Minute, 1)
	must(t, err)
	if len(claimed) != 1 || claimed[0].ID != id {
		t.Fatalf("claimed %+v", claimed)
	}
	rc := slices.Clone(claimed[0].Recipients)
	rc[0].Status, rc[0].Attempts, rc[0].LastReply = "delivered", 1, "250 2.0.0 ok"
	rc[1].Attempts, rc[1].LastReply = 1, "451 4.3.0 try later"
	must(t, st.UpdateQueue(bg, id, "worker", rc, time.Now().Add(time.Hour)))

	// Junk rules and what alice's moves taught.
	must(t, st.AddJunkRule(bg, alice.ID, store.JunkAllow, "friend.example"))
	must(t, st.AddJunkRule(bg, alice.ID, store.JunkBlock, "spam@bad.example"))
	for _, spam := range []bool{true, true, false} {
		must(t, st.TrainSender(bg, alice.ID, "x@remote.example", spam))
	}
	must(t, st.TrainSender(bg, alice.ID, "y@other.example", true))

	// METADATA (RFC 5464): server entries and a mailbox's.
	must(t, st.SetMetadata(bg, alice.ID, "", []store.MetadataEntry{{Name: "/shared/comment", Value: []byte("alice's server note")},
		{Name: "/private/vendor/x/bin", Value: []byte{0, 1, 2}}}))
	must(t, st.SetMetadata(bg, alice.ID, "Projects", []store.MetadataEntry{{Name: "/private/comment", Value: []byte("work")}}))
}

// sourceMessages counts the source's messages.
func sourceMessages(t *testing.T, st store.Store) int64 {
	t.Helper()
	var n int64
	accts, err := st.ListAccounts(bg)
	must(t, err)
	for _, a := range accts {
		_, m, err := st.Usage(bg, a.ID)
		must(t, err)
		n += m
	}
	return n
}

func readAll(t *testing.T, r store.MessageReader, err error) []byte {
	t.Helper()
	must(t, err)
	defer r.Close()
	b, err := io.ReadAll(r)
	must(t, err)
	if int64(len(b)) != r.Size() {
		t.Fatalf("read %d bytes, Size says %d", len(b), r.Size())
	}
	return b
}

// compareStores checks through the store API that dst holds what src
// holds, field by field, bodies byte by byte.
func compareStores(t *testing.T, src, dst store.Store) {
	t.Helper()
	sd, err := src.ListDomains(bg)
	must(t, err)
	dd, err := dst.ListDomains(bg)
	must(t, err)
	if len(sd) != len(dd) {
		t.Fatalf("domains %v, copied %v", sd, dd)
	}
	for i := range sd {
		if sd[i].Name != dd[i].Name {
			t.Errorf("domain %s copied as %s", sd[i].Name, dd[i].Name)
		}
	}
	sa, err := src.ListAliases(bg)
	must(t, err)
	da, err := dst.ListAliases(bg)
	must(t, err)
	if fmt.Sprint(sa) != fmt.Sprint(da) {
		t.Errorf("aliases %v, copied %v", sa, da)
	}

	accts, err := src.ListAccounts(bg)
	must(t, err)
	ids := map[int64]int64{}
	for _, a := range accts {
		b, err := dst.Account(bg, a.Address)
		must(t, err)
		ids[a.ID] = b.ID
		if a.Credentials != b.Credentials || a.QuotaBytes != b.QuotaBytes || a.UsedBytes != b.UsedBytes || a.Disabled != b.Disabled ||
			a.AuthEpoch != b.AuthEpoch || !a.Created.Equal(b.Created) {
			t.Errorf("account %+v copied as %+v", a, b)
		}
		su, sn, err := src.Usage(bg, a.ID)
		must(t, err)
		du, dn, err := dst.Usage(bg, b.ID)
		must(t, err)
		if su != du || sn != dn {
			t.Errorf("%s: usage %d bytes %d messages, copied %d, %d", a.Address, su, sn, du, dn)
		}
		compareJunk(t, src.(store.JunkStore), dst.(store.JunkStore), a.ID, b.ID, a.Address)
		compareMetadata(t, src.(store.Metadata), dst.(store.Metadata), a.ID, b.ID, "")
		ss, err := src.Subscriptions(bg, a.ID)
		must(t, err)
		ds, err := dst.Subscriptions(bg, b.ID)
		must(t, err)
		if !slices.Equal(ss, ds) {
			t.Errorf("%s: subscriptions %q, copied %q", a.Address, ss, ds)
		}
		smbs, err := src.ListMailboxes(bg, a.ID)
		must(t, err)
		dmbs, err := dst.ListMailboxes(bg, b.ID)
		must(t, err)
		if len(smbs) != len(dmbs) {
			t.Fatalf("%s: mailboxes %+v, copied %+v", a.Address, smbs, dmbs)
		}
		for i, m := range smbs {
			n := dmbs[i]
			m.ID, m.AccountID, n.ID, n.AccountID = 0, 0, 0, 0
			if m != n {
				t.Errorf("%s: mailbox %+v copied as %+v", a.Address, m, n)
				continue
			}
			compareMailbox(t, src, dst, a.ID, smbs[i].ID, b.ID, dmbs[i].ID, a.Address+" "+m.Name)
			compareMetadata(t, src.(store.Metadata), dst.(store.Metadata), a.ID, b.ID, m.Name)
		}
	}

	sq, err := src.Queue(bg)
	must(t, err)
	dq, err := dst.Queue(bg)
	must(t, err)
	if len(sq) != len(dq) {
		t.Fatalf("queue %+v, copied %+v", sq, dq)
	}
	for i, e := range sq {
		f := dq[i]
		if e.AccountID != 0 {
			e.AccountID = ids[e.AccountID]
		}
		if fmt.Sprint(e) != fmt.Sprint(f) {
			t.Errorf("queue entry\n%+v\ncopied as\n%+v", e, f)
		}
		r, err := src.OpenQueued(bg, e.ID)
		a := readAll(t, r, err)
		r, err = dst.OpenQueued(bg, f.ID)
		b := readAll(t, r, err)
		if !bytes.Equal(a, b) {
			t.Errorf("queue entry %d: bytes differ", e.ID)
		}
	}
}

// compareMetadata compares the METADATA of a mailbox ("" for the server).
func compareMetadata(t *testing.T, src, dst store.Metadata, from, to int64, mailbox string) {
	t.Helper()
	a, err := src.Metadata(bg, from, mailbox)
	must(t, err)
	b, err := dst.Metadata(bg, to, mailbox)
	must(t, err)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("metadata of %q: %q, copied %q", mailbox, a, b)
	}
}

func compareJunk(t *testing.T, src, dst store.JunkStore, from, to int64, who string) {
	t.Helper()
	sr, err := src.JunkRules(bg, from)
	must(t, err)
	dr, err := dst.JunkRules(bg, to)
	must(t, err)
	if len(sr) != len(dr) {
		t.Fatalf("%s: junk rules %+v, copied %+v", who, sr, dr)
	}
	for i := range sr {
		if sr[i].Kind != dr[i].Kind || sr[i].Pattern != dr[i].Pattern || !sr[i].Created.Equal(dr[i].Created) {
			t.Errorf("%s: junk rule %+v copied as %+v", who, sr[i], dr[i])
		}
	}
	sp, err := src.Reputations(bg, from)
	must(t, err)
	dp, err := dst.Reputations(bg, to)
	must(t, err)
	if len(sp) != len(dp) {
		t.Fatalf("%s: reputations %+v, copied %+v", who, sp, dp)
	}
	for i := range sp {
		if sp[i].Sender != dp[i].Sender || sp[i].Spam != dp[i].Spam || sp[i].Ham != dp[i].Ham || sp[i].Last != dp[i].Last ||
			!sp[i].Updated.Equal(dp[i].Updated) {
			t.Errorf("%s: reputation %+v copied as %+v", who, sp[i], dp[i])
		}
	}
}

func compareMailbox(t *testing.T, src, dst store.Store, sa, smb, da, dmb int64, what string) {
	t.Helper()
	sm, err := src.Messages(bg, sa, smb, 0)
	must(t, err)
	dm, err := dst.Messages(bg, da, dmb, 0)
	must(t, err)
	if len(sm) != len(dm) {
		t.Fatalf("%s: %d messages, copied %d", what, len(sm), len(dm))
	}
	for i, m := range sm {
		n := dm[i]
		if m.UID != n.UID || m.ModSeq != n.ModSeq || !slices.Equal(m.Flags, n.Flags) || !m.InternalDate.Equal(n.InternalDate) ||
			!m.SaveDate.Equal(n.SaveDate) || m.Size != n.Size {
			t.Errorf("%s: message %+v copied as %+v", what, m, n)
			continue
		}
		r, err := src.OpenMessage(bg, sa, smb, m.UID)
		a := readAll(t, r, err)
		r, err = dst.OpenMessage(bg, da, dmb, n.UID)
		b := readAll(t, r, err)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: UID %d: bytes differ", what, m.UID)
		}
	}
	smeta, err := src.MessageMetas(bg, sa, smb, nil)
	must(t, err)
	dmeta, err := dst.MessageMetas(bg, da, dmb, nil)
	must(t, err)
	for uid, m := range smeta {
		n := dmeta[uid]
		if !bytes.Equal(m.Envelope, n.Envelope) || !bytes.Equal(m.Structure, n.Structure) || m.Subject != n.Subject || m.From != n.From ||
			m.To != n.To || m.Cc != n.Cc || m.Bcc != n.Bcc || m.MessageID != n.MessageID || !m.Date.Equal(n.Date) ||
			m.InReplyTo != n.InReplyTo || !slices.Equal(m.References, n.References) {
			t.Errorf("%s: UID %d: meta %+v copied as %+v", what, uid, m, n)
		}
	}
	se, err := src.ExpungedSince(bg, sa, smb, 0)
	must(t, err)
	de, err := dst.ExpungedSince(bg, da, dmb, 0)
	must(t, err)
	if !slices.Equal(se, de) {
		t.Errorf("%s: expunged %v, copied %v", what, se, de)
	}
	for _, term := range []string{"zanzibar", "message"} {
		su, _, err := src.SearchText(bg, sa, smb, []string{term}, false)
		must(t, err)
		du, _, err := dst.SearchText(bg, da, dmb, []string{term}, false)
		must(t, err)
		if !slices.Equal(su, du) {
			t.Errorf("%s: SearchText %q: %v, in the copy %v", what, term, su, du)
		}
	}
}

// TestCopy: everything a SQLite store holds is in the PostgreSQL store
// after a copy, as it was; a second copy changes nothing; what comes after
// in the target continues above the copied identities.
func TestCopy(t *testing.T) {
	src := openSource(t)
	populate(t, src)
	dst := openTarget(t)
	var last Progress
	calls := 0
	rep, err := Copy(bg, src, dst, Options{Progress: func(p Progress) { last = p; calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	total := sourceMessages(t, src)
	t.Logf("copied %d messages (%d bytes) in %v: %+v", rep.CopiedMessages, rep.CopiedBytes, rep.Elapsed, rep)
	if !rep.Verified || rep.Messages != total || rep.CopiedMessages != total || rep.Domains != 2 || rep.Accounts != 3 ||
		rep.Aliases != 3 || rep.Queue != 2 || rep.CopiedQueue != 2 || rep.JunkRules != 2 || rep.Reputations != 2 ||
		!rep.JunkDatesKept || rep.Expunged != 5 || rep.Mailboxes != 6+4+6+6 || rep.ACLEntries != 3 {
		t.Fatalf("report %+v (source: %d messages)", rep, total)
	}
	if int64(calls) != total || last.Messages != total || last.TotalMessages != total || last.Bytes != rep.Bytes || last.TotalBytes != rep.Bytes {
		t.Fatalf("%d progress calls, last %+v; want %d messages, %d bytes", calls, last, total, rep.Bytes)
	}
	compareStores(t, src, dst)

	again, err := Copy(bg, src, dst, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if again.CopiedMessages != 0 || again.CopiedQueue != 0 || again.Messages != total || !again.Verified {
		t.Fatalf("second copy: %+v", again)
	}
	compareStores(t, src, dst)

	// The target goes on above the copied identities.
	alice, err := dst.Account(bg, "alice@example.org")
	must(t, err)
	before, err := dst.Mailbox(bg, alice.ID, "INBOX")
	must(t, err)
	out := put(t, dst, "", "Subject: after\r\n\r\nnew\r\n", store.Target{AccountID: alice.ID})
	if out[0].UID != before.UIDNext || out[0].UIDValidity != before.UIDValidity {
		t.Fatalf("delivered after the copy: %+v; INBOX was %+v", out[0], before)
	}
	if after, err := dst.Mailbox(bg, alice.ID, "INBOX"); err != nil || after.HighestModSeq <= before.HighestModSeq {
		t.Fatalf("INBOX after a delivery: %+v, %v; before %+v", after, err, before)
	}
	mbs, err := dst.ListMailboxes(bg, alice.ID)
	must(t, err)
	fresh, err := dst.CreateMailbox(bg, alice.ID, "Fresh", "")
	must(t, err)
	for _, mb := range mbs {
		if fresh.UIDValidity <= mb.UIDValidity {
			t.Fatalf("new mailbox UIDVALIDITY %d, not above %s's %d", fresh.UIDValidity, mb.Name, mb.UIDValidity)
		}
	}
	q, err := dst.Queue(bg)
	must(t, err)
	sp, err := dst.NewSpool()
	must(t, err)
	io.WriteString(sp, "Subject: q\r\n\r\nx\r\n")
	must(t, sp.Finish())
	res, err := dst.Deliver(bg, &store.Delivery{Spool: sp, Queue: &store.QueueEntry{From: "alice@example.org",
		Recipients: []store.QueueRcpt{{Address: "z@remote.example"}}}})
	must(t, err)
	if res[0].QueueID <= q[len(q)-1].ID {
		t.Fatalf("new queue entry %d, not above the copied %d", res[0].QueueID, q[len(q)-1].ID)
	}

	// The verification sees a difference made behind its back.
	inbox := mailboxID(t, dst, alice.ID, "Projects")
	_, err = dst.StoreFlags(bg, alice.ID, inbox, []uint32{1}, store.FlagsAdd, []string{"$changed"}, 0)
	must(t, err)
	must(t, dst.SetMetadata(bg, alice.ID, "Projects", []store.MetadataEntry{{Name: "/private/comment", Value: []byte("changed")}}))
	_, err = Copy(bg, src, dst, Options{})
	if !errors.Is(err, ErrDifferent) || !strings.Contains(err.Error(), "mailbox Projects of alice@example.org HIGHESTMODSEQ") ||
		!strings.Contains(err.Error(), "mailbox Projects of alice@example.org metadata") ||
		!strings.Contains(err.Error(), "UID 1 flags") || !strings.Contains(err.Error(), "mailbox INBOX of alice@example.org UIDNEXT") {
		t.Fatalf("copy after changes in the target: %v", err)
	}
	t.Logf("the verification says:\n%v", err)
}

// TestCopyResume: a copy cancelled in the middle, then run again, leaves
// the same target as one uninterrupted copy: nothing missing, nothing
// twice.
func TestCopyResume(t *testing.T) {
	src := openSource(t)
	populate(t, src)
	dst := openTarget(t)
	total := sourceMessages(t, src)
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	// Small batches: the cut falls inside a mailbox.
	const stopAt, batch = 7, 3
	first, err := Copy(ctx, src, dst, Options{BatchMessages: batch, Progress: func(p Progress) {
		if p.Messages == stopAt {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled copy: %v (%+v)", err, first)
	}
	if first.CopiedMessages < stopAt || first.CopiedMessages >= stopAt+batch || first.Verified {
		t.Fatalf("cancelled copy: %+v", first)
	}
	var calls int64
	rep, err := Copy(bg, src, dst, Options{Progress: func(Progress) { calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.CopiedMessages != total-first.CopiedMessages || calls != total || !rep.Verified {
		t.Fatalf("second copy: %+v, %d progress calls; want %d copied", rep, calls, total-first.CopiedMessages)
	}
	compareStores(t, src, dst)
	if n := sourceMessages(t, dst); n != total {
		t.Fatalf("target holds %d messages, the source %d", n, total)
	}
}

// junkReplayTarget hides the PostgreSQL store's JunkImporter: Copy
// replays the junk data through store.JunkStore.
type junkReplayTarget struct {
	store.Store
	store.Importer
	store.JunkStore
}

// TestCopyJunkReplay: without JunkImporter, rules and reputations are
// replayed (same counts and latest marks), and a replay cut short is
// finished right by the next copy.
func TestCopyJunkReplay(t *testing.T) {
	src := openSource(t)
	populate(t, src)
	pg := openTarget(t)
	dst := junkReplayTarget{pg, pg, pg}
	rep, err := Copy(bg, src, dst, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.JunkDatesKept || rep.JunkRules != 2 || rep.Reputations != 2 {
		t.Fatalf("report %+v", rep)
	}
	alice, err := pg.Account(bg, "alice@example.org")
	must(t, err)
	want := func() {
		t.Helper()
		for _, c := range []struct {
			sender    string
			spam, ham int
			last      string
		}{{"x@remote.example", 2, 1, store.MarkHam}, {"y@other.example", 1, 0, store.MarkSpam}} {
			r, err := pg.Reputation(bg, alice.ID, c.sender)
			must(t, err)
			if r.Spam != c.spam || r.Ham != c.ham || r.Last != c.last {
				t.Errorf("reputation of %s: %+v", c.sender, r)
			}
		}
	}
	want()
	// A replay cut short: one spam mark of x, where the source has two
	// spam and one ham.
	must(t, pg.ClearReputation(bg, alice.ID, "x@remote.example"))
	must(t, pg.TrainSender(bg, alice.ID, "x@remote.example", true))
	if _, err := Copy(bg, src, dst, Options{}); err != nil {
		t.Fatal(err)
	}
	want()
}

// TestCopyFiles: the data dir's secrets go into a target that carries
// them (store.SharedFiles), verified; a second copy finds them there; one
// the target holds with other contents is an error, never replaced; a
// target that does not carry them is left alone, and the report says so.
func TestCopyFiles(t *testing.T) {
	src := openSource(t)
	populate(t, src)
	dst := openTarget(t)
	files := map[string][]byte{
		"srs.key":                             bytes.Repeat([]byte{7}, 32),
		"dkim/example.org/postel-rsa.key":     []byte("rsa key"),
		"dkim/example.org/postel-ed25519.key": []byte("ed25519 key"),
	}
	rep, err := Copy(bg, src, dst, Options{Files: files})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.SharedFiles || !slices.Equal(rep.Files, []string{"dkim/example.org/postel-ed25519.key", "dkim/example.org/postel-rsa.key", "srs.key"}) {
		t.Fatalf("report: SharedFiles %v, Files %v", rep.SharedFiles, rep.Files)
	}
	got, err := dst.SharedFiles(bg)
	must(t, err)
	if !maps.EqualFunc(got, files, bytes.Equal) {
		t.Fatalf("the target holds %q", got)
	}
	if rep, err := Copy(bg, src, dst, Options{Files: files}); err != nil || len(rep.Files) != 3 {
		t.Fatalf("second copy: %v, %v", rep.Files, err)
	}
	other := maps.Clone(files)
	other["srs.key"] = bytes.Repeat([]byte{8}, 32)
	if _, err := Copy(bg, src, dst, Options{Files: other}); err == nil || !strings.Contains(err.Error(), "another srs.key") {
		t.Fatalf("copy of another srs.key: %v", err)
	}
	if got, _ := dst.SharedFiles(bg); !bytes.Equal(got["srs.key"], files["srs.key"]) {
		t.Fatal("the target's srs.key was replaced")
	}

	pg := openTarget(t)
	rep, err = Copy(bg, src, junkReplayTarget{pg, pg, pg}, Options{Files: files})
	if err != nil || rep.SharedFiles || len(rep.Files) != 0 {
		t.Fatalf("copy into a target without SharedFiles: %+v, %v", rep, err)
	}
	if got, _ := pg.SharedFiles(bg); len(got) != 0 {
		t.Fatalf("files put into a target that does not carry them: %q", got)
	}
}
