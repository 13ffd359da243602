package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"postel/internal/message"
	"postel/internal/store"
)

// One-time backfills: what a migration brought empty for the data stored
// before it. A migration records its task in the backfill table (when
// there is data to fill); Open runs the pending tasks in the background,
// in batches each committed with nothing else, and deletes the task when
// done. Any node may run a task, several at once: each batch only fills
// what is still missing (ON CONFLICT DO NOTHING), so a crash or a second
// node at any point repeats nothing and loses nothing ("meta" rewrites
// what it wrote before: the same values).

// backfillBatch is how many bodies one batch indexes.
const backfillBatch = 200

// backfillRetry is the pause after a failed step of a backfill (a
// deadlock with a user's write, the database away): the task goes on from
// its last commit.
const backfillRetry = 10 * time.Second

// runBackfills runs the pending tasks until done or the store closes; a
// failed step is tried again after backfillRetry.
func (s *Store) runBackfills() {
	defer close(s.backfillDone)
	ctx := s.ctx
	for {
		err := s.runTasks(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		s.log.Error("store: backfill, trying again", "err", err, "after", backfillRetry)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backfillRetry):
		}
	}
}

// runTasks runs each pending task to its end and deletes it.
func (s *Store) runTasks(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, `SELECT task FROM backfill ORDER BY task`)
	if err != nil {
		return err
	}
	tasks, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, task := range tasks {
		if err := s.backfillTask(ctx, task); errors.Is(err, errUnknownTask) {
			s.log.Warn("store: backfill left for a newer version", "err", err)
			continue
		} else if err != nil {
			return fmt.Errorf("backfill %s: %w", task, err)
		}
		if _, err := s.pool.Exec(ctx, `DELETE FROM backfill WHERE task = $1`, task); err != nil {
			return err
		}
		s.log.Info("store: backfill done", "task", task)
	}
	return nil
}

