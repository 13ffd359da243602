package postgres

import (
	"context"
	"fmt"
	"time"

	"postel/internal/store"
)

// What the nodes of a cluster share beside the mail: leases and failed
// logins (migration 3).

var (
	_ store.Leases        = (*Store)(nil)
	_ store.LoginFailures = (*Store)(nil)
)

// AcquireLease implements store.Leases: one statement takes the lease when
// it is free, ran out, or is owner's already (a renewal). Expiry is judged
// by the database's clock, the one clock every node shares.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) error {
	if name == "" || owner == "" || ttl <= 0 {
		return fmt.Errorf("%w: lease %q for %q for %v", store.ErrInvalid, name, owner, ttl)
	}
	return s.write(ctx, func(w *wtx) error {
		tag, err := w.tx.Exec(w.ctx, `INSERT INTO leases AS l (name, owner, expires) VALUES ($1, $2, now() + make_interval(secs => $3))
			ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires = excluded.expires
			WHERE l.owner = excluded.owner OR l.expires <= now()`, name, owner, ttl.Seconds())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: lease %s is held by another owner", store.ErrInUse, name)
		}
		return nil
	})
}

// ReleaseLease implements store.Leases.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	return s.write(ctx, func(w *wtx) error {
		_, err := w.tx.Exec(w.ctx, `DELETE FROM leases WHERE name = $1 AND owner = $2`, name, owner)
		return err
	})
}

// AddLoginFailure implements store.LoginFailures.
func (s *Store) AddLoginFailure(ctx context.Context, source, account string, at time.Time) error {
	return s.write(ctx, func(w *wtx) error {
		_, err := w.tx.Exec(w.ctx, `INSERT INTO login_failures (source, account, at) VALUES ($1, $2, $3)`, source, account, at.UnixNano())
		return err
	})
}

// CountLoginFailures implements store.LoginFailures.
func (s *Store) CountLoginFailures(ctx context.Context, source string, since time.Time) (int, error) {
	var n int
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		return q.QueryRow(ctx, `SELECT COUNT(*) FROM login_failures WHERE source = $1 AND at >= $2`, source, since.UnixNano()).Scan(&n)
	})
	return n, err
}

// ForgetLoginFailures implements store.LoginFailures.
func (s *Store) ForgetLoginFailures(ctx context.Context, source, account string) error {
	return s.write(ctx, func(w *wtx) error {
		_, err := w.tx.Exec(w.ctx, `DELETE FROM login_failures WHERE source = $1 AND account = $2`, source, account)
		return err
	})
}

// forgetAccountFailures forgets every failure against the account (its
// credentials changed, or it was unlocked), in w's transaction.
func (w *wtx) forgetAccountFailures(addr string) error {
	_, err := w.tx.Exec(w.ctx, `DELETE FROM login_failures WHERE account = $1`, addr)
	return err
}

// pruneShared forgets old failed logins and leases long run out.
func (s *Store) pruneShared(ctx context.Context, now time.Time) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM login_failures WHERE at < $1`, now.Add(-store.LoginFailureKeep).UnixNano()); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE expires < now() - interval '1 hour'`)
	return err
}
