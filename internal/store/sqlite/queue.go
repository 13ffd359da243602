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

// enqueue stores an outbound message for its remote recipients.
func (w *wtx) enqueue(q *store.QueueEntry, blobID, bodySize int64, now time.Time) (int64, error) {
	size := int64(len(q.Prefix)) + bodySize
	res, err := w.tx.ExecContext(w.ctx, `INSERT INTO queue (account_id, mail_from, blob_id, prefix, size, dsn_ret, dsn_envid,
		requiretls, smtputf8, body8bit, created, next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		q.AccountID, q.From, blobID, nonNil(q.Prefix), size, q.DSNRet, q.DSNEnvID, q.RequireTLS, q.SMTPUTF8, q.Body8Bit, now.Unix(), now.Unix())
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
	return id, nil
}

// Queue implements store.Store.
func (s *Store) Queue(ctx context.Context) ([]store.QueueEntry, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, account_id, mail_from, size, dsn_ret, dsn_envid, requiretls, smtputf8, body8bit,
		created, next_attempt, attempts FROM queue ORDER BY id`)
	if err != nil {
		return nil, err
	}
	var out []store.QueueEntry
	for rows.Next() {
		var e store.QueueEntry
		var created, next int64
		if err := rows.Scan(&e.ID, &e.AccountID, &e.From, &e.Size, &e.DSNRet, &e.DSNEnvID, &e.RequireTLS, &e.SMTPUTF8, &e.Body8Bit,
			&created, &next, &e.Attempts); err != nil {
			rows.Close()
			return nil, err
		}
		e.Created, e.NextAttempt = time.Unix(created, 0), time.Unix(next, 0)
		out = append(out, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Recipients, err = s.queueRcpts(ctx, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) queueRcpts(ctx context.Context, id int64) ([]store.QueueRcpt, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT address, notify, orcpt, status, attempts, last_reply, last_change
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
