package storetest

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"postel/internal/message"
	"postel/internal/store"
)

// UpgradeChecks is what the checks of an upgraded store need to know of
// the fixture and the store: the version the fixture was made at, and
// from which version of the store's schema what the fixture holds was
// there (0: in every version).
type UpgradeChecks struct {
	Version int
	// Gaps are the known upgrade gaps that apply (OpenUpgradeGaps):
	// "search" (SearchText does not find the old messages) and "threads"
	// (they have no In-Reply-To and References).
	Gaps map[string]bool
	// Meta is what the store's delivery path stores for a message of
	// prefix and body.
	Meta func(prefix, body string) (store.MessageMeta, error)
	// Old names the store's data in failures: "data dirs", "databases".
	Old string
	// The schema versions that brought accounts' auth epochs, junk rules
	// and reputations, the sent log and queue lease owners.
	AuthEpochSince, JunkSince, SentLogSince, LeaseOwnerSince int
	// MetadataSince is the schema version that brought METADATA
	// entries (the fixtures of older versions hold none).
	MetadataSince int
	// The schema version that brought subscriptions of their own (with
	// names that are no mailbox) and the recent boundary.
	SubscriptionsSince int
	// JunkNilWhenNone: an account without junk rules or reputations
	// lists them as nil, not empty.
	JunkNilWhenNone bool
}

// OpenUpgradeGaps are the known gaps that apply to a fixture of version
// v. known are upgrade bugs a test found and that are not fixed yet: data
// that a delivery today would have, which an upgrade from a version below
// the one given leaves missing for the messages stored before. The checks
// expect each to be still there (and log it), so that whoever fixes one
// must delete it from known, and the full check applies again.
func OpenUpgradeGaps(t *testing.T, known map[string]int, v int) map[string]bool {
	out := map[string]bool{}
	for gap, since := range known {
		if v < since {
			t.Logf("known upgrade gap %q applies to version %d (see knownGaps)", gap, v)
			out[gap] = true
		}
	}
	return out
}

// gapNote adds to a failure what a gap predicted.
func gapNote(open bool, gap string) string {
	if !open {
		return ""
	}
	return fmt.Sprintf(" (as known gap %q predicts: if it is fixed, delete it from knownGaps)", gap)
}

// CheckUpgraded checks, through the store's API, that st holds everything
// f says: domains, accounts, aliases, junk data, mailboxes, messages and
// their bodies, metadata and text, expunges, and the queue.
func CheckUpgraded(t *testing.T, st store.Store, f *UpgradeFixture, c UpgradeChecks) {
	checkUpgradedAccounts(t, st, f, c)
	for _, a := range f.Accounts {
		CheckUpgradedMailboxes(t, st, f, a, c)
	}
	checkUpgradedQueue(t, st, f, c)
	checkUpgradedMetadata(t, st, f, c)
}

