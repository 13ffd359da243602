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
// sequence number, as MOVE does.
func (s *session) cmdReplace(cmd *imap.Command) error {
	a := cmd.Args.(*imap.ReplaceArgs)
	v := s.sel
	// The old message must be expunged, which a read-only selection
	// cannot do (RFC 8508 makes REPLACE an APPEND plus an EXPUNGE).
	if v.readOnly {
		return noReadOnly
	}
	var i int
	if cmd.UID {
		i = v.find(a.Num)
		if a.Num == 0 { // "*": the highest UID (RFC 9051 §9 seq-number)
			i = len(v.msgs) - 1
		}
		if i < 0 {
			return no(codeNonExistent, "No message with that UID")
		}
	} else {
		n := int(a.Num)
		if a.Num == 0 { // "*": the last message
			n = len(v.msgs)
		}
		if n < 1 || n > len(v.msgs) {
			return bad("Invalid message sequence number")
		}
		i = n - 1
	}
	if v.msgs[i].expunged {
		return no(codeExpungeIssued, "The message to replace was expunged meanwhile")
	}
	uid := v.msgs[i].uid
	name, err := canonical(a.Mailbox)
	if err != nil {
		return err
	}
	mb, err := s.srv.st.Mailbox(s.ctx(), s.user.AccountID, name)
	if storeNotFound(err) {
		return noTryCreate // as APPEND (RFC 9051 §6.3.12)
	} else if err != nil {
		return err
	}
	d, err := s.prepareAppend(&a.Message, mb.Name)
	if err != nil {
		return err
	}
	d.Replaces = &store.MessageRef{AccountID: s.user.AccountID, MailboxID: v.id, UID: uid}
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
