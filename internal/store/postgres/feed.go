package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"postel/internal/store"
)

// The change feed. Every write's changes become rows of the changes table,
// inserted last in the write's transaction. The writing Store publishes its
// own changes to its hub right after the commit (a session sees its own
// APPEND at once) and remembers their seq numbers, which its follower
// skips; then its notifier sends a NOTIFY on feedChannel, one for every
// burst of commits. The follower of every Store reads the rows past the
// highest seq it saw when a notification arrives (a dedicated LISTEN
// connection), every feedPoll in any case (the notification of a node that
// died between its commit and its NOTIFY, or lost while our connection was
// down), and after it reconnects.
//
// The NOTIFY is not sent inside the writes' transactions: PostgreSQL
// serializes the commits of all notifying transactions of the cluster
// (PreCommit_Notify takes a lock on "database 0" held until after the
// commit record is flushed), so every write would wait for every other's
// fsync, one at a time, and group commit would be lost. A NOTIFY alone
// writes no WAL: the lock is held for microseconds. It carries no data:
// it only says "look now"; the rows are the truth.
//
// Sequence numbers are taken at INSERT, not at COMMIT, so a row can become
// visible after rows with larger seq: the follower cannot just read past
// the highest seq it saw. Below that seq it keeps the numbers it has not
// seen (gaps) and reads them again at each look, until it knows they will
// never appear:
//
//   - A gap N is noticed by a read (one statement, one snapshot S) that
//     returned a row M > N but not N. The transaction T that took N called
//     nextval before M's did, and M's committed before S; T already had a
//     transaction ID then (the changes are inserted after the write's
//     other changes, and the insert asks for the ID first), so T's ID is
//     below S's xmax and, N not being visible in S, T was in progress at S
//     (or aborted): T is among pg_snapshot_xip(S).
//   - So once every transaction in progress at S has ended, which
//     pg_visible_in_snapshot(xid, pg_current_snapshot()) tells, a read
//     after that shows N if T committed; what is still missing then was
//     rolled back and is forgotten.
//
// Gaps cost a map entry and an array element in the follower's query; a
// gap still open after feedGapMax (a transaction stuck between its INSERT
// and its COMMIT that long) is given up with a warning, and at most
// feedMaxGaps are kept.
//
// For one account, seq order is commit order: the rows are inserted while
// the write holds the account's lock. The follower publishes in seq order.

// feedChannel is the NOTIFY channel of the change feed.
const feedChannel = "postel_changes"

// poke asks the notifier to NOTIFY the other nodes.
func (s *Store) poke() {
	select {
	case s.feed.poke <- struct{}{}:
	default:
	}
}

// notifier sends one NOTIFY for every burst of pokes (commits), outside
// the writes' transactions.
func (s *Store) notifier() {
	defer close(s.feed.notifierDone)
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.feed.poke:
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.opTimeout)
		_, err := s.pool.Exec(ctx, `SELECT pg_notify('`+feedChannel+`', '')`)
		cancel()
		if err != nil && s.ctx.Err() == nil {
			s.log.Debug("store: NOTIFY failed; the other nodes will poll", "err", err)
		}
	}
}

// feedPoll is how often the follower looks without being told.
const feedPoll = time.Second

// feedKeep is how long change rows are kept: far longer than any live
// follower lags behind.
const feedKeep = time.Hour

// feedBatch bounds the rows one look reads.
const feedBatch = 1000

// feedLookback is how far below the newest row a new follower looks for
// transactions in flight when it starts.
const feedLookback = 1024

// feedGapMax bounds how long a gap is awaited.
const feedGapMax = 10 * time.Minute

// feedMaxGaps bounds the gaps kept.
const feedMaxGaps = 100000

// janitorEvery is how often the follower prunes the feed, deletes released
// blobs and forgets old failed logins and leases.
const janitorEvery = time.Minute

// blobGrace is how long a blob no message uses any more is kept, for the
// readers that opened it.
const blobGrace = 10 * time.Minute

