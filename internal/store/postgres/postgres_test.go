package postgres

import (
	"context"
	"os"
	"testing"

	"postel/internal/store"
	"postel/internal/store/storetest"
	"postel/internal/testutil/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.RunMain(m)) }

// newDB returns the DSN of a fresh database on the shared server.
func newDB(t testing.TB) string {
	t.Helper()
	return pgtest.Shared(t).NewDatabase(t)
}

// open opens a store on dsn, closed when the test ends.
func open(t testing.TB, dsn string) *Store {
	t.Helper()
	st, err := Open(context.Background(), dsn, Options{SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, newDB(t)) })
}
