package imapserver

import (
	"errors"
	"fmt"

	"postel/internal/imap"
	"postel/internal/store"
)

// REPLACE and UID REPLACE (RFC 8508): append a message to a mailbox and
// expunge one message of the selected mailbox, atomically (both or
// neither). The new message is received like an APPEND's (a literal,
// LITERAL+, literal8, UTF8 or CATENATE) and committed through the same
// path (prepareAppend, DeliverAll) with store.Delivery.Replaces naming the
// old one. The client gets APPENDUID (UIDPLUS) in an untagged OK, as
// MOVE gives COPYUID (RFC 6851 §4.3), then the EXPUNGE (or VANISHED with
// QRESYNC or UIDONLY) of the old message at once, even for REPLACE by
// sequence number, as MOVE does. A REPLACE that cannot succeed is refused
// before the client sends its message (replaceTarget, from appendSink).
func (s *session) cmdReplace(cmd *imap.Command) error {
	a := cmd.Args.(*imap.ReplaceArgs)
	v := s.sel
	i, ref, err := s.replaceTarget(cmd.UID, a)
	if err != nil {
		return err
	}
	uid := v.msgs[i].uid
	d, err := s.prepareAppend(&a.Message, ref)
	if err != nil {
		return err
	}
	d.Replaces = &store.MessageRef{AccountID: v.owner, MailboxID: v.id, UID: uid}
	res, err := s.srv.st.DeliverAll(s.ctx(), []*store.Delivery{d})
	switch {
	case errors.Is(err, store.ErrQuota):
		return noOverQuota
	case storeNotFound(err):
		// The old message or the target went meanwhile; nothing changed.
		if perr := s.pull(); perr != nil {
			return perr
		}
		if j := v.find(uid); j < 0 || v.msgs[j].expunged {
			return no(codeExpungeIssued, "The message to replace was expunged meanwhile")
		}
		return noTryCreate
	case err != nil:
		return err
	}
	nw := res[0][0]
	s.w.StatusResponse("", "OK", fmt.Sprintf("APPENDUID %d %d", nw.UIDValidity, nw.UID), "Replacement message ready")
	if j := v.find(uid); j >= 0 {
		v.markExpunged(j)
	}
	s.sendExpunges()
	if s.qresync {
		// With QRESYNC the tagged OK carries HIGHESTMODSEQ, as EXPUNGE's
		// does (RFC 8508 on QRESYNC, RFC 7162): the view is read again
		// and every change up to its base told first.
		v.dirty = true
		if err := s.update(true); err != nil {
			return err
		}
		return okCode("HIGHESTMODSEQ "+utoa(v.base), "REPLACE completed")
	}
	return nil
}

// replaceTarget checks a REPLACE before and after its message is received
// (appendSink refuses one that cannot succeed before the literal comes):
// it returns the index of the old message in the view and the mailbox
// that receives the new one, or the refusal.
func (s *session) replaceTarget(uid bool, a *imap.ReplaceArgs) (int, mailboxRef, error) {
	v := s.sel
	switch {
	case v == nil:
		return 0, mailboxRef{}, badNoMailbox
	case !uid && s.uidonly:
		return 0, mailboxRef{}, badUIDRequired // RFC 9586 §3
	case v.readOnly:
		// The old message must be expunged, which a read-only selection
		// cannot do (RFC 8508 makes REPLACE an APPEND plus an EXPUNGE).
		return 0, mailboxRef{}, noReadOnly
	case !v.rights.has(rightDeleted | rightExpunge):
		// RFC 8508 §3.3 with RFC 4314 §4: the rights of an EXPUNGE of the
		// old message (t and e) on the selected mailbox.
		return 0, mailboxRef{}, no(codeNoPerm, "You may not expunge from this mailbox")
	}
	var i int
	if uid {
		i = v.find(a.Num)
		if a.Num == 0 { // "*": the highest UID (RFC 9051 §9 seq-number)
			i = len(v.msgs) - 1
		}
		if i < 0 {
			return 0, mailboxRef{}, no(codeNonExistent, "No message with that UID")
		}
	} else {
		n := int(a.Num)
		if a.Num == 0 { // "*": the last message
			n = len(v.msgs)
		}
		if n < 1 || n > len(v.msgs) {
			return 0, mailboxRef{}, bad("Invalid message sequence number")
		}
		i = n - 1
	}
	if v.msgs[i].expunged {
		return 0, mailboxRef{}, no(codeExpungeIssued, "The message to replace was expunged meanwhile")
	}
	// The target as APPEND's: the i right there (RFC 4314 §4).
	ref, _, err := s.resolve(a.Mailbox, rightInsert)
	if err == noNoMailbox {
		return 0, mailboxRef{}, noTryCreate // as APPEND (RFC 9051 §6.3.12)
	}
	return i, ref, err
}
