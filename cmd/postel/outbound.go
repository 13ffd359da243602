package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"time"

	"postel/internal/dkim"
	"postel/internal/queue"
	"postel/internal/store/sqlite"
)

// dkimDir is where DKIM keys live: data_dir/dkim.
func (e *env) dkimDir() (string, error) {
	cfg, err := e.loadConfig()
	if err != nil {
		return "", err
	}
	return filepath.Join(cfg.DataDir, "dkim"), nil
}

func runDKIMGen(e *env, args []string) error {
	return e.dkimRecords(args, dkim.Generate)
}

func runDKIMShow(e *env, args []string) error {
	return e.dkimRecords(args, dkim.Records)
}

// dkimRecords runs fn for the domain and prints the records to publish.
func (e *env) dkimRecords(args []string, fn func(dir, domain string) ([]dkim.Record, error)) error {
	pos, err := e.parse(args, 1, 1)
	if err != nil {
		return err
	}
	dir, err := e.dkimDir()
	if err != nil {
		return err
	}
	recs, err := fn(dir, pos[0])
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already has DKIM keys; `postel dkim show %s` prints their records", pos[0], pos[0])
	} else if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "; Publish these TXT records for %s; a running server signs with new keys after a restart.\n", pos[0])
	for _, r := range recs {
		fmt.Fprintln(e.stdout, r.Zone())
	}
	return nil
}

func runQueueList(e *env, args []string) error {
	return e.withStore(args, 0, 0, func(st *sqlite.Store, _ []string) error {
		all, err := st.Queue(e.ctx)
		if err != nil {
			return err
		}
		fmt.Fprint(e.stdout, queue.List(all, time.Now()))
		return nil
	})
}

// withQueued parses one queue ID argument.
func (e *env) withQueued(args []string, fn func(st *sqlite.Store, id int64) error) error {
	return e.withStore(args, 1, 1, func(st *sqlite.Store, pos []string) error {
		id, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil || id <= 0 {
			return usageError{fmt.Sprintf("bad queue ID %q", pos[0])}
		}
		return fn(st, id)
	})
}

func runQueueShow(e *env, args []string) error {
	return e.withQueued(args, func(st *sqlite.Store, id int64) error {
		q, err := st.QueueEntry(e.ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprint(e.stdout, queue.Describe(q, time.Now()))
		return nil
	})
}

func runQueueRetry(e *env, args []string) error {
	return e.withQueued(args, func(st *sqlite.Store, id int64) error { return st.RetryQueued(e.ctx, id) })
}

func runQueueDrop(e *env, args []string) error {
	return e.withQueued(args, func(st *sqlite.Store, id int64) error { return st.DeleteQueued(e.ctx, id) })
}
