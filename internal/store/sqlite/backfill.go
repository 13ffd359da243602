package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"postel/internal/message"
	"postel/internal/store"
)

// Backfills: one-time tasks that give the messages stored before a
// migration what that migration brought empty, or what an older parser
// stored (migrations 9 and 16 record them in the backfill table). The serving process runs them in the background
// after Open: it reads candidates and their files outside the writer, then
// writes each chunk through the writer, with the task's progress (done) in
// the same transaction, so a crash resumes where the last commit left it.
// A finished task's row is deleted. Tasks are idempotent: each write checks
// again that its rows still need it, or writes what it wrote before.

// backfillTask is one kind of backfill.
type backfillTask struct {
	name string
	// candidates returns the next blob IDs above after to look at, up to
	// upto, at most limit of them, in ascending order.
	candidates func(ctx context.Context, s *Store, after, upto int64, limit int) ([]int64, error)
	// compute reads what blob id needs, outside the writer; it returns the
	// data for apply and its size in bytes (to bound a chunk's memory).
	compute func(ctx context.Context, s *Store, id int64) (any, int, error)
	// apply writes the computed data of blob id inside a write.
	apply func(w *wtx, id int64, data any) error
}

var backfillTasks = []backfillTask{
	{name: "fts", candidates: ftsCandidates, compute: ftsCompute, apply: ftsApply},
	{name: "refs", candidates: refsCandidates, compute: refsCompute, apply: refsApply},
	{name: "meta", candidates: metaCandidates, compute: metaCompute, apply: metaApply},
}

const (
	// backfillBatch is how many blobs one candidate query returns.
	backfillBatch = 500
	// backfillChunkBytes bounds the computed data held for one write.
	backfillChunkBytes = 16 << 20
	// backfillRetry is the pause after a failed step.
	backfillRetry = 10 * time.Second
	// backfillLogEvery spaces the progress lines.
	backfillLogEvery = 10 * time.Second
)

// backfill runs the pending tasks until they are done or the store closes.
func (s *Store) backfill() {
	defer close(s.backfillDone)
	for _, t := range backfillTasks {
		for {
			err := s.runBackfill(t)
			if err == nil {
				break
			}
			if errors.Is(err, ErrClosed) {
				return
			}
			s.log.Error("store: backfill", "task", t.name, "err", err)
			select {
			case <-s.quit:
				return
			case <-time.After(backfillRetry):
			}
		}
	}
}

// Backfill runs the pending tasks now, in the caller's goroutine, once
// the background run of a serving Open has stopped: for tests and tools
// that need them finished before they go on.
func (s *Store) Backfill() error {
	<-s.backfillDone
	for _, t := range backfillTasks {
		if err := s.runBackfill(t); err != nil {
			return err
		}
	}
	return nil
}

// runBackfill runs task t to its end; nil when finished (or not pending).
func (s *Store) runBackfill(t backfillTask) error {
	ctx := context.Background()
	var done, upto int64
	err := s.rdb.QueryRowContext(ctx, `SELECT done, upto FROM backfill WHERE task = ?`, t.name).Scan(&done, &upto)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	s.log.Info("store: backfill starting", "task", t.name, "from_blob", done, "to_blob", upto)
	start, lastLog := time.Now(), time.Now()
	count := 0
	for {
		ids, err := t.candidates(ctx, s, done, upto, s.backfillBatch)
		if err != nil {
			return err
		}
		// The last chunk of the last batch finishes the task.
		last := len(ids) < s.backfillBatch
		var chunkIDs []int64
		var chunkData []any
		size := 0
		for i, id := range ids {
			select {
			case <-s.quit:
				return ErrClosed
			default:
			}
			data, n, err := t.compute(ctx, s, id)
			if err != nil {
				// A body that cannot be read has nothing to give: skip it.
				s.log.Warn("store: backfill skips a body", "task", t.name, "blob", id, "err", err)
				data, n = nil, 0
			}
			chunkIDs, chunkData = append(chunkIDs, id), append(chunkData, data)
			size += n
			if size < backfillChunkBytes && i < len(ids)-1 {
				continue
			}
			to := id
			if last && i == len(ids)-1 {
				to = upto
			}
			if err := s.applyBackfill(ctx, t, chunkIDs, chunkData, to, to == upto); err != nil {
				return err
			}
			count += len(chunkIDs)
			done, chunkIDs, chunkData, size = to, nil, nil, 0
		}
		if len(ids) == 0 {
			if err := s.applyBackfill(ctx, t, nil, nil, upto, true); err != nil {
				return err
			}
			done = upto
		}
		if done >= upto {
			s.log.Info("store: backfill finished", "task", t.name, "blobs", count, "elapsed", time.Since(start).Round(time.Millisecond))
			return nil
		}
		if time.Since(lastLog) >= backfillLogEvery {
			lastLog = time.Now()
			s.log.Info("store: backfill progress", "task", t.name, "blobs", count, "at_blob", done, "to_blob", upto)
		}
		if s.backfillHook != nil && !s.backfillHook(t.name, done) {
			return ErrClosed
		}
	}
}

