package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"postel/internal/store"
)

// AddJunkRule implements store.JunkStore. The account's lock makes the
// count and the insert one step, on any node.
func (s *Store) AddJunkRule(ctx context.Context, accountID int64, kind, pattern string) error {
	if kind != store.JunkAllow && kind != store.JunkBlock {
		return fmt.Errorf("%w: junk rule kind %q", store.ErrInvalid, kind)
	}
	p, err := store.CanonicalJunkPattern(pattern)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		if err := w.lockAccounts(accountID); err != nil {
			return err
		}
		if _, err := w.account(accountID); err != nil {
			return err
		}
		var have string
		err := w.tx.QueryRow(w.ctx, `SELECT kind FROM junk_rules WHERE account_id = $1 AND pattern = $2`, accountID, p).Scan(&have)
		if err == nil {
			return fmt.Errorf("%w: %s is already on the %s list", store.ErrExists, p, have)
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var n int
		if err := w.tx.QueryRow(w.ctx, `SELECT COUNT(*) FROM junk_rules WHERE account_id = $1`, accountID).Scan(&n); err != nil {
			return err
		}
		if n >= store.MaxJunkRules {
			return fmt.Errorf("%w: an account has at most %d junk rules", store.ErrQuota, store.MaxJunkRules)
		}
		_, err = w.tx.Exec(w.ctx, `INSERT INTO junk_rules (account_id, pattern, kind, created) VALUES ($1, $2, $3, $4)`,
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
		tag, err := w.tx.Exec(w.ctx, `DELETE FROM junk_rules WHERE account_id = $1 AND pattern = $2 AND kind = $3`, accountID, p, kind)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: %s is not on the %s list", store.ErrNotFound, p, kind)
		}
		return nil
	})
}

// JunkRules implements store.JunkStore.
func (s *Store) JunkRules(ctx context.Context, accountID int64) ([]store.JunkRule, error) {
	var out []store.JunkRule
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		rows, err := q.Query(ctx, `SELECT kind, pattern, created FROM junk_rules WHERE account_id = $1
			ORDER BY kind COLLATE "C", pattern COLLATE "C"`, accountID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.JunkRule, error) {
			var j store.JunkRule
			var created int64
			err := r.Scan(&j.Kind, &j.Pattern, &created)
			j.Created = time.Unix(created, 0)
			return j, err
		})
		return err
	})
	return out, err
}

const reputationCols = `sender, spam, ham, last, updated`

func scanReputation(row pgx.Row) (store.SenderReputation, error) {
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
	var r store.SenderReputation
	err = s.read(ctx, func(ctx context.Context, q querier) error {
		var err error
		r, err = scanReputation(q.QueryRow(ctx, `SELECT `+reputationCols+` FROM junk_reputation
			WHERE account_id = $1 AND sender = $2`, accountID, addr))
		if errors.Is(err, pgx.ErrNoRows) {
			r, err = store.SenderReputation{}, nil
		}
		return err
	})
	return r, err
}

// Reputations implements store.JunkStore.
func (s *Store) Reputations(ctx context.Context, accountID int64) ([]store.SenderReputation, error) {
	var out []store.SenderReputation
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		rows, err := q.Query(ctx, `SELECT `+reputationCols+` FROM junk_reputation WHERE account_id = $1 ORDER BY sender COLLATE "C"`, accountID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.SenderReputation, error) { return scanReputation(r) })
		return err
	})
	return out, err
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
		if err := w.lockAccounts(accountID); err != nil {
			return err
		}
		if _, err := w.account(accountID); err != nil {
			return err
		}
		var inserted bool
		if err := w.tx.QueryRow(w.ctx, `INSERT INTO junk_reputation AS r (account_id, sender, spam, ham, last, updated)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (account_id, sender) DO UPDATE SET spam = r.spam + excluded.spam, ham = r.ham + excluded.ham,
				last = excluded.last, updated = excluded.updated
			RETURNING xmax = 0`,
			accountID, addr, spamN, hamN, mark, time.Now().UnixNano()).Scan(&inserted); err != nil {
			return err
		}
		if !inserted {
			return nil
		}
		// A new sender: forget the least recently updated past the bound.
		var n int
		if err := w.tx.QueryRow(w.ctx, `SELECT COUNT(*) FROM junk_reputation WHERE account_id = $1`, accountID).Scan(&n); err != nil {
			return err
		}
		if over := n - s.maxReputations; over > 0 {
			_, err := w.tx.Exec(w.ctx, `DELETE FROM junk_reputation WHERE account_id = $1 AND sender IN (
				SELECT sender FROM junk_reputation WHERE account_id = $1 AND sender <> $2 ORDER BY updated, sender COLLATE "C" LIMIT $3)`,
				accountID, addr, over)
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
		tag, err := w.tx.Exec(w.ctx, `DELETE FROM junk_reputation WHERE account_id = $1 AND sender = $2`, accountID, addr)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: no reputation for %s", store.ErrNotFound, addr)
		}
		return nil
	})
}