// backfillText indexes, for SEARCH TEXT and BODY, the bodies stored before
// the search text existed (migration 2), as a delivery computes it: the
// served message (a message's prefix, then the body) parsed once.
func (s *Store) backfillText(ctx context.Context) error {
	var after int64
	done, last := 0, time.Now()
	for {
		type item struct {
			id, size int64
			chunk    int32
			prefix   []byte
		}
		var items []item
		rows, err := s.pool.Query(ctx, `SELECT b.id, b.size, b.chunk_size,
				COALESCE((SELECT msg.prefix FROM messages msg WHERE msg.blob_id = b.id ORDER BY msg.id LIMIT 1),
					(SELECT q.prefix FROM queue q WHERE q.blob_id = b.id ORDER BY q.id LIMIT 1), ''::bytea)
			FROM blobs b WHERE b.id > $1 AND b.refs > 0
				AND NOT EXISTS (SELECT 1 FROM blob_text t WHERE t.blob_id = b.id)
			ORDER BY b.id LIMIT $2`, after, backfillBatch)
		if err != nil {
			return err
		}
		for rows.Next() {
			var it item
			if err := rows.Scan(&it.id, &it.size, &it.chunk, &it.prefix); err != nil {
				rows.Close()
				return err
			}
			items = append(items, it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(items) == 0 {
			return nil
		}
		for _, it := range items {
			r := store.NewMessageReader(it.prefix, s.openBlob(it.id, it.size, it.chunk, nil))
			headers, body, err := message.SearchText(r, r.Size())
			r.Close()
			if err != nil {
				s.log.Warn("store: backfill: a body could not be parsed; it stays out of the search index", "blob", it.id, "err", err)
				headers, body = "", ""
			}
			if _, err := s.pool.Exec(ctx, `INSERT INTO blob_text (blob_id, headers, body) SELECT $1, $2, $3
				WHERE EXISTS (SELECT 1 FROM blobs WHERE id = $1) ON CONFLICT (blob_id) DO NOTHING`,
				it.id, searchFold(headers), searchFold(body)); err != nil {
				return err
			}
			after = it.id
		}
		done += len(items)
		if time.Since(last) > 10*time.Second {
			s.log.Info("store: backfill of the search text", "bodies", done)
			last = time.Now()
		}
	}
}

// backfillTask runs one task to its end.
func (s *Store) backfillTask(ctx context.Context, task string) error {
	switch task {
	case "text":
		return s.backfillText(ctx)
	case "meta":
		return s.backfillMeta(ctx)
	}
	return fmt.Errorf("%w %q (a newer postel recorded it?)", errUnknownTask, task)
}

// errUnknownTask: a backfill task this version does not know; it is left
// for the version that recorded it.
var errUnknownTask = errors.New("unknown backfill task")

// Backfill runs the pending tasks now, in the caller's goroutine, once the
// background run of Open has stopped: for tests and tools that need them
// finished before they go on.
func (s *Store) Backfill(ctx context.Context) error {
	<-s.backfillDone
	return s.runTasks(ctx)
}

// backfillMeta parses again, as delivery does today (message.StoredMeta
// of the served message: prefix, then body), the messages of the blobs
// up to the task's upto (migration 10: every message stored before it),
// and writes their envelope, structure and header fields, and has_nul
// where it is NULL. Each batch commits its writes with the progress
// (done); blobs go in ascending order, so a crash resumes after the last
// commit. A copy made of a message while its batch is written (between
// the batch's UPDATE and its commit) keeps the old values, and its
// has_nul NULL: a last pass over the messages still unknown (has_nul
// NULL, which the backfill always sets) writes those again.
func (s *Store) backfillMeta(ctx context.Context) error {
	var done, upto int64
	err := s.pool.QueryRow(ctx, `SELECT done, upto FROM backfill WHERE task = 'meta'`).Scan(&done, &upto)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	count, last := 0, time.Now()
	for pass, after, unknown := 0, done, ""; pass < 2; pass, after, unknown = pass+1, 0, "AND has_nul IS NULL" {
		for after < upto {
			type item struct {
				id, size int64
				chunk    int32
				prefix   []byte
				meta     store.MessageMeta
				nul      bool
				ok       bool
			}
			rows, err := s.pool.Query(ctx, `SELECT DISTINCT m.blob_id, b.size, b.chunk_size, m.prefix
			FROM messages m JOIN blobs b ON b.id = m.blob_id
			WHERE m.blob_id IN (SELECT DISTINCT blob_id FROM messages WHERE blob_id > $1 AND blob_id <= $2 `+unknown+`
				ORDER BY blob_id LIMIT $3)
			ORDER BY m.blob_id`, after, upto, backfillBatch)
			if err != nil {
				return err
			}
			var items []item
			blobs := 0
			for rows.Next() {
				var it item
				if err := rows.Scan(&it.id, &it.size, &it.chunk, &it.prefix); err != nil {
					rows.Close()
					return err
				}
				if len(items) == 0 || items[len(items)-1].id != it.id {
					blobs++
				}
				items = append(items, it)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			to := upto
			if blobs == backfillBatch {
				to = items[len(items)-1].id
			}
			for i := range items {
				it := &items[i]
				r := store.NewMessageReader(it.prefix, s.openBlob(it.id, it.size, it.chunk, nil))
				it.meta, it.nul, err = message.StoredMeta(r, r.Size())
				r.Close()
				if err != nil {
					// Nothing better to write: it keeps what it has.
					s.log.Warn("store: backfill: a message could not be parsed; it keeps its metadata", "blob", it.id, "err", err)
					continue
				}
				it.ok = true
			}
			tx, err := s.pool.Begin(ctx)
			if err != nil {
				return err
			}
			for _, it := range items {
				if !it.ok {
					continue
				}
				m := &it.meta
				if _, err := tx.Exec(ctx, `UPDATE messages SET envelope = $1, structure = $2, hdr_subject = $3,
				hdr_from = $4, hdr_to = $5, hdr_cc = $6, hdr_bcc = $7, hdr_messageid = $8, hdr_date = $9,
				hdr_inreplyto = $10, hdr_references = $11, has_nul = COALESCE(has_nul, $12)
				WHERE blob_id = $13 AND prefix = $14`,
					append(metaArgs(m), it.nul, it.id, nonNil(it.prefix))...); err != nil {
					tx.Rollback(ctx)
					return err
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE backfill SET done = GREATEST(done, $1) WHERE task = 'meta'`, to); err != nil {
				tx.Rollback(ctx)
				return err
			}
			if err := tx.Commit(ctx); err != nil {
				return err
			}
			after, count = to, count+blobs
			if time.Since(last) > 10*time.Second {
				s.log.Info("store: backfill of the message metadata", "blobs", count, "at_blob", after, "to_blob", upto)
				last = time.Now()
			}
		}
	}
	return nil
}
