package pgtest

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// maxDatabaseName bounds a database name (PostgreSQL's NAMEDATALEN is 64,
// with a NUL).
const maxDatabaseName = 63

// NewDatabase creates a database of the test's own, named after the test
// (and unique on the server), and returns its DSN. On the shared server it
// is dropped when the test ends (WITH (FORCE): connections still open are
// ended); a server of the test's own goes with all its databases.
func (s *Server) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := databaseName(tb.Name(), s.dbs.Add(1))
	s.Psql(tb, "postgres", "CREATE DATABASE "+name)
	if s.shared {
		tb.Cleanup(func() {
			if _, err := s.psql("postgres", "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
				tb.Errorf("pgtest: %v", err)
			}
		})
	}
	return s.DSN(name)
}

// databaseName returns the name of database n of test: the test's name in
// lower case, with every character but a letter or a digit made "_", cut
// short, and n. It needs no quoting in SQL.
func databaseName(test string, n int64) string {
	suffix := "_" + strconv.FormatInt(n, 10)
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		if b.Len() >= maxDatabaseName-len(suffix) {
			break
		}
		if b.Len() == 0 && !('a' <= r && r <= 'z') {
			b.WriteString("t_")
		}
		if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		b.WriteString("t")
	}
	return b.String() + suffix
}

// Psql runs the SQL commands sql in database db as the superuser postgres,
// with psql, stopping at the first error, and returns psql's output: rows
// one a line, columns separated by "|", without headers or the last
// newline. An error fails the test.
func (s *Server) Psql(tb testing.TB, db, sql string) string {
	tb.Helper()
	out, err := s.psql(db, sql)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return out
}

// psql runs sql in database db with psql.
func (s *Server) psql(db, sql string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cmd := s.command(ctx, s.progs.psql, "-X", "-w", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-U", "postgres", "-d", db, "-c", sql)
	cmd.Env = append(cmd.Env, "PGCONNECT_TIMEOUT=10")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("psql -d %s -c %q: %v: %s", db, sql, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSuffix(stdout.String(), "\n"), nil
}
