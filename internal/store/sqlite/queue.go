package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"postel/internal/store"
)

// sentLogKeep is how long sent_log rows are kept.
const sentLogKeep = 48 * time.Hour

// enqueue stores an outbound message for its remote recipients.
func (w *wtx) enqueue(q *store.QueueEntry, blobID, bodySize int64, now time.Time) (int64, error) {
	size := int64(len(q.Prefix)) + bodySize
	next := q.NextAttempt
	if next.IsZero() {
		next = now
	}
	res, err := w.tx.ExecContext(w.ctx, `INSERT INTO queue (account_id, mail_from, blob_id, prefix, size, dsn_ret, dsn_envid,
		requiretls, smtputf8, body8bit, created, next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		q.AccountID, q.From, blobID, nonNil(q.Prefix), size, q.DSNRet, q.DSNEnvID, q.RequireTLS, q.SMTPUTF8, q.Body8Bit, now.Unix(), next.Unix())
	if err != nil {
		return 0, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	for _, r := range q.Recipients {
		if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO queue_rcpts (queue_id, address, notify, orcpt, last_change)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, id, r.Address, strings.Join(r.Notify, ","), r.ORcpt, now.Unix()); err != nil {
			return 0, err
		}
	}
	if q.AccountID != 0 {
		if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM sent_log WHERE account_id = ? AND created < ?`,
			q.AccountID, now.Add(-sentLogKeep).Unix()); err != nil {
			return 0, err
		}
		if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO sent_log (account_id, created, rcpts) VALUES (?, ?, ?)`,
			q.AccountID, now.Unix(), len(q.Recipients)); err != nil {
			return 0, err
		}
	}
	return id, nil
}

const queueCols = `id, account_id, mail_from, size, dsn_ret, dsn_envid, requiretls, smtputf8, body8bit,
	created, next_attempt, attempts, lease_owner, lease_until, prefix`

type rowScanner interface{ Scan(...any) error }

func scanQueueEntry(row rowScanner) (store.QueueEntry, error) {
	var e store.QueueEntry
	var created, next, lease int64
	err := row.Scan(&e.ID, &e.AccountID, &e.From, &e.Size, &e.DSNRet, &e.DSNEnvID, &e.RequireTLS, &e.SMTPUTF8, &e.Body8Bit,
		&created, &next, &e.Attempts, &e.LeaseOwner, &lease, &e.Prefix)
	e.Created, e.NextAttempt = time.Unix(created, 0), time.Unix(next, 0)
	if lease != 0 {
		e.LeaseUntil = time.Unix(lease, 0)
	}
	return e, err
}

// queueEntries runs a query for queue rows and adds their recipients.
func queueEntries(ctx context.Context, q querier, query string, args ...any) ([]store.QueueEntry, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var out []store.QueueEntry
	for rows.Next() {
		e, err := scanQueueEntry(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Recipients, err = queueRcpts(ctx, q, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// querier is what reads need: the read pool or a write transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Queue implements store.Store.
func (s *Store) Queue(ctx context.Context) ([]store.QueueEntry, error) {
	return queueEntries(ctx, s.rdb, `SELECT `+queueCols+` FROM queue ORDER BY id`)
}

// QueueEntry implements store.Store.
func (s *Store) QueueEntry(ctx context.Context, id int64) (store.QueueEntry, error) {
	all, err := queueEntries(ctx, s.rdb, `SELECT `+queueCols+` FROM queue WHERE id = ?`, id)
	if err != nil {
		return store.QueueEntry{}, err
	}
	if len(all) == 0 {
		return store.QueueEntry{}, fmt.Errorf("%w: queue entry %d", store.ErrNotFound, id)
	}
	return all[0], nil
}

func queueRcpts(ctx context.Context, q querier, id int64) ([]store.QueueRcpt, error) {
	rows, err := q.QueryContext(ctx, `SELECT address, notify, orcpt, status, attempts, last_reply, last_change
		FROM queue_rcpts WHERE queue_id = ? ORDER BY address`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.QueueRcpt
	for rows.Next() {
		var r store.QueueRcpt
		var notify string
		var changed int64
		if err := rows.Scan(&r.Address, &notify, &r.ORcpt, &r.Status, &r.Attempts, &r.LastReply, &changed); err != nil {
			return nil, err
		}
		if notify != "" {
			r.Notify = strings.Split(notify, ",")
		}
		r.LastChange = time.Unix(changed, 0)
		out = append(out, r)
	}
	return out, rows.Err()
}

// OpenQueued implements store.Store.
func (s *Store) OpenQueued(ctx context.Context, id int64) (store.MessageReader, error) {
	var blobID int64
	var prefix []byte
	err := s.rdb.QueryRowContext(ctx, `SELECT blob_id, prefix FROM queue WHERE id = ?`, id).Scan(&blobID, &prefix)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: queue entry %d", store.ErrNotFound, id)
	} else if err != nil {
		return nil, err
	}
	return s.openBlob(blobID, prefix)
}

// ClaimQueue implements store.Store. The lease is taken in the write
// transaction, so two workers (or nodes) never hold the same entry.
func (s *Store) ClaimQueue(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]store.QueueEntry, error) {
	if limit <= 0 || lease <= 0 || owner == "" {
		return nil, fmt.Errorf("%w: claim of %d entries for %v by %q", store.ErrInvalid, limit, lease, owner)
	}
	var out []store.QueueEntry
	err := s.write(ctx, func(w *wtx) error {
		var err error
		out, err = queueEntries(w.ctx, w.tx, `SELECT `+queueCols+` FROM queue
			WHERE next_attempt <= ? AND lease_until <= ? ORDER BY next_attempt, id LIMIT ?`, now.Unix(), now.Unix(), limit)
		if err != nil {
			return err
		}
		until := now.Add(lease)
		for i := range out {
			if _, err := w.tx.ExecContext(w.ctx, `UPDATE queue SET lease_owner = ?, lease_until = ? WHERE id = ?`,
				owner, until.Unix(), out[i].ID); err != nil {
				return err
			}
			out[i].LeaseOwner, out[i].LeaseUntil = owner, time.Unix(until.Unix(), 0)
		}
		return nil
	})
	return out, err
}

// UpdateQueue implements store.Store. The owner is checked in the write
// transaction that records the attempt: a worker whose lease another took
// changes nothing.
func (s *Store) UpdateQueue(ctx context.Context, id int64, owner string, rcpts []store.QueueRcpt, nextAttempt time.Time) error {
	if owner == "" {
		return fmt.Errorf("%w: queue update without a lease owner", store.ErrInvalid)
	}
	return s.write(ctx, func(w *wtx) error {
		now := time.Now().Unix()
		res, err := w.tx.ExecContext(w.ctx, `UPDATE queue SET attempts = attempts + 1, next_attempt = ?, lease_owner = '', lease_until = 0
			WHERE id = ? AND lease_owner = ?`, nextAttempt.Unix(), id, owner)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: queue entry %d is not leased to %s", store.ErrLeaseLost, id, owner)
		}
		for _, r := range rcpts {
			switch r.Status {
			case "pending", "delivered", "failed":
			default:
				return fmt.Errorf("%w: recipient status %q", store.ErrInvalid, r.Status)
			}
			if _, err := w.tx.ExecContext(w.ctx, `UPDATE queue_rcpts SET status = ?, attempts = ?, last_reply = ?, last_change = ?
				WHERE queue_id = ? AND address = ?`, r.Status, r.Attempts, r.LastReply, now, id, r.Address); err != nil {
				return err
			}
		}
		var pending int
		if err := w.tx.QueryRowContext(w.ctx, `SELECT COUNT(*) FROM queue_rcpts WHERE queue_id = ? AND status = 'pending'`, id).Scan(&pending); err != nil {
			return err
		}
		if pending == 0 {
			return w.deleteQueued(id)
		}
		return nil
	})
}

// DeleteQueued implements store.Store.
func (s *Store) DeleteQueued(ctx context.Context, id int64) error {
	return s.write(ctx, func(w *wtx) error { return w.deleteQueued(id) })
}

func (w *wtx) deleteQueued(id int64) error {
	var blobID int64
	if err := w.tx.QueryRowContext(w.ctx, `SELECT blob_id FROM queue WHERE id = ?`, id).Scan(&blobID); err != nil {
		return notFound(err, "queue entry", id)
	}
	for _, q := range []string{`DELETE FROM queue_rcpts WHERE queue_id = ?`, `DELETE FROM queue WHERE id = ?`} {
		if _, err := w.tx.ExecContext(w.ctx, q, id); err != nil {
			return err
		}
	}
	return w.releaseBlob(blobID)
}

// RetryQueued implements store.Store.
func (s *Store) RetryQueued(ctx context.Context, id int64) error {
	return s.write(ctx, func(w *wtx) error {
		res, err := w.tx.ExecContext(w.ctx, `UPDATE queue SET next_attempt = ? WHERE id = ?`, time.Now().Unix(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: queue entry %d", store.ErrNotFound, id)
		}
		return nil
	})
}

// SentToday implements store.Store.
func (s *Store) SentToday(ctx context.Context, accountID int64, since time.Time) (int, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, `SELECT COALESCE(SUM(rcpts), 0) FROM sent_log WHERE account_id = ? AND created >= ?`,
		accountID, since.Unix()).Scan(&n)
	return n, err
}
