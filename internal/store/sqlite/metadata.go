package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"postel/internal/store"
)

// METADATA annotations (RFC 5464, store.Metadata), in the metadata table
// (migration 12): mailbox_id 0 holds the account's server entries.

// metadataMailbox resolves mailbox ("" for the server entries) to its ID,
// 0 for the server; ErrNotFound for no such account or mailbox.
func (s *Store) metadataMailbox(ctx context.Context, accountID int64, mailbox string) (int64, error) {
	if mailbox == "" {
		var n int
		if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE id = ?`, accountID).Scan(&n); err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
		}
		return 0, nil
	}
	// Only the ID: Mailbox would count and sum the mailbox's messages.
	name, err := store.CanonicalMailbox(mailbox)
	if err != nil {
		return 0, err
	}
	var id int64
	err = s.rdb.QueryRowContext(ctx, `SELECT id FROM mailboxes WHERE account_id = ? AND name = ?`, accountID, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: mailbox %s", store.ErrNotFound, name)
	}
	return id, err
}

// Metadata implements store.Metadata.
func (s *Store) Metadata(ctx context.Context, accountID int64, mailbox string) ([]store.MetadataEntry, error) {
	id, err := s.metadataMailbox(ctx, accountID, mailbox)
	if err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT name, value FROM metadata WHERE account_id = ? AND mailbox_id = ? ORDER BY name`, accountID, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.MetadataEntry
	for rows.Next() {
		var e store.MetadataEntry
		if err := rows.Scan(&e.Name, &e.Value); err != nil {
			return nil, err
		}
		if e.Value == nil {
			e.Value = []byte{}
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// SetMetadata implements store.Metadata.
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
		var id int64
		if mailbox == "" {
			var n int
			if err := w.tx.QueryRowContext(w.ctx, `SELECT COUNT(*) FROM accounts WHERE id = ?`, accountID).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
			}
		} else {
			var err error
			if id, err = w.mailboxID(accountID, mailbox); err != nil {
				return err
			}
		}
		usage := func() (n, size int64, err error) {
			err = w.tx.QueryRowContext(w.ctx, `SELECT COUNT(*), COALESCE(SUM(length(CAST(name AS BLOB)) + length(value)), 0)
				FROM metadata WHERE account_id = ?`, accountID).Scan(&n, &size)
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
				q = `DELETE FROM metadata WHERE account_id = ? AND mailbox_id = ? AND name = ?`
			} else {
				q = `INSERT INTO metadata (account_id, mailbox_id, name, value) VALUES (?, ?, ?, ?)
					ON CONFLICT (account_id, mailbox_id, name) DO UPDATE SET value = excluded.value WHERE value != excluded.value`
				args = append(args, e.Value)
			}
			res, err := w.tx.ExecContext(w.ctx, q, args...)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
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
