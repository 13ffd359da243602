package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"postel/internal/store"
)

// Access control lists (store.ACL): rows of acl, grantee_id 0 for anyone.

// SetACL implements store.ACL. The owner's account is locked first, as
// DeleteMailbox and DeleteAccount lock it, so that they and SetACL take
// turns (and two nodes cannot both pass MaxACLEntries); the grantee's row
// is locked FOR KEY SHARE, so that its DeleteAccount waits and then
// removes the entry with the rest.
func (s *Store) SetACL(ctx context.Context, ownerID, mailboxID int64, e store.ACLEntry) error {
	id, err := store.CanonicalIdentifier(e.Identifier)
	if err != nil {
		return err
	}
	rights, err := store.CanonicalRights(e.Rights)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		if err := w.lockAccounts(ownerID); err != nil {
			return err
		}
		if _, err := w.account(ownerID); err != nil {
			return err
		}
		var owner int64
		err := w.tx.QueryRow(w.ctx, `SELECT account_id FROM mailboxes WHERE id = $1 FOR KEY SHARE`, mailboxID).Scan(&owner)
		if err == nil && owner != ownerID {
			err = pgx.ErrNoRows
		}
		if err != nil {
			return notFound(err, "mailbox", mailboxID)
		}
		var grantee int64
		if id != store.Anyone {
			err := w.tx.QueryRow(w.ctx, `SELECT id FROM accounts WHERE address = $1 FOR KEY SHARE`, id).Scan(&grantee)
			if err != nil {
				return notFound(err, "account", id)
			}
			if grantee == ownerID {
				return fmt.Errorf("%w: the owner's rights are not kept in the list", store.ErrInvalid)
			}
		}
		changed := true
		if rights == "" {
			var tag pgconn.CommandTag
			tag, err = w.tx.Exec(w.ctx, `DELETE FROM acl WHERE mailbox_id = $1 AND grantee_id = $2 AND negative = $3`,
				mailboxID, grantee, e.Negative)
			changed = tag.RowsAffected() > 0
		} else {
			var n int
			err = w.tx.QueryRow(w.ctx, `SELECT COUNT(*) FROM acl WHERE mailbox_id = $1 AND NOT (grantee_id = $2 AND negative = $3)`,
				mailboxID, grantee, e.Negative).Scan(&n)
			if err == nil && n >= store.MaxACLEntries {
				return fmt.Errorf("%w: a mailbox has at most %d access control entries", store.ErrQuota, store.MaxACLEntries)
			}
			if err == nil {
				_, err = w.tx.Exec(w.ctx, `INSERT INTO acl (mailbox_id, grantee_id, negative, rights) VALUES ($1, $2, $3, $4)
					ON CONFLICT (mailbox_id, grantee_id, negative) DO UPDATE SET rights = excluded.rights`,
					mailboxID, grantee, e.Negative, rights)
			}
		}
		if err != nil || !changed {
			return err
		}
		w.changes = append(w.changes, store.Change{AccountID: ownerID, MailboxID: mailboxID, Kind: store.ChangeMailbox})
		if grantee != 0 {
			// The grantee's sessions may follow no feed of the
			// owner's (NOTIFY of mailboxes shared with them).
			w.changes = append(w.changes, store.Change{AccountID: grantee, Kind: store.ChangeShared})
		}
		return nil
	})
}

// MailboxACL implements store.ACL.
func (s *Store) MailboxACL(ctx context.Context, ownerID, mailboxID int64) ([]store.ACLEntry, error) {
	var out []store.ACLEntry
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		var owner int64
		err := q.QueryRow(ctx, `SELECT account_id FROM mailboxes WHERE id = $1`, mailboxID).Scan(&owner)
		if err == nil && owner != ownerID {
			err = pgx.ErrNoRows
		}
		if err != nil {
			return notFound(err, "mailbox", mailboxID)
		}
		// "anyone" is grantee 0 alone: a row whose grantee is gone is
		// never read as anyone's (it must not open the mailbox to all).
		rows, err := q.Query(ctx, `SELECT COALESCE(a.address, ''), acl.negative, acl.rights
			FROM acl LEFT JOIN accounts a ON a.id = acl.grantee_id
			WHERE acl.mailbox_id = $1 AND (acl.grantee_id = 0 OR a.id IS NOT NULL)
			ORDER BY COALESCE(a.address, '') COLLATE "C", acl.negative`, mailboxID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanACLEntry)
		return err
	})
	return out, err
}

func scanACLEntry(r pgx.CollectableRow) (store.ACLEntry, error) {
	var e store.ACLEntry
	err := r.Scan(&e.Identifier, &e.Negative, &e.Rights)
	if e.Identifier == "" {
		e.Identifier = store.Anyone
	}
	return e, err
}

// SharedWith implements store.ACL.
func (s *Store) SharedWith(ctx context.Context, granteeID int64) ([]store.SharedMailbox, error) {
	var out []store.SharedMailbox
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		out = out[:0]
		rows, err := q.Query(ctx, `SELECT m.account_id, o.address, m.id, m.name, COALESCE(g.address, ''), acl.negative, acl.rights
			FROM acl JOIN mailboxes m ON m.id = acl.mailbox_id JOIN accounts o ON o.id = m.account_id
			LEFT JOIN accounts g ON g.id = acl.grantee_id
			WHERE acl.grantee_id IN ($1, 0) AND m.account_id <> $1 AND (acl.grantee_id = 0 OR g.id IS NOT NULL)
			ORDER BY o.address COLLATE "C", m.name COLLATE "C", COALESCE(g.address, '') COLLATE "C", acl.negative`, granteeID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var sm store.SharedMailbox
			var e store.ACLEntry
			if err := rows.Scan(&sm.OwnerID, &sm.Owner, &sm.MailboxID, &sm.Name, &e.Identifier, &e.Negative, &e.Rights); err != nil {
				return err
			}
			if e.Identifier == "" {
				e.Identifier = store.Anyone
			}
			if n := len(out); n > 0 && out[n-1].MailboxID == sm.MailboxID {
				out[n-1].Entries = append(out[n-1].Entries, e)
				continue
			}
			sm.Entries = []store.ACLEntry{e}
			out = append(out, sm)
		}
		return rows.Err()
	})
	return out, err
}
