package imapserver

import (
	"math"
	"slices"
	"sort"
	"time"

	"postel/internal/imap"
	"postel/internal/store"
)

// mailboxView is the selected mailbox as the session's client knows it.
//
// Invariants:
//   - msgs are the messages the client knows of, or is about to be told
//     of, in ascending UID order: message sequence number n is msgs[n-1].
//   - An entry marked expunged is gone from the store but keeps its place
//     until the client is sent its EXPUNGE (or VANISHED), so that sequence
//     numbers never shift under the client between the moments RFC 9051
//     §7.5.1 allows.
//   - msgs[:told] are what the client was told of (EXISTS, less the
//     EXPUNGEs sent since); msgs[told:] still need an EXISTS.
//   - The view reflects every change committed with a MODSEQ <= base.
//     Changes are pulled from the store (Messages and ExpungedSince after
//     base); the subscription only says when to pull and up to which
//     MODSEQ changes are surely committed. Applying a change twice is
//     harmless, so base may lag.
type mailboxView struct {
	id          int64
	name        string // as selected; a rename keeps id
	uidValidity uint32
	role        string // RFC 6154 special use, as when selected
	readOnly    bool
	sub         store.Subscription
	// owner is the account of the mailbox: the session's, or another's
	// that shared it (shared.go); rights are the session's on it, every
	// right in its own, read again before a command in a shared one when
	// they may have changed (checkSelected): rightsStale is set when the
	// owner's feed told of a change of the mailbox or of the account.
	owner       int64
	rights      rights
	rightsStale bool
	// mailboxChanged: the feed told of a change of the mailbox itself
	// since the view last read it (poll).
	mailboxChanged bool

	msgs []msg
	told int
	// keywords are those the client was told of in FLAGS, by lower-case
	// form (keywords are case-insensitive, RFC 9051 §2.3.2): a message
	// showing another is preceded by a new FLAGS (RFC 3501 §7.2.6).
	keywords map[string]string
	expunged int // entries marked expunged
	announce int // entries whose flag change the client must be told

	base     uint64 // see the invariants
	notified uint64 // highest MODSEQ the subscription announced
	dirty    bool   // the subscription announced changes not pulled yet
	gone     bool   // the mailbox was deleted

	saved []uint32 // SEARCHRES "$" (RFC 5182), as UIDs

	// merged: the messages whose pending flag update the FETCH in
	// progress carries in its own response (mergeFlagUpdates).
	merged map[uint32]bool

	// The live search contexts (RFC 5267 §4, context.go) and the
	// messages to search again for them.
	contexts   []*searchContext
	touched    []uint32
	touchedAll bool

	// recentLow is the lowest UID marked recent (0: none), so that
	// counting them looks at the tail of msgs only.
	recentLow uint32
}

// msg is one message of a mailboxView: what FETCH FLAGS, UID, MODSEQ,
// INTERNALDATE, SAVEDATE and RFC822.SIZE answer without the store, and
// what SEARCH needs most. It is kept small: a view may hold 100,000.
type msg struct {
	uid      uint32
	sys      uint8 // system flags, sysFlags bits
	expunged bool
	announce bool // its flags changed since the client was told
	// nulFree: the store recorded that the message holds no NUL octet
	// (store.NULNone), so its BODY[] needs no look for one (fetch_nul.go).
	nulFree  bool
	modseq   uint64
	size     int64
	blob     int64 // store.Message.BlobID, for EMAILID (objectid.go)
	internal int64 // Unix seconds
	saved    int64 // Unix seconds, 0 when unknown
	keywords []string
}

// The system flags (RFC 9051 §2.3.2) as bits of msg.sys, in the order
// store.JoinFlags lists them.
var sysFlags = []string{store.FlagAnswered, store.FlagDeleted, store.FlagDraft, store.FlagFlagged, store.FlagSeen}

const (
	bitAnswered uint8 = 1 << iota
	bitDeleted
	bitDraft
	bitFlagged
	bitSeen
	// bitRecent: \Recent (RFC 3501 §2.3.2), this session's alone, never
	// stored: set for the messages the session claimed (claimRecent).
	bitRecent
)

