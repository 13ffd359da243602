package sqlite

import (
	"context"
	"fmt"
	"time"

	"postel/internal/store"
)

// What the processes of one data dir share beside the mail, as the nodes
// of a PostgreSQL store do: named leases and failed logins (migration 11).

var (
	_ store.Leases        = (*Store)(nil)
	_ store.LoginFailures = (*Store)(nil)
)

// AcquireLease implements store.Leases: one statement takes the lease when
// it is free, ran out, or is owner's already (a renewal).
func (s *Store) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) error {
	if name == "" || owner == "" || ttl <= 0 {
		return fmt.Errorf("%w: lease %q for %q for %v", store.ErrInvalid, name, owner, ttl)
	}
	return s.write(ctx, func(w *wtx) error {
		now := time.Now()
		res, err := w.tx.ExecContext(w.ctx, `INSERT INTO leases AS l (name, owner, expires) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires = excluded.expires
			WHERE l.owner = excluded.owner OR l.expires <= ?`, name, owner, now.Add(ttl).UnixNano(), now.UnixNano())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: lease %s is held by another owner", store.ErrInUse, name)
		}
		return nil
	})
}

// ReleaseLease implements store.Leases.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	return s.write(ctx, func(w *wtx) error {
		_, err := w.tx.ExecContext(w.ctx, `DELETE FROM leases WHERE name = ? AND owner = ?`, name, owner)
		return err
	})
}

// AddLoginFailure implements store.LoginFailures; it forgets the day-old
// failures of the same source.
func (s *Store) AddLoginFailure(ctx context.Context, source, account string, at time.Time) error {
	return s.write(ctx, func(w *wtx) error {
		if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM login_failures WHERE at < ?`, at.Add(-store.LoginFailureKeep).UnixNano()); err != nil {
			return err
		}
		_, err := w.tx.ExecContext(w.ctx, `INSERT INTO login_failures (source, account, at) VALUES (?, ?, ?)`, source, account, at.UnixNano())
		return err
	})
}

// CountLoginFailures implements store.LoginFailures.
func (s *Store) CountLoginFailures(ctx context.Context, source string, since time.Time) (int, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM login_failures WHERE source = ? AND at >= ?`, source, since.UnixNano()).Scan(&n)
	return n, err
}

// ForgetLoginFailures implements store.LoginFailures.
func (s *Store) ForgetLoginFailures(ctx context.Context, source, account string) error {
	return s.write(ctx, func(w *wtx) error {
		_, err := w.tx.ExecContext(w.ctx, `DELETE FROM login_failures WHERE source = ? AND account = ?`, source, account)
		return err
	})
}

// forgetAccountFailures forgets every failure against the account (its
// credentials changed, or it was unlocked), in w's transaction.
func (w *wtx) forgetAccountFailures(addr string) error {
	_, err := w.tx.ExecContext(w.ctx, `DELETE FROM login_failures WHERE account = ?`, addr)
	return err
}
