package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"postel/internal/store"
)

var _ store.JunkStore = (*Store)(nil)

// AddJunkRule implements store.JunkStore.
func (s *Store) AddJunkRule(ctx context.Context, accountID int64, kind, pattern string) error {
	if kind != store.JunkAllow && kind != store.JunkBlock {
		return fmt.Errorf("%w: junk rule kind %q", store.ErrInvalid, kind)
	}
	p, err := store.CanonicalJunkPattern(pattern)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		if err := w.accountExists(accountID); err != nil {
			return err
		}
		var have string
		err := w.tx.QueryRowContext(w.ctx, `SELECT kind FROM junk_rules WHERE account_id = ? AND pattern = ?`, accountID, p).Scan(&have)
		if err == nil {
			return fmt.Errorf("%w: %s is already on the %s list", store.ErrExists, p, have)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var n int
		if err := w.tx.QueryRowContext(w.ctx, `SELECT COUNT(*) FROM junk_rules WHERE account_id = ?`, accountID).Scan(&n); err != nil {
			return err
		}
		if n >= store.MaxJunkRules {
			return fmt.Errorf("%w: an account has at most %d junk rules", store.ErrQuota, store.MaxJunkRules)
		}
		_, err = w.tx.ExecContext(w.ctx, `INSERT INTO junk_rules (account_id, pattern, kind, created) VALUES (?, ?, ?, ?)`,
			accountID, p, kind, time.Now().Unix())
		return err
	})
}

// DeleteJunkRule implements store.JunkStore.
func (s *Store) DeleteJunkRule(ctx context.Context, accountID int64, kind, pattern string) error {
	if kind != store.JunkAllow && kind != store.JunkBlock {
		return fmt.Errorf("%w: junk rule kind %q", store.ErrInvalid, kind)
	}
	p, err := store.CanonicalJunkPattern(pattern)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		res, err := w.tx.ExecContext(w.ctx, `DELETE FROM junk_rules WHERE account_id = ? AND pattern = ? AND kind = ?`, accountID, p, kind)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: %s is not on the %s list", store.ErrNotFound, p, kind)
		}
		return nil
	})
}

// JunkRules implements store.JunkStore.
func (s *Store) JunkRules(ctx context.Context, accountID int64) ([]store.JunkRule, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT kind, pattern, created FROM junk_rules WHERE account_id = ? ORDER BY kind, pattern`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.JunkRule
	for rows.Next() {
		var r store.JunkRule
		var created int64
		if err := rows.Scan(&r.Kind, &r.Pattern, &created); err != nil {
			return nil, err
		}
		r.Created = time.Unix(created, 0)
		out = append(out, r)
	}
	return out, rows.Err()
}

const reputationCols = `sender, spam, ham, last, updated`

func scanReputation(row interface{ Scan(...any) error }) (store.SenderReputation, error) {
	var r store.SenderReputation
	var updated int64
	err := row.Scan(&r.Sender, &r.Spam, &r.Ham, &r.Last, &updated)
	r.Updated = time.Unix(0, updated)
	return r, err
}

// Reputation implements store.JunkStore.
func (s *Store) Reputation(ctx context.Context, accountID int64, sender string) (store.SenderReputation, error) {
	addr, err := store.CanonicalSender(sender)
	if err != nil {
		return store.SenderReputation{}, err
	}
	r, err := scanReputation(s.rdb.QueryRowContext(ctx, `SELECT `+reputationCols+` FROM junk_reputation
		WHERE account_id = ? AND sender = ?`, accountID, addr))
	if errors.Is(err, sql.ErrNoRows) {
		return store.SenderReputation{}, nil
	}
	return r, err
}

// Reputations implements store.JunkStore.
func (s *Store) Reputations(ctx context.Context, accountID int64) ([]store.SenderReputation, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+reputationCols+` FROM junk_reputation WHERE account_id = ? ORDER BY sender`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.SenderReputation
	for rows.Next() {
		r, err := scanReputation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// TrainSender implements store.JunkStore.
func (s *Store) TrainSender(ctx context.Context, accountID int64, sender string, spam bool) error {
	addr, err := store.CanonicalSender(sender)
	if err != nil {
		return err
	}
	mark, spamN, hamN := store.MarkHam, 0, 1
	if spam {
		mark, spamN, hamN = store.MarkSpam, 1, 0
	}
	return s.write(ctx, func(w *wtx) error {
		if err := w.accountExists(accountID); err != nil {
			return err
		}
		var known int
		if err := w.tx.QueryRowContext(w.ctx, `SELECT COUNT(*) FROM junk_reputation WHERE account_id = ? AND sender = ?`,
			accountID, addr).Scan(&known); err != nil {
			return err
		}
		if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO junk_reputation (account_id, sender, spam, ham, last, updated)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (account_id, sender) DO UPDATE SET spam = spam + excluded.spam, ham = ham + excluded.ham,
				last = excluded.last, updated = excluded.updated`,
			accountID, addr, spamN, hamN, mark, time.Now().UnixNano()); err != nil {
			return err
		}
		if known > 0 {
			return nil
		}
		// A new sender: forget the least recently updated past the bound.
		var n int
		if err := w.tx.QueryRowContext(w.ctx, `SELECT COUNT(*) FROM junk_reputation WHERE account_id = ?`, accountID).Scan(&n); err != nil {
			return err
		}
		if over := n - s.maxReputations; over > 0 {
			_, err := w.tx.ExecContext(w.ctx, `DELETE FROM junk_reputation WHERE account_id = ? AND sender IN (
				SELECT sender FROM junk_reputation WHERE account_id = ? AND sender != ? ORDER BY updated, sender LIMIT ?)`,
				accountID, accountID, addr, over)
			return err
		}
		return nil
	})
}

// ClearReputation implements store.JunkStore.
func (s *Store) ClearReputation(ctx context.Context, accountID int64, sender string) error {
	addr, err := store.CanonicalSender(sender)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		res, err := w.tx.ExecContext(w.ctx, `DELETE FROM junk_reputation WHERE account_id = ? AND sender = ?`, accountID, addr)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: no reputation for %s", store.ErrNotFound, addr)
		}
		return nil
	})
}

// accountExists is ErrNotFound when there is no account id.
func (w *wtx) accountExists(id int64) error {
	var n int
	if err := w.tx.QueryRowContext(w.ctx, `SELECT COUNT(*) FROM accounts WHERE id = ?`, id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: account %d", store.ErrNotFound, id)
	}
	return nil
}