// sysFlagLists[bits] lists the system flags of bits, shared by every
// message without keywords.
var sysFlagLists = func() (t [32][]string) {
	for bits := range t {
		l := []string{}
		for i, f := range sysFlags {
			if bits&(1<<i) != 0 {
				l = append(l, f)
			}
		}
		t[bits] = l
	}
	return t
}()

// splitFlags turns a store flag list into system flag bits and keywords.
func splitFlags(flags []string) (sys uint8, keywords []string) {
	for i, f := range flags {
		k := slices.Index(sysFlags, f)
		if k < 0 {
			return sys, flags[i:len(flags):len(flags)]
		}
		sys |= 1 << k
	}
	return sys, nil
}

func newMsg(m *store.Message) msg {
	sys, kw := splitFlags(m.Flags)
	e := msg{uid: m.UID, sys: sys, keywords: kw, modseq: m.ModSeq, size: m.Size, blob: m.BlobID, internal: m.InternalDate.Unix(),
		nulFree: m.NUL == store.NULNone}
	if !m.SaveDate.IsZero() {
		e.saved = m.SaveDate.Unix()
	}
	return e
}

// flags lists the message's flags.
func (m *msg) flags() []string {
	if m.sys&bitRecent != 0 {
		return append(append(slices.Clip(sysFlagLists[m.sys&31]), `\Recent`), m.keywords...)
	}
	return m.storedFlags()
}

// storedFlags lists the message's flags as the store keeps them: without
// \Recent, the session's alone (RFC 3501 §2.3.2).
func (m *msg) storedFlags() []string {
	if len(m.keywords) == 0 {
		return sysFlagLists[m.sys&31]
	}
	return append(slices.Clip(sysFlagLists[m.sys&31]), m.keywords...)
}

func (m *msg) has(bit uint8) bool { return m.sys&bit != 0 }

// setFlags records a flag change the client was told of, or is to be told
// of when tell is set.
func (v *mailboxView) setFlags(i int, flags []string, modseq uint64, tell bool) {
	m := &v.msgs[i]
	recent := m.sys & bitRecent // the session's, not the store's
	m.sys, m.keywords = splitFlags(flags)
	m.sys |= recent
	m.modseq = modseq
	v.touch(m.uid)
	if tell && !m.announce {
		m.announce = true
		v.announce++
	}
}

func (m *msg) internalDate() time.Time { return time.Unix(m.internal, 0).UTC() }

func (m *msg) saveDate() time.Time {
	if m.saved == 0 {
		return time.Time{}
	}
	return time.Unix(m.saved, 0).UTC()
}

// claimRecent finds which of the messages from index start on are recent
// in this session (RFC 3501 §2.3.2: "this session is the first session to
// have been notified about this message"), and marks them. A read-write
// session claims them in the store, so that no other session, on any
// node, has them recent too; a read-only one (EXAMINE) takes those no
// session claimed, and claims none (RFC 3501 §6.3.2: EXAMINE MUST NOT
// cause messages to lose \Recent). IMAP4rev2 has no \Recent (RFC 9051
// §2.3.2, Appendix E): a rev2 session claims none and sees none. In a
// mailbox shared with it (RFC 4314) a session sees none recent either: the
// owner's sessions are the ones to be told of new mail first, and a
// grantee's view must not take that from them.
func (s *session) claimRecent(v *mailboxView, start int) error {
	if s.rev2 || start >= len(v.msgs) || v.owner != s.user.AccountID {
		return nil
	}
	var upto uint32 // 0 reads the boundary without claiming
	if !v.readOnly {
		upto = v.maxUID()
	}
	from, err := s.srv.st.ClaimRecent(s.ctx(), v.owner, v.id, upto)
	if storeNotFound(err) {
		return nil // deleted meanwhile: the next pull sees it
	} else if err != nil {
		return err
	}
	v.markRecent(start, from, upto)
	return nil
}