// checkUpgradedMetadata checks the accounts' METADATA entries, server and
// mailbox ones: those of the fixture from MetadataSince on, none before.
func checkUpgradedMetadata(t *testing.T, st store.Store, f *UpgradeFixture, c UpgradeChecks) {
	ms, ok := st.(store.Metadata)
	if !ok {
		t.Fatalf("%T does not implement store.Metadata", st)
	}
	for _, a := range f.Accounts {
		acct, err := st.Account(ctx, a.Address)
		if err != nil {
			t.Fatal(err)
		}
		mbs, err := st.ListMailboxes(ctx, acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, mb := range append([]string{""}, mailboxNames(mbs)...) {
			var want []string
			if c.Version >= c.MetadataSince {
				for _, e := range a.Metadata {
					if e.Mailbox == mb {
						want = append(want, fmt.Sprintf("%s=%q", e.Name, e.Value))
					}
				}
			}
			es, err := ms.Metadata(ctx, acct.ID, mb)
			if err != nil {
				t.Errorf("%s %q: metadata: %v", a.Address, mb, err)
				continue
			}
			var got []string
			for _, e := range es {
				got = append(got, fmt.Sprintf("%s=%q", e.Name, e.Value))
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s %q: metadata %q after the upgrade, want %q", a.Address, mb, got, want)
			}
		}
	}
}

func mailboxNames(mbs []store.Mailbox) []string {
	var out []string
	for _, mb := range mbs {
		out = append(out, mb.Name)
	}
	return out
}

func checkUpgradedAccounts(t *testing.T, st store.Store, f *UpgradeFixture, c UpgradeChecks) {
	doms, err := st.ListDomains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range doms {
		names = append(names, d.Name)
		if d.Created.Unix() != UpgradeFixtureTime-30*86400 {
			t.Errorf("domain %s created %v", d.Name, d.Created)
		}
	}
	if !slices.Equal(names, f.Domains) {
		t.Errorf("domains %q, want %q", names, f.Domains)
	}

	want := slices.Clone(f.Accounts)
	sort.Slice(want, func(i, j int) bool {
		di, dj := store.DomainOf(want[i].Address), store.DomainOf(want[j].Address)
		return di < dj || di == dj && want[i].Address < want[j].Address
	})
	list, err := st.ListAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(want) {
		t.Fatalf("%d accounts, want %d", len(list), len(want))
	}
	js := junkStore(t, st)
	for i, w := range want {
		exp := store.Account{
			ID: w.ID, Address: w.Address, Domain: store.DomainOf(w.Address), Credentials: w.Cred,
			QuotaBytes: w.Quota, Disabled: w.Disabled, Created: time.Unix(UpgradeFixtureTime-30*86400+w.ID*3600, 0),
		}
		exp.UsedBytes, _ = f.Usage(w)
		if c.Version >= c.AuthEpochSince {
			exp.AuthEpoch = w.AuthEpoch
		}
		byAddr, err := st.Account(ctx, w.Address)
		if err != nil {
			t.Fatal(err)
		}
		byID, err := st.AccountByID(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		for how, got := range map[string]store.Account{"ListAccounts": list[i], "Account": byAddr, "AccountByID": byID} {
			if !got.Created.Equal(exp.Created) {
				t.Errorf("%s %s: created %v, want %v", how, w.Address, got.Created, exp.Created)
			}
			got.Created = exp.Created
			if got != exp {
				t.Errorf("%s %s:\n got %+v\nwant %+v", how, w.Address, got, exp)
			}
		}
		used, msgs, err := st.Usage(ctx, w.ID)
		if wb, wm := f.Usage(w); err != nil || used != wb || msgs != wm {
			t.Errorf("Usage(%s) = %d bytes, %d messages, %v; want %d, %d", w.Address, used, msgs, err, wb, wm)
		}

		rules, err := js.JunkRules(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		reps, err := js.Reputations(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		var wantRules []store.JunkRule
		var wantReps []store.SenderReputation
		if c.Version >= c.JunkSince {
			wantRules, wantReps = w.JunkRules, w.Reputations
		}
		for i := range rules {
			if rules[i].Created.Unix() != UpgradeFixtureTime {
				t.Errorf("%s: junk rule %s created %v", w.Address, rules[i].Pattern, rules[i].Created)
			}
			rules[i].Created = time.Time{}
		}
		for i := range reps {
			if reps[i].Updated.UnixNano() != UpgradeFixtureTime*int64(time.Second) {
				t.Errorf("%s: reputation of %s updated %v", w.Address, reps[i].Sender, reps[i].Updated)
			}
			reps[i].Updated = time.Time{}
		}
		same := slices.Equal(rules, wantRules) && slices.Equal(reps, wantReps) // nil or empty, as it comes
		if c.JunkNilWhenNone {
			same = reflect.DeepEqual(rules, wantRules) && reflect.DeepEqual(reps, wantReps)
		}
		if !same {
			t.Errorf("%s: junk rules %+v, reputations %+v; want %+v, %+v", w.Address, rules, reps, wantRules, wantReps)
		}
	}

	aliases, err := st.ListAliases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(aliases, f.Aliases) {
		t.Errorf("aliases %+v, want %+v", aliases, f.Aliases)
	}
	if al, err := st.Alias(ctx, "@EXAMPLE.net"); err != nil || !slices.Equal(al.Targets, []string{"carol@example.net"}) {
		t.Errorf("catch-all alias: %+v, %v", al, err)
	}
}

// CheckUpgradedMailboxes checks the mailboxes of account a, and their
// messages.
func CheckUpgradedMailboxes(t *testing.T, st store.Store, f *UpgradeFixture, a UpgradeAccount, c UpgradeChecks) {
	want := slices.Clone(a.Mailboxes)
	slices.SortFunc(want, func(x, y UpgradeMailbox) int { return strings.Compare(x.Name, y.Name) })
	list, err := st.ListMailboxes(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(want) {
		t.Fatalf("%s: %d mailboxes, want %d", a.Address, len(list), len(want))
	}
	for i, w := range want {
		exp := store.Mailbox{
			ID: w.ID, AccountID: a.ID, Name: w.Name, UIDValidity: w.UIDValidity, UIDNext: w.UIDNext,
			HighestModSeq: w.HighestModSeq, SpecialUse: w.Role, Subscribed: w.Subscribed, Messages: len(w.Messages),
			RecentUID: w.RecentUID,
		}
		if c.Version < c.SubscriptionsSince {
			exp.RecentUID = w.UIDNext - 1 // what was there is recent to no one
		}
		for _, m := range w.Messages {
			if m.UID > exp.RecentUID {
				exp.Recent++
			}
			if !slices.Contains(m.Flags, store.FlagSeen) {
				exp.Unseen++
			}
			if slices.Contains(m.Flags, store.FlagDeleted) {
				exp.Deleted++
				exp.DeletedSize += f.Size(m)
			}
			exp.Size += f.Size(m)
		}
		if list[i] != exp {
			t.Errorf("%s: ListMailboxes[%d]:\n got %+v\nwant %+v", a.Address, i, list[i], exp)
		}
		if got, err := st.Mailbox(ctx, a.ID, w.Name); err != nil || got != exp {
			t.Errorf("%s: Mailbox(%s):\n got %+v, %v\nwant %+v", a.Address, w.Name, got, err, exp)
		}
		checkUpgradedMessages(t, st, f, a, w, c)
	}
	// The subscriptions: the subscribed mailboxes, and the names that are
	// none.
	var subs []string
	for _, w := range a.Mailboxes {
		if w.Subscribed {
			subs = append(subs, w.Name)
		}
	}
	if c.Version >= c.SubscriptionsSince {
		subs = append(subs, a.Subscriptions...)
	}
	slices.Sort(subs)
	if got, err := st.Subscriptions(ctx, a.ID); err != nil || !slices.Equal(got, subs) {
		t.Errorf("%s: Subscriptions = %q, %v; want %q", a.Address, got, err, subs)
	}
}

func checkUpgradedMessages(t *testing.T, st store.Store, f *UpgradeFixture, a UpgradeAccount, mb UpgradeMailbox, c UpgradeChecks) {
	where := a.Address + " " + mb.Name
	msgs, err := st.Messages(ctx, a.ID, mb.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(mb.Messages) {
		t.Fatalf("%s: %d messages, want %d", where, len(msgs), len(mb.Messages))
	}
	for i, w := range mb.Messages {
		got := msgs[i]
		if got.ID != w.ID || got.MailboxID != mb.ID || got.UID != w.UID || got.ModSeq != w.ModSeq || got.Size != f.Size(w) ||
			!slices.Equal(got.Flags, w.Flags) ||
			got.InternalDate.Unix() != w.Internal || got.SaveDate.Unix() != w.Internal+60 {
			t.Errorf("%s: message %d:\n got id %d mailbox %d UID %d MODSEQ %d size %d flags %q dates %d %d\nwant id %d mailbox %d UID %d MODSEQ %d size %d flags %q dates %d %d",
				where, i, got.ID, got.MailboxID, got.UID, got.ModSeq, got.Size, got.Flags, got.InternalDate.Unix(), got.SaveDate.Unix(),
				w.ID, mb.ID, w.UID, w.ModSeq, f.Size(w), w.Flags, w.Internal, w.Internal+60)
		}
		b := f.Blob(w.Blob)
		// Whether the octets hold NUL: recorded at delivery since SQLite
		// migration 15 (PostgreSQL 9), and by the "meta" backfill of
		// migration 16 (PostgreSQL 10) for the messages stored before.
		want := store.NULOf([]byte(b.Prefix), strings.Contains(b.Body, "\x00"))
		if got.NUL != want {
			t.Errorf("%s: message %d: NUL %d, want %d", where, i, got.NUL, want)
		}
	}
	// CONDSTORE: the messages changed since a MODSEQ.
	for _, since := range []uint64{1, mb.HighestModSeq / 2, mb.HighestModSeq} {
		got, err := st.Messages(ctx, a.ID, mb.ID, since)
		if err != nil {
			t.Fatal(err)
		}
		var gotUIDs, wantUIDs []uint32
		for _, m := range got {
			gotUIDs = append(gotUIDs, m.UID)
		}
		for _, m := range mb.Messages {
			if m.ModSeq > since {
				wantUIDs = append(wantUIDs, m.UID)
			}
		}
		if !slices.Equal(gotUIDs, wantUIDs) {
			t.Errorf("%s: changed since %d: UIDs %v, want %v", where, since, gotUIDs, wantUIDs)
		}
	}
	// QRESYNC: what was expunged.
	exp, err := st.ExpungedSince(ctx, a.ID, mb.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(exp, mb.Expunged) {
		t.Errorf("%s: ExpungedSince(0) = %v, want %v", where, exp, mb.Expunged)
	}
	if exp, err := st.ExpungedSince(ctx, a.ID, mb.ID, mb.HighestModSeq); err != nil || len(exp) != 0 {
		t.Errorf("%s: ExpungedSince(HIGHESTMODSEQ) = %v, %v", where, exp, err)
	}

	metas, err := st.MessageMetas(ctx, a.ID, mb.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(metas) != len(mb.Messages) {
		t.Errorf("%s: %d metas, want %d", where, len(metas), len(mb.Messages))
	}
	words := map[string][]uint32{}
	for _, w := range mb.Messages {
		b := f.Blob(w.Blob)
		words[b.Word] = append(words[b.Word], w.UID)
		one, err := st.MessageMetas(ctx, a.ID, mb.ID, []uint32{w.UID})
		if err != nil || len(one) != 1 {
			t.Errorf("%s UID %d: MessageMetas of one: %d, %v", where, w.UID, len(one), err)
		}
		checkUpgradedMeta(t, fmt.Sprintf("%s UID %d", where, w.UID), metas[w.UID], b, c)

		r, err := st.OpenMessage(ctx, a.ID, mb.ID, w.UID)
		if err != nil {
			t.Errorf("%s UID %d: OpenMessage: %v", where, w.UID, err)
			continue
		}
		got, err := io.ReadAll(r)
		size := r.Size()
		r.Close()
		if err != nil || !bytes.Equal(got, b.Raw()) || size != int64(len(got)) {
			t.Errorf("%s UID %d: read %d bytes (Size %d), %v; differs from the %d written", where, w.UID, len(got), size, err, len(b.Raw()))
		}
	}

	// Full-text search finds each body's word.
	searchGap := c.Gaps["search"]
	for word, uids := range words {
		want := uids
		if searchGap {
			want = nil
		}
		for _, withHeaders := range []bool{false, true} {
			got, ok, err := st.SearchText(ctx, a.ID, mb.ID, []string{strings.ToUpper(word)}, withHeaders)
			if err != nil || !ok || !slices.Equal(got, want) {
				t.Errorf("%s: SearchText(%q, headers %v) = %v, %v, %v; want %v%s", where, word, withHeaders, got, ok, err, want, gapNote(searchGap, "search"))
			}
		}
	}
}

// checkUpgradedMeta compares stored metadata with what the store's
// delivery path makes of the same bytes today. The serialized envelope and
// structure are compared decoded: what matters is that today's FETCH reads
// them so.
func checkUpgradedMeta(t *testing.T, where string, got store.MessageMeta, b UpgradeBlob, c UpgradeChecks) {
	want, err := c.Meta(b.Prefix, b.Body)
	if err != nil {
		t.Fatal(err)
	}
	threadsGap := c.Gaps["threads"]
	if threadsGap {
		want.InReplyTo, want.References = "", nil
	}
	if got.Subject != want.Subject || got.From != want.From || got.To != want.To || got.Cc != want.Cc || got.Bcc != want.Bcc ||
		got.MessageID != want.MessageID || !got.Date.Equal(want.Date) || got.InReplyTo != want.InReplyTo ||
		!slices.Equal(got.References, want.References) {
		t.Errorf("%s: header fields\n got %q %q %q %q %q %q %v %q %q\nwant %q %q %q %q %q %q %v %q %q%s", where,
			got.Subject, got.From, got.To, got.Cc, got.Bcc, got.MessageID, got.Date, got.InReplyTo, got.References,
			want.Subject, want.From, want.To, want.Cc, want.Bcc, want.MessageID, want.Date, want.InReplyTo, want.References,
			gapNote(threadsGap, "threads"))
	}
	if got.HeadersText != "" || got.BodyText != "" {
		t.Errorf("%s: MessageMetas returned the searchable text", where)
	}
	genv, err := message.UnmarshalEnvelope(got.Envelope)
	if err != nil {
		t.Errorf("%s: stored envelope: %v", where, err)
	}
	wenv, _ := message.UnmarshalEnvelope(want.Envelope)
	if !reflect.DeepEqual(genv, wenv) {
		t.Errorf("%s: stored envelope %s, today's %s: old %s need a migration or a reader of the old form", where, got.Envelope, want.Envelope, c.Old)
	}
	gst, err := message.UnmarshalStructure(got.Structure)
	if err != nil {
		t.Errorf("%s: stored structure: %v", where, err)
	}
	wst, _ := message.UnmarshalStructure(want.Structure)
	if !reflect.DeepEqual(gst, wst) {
		t.Errorf("%s: stored structure %s, today's %s: old %s need a migration or a reader of the old form", where, got.Structure, want.Structure, c.Old)
	}
}

func checkUpgradedQueue(t *testing.T, st store.Store, f *UpgradeFixture, c UpgradeChecks) {
	list, err := st.Queue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(f.Queue) {
		t.Fatalf("%d queue entries, want %d", len(list), len(f.Queue))
	}
	for i, w := range f.Queue {
		b := f.Blob(w.Blob)
		exp := f.QueueEntry(w)
		if c.Version < c.LeaseOwnerSince {
			exp.LeaseOwner = ""
		}
		one, err := st.QueueEntry(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		for how, got := range map[string]store.QueueEntry{"Queue": list[i], "QueueEntry": one} {
			if !reflect.DeepEqual(got, exp) {
				t.Errorf("%s %d:\n got %+v\nwant %+v", how, w.ID, got, exp)
			}
		}
		r, err := st.OpenQueued(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(r)
		r.Close()
		if err != nil || string(body) != w.Prefix+b.Body {
			t.Errorf("OpenQueued(%d): %d bytes, %v; differs from the %d written", w.ID, len(body), err, len(w.Prefix+b.Body))
		}
		sent, err := st.SentToday(ctx, w.AccountID, time.Unix(w.Created-3600, 0))
		want := 0
		if c.Version >= c.SentLogSince {
			want = len(w.Recipients)
		}
		if err != nil || sent != want {
			t.Errorf("SentToday(%d) = %d, %v; want %d", w.AccountID, sent, err, want)
		}
	}
}

// UpgradeNewBody is the body of the message a test delivers to the
// INBOX of the first account after an upgrade, before
// CheckWritesAfterUpgrade.
const UpgradeNewBody = "From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: After the upgrade\r\n\r\nA gooseberry, freshly indexed.\r\n"

// CheckWritesAfterUpgrade checks, once the test delivered UpgradeNewBody
// (size bytes with its prefix) to the INBOX of the first account of f,
// that the upgraded store finds it, and flags and expunges with MODSEQs
// going on from where the old data left them; the copy of the message it
// expunges stays.
func CheckWritesAfterUpgrade(t *testing.T, st store.Store, f *UpgradeFixture, size int64) {
	a := f.Accounts[0]
	inbox := a.Mailboxes[0]
	if uids, ok, err := st.SearchText(ctx, a.ID, inbox.ID, []string{"gooseberry"}, false); err != nil || !ok || !slices.Equal(uids, []uint32{inbox.UIDNext}) {
		t.Errorf("SearchText of the new message = %v, %v, %v", uids, ok, err)
	}
	// Whether a message holds NUL (SQLite migration 15, PostgreSQL 9) is
	// recorded for the new message whatever the fixture's version.
	if msgs, err := st.Messages(ctx, a.ID, inbox.ID, inbox.HighestModSeq); err != nil || len(msgs) != 1 || msgs[0].NUL != store.NULNone {
		t.Errorf("Messages after the new delivery = %+v, %v; want the new message, NULNone", msgs, err)
	}
	changed, err := st.StoreFlags(ctx, a.ID, inbox.ID, []uint32{inbox.Messages[0].UID}, store.FlagsAdd, []string{store.FlagFlagged}, 0)
	if want := inbox.HighestModSeq + 2; err != nil || len(changed) != 1 || changed[0].ModSeq != want {
		t.Errorf("StoreFlags after upgrade = %+v, %v; want MODSEQ %d", changed, err, want)
	}
	gone, err := st.Expunge(ctx, a.ID, inbox.ID, []uint32{inbox.Messages[0].UID})
	if want := inbox.HighestModSeq + 3; err != nil || len(gone) != 1 || gone[0].ModSeq != want {
		t.Errorf("Expunge after upgrade = %+v, %v; want MODSEQ %d", gone, err, want)
	}
	if exp, err := st.ExpungedSince(ctx, a.ID, inbox.ID, inbox.HighestModSeq); err != nil ||
		!slices.Equal(exp, []store.Expunged{{UID: inbox.Messages[0].UID, ModSeq: inbox.HighestModSeq + 3}}) {
		t.Errorf("ExpungedSince(%d) after the expunge = %v, %v", inbox.HighestModSeq, exp, err)
	}
	// INBOX 1 shares its body with Projects/2026 3: the body stays.
	copyOf := UpgradeCopy(f)
	if r, err := st.OpenMessage(ctx, a.ID, copyOf.ID, copyOf.Messages[0].UID); err != nil {
		t.Errorf("the copy of an expunged message: %v", err)
	} else {
		raw, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(raw, f.Blob(copyOf.Messages[0].Blob).Raw()) {
			t.Errorf("the copy of an expunged message reads %d bytes, %v", len(raw), err)
		}
	}
	// Access control lists (SQLite migration 14, PostgreSQL 8) start empty and
	// take entries.
	if len(f.Accounts) > 1 {
		if l, err := st.MailboxACL(ctx, a.ID, inbox.ID); err != nil || len(l) != 0 {
			t.Errorf("MailboxACL after upgrade = %+v, %v; want none", l, err)
		}
		grantee := f.Accounts[1]
		if err := st.SetACL(ctx, a.ID, inbox.ID, store.ACLEntry{Identifier: grantee.Address, Rights: "lr"}); err != nil {
			t.Errorf("SetACL after upgrade: %v", err)
		} else if sw, err := st.SharedWith(ctx, grantee.ID); err != nil || len(sw) != 1 || sw[0].MailboxID != inbox.ID {
			t.Errorf("SharedWith after upgrade = %+v, %v", sw, err)
		}
	}
	used, msgs, err := st.Usage(ctx, a.ID)
	wb, wm := f.Usage(a)
	wb += size - f.Size(inbox.Messages[0])
	if err != nil || used != wb || msgs != wm {
		t.Errorf("Usage after writes = %d, %d, %v; want %d, %d", used, msgs, err, wb, wm)
	}
}

// UpgradeCopy is the mailbox of the first account of f whose message is a
// copy of its INBOX's first.
func UpgradeCopy(f *UpgradeFixture) UpgradeMailbox {
	a := f.Accounts[0]
	return a.Mailboxes[slices.IndexFunc(a.Mailboxes, func(mb UpgradeMailbox) bool { return mb.Name == "Projects/2026" })]
}