// applyBackfill writes one chunk and records the task's progress: done up
// to blob to, or the task finished.
func (s *Store) applyBackfill(ctx context.Context, t backfillTask, ids []int64, data []any, to int64, finished bool) error {
	return s.write(ctx, func(w *wtx) error {
		for i, id := range ids {
			if data[i] == nil {
				continue
			}
			if err := t.apply(w, id, data[i]); err != nil {
				return fmt.Errorf("blob %d: %w", id, err)
			}
		}
		var err error
		if finished {
			_, err = w.tx.ExecContext(w.ctx, `DELETE FROM backfill WHERE task = ?`, t.name)
		} else {
			_, err = w.tx.ExecContext(w.ctx, `UPDATE backfill SET done = ? WHERE task = ?`, to, t.name)
		}
		return err
	})
}

// ftsCandidates are the blobs of messages that have no full-text row.
func ftsCandidates(ctx context.Context, s *Store, after, upto int64, limit int) ([]int64, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT b.id FROM blobs b WHERE b.id > ? AND b.id <= ?
		AND NOT EXISTS (SELECT 1 FROM messages_fts WHERE rowid = b.id)
		AND EXISTS (SELECT 1 FROM messages WHERE blob_id = b.id)
		ORDER BY b.id LIMIT ?`, after, upto, limit)
	if err != nil {
		return nil, err
	}
	return scanInt64s(rows)
}

type ftsText struct{ headers, body string }

// ftsCompute extracts the searchable text of the message served from the
// blob, as delivery does (deliver.Prepare): prefix and body parsed
// together, message.ExtractText with message.MaxSearchText.
func ftsCompute(ctx context.Context, s *Store, id int64) (any, int, error) {
	r, err := s.servedMessage(ctx, id)
	if err != nil || r == nil {
		return nil, 0, err
	}
	defer r.Close()
	headers, body, err := message.SearchText(r, r.Size())
	if err != nil {
		return nil, 0, err
	}
	if headers == "" && body == "" {
		return nil, 0, nil // delivery indexes no empty text either
	}
	return ftsText{headers, body}, len(headers) + len(body), nil
}

func ftsApply(w *wtx, id int64, data any) error {
	t := data.(ftsText)
	// Deleted meanwhile, or indexed: nothing to do.
	var need bool
	if err := w.tx.QueryRowContext(w.ctx, `SELECT EXISTS (SELECT 1 FROM blobs WHERE id = ?)
		AND NOT EXISTS (SELECT 1 FROM messages_fts WHERE rowid = ?)`, id, id).Scan(&need); err != nil || !need {
		return err
	}
	_, err := w.tx.ExecContext(w.ctx, `INSERT INTO messages_fts (rowid, headers, body) VALUES (?, ?, ?)`, id, t.headers, t.body)
	return err
}

// servedMessage opens the message of blob id as it is served: the prefix
// of its first message, then the body. nil when no message uses it.
func (s *Store) servedMessage(ctx context.Context, id int64) (store.MessageReader, error) {
	var prefix []byte
	err := s.rdb.QueryRowContext(ctx, `SELECT prefix FROM messages WHERE blob_id = ? ORDER BY id LIMIT 1`, id).Scan(&prefix)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return s.openBlob(id, prefix)
}

// refsCandidates are the blobs of messages whose In-Reply-To and
// References are both empty.
func refsCandidates(ctx context.Context, s *Store, after, upto int64, limit int) ([]int64, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT DISTINCT blob_id FROM messages WHERE blob_id > ? AND blob_id <= ?
		AND hdr_inreplyto = '' AND hdr_references = '' ORDER BY blob_id LIMIT ?`, after, upto, limit)
	if err != nil {
		return nil, err
	}
	return scanInt64s(rows)
}

