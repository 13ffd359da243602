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

// CREATE (RFC 9051 §6.3.4) with CREATE-SPECIAL-USE (RFC 6154 §3). In a
// shared mailbox, a mailbox below it needs the k right on it (RFC 4314
// §4) and starts with its access control list.
func (s *session) cmdCreate(cmd *imap.Command) error {
	a := cmd.Args.(*imap.CreateArgs)
	// RFC 9051 §6.3.4: a trailing separator declares the intent to
	// create names under this one; the name itself is created.
	ref, err := s.parseName(strings.TrimSuffix(a.Mailbox, "/"))
	if err != nil {
		return err
	}
	name := ref.local
	switch {
	case ref.virtual:
		return no(codeCannot, sharedRoot+" holds the mailboxes others share with you")
	case name == "INBOX":
		return no(codeAlreadyExists, "INBOX always exists")
	}
	use := store.RoleNone
	switch len(a.SpecialUse) {
	case 0:
	case 1:
		use = a.SpecialUse[0]
		if !slices.Contains(specialUses, use) || ref.shared() {
			return no(codeUseAttr, "Unsupported special-use attribute "+use)
		}
	default:
		return no(codeUseAttr, "Only one special-use attribute per mailbox")
	}
	if ref.shared() {
		return s.createShared(ref)
	}
	if err := s.createParents(name); err != nil {
		return err
	}
	mb, err := s.srv.st.CreateMailbox(s.ctx(), s.user.AccountID, name, use)
	if err != nil {
		return mailboxErr(err)
	}
	if s.srv.objectIDs() {
		return okCode(s.mailboxIDCode(s.user.AccountID, mb.UIDValidity), "CREATE completed") // RFC 8474 §4.1
	}
	return nil
}

// createShared creates a mailbox below a shared one (k right on its
// parent), with the parent's access control list, so that whoever may
// reach the parent reaches it too.
func (s *session) createShared(ref mailboxRef) error {
	i := strings.LastIndexByte(ref.local, '/')
	if i < 0 {
		return no(codeNoPerm, "Mailboxes are created in another account only below one shared with you")
	}
	parent, _, err := s.resolve(sharedName(ref.ownerAddr, ref.local[:i]), rightCreate)
	if err != nil {
		return err
	}
	entries, err := s.srv.st.MailboxACL(s.ctx(), parent.owner, parent.id)
	if err != nil {
		return mailboxErr(err)
	}
	mb, err := s.srv.st.CreateMailbox(s.ctx(), ref.owner, ref.local, store.RoleNone)
	if err != nil {
		return mailboxErr(err)
	}
	for _, e := range entries {
		if err := s.srv.st.SetACL(s.ctx(), ref.owner, mb.ID, e); err != nil {
			return err
		}
	}
	return nil
}

// DELETE (RFC 9051 §6.3.5), x right (RFC 4314 §4). Inferior names stay;
// a deleted name that has them is then listed \Noselect, as §6.3.5 allows
// ("the server MAY allow the DELETE command, but it sets the \Noselect
// mailbox name attribute"). Deleting a name that exists only as such a
// \Noselect parent fails.
func (s *session) cmdDelete(cmd *imap.Command) error {
	a := cmd.Args.(*imap.MailboxArgs)
	ref, err := s.parseName(a.Mailbox)
	if err != nil {
		return err
	}
	if ref.local == "INBOX" && !ref.virtual && !ref.shared() {
		return no(codeCannot, "INBOX cannot be deleted")
	}
	ref, mb, err := s.resolve(a.Mailbox, rightDelete)
	if err == noNoMailbox && !ref.shared() && !ref.virtual {
		// RFC 9051 §6.3.4: a name with inferior names that is no mailbox
		// (\Noselect) cannot be deleted; §7.1: HASCHILDREN says why.
		if has, lerr := s.hasChildren(ref.local); lerr != nil {
			return lerr
		} else if has {
			return no(codeHasChildren, "Name has inferior hierarchical names: delete them first")
		}
	}
	if err != nil {
		return err
	}
	if s.sel != nil && s.sel.id == mb.ID {
		// Deleting the selected mailbox closes it first.
		s.deselect()
		s.w.StatusResponse("", "OK", codeClosed, "Mailbox closed")
	}
	return mailboxErr(s.srv.st.DeleteMailbox(s.ctx(), ref.owner, ref.local))
}

