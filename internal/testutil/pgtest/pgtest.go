// Package pgtest runs throwaway PostgreSQL servers for tests: a cluster
// made by initdb in a temporary directory, a postmaster on a free loopback
// port with trust authentication, and fresh databases on it. Only tests
// import it.
//
// It needs PostgreSQL 13 or later: the server programs (initdb, pg_ctl,
// postgres) and psql; on Debian, apt-get install postgresql. It looks for
// them in $POSTEL_PG_BIN when that is set, else in the newest
// /usr/lib/postgresql/*/bin, else on PATH. Without them the tests that
// need a server are skipped, or fail when POSTEL_REQUIRE_POSTGRES=1 (as
// scripts/test.sh sets, so that CI skips none).
//
// PostgreSQL refuses to run as root: when the tests run as root, the
// server runs as the user postgres (which Debian's package creates), and
// its directory, under os.TempDir() or /tmp, belongs to that user.
//
// Every server is stopped and its directory removed when the test (Start)
// or the test binary (Shared, with RunMain) ends; should the test binary
// die without its cleanups, a watchdog process does the same.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// requireEnv, set to 1, turns the skip of a test for want of PostgreSQL
// into a failure.
const requireEnv = "POSTEL_REQUIRE_POSTGRES"

// wait bounds every run of a PostgreSQL program.
const wait = 2 * time.Minute

// portTries is how many ports start tries, each found free a moment
// before, when the postmaster finds the port taken meanwhile.
const portTries = 5

// unavailableError says PostgreSQL cannot run here: the tests needing it
// are skipped (unless POSTEL_REQUIRE_POSTGRES=1).
type unavailableError struct{ msg string }

func (e *unavailableError) Error() string { return e.msg }

// errPortTaken says the postmaster could not bind its port.
var errPortTaken = errors.New("port taken")

// Server is a running PostgreSQL server on 127.0.0.1, whose superuser
// postgres connects without a password. Its methods may be called from
// several goroutines (Stop and StartAgain only from the test's own, as
// they fail it on error).
type Server struct {
	progs    programs
	owner    *owner // nil: the server runs as the current user
	base     string // holds data/, postgres.log and the Unix socket
	port     int
	shared   bool // the test binary's server (Shared), not one test's
	watchdog *watchdog
	dbs      atomic.Int64 // databases made by NewDatabase

	mu     sync.Mutex
	pid    int  // the postmaster's PID; 0 while stopped
	closed bool // stopped for good, directory removed
}

// Start starts a server of the test's own, stopped (and its directory
// removed) when the test ends; its log is shown if the test failed.
// Without PostgreSQL installed it skips the test, or fails it when
// POSTEL_REQUIRE_POSTGRES=1. Tests that need no server of their own are
// quicker on the one Shared gives.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := start(false, freePort)
	if err != nil {
		fail(tb, err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("end of PostgreSQL's log:\n%s", s.logTail())
		}
		if err := s.close(); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return s
}

// fail ends the test for err, which start returned: a skip when
// PostgreSQL is not there (unless POSTEL_REQUIRE_POSTGRES=1), a failure
// otherwise.
func fail(tb testing.TB, err error) {
	tb.Helper()
	var u *unavailableError
	if !errors.As(err, &u) {
		tb.Fatalf("pgtest: %v", err)
	}
	if os.Getenv(requireEnv) == "1" {
		tb.Fatalf("pgtest: %v; %s=1 requires it: install PostgreSQL (Debian: apt-get install postgresql) or set %s to the directory of its programs",
			err, requireEnv, binEnv)
	}
	tb.Skipf("pgtest: %v; skipping: install PostgreSQL (Debian: apt-get install postgresql) or set %s to the directory of its programs to run this test",
		err, binEnv)
}