// markRecent marks recent the messages from index start on whose UIDs are
// above from and, when upto is not 0, at most upto.
func (v *mailboxView) markRecent(start int, from, upto uint32) {
	for i := start; i < len(v.msgs); i++ {
		if m := &v.msgs[i]; m.uid > from && (upto == 0 || m.uid <= upto) {
			m.sys |= bitRecent
			if v.recentLow == 0 || m.uid < v.recentLow {
				v.recentLow = m.uid
			}
		}
	}
}

// recent counts the view's recent messages, as RECENT tells them.
func (v *mailboxView) recent() int {
	if v.recentLow == 0 {
		return 0
	}
	n := 0
	// The message at recentLow may be gone (expunged): start where it was.
	for i := sort.Search(len(v.msgs), func(i int) bool { return v.msgs[i].uid >= v.recentLow }); i < len(v.msgs); i++ {
		if v.msgs[i].sys&bitRecent != 0 && !v.msgs[i].expunged {
			n++
		}
	}
	return n
}

// close ends the view's subscription.
func (v *mailboxView) close() { v.sub.Close() }

// find returns the index of the message with uid, or -1.
func (v *mailboxView) find(uid uint32) int {
	i := sort.Search(len(v.msgs), func(i int) bool { return v.msgs[i].uid >= uid })
	if i < len(v.msgs) && v.msgs[i].uid == uid {
		return i
	}
	return -1
}

// maxUID is the largest UID of the view, 0 when empty.
func (v *mailboxView) maxUID() uint32 {
	if len(v.msgs) == 0 {
		return 0
	}
	return v.msgs[len(v.msgs)-1].uid
}

// poll takes the changes the subscription announced and notes in the
// view what they may have changed: its messages (dirty), the mailbox
// itself (renamed, deleted, or changes missed: mailboxChanged), the
// rights on a shared one (rightsStale).
func (v *mailboxView) poll() {
	for _, c := range v.sub.Next() {
		switch c.Kind {
		case store.ChangeMailbox, store.ChangeAccount, store.ChangeResync:
			// An access control list, the mailbox or the owner's account
			// changed (maybe another mailbox's list: cheap to re-read).
			v.rightsStale = true
		}
		if c.MailboxID != v.id && c.Kind != store.ChangeResync {
			continue
		}
		v.dirty = true
		v.notified = max(v.notified, c.ModSeq)
		v.mailboxChanged = v.mailboxChanged || c.Kind == store.ChangeMailbox || c.Kind == store.ChangeResync
	}
}

// markExpunged marks the message at i as gone from the store.
func (v *mailboxView) markExpunged(i int) {
	m := &v.msgs[i]
	if m.expunged {
		return
	}
	if i >= v.told {
		// The client never heard of it: it can go at once, and every
		// entry after it is untold too.
		if m.announce {
			v.announce--
		}
		v.msgs = slices.Delete(v.msgs, i, i+1)
		return
	}
	m.expunged = true
	v.expunged++
}

