package postgres

import (
	"context"
	"fmt"

	"postel/internal/store"
)

// METADATA annotations (RFC 5464, store.Metadata), in the metadata table
// (migration 6): mailbox_id 0 holds the account's server entries.

// Metadata implements store.Metadata.
func (s *Store) Metadata(ctx context.Context, accountID int64, mailbox string) ([]store.MetadataEntry, error) {
	var id int64
	if mailbox == "" {
		if _, err := s.AccountByID(ctx, accountID); err != nil {
			return nil, err
		}
	} else {
		// Only the ID: Mailbox would count and sum the mailbox's messages.
		name, err := store.CanonicalMailbox(mailbox)
		if err != nil {
			return nil, err
		}
		err = s.read(ctx, func(ctx context.Context, q querier) error {
			return q.QueryRow(ctx, `SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2`, accountID, name).Scan(&id)
		})
		if err != nil {
			return nil, notFound(err, "mailbox", name)
		}
	}
	var out []store.MetadataEntry
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		rows, err := q.Query(ctx, `SELECT name, value FROM metadata WHERE account_id = $1 AND mailbox_id = $2 ORDER BY name COLLATE "C"`, accountID, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e store.MetadataEntry
			if err := rows.Scan(&e.Name, &e.Value); err != nil {
				return err
			}
			if e.Value == nil {
				e.Value = []byte{}
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}

// SetMetadata implements store.Metadata. The account's row is locked, so
// concurrent writers of one account count its limits one after the other.
func (s *Store) SetMetadata(ctx context.Context, accountID int64, mailbox string, entries []store.MetadataEntry) error {
	if err := store.CheckMetadataSet(entries); err != nil {
		return err
	}
	if mailbox != "" {
		var err error
		if mailbox, err = store.CanonicalMailbox(mailbox); err != nil {
			return err
		}
	}
	return s.write(ctx, func(w *wtx) error {
		if err := w.lockAccounts(accountID); err != nil {
			return err
		}
		if _, err := w.account(accountID); err != nil {
			return err
		}
		var id int64
		if mailbox != "" {
			var err error
			if id, err = w.mailboxID(accountID, mailbox); err != nil {
				return err
			}
		}
		usage := func() (n, size int64, err error) {
			err = w.tx.QueryRow(w.ctx, `SELECT COUNT(*), COALESCE(SUM(octet_length(name) + octet_length(value)), 0)
				FROM metadata WHERE account_id = $1`, accountID).Scan(&n, &size)
			return n, size, err
		}
		n0, size0, err := usage()
		if err != nil {
			return err
		}
		changed := false
		for _, e := range entries {
			var q string
			args := []any{accountID, id, e.Name}
			if e.Value == nil {
				q = `DELETE FROM metadata WHERE account_id = $1 AND mailbox_id = $2 AND name = $3`
			} else {
				q = `INSERT INTO metadata (account_id, mailbox_id, name, value) VALUES ($1, $2, $3, $4)
					ON CONFLICT (account_id, mailbox_id, name) DO UPDATE SET value = excluded.value
					WHERE metadata.value IS DISTINCT FROM excluded.value`
				args = append(args, e.Value)
			}
			tag, err := w.tx.Exec(w.ctx, q, args...)
			if err != nil {
				return err
			}
			if tag.RowsAffected() > 0 {
				changed = true
			}
		}
		n1, size1, err := usage()
		if err != nil {
			return err
		}
		// Limits refuse growth only: an account over them (limits
		// lowered) can still remove and shrink.
		switch {
		case n1 > store.MaxMetadataEntries && n1 > n0:
			return fmt.Errorf("%w: %d entries", store.ErrMetadataTooMany, n1)
		case size1 > store.MaxMetadataTotal && size1 > size0:
			return fmt.Errorf("%w: metadata of %d octets", store.ErrQuota, size1)
		}
		if changed {
			w.changes = append(w.changes, store.Change{AccountID: accountID, MailboxID: id, Kind: store.ChangeMetadata})
		}
		return nil
	})
}
