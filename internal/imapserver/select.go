package imapserver

import (
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"

	"postel/internal/imap"
	"postel/internal/store"
)

func storeNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// permanentFlags are the flags a client may store; \* allows new keywords
// (RFC 9051 §7.1).
const permanentFlags = `\Answered \Flagged \Deleted \Seen \Draft \*`

// SELECT and EXAMINE (RFC 9051 §6.3.2, §6.3.3), with CONDSTORE (RFC 7162
// §3.1.8) and QRESYNC (RFC 7162 §3.2.5).
func (s *session) cmdSelect(cmd *imap.Command) error {
	a := cmd.Args.(*imap.SelectArgs)
	if s.sel != nil {
		// RFC 9051 §6.3.2: selecting closes the selected mailbox first,
		// without expunging, and says so with OK [CLOSED].
		s.deselect()
		s.w.StatusResponse("", "OK", codeClosed, "Previous mailbox closed")
	}
	if a.QResync != nil && !s.qresync {
		return bad("QRESYNC parameter needs ENABLE QRESYNC first") // RFC 7162 §3.2.5
	}
	if a.CondStore {
		s.enableCondStore()
	}
	v, mb, err := s.open(a.Mailbox, a.ReadOnly)
	if err != nil {
		return err
	}
	if !s.rev2 && v.owner == s.user.AccountID {
		// The messages no session claimed are recent here: claimed by a
		// SELECT, only seen by an EXAMINE (claimRecent; none in a
		// mailbox shared with the session).
		switch {
		case v.readOnly:
			v.markRecent(0, mb.RecentUID, 0)
		case v.maxUID() > mb.RecentUID:
			if err := s.claimRecent(v, 0); err != nil {
				v.close()
				return err
			}
		}
	}
	v.noteKeywordsInUse()
	s.writeFlags(v)
	s.w.UntaggedNumber(uint64(len(v.msgs)), "EXISTS")
	if !s.rev2 {
		// IMAP4rev1 (RFC 3501 §6.3.1): RECENT, and the first unseen.
		s.w.UntaggedNumber(uint64(v.recent()), "RECENT")
		for i := range v.msgs {
			if !v.msgs[i].has(bitSeen) && !s.uidonly { // a sequence number: not under UIDONLY (RFC 9586)
				s.w.StatusResponse("", "OK", "UNSEEN "+itoa(i+1), "First unseen")
				break
			}
		}
	}
	s.w.StatusResponse("", "OK", "UIDVALIDITY "+itoa(v.uidValidity), "UIDs valid")
	uidNext := max(int64(mb.UIDNext), int64(v.maxUID())+1)
	s.w.StatusResponse("", "OK", "UIDNEXT "+itoa(uidNext), "Predicted next UID")
	s.writePermanentFlags(v)
	// RFC 7162 §3.1.2.1: HIGHESTMODSEQ, sent always since every mailbox
	// has modification sequences. The view reflects every change up to
	// its base.
	s.w.StatusResponse("", "OK", "HIGHESTMODSEQ "+utoa(v.base), "Highest")
	if s.srv.objectIDs() {
		s.w.StatusResponse("", "OK", s.mailboxIDCode(v.owner, v.uidValidity), "Mailbox ID") // RFC 8474 §4.2
	}
	s.sel, s.state = v, stateSelected
	if s.rev2 {
		// RFC 9051 §6.3.2: the LIST response of the mailbox.
		if err := s.listOne(mb); err != nil {
			s.deselect()
			return err
		}
	}
	if q := a.QResync; q != nil && q.UIDValidity == v.uidValidity {
		if err := s.qresyncSelect(q); err != nil {
			s.deselect()
			return err
		}
	}
	if v.readOnly {
		return okCode(codeReadOnly, "EXAMINE completed")
	}
	return okCode(codeReadWrite, "SELECT completed")
}

// open builds the view of a mailbox, which needs the r right (RFC 4314
// §4). The subscription, to the changes of the mailbox's owner (the
// session's account, or the one that shared it), starts before the
// snapshot is read, so no change after it is missed; the mailbox row is
// read before the messages, so every change up to its HIGHESTMODSEQ is in
// the message list (see mailboxView). A shared mailbox the session may
// change no flag of and not expunge is opened read-only.
func (s *session) open(name string, readOnly bool) (*mailboxView, store.Mailbox, error) {
	ref, mb, err := s.resolve(name, rightRead)
	if err != nil {
		return nil, mb, err
	}
	sub := s.srv.st.Subscribe(ref.owner)
	if mb, err = s.srv.st.Mailbox(s.ctx(), ref.owner, ref.local); err == nil && mb.ID != ref.id {
		err = store.ErrNotFound // deleted and made again meanwhile
	}
	if err != nil {
		sub.Close()
		return nil, mb, mailboxErr(err)
	}
	if ref.shared() {
		mb.Name, mb.SpecialUse, mb.Subscribed = ref.name, store.RoleNone, false // as resolve
		readOnly = readOnly || ref.rights&(rightSeen|rightWrite|rightDeleted|rightExpunge) == 0
	}
	list, err := s.srv.st.Messages(s.ctx(), ref.owner, mb.ID, 0)
	if err != nil {
		sub.Close()
		return nil, mb, mailboxErr(err)
	}
	v := &mailboxView{id: mb.ID, name: mb.Name, uidValidity: mb.UIDValidity, role: mb.SpecialUse, readOnly: readOnly, sub: sub,
		owner: ref.owner, rights: ref.rights,
		// The rights were read before the subscription began: a change
		// between the two would not be told; read them again at the
		// next command.
		rightsStale: ref.shared(),
		base:        mb.HighestModSeq, msgs: make([]msg, len(list)), keywords: map[string]string{}}
	for i := range list {
		v.msgs[i] = newMsg(&list[i])
		v.base = max(v.base, list[i].ModSeq)
	}
	v.told = len(v.msgs)
	return v, mb, nil
}

