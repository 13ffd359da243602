// Package postgres is the PostgreSQL store (jackc/pgx/v5, pgxpool): every
// node of a cluster of Postel servers opens the same database, and any node
// serves any account, any message and any queue entry.
//
// Invariants:
//   - A method that returned nil has committed: message bodies are rows of
//     the database (blob_chunks), inserted in the transaction that makes
//     them visible, so there is no file to make durable or to clean up.
//     The spool (Options.SpoolDir) only holds a body while it is received.
//   - Lock order, in every write transaction: account rows (ascending id)
//     first, then mailbox rows, then blob rows (ascending id, all at the
//     end of the transaction). Every write that changes an account's
//     mailboxes, messages, quota use or junk data first locks the account's
//     row (FOR NO KEY UPDATE, which does not block the foreign keys that
//     point at it): per account, those writes run one at a time, on any
//     node, and no two writes wait for each other in a cycle. A deadlock
//     or serialization failure reported anyway is retried.
//   - UIDs and MODSEQs are allocated by
//     UPDATE mailboxes SET uidnext = uidnext + n, highest_modseq = highest_modseq + 1 ... RETURNING,
//     never read and written back by the application: the mailbox's row
//     lock orders concurrent writers, so UIDs are strictly ascending and a
//     MODSEQ commits only after every smaller one of its mailbox.
//   - Every change is a row of the changes table, written at the end of
//     the transaction that makes it; this process publishes its own
//     changes to its Hub right after the commit, before the method
//     returns, and the follower (feed.go) publishes every other node's,
//     woken by NOTIFY and by a poll. Changes are published only after
//     their commit, never twice, and none is skipped (see feed.go for how
//     sequence numbers that commit out of order are handled).
//   - Blobs (bodies) are shared by the messages and queue entries that use
//     them and counted (blobs.refs); a blob no longer used is deleted a
//     grace period later (blobGrace), so a reader that opened it goes on
//     reading, as an open file would.
//   - Every query that takes an account ID joins on it, so one account can
//     never read or change another's mailboxes.
//   - Errors: store's sentinels as the SQLite store returns them; a
//     database that cannot be reached gives store.ErrUnavailable (wrapping
//     pgx's or the network's error) within Options.ConnectTimeout, or
//     OpTimeout for a method whose context has no deadline.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"postel/internal/metrics"
	"postel/internal/store"
)

// Options tune Open.
type Options struct {
	// MaxConns bounds the connection pool (default 16). The change
	// feed's LISTEN takes one more connection, outside the pool.
	MaxConns int32
	// SpoolDir holds the spools of bodies being received (in its tmp/).
	// Default: a directory of the store's own in os.TempDir(), removed by
	// Close.
	SpoolDir string
	// CleanSpools removes the spools an interrupted run left in SpoolDir:
	// only for the one process that owns the directory.
	CleanSpools bool
	// ConnectTimeout bounds making a connection (default 5s).
	ConnectTimeout time.Duration
	// OpTimeout bounds a method called with a context without a deadline
	// (default 2m), so that a database that stopped answering shows as
	// store.ErrUnavailable instead of a hang.
	OpTimeout time.Duration
	Logger    *slog.Logger
	// Metrics counts the commits (time, 1 write each); nil for none.
	Metrics *metrics.Metrics
}

// ErrClosed is returned by methods called after Close.
var ErrClosed = errors.New("postgres: store closed")

// Store is the PostgreSQL implementation of store.Store, store.JunkStore,
// store.AuthEpochs, store.Pinger, store.QueueStatser, and of what the
// nodes of a cluster share: store.Leases, store.LoginFailures and
// store.SharedFiles.
type Store struct {
	pool *pgxpool.Pool
	// backfillDone is closed when the pending backfills (backfill.go)
	// are done or stopped by Close.
	backfillDone chan struct{}
	connCfg      *pgx.ConnConfig // for the feed's LISTEN connection
	spools       *store.FileBlobs
	spoolDir     string // removed at Close when the store made it
	hub          *store.Hub
	log          *slog.Logger
	metrics      *metrics.Metrics
	opTimeout    time.Duration

	// ctx ends at Close: the follower and blob readers stop.
	ctx    context.Context
	cancel context.CancelFunc
	closed atomic.Bool

	feed feedState

	// maxReputations is store.MaxReputations; tests lower it.
	maxReputations int
	// beforeCommit, when set (tests), runs after the changes rows are
	// written and before COMMIT; an error rolls the write back.
	beforeCommit atomic.Pointer[func(changes []store.Change) error]
	// afterLook, when set (tests), is told after each look of the
	// follower how many gaps it waits for.
	afterLook atomic.Pointer[func(gaps int)]
}

var (
	_ store.Store        = (*Store)(nil)
	_ store.JunkStore    = (*Store)(nil)
	_ store.AuthEpochs   = (*Store)(nil)
	_ store.Pinger       = (*Store)(nil)
	_ store.QueueStatser = (*Store)(nil)
)

