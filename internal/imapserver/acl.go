package imapserver

import (
	"errors"
	"strings"

	"postel/internal/imap"
	"postel/internal/store"
)

// Access control lists (RFC 4314) and LIST-MYRIGHTS (RFC 8440). An
// account's mailboxes are its own: it holds every right on them and may
// grant rights to other accounts of this server, or to "anyone" (every
// authenticated user of this server: there are no anonymous logins),
// positive or negative ("-identifier", RFC 4314 §2). The grantee finds
// them in the shared namespace (shared.go). Which right each command
// needs is decided in two places only: resolve (shared.go) for commands
// naming a mailbox, and checkSelected (shared.go) for the selected one.

// rights is a set of the rights of store.ACLRights, one bit per letter.
type rights uint16

const (
	rightLookup  rights = 1 << iota // l: LIST, SUBSCRIBE
	rightRead                       // r: SELECT, EXAMINE, STATUS, FETCH, SEARCH, COPY from
	rightSeen                       // s: keep \Seen
	rightWrite                      // w: other flags and keywords
	rightInsert                     // i: APPEND, COPY into
	rightPost                       // p: send mail to the mailbox's submission address (no such address here)
	rightCreate                     // k: CREATE below, RENAME to below
	rightDelete                     // x: DELETE, RENAME from
	rightDeleted                    // t: set or clear \Deleted
	rightExpunge                    // e: EXPUNGE, the expunge of CLOSE and MOVE
	rightAdmin                      // a: SETACL, DELETEACL, GETACL, LISTRIGHTS
	allRights    = rights(1<<len(store.ACLRights)) - 1
	// RFC 4314 §2.1.1: the obsolete "c" is the "create" right and "d"
	// the "delete" right (store.ParseRights).
	obsoleteCreate = rightCreate | rightDelete
	obsoleteDelete = rightDeleted | rightExpunge
)

func (r rights) has(need rights) bool { return r&need == need }

// newRights is the extra rights RFC 4314 §2.1 defines beyond RFC 2086,
// the RIGHTS= capability (RFC 4314 §3: "t", "e", "x", "k").
const newRights = "texk"

// parseRights reads a rights string of a command (store.ParseRights, the
// one reader of rights strings, also the admin's); ok is false for a
// character that is not a right, which RFC 4314 §3.1 answers with BAD.
func parseRights(s string) (r rights, ok bool) {
	c, err := store.ParseRights(s)
	if err != nil {
		return 0, false
	}
	for _, l := range c {
		r |= 1 << strings.IndexRune(store.ACLRights, l)
	}
	return r, true
}

// String writes the rights in store.ACLRights order, with "c" and "d"
// after them when any of their members is there (RFC 4314 §2.1.1: a
// server MUST include them in MYRIGHTS and ACL responses).
func (r rights) String() string {
	var b strings.Builder
	for i, c := range store.ACLRights {
		if r&(1<<i) != 0 {
			b.WriteRune(c)
		}
	}
	if r&obsoleteCreate != 0 {
		b.WriteByte('c')
	}
	if r&obsoleteDelete != 0 {
		b.WriteByte('d')
	}
	return b.String()
}

// stored is the rights as the store keeps them (no "c" or "d").
func (r rights) stored() string {
	s := r.String()
	return strings.TrimRight(s, "cd")
}

// effectiveRights are the rights the entries give the account of
// address: the union of the positive entries naming it or anyone, less
// the union of the negative ones (RFC 4314 §2).
func effectiveRights(entries []store.ACLEntry, address string) rights {
	var pos, neg rights
	for _, e := range entries {
		if e.Identifier != address && e.Identifier != store.Anyone {
			continue
		}
		r, _ := parseRights(e.Rights)
		if e.Negative {
			neg |= r
		} else {
			pos |= r
		}
	}
	return pos &^ neg
}

// aclIdentifier splits an identifier of a command into its stored form
// and whether it is negative ("-identifier", RFC 4314 §2).
func aclIdentifier(id string) (string, bool, error) {
	neg := strings.HasPrefix(id, "-")
	c, err := store.CanonicalIdentifier(strings.TrimPrefix(id, "-"))
	if err != nil {
		return "", false, no(codeCannot, "Unknown identifier: an account address of this server or anyone")
	}
	return c, neg, nil
}