// start makes a cluster and starts its postmaster on a port pick gives,
// trying other ports when the one given is taken by the time the
// postmaster binds it.
func start(shared bool, pick func() (int, error)) (*Server, error) {
	progs, err := findPrograms(debianRoot)
	if err != nil {
		return nil, err
	}
	o, err := serverOwner()
	if err != nil {
		return nil, err
	}
	base, err := makeBase(o)
	if err != nil {
		return nil, err
	}
	s := &Server{progs: progs, owner: o, base: base, shared: shared}
	if s.watchdog, err = startWatchdog(s); err != nil {
		os.RemoveAll(base)
		return nil, fmt.Errorf("starting the watchdog: %v", err)
	}
	started := false
	defer func() {
		if !started {
			s.close()
		}
	}()

	// --no-sync: nothing needs this cluster after a crash of the machine;
	// the server itself runs with fsync=on, as in production.
	if out, err := s.run(progs.initdb, "-D", s.dataDir(), "-U", "postgres", "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return nil, fmt.Errorf("%s: %v\n%s", progs.initdb, err, out)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for try := 1; ; try++ {
		if s.port, err = pick(); err != nil {
			return nil, err
		}
		err := s.startLocked()
		if err == nil {
			break
		}
		if try == portTries || !errors.Is(err, errPortTaken) {
			return nil, err
		}
	}
	started = true
	return s, nil
}

// freePort returns a loopback port nothing listened on a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Port returns the TCP port the server listens on, on 127.0.0.1; the same
// after StartAgain.
func (s *Server) Port() int { return s.port }

// DSN returns the URL that connects to database db as the superuser
// postgres, without TLS: postgres://postgres@127.0.0.1:PORT/db?sslmode=disable.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// Stop stops the server at once (pg_ctl stop -m immediate: a crash, as far
// as PostgreSQL can tell, so the next start recovers from the WAL), and
// makes sure its postmaster is gone, killing it if need be. Stopping a
// stopped server does nothing. StartAgain starts it again. The shared
// server is not for stopping: other tests use it.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	s.mustOwn(tb, "Stop")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.pid == 0 {
		return
	}
	if err := s.stopLocked(); err != nil {
		tb.Fatalf("pgtest: stopping PostgreSQL: %v", err)
	}
}

// StartAgain starts the stopped server again, on the same port and data
// directory: what the clients of a database server that restarted see.
// It fails the test if the server is running, or if another process took
// its port meanwhile.
func (s *Server) StartAgain(tb testing.TB) {
	tb.Helper()
	s.mustOwn(tb, "StartAgain")
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		tb.Fatal("pgtest: StartAgain after the server's test ended")
	case s.pid != 0:
		tb.Fatal("pgtest: StartAgain while the server runs: Stop it first")
	}
	if err := s.startLocked(); err != nil {
		if errors.Is(err, errPortTaken) {
			err = fmt.Errorf("another process took port %d while the server was stopped", s.port)
		}
		tb.Fatalf("pgtest: starting PostgreSQL again: %v", err)
	}
}

// mustOwn fails the test if s is the shared server, which method would
// take from the other tests.
func (s *Server) mustOwn(tb testing.TB, method string) {
	tb.Helper()
	if s.shared {
		tb.Fatalf("pgtest: %s on the shared server, which other tests use: take a server of the test's own from pgtest.Start", method)
	}
}

// close stops the server for good and removes its directory. Should the
// postmaster not die, the watchdog is left to try again.
func (s *Server) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.stopLocked(); err != nil {
		s.watchdog.release()
		return fmt.Errorf("stopping PostgreSQL: %v (left to the watchdog, with the removal of %s)", err, s.base)
	}
	return errors.Join(s.watchdog.dismiss(), os.RemoveAll(s.base))
}

