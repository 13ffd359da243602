package store

import (
	"context"
	"fmt"
	"strings"
)

// ACLRights are the rights of RFC 4314 §2.1 a mailbox's access control
// list can grant, in the order every rights string is written: l lookup,
// r read, s keep \Seen, w write other flags, i insert, p post, k create
// mailboxes, x delete the mailbox, t delete messages, e expunge, a
// administer.
const ACLRights = "lrswipkxtea"

// Anyone is the identifier of RFC 4314 §2 that names every user: here,
// every authenticated user of this server (there are no anonymous logins).
const Anyone = "anyone"

// MaxACLEntries bounds the entries of one mailbox's access control list.
const MaxACLEntries = 100

// ACLEntry is one entry of a mailbox's access control list (RFC 4314 §2).
type ACLEntry struct {
	// Identifier is an account's address (canonical) or Anyone.
	Identifier string
	// Negative entries take rights away ("-identifier", RFC 4314 §2).
	Negative bool
	// Rights are letters of ACLRights, in that order.
	Rights string
}

// SharedMailbox is a mailbox of one account that another may reach: its
// access control list has entries naming the other account or Anyone.
type SharedMailbox struct {
	OwnerID   int64
	Owner     string // the owner's address
	MailboxID int64
	Name      string // as the owner names it
	// Entries are those of the list naming the grantee or Anyone.
	Entries []ACLEntry
}

// ACL keeps the access control lists of mailboxes (RFC 4314): what an
// account grants other accounts of this server on its mailboxes. The
// owner's own rights are not kept: an owner always has every right. An
// entry follows its mailbox through RENAME and goes when the mailbox, its
// owner or its grantee is deleted.
type ACL interface {
	// SetACL sets the entry of e.Identifier (and e.Negative) on the
	// owner's mailbox to e.Rights, or removes it when e.Rights is "";
	// it announces a ChangeMailbox to the owner's account, so that the
	// sessions reaching the mailbox read their rights again, and a
	// ChangeShared to the grantee's account (not for Anyone), whose
	// sessions may not follow the owner's.
	// ErrNotFound: no such mailbox of ownerID, or no account of that
	// address; ErrInvalid: rights outside ACLRights, or an entry naming
	// the owner; ErrQuota past MaxACLEntries.
	SetACL(ctx context.Context, ownerID, mailboxID int64, e ACLEntry) error
	// MailboxACL lists the entries of the owner's mailbox by identifier
	// (Anyone first), positive before negative; ErrNotFound for no such
	// mailbox of ownerID.
	MailboxACL(ctx context.Context, ownerID, mailboxID int64) ([]ACLEntry, error)
	// SharedWith lists the mailboxes of other accounts whose list has
	// entries naming the grantee or Anyone, by owner address and name.
	SharedWith(ctx context.Context, granteeID int64) ([]SharedMailbox, error)
}

// CanonicalRights checks that rights are letters of ACLRights and
// returns them once each, in ACLRights order.
func CanonicalRights(rights string) (string, error) {
	var b strings.Builder
	for _, c := range ACLRights {
		if strings.ContainsRune(rights, c) {
			b.WriteRune(c)
		}
	}
	for _, c := range rights {
		if !strings.ContainsRune(ACLRights, c) {
			return "", fmt.Errorf("%w: right %q", ErrInvalid, c)
		}
	}
	return b.String(), nil
}

// ParseRights reads a rights string of a command granting rights (IMAP
// SETACL, RFC 4314 §3.1, without its "+" or "-"; postel mailbox share):
// letters of ACLRights and the obsolete "c" and "d" (RFC 4314 §2.1.1).
// Of the two groups of servers the RFC describes, Postel is of the first,
// as Dovecot and Cyrus (by default) are and as the RFC's examples read:
// "c" is k and x, "d" is t and e. It returns the rights as the list keeps
// them (ACLRights order, each once); ErrInvalid for any other character.
func ParseRights(rights string) (string, error) {
	var expanded strings.Builder
	for _, c := range rights {
		switch {
		case strings.ContainsRune(ACLRights, c):
			expanded.WriteRune(c)
		case c == 'c':
			expanded.WriteString("kx")
		case c == 'd':
			expanded.WriteString("te")
		default:
			return "", fmt.Errorf("%w: right %q (rights are letters of %s, and c or d)", ErrInvalid, c, ACLRights)
		}
	}
	return CanonicalRights(expanded.String())
}

// CanonicalIdentifier returns an ACL identifier in its stored form:
// Anyone, or a canonical account address.
func CanonicalIdentifier(id string) (string, error) {
	if strings.EqualFold(id, Anyone) {
		return Anyone, nil
	}
	return CanonicalAddress(id, false)
}
