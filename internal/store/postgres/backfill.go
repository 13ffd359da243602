package postgres

import (
	"context"
	"fmt"
	"time"

	"postel/internal/message"
	"postel/internal/store"
)

// One-time backfills: what a migration brought empty for the data stored
// before it. A migration records its task in the backfill table (when
// there is data to fill); Open runs the pending tasks in the background,
// in batches each committed with nothing else, and deletes the task when
// done. Any node may run a task, several at once: each batch only fills
// what is still missing (ON CONFLICT DO NOTHING), so a crash or a second
// node at any point repeats nothing and loses nothing.

// backfillBatch is how many bodies one batch indexes.
const backfillBatch = 200

// runBackfills runs the pending tasks until done or the store closes.
func (s *Store) runBackfills() {
	defer close(s.backfillDone)
	ctx := s.ctx
	rows, err := s.pool.Query(ctx, `SELECT task FROM backfill ORDER BY task`)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("store: reading the backfill tasks", "err", err)
		}
		return
	}
	var tasks []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			s.log.Error("store: reading the backfill tasks", "err", err)
			return
		}
		tasks = append(tasks, t)
	}
	rows.Close()
	for _, task := range tasks {
		var err error
		switch task {
		case "text":
			err = s.backfillText(ctx)
		default:
			err = fmt.Errorf("unknown task %q (a newer postel recorded it?)", task)
		}
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("store: backfill", "task", task, "err", err)
			}
			return
		}
		if _, err := s.pool.Exec(ctx, `DELETE FROM backfill WHERE task = $1`, task); err != nil {
			if ctx.Err() == nil {
				s.log.Error("store: backfill", "task", task, "err", err)
			}
			return
		}
		s.log.Info("store: backfill done", "task", task)
	}
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