// SETACL and DELETEACL (RFC 4314 §3.1, §3.2): need the a right.
func (s *session) cmdSetACL(cmd *imap.Command) error {
	a := cmd.Args.(*imap.ACLArgs)
	change, ok := parseRights(a.Rights)
	if !ok {
		return bad("Unknown right in " + a.Rights) // RFC 4314 §3.1: MUST be BAD
	}
	ref, _, err := s.resolve(a.Mailbox, rightAdmin)
	if err != nil {
		return err
	}
	id, neg, err := aclIdentifier(a.Identifier)
	if err != nil {
		return err
	}
	if id == ref.ownerAddr || (!ref.shared() && id == s.user.Address) {
		// The owner's rights are always all (LISTRIGHTS says so).
		return no(codeCannot, "The owner of a mailbox always holds every right")
	}
	if cmd.Name == "DELETEACL" {
		change, a.Op = 0, imap.ACLReplace
	}
	if a.Op != imap.ACLReplace {
		entries, err := s.srv.st.MailboxACL(s.ctx(), ref.owner, ref.id)
		if err != nil {
			return mailboxErr(err)
		}
		var have rights
		for _, e := range entries {
			if e.Identifier == id && e.Negative == neg {
				have, _ = parseRights(e.Rights)
			}
		}
		if a.Op == imap.ACLAdd {
			change = have | change
		} else {
			change = have &^ change
		}
	}
	err = s.srv.st.SetACL(s.ctx(), ref.owner, ref.id, store.ACLEntry{Identifier: id, Negative: neg, Rights: change.stored()})
	switch {
	case errors.Is(err, store.ErrNotFound):
		if _, e := s.srv.st.MailboxACL(s.ctx(), ref.owner, ref.id); e == nil {
			return no(codeCannot, "No account "+id+" on this server")
		}
		return noNoMailbox
	case errors.Is(err, store.ErrQuota):
		return no(codeLimit, "Too many entries in the access control list")
	case errors.Is(err, store.ErrInvalid):
		return no(codeCannot, "The owner of a mailbox always holds every right")
	}
	return err
}

// GETACL (RFC 4314 §3.3): needs the a right. The owner comes first, with
// every right.
func (s *session) cmdGetACL(cmd *imap.Command) error {
	a := cmd.Args.(*imap.ACLArgs)
	ref, _, err := s.resolve(a.Mailbox, rightAdmin)
	if err != nil {
		return err
	}
	entries, err := s.srv.st.MailboxACL(s.ctx(), ref.owner, ref.id)
	if err != nil {
		return mailboxErr(err)
	}
	owner := ref.ownerAddr
	if !ref.shared() {
		owner = s.user.Address
	}
	s.w.Atom("* ACL ")
	s.w.Mailbox(ref.name)
	s.w.SP()
	s.w.AString(owner)
	s.w.SP()
	s.w.AString(allRights.String())
	for _, e := range entries {
		r, _ := parseRights(e.Rights)
		id := e.Identifier
		if e.Negative {
			id = "-" + id
		}
		s.w.SP()
		s.w.AString(id)
		s.w.SP()
		s.w.AString(r.String())
	}
	s.w.CRLF()
	return nil
}

// LISTRIGHTS (RFC 4314 §3.4): needs the a right. The owner holds every
// right always; anyone else none always, and each right may be granted
// alone, the obsolete "c" and "d" too (RFC 4314 §2.1.1).
func (s *session) cmdListRights(cmd *imap.Command) error {
	a := cmd.Args.(*imap.ACLArgs)
	ref, _, err := s.resolve(a.Mailbox, rightAdmin)
	if err != nil {
		return err
	}
	id, _, err := aclIdentifier(a.Identifier)
	if err != nil {
		return err
	}
	s.w.Atom("* LISTRIGHTS ")
	s.w.Mailbox(ref.name)
	s.w.SP()
	s.w.AString(a.Identifier)
	if id == ref.ownerAddr || (!ref.shared() && id == s.user.Address) {
		s.w.SP()
		s.w.AString(allRights.stored())
	} else {
		s.w.Atom(` ""`)
		for _, c := range store.ACLRights + "cd" {
			s.w.SP()
			s.w.Atom(string(c))
		}
	}
	s.w.CRLF()
	return nil
}

// MYRIGHTS (RFC 4314 §3.5): any right will do.
func (s *session) cmdMyRights(cmd *imap.Command) error {
	a := cmd.Args.(*imap.ACLArgs)
	ref, _, err := s.resolve(a.Mailbox, 0)
	if err != nil {
		return err
	}
	s.writeMyRights(ref.name, ref.rights)
	return nil
}

// writeMyRights writes a MYRIGHTS response (RFC 4314 §3.8), also sent
// for LIST RETURN (MYRIGHTS) (RFC 8440 §3).
func (s *session) writeMyRights(name string, r rights) {
	s.w.Atom("* MYRIGHTS ")
	s.w.Mailbox(name)
	s.w.SP()
	s.w.AString(r.String())
	s.w.CRLF()
}
