package imapserver

import (
	"errors"
	"slices"
	"strings"

	"postel/internal/imap"
	"postel/internal/store"
)

// canonical checks a mailbox name from a client and spells INBOX in upper
// case.
func canonical(name string) (string, error) {
	c, err := store.CanonicalMailbox(name)
	if err != nil {
		return "", no(codeCannot, "Invalid mailbox name")
	}
	return c, nil
}

// createParents creates the missing superior names of name (RFC 9051
// §6.3.4: the server SHOULD create them), as ordinary mailboxes.
func (s *session) createParents(name string) error {
	for i := strings.IndexByte(name, '/'); i >= 0; i = next(name, i) {
		parent := name[:i]
		_, err := s.srv.st.Mailbox(s.ctx(), s.user.AccountID, parent)
		if storeNotFound(err) {
			_, err = s.srv.st.CreateMailbox(s.ctx(), s.user.AccountID, parent, store.RoleNone)
			if errors.Is(err, store.ErrExists) {
				err = nil // created meanwhile
			}
		}
		if err != nil {
			return mailboxErr(err)
		}
	}
	return nil
}

// next returns the index of the separator after position i, or -1.
func next(name string, i int) int {
	j := strings.IndexByte(name[i+1:], '/')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// specialUses are the special-use attributes CREATE accepts (RFC 6154
// §2); \All and \Flagged would be virtual mailboxes, which Postel lacks.
var specialUses = []string{store.RoleSent, store.RoleDrafts, store.RoleTrash, store.RoleJunk, store.RoleArchive}

// CREATE (RFC 9051 §6.3.4) with CREATE-SPECIAL-USE (RFC 6154 §3).
func (s *session) cmdCreate(cmd *imap.Command) error {
	a := cmd.Args.(*imap.CreateArgs)
	// RFC 9051 §6.3.4: a trailing separator declares the intent to
	// create names under this one; the name itself is created.
	name, err := canonical(strings.TrimSuffix(a.Mailbox, "/"))
	if err != nil {
		return err
	}
	if name == "INBOX" {
		return no(codeAlreadyExists, "INBOX always exists")
	}
	use := store.RoleNone
	switch len(a.SpecialUse) {
	case 0:
	case 1:
		use = a.SpecialUse[0]
		if !slices.Contains(specialUses, use) {
			return no(codeUseAttr, "Unsupported special-use attribute "+use)
		}
	default:
		return no(codeUseAttr, "Only one special-use attribute per mailbox")
	}
	if err := s.createParents(name); err != nil {
		return err
	}
	mb, err := s.srv.st.CreateMailbox(s.ctx(), s.user.AccountID, name, use)
	if err != nil {
		return mailboxErr(err)
	}
	if s.srv.objectIDs() {
		return okCode(s.mailboxIDCode(mb.UIDValidity), "CREATE completed") // RFC 8474 §4.1
	}
	return nil
}

// DELETE (RFC 9051 §6.3.5). Inferior names stay; a deleted name that has
// them is then listed \Noselect, as §6.3.5 allows ("the server MAY allow
// the DELETE command, but it sets the \Noselect mailbox name attribute").
// Deleting a name that exists only as such a \Noselect parent fails.
func (s *session) cmdDelete(cmd *imap.Command) error {
	a := cmd.Args.(*imap.MailboxArgs)
	name, err := canonical(a.Mailbox)
	if err != nil {
		return err
	}
	if name == "INBOX" {
		return no(codeCannot, "INBOX cannot be deleted")
	}
	mb, err := s.srv.st.Mailbox(s.ctx(), s.user.AccountID, name)
	if err != nil {
		return mailboxErr(err)
	}
	if s.sel != nil && s.sel.id == mb.ID {
		// Deleting the selected mailbox closes it first.
		s.deselect()
		s.w.StatusResponse("", "OK", codeClosed, "Mailbox closed")
	}
	return mailboxErr(s.srv.st.DeleteMailbox(s.ctx(), s.user.AccountID, name))
}

// RENAME (RFC 9051 §6.3.6). Inferior names move along. Renaming INBOX
// moves its messages to a new mailbox and leaves INBOX empty, its
// inferior names unaffected.
func (s *session) cmdRename(cmd *imap.Command) error {
	a := cmd.Args.(*imap.RenameArgs)
	from, err := canonical(a.From)
	if err != nil {
		return err
	}
	to, err := canonical(a.To)
	if err != nil {
		return err
	}
	switch {
	case to == "INBOX":
		return no(codeAlreadyExists, "INBOX always exists")
	case from == to:
		return no(codeAlreadyExists, "Mailbox already exists")
	}
	if _, err := s.srv.st.Mailbox(s.ctx(), s.user.AccountID, from); err != nil {
		return mailboxErr(err)
	}
	if err := s.createParents(to); err != nil {
		return err
	}
	if from != "INBOX" {
		err := s.srv.st.RenameMailbox(s.ctx(), s.user.AccountID, from, to)
		if errors.Is(err, store.ErrInvalid) {
			return no(codeCannot, "Cannot rename a mailbox into itself")
		}
		return mailboxErr(err)
	}
	return s.renameInbox(to)
}

// renameInbox moves every message of INBOX into the new mailbox to.
func (s *session) renameInbox(to string) error {
	inbox, err := s.srv.st.Mailbox(s.ctx(), s.user.AccountID, "INBOX")
	if err != nil {
		return err
	}
	dst, err := s.srv.st.CreateMailbox(s.ctx(), s.user.AccountID, to, store.RoleNone)
	if err != nil {
		return mailboxErr(err)
	}
	msgs, err := s.srv.st.Messages(s.ctx(), s.user.AccountID, inbox.ID, 0)
	if err != nil || len(msgs) == 0 {
		return err
	}
	uids := make([]uint32, len(msgs))
	for i := range msgs {
		uids[i] = msgs[i].UID
	}
	_, _, err = s.srv.st.Move(s.ctx(), s.user.AccountID, inbox.ID, uids, dst.ID)
	return mailboxErr(err)
}

// SUBSCRIBE and UNSUBSCRIBE (RFC 9051 §6.3.7, §6.3.8; RFC 3501 §6.3.6,
// §6.3.7): the subscriptions are a set of names of their own. A name that
// is no mailbox may be subscribed (RFC 9051 §6.3.7: the server MAY check
// that it exists; Postel does not, so that a client can subscribe before
// it creates, or keep a subscription across a delete), and no mailbox
// operation removes one (RFC 3501 §6.3.6: the server MUST NOT unilaterally
// remove a name from the subscription list). Unsubscribing a name that is
// not subscribed fails (RFC 9051 §6.3.8: "can't unsubscribe that name").
func (s *session) cmdSubscribe(cmd *imap.Command) error {
	a := cmd.Args.(*imap.MailboxArgs)
	name, err := canonical(a.Mailbox)
	if err != nil {
		return err
	}
	on := cmd.Name == "SUBSCRIBE"
	if !on {
		subs, err := s.srv.st.Subscriptions(s.ctx(), s.user.AccountID)
		if err != nil {
			return err
		}
		if !slices.Contains(subs, name) {
			return no(codeNonExistent, "Not subscribed")
		}
	}
	err = s.srv.st.SetSubscribed(s.ctx(), s.user.AccountID, name, on)
	if errors.Is(err, store.ErrQuota) {
		return no(codeLimit, "Too many subscriptions") // RFC 5530 §3
	}
	return mailboxErr(err)
}

// NAMESPACE (RFC 9051 §6.3.10; RFC 2342): one personal namespace.
func (s *session) cmdNamespace(cmd *imap.Command) error {
	s.w.Untagged(`NAMESPACE (("" "/")) NIL NIL`)
	return nil
}

// STATUS (RFC 9051 §6.3.11, with SIZE, DELETED, HIGHESTMODSEQ (RFC 7162
// §3.1.6) and APPENDLIMIT (RFC 7889 §3)).
func (s *session) cmdStatus(cmd *imap.Command) error {
	a := cmd.Args.(*imap.StatusArgs)
	name, err := canonical(a.Mailbox)
	if err != nil {
		return err
	}
	mb, err := s.srv.st.Mailbox(s.ctx(), s.user.AccountID, name)
	if err != nil {
		return mailboxErr(err)
	}
	s.writeStatus(mb, a.Items)
	return nil
}

// writeStatus writes the STATUS response of mb with the items asked.
func (s *session) writeStatus(mb store.Mailbox, items []string) {
	if slices.Contains(items, "HIGHESTMODSEQ") {
		s.enableCondStore() // before the response: it may write one
	}
	s.w.Atom("* STATUS ")
	s.w.Mailbox(mb.Name)
	s.w.Atom(" (")
	for i, it := range items {
		if i > 0 {
			s.w.SP()
		}
		s.w.Atom(it)
		s.w.SP()
		switch it {
		case "MESSAGES":
			s.w.Number(uint64(mb.Messages))
		case "UIDNEXT":
			s.w.Number(uint64(mb.UIDNext))
		case "UIDVALIDITY":
			s.w.Number(uint64(mb.UIDValidity))
		case "UNSEEN":
			s.w.Number(uint64(mb.Unseen))
		case "DELETED":
			s.w.Number(uint64(mb.Deleted))
		case "SIZE":
			s.w.Number(uint64(mb.Size))
		case "RECENT":
			// RFC 3501 §6.3.10: the messages with \Recent, which no
			// session has claimed yet (IMAP4rev2 dropped the item).
			s.w.Number(uint64(mb.Recent))
		case "HIGHESTMODSEQ":
			s.w.Number(mb.HighestModSeq)
		case "APPENDLIMIT":
			s.w.Number(uint64(s.srv.cfg.AppendLimit))
		case "MAILBOXID": // RFC 8474 §4.3
			s.writeMailboxIDStatus(mb.UIDValidity)
		}
	}
	s.w.Atom(")")
	s.w.CRLF()
}
