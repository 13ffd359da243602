package storecopy

import (
	"context"
	"errors"
	"fmt"

	"postel/internal/store"
)

// acls copies the access control lists of the copied mailboxes (IMAP ACL,
// RFC 4314), once every account is there: a grantee may come after its
// owner. Setting an entry to what it is changes nothing, so a second run
// adds nothing twice.
func (c *copier) acls(ctx context.Context) error {
	for _, a := range c.src {
		to := c.ids[a.ID]
		for _, mb := range a.mailboxes {
			entries, err := c.from.MailboxACL(ctx, a.ID, mb.ID)
			if errors.Is(err, store.ErrNotFound) {
				continue // deleted since the plan
			} else if err != nil {
				return fmt.Errorf("storecopy: access control list of %s of %s: %w", mb.Name, a.Address, err)
			}
			if len(entries) == 0 {
				continue
			}
			tmb, err := c.to.Mailbox(ctx, to, mb.Name)
			if err != nil {
				return fmt.Errorf("storecopy: mailbox %s of %s: %w", mb.Name, a.Address, err)
			}
			for _, e := range entries {
				if err := c.to.SetACL(ctx, to, tmb.ID, e); err != nil {
					return fmt.Errorf("storecopy: access control list of %s of %s: %w", mb.Name, a.Address, err)
				}
			}
		}
	}
	return nil
}

// verifyACL compares the access control lists of a mailbox.
func (c *copier) verifyACL(ctx context.Context, d *diffs, what string, fromAcct, fromMB, toAcct, toMB int64) error {
	src, err := c.from.MailboxACL(ctx, fromAcct, fromMB)
	if err != nil {
		return err
	}
	dst, err := c.to.MailboxACL(ctx, toAcct, toMB)
	if err != nil {
		return err
	}
	c.rep.ACLEntries += len(src)
	check(d, what+" access control list", fmt.Sprint(src), fmt.Sprint(dst))
	return nil
}