// threadRefs is what refsCompute found, by the prefix of the messages
// (copies of one delivery share their prefix).
type threadRefs map[string]struct {
	inReplyTo, references string
}

// blobPrefixes lists the distinct prefixes of the messages of blob id
// (and cond, a condition on them): each is one message to serve.
func (s *Store) blobPrefixes(ctx context.Context, id int64, cond string) ([][]byte, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT DISTINCT prefix FROM messages WHERE blob_id = ? `+cond, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var prefixes [][]byte
	for rows.Next() {
		var p []byte
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		prefixes = append(prefixes, p)
	}
	return prefixes, rows.Err()
}

// blobMessage is a message of a blob, by its ID and prefix.
type blobMessage struct {
	id     int64
	prefix []byte
}

// blobMessages lists, inside a write, the messages of blob id (and cond, a
// condition on them): copies made since a backfill read the blob included.
func (w *wtx) blobMessages(id int64, cond string) ([]blobMessage, error) {
	rows, err := w.tx.QueryContext(w.ctx, `SELECT id, prefix FROM messages WHERE blob_id = ? `+cond, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []blobMessage
	for rows.Next() {
		var m blobMessage
		if err := rows.Scan(&m.id, &m.prefix); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// refsCompute reads In-Reply-To and References of the messages served
// from the blob as delivery stores them (message.Parse, the fields of
// Meta): the header block alone is parsed, where those fields live.
func refsCompute(ctx context.Context, s *Store, id int64) (any, int, error) {
	prefixes, err := s.blobPrefixes(ctx, id, `AND hdr_inreplyto = '' AND hdr_references = ''`)
	if err != nil {
		return nil, 0, err
	}
	out := threadRefs{}
	size := 0
	for _, prefix := range prefixes {
		r, err := s.openBlob(id, prefix)
		if err != nil {
			return nil, 0, err
		}
		irt, refs, err := headerRefs(r, r.Size())
		r.Close()
		if err != nil {
			return nil, 0, err
		}
		if irt == "" && len(refs) == 0 {
			continue
		}
		v := out[string(prefix)]
		v.inReplyTo, v.references = irt, strings.Join(refs, " ")
		out[string(prefix)] = v
		size += len(prefix) + len(v.inReplyTo) + len(v.references)
	}
	if len(out) == 0 {
		return nil, 0, nil
	}
	return out, size, nil
}

// headerRefs parses the header block of the message in r with
// message.Parse (whose outermost fields come from that block alone) and
// returns its In-Reply-To and References as Meta has them. A header block
// over the parser's bound is parsed with the whole message.
func headerRefs(r io.ReaderAt, size int64) (string, []string, error) {
	lim := message.DefaultLimits()
	hdr, err := message.ReadHeader(bufio.NewReader(io.NewSectionReader(r, 0, size)), int(lim.MaxHeaderBytes))
	var parsed *message.Parsed
	switch {
	case errors.Is(err, message.ErrHeaderTooLarge):
		parsed, err = message.Parse(r, size, lim)
	case err == nil:
		parsed, err = message.Parse(bytes.NewReader(hdr), int64(len(hdr)), lim)
	}
	if err != nil {
		return "", nil, err
	}
	return parsed.InReplyTo, parsed.References, nil
}

func refsApply(w *wtx, id int64, data any) error {
	found := data.(threadRefs)
	// Copies made since the read share the blob and its prefix.
	msgs, err := w.blobMessages(id, `AND hdr_inreplyto = '' AND hdr_references = ''`)
	if err != nil {
		return err
	}
	type fix struct {
		id                    int64
		inReplyTo, references string
	}
	var fixes []fix
	for _, m := range msgs {
		if v, ok := found[string(m.prefix)]; ok {
			fixes = append(fixes, fix{m.id, v.inReplyTo, v.references})
		}
	}
	for _, f := range fixes {
		if _, err := w.tx.ExecContext(w.ctx, `UPDATE messages SET hdr_inreplyto = ?, hdr_references = ? WHERE id = ?`,
			f.inReplyTo, f.references, f.id); err != nil {
			return err
		}
	}
	return nil
}

// metaCandidates are the blobs of messages (migration 16: every message
// stored before it).
func metaCandidates(ctx context.Context, s *Store, after, upto int64, limit int) ([]int64, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT DISTINCT blob_id FROM messages WHERE blob_id > ? AND blob_id <= ?
		ORDER BY blob_id LIMIT ?`, after, upto, limit)
	if err != nil {
		return nil, err
	}
	return scanInt64s(rows)
}

