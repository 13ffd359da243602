package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postel/internal/admin"
	"postel/internal/store/sqlite"
)

var ctx = context.Background()

// serve runs a control Server for a fresh data directory, executing the
// real admin commands on a SQLite store there, and returns the directory
// and the server.
func serve(t *testing.T) (string, *Server) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: admin.New(st, admin.Options{DataDir: dir})}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return dir, s
}

func dial(t *testing.T, dir string) *Client {
	t.Helper()
	c, err := Dial(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestCalls runs admin commands through the socket: results decode,
// refusals come back as *Error with their kind and wording, and one
// connection carries several requests.
func TestCalls(t *testing.T) {
	dir, _ := serve(t)
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode %v (%v), want 0700", fi.Mode(), err)
	}
	fi, err = os.Stat(SocketPath(dir))
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket mode %v (%v), want a socket with 0600", fi.Mode(), err)
	}
	c := dial(t, dir)
	var d admin.Domain
	if err := c.Call(ctx, "domain add", admin.DomainArgs{Domain: "Example.ORG"}, &d); err != nil || d.Name != "example.org" {
		t.Fatalf("domain add = %+v, %v", d, err)
	}
	var a admin.Account
	if err := c.Call(ctx, "user add", admin.NewAccountArgs{Address: "alice@example.org", Credentials: admin.Credentials{PasswordHash: "h"}}, &a); err != nil ||
		a.Address != "alice@example.org" {
		t.Fatalf("user add = %+v, %v", a, err)
	}
	var all []admin.Account
	if err := c.Call(ctx, "user list", admin.NoArgs{}, &all); err != nil || len(all) != 1 || all[0].Address != "alice@example.org" {
		t.Fatalf("user list = %+v, %v", all, err)
	}
	for _, tc := range []struct {
		cmd  string
		args any
		kind string
		msg  string
	}{
		{"user del", admin.AddressArgs{Address: "nobody@example.org"}, admin.KindNotFound, "no account nobody@example.org"},
		{"domain del", admin.DomainArgs{Domain: "example.org"}, admin.KindInUse, "domain example.org has accounts (alice@example.org); delete them first"},
		{"queue kick", admin.NoArgs{}, admin.KindRefused, "no server is running"},
		{"frobnicate", admin.NoArgs{}, admin.KindInvalid, `unknown admin command "frobnicate"`},
	} {
		err := c.Call(ctx, tc.cmd, tc.args, nil)
		var e *Error
		if !errors.As(err, &e) || e.Kind != tc.kind || !strings.HasPrefix(e.Message, tc.msg) {
			t.Errorf("%s: %v, want %s %q", tc.cmd, err, tc.kind, tc.msg)
		}
	}
	// The connection still works after refusals.
	if err := c.Call(ctx, "user del", admin.AddressArgs{Address: "alice@example.org"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx, "user list", admin.NoArgs{}, &all); err != nil || len(all) != 0 {
		t.Fatalf("user list after del = %+v, %v", all, err)
	}
}

// TestOtherUserRefused: a peer whose uid is not the server's gets an
// error saying so, and no command runs.
func TestOtherUserRefused(t *testing.T) {
	dir, s := serve(t)
	s.init()
	s.uid.Store(int64(os.Geteuid()) + 1)
	c := dial(t, dir)
	err := c.Call(ctx, "domain add", admin.DomainArgs{Domain: "example.org"}, nil)
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindDenied || !strings.Contains(e.Message, "takes commands only from that user") {
		t.Fatalf("call from another uid: %v", err)
	}
	// Nothing ran: as the right user, the domain can be added.
	s.uid.Store(int64(os.Geteuid()))
	if err := dial(t, dir).Call(ctx, "domain add", admin.DomainArgs{Domain: "example.org"}, nil); err != nil {
		t.Fatalf("domain add as the server's user: %v", err)
	}
}

// TestMalformed: a line that is not a request, or too long, gets an error
// response and the connection closes.
func TestMalformed(t *testing.T) {
	dir, _ := serve(t)
	for _, line := range []string{"not json\n", `{"args":{}}` + "\n", strings.Repeat("x", MaxLine+128<<10)} {
		c, err := net.Dial("unix", SocketPath(dir))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		go c.Write([]byte(line))
		br := bufio.NewReader(c)
		resp, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("no response to %.20q: %v", line, err)
		}
		var r Response
		if err := json.Unmarshal([]byte(resp), &r); err != nil || r.Error == nil || r.Error.Kind != KindProtocol {
			t.Fatalf("response to %.20q = %s", line, resp)
		}
		if _, err := br.ReadByte(); err == nil {
			t.Fatalf("connection still open after %.20q", line)
		}
		c.Close()
	}
}

// TestStaleSocket: a socket file no server answers on is replaced at
// Listen, and Dial reports no server; one that answers is left alone.
func TestStaleSocket(t *testing.T) {
	dir := t.TempDir()
	// A server that died: its socket file stays, nobody listens.
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: SocketPath(dir), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Stat(SocketPath(dir)); err != nil {
		t.Fatalf("the stale socket is gone already: %v", err)
	}
	if _, err := Dial(dir); !errors.Is(err, ErrNoServer) {
		t.Fatalf("Dial on a stale socket: %v, want ErrNoServer", err)
	}
	live, err := Listen(dir)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer live.Close()
	if _, err := Listen(dir); err == nil || !strings.Contains(err.Error(), "another server answers") {
		t.Fatalf("Listen beside a live server: %v", err)
	}
	c, err := Dial(dir)
	if err != nil {
		t.Fatalf("Dial the live socket: %v", err)
	}
	c.Close()

	if _, err := Dial(t.TempDir()); !errors.Is(err, ErrNoServer) {
		t.Fatalf("Dial with no socket: %v, want ErrNoServer", err)
	}
	long := filepath.Join(t.TempDir(), strings.Repeat("d", 120))
	if _, err := Listen(long); !errors.Is(err, ErrPathTooLong) {
		t.Fatalf("Listen on a long path: %v", err)
	}
	if _, err := Dial(long); !errors.Is(err, ErrNoServer) {
		t.Fatalf("Dial on a long path: %v", err)
	}
}

// TestClose: Close ends the connections open, Serve returns, and the
// socket file goes, so that the CLI then works on the store directly.
func TestClose(t *testing.T) {
	dir, s := serve(t)
	c := dial(t, dir)
	if err := c.Call(ctx, "domain list", admin.NoArgs{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx, "domain list", admin.NoArgs{}, nil); err == nil {
		t.Fatal("a call after Close succeeded")
	}
	if _, err := os.Stat(SocketPath(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file after Close: %v", err)
	}
	if _, err := Dial(dir); !errors.Is(err, ErrNoServer) {
		t.Fatalf("Dial after Close: %v", err)
	}
}
