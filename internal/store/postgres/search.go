package postgres

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// likeEscaper makes a term a literal for LIKE (whose escape character is
// the backslash).
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// SearchText implements store.Store with LIKE '%term%' over the lower-cased
// text of the bodies (blob_text), which the trigram indexes answer for
// terms of 3 or more characters. Shorter terms cannot be looked up; the
// caller's exact check handles them.
func (s *Store) SearchText(ctx context.Context, accountID, mailboxID int64, terms []string, withHeaders bool) ([]uint32, bool, error) {
	var conds []string
	var args []any
	args = append(args, mailboxID, accountID)
	for _, t := range terms {
		if utf8.RuneCountInString(t) < 3 {
			continue
		}
		args = append(args, "%"+likeEscaper.Replace(searchFold(t))+"%")
		p := fmt.Sprintf("$%d", len(args))
		if withHeaders {
			conds = append(conds, "(t.body LIKE "+p+" OR t.headers LIKE "+p+")")
		} else {
			conds = append(conds, "t.body LIKE "+p)
		}
	}
	var uids []uint32
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		if err := checkMailbox(ctx, q, accountID, mailboxID); err != nil {
			return err
		}
		if len(conds) == 0 {
			return nil
		}
		rows, err := q.Query(ctx, `SELECT msg.uid FROM messages msg JOIN blob_text t ON t.blob_id = msg.blob_id
			JOIN mailboxes m ON m.id = msg.mailbox_id
			WHERE msg.mailbox_id = $1 AND m.account_id = $2 AND `+strings.Join(conds, " AND ")+` ORDER BY msg.uid`, args...)
		if err != nil {
			return err
		}
		uids, err = pgx.CollectRows(rows, pgx.RowTo[uint32])
		return err
	})
	if err != nil || len(conds) == 0 {
		return nil, false, err
	}
	return uids, true, nil
}

// Usage implements store.Store.
func (s *Store) Usage(ctx context.Context, accountID int64) (bytes, messages int64, err error) {
	err = s.read(ctx, func(ctx context.Context, q querier) error {
		err := q.QueryRow(ctx, `SELECT a.used_bytes, (SELECT COUNT(*) FROM messages msg JOIN mailboxes m ON m.id = msg.mailbox_id
			WHERE m.account_id = a.id) FROM accounts a WHERE a.id = $1`, accountID).Scan(&bytes, &messages)
		return notFound(err, "account", accountID)
	})
	return bytes, messages, err
}
