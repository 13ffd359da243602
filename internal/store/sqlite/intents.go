package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"postel/internal/store"
)

// Blob intents. A body file is linked into msg/ inside the transaction
// that inserts its blobs row, before that transaction commits, so a crash
// in between leaves a file that no row names. To find such files at the
// next start without reading every one, blob IDs are reserved first:
//
//   - The writer keeps a range [next, end) of IDs recorded in blob_intents
//     by a commit of its own (reserveIDs), before the batch that links a
//     file under one of them; each new blob takes its ID from it, and a
//     write may take only as many as it declared (writeBlobs).
//   - A range starts at MAX(hi), read and written under SQLite's write
//     lock, so the ranges of the server and of an admin process writing
//     beside it never overlap, and no ID is given twice, across restarts
//     too. No file is ever linked at or above MAX(hi).
//   - A batch that takes IDs first checks, under the write lock, that its
//     range is still recorded; if not (an exclusive Open settled it), the
//     writer reserves another.
//   - When the writer moves to a new range, the previous one is deleted in
//     the same commit: every write that used it has committed, or failed
//     and removed its files (unless a removal failed: then it stays).
//   - An exclusive Open (cleanIntents), in one transaction, removes every
//     file in a recorded range or at or above MAX(hi) that has no blobs
//     row, then deletes the ranges, keeping MAX(hi) as a row lo = hi.

// defaultReserve is how many blob IDs a reservation takes.
const defaultReserve = 1024

// idRange is the writer's reserved range: IDs next..end-1 are free, and
// (lo, end) is its row in blob_intents. dirty: a file under one of its IDs
// was left after a failed write, for the next start to remove.
type idRange struct {
	lo, next, end int64
	dirty         bool
}

// errNoBlobID: a write took more blob IDs than it declared.
var errNoBlobID = errors.New("sqlite: no reserved blob ID left for this write")

// newBlobID takes the next reserved blob ID for this write.
func (w *wtx) newBlobID() (int64, error) {
	ids := &w.s.ids
	if w.blobs <= 0 || ids.next >= ids.end {
		return 0, errNoBlobID
	}
	w.blobs--
	id := ids.next
	ids.next++
	return id, nil
}

// begin starts a batch's transaction with need blob IDs reserved, and
// that reservation still recorded.
func (s *Store) begin(ctx context.Context, need int) (*sql.Tx, error) {
	for try := 0; ; try++ {
		if need > 0 && s.ids.end-s.ids.next < int64(need) {
			if err := s.reserveIDs(ctx, int64(need)); err != nil {
				return nil, fmt.Errorf("sqlite: reserving blob IDs: %w", err)
			}
		}
		tx, err := s.wdb.BeginTx(ctx, nil)
		if err != nil || need == 0 {
			return tx, err
		}
		var held bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM blob_intents WHERE lo = ? AND hi = ?)`,
			s.ids.lo, s.ids.end).Scan(&held); err != nil {
			tx.Rollback()
			return nil, err
		}
		if held {
			return tx, nil
		}
		tx.Rollback()
		if try > 0 {
			return nil, errors.New("sqlite: reserved blob IDs lost at once")
		}
		// Settled by an exclusive Open: this range's files are all
		// committed or removed; take a new one.
		s.ids = idRange{}
	}
}

// reserveIDs commits a new range of at least need blob IDs at MAX(hi) and
// makes it the writer's; the previous range goes in the same commit
// unless dirty.
func (s *Store) reserveIDs(ctx context.Context, need int64) error {
	n := max(s.reserve, need)
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var lo int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(hi), 1) FROM blob_intents`).Scan(&lo); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM blob_intents WHERE lo = hi`); err != nil {
		return err
	}
	if s.ids.end > s.ids.lo && !s.ids.dirty {
		if _, err := tx.ExecContext(ctx, `DELETE FROM blob_intents WHERE lo = ? AND hi = ?`, s.ids.lo, s.ids.end); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO blob_intents (lo, hi) VALUES (?, ?)`, lo, lo+n); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.ids = idRange{lo: lo, next: lo, end: lo + n}
	return nil
}

// cleanIntents removes the spools and the orphan blob files an interrupted
// run left (see above) and settles every range. Only at an exclusive Open,
// before the writer starts; the transaction's write lock keeps every other
// process out of the window between a link and its commit.
func (s *Store) cleanIntents(ctx context.Context) (int, error) {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT lo, hi FROM blob_intents WHERE lo < hi ORDER BY lo`)
	if err != nil {
		return 0, err
	}
	var intents []store.IDRange
	for rows.Next() {
		var r store.IDRange
		if err := rows.Scan(&r.Lo, &r.Hi); err != nil {
			rows.Close()
			return 0, err
		}
		intents = append(intents, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	var top int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(hi), 1) FROM blob_intents`).Scan(&top); err != nil {
		return 0, err
	}
	intents = append(intents, store.IDRange{Lo: top, Hi: math.MaxInt64})
	n, err := s.blobs.Clean(intents, func(id int64) (bool, error) {
		var ok bool
		err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM blobs WHERE id = ?)`, id).Scan(&ok)
		return ok, err
	})
	if err != nil {
		return n, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM blob_intents`); err != nil {
		return n, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO blob_intents (lo, hi) VALUES (?, ?)`, top, top); err != nil {
		return n, err
	}
	return n, tx.Commit()
}