// writeFlags sends FLAGS: the system flags and the keywords the client is
// told of (v.keywords).
func (s *session) writeFlags(v *mailboxView) {
	kws := slices.Collect(maps.Values(v.keywords))
	store.SortKeywords(kws)
	s.w.Atom("* FLAGS ")
	s.w.Flags(append([]string{store.FlagAnswered, store.FlagFlagged, store.FlagDeleted, store.FlagSeen, store.FlagDraft}, kws...))
	s.w.CRLF()
}

// writePermanentFlags sends OK [PERMANENTFLAGS]: none in a read-only
// mailbox; the system flags and \* (any new keyword) otherwise.
func (s *session) writePermanentFlags(v *mailboxView) {
	if v.readOnly {
		s.w.StatusResponse("", "OK", "PERMANENTFLAGS ()", "No permanent flags permitted")
	} else {
		s.w.StatusResponse("", "OK", "PERMANENTFLAGS ("+v.permanentFlags()+")", "Flags permitted")
	}
}

// announceKeywords sends a new FLAGS, then OK [PERMANENTFLAGS], when kws
// holds a keyword the client was not told of: a FETCH must not show a
// flag FLAGS did not list (RFC 3501 §7.2.6, RFC 9051 §7.3.5).
func (s *session) announceKeywords(kws []string) {
	v := s.sel
	fresh := false
	for _, k := range kws {
		if _, ok := v.keywords[strings.ToLower(k)]; !ok {
			fresh = true
			break
		}
	}
	if !fresh {
		return
	}
	for _, k := range kws {
		if _, ok := v.keywords[strings.ToLower(k)]; !ok {
			v.keywords[strings.ToLower(k)] = k
		}
	}
	s.writeFlags(v)
	s.writePermanentFlags(v)
}

// noteKeywordsInUse adds the keywords of the mailbox's messages to those
// FLAGS lists (at SELECT).
func (v *mailboxView) noteKeywordsInUse() {
	for i := range v.msgs {
		for _, k := range v.msgs[i].keywords {
			if _, ok := v.keywords[strings.ToLower(k)]; !ok {
				v.keywords[strings.ToLower(k)] = k
			}
		}
	}
}

// qresyncSelect sends what changed since the client's last sync (RFC 7162
// §3.2.5): the expunged UIDs as VANISHED (EARLIER), then the flags of the
// messages changed, both limited to the known UIDs when the client gave
// them. The store keeps every expunged UID with its MODSEQ, so
// the answer is exact and seq-match-data is not needed.
func (s *session) qresyncSelect(q *imap.QResyncArgs) error {
	v := s.sel
	gone, err := s.srv.st.ExpungedSince(s.ctx(), v.owner, v.id, q.ModSeq)
	if err != nil {
		return err
	}
	var uids []uint32
	for _, e := range gone {
		if q.KnownUIDs == nil || q.KnownUIDs.Contains(e.UID, 0) {
			uids = append(uids, e.UID)
		}
	}
	if len(uids) > 0 {
		s.w.Atom("* VANISHED (EARLIER) ")
		s.w.SeqSet(imap.SeqSetFromNums(uids))
		s.w.CRLF()
	}
	// With known UIDs, only their changes are reported.
	for i := range v.msgs {
		if m := &v.msgs[i]; m.modseq > q.ModSeq && (q.KnownUIDs == nil || q.KnownUIDs.Contains(m.uid, 0)) {
			s.writeFlagsFetch(i, true)
		}
	}
	return nil
}

// deselect leaves the selected mailbox without expunging.
func (s *session) deselect() {
	s.sel.close()
	s.sel, s.state = nil, stateAuth
}

// CLOSE (RFC 9051 §6.4.1): expunge silently when selected read-write,
// then deselect; UNSELECT (RFC 9051 §6.4.2): deselect only.
func (s *session) cmdClose(cmd *imap.Command) error {
	v := s.sel
	if cmd.Name == "CLOSE" && !v.readOnly && v.rights.has(rightExpunge) { // RFC 4314 §4: e to expunge
		if err := s.pull(); err != nil {
			return err
		}
		all := s.selectedMuted() // the view's flags may be old, as in EXPUNGE
		var uids []uint32
		for _, m := range v.msgs {
			if (all || m.has(bitDeleted)) && !m.expunged {
				uids = append(uids, m.uid)
			}
		}
		if len(uids) > 0 {
			if _, err := s.srv.st.ExpungeDeleted(s.ctx(), v.owner, v.id, uids); err != nil && !storeNotFound(err) {
				return err
			}
		}
	}
	s.deselect()
	return nil
}

// itoa and utoa format numbers for response codes.
func itoa[T ~int | ~int64 | ~uint32](n T) string { return strconv.FormatInt(int64(n), 10) }
func utoa(n uint64) string                       { return strconv.FormatUint(n, 10) }
