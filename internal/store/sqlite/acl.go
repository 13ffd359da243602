package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"postel/internal/store"
)

// Access control lists (store.ACL): rows of acl, grantee_id 0 for anyone.

// SetACL implements store.ACL.
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
		var owner int64
		err := w.tx.QueryRowContext(w.ctx, `SELECT account_id FROM mailboxes WHERE id = ?`, mailboxID).Scan(&owner)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && owner != ownerID) {
			return fmt.Errorf("%w: mailbox %d of account %d", store.ErrNotFound, mailboxID, ownerID)
		} else if err != nil {
			return err
		}
		var grantee int64
		if id != store.Anyone {
			err := w.tx.QueryRowContext(w.ctx, `SELECT id FROM accounts WHERE address = ?`, id).Scan(&grantee)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%w: account %s", store.ErrNotFound, id)
			} else if err != nil {
				return err
			}
			if grantee == ownerID {
				return fmt.Errorf("%w: the owner's rights are not kept in the list", store.ErrInvalid)
			}
		}
		changed := true
		if rights == "" {
			var res sql.Result
			if res, err = w.tx.ExecContext(w.ctx, `DELETE FROM acl WHERE mailbox_id = ? AND grantee_id = ? AND negative = ?`,
				mailboxID, grantee, e.Negative); err == nil {
				n, _ := res.RowsAffected()
				changed = n > 0
			}
		} else {
			var n int
			err = w.tx.QueryRowContext(w.ctx, `SELECT COUNT(*) FROM acl WHERE mailbox_id = ? AND NOT (grantee_id = ? AND negative = ?)`,
				mailboxID, grantee, e.Negative).Scan(&n)
			if err == nil && n >= store.MaxACLEntries {
				return fmt.Errorf("%w: a mailbox has at most %d access control entries", store.ErrQuota, store.MaxACLEntries)
			}
			if err == nil {
				_, err = w.tx.ExecContext(w.ctx, `INSERT INTO acl (mailbox_id, grantee_id, negative, rights) VALUES (?, ?, ?, ?)
					ON CONFLICT (mailbox_id, grantee_id, negative) DO UPDATE SET rights = excluded.rights`,
					mailboxID, grantee, e.Negative, rights)
			}
		}
		if err != nil || !changed {
			return err
		}
		// Announced only when the list changed (a grantee's session
		// re-reads its rights on it).
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
	var owner int64
	err := s.rdb.QueryRowContext(ctx, `SELECT account_id FROM mailboxes WHERE id = ?`, mailboxID).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && owner != ownerID) {
		return nil, fmt.Errorf("%w: mailbox %d of account %d", store.ErrNotFound, mailboxID, ownerID)
	} else if err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT COALESCE(a.address, ''), acl.negative, acl.rights
		FROM acl LEFT JOIN accounts a ON a.id = acl.grantee_id
		WHERE acl.mailbox_id = ? AND (acl.grantee_id = 0 OR a.id IS NOT NULL) ORDER BY COALESCE(a.address, ''), acl.negative`, mailboxID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.ACLEntry
	for rows.Next() {
		var e store.ACLEntry
		if err := rows.Scan(&e.Identifier, &e.Negative, &e.Rights); err != nil {
			return nil, err
		}
		if e.Identifier == "" {
			e.Identifier = store.Anyone
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// SharedWith implements store.ACL.
func (s *Store) SharedWith(ctx context.Context, granteeID int64) ([]store.SharedMailbox, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT m.account_id, o.address, m.id, m.name, COALESCE(g.address, ''), acl.negative, acl.rights
		FROM acl JOIN mailboxes m ON m.id = acl.mailbox_id JOIN accounts o ON o.id = m.account_id
		LEFT JOIN accounts g ON g.id = acl.grantee_id
		WHERE acl.grantee_id IN (?, 0) AND m.account_id != ? AND (acl.grantee_id = 0 OR g.id IS NOT NULL)
		ORDER BY o.address, m.name, COALESCE(g.address, ''), acl.negative`, granteeID, granteeID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.SharedMailbox
	for rows.Next() {
		var sm store.SharedMailbox
		var e store.ACLEntry
		if err := rows.Scan(&sm.OwnerID, &sm.Owner, &sm.MailboxID, &sm.Name, &e.Identifier, &e.Negative, &e.Rights); err != nil {
			return nil, err
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
	return out, rows.Err()
}
