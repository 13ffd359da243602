package sqlite

import (
	"context"
	"fmt"
	"slices"
	"time"

	"postel/internal/store"
)

// The durable change feed. Every write's changes become rows of the
// changes table in the transaction that makes them (seq is commit order:
// SQLite has one writer at a time, across processes too). The writer
// publishes its own changes to the hub right after the commit, before it
// answers the writes (a session sees its own APPEND at once); the follower
// of each open Store reads the rows it did not write, every feedPoll,
// which is how the writes of another process (an admin command run beside
// the server) reach this one's sessions.

// feedPoll is how often the follower looks for other processes' changes.
const feedPoll = 200 * time.Millisecond

// feedKeep is how long change rows are kept: far longer than any live
// follower lags behind.
const feedKeep = time.Hour

// feedBatch bounds the rows one look reads.
const feedBatch = 1000

// insertChanges records changes in tx and returns the range of seq they
// took (lo > hi when none).
func insertChanges(w *wtx, changes []store.Change, now time.Time) (lo, hi int64, err error) {
	lo = 1
	for i, c := range changes {
		res, err := w.tx.ExecContext(w.ctx, `INSERT INTO changes (account_id, mailbox_id, kind, modseq, uids, created)
			VALUES (?, ?, ?, ?, ?, ?)`, c.AccountID, c.MailboxID, int(c.Kind), int64(c.ModSeq), store.EncodeUIDs(c.UIDs), now.Unix())
		if err != nil {
			return 0, 0, fmt.Errorf("sqlite: recording a change: %w", err)
		}
		if hi, err = res.LastInsertId(); err != nil {
			return 0, 0, err
		}
		if i == 0 {
			lo = hi
		}
	}
	return lo, hi, nil
}

// ownRange is a range of seq this Store's writer publishes itself.
type ownRange struct{ lo, hi int64 }

// claimOwn tells the follower to skip rows lo..hi: marked before the
// commit, so that the follower never reads them unmarked.
func (s *Store) claimOwn(lo, hi int64) {
	if lo > hi {
		return
	}
	s.feedMu.Lock()
	s.own = append(s.own, ownRange{lo, hi})
	s.feedMu.Unlock()
}

// dropOwn forgets a range whose commit failed: its seq numbers will be
// taken again by a later commit, maybe of another process.
func (s *Store) dropOwn(lo, hi int64) {
	s.feedMu.Lock()
	s.own = slices.DeleteFunc(s.own, func(r ownRange) bool { return r == ownRange{lo, hi} })
	s.feedMu.Unlock()
}

// isOwn reports whether the writer published seq itself, forgetting the
// ranges below it (rows are read in seq order).
func (s *Store) isOwn(seq int64) bool {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	for len(s.own) > 0 && s.own[0].hi < seq {
		s.own = s.own[1:]
	}
	return len(s.own) > 0 && s.own[0].lo <= seq
}

// pruneChanges forgets change rows older than feedKeep, at most once a
// minute.
func (s *Store) pruneChanges(w *wtx, now time.Time) error {
	if now.Sub(s.lastPrune) < time.Minute {
		return nil
	}
	s.lastPrune = now
	_, err := w.tx.ExecContext(w.ctx, `DELETE FROM changes WHERE created < ?`, now.Add(-feedKeep).Unix())
	return err
}

// follow publishes the feed's rows to the hub until Close.
func (s *Store) follow(last int64) {
	defer close(s.followDone)
	tick := time.NewTicker(feedPoll)
	defer tick.Stop()
	failing := false // logged once until a read succeeds again
	for {
		select {
		case <-s.quit:
			return
		case <-tick.C:
		}
		for {
			n, next, err := s.readFeed(last)
			if err != nil {
				if !failing {
					s.log.Error("store: reading the change feed", "err", err)
				}
				failing = true
				break
			}
			if failing {
				s.log.Info("store: reading the change feed again")
				failing = false
			}
			last = next
			if n < feedBatch {
				break
			}
		}
	}
}

// readFeed publishes the rows after last and returns how many there were
// and the last seq seen.
func (s *Store) readFeed(last int64) (int, int64, error) {
	ctx := context.Background()
	rows, err := s.rdb.QueryContext(ctx, `SELECT seq, account_id, mailbox_id, kind, modseq, uids FROM changes
		WHERE seq > ? ORDER BY seq LIMIT ?`, last, feedBatch)
	if err != nil {
		return 0, last, err
	}
	defer rows.Close()
	var out []store.Change
	first, n := true, 0
	for rows.Next() {
		n++
		var seq, modseq int64
		var kind int
		var uids []byte
		var c store.Change
		if err := rows.Scan(&seq, &c.AccountID, &c.MailboxID, &kind, &modseq, &uids); err != nil {
			return 0, last, err
		}
		if first && last > 0 && seq != last+1 {
			// Rows this follower never saw were pruned (it was stopped for
			// longer than feedKeep): sessions may have missed changes.
			s.log.Warn("store: change feed gap: every session re-reads", "after", last, "next", seq)
			s.hub.PublishResync()
		}
		first = false
		c.Kind, c.ModSeq = store.ChangeKind(kind), uint64(modseq)
		if c.UIDs, err = store.DecodeUIDs(uids); err != nil {
			return 0, last, fmt.Errorf("change %d: %w", seq, err)
		}
		if !s.isOwn(seq) {
			out = append(out, c)
		}
		last = seq
	}
	if err := rows.Err(); err != nil {
		return 0, last, err
	}
	s.hub.Publish(out)
	return n, last, nil
}

// lastChange is the newest row of the feed (0 when empty): a new follower
// starts after it.
func (s *Store) lastChange(ctx context.Context) (int64, error) {
	var last int64
	err := s.rdb.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changes`).Scan(&last)
	return last, err
}