// feedState is the feed's state of one Store.
type feedState struct {
	// writers: every write holds it shared; Close takes it exclusively to
	// wait for the writes under way.
	writers sync.RWMutex

	mu  sync.Mutex
	own map[int64]struct{} // rows this Store published itself

	done chan struct{} // closed when the follower has stopped

	poke         chan struct{}
	notifierDone chan struct{}

	// The follower's own, touched only by its goroutine.
	hi        int64              // highest seq seen
	gaps      map[int64]*gapSet  // seq not seen below hi -> its set
	sets      map[string]*gapSet // by snapshot
	lastClean time.Time
	failing   bool      // the last look failed (logged once)
	lastRead  time.Time // the last look that succeeded (store.ResyncAfter)
}

// gapSet is the gaps one read noticed, with its snapshot.
type gapSet struct {
	snap    string
	seqs    map[int64]struct{}
	noticed time.Time
	settled bool // every transaction in progress at snap has ended
}

func (f *feedState) init() {
	f.own = map[int64]struct{}{}
	f.done = make(chan struct{})
	f.poke = make(chan struct{}, 1)
	f.notifierDone = make(chan struct{})
	f.gaps = map[int64]*gapSet{}
	f.sets = map[string]*gapSet{}
}

// claimOwn marks rows this Store publishes itself.
func (f *feedState) claimOwn(seqs []int64) {
	if len(seqs) == 0 {
		return
	}
	f.mu.Lock()
	for _, q := range seqs {
		f.own[q] = struct{}{}
	}
	f.mu.Unlock()
}

// dropOwn forgets rows whose commit failed.
func (f *feedState) dropOwn(seqs []int64) {
	f.mu.Lock()
	for _, q := range seqs {
		delete(f.own, q)
	}
	f.mu.Unlock()
}

// takeOwn reports whether seq is this Store's own, forgetting it.
func (f *feedState) takeOwn(seq int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.own[seq]
	delete(f.own, seq)
	return ok
}

// insertChanges records changes in w's transaction, after asking for the
// transaction's ID (see the argument above); it returns the rows' seq.
func (s *Store) insertChanges(w *wtx, changes []store.Change, now time.Time) ([]int64, error) {
	if len(changes) == 0 {
		return nil, nil
	}
	acct := make([]int64, len(changes))
	mbox := make([]int64, len(changes))
	kind := make([]int32, len(changes))
	modseq := make([]int64, len(changes))
	uids := make([][]byte, len(changes))
	for i, c := range changes {
		acct[i], mbox[i], kind[i], modseq[i], uids[i] = c.AccountID, c.MailboxID, int32(c.Kind), int64(c.ModSeq), store.EncodeUIDs(c.UIDs)
	}
	rows, err := w.tx.Query(w.ctx, `WITH x AS MATERIALIZED (SELECT pg_current_xact_id()),
		ins AS (INSERT INTO changes (account_id, mailbox_id, kind, modseq, uids, created)
			SELECT c.a, c.m, c.k, c.q, c.u, $6 FROM x,
				unnest($1::bigint[], $2::bigint[], $3::integer[], $4::bigint[], $5::bytea[]) WITH ORDINALITY AS c(a, m, k, q, u, o)
			ORDER BY c.o
			RETURNING seq)
		SELECT seq FROM ins`, acct, mbox, kind, modseq, uids, now.Unix())
	if err != nil {
		return nil, fmt.Errorf("postgres: recording changes: %w", err)
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("postgres: recording changes: %w", err)
	}
	return seqs, nil
}

// startFeed finds where the follower starts and starts it: after the
// newest row, with the rows missing just below it (transactions in flight)
// as gaps.
func (s *Store) startFeed(ctx context.Context) error {
	var snap string
	var hi int64
	var recent []int64
	err := s.pool.QueryRow(ctx, `SELECT pg_current_snapshot()::text, m.hi,
			ARRAY(SELECT seq FROM changes WHERE seq > m.hi - $1 ORDER BY seq)
		FROM (SELECT COALESCE(MAX(seq), 0) AS hi FROM changes) m`, feedLookback).Scan(&snap, &hi, &recent)
	if err != nil {
		return err
	}
	f := &s.feed
	f.hi = hi
	seen := map[int64]bool{}
	for _, q := range recent {
		seen[q] = true
	}
	for q := max(1, hi-feedLookback+1); q < hi; q++ {
		if !seen[q] {
			f.addGap(q, snap, time.Now())
		}
	}
	go s.follow()
	go s.notifier()
	return nil
}

