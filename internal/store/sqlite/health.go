package sqlite

import (
	"context"
	"time"

	"postel/internal/store"
)

var (
	_ store.Pinger       = (*Store)(nil)
	_ store.QueueStatser = (*Store)(nil)
)

// Ping implements store.Pinger: a trivial read on the read pool, and
// ErrClosed once Close has stopped the writer.
func (s *Store) Ping(ctx context.Context) error {
	select {
	case <-s.quit:
		return ErrClosed
	default:
	}
	var one int
	return s.rdb.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
}

// QueueStats implements store.QueueStatser with one aggregate over the
// queue table (a few rows, or a few thousand on a busy day).
func (s *Store) QueueStats(ctx context.Context) (int, time.Time, error) {
	var n int
	var oldest int64
	err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MIN(created), 0) FROM queue`).Scan(&n, &oldest)
	if err != nil || n == 0 {
		return n, time.Time{}, err
	}
	return n, time.Unix(oldest, 0), nil
}
