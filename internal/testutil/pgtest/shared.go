package pgtest

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// shared is the test binary's server, started by the first Shared and
// stopped by RunMain.
var shared struct {
	mu      sync.Mutex
	running bool // RunMain runs the tests
	srv     *Server
	err     error // of the start, given to every Shared
}

// Shared returns the test binary's server, starting it on first use: one
// server for all the tests of a package is much quicker than one each.
// Tests on it take databases of their own from NewDatabase, and must not
// stop it (Stop and StartAgain fail them). It needs TestMain to run the
// tests through RunMain, which stops the server when they end:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.RunMain(m)) }
//
// Without PostgreSQL installed it skips the test, or fails it when
// POSTEL_REQUIRE_POSTGRES=1.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.running {
		tb.Fatal("pgtest: Shared needs the package's TestMain to run the tests with pgtest.RunMain(m), which stops the shared server when they end")
	}
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = start(true, freePort)
	}
	if shared.err != nil {
		fail(tb, shared.err)
	}
	return shared.srv
}

// RunMain runs the tests (m.Run) and then stops the shared server, if
// Shared started one, and removes its directory. It returns the exit
// code for TestMain to pass to os.Exit: m.Run's, or 1 if the tests passed
// but the server could not be stopped.
func RunMain(m *testing.M) int {
	shared.mu.Lock()
	shared.running = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	shared.running = false
	if shared.srv == nil {
		return code
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "end of the shared PostgreSQL's log:\n%s\n", shared.srv.logTail())
	}
	if err := shared.srv.close(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: the shared server: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	shared.srv = nil
	return code
}
