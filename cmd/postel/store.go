package main

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"postel/internal/config"
	"postel/internal/metrics"
	"postel/internal/store"
	"postel/internal/store/postgres"
	"postel/internal/store/sqlite"
)

// openStore opens the store cfg names ([store] driver): SQLite in the data
// dir, or PostgreSQL, whose spools still go to the data dir. serving is for
// postel serve alone: it holds the data dir's lock and cleans up what a
// crash left. An admin command opens beside a server (or none).
func openStore(ctx context.Context, cfg *config.Config, serving bool, log *slog.Logger, m *metrics.Metrics) (store.Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Store.Driver != "postgres" {
		return sqlite.Open(ctx, cfg.DataDir, sqlite.Options{Exclusive: serving, Logger: log, Metrics: m})
	}
	opts := postgres.Options{MaxConns: int32(cfg.Store.MaxConns), Logger: log, Metrics: m}
	var lock *os.File
	if serving {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, err
		}
		var err error
		if lock, err = store.LockDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
		opts.SpoolDir, opts.CleanSpools = cfg.DataDir, true
	}
	st, err := postgres.Open(ctx, cfg.Store.DSN, opts)
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, err
	}
	if lock == nil {
		return st, nil
	}
	return &lockedStore{st, lock}, nil
}

// lockedStore holds the data dir's lock as long as its store is open.
type lockedStore struct {
	*postgres.Store
	lock *os.File
}

func (l *lockedStore) Close() error {
	return errors.Join(l.Store.Close(), l.lock.Close())
}
