// Package sqlite is the embedded default store: SQLite (modernc.org/sqlite,
// pure Go) for metadata, files for message bodies.
//
// Invariants:
//   - Every write runs on the one writer goroutine (see writer.go), in a
//     transaction it may share with other writes waiting at the same time
//     (group commit: one transaction, one fsync). Each write has its own
//     savepoint, so one failing write does not fail the others.
//   - Body files are linked and their directories fsynced before the commit
//     that makes them visible; changes are published only after the commit.
//   - A body file is linked only under a blob ID of a range committed to
//     blob_intents before (intents.go), never at or above the highest one;
//     an exclusive Open removes the files of those IDs that have no blobs
//     row, so a crash leaves no orphan and no row without its file.
//   - Reads use a separate pool of read-only connections (WAL lets them run
//     beside the writer).
//   - Every query that takes an account ID joins on it, so one account can
//     never read or change another's mailboxes.
//   - What a migration brings empty for the messages stored before it (the
//     full-text index, the threading fields) is filled by a backfill task
//     (backfill.go) the serving process runs after Open; each chunk
//     commits with the task's progress, so a crash resumes it.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"postel/internal/metrics"
	"postel/internal/store"
)

// Options tune Open.
type Options struct {
	// Exclusive takes the data directory's lock (one serving process at a
	// time) and cleans up what an interrupted run left behind. Admin commands
	// open without it, beside a running server.
	Exclusive bool
	// MaxBatch bounds how many writes share one transaction (default 256).
	MaxBatch int
	// ReadConns is the size of the read pool (default 2×GOMAXPROCS, at least 4).
	ReadConns int
	Logger    *slog.Logger
	// Metrics counts the group commits (time, writes per commit); nil
	// for none.
	Metrics *metrics.Metrics

	// Tests: the backfill's batch size, and a hook called after each
	// batch that stops the backfill when it returns false.
	backfillBatch int
	backfillHook  func(task string, done int64) bool
	// Tests: how many blob IDs a reservation takes.
	blobReserve int64
}

// Store is the SQLite implementation of store.Store and store.JunkStore.
type Store struct {
	dir   string
	wdb   *sql.DB // one connection: the writer
	rdb   *sql.DB // read pool
	blobs store.Blobs
	hub   *store.Hub
	log   *slog.Logger
	lock  *os.File

	metrics *metrics.Metrics // nil: commits are not measured

	ops  chan *op
	quit chan struct{}
	done chan struct{}
	// The change feed (feed.go): own are the rows the writer publishes
	// itself, which the follower skips; followDone is closed when the
	// follower has stopped.
	feedMu     sync.Mutex
	own        []ownRange
	followDone chan struct{}
	lastPrune  time.Time // writer only
	maxBatch   int
	// backfillDone is closed when the backfill (backfill.go) has stopped.
	backfillDone  chan struct{}
	backfillBatch int
	backfillHook  func(task string, done int64) bool
	// The writer's reserved blob IDs (intents.go) and how many a
	// reservation takes.
	ids     idRange
	reserve int64
	// maxReputations is store.MaxReputations; tests lower it.
	maxReputations int
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the store in dir: dir/postel.db and the
// body files under dir.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if opts.backfillBatch <= 0 {
		opts.backfillBatch = backfillBatch
	}
	if opts.blobReserve <= 0 {
		opts.blobReserve = defaultReserve
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// The database holds password hashes and everyone's mail: only the
	// server's user may read it, even if the directory was made 0755 by
	// hand (an existing directory keeps its mode through MkdirAll).
	if opts.Exclusive {
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, err
		}
	}
	s := &Store{
		dir:        dir,
		hub:        store.NewHub(),
		log:        opts.Logger,
		ops:        make(chan *op, opts.MaxBatch),
		quit:       make(chan struct{}),
		done:       make(chan struct{}),
		maxBatch:   opts.MaxBatch,
		followDone: make(chan struct{}),
		metrics:    opts.Metrics,

		backfillDone:  make(chan struct{}),
		backfillBatch: opts.backfillBatch,
		backfillHook:  opts.backfillHook,
		reserve:       opts.blobReserve,

		maxReputations: store.MaxReputations,
	}
	if opts.Exclusive {
		lock, err := store.LockDataDir(dir)
		if err != nil {
			return nil, err
		}
		s.lock = lock
	}
	fail := func(err error) (*Store, error) {
		s.closeDBs()
		return nil, err
	}
	var err error
	if s.blobs, err = store.NewFileBlobs(dir); err != nil {
		return fail(err)
	}
	path := filepath.Join(dir, "postel.db")
	// busy_timeout: modernc's default is 0, which fails at once when an admin
	// command and the server write at the same moment.
	// synchronous(FULL): a commit is durable when it returns.
	pragmas := url.Values{"_pragma": {
		"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)",
	}}
	wq := url.Values{"_pragma": pragmas["_pragma"], "_txlock": {"immediate"}}
	if s.wdb, err = sql.Open("sqlite", "file:"+path+"?"+wq.Encode()); err != nil {
		return fail(err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)
	if err := migrate(ctx, s.wdb); err != nil {
		return fail(fmt.Errorf("%s: %w", path, err))
	}
	// SQLite creates the -wal and -shm files with the database's mode.
	if err := os.Chmod(path, 0o600); err != nil {
		return fail(err)
	}
	rq := url.Values{"_pragma": append(pragmas["_pragma"], "query_only(1)")}
	if s.rdb, err = sql.Open("sqlite", "file:"+path+"?"+rq.Encode()); err != nil {
		return fail(err)
	}
	s.rdb.SetMaxOpenConns(opts.ReadConns)
	s.rdb.SetMaxIdleConns(opts.ReadConns)
	if opts.Exclusive {
		if err := s.clean(ctx); err != nil {
			return fail(err)
		}
	}
	last, err := s.lastChange(ctx)
	if err != nil {
		return fail(err)
	}
	go s.writer()
	go s.follow(last)
	if opts.Exclusive {
		go s.backfill()
	} else {
		close(s.backfillDone)
	}
	return s, nil
}

// clean removes spools and blob files an interrupted run left (from the
// blob intents), and the files of blobs deleted before a crash.
func (s *Store) clean(ctx context.Context) error {
	n, err := s.cleanIntents(ctx)
	if err != nil {
		return err
	}
	rows, err := s.wdb.QueryContext(ctx, `SELECT blob_id FROM blob_gc`)
	if err != nil {
		return err
	}
	ids, err := scanInt64s(rows)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.blobs.Remove(id); err != nil {
			return err
		}
	}
	if _, err := s.wdb.ExecContext(ctx, `DELETE FROM blob_gc`); err != nil {
		return err
	}
	if n+len(ids) > 0 {
		s.log.Info("store: removed files left by an interrupted run", "spools_and_orphans", n, "deleted_blobs", len(ids))
	}
	return nil
}

// Close stops the writer after the writes already queued, then closes.
func (s *Store) Close() error {
	select {
	case <-s.quit:
		return nil
	default:
	}
	close(s.quit)
	<-s.backfillDone
	<-s.done
	<-s.followDone
	return s.closeDBs()
}

func (s *Store) closeDBs() error {
	var errs []error
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
	}
	return errors.Join(errs...)
}

// Subscribe implements store.Store.
func (s *Store) Subscribe(accountID int64) store.Subscription { return s.hub.Subscribe(accountID) }

// NewSpool implements store.Store.
func (s *Store) NewSpool() (store.Spool, error) { return s.blobs.NewSpool() }

func scanInt64s(rows *sql.Rows) ([]int64, error) {
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