// update pulls the changes of the selected mailbox from the store and
// tells the client what it may be told now: with allowExpunge, the
// EXPUNGEs (or VANISHED); then EXISTS and flag changes.
func (s *session) update(allowExpunge bool) error {
	v := s.sel
	if s.selectedMuted() {
		// RFC 5465 §3.1, §5: no event of the selected mailbox is wanted:
		// the view stays as the client knows it (pull does not read).
		// The subscription is still drained, so that IDLE and the wait
		// for a command do not wake again and again for it.
		// Only the deletion of the mailbox is still looked for: the
		// session ends then, as in base IMAP.
		if v.poll(); v.mailboxChanged {
			v.mailboxChanged = false
			_, err := s.srv.st.Messages(s.ctx(), v.owner, v.id, math.MaxInt64)
			if storeNotFound(err) {
				v.gone = true
			} else if err != nil {
				return err
			}
		}
		return nil
	}
	if err := s.pull(); err != nil {
		return err
	}
	if allowExpunge {
		s.sendExpunges()
	}
	if len(v.msgs) != v.told || v.announce > 0 {
		// Keywords new to the client come with a FLAGS first.
		var kws []string
		for i := range v.msgs {
			if m := &v.msgs[i]; (i >= v.told || m.announce) && !m.expunged {
				kws = append(kws, m.keywords...)
			}
		}
		s.announceKeywords(kws)
	}
	if len(v.msgs) != v.told {
		if err := s.claimRecent(v, v.told); err != nil {
			return err
		}
		s.w.UntaggedNumber(uint64(len(v.msgs)), "EXISTS")
		from := v.told
		v.told = len(v.msgs)
		if !s.rev2 {
			// RFC 3501 §7.3.2: the new number of recent messages, with
			// EXISTS.
			s.w.UntaggedNumber(uint64(v.recent()), "RECENT")
		}
		if err := s.notifyNewMessages(from); err != nil {
			return err
		}
	}
	if v.announce > 0 {
		tell := s.notifyFlagChanges()
		for i := range v.msgs {
			m := &v.msgs[i]
			if !m.announce {
				continue
			}
			m.announce = false
			if !m.expunged && tell && !v.merged[m.uid] {
				s.writeFlagsFetch(i, s.condstore)
			}
		}
		v.announce = 0
	}
	return s.contextUpdates() // RFC 5267 §4.3: ADDTO after EXISTS
}

// pull applies the changes committed after base, when the subscription
// announced some. It reads the changed messages first, then the expunged
// ones: a message both added and expunged meanwhile is added, then marked
// expunged (and, never told, dropped). The new base is the highest MODSEQ
// known to be committed before the first read.
//
// While NOTIFY keeps the selected mailbox's events from the client
// (selectedMuted), pull reads nothing: the view stays the one the client
// was told of, and only the session's own commands change it (their
// results are command responses, not events); the changes are read when
// a NOTIFY SET asks for them again (RFC 5465 §3.1: its implicit NOOP).
func (s *session) pull() error {
	v := s.sel
	v.poll()
	if !v.dirty || s.selectedMuted() {
		return nil
	}
	v.dirty, v.mailboxChanged = false, false // the read below finds a mailbox gone
	committed := v.notified
	changed, err := s.srv.st.Messages(s.ctx(), v.owner, v.id, v.base)
	if err == nil {
		var gone []store.Expunged
		gone, err = s.srv.st.ExpungedSince(s.ctx(), v.owner, v.id, v.base)
		if err == nil {
			newBase := max(v.base, committed)
			for i := range changed {
				newBase = max(newBase, changed[i].ModSeq)
				v.applyChanged(&changed[i])
			}
			for _, e := range gone {
				if i := v.find(e.UID); i >= 0 {
					v.markExpunged(i)
				}
			}
			v.base = newBase
			return nil
		}
	}
	if storeNotFound(err) {
		v.gone = true
		return nil
	}
	v.dirty = true // try again next time
	return err
}

// applyChanged applies one message's current state: new, or with changed
// flags.
func (v *mailboxView) applyChanged(m *store.Message) {
	if m.UID > v.maxUID() {
		v.msgs = append(v.msgs, newMsg(m))
		v.touch(m.UID)
		return
	}
	i := v.find(m.UID)
	if i < 0 || v.msgs[i].expunged || v.msgs[i].modseq == m.ModSeq {
		return
	}
	v.setFlags(i, m.Flags, m.ModSeq, true)
}

// sendExpunges tells the client of the expunged messages (RFC 9051
// §7.5.1 EXPUNGE, or RFC 7162 §3.2.10 VANISHED once QRESYNC is enabled)
// and removes them from the view.
func (s *session) sendExpunges() {
	v := s.sel
	s.contextExpunges() // RFC 5267 §4.3.4: REMOVEFROM before EXPUNGE
	if v.expunged == 0 {
		return
	}
	var uids []uint32
	kept := v.msgs[:0]
	told := v.told // the entries told of, counted before this loop
	for i, m := range v.msgs {
		if !m.expunged {
			kept = append(kept, m)
			continue
		}
		if s.qresync || s.uidonly { // RFC 9586: VANISHED under UIDONLY
			uids = append(uids, m.uid)
		} else {
			// Each EXPUNGE renumbers the messages after it: this one is
			// now at the position of the kept ones before it, plus one.
			s.w.UntaggedNumber(uint64(len(kept)+1), "EXPUNGE")
		}
		if i < told {
			v.told--
		}
	}
	clear(v.msgs[len(kept):])
	v.msgs = kept
	v.expunged = 0
	if len(uids) > 0 {
		s.w.Star()
		s.w.Atom("VANISHED ")
		s.w.SeqSet(imap.SeqSetFromNums(uids))
		s.w.CRLF()
	}
}

