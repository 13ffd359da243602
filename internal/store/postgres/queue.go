package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"postel/internal/store"
)

// sentLogKeep is how long sent_log rows are kept.
const sentLogKeep = 48 * time.Hour

// enqueue stores an outbound message for its remote recipients, on a blob
// whose reference the caller counted.
func (w *wtx) enqueue(q *store.QueueEntry, blobID, bodySize int64, now time.Time) (int64, error) {
	size := int64(len(q.Prefix)) + bodySize
	next := q.NextAttempt
	if next.IsZero() {
		next = now
	}
	var id int64
	err := w.tx.QueryRow(w.ctx, `INSERT INTO queue (account_id, mail_from, blob_id, prefix, size, dsn_ret, dsn_envid,
		requiretls, smtputf8, body8bit, created, next_attempt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
		q.AccountID, q.From, blobID, nonNil(q.Prefix), size, q.DSNRet, q.DSNEnvID, q.RequireTLS, q.SMTPUTF8, q.Body8Bit,
		now.Unix(), next.Unix()).Scan(&id)
	if err != nil {
		return 0, err
	}
	addrs := make([]string, len(q.Recipients))
	notify := make([]string, len(q.Recipients))
	orcpt := make([]string, len(q.Recipients))
	for i, r := range q.Recipients {
		addrs[i], notify[i], orcpt[i] = r.Address, strings.Join(r.Notify, ","), r.ORcpt
	}
	if _, err := w.tx.Exec(w.ctx, `INSERT INTO queue_rcpts (queue_id, address, notify, orcpt, last_change)
		SELECT $1, a, n, o, $2 FROM unnest($3::text[], $4::text[], $5::text[]) AS r(a, n, o) ON CONFLICT DO NOTHING`,
		id, now.Unix(), addrs, notify, orcpt); err != nil {
		return 0, err
	}
	if q.AccountID != 0 {
		if _, err := w.tx.Exec(w.ctx, `DELETE FROM sent_log WHERE account_id = $1 AND created < $2`,
			q.AccountID, now.Add(-sentLogKeep).Unix()); err != nil {
			return 0, err
		}
		if _, err := w.tx.Exec(w.ctx, `INSERT INTO sent_log (account_id, created, rcpts) VALUES ($1, $2, $3)`,
			q.AccountID, now.Unix(), len(q.Recipients)); err != nil {
			return 0, err
		}
	}
	return id, nil
}

const queueCols = `id, account_id, mail_from, size, dsn_ret, dsn_envid, requiretls, smtputf8, body8bit,
	created, next_attempt, attempts, lease_owner, lease_until, prefix`

func scanQueueEntry(row pgx.CollectableRow) (store.QueueEntry, error) {
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
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, scanQueueEntry)
	if err != nil || len(out) == 0 {
		return out, err
	}
	ids := make([]int64, len(out))
	at := map[int64]int{}
	for i, e := range out {
		ids[i] = e.ID
		at[e.ID] = i
	}
	rows, err = q.Query(ctx, `SELECT queue_id, address, notify, orcpt, status, attempts, last_reply, last_change
		FROM queue_rcpts WHERE queue_id = ANY($1) ORDER BY queue_id, address COLLATE "C"`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var qid int64
		var r store.QueueRcpt
		var notify string
		var changed int64
		if err := rows.Scan(&qid, &r.Address, &notify, &r.ORcpt, &r.Status, &r.Attempts, &r.LastReply, &changed); err != nil {
			return nil, err
		}
		if notify != "" {
			r.Notify = strings.Split(notify, ",")
		}
		r.LastChange = time.Unix(changed, 0)
		e := &out[at[qid]]
		e.Recipients = append(e.Recipients, r)
	}
	return out, rows.Err()
}

// Queue implements store.Store.
func (s *Store) Queue(ctx context.Context) ([]store.QueueEntry, error) {
	var out []store.QueueEntry
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		var err error
		out, err = queueEntries(ctx, q, `SELECT `+queueCols+` FROM queue ORDER BY id`)
		return err
	})
	return out, err
}

// QueueEntry implements store.Store.
func (s *Store) QueueEntry(ctx context.Context, id int64) (store.QueueEntry, error) {
	var all []store.QueueEntry
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		var err error
		all, err = queueEntries(ctx, q, `SELECT `+queueCols+` FROM queue WHERE id = $1`, id)
		return err
	})
	if err != nil {
		return store.QueueEntry{}, err
	}
	if len(all) == 0 {
		return store.QueueEntry{}, fmt.Errorf("%w: queue entry %d", store.ErrNotFound, id)
	}
	return all[0], nil
}

// OpenQueued implements store.Store.
func (s *Store) OpenQueued(ctx context.Context, id int64) (store.MessageReader, error) {
	var r store.MessageReader
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		var prefix, first []byte
		var blobID, size int64
		var chunk int32
		err := q.QueryRow(ctx, `SELECT q.prefix, b.id, b.size, b.chunk_size, c.data
			FROM queue q JOIN blobs b ON b.id = q.blob_id LEFT JOIN blob_chunks c ON c.blob_id = b.id AND c.n = 0
			WHERE q.id = $1`, id).Scan(&prefix, &blobID, &size, &chunk, &first)
		if err != nil {
			return notFound(err, "queue entry", id)
		}
		r = store.NewMessageReader(prefix, s.openBlob(blobID, size, chunk, first))
		return nil
	})
	return r, err
}

// ClaimQueue implements store.Store with FOR UPDATE SKIP LOCKED: workers
// of every node claim at once, each gets other entries, none waits for
// another's. The lease is recorded in the claiming transaction.
func (s *Store) ClaimQueue(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]store.QueueEntry, error) {
	if limit <= 0 || lease <= 0 || owner == "" {
		return nil, fmt.Errorf("%w: claim of %d entries for %v by %q", store.ErrInvalid, limit, lease, owner)
	}
	until := now.Add(lease).Unix()
	var out []store.QueueEntry
	err := s.write(ctx, func(w *wtx) error {
		var err error
		out, err = queueEntries(w.ctx, w.tx, `UPDATE queue SET lease_owner = $1, lease_until = $2 WHERE id IN (
				SELECT id FROM queue WHERE next_attempt <= $3 AND lease_until <= $3
				ORDER BY next_attempt, id LIMIT $4 FOR UPDATE SKIP LOCKED)
			RETURNING `+queueCols, owner, until, now.Unix(), limit)
		return err
	})
	slices.SortFunc(out, func(a, b store.QueueEntry) int {
		if c := a.NextAttempt.Compare(b.NextAttempt); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	return out, err
}

// UpdateQueue implements store.Store. The owner is checked in the
// transaction that records the attempt: a worker whose lease another took
// changes nothing.
func (s *Store) UpdateQueue(ctx context.Context, id int64, owner string, rcpts []store.QueueRcpt, nextAttempt time.Time) error {
	if owner == "" {
		return fmt.Errorf("%w: queue update without a lease owner", store.ErrInvalid)
	}
	for _, r := range rcpts {
		switch r.Status {
		case "pending", "delivered", "failed":
		default:
			return fmt.Errorf("%w: recipient status %q", store.ErrInvalid, r.Status)
		}
	}
	return s.write(ctx, func(w *wtx) error {
		now := time.Now().Unix()
		tag, err := w.tx.Exec(w.ctx, `UPDATE queue SET attempts = attempts + 1, next_attempt = $3, lease_owner = '', lease_until = 0
			WHERE id = $1 AND lease_owner = $2`, id, owner, nextAttempt.Unix())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: queue entry %d is not leased to %s", store.ErrLeaseLost, id, owner)
		}
		addrs := make([]string, len(rcpts))
		status := make([]string, len(rcpts))
		attempts := make([]int32, len(rcpts))
		replies := make([]string, len(rcpts))
		for i, r := range rcpts {
			addrs[i], status[i], attempts[i], replies[i] = r.Address, r.Status, int32(r.Attempts), r.LastReply
		}
		if _, err := w.tx.Exec(w.ctx, `UPDATE queue_rcpts r SET status = u.status, attempts = u.attempts, last_reply = u.reply, last_change = $2
			FROM unnest($3::text[], $4::text[], $5::integer[], $6::text[]) AS u(address, status, attempts, reply)
			WHERE r.queue_id = $1 AND r.address = u.address`, id, now, addrs, status, attempts, replies); err != nil {
			return err
		}
		var pending bool
		if err := w.tx.QueryRow(w.ctx, `SELECT EXISTS (SELECT 1 FROM queue_rcpts WHERE queue_id = $1 AND status = 'pending')`, id).Scan(&pending); err != nil {
			return err
		}
		if !pending {
			return w.deleteQueued(id)
		}
		return nil
	})
}

// DeleteQueued implements store.Store.
func (s *Store) DeleteQueued(ctx context.Context, id int64) error {
	return s.write(ctx, func(w *wtx) error { return w.deleteQueued(id) })
}

// deleteQueued drops an entry and its reference to its blob.
func (w *wtx) deleteQueued(id int64) error {
	var blobID int64
	if err := w.tx.QueryRow(w.ctx, `DELETE FROM queue WHERE id = $1 RETURNING blob_id`, id).Scan(&blobID); err != nil {
		return notFound(err, "queue entry", id)
	}
	w.refBlob(blobID, -1)
	return nil
}

// RetryQueued implements store.Store.
func (s *Store) RetryQueued(ctx context.Context, id int64) error {
	return s.write(ctx, func(w *wtx) error {
		tag, err := w.tx.Exec(w.ctx, `UPDATE queue SET next_attempt = $2 WHERE id = $1`, id, time.Now().Unix())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: queue entry %d", store.ErrNotFound, id)
		}
		return nil
	})
}

// SentToday implements store.Store.
func (s *Store) SentToday(ctx context.Context, accountID int64, since time.Time) (int, error) {
	var n int
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		return q.QueryRow(ctx, `SELECT COALESCE(SUM(rcpts), 0) FROM sent_log WHERE account_id = $1 AND created >= $2`,
			accountID, since.Unix()).Scan(&n)
	})
	return n, err
}