// addGap notes seq as not seen, noticed by the read of snapshot snap.
func (f *feedState) addGap(seq int64, snap string, now time.Time) {
	set := f.sets[snap]
	if set == nil {
		set = &gapSet{snap: snap, seqs: map[int64]struct{}{}, noticed: now}
		f.sets[snap] = set
	}
	set.seqs[seq] = struct{}{}
	f.gaps[seq] = set
}

// dropGap forgets seq (seen, or given up).
func (f *feedState) dropGap(seq int64) {
	set := f.gaps[seq]
	if set == nil {
		return
	}
	delete(f.gaps, seq)
	delete(set.seqs, seq)
	if len(set.seqs) == 0 {
		delete(f.sets, set.snap)
	}
}

// follow publishes the other nodes' changes until Close.
func (s *Store) follow() {
	defer close(s.feed.done)
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			conn.Close(ctx)
			cancel()
		}
	}()
	var nextDial time.Time
	listenFailing := false
	for s.ctx.Err() == nil {
		if conn == nil && !time.Now().Before(nextDial) {
			c, err := s.listen()
			switch {
			case err == nil:
				conn = c
				if listenFailing {
					s.log.Info("store: change feed listening again")
				}
				listenFailing = false
			case s.ctx.Err() != nil:
				return
			default:
				if !listenFailing {
					s.log.Warn("store: change feed cannot LISTEN; polling meanwhile", "err", err)
				}
				listenFailing = true
				nextDial = time.Now().Add(feedPoll)
			}
		}
		// After (re)connecting, at each notification and each poll.
		s.catchUp()
		s.janitor()
		if conn == nil {
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(feedPoll):
			}
			continue
		}
		wctx, cancel := context.WithTimeout(s.ctx, feedPoll)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil && s.ctx.Err() == nil && !pgconn.Timeout(err) && !errors.Is(err, context.DeadlineExceeded) {
			s.log.Warn("store: change feed lost its LISTEN connection", "err", err)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			conn.Close(ctx)
			cancel()
			conn = nil
			listenFailing = true
		}
	}
}

// listen opens the follower's connection and LISTENs.
func (s *Store) listen() (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.connCfg.ConnectTimeout+5*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, s.connCfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `LISTEN `+feedChannel); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	return conn, nil
}

// catchUp reads and publishes every row there is to read now, logging a
// failure once until a look succeeds again.
func (s *Store) catchUp() {
	ctx, cancel := context.WithTimeout(s.ctx, s.opTimeout)
	defer cancel()
	err := s.readFeed(ctx)
	f := &s.feed
	switch {
	case err != nil && s.ctx.Err() == nil:
		if !f.failing {
			s.log.Error("store: reading the change feed", "err", err)
		}
		f.failing = true
	case err == nil && f.failing:
		s.log.Info("store: reading the change feed again")
		f.failing = false
	}
	if err == nil {
		// A follower that could not read for long may have lost rows
		// the janitors pruned meanwhile: every session re-reads.
		if !f.lastRead.IsZero() && time.Since(f.lastRead) > store.ResyncAfter {
			s.log.Warn("store: the change feed was unread for long: every session re-reads", "unread_for", time.Since(f.lastRead).Round(time.Second))
			s.hub.PublishResync()
		}
		f.lastRead = time.Now()
	}
	if fn := s.afterLook.Load(); fn != nil && err == nil {
		(*fn)(len(f.gaps))
	}
}

// readFeed settles the gap sets whose transactions have all ended, reads
// the rows past hi and the gaps, publishes those not this Store's own, and
// then forgets the gaps of the sets settled before the read.
func (s *Store) readFeed(ctx context.Context) error {
	f := &s.feed
	if err := s.settleGaps(ctx); err != nil {
		return err
	}
	var settled []*gapSet
	for _, set := range f.sets {
		if set.settled {
			settled = append(settled, set)
		}
	}
	for {
		n, err := s.readFeedBatch(ctx)
		if err != nil {
			return err
		}
		if n < feedBatch {
			break
		}
	}
	now := time.Now()
	for _, set := range settled {
		for q := range set.seqs {
			f.dropGap(q) // rolled back
		}
	}
	for _, set := range f.sets {
		if now.Sub(set.noticed) > feedGapMax {
			s.log.Warn("store: change feed gave up waiting for changes", "seqs", len(set.seqs), "waited", now.Sub(set.noticed))
			for q := range set.seqs {
				f.dropGap(q)
			}
		}
	}
	return nil
}

