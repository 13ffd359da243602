package imapserver

import (
	"fmt"

	"postel/internal/imap"
	"postel/internal/store"
)

// COPY, MOVE and their UID forms (RFC 9051 §6.4.7, §6.4.8; RFC 6851),
// with COPYUID (RFC 4315 §3). Into or out of \Junk, they train the junk
// filter (junktrain.go).
func (s *session) cmdCopy(cmd *imap.Command) error {
	a := cmd.Args.(*imap.CopyArgs)
	v := s.sel
	move := cmd.Name == "MOVE"
	if move && v.readOnly {
		return noReadOnly
	}
	idx, err := v.resolve(a.Set, cmd.UID)
	if err != nil {
		return err
	}
	ref, dst, err := s.resolve(a.Mailbox, rightInsert) // RFC 4314 §4: i
	if err == noNoMailbox {
		return noTryCreate // RFC 9051 §6.4.7
	} else if err != nil {
		return err
	}
	uids := make([]uint32, 0, len(idx))
	issued := false
	for _, i := range idx {
		if v.msgs[i].expunged {
			issued = true
			continue
		}
		uids = append(uids, v.msgs[i].uid)
	}
	if issued && !cmd.UID {
		// RFC 9051 §6.4.7: COPY copies all or nothing.
		return no(codeExpungeIssued, "Some messages were expunged meanwhile")
	}
	if len(uids) == 0 {
		return nil
	}
	var res store.CopyResult
	var gone []store.Expunged
	defer s.startProgress(cmd)() // RFC 9585
	err = s.waitProgress(func() (err error) {
		switch {
		case ref.owner != v.owner:
			// Between accounts (a shared mailbox and the session's own).
			res, gone, err = s.copyAcross(uids, ref, move)
		case move:
			res, gone, err = s.srv.st.Move(s.ctx(), v.owner, v.id, uids, dst.ID)
		default:
			res, err = s.srv.st.Copy(s.ctx(), v.owner, v.id, uids, dst.ID)
		}
		return err
	})
	if err != nil {
		return mailboxErr(err)
	}
	if len(res.Source) == 0 {
		return nil
	}
	if ref.owner == s.user.AccountID && v.owner == s.user.AccountID {
		s.trainCopy(dst, res)
	}
	code := fmt.Sprintf("COPYUID %d %s %s", res.UIDValidity, imap.SeqSetFromNums(res.Source), imap.SeqSetFromNums(res.Dest))
	if !move {
		return okCode(code, "COPY completed")
	}
	// RFC 6851 §4.3: COPYUID in an untagged OK, then the expunges of the
	// moved messages, sent at once even for MOVE (not UID MOVE).
	s.w.StatusResponse("", "OK", code, "Moved")
	for _, e := range gone {
		if i := v.find(e.UID); i >= 0 {
			v.markExpunged(i)
		}
	}
	s.sendExpunges()
	return nil
}

// EXPUNGE (RFC 9051 §6.4.3) and UID EXPUNGE (RFC 4315 §2.1): remove the
// messages with \Deleted (of the set, for UID EXPUNGE) and tell the
// client at once.
func (s *session) cmdExpunge(cmd *imap.Command) error {
	v := s.sel
	if v.readOnly {
		return noReadOnly
	}
	// The flags must be the store's, not what the client was last told.
	if err := s.pull(); err != nil {
		return err
	}
	idx := make([]int, 0, len(v.msgs))
	if cmd.UID {
		var err error
		if idx, err = v.resolve(cmd.Args.(*imap.ExpungeArgs).Set, true); err != nil {
			return err
		}
	} else {
		for i := range v.msgs {
			idx = append(idx, i)
		}
	}
	// While NOTIFY keeps the mailbox's events from the client, the view's
	// flags may be old (pull reads nothing): every message of the view is
	// a candidate, and the store expunges those that carry \Deleted.
	all := s.selectedMuted()
	var uids []uint32
	for _, i := range idx {
		if m := &v.msgs[i]; (all || m.has(bitDeleted)) && !m.expunged {
			uids = append(uids, m.uid)
		}
	}
	if len(uids) == 0 {
		return nil
	}
	var gone []store.Expunged
	defer s.startProgress(cmd)() // RFC 9585
	err := s.waitProgress(func() (err error) {
		gone, err = s.srv.st.ExpungeDeleted(s.ctx(), v.owner, v.id, uids)
		return err
	})
	if err != nil {
		return mailboxErr(err)
	}
	for _, e := range gone {
		if i := v.find(e.UID); i >= 0 {
			v.markExpunged(i)
		}
	}
	s.sendExpunges()
	return nil
}
