package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"postel/internal/store"
)

// ErrClosed is returned for writes after Close.
var ErrClosed = errors.New("sqlite: store closed")

// op is one write: fn runs on the writer goroutine inside the shared
// transaction, under its own savepoint. blobs is how many new blob IDs it
// may take (intents.go).
type op struct {
	fn    func(w *wtx) error
	blobs int
	err   chan error
}

// wtx is what one write sees and collects during a batch.
type wtx struct {
	ctx     context.Context
	tx      *sql.Tx
	s       *Store
	linked  []int64        // blobs put, synced before the commit, removed if the write fails
	gc      []int64        // blob files to remove after the commit
	changes []store.Change // published after the commit
	blobs   int            // blob IDs this write may still take
}

// putBlob makes spool the body of blob id, inside this write.
func (w *wtx) putBlob(sp store.Spool, id int64) error {
	if err := w.s.blobs.Put(sp, id); err != nil {
		return err
	}
	w.linked = append(w.linked, id)
	return nil
}

// write runs fn on the writer and waits for its commit. It waits even when
// ctx ends first: the write may already be committed.
func (s *Store) write(ctx context.Context, fn func(w *wtx) error) error {
	return s.writeBlobs(ctx, 0, fn)
}

// writeBlobs is write for a fn that creates up to blobs new blobs.
func (s *Store) writeBlobs(ctx context.Context, blobs int, fn func(w *wtx) error) error {
	o := &op{fn: fn, blobs: blobs, err: make(chan error, 1)}
	select {
	case <-s.quit:
		return ErrClosed
	default:
	}
	select {
	case s.ops <- o:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.quit:
		return ErrClosed
	}
	select {
	case err := <-o.err:
		return err
	case <-s.done:
		// The writer has stopped: it answered o, or never took it (sent
		// as Close began).
		select {
		case err := <-o.err:
			return err
		default:
			return ErrClosed
		}
	}
}

// writer is the one goroutine that writes. It takes every write waiting at
// the moment and commits them together.
func (s *Store) writer() {
	defer close(s.done)
	var pendingGC []int64
	for {
		var first *op
		select {
		case first = <-s.ops:
		case <-s.quit:
			// Finish what was queued before Close.
			for {
				select {
				case o := <-s.ops:
					pendingGC = s.runBatch([]*op{o}, pendingGC)
				default:
					return
				}
			}
		}
		batch := []*op{first}
	fill:
		for len(batch) < s.maxBatch {
			select {
			case o := <-s.ops:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		pendingGC = s.runBatch(batch, pendingGC)
	}
}

// runBatch commits batch in one transaction and answers each op. gcDone
// are blob_gc rows whose files went after the previous commit; it returns
// the rows still to clear after this one.
func (s *Store) runBatch(batch []*op, gcDone []int64) []int64 {
	errs := make([]error, len(batch))
	gc, committed := s.commit(batch, errs, gcDone)
	for i, o := range batch {
		o.err <- errs[i]
	}
	if committed {
		return gc
	}
	return gcDone
}

// commit runs batch in one transaction, setting errs, and reports whether
// it committed and which blobs it deleted. A commit is measured
// (Options.Metrics: its time and how many writes it held) with two clock
// reads and two atomic histogram updates, nothing that waits.
func (s *Store) commit(batch []*op, errs []error, gcDone []int64) (gc []int64, committed bool) {
	ctx := context.Background()
	var start time.Time
	if s.metrics != nil {
		start = time.Now()
	}
	var linked []int64
	failAll := func(err error) {
		s.removeLinked(linked)
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	need := 0
	for _, o := range batch {
		need += o.blobs
	}
	tx, err := s.begin(ctx, need)
	if err != nil {
		failAll(fmt.Errorf("sqlite: begin: %w", err))
		return nil, false
	}
	if err := deleteGC(ctx, tx, gcDone); err != nil {
		s.log.Error("store: clearing blob_gc", "err", err)
	}
	var changes []store.Change
	ok := 0
	for i, o := range batch {
		w := &wtx{ctx: ctx, tx: tx, s: s, blobs: o.blobs}
		if err := runOp(tx, o.fn, w); err != nil {
			errs[i] = err
			s.removeLinked(w.linked)
			if errors.Is(err, errBrokenTx) {
				tx.Rollback()
				failAll(err)
				return nil, false
			}
			continue
		}
		ok++
		linked = append(linked, w.linked...)
		gc = append(gc, w.gc...)
		changes = append(changes, w.changes...)
	}
	if ok == 0 {
		tx.Rollback()
		return nil, false
	}
	now := time.Now()
	fw := &wtx{ctx: ctx, tx: tx, s: s}
	lo, hi, err := insertChanges(fw, changes, now)
	if err != nil {
		tx.Rollback()
		failAll(err)
		return nil, false
	}
	s.claimOwn(lo, hi)
	if err := s.pruneChanges(fw, now); err != nil {
		s.log.Error("store: pruning the change feed", "err", err)
	}
	if err := s.blobs.Sync(linked); err != nil {
		tx.Rollback()
		s.dropOwn(lo, hi)
		failAll(fmt.Errorf("sqlite: fsync: %w", err))
		return nil, false
	}
	if err := tx.Commit(); err != nil {
		s.dropOwn(lo, hi)
		failAll(fmt.Errorf("sqlite: commit: %w", err))
		return nil, false
	}
	if s.metrics != nil {
		s.metrics.Commit(len(batch), time.Since(start))
	}
	// Committed: the deleted blobs' files can go (their blob_gc rows with
	// them, in the next commit; a file that stays keeps its row for the
	// next start); then tell subscribers (the feed's follower skips these
	// rows).
	gc = s.removeBlobs(gc)
	s.hub.Publish(changes)
	return gc, true
}

var errBrokenTx = errors.New("sqlite: transaction broken")

// runOp runs fn under a savepoint, rolling back to it on error or panic.
func runOp(tx *sql.Tx, fn func(w *wtx) error, w *wtx) (err error) {
	if _, err := tx.Exec(`SAVEPOINT op`); err != nil {
		return fmt.Errorf("%w: %v", errBrokenTx, err)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sqlite: panic in write: %v", r)
		}
		if err != nil {
			if _, rerr := tx.Exec(`ROLLBACK TO op`); rerr != nil {
				err = fmt.Errorf("%w: %v (after %v)", errBrokenTx, rerr, err)
				return
			}
		}
		if _, rerr := tx.Exec(`RELEASE op`); rerr != nil && err == nil {
			err = fmt.Errorf("%w: %v", errBrokenTx, rerr)
		}
	}()
	return fn(w)
}

// removeBlobs removes blob files and returns the IDs it removed.
func (s *Store) removeBlobs(ids []int64) []int64 {
	var removed []int64
	for _, id := range ids {
		if err := s.blobs.Remove(id); err != nil {
			s.log.Error("store: removing blob file", "blob", id, "err", err)
			continue
		}
		removed = append(removed, id)
	}
	return removed
}

// removeLinked removes the files a failed write linked; one that stays
// keeps its reserved range for the next start's clean-up.
func (s *Store) removeLinked(ids []int64) {
	if len(s.removeBlobs(ids)) < len(ids) {
		s.ids.dirty = true
	}
}

func deleteGC(ctx context.Context, tx *sql.Tx, ids []int64) error {
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `DELETE FROM blob_gc WHERE blob_id = ?`, id); err != nil {
			return err
		}
	}
	return nil
}
