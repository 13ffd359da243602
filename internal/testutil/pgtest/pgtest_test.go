package pgtest

import (
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(RunMain(m)) }

// dbName returns the database a DSN names.
func dbName(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

// postmasterPID returns the PID of s's postmaster.
func postmasterPID(t *testing.T, s *Server) int {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pid == 0 {
		t.Fatal("no postmaster")
	}
	return s.pid
}

// checkGone fails the test unless process pid ends within a few seconds.
// A zombie counts as gone: kill(pid, 0) succeeds on one until its new
// parent (whoever adopted the postmaster from pg_ctl) reaps it.
func checkGone(t *testing.T, pid int) {
	t.Helper()
	if !gone(pid, 5*time.Second) {
		t.Fatalf("postmaster %d still runs", pid)
	}
	if err := syscall.Kill(pid, 0); err == nil && alive(pid) {
		t.Fatalf("kill(%d, 0) succeeds", pid)
	}
}

// TestStartDatabasesStop starts a server, makes two databases and queries
// each, and stops it: its postmaster is gone.
func TestStartDatabasesStop(t *testing.T) {
	s := Start(t)
	dsn1, dsn2 := s.NewDatabase(t), s.NewDatabase(t)
	if dsn1 == dsn2 {
		t.Fatalf("two databases with one DSN: %s", dsn1)
	}
	wantPrefix := "postgres://postgres@127.0.0.1:" + strconv.Itoa(s.Port()) + "/"
	for _, dsn := range []string{dsn1, dsn2} {
		if !strings.HasPrefix(dsn, wantPrefix) || !strings.HasSuffix(dsn, "?sslmode=disable") {
			t.Errorf("DSN %s, want %s...?sslmode=disable", dsn, wantPrefix)
		}
		db := dbName(t, dsn)
		if got := s.Psql(t, db, "SELECT 1"); got != "1" {
			t.Errorf("SELECT 1 in %s: %q", db, got)
		}
		if got := s.Psql(t, db, "SELECT current_database()"); got != db {
			t.Errorf("current_database() in %s: %q", db, got)
		}
	}
	if got := s.Psql(t, "postgres", "SHOW fsync; SHOW max_connections; SHOW server_encoding"); got != "on\n200\nUTF8" {
		t.Errorf("settings: %q", got)
	}
	pid := postmasterPID(t, s)
	s.Stop(t)
	checkGone(t, pid)
	s.Stop(t) // a second Stop does nothing
	if _, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port()))); err == nil {
		t.Error("something still listens on the stopped server's port")
	}
}

// TestStopStartAgain stops a server and starts it again on the same port,
// with the data committed before the stop.
func TestStopStartAgain(t *testing.T) {
	s := Start(t)
	port := s.Port()
	db := dbName(t, s.NewDatabase(t))
	s.Psql(t, db, "CREATE TABLE t (v text); INSERT INTO t VALUES ('kept')")
	pid := postmasterPID(t, s)
	s.Stop(t)
	checkGone(t, pid)
	if _, err := s.psql(db, "SELECT 1"); err == nil {
		t.Fatal("psql works with the server stopped")
	}
	s.StartAgain(t)
	if s.Port() != port {
		t.Errorf("port %d after StartAgain, was %d", s.Port(), port)
	}
	if got := s.Psql(t, db, "SELECT v FROM t"); got != "kept" {
		t.Errorf("after StartAgain: %q, want kept", got)
	}
	if postmasterPID(t, s) == pid {
		t.Error("the same postmaster PID after StartAgain")
	}
}

// TestCleanup checks that a test's server is gone, and its directory
// removed, when the test ends.
func TestCleanup(t *testing.T) {
	var pid int
	var base string
	t.Run("server", func(t *testing.T) {
		s := Start(t)
		pid, base = postmasterPID(t, s), s.base
	})
	if pid == 0 {
		t.Skip("no server started")
	}
	checkGone(t, pid)
	if _, err := os.Stat(base); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s after the test: %v", base, err)
	}
}

