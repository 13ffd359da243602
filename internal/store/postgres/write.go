package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"postel/internal/store"
)

// maxAttempts bounds how often a write that PostgreSQL aborted as a
// deadlock or serialization failure is run again.
const maxAttempts = 5

// wtx is what one write sees and collects during its transaction. A write
// function may run more than once (after a deadlock): it must set its
// results afresh each time.
type wtx struct {
	ctx context.Context
	tx  pgx.Tx
	s   *Store
	// accounts locked by lockAccounts, with their quota and use.
	accounts map[int64]*lockedAccount
	// blobRefs are the changes of blobs.refs, applied at the end of the
	// transaction in ascending blob order (lock order).
	blobRefs map[int64]int
	changes  []store.Change // recorded and published with the commit
}

type lockedAccount struct {
	quota, used int64
	delta       int64 // change of used_bytes, written at the end
}

// write runs fn in a transaction and commits it, with the changes fn
// recorded; it publishes them after the commit.
func (s *Store) write(ctx context.Context, fn func(w *wtx) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	s.feed.writers.RLock()
	defer s.feed.writers.RUnlock()
	if s.closed.Load() {
		return ErrClosed
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	for attempt := 1; ; attempt++ {
		err := s.writeOnce(ctx, fn)
		if code := pgCode(err); attempt < maxAttempts && (code == codeDeadlockDetected || code == codeSerializationFailure) {
			s.log.Debug("store: write retried", "err", err, "attempt", attempt)
			select {
			case <-time.After(time.Duration(rand.Int64N(int64(10*time.Millisecond) << attempt))):
				continue
			case <-ctx.Done():
			}
		}
		return s.mapErr(ctx, err)
	}
}

// writeOnce runs fn in one transaction.
func (s *Store) writeOnce(ctx context.Context, fn func(w *wtx) error) (err error) {
	start := time.Now()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("postgres: panic in write: %v", r)
		}
		if err != nil {
			// A rollback that fails leaves the connection to the pool,
			// which closes it.
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			tx.Rollback(rctx)
			cancel()
		}
	}()
	w := &wtx{ctx: ctx, tx: tx, s: s, accounts: map[int64]*lockedAccount{}, blobRefs: map[int64]int{}}
	if err := fn(w); err != nil {
		return err
	}
	seqs, err := w.finish()
	if err != nil {
		return err
	}
	// The follower must skip these rows: marked before the commit, so that
	// it never reads them unmarked.
	s.feed.claimOwn(seqs)
	if hook := s.beforeCommit.Load(); hook != nil {
		if err := (*hook)(w.changes); err != nil {
			s.feed.dropOwn(seqs)
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		// Maybe committed after all (the connection broke after COMMIT
		// went out): then the follower publishes the rows.
		s.feed.dropOwn(seqs)
		return err
	}
	if s.metrics != nil {
		s.metrics.Commit(1, time.Since(start))
	}
	s.hub.Publish(w.changes)
	if len(seqs) > 0 {
		s.poke()
	}
	return nil
}

// lockAccounts locks the rows of the given accounts (those that exist), in
// ascending order, and reads their quota and use. A write locks every
// account it needs in one call, before any other row.
func (w *wtx) lockAccounts(ids ...int64) error {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for _, id := range ids {
		if _, ok := w.accounts[id]; ok {
			continue
		}
		for have := range w.accounts {
			if have > id {
				return fmt.Errorf("postgres: account %d locked after %d (lock order)", id, have)
			}
		}
	}
	rows, err := w.tx.Query(w.ctx, `SELECT id, quota_bytes, used_bytes FROM accounts WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		a := &lockedAccount{}
		if err := rows.Scan(&id, &a.quota, &a.used); err != nil {
			return err
		}
		if _, ok := w.accounts[id]; !ok {
			w.accounts[id] = a
		}
	}
	return rows.Err()
}

// account returns a locked account, ErrNotFound when it does not exist.
func (w *wtx) account(id int64) (*lockedAccount, error) {
	a, ok := w.accounts[id]
	if !ok {
		return nil, fmt.Errorf("%w: account %d", store.ErrNotFound, id)
	}
	return a, nil
}

// fits applies store.Account.Fits to a locked account, counting what this
// write added already.
func (a *lockedAccount) fits(size int64) bool {
	return store.Account{QuotaBytes: a.quota, UsedBytes: a.used + a.delta}.Fits(size)
}

// refBlob changes a blob's reference count by d at the end of the write.
func (w *wtx) refBlob(id int64, d int) { w.blobRefs[id] += d }

// finish writes what the write collected: the accounts' use, the blobs'
// reference counts (in ascending order) and the changes, with a NOTIFY;
// it returns the changes' sequence numbers.
func (w *wtx) finish() ([]int64, error) {
	ids := make([]int64, 0, len(w.accounts))
	for id, a := range w.accounts {
		if a.delta != 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		if _, err := w.tx.Exec(w.ctx, `UPDATE accounts SET used_bytes = GREATEST(0, used_bytes + $2) WHERE id = $1`, id, w.accounts[id].delta); err != nil {
			return nil, err
		}
	}
	if err := w.applyBlobRefs(); err != nil {
		return nil, err
	}
	return w.s.insertChanges(w, w.changes, time.Now())
}

// applyBlobRefs locks the blobs whose counts change, in ascending order,
// then changes the counts; a blob no longer used is marked released (and
// deleted blobGrace later by the follower's janitor).
func (w *wtx) applyBlobRefs() error {
	var ids []int64
	var deltas []int32
	for id, d := range w.blobRefs {
		if d != 0 {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	for _, id := range ids {
		deltas = append(deltas, int32(w.blobRefs[id]))
	}
	if _, err := w.tx.Exec(w.ctx, `SELECT id FROM blobs WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, ids); err != nil {
		return err
	}
	tag, err := w.tx.Exec(w.ctx, `UPDATE blobs b SET refs = b.refs + d.delta,
			released = CASE WHEN b.refs + d.delta <= 0 THEN $3::bigint END
		FROM unnest($1::bigint[], $2::integer[]) AS d(id, delta) WHERE b.id = d.id`, ids, deltas, time.Now().Unix())
	if err != nil {
		return err
	}
	if tag.RowsAffected() != int64(len(ids)) {
		return errors.New("postgres: blob reference count of a missing blob")
	}
	return nil
}
