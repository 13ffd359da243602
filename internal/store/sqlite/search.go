package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"postel/internal/store"
)

// notFound turns sql.ErrNoRows into store.ErrNotFound naming what.
func notFound(err error, what string, id int64) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %s %d", store.ErrNotFound, what, id)
	}
	return err
}

// SearchText implements store.Store with the FTS5 trigram index: each
// term of 3 or more characters becomes a quoted phrase, which the trigram
// tokenizer matches as a case-insensitive substring. Shorter terms cannot
// be looked up; the caller's exact check handles them.
func (s *Store) SearchText(ctx context.Context, accountID, mailboxID int64, terms []string, withHeaders bool) ([]uint32, bool, error) {
	if err := checkMailbox(ctx, s.rdb, accountID, mailboxID); err != nil {
		return nil, false, err
	}
	col := "body"
	if withHeaders {
		col = "{headers body}"
	}
	var parts []string
	for _, t := range terms {
		if utf8.RuneCountInString(t) < 3 {
			continue
		}
		parts = append(parts, col+` : "`+strings.ReplaceAll(t, `"`, `""`)+`"`)
	}
	if len(parts) == 0 {
		return nil, false, nil
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT uid FROM messages WHERE mailbox_id = ? AND blob_id IN
		(SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?) ORDER BY uid`, mailboxID, strings.Join(parts, " AND "))
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var uids []uint32
	for rows.Next() {
		var u uint32
		if err := rows.Scan(&u); err != nil {
			return nil, false, err
		}
		uids = append(uids, u)
	}
	return uids, true, rows.Err()
}

// Usage implements store.Store.
func (s *Store) Usage(ctx context.Context, accountID int64) (bytes, messages int64, err error) {
	err = s.rdb.QueryRowContext(ctx, `SELECT a.used_bytes, (SELECT COUNT(*) FROM messages msg JOIN mailboxes m ON m.id = msg.mailbox_id
		WHERE m.account_id = a.id) FROM accounts a WHERE a.id = ?`, accountID).Scan(&bytes, &messages)
	return bytes, messages, notFound(err, "account", accountID)
}