// TestWatchdog checks that the watchdog stops the server and removes its
// directory when the pipe from the test binary ends: what happens when
// the binary dies without its cleanups.
func TestWatchdog(t *testing.T) {
	s := Start(t)
	pid := postmasterPID(t, s)
	s.watchdog.w.Close()
	if err := s.watchdog.cmd.Wait(); err != nil {
		t.Fatalf("watchdog: %v", err)
	}
	checkGone(t, pid)
	if _, err := os.Stat(s.base); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s after the watchdog: %v", s.base, err)
	}
	// What close would have done, without the dismissal of the watchdog.
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// TestPortTaken starts a server whose first port is taken: it starts on
// the next one.
func TestPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().(*net.TCPAddr).Port
	tries := 0
	s, err := start(false, func() (int, error) {
		tries++
		if tries == 1 {
			return taken, nil
		}
		return freePort()
	})
	if err != nil {
		fail(t, err)
	}
	defer func() {
		if err := s.close(); err != nil {
			t.Error(err)
		}
	}()
	if tries != 2 || s.Port() == taken {
		t.Errorf("started on port %d after %d tries; port %d was taken", s.Port(), tries, taken)
	}
	if got := s.Psql(t, "postgres", "SELECT 1"); got != "1" {
		t.Errorf("SELECT 1: %q", got)
	}
}

// TestShared checks that Shared gives one server, whose databases are
// dropped when their test ends.
func TestShared(t *testing.T) {
	s := Shared(t)
	if Shared(t) != s {
		t.Fatal("two shared servers")
	}
	var db string
	t.Run("db", func(t *testing.T) {
		db = dbName(t, s.NewDatabase(t))
		if !strings.HasPrefix(db, "testshared_db_") {
			t.Errorf("database name %q", db)
		}
	})
	if got := s.Psql(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname = '"+db+"'"); got != "0" {
		t.Errorf("database %s after its test: count %s", db, got)
	}
}

func TestDatabaseName(t *testing.T) {
	for _, tc := range []struct {
		test string
		n    int64
		want string
	}{
		{"TestX", 1, "testx_1"},
		{"TestX/sub-case_2", 12, "testx_sub_case_2_12"},
		{"9lives", 3, "t_9lives_3"},
		{"", 1, "t_1"},
		{"TestÜber", 1, "test_ber_1"},
		{strings.Repeat("A", 100), 1234, strings.Repeat("a", 58) + "_1234"},
	} {
		got := databaseName(tc.test, tc.n)
		if got != tc.want || len(got) > maxDatabaseName {
			t.Errorf("databaseName(%q, %d) = %q, want %q", tc.test, tc.n, got, tc.want)
		}
	}
}

// TestNewestDebian checks that versions compare as numbers, and that a
// version without the server programs (a client only) is passed over.
func TestNewestDebian(t *testing.T) {
	root := t.TempDir()
	install := func(version string, names ...string) {
		dir := filepath.Join(root, version, "bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := newestDebian(root); got != "" {
		t.Errorf("empty root: %q", got)
	}
	install("9.6", "initdb", "pg_ctl", "postgres", "psql")
	install("15", "initdb", "pg_ctl", "postgres", "psql")
	install("100", "psql") // a client only
	install("16", "initdb", "pg_ctl", "postgres", "psql")
	install("17beta", "initdb", "pg_ctl", "postgres", "psql")
	if got, want := newestDebian(root), filepath.Join(root, "16", "bin"); got != want {
		t.Errorf("newest: %q, want %q", got, want)
	}
}

// TestNotFound checks that a missing PostgreSQL is a reason to skip, and a
// wrong POSTEL_PG_BIN a failure.
func TestNotFound(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("PATH", empty)
	t.Setenv(binEnv, "")
	_, err := findPrograms(empty)
	var u *unavailableError
	if !errors.As(err, &u) {
		t.Errorf("nothing installed: %v, want an unavailableError", err)
	}
	t.Setenv(binEnv, empty)
	_, err = findPrograms(empty)
	if err == nil || errors.As(err, &u) {
		t.Errorf("%s without the programs: %v, want a plain error", binEnv, err)
	}
}
