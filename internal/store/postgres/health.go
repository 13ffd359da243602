package postgres

import (
	"context"
	"time"
)

// Ping implements store.Pinger: SELECT 1 on the pool, and ErrClosed once
// the store is closed.
func (s *Store) Ping(ctx context.Context) error {
	return s.read(ctx, func(ctx context.Context, q querier) error {
		var one int
		return q.QueryRow(ctx, `SELECT 1`).Scan(&one)
	})
}

// QueueStats implements store.QueueStatser with one aggregate over the
// queue table.
func (s *Store) QueueStats(ctx context.Context) (int, time.Time, error) {
	var n int
	var oldest int64
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		return q.QueryRow(ctx, `SELECT COUNT(*), COALESCE(MIN(created), 0) FROM queue`).Scan(&n, &oldest)
	})
	if err != nil || n == 0 {
		return n, time.Time{}, err
	}
	return n, time.Unix(oldest, 0), nil
}
