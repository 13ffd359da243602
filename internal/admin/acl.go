package admin

import (
	"context"
	"errors"

	"postel/internal/store"
)

// Sharing a mailbox with other accounts: its access control list (RFC
// 4314, store.ACL), as an IMAP owner's GETACL, SETACL and DELETEACL see
// and change it. The checks are the store's (identifiers, MaxACLEntries,
// the owner's rights), the rights string is read as SETACL reads it
// (store.ParseRights). The store announces each change to the owner's
// account: grantees' IMAP sessions find a new share at their next LIST
// and lose a revoked one at their next command, as after SETACL.

// ACL is the access control list of a mailbox: the owner first, with
// every right (as GETACL gives it, RFC 4314 §3.6), then the entries.
type ACL struct {
	Account string     `json:"account"`
	Mailbox string     `json:"mailbox"`
	Entries []ACLEntry `json:"entries"`
}

// ACLEntry is one identifier of an ACL and its rights, letters of
// store.ACLRights in that order.
type ACLEntry struct {
	// Identifier is an account's address or "anyone"; "-" before it
	// marks rights taken away (RFC 4314 §2), which IMAP SETACL sets.
	Identifier string `json:"identifier"`
	Rights     string `json:"rights"`
}

// aclMailbox reads the owner and the mailbox named by an ACL command.
func (a *Admin) aclMailbox(ctx context.Context, account, name string) (store.Account, store.Mailbox, error) {
	acct, err := a.account(ctx, account)
	if err != nil {
		return acct, store.Mailbox{}, err
	}
	m, err := a.st.Mailbox(ctx, acct.ID, name)
	if err != nil {
		return acct, m, mailboxErr(acct, name, err)
	}
	return acct, m, nil
}

// MailboxACL lists the access control list of an account's mailbox.
func (a *Admin) MailboxACL(ctx context.Context, account, name string) (ACL, error) {
	acct, m, err := a.aclMailbox(ctx, account, name)
	if err != nil {
		return ACL{}, err
	}
	return a.aclOf(ctx, acct, m)
}

func (a *Admin) aclOf(ctx context.Context, acct store.Account, m store.Mailbox) (ACL, error) {
	entries, err := a.st.MailboxACL(ctx, acct.ID, m.ID)
	if err != nil {
		return ACL{}, mailboxErr(acct, m.Name, err)
	}
	out := ACL{Account: acct.Address, Mailbox: m.Name, Entries: []ACLEntry{{Identifier: acct.Address, Rights: store.ACLRights}}}
	for _, e := range entries {
		id := e.Identifier
		if e.Negative {
			id = "-" + id
		}
		out.Entries = append(out.Entries, ACLEntry{Identifier: id, Rights: e.Rights})
	}
	return out, nil
}

// grantee reads the identifier of a share or unshare: an address of an
// account of this server other than the owner, or "anyone".
func grantee(owner store.Account, id string) (string, error) {
	c, err := store.CanonicalIdentifier(id)
	if err != nil {
		return "", refusal(KindNotFound, "no account %s (the grantee is an account of this server or anyone)", shown(id))
	}
	if c == owner.Address {
		return "", refusal(KindRefused, "%s owns the mailbox and always holds every right", c)
	}
	return c, nil
}

// ShareMailbox gives the grantee (an account of this server, or "anyone":
// every account of it) the rights on an account's mailbox, in place of
// those it had, as IMAP SETACL without "+" or "-" does (RFC 4314 §3.1).
// Rights are letters of lrswipkxtea, with c and d as in IMAP; the
// grantee finds the mailbox as "Other Users/ACCOUNT/MAILBOX".
func (a *Admin) ShareMailbox(ctx context.Context, account, name, id, rights string) (ACL, error) {
	acct, m, err := a.aclMailbox(ctx, account, name)
	if err != nil {
		return ACL{}, err
	}
	r, err := store.ParseRights(rights)
	if err != nil {
		return ACL{}, refusal(KindInvalid, "bad rights %q: letters of %s (c and d also as in IMAP)", rights, store.ACLRights)
	}
	if r == "" {
		return ACL{}, refusal(KindInvalid, "no rights given: mailbox unshare removes a grantee")
	}
	id, err = grantee(acct, id)
	if err != nil {
		return ACL{}, err
	}
	if err := a.setACL(ctx, acct, m, store.ACLEntry{Identifier: id, Rights: r}); err != nil {
		return ACL{}, err
	}
	return a.aclOf(ctx, acct, m)
}

// UnshareMailbox removes the grantee's entries (those giving rights and
// those taking them away) from the access control list of an account's
// mailbox, as IMAP DELETEACL does for each (RFC 4314 §3.2).
func (a *Admin) UnshareMailbox(ctx context.Context, account, name, id string) (ACL, error) {
	acct, m, err := a.aclMailbox(ctx, account, name)
	if err != nil {
		return ACL{}, err
	}
	id, err = grantee(acct, id)
	if err != nil {
		return ACL{}, err
	}
	entries, err := a.st.MailboxACL(ctx, acct.ID, m.ID)
	if err != nil {
		return ACL{}, mailboxErr(acct, name, err)
	}
	found := false
	for _, e := range entries {
		if e.Identifier != id {
			continue
		}
		found = true
		if err := a.setACL(ctx, acct, m, store.ACLEntry{Identifier: id, Negative: e.Negative}); err != nil {
			return ACL{}, err
		}
	}
	if !found {
		return ACL{}, refusal(KindNotFound, "%s of %s is not shared with %s", m.Name, acct.Address, id)
	}
	return a.aclOf(ctx, acct, m)
}

// setACL sets one entry, with the store's refusals worded.
func (a *Admin) setACL(ctx context.Context, acct store.Account, m store.Mailbox, e store.ACLEntry) error {
	err := a.st.SetACL(ctx, acct.ID, m.ID, e)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if _, e2 := a.st.MailboxACL(ctx, acct.ID, m.ID); e2 != nil {
			return mailboxErr(acct, m.Name, e2)
		}
		return refusal(KindNotFound, "no account %s", e.Identifier)
	case errors.Is(err, store.ErrQuota):
		return refusal(KindRefused, "%s of %s has too many access control entries (at most %d)", m.Name, acct.Address, store.MaxACLEntries)
	case errors.Is(err, store.ErrInvalid):
		return refusal(KindRefused, "%s owns the mailbox and always holds every right", acct.Address)
	}
	return err
}
