package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"postel/internal/admin"
	"postel/internal/config"
	"postel/internal/control"
)

// call runs the admin command name (internal/admin) with args and decodes
// its result into result: in the running server, through its control
// socket, when one answers on the data directory; else on the store,
// opened here beside nobody. Both ways build the same JSON request and get
// the same result.
func (e *env) call(name string, args, result any) error {
	dir, err := e.dataDirPath()
	if err != nil {
		return err
	}
	c, err := control.Dial(dir)
	if err == nil {
		defer c.Close()
		return c.Call(e.ctx, name, args, result)
	}
	if !errors.Is(err, control.ErrNoServer) {
		return err
	}
	if serverHolds(dir) {
		fmt.Fprintf(e.stderr, "postel: warning: a server holds %s but its control socket does not answer; "+
			"working on the store directly (open sessions see the change through the store's feed)\n", dir)
	}
	// Beside a server that is starting or stopping, the store's locking
	// keeps concurrent writes safe; only the server cleans up after
	// crashes. The config says which store; without one (--data-dir of
	// a serve --dev), it is SQLite in the data dir.
	cfg := config.Dev(dir)
	if e.dataDir == "" || e.configPath != "" {
		if cfg, err = e.loadConfig(); err != nil {
			return err
		}
	}
	if reads(name) && cfg.Store.Driver == "sqlite" {
		if _, err := os.Stat(filepath.Join(dir, "postel.db")); err != nil {
			return fmt.Errorf("no Postel data in %s (no postel.db there): is --data-dir or the config's data_dir right?", dir)
		}
	}
	st, err := openStore(e.ctx, cfg, false, nil, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	raw, err := json.Marshal(args)
	if err != nil {
		return err
	}
	res, err := admin.New(st, admin.Options{DataDir: dir}).Exec(e.ctx, name, raw)
	if err != nil || result == nil {
		return err
	}
	return json.Unmarshal(res, result)
}

// reads tells the commands that only read: they do not create a data
// directory that is not there (a mistyped path is an error, not an empty
// server).
func reads(name string) bool {
	return strings.HasSuffix(name, " list") || strings.HasSuffix(name, " show") || name == "mailbox acl"
}

// serverHolds tells whether a process holds the data directory's lock
// (postel serve), without taking it.
func serverHolds(dir string) bool {
	f, err := os.OpenFile(filepath.Join(dir, "postel.lock"), os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// printJSON writes v as indented JSON, for --json.
func (e *env) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}