// hasChildren reports whether the session's account has a mailbox below
// the name.
func (s *session) hasChildren(name string) (bool, error) {
	mbs, err := s.srv.st.ListMailboxes(s.ctx(), s.user.AccountID)
	if err != nil {
		return false, err
	}
	for _, mb := range mbs {
		if strings.HasPrefix(mb.Name, name+"/") {
			return true, nil
		}
	}
	return false, nil
}

// RENAME (RFC 9051 §6.3.6). Inferior names move along. Renaming INBOX
// moves its messages to a new mailbox and leaves INBOX empty, its
// inferior names unaffected. A shared mailbox is renamed within its
// owner's account, with the x right on it and the k right on the new
// parent (RFC 4314 §4).
func (s *session) cmdRename(cmd *imap.Command) error {
	a := cmd.Args.(*imap.RenameArgs)
	from, err := s.parseName(a.From)
	if err != nil {
		return err
	}
	to, err := s.parseName(a.To)
	if err != nil {
		return err
	}
	switch {
	case to.virtual:
		return no(codeCannot, sharedRoot+" holds the mailboxes others share with you")
	case to.local == "INBOX":
		return no(codeAlreadyExists, "INBOX always exists")
	case from.name == to.name:
		return no(codeAlreadyExists, "Mailbox already exists")
	}
	if from, _, err = s.resolve(a.From, rightDelete); err != nil {
		return err
	}
	if from.owner != to.owner {
		return no(codeCannot, "Mailboxes are renamed only within one account")
	}
	if from.shared() {
		i := strings.LastIndexByte(to.local, '/')
		if from.local == "INBOX" || i < 0 {
			return no(codeNoPerm, "A shared mailbox is renamed only below a mailbox shared with you")
		}
		if _, _, err := s.resolve(sharedName(to.ownerAddr, to.local[:i]), rightCreate); err != nil {
			return err
		}
	} else if err := s.createParents(to.local); err != nil {
		return err
	}
	if from.local != "INBOX" {
		err := s.srv.st.RenameMailbox(s.ctx(), from.owner, from.local, to.local)
		if errors.Is(err, store.ErrInvalid) {
			return no(codeCannot, "Cannot rename a mailbox into itself")
		}
		return mailboxErr(err)
	}
	return s.renameInbox(to.local)
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
// §6.3.7): the subscriptions are a set of names of their own, the names
// the session sees (a mailbox shared with it by its "Other Users/" name).
// A name that is no mailbox may be subscribed (RFC 9051 §6.3.7: the server
// MAY check that it exists; Postel does not, so that a client can
// subscribe before it creates, or keep a subscription across a delete),
// and no mailbox operation removes one (RFC 3501 §6.3.6: the server MUST
// NOT unilaterally remove a name from the subscription list).
// Unsubscribing a name that is not subscribed fails (RFC 9051 §6.3.8:
// "can't unsubscribe that name").
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

// STATUS (RFC 9051 §6.3.11, with SIZE, DELETED, HIGHESTMODSEQ (RFC 7162
// §3.1.6) and APPENDLIMIT (RFC 7889 §3)); r right (RFC 4314 §4).
func (s *session) cmdStatus(cmd *imap.Command) error {
	a := cmd.Args.(*imap.StatusArgs)
	_, mb, err := s.resolve(a.Mailbox, rightRead)
	if err != nil {
		return err
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
		case "DELETED-STORAGE":
			// RFC 9208 (QUOTA=RES-STORAGE): the storage an EXPUNGE would
			// free, the messages with \Deleted, in units of 1024 octets
			// as STORAGE counts (rounded up, as GETQUOTA's usage).
			s.w.Number(uint64((mb.DeletedSize + 1023) / 1024))
		case "RECENT":
			// RFC 3501 §6.3.10: the messages with \Recent, which no
			// session has claimed yet (IMAP4rev2 dropped the item).
			s.w.Number(uint64(mb.Recent))
		case "HIGHESTMODSEQ":
			s.w.Number(mb.HighestModSeq)
		case "APPENDLIMIT":
			s.w.Number(uint64(s.srv.cfg.AppendLimit))
		case "MAILBOXID": // RFC 8474 §4.3
			s.writeMailboxIDStatus(&mb)
		}
	}
	s.w.Atom(")")
	s.w.CRLF()
}