// writeFlagsFetch writes an unsolicited FETCH with the message's flags;
// with CONDSTORE enabled it carries UID and MODSEQ too (RFC 7162 §3.1).
func (s *session) writeFlagsFetch(i int, withModSeq bool) {
	m := &s.sel.msgs[i]
	// RFC 9586 §3: under UIDONLY the head is "UIDFETCH" with the UID.
	if s.fetchHead(i) && (withModSeq || s.notifyFlagChangeUID()) {
		s.w.Atom("UID ")
		s.w.Number(uint64(m.uid))
		s.w.SP()
	}
	s.w.Atom("FLAGS ")
	s.w.Flags(m.flags())
	if withModSeq {
		s.w.Atom(" MODSEQ (")
		s.w.Number(m.modseq)
		s.w.Close()
	}
	s.w.Atom(")")
	s.w.CRLF()
}

// resolve returns the indexes of the messages a sequence set names, in
// ascending order, including messages marked expunged. For sequence
// numbers, a number beyond the last message is an error (RFC 9051 §9
// seq-number), but a range with "*" in an empty mailbox is just empty;
// UIDs that name no message are ignored. "$" is the saved search result
// (RFC 5182).
func (v *mailboxView) resolve(set imap.SeqSet, uid bool) ([]int, error) {
	if set.Saved {
		var out []int
		for _, u := range v.saved {
			if i := v.find(u); i >= 0 {
				out = append(out, i)
			}
		}
		return out, nil
	}
	type span struct{ lo, hi int } // indexes [lo, hi)
	var spans []span
	n := len(v.msgs)
	for _, r := range set.Ranges {
		if uid {
			last := v.maxUID()
			if last == 0 {
				continue
			}
			lo, hi := r.Start, r.Stop
			if lo == 0 {
				lo = last
			}
			if hi == 0 {
				hi = last
			}
			if lo > hi {
				lo, hi = hi, lo
			}
			i := sort.Search(n, func(i int) bool { return v.msgs[i].uid >= lo })
			j := sort.Search(n, func(i int) bool { return v.msgs[i].uid > hi })
			if i < j {
				spans = append(spans, span{i, j})
			}
			continue
		}
		if n == 0 && (r.Start == 0 || r.Stop == 0) {
			continue // "*" of an empty mailbox: nothing, as clients expect
		}
		lo, hi := uint64(r.Start), uint64(r.Stop)
		if lo == 0 {
			lo = uint64(n)
		}
		if hi == 0 {
			hi = uint64(n)
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		if hi > uint64(n) {
			return nil, bad("Invalid message sequence number")
		}
		spans = append(spans, span{int(lo - 1), int(hi)})
	}
	sort.Slice(spans, func(a, b int) bool { return spans[a].lo < spans[b].lo })
	var out []int
	next := 0
	for _, sp := range spans {
		for i := max(sp.lo, next); i < sp.hi; i++ {
			out = append(out, i)
		}
		next = max(next, sp.hi)
	}
	return out, nil
}

// savedUIDs returns the saved search result without the messages gone
// since (RFC 5182 §2.1).
func (v *mailboxView) savedUIDs() []uint32 {
	out := make([]uint32, 0, len(v.saved))
	for _, u := range v.saved {
		if i := v.find(u); i >= 0 && !v.msgs[i].expunged {
			out = append(out, u)
		}
	}
	return out
}
