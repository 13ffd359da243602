package admin

import (
	"context"
	"errors"

	"postel/internal/store"
)

// Mailbox is one mailbox of an account with its counts.
type Mailbox struct {
	Account    string `json:"account"`
	Name       string `json:"name"`
	Role       string `json:"role"` // RFC 6154 special use, "" for none
	Messages   int    `json:"messages"`
	Unseen     int    `json:"unseen"`
	Size       int64  `json:"size"`
	Subscribed bool   `json:"subscribed"`
}

func mailboxOf(account string, m store.Mailbox) Mailbox {
	return Mailbox{Account: account, Name: m.Name, Role: m.SpecialUse, Messages: m.Messages, Unseen: m.Unseen, Size: m.Size, Subscribed: m.Subscribed}
}

// mailboxErr words a store error about the mailbox name of acct.
func mailboxErr(acct store.Account, name string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return refusal(KindNotFound, "%s has no mailbox %s", acct.Address, name)
	case errors.Is(err, store.ErrExists):
		return refusal(KindExists, "%s already has a mailbox %s", acct.Address, name)
	case errors.Is(err, store.ErrQuota):
		return refusal(KindRefused, "%s has too many mailboxes (at most %d)", acct.Address, store.MaxMailboxes)
	case errors.Is(err, store.ErrInvalid):
		return refusal(KindInvalid, "bad mailbox name %q (\"/\" separates levels; no empty level)", name)
	}
	return err
}

// Mailboxes lists an account's mailboxes by name.
func (a *Admin) Mailboxes(ctx context.Context, account string) ([]Mailbox, error) {
	acct, err := a.account(ctx, account)
	if err != nil {
		return nil, err
	}
	all, err := a.st.ListMailboxes(ctx, acct.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Mailbox, 0, len(all))
	for _, m := range all {
		out = append(out, mailboxOf(acct.Address, m))
	}
	return out, nil
}

// CreateMailbox creates a mailbox ("/" separates levels), subscribed, as
// the account's default mailboxes are: the user did not make it, and
// clients that show only subscribed mailboxes would hide it. IMAP
// sessions of the account see it in their next LIST or LSUB.
func (a *Admin) CreateMailbox(ctx context.Context, account, name string) (Mailbox, error) {
	acct, err := a.account(ctx, account)
	if err != nil {
		return Mailbox{}, err
	}
	m, err := a.st.CreateMailbox(ctx, acct.ID, name, "")
	if err != nil {
		return Mailbox{}, mailboxErr(acct, name, err)
	}
	if err := a.st.SetSubscribed(ctx, acct.ID, m.Name, true); err != nil {
		return Mailbox{}, mailboxErr(acct, name, err)
	}
	m.Subscribed = true
	return mailboxOf(acct.Address, m), nil
}

// DeleteMailbox deletes a mailbox with its messages; its children stay.
// A special-use mailbox (Sent, Drafts, Trash, Junk, Archive) needs force:
// clients rely on them, and deleting one by a slip of the keyboard loses
// what it holds. IMAP sessions that have it selected are told and end
// (RFC 2180 §3: the server may close them).
func (a *Admin) DeleteMailbox(ctx context.Context, account, name string, force bool) (Mailbox, error) {
	acct, err := a.account(ctx, account)
	if err != nil {
		return Mailbox{}, err
	}
	m, err := a.st.Mailbox(ctx, acct.ID, name)
	if err != nil {
		return Mailbox{}, mailboxErr(acct, name, err)
	}
	if m.Name == "INBOX" {
		return Mailbox{}, refusal(KindRefused, "the INBOX of %s cannot be deleted", acct.Address)
	}
	if m.SpecialUse != "" && !force {
		return Mailbox{}, refusal(KindRefused, "%s is the %s mailbox of %s: add --force to delete it with its %d messages",
			m.Name, m.SpecialUse, acct.Address, m.Messages)
	}
	if err := a.st.DeleteMailbox(ctx, acct.ID, m.Name); err != nil {
		return Mailbox{}, mailboxErr(acct, name, err)
	}
	return mailboxOf(acct.Address, m), nil
}