// settleGaps marks the gap sets whose snapshot's transactions in progress
// have all ended.
func (s *Store) settleGaps(ctx context.Context) error {
	f := &s.feed
	var snaps []string
	for snap, set := range f.sets {
		if !set.settled {
			snaps = append(snaps, snap)
		}
	}
	if len(snaps) == 0 {
		return nil
	}
	rows, err := s.pool.Query(ctx, `SELECT s, COALESCE((SELECT bool_and(pg_visible_in_snapshot(x, pg_current_snapshot()))
		FROM pg_snapshot_xip(s::pg_snapshot) AS x), true) FROM unnest($1::text[]) AS s`, snaps)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var snap string
		var done bool
		if err := rows.Scan(&snap, &done); err != nil {
			return err
		}
		if set := f.sets[snap]; set != nil && done {
			set.settled = true
		}
	}
	return rows.Err()
}

// readFeedBatch reads up to feedBatch rows (the gaps first, being below
// hi), publishes them and returns how many there were.
func (s *Store) readFeedBatch(ctx context.Context) (int, error) {
	f := &s.feed
	gaps := make([]int64, 0, len(f.gaps))
	for q := range f.gaps {
		gaps = append(gaps, q)
	}
	rows, err := s.pool.Query(ctx, `SELECT pg_current_snapshot()::text, seq, account_id, mailbox_id, kind, modseq, uids
		FROM changes WHERE seq > $1 OR seq = ANY($2) ORDER BY seq LIMIT $3`, f.hi, gaps, feedBatch)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	now := time.Now()
	var out []store.Change
	n := 0
	for rows.Next() {
		n++
		var snap string
		var seq, modseq int64
		var kind int32
		var uids []byte
		var c store.Change
		if err := rows.Scan(&snap, &seq, &c.AccountID, &c.MailboxID, &kind, &modseq, &uids); err != nil {
			return 0, err
		}
		c.Kind, c.ModSeq = store.ChangeKind(kind), uint64(modseq)
		if c.UIDs, err = store.DecodeUIDs(uids); err != nil {
			return 0, fmt.Errorf("change %d: %w", seq, err)
		}
		if seq > f.hi {
			// Rows between the last seen and this one: in flight or
			// rolled back.
			for q := max(f.hi+1, seq-feedMaxGaps); q < seq; q++ {
				f.addGap(q, snap, now)
			}
			f.hi = seq
		} else {
			f.dropGap(seq)
		}
		if !f.takeOwn(seq) {
			out = append(out, c)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	f.trimGaps()
	s.hub.Publish(out)
	return n, nil
}

// trimGaps keeps at most feedMaxGaps gaps, giving up the lowest.
func (f *feedState) trimGaps() {
	if len(f.gaps) <= feedMaxGaps {
		return
	}
	lowest := make([]int64, 0, len(f.gaps))
	for q := range f.gaps {
		lowest = append(lowest, q)
	}
	// A rare case (a huge write rolled back): sorting is fine.
	sortInt64s(lowest)
	for _, q := range lowest[:len(lowest)-feedMaxGaps] {
		f.dropGap(q)
	}
}

// janitor prunes the feed, deletes released blobs and forgets old failed
// logins and leases, once a minute (on every node: the statements are
// idempotent).
func (s *Store) janitor() {
	f := &s.feed
	now := time.Now()
	if now.Sub(f.lastClean) < janitorEvery {
		return
	}
	f.lastClean = now
	ctx, cancel := context.WithTimeout(s.ctx, s.opTimeout)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `DELETE FROM changes WHERE created < $1`, now.Add(-feedKeep).Unix()); err != nil && s.ctx.Err() == nil {
		s.log.Error("store: pruning the change feed", "err", err)
	}
	if err := s.deleteReleasedBlobs(ctx, now.Add(-blobGrace)); err != nil && s.ctx.Err() == nil {
		s.log.Error("store: deleting released blobs", "err", err)
	}
	if err := s.pruneShared(ctx, now); err != nil && s.ctx.Err() == nil {
		s.log.Error("store: pruning failed logins and leases", "err", err)
	}
}

// deleteReleasedBlobs deletes the blobs released before the given time,
// with their chunks and text.
func (s *Store) deleteReleasedBlobs(ctx context.Context, before time.Time) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM blobs WHERE refs = 0 AND released < $1`, before.Unix())
	return err
}