// Open connects to the database dsn (a PostgreSQL URL or key=value string),
// brings its schema up to date (see schema.go) and starts the change feed's
// follower.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 16
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = 2 * time.Minute
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg.MaxConns = opts.MaxConns
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > opts.ConnectTimeout {
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "postel"
	}
	s := &Store{
		backfillDone:   make(chan struct{}),
		connCfg:        cfg.ConnConfig.Copy(),
		hub:            store.NewHub(),
		log:            opts.Logger,
		metrics:        opts.Metrics,
		opTimeout:      opts.OpTimeout,
		maxReputations: store.MaxReputations,
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.feed.init()
	fail := func(err error) (*Store, error) {
		s.cancel()
		if s.pool != nil {
			s.pool.Close()
		}
		if s.spoolDir != "" {
			os.RemoveAll(s.spoolDir)
		}
		return nil, err
	}
	dir := opts.SpoolDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "postel-spool-"); err != nil {
			return fail(err)
		}
		s.spoolDir = dir
	}
	if s.spools, err = store.NewFileBlobs(dir); err != nil {
		return fail(err)
	}
	if opts.CleanSpools {
		// Only spools: blob files are never made here.
		if _, err := s.spools.Clean(nil, nil); err != nil {
			return fail(err)
		}
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return fail(s.mapErr(ctx, err))
	}
	mctx, cancel := s.opCtx(ctx)
	err = migrate(mctx, s.pool)
	cancel()
	if err != nil {
		return fail(s.mapErr(mctx, err))
	}
	if err := s.startFeed(ctx); err != nil {
		return fail(s.mapErr(ctx, err))
	}
	go s.runBackfills()
	return s, nil
}

// Close stops the follower, waits for the writes under way and closes the
// pool. Readers opened before (OpenMessage) fail from then on.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	// The writes under way finish first (their changes are published).
	s.feed.writers.Lock()
	s.feed.writers.Unlock()
	s.cancel()
	<-s.backfillDone
	<-s.feed.done
	<-s.feed.notifierDone
	s.pool.Close()
	if s.spoolDir != "" {
		return os.RemoveAll(s.spoolDir)
	}
	return nil
}

// Subscribe implements store.Store.
func (s *Store) Subscribe(accountID int64) store.Subscription { return s.hub.Subscribe(accountID) }

// NewSpool implements store.Store: a file in the spool directory, read into
// the database by Deliver.
func (s *Store) NewSpool() (store.Spool, error) { return s.spools.NewSpool() }

// errOpTimeout is the cause of a context that OpTimeout ended.
var errOpTimeout = errors.New("postgres: no answer within the operation timeout")

// opCtx gives ctx a deadline of OpTimeout when it has none.
func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, s.opTimeout, errOpTimeout)
}

// querier is what reads need: the pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// read runs fn on the pool, with the store's timeout and error mapping.
func (s *Store) read(ctx context.Context, fn func(ctx context.Context, q querier) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	return s.mapErr(ctx, fn(ctx, s.pool))
}

// mapErr turns the errors of pgx into the store's: the store's sentinels
// pass as they are, an unreachable database becomes ErrUnavailable
// (wrapping the cause), anything else is wrapped with the package's name.
func (s *Store) mapErr(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrExists), errors.Is(err, store.ErrInvalid),
		errors.Is(err, store.ErrQuota), errors.Is(err, store.ErrInUse), errors.Is(err, store.ErrLeaseLost),
		errors.Is(err, ErrClosed), errors.Is(err, store.ErrUnavailable), errors.Is(err, ErrSchemaTooNew):
		return err
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%w: %v", store.ErrNotFound, err)
	case isUniqueViolation(err):
		return fmt.Errorf("%w: %v", store.ErrExists, err)
	case unavailable(ctx, err):
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return fmt.Errorf("postgres: %w", err)
}

// unavailable reports whether err says the database could not be reached
// or stopped answering (rather than refusing what was asked).
func unavailable(ctx context.Context, err error) bool {
	var ce *pgconn.ConnectError
	var pe *pgconn.PgError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		return true
	case errors.As(err, &pe):
		// Class 08: connection exception; 57P01-3: shutting down or
		// starting; 53300: too many connections.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || pe.Code == "53300"
	case context.Cause(ctx) == errOpTimeout:
		return true
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The caller's own context: its choice, not the database's fault.
		return false
	case errors.Is(err, pgconn.ErrConnClosed):
		// A pooled connection whose socket went away (the server stopped)
		// is handed out once more before the pool notices.
		return true
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}

// SQLSTATE codes the store looks at.
const (
	codeUniqueViolation      = "23505"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func isUniqueViolation(err error) bool { return pgCode(err) == codeUniqueViolation }

// notFound turns pgx.ErrNoRows into store.ErrNotFound naming what.
func notFound(err error, what string, id any) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %s %v", store.ErrNotFound, what, id)
	}
	return err
}

// nonNil keeps NOT NULL bytea columns non-NULL: pgx sends a nil slice as
// NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func uidsToInt64(uids []uint32) []int64 {
	out := make([]int64, len(uids))
	for i, u := range uids {
		out[i] = int64(u)
	}
	return out
}

// prefixed qualifies each column of a comma-separated list: prefixed("m.",
// "a, b") is "m.a, m.b".
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

func sortInt64s(s []int64) { slices.Sort(s) }