// storedMeta is what metaCompute found, by the prefix of the messages
// (copies of one delivery share their prefix).
type storedMeta map[string]struct {
	meta store.MessageMeta
	nul  store.NUL
}

// metaCompute parses the messages served from the blob as delivery does
// today (message.StoredMeta of prefix and body, what IMAP serves): the
// envelope and structure, the header fields SEARCH and SORT read, and
// whether the octets hold a NUL.
func metaCompute(ctx context.Context, s *Store, id int64) (any, int, error) {
	prefixes, err := s.blobPrefixes(ctx, id, "")
	if err != nil {
		return nil, 0, err
	}
	out := storedMeta{}
	size := 0
	for _, prefix := range prefixes {
		if _, ok := out[string(prefix)]; ok {
			continue // one prefix read back as TEXT and as BLOB
		}
		r, err := s.openBlob(id, prefix)
		if err != nil {
			return nil, 0, err
		}
		meta, nul, err := message.StoredMeta(r, r.Size())
		r.Close()
		if err != nil {
			return nil, 0, err
		}
		v := out[string(prefix)]
		v.meta, v.nul = meta, store.NULOf(nil, nul)
		out[string(prefix)] = v
		size += len(prefix) + len(meta.Envelope) + len(meta.Structure) + len(meta.Subject) + len(meta.From) +
			len(meta.To) + len(meta.Cc) + len(meta.Bcc) + len(meta.MessageID) + len(meta.InReplyTo)
		for _, ref := range meta.References {
			size += len(ref) + 1
		}
	}
	if len(out) == 0 {
		return nil, 0, nil
	}
	return out, size, nil
}

// metaApply writes what metaCompute found to every message of the blob
// with that prefix, copies made since the read included; has_nul only
// where it is unknown (NULL).
func metaApply(w *wtx, id int64, data any) error {
	found := data.(storedMeta)
	msgs, err := w.blobMessages(id, "")
	if err != nil {
		return err
	}
	type fix struct {
		id   int64
		meta *store.MessageMeta
		nul  store.NUL
	}
	var fixes []fix
	for _, m := range msgs {
		if v, ok := found[string(m.prefix)]; ok {
			fixes = append(fixes, fix{m.id, &v.meta, v.nul})
		}
	}
	for _, f := range fixes {
		m := f.meta
		if _, err := w.tx.ExecContext(w.ctx, `UPDATE messages SET envelope = ?, structure = ?, hdr_subject = ?,
			hdr_from = ?, hdr_to = ?, hdr_cc = ?, hdr_bcc = ?, hdr_messageid = ?, hdr_date = ?,
			hdr_inreplyto = ?, hdr_references = ?, has_nul = COALESCE(has_nul, ?) WHERE id = ?`,
			nonNil(m.Envelope), nonNil(m.Structure), m.Subject, m.From, m.To, m.Cc, m.Bcc, m.MessageID, unixOrZero(m.Date),
			m.InReplyTo, strings.Join(m.References, " "), f.nul.Column(), f.id); err != nil {
			return err
		}
	}
	return nil
}