// startLocked starts the postmaster on s.port; s.mu is held.
func (s *Server) startLocked() error {
	logStart := int64(0)
	if fi, err := os.Stat(s.logFile()); err == nil {
		logStart = fi.Size()
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200",
		s.port, shellQuote(s.base))
	out, err := s.run(s.progs.pgCtl, "-D", s.dataDir(), "-o", opts, "-l", s.logFile(), "-w", "-t", "60", "start")
	if err == nil {
		if s.pid, err = readPID(s.dataDir()); err == nil {
			return nil
		}
	}
	log := s.logSince(logStart)
	// pg_ctl may have given up waiting on a postmaster that still runs.
	if stopErr := s.stopLocked(); stopErr != nil {
		err = errors.Join(err, stopErr)
	}
	if strings.Contains(log, "Address already in use") {
		return fmt.Errorf("%w: %d", errPortTaken, s.port)
	}
	return fmt.Errorf("pg_ctl start on port %d: %v\n%s\nPostgreSQL's log:\n%s", s.port, err, out, log)
}

// stopLocked stops the postmaster, if one runs, with pg_ctl and then, as
// a backstop, a SIGKILL to the PID in postmaster.pid; it returns once the
// postmaster is gone. s.mu is held.
func (s *Server) stopLocked() error {
	pid := s.pid
	if p, err := readPID(s.dataDir()); err == nil {
		pid = p
	}
	out, stopErr := s.run(s.progs.pgCtl, "-D", s.dataDir(), "-m", "immediate", "-w", "-t", "30", "stop")
	if pid != 0 && alive(pid) && isPostgres(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		if !gone(pid, 10*time.Second) {
			return fmt.Errorf("the postmaster (PID %d) outlived pg_ctl stop (%v: %s) and SIGKILL",
				pid, stopErr, strings.TrimSpace(string(out)))
		}
		// A postmaster killed leaves its lock file, which would stop the
		// next start if its PID were taken meanwhile.
		os.Remove(filepath.Join(s.dataDir(), "postmaster.pid"))
	}
	s.pid = 0
	return nil
}

// readPID returns the postmaster's PID from the first line of
// postmaster.pid in the data directory.
func readPID(data string) (int, error) {
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("postmaster.pid: no PID in %q", line)
	}
	return pid, nil
}

// alive reports whether process pid exists and has not exited: a zombie
// (exited, not yet reaped by its parent, which for the postmaster that
// pg_ctl left is whatever adopted it) counts as gone.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !os.IsNotExist(err) || !procMounted()
	}
	// pid (comm) state ...: comm may hold anything, ")" too.
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
		state := stat[i+2]
		return state != 'Z' && state != 'X'
	}
	return true
}

// procMounted reports whether /proc describes processes (Linux).
func procMounted() bool {
	_, err := os.Stat("/proc/self/stat")
	return err == nil
}

// isPostgres reports whether process pid runs a PostgreSQL program, as far
// as /proc tells (without /proc: yes), so that a PID from a stale lock file
// that another process took is not killed.
func isPostgres(pid int) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return !procMounted()
	}
	return strings.Contains(string(cmdline), "postgres")
}

// gone waits up to d for process pid to be gone.
func gone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// dataDir is the cluster's data directory.
func (s *Server) dataDir() string { return filepath.Join(s.base, "data") }

// logFile is where the postmaster logs.
func (s *Server) logFile() string { return filepath.Join(s.base, "postgres.log") }

// logSince returns the log from byte offset on.
func (s *Server) logSince(offset int64) string {
	f, err := os.Open(s.logFile())
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, offset, 1<<30))
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(b)
}

// logTail returns the end of the log.
func (s *Server) logTail() string {
	const tail = 16 << 10
	size := int64(0)
	if fi, err := os.Stat(s.logFile()); err == nil {
		size = fi.Size()
	}
	return s.logSince(max(0, size-tail))
}

// command returns a command running program name as the server's owner,
// in its directory, with a C locale (English messages, which start
// reads) and none of the caller's PG* variables.
func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = s.base
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") || strings.HasPrefix(k, "LC_") || k == "LANG" || k == "LANGUAGE" || k == "HOME" {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "LC_ALL=C", "HOME="+s.base)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.owner.credential()}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs program name to its end, within wait, and returns its output.
func (s *Server) run(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	return s.command(ctx, name, args...).CombinedOutput()
}

// shellQuote quotes s for sh, which pg_ctl passes the server's options to.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
