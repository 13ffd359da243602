package test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"postel/internal/control"
	"postel/internal/testutil"
)

// The admin commands through the running server's control socket: their
// effects reach open sessions at once, shown with real clients.

// ctlIMAP is an IMAP client (go-imap's imapclient over implicit TLS)
// logged in as alice, with what the server said kept in said.
type ctlIMAP struct {
	*imapclient.Client
	said *testutil.SyncBuffer
}

func (in *instance) imapAs(t *testing.T, user, password string) (*ctlIMAP, error) {
	t.Helper()
	said := &testutil.SyncBuffer{}
	c, err := imapclient.DialTLS(in.ports["imaps"], &imapclient.Options{
		TLSConfig:   &tls.Config{InsecureSkipVerify: true},
		DebugWriter: said,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, password).Wait(); err != nil {
		c.Close()
		return nil, err
	}
	return &ctlIMAP{c, said}, nil
}

// aliceIMAP is a session of alice's; a failed login is fatal.
func (in *instance) aliceIMAP(t *testing.T) *ctlIMAP {
	t.Helper()
	c, err := in.imapAs(t, "alice@example.org", alicePassword)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// projectsSessions opens two sessions of alice's, whose mailbox Projects
// exists: one IDLE in Projects, the other with INBOX selected.
func (in *instance) projectsSessions(t *testing.T) (idler, other *ctlIMAP) {
	t.Helper()
	idler = in.aliceIMAP(t)
	idler.idleIn(t, "Projects")
	other = in.aliceIMAP(t)
	if _, err := other.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	return idler, other
}

// lacksMailbox checks that LIST does not show mailbox.
func (c *ctlIMAP) lacksMailbox(t *testing.T, mailbox string) {
	t.Helper()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list {
		if m.Mailbox == mailbox {
			t.Fatalf("LIST still shows %s: %+v", mailbox, list)
		}
	}
}

// idleIn selects mailbox and starts IDLE.
func (c *ctlIMAP) idleIn(t *testing.T, mailbox string) {
	t.Helper()
	if _, err := c.Select(mailbox, nil).Wait(); err != nil {
		t.Fatalf("SELECT %s: %v", mailbox, err)
	}
	if _, err := c.Idle(); err != nil {
		t.Fatalf("IDLE: %v", err)
	}
}

// ended waits until the server ends the session and checks its last
// words. The wait is for the event: the session's autologout is 30
// minutes away, so only the admin command, run at start, can have ended
// it.
func (c *ctlIMAP) ended(t *testing.T, bye string, start time.Time) {
	t.Helper()
	select {
	case <-c.Closed():
	case <-time.After(30 * time.Second):
		t.Fatalf("the session is still open; the server said:\n%s", c.said.String())
	}
	t.Logf("the session ended within %v of the command's start", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(c.said.String(), "\r\n"+bye+"\r\n") {
		t.Fatalf("the server's last words lack %q:\n%s", bye, c.said.String())
	}
}

// wentThroughSocket checks the server ran the admin command itself: its
// log has the control socket's line for it.
func (in *instance) wentThroughSocket(t *testing.T, command string) {
	t.Helper()
	for _, l := range strings.Split(in.stderr.String(), "\n") {
		if strings.Contains(l, `msg="admin command"`) && strings.Contains(l, "component=control") && strings.Contains(l, fmt.Sprintf("command=%q", command)) {
			return
		}
	}
	t.Fatalf("the server's log does not show %q through the control socket:\n%s", command, in.stderr.String())
}

// TestControlUserDel: user del through the running server ends the
// account's IMAP IDLE session with a BYE; another account's session
// goes on.
func TestControlUserDel(t *testing.T) {
	in := newInstance(t, "")
	in.setup()
	in.admin("bob's password\n", "user", "add", "bob@example.org", "--password-stdin")
	in.start()
	alice := in.aliceIMAP(t)
	alice.idleIn(t, "INBOX")
	bob, err := in.imapAs(t, "bob@example.org", "bob's password")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if out := in.admin("", "user", "del", "alice@example.org"); out != "deleted alice@example.org\n" {
		t.Fatalf("user del printed %q", out)
	}
	alice.ended(t, "* BYE Account deleted", start)
	in.wentThroughSocket(t, "user del")
	if err := bob.Noop().Wait(); err != nil {
		t.Fatalf("bob's session: %v", err)
	}
	if _, err := in.imapAs(t, "alice@example.org", alicePassword); err == nil {
		t.Fatal("a deleted account logged in")
	}
}

// TestControlUserDisable: user disable ends the account's sessions and
// refuses its logins; user enable lets it in again.
func TestControlUserDisable(t *testing.T) {
	in := newInstance(t, "")
	in.setup()
	in.start()
	alice := in.aliceIMAP(t)
	alice.idleIn(t, "INBOX")
	start := time.Now()
	if out := in.admin("", "user", "disable", "alice@example.org"); out != "disabled alice@example.org\n" {
		t.Fatalf("user disable printed %q", out)
	}
	alice.ended(t, "* BYE Account disabled", start)
	if _, err := in.imapAs(t, "alice@example.org", alicePassword); err == nil {
		t.Fatal("a disabled account logged in")
	}
	in.admin("", "user", "enable", "alice@example.org")
	if _, err := in.imapAs(t, "alice@example.org", alicePassword); err != nil {
		t.Fatalf("login after enable: %v", err)
	}
}

// TestControlMailboxDelete: mailbox delete of a mailbox another session
// has selected ends that session with a BYE saying so (RFC 2180 §3); a
// session with another mailbox selected goes on.
func TestControlMailboxDelete(t *testing.T) {
	in := newInstance(t, "")
	in.setup()
	in.admin("", "mailbox", "create", "alice@example.org", "Projects")
	in.start()
	idler, other := in.projectsSessions(t)
	start := time.Now()
	if out := in.admin("", "mailbox", "delete", "alice@example.org", "Projects"); out != "deleted Projects of alice@example.org (0 messages)\n" {
		t.Fatalf("mailbox delete printed %q", out)
	}
	idler.ended(t, "* BYE Selected mailbox was deleted", start)
	if err := other.Noop().Wait(); err != nil {
		t.Fatalf("the session with INBOX selected: %v", err)
	}
	other.lacksMailbox(t, "Projects")
}

// TestControlPasswd: after user passwd the next login needs the new
// password; the session open before goes on.
func TestControlPasswd(t *testing.T) {
	in := newInstance(t, "")
	in.setup()
	in.start()
	before := in.aliceIMAP(t)
	if out := in.admin("a brand new password\n", "user", "passwd", "alice@example.org", "--password-stdin"); out != "password set for alice@example.org\n" {
		t.Fatalf("user passwd printed %q", out)
	}
	in.wentThroughSocket(t, "user passwd")
	if _, err := in.imapAs(t, "alice@example.org", alicePassword); err == nil {
		t.Fatal("the old password still logs in")
	}
	if _, err := in.imapAs(t, "alice@example.org", "a brand new password"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	if err := before.Noop().Wait(); err != nil {
		t.Fatalf("the session opened before: %v", err)
	}
}

// TestControlQueueRetry: queue retry through the running server starts
// the attempt at once. The entry's next attempt is an hour away and the
// queue polls every ten minutes, so only the server's queue being woken
// by the command can deliver it within the wait.
func TestControlQueueRetry(t *testing.T) {
	mx := newFakeMX(t)
	mx.answerRcpt("451 4.3.0 not now")
	in := newInstance(t, mx.config(t, "retry_base = \"1h\"\npoll_interval = \"10m\"\n"))
	in.setup()
	in.start()
	in.submit(t, "retried")
	select {
	case <-mx.deferred:
	case <-time.After(30 * time.Second):
		t.Fatal("the queue never tried the remote")
	}
	// Wait until the deferral is recorded: one attempt, no lease.
	var entries []ctlQueueEntry
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := in.admin("", "queue", "list", "--json")
		entries = nil // decoded afresh: Unmarshal would keep fields of old elements
		if err := json.Unmarshal([]byte(out), &entries); err != nil {
			t.Fatalf("queue list --json: %v\n%s", err, out)
		}
		if len(entries) == 1 && entries[0].Attempts == 1 && entries[0].LeaseUntil == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deferral was not recorded: %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if next := time.Until(entries[0].NextAttempt); next < 50*time.Minute {
		t.Fatalf("next attempt in %v, want about an hour (retry_base)", next)
	}
	mx.answerRcpt("250 2.1.5 ok")
	id := strconv.FormatInt(entries[0].ID, 10)
	start := time.Now()
	if out := in.admin("", "queue", "retry", id); out != "queue entry "+id+": trying now\n" {
		t.Fatalf("queue retry printed %q", out)
	}
	select {
	case msg := <-mx.got:
		t.Logf("delivered %v after queue retry", time.Since(start).Round(time.Millisecond))
		if !strings.Contains(msg, "Subject: retried") {
			t.Fatalf("delivered %q", msg)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("queue retry did not deliver; log:\n%s", in.stderr.String())
	}
	in.wentThroughSocket(t, "queue retry")
	if out := in.admin("", "queue", "kick"); out != "the queue is trying every due message now\n" {
		t.Fatalf("queue kick printed %q", out)
	}
}

// ctlQueueEntry is what queue list --json says of an entry.
type ctlQueueEntry struct {
	ID          int64      `json:"id"`
	Attempts    int        `json:"attempts"`
	NextAttempt time.Time  `json:"next_attempt"`
	LeaseUntil  *time.Time `json:"lease_until"`
}

// serveNotified runs postel serve with args and $NOTIFY_SOCKET pointing at
// a unixgram socket of the test's, as systemd does for Type=notify, and
// returns once the server sent READY=1 (and the socket, to read what
// follows).
func (in *instance) serveNotified(t *testing.T, args ...string) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close() })
	in.stderr = &testutil.SyncBuffer{}
	in.cmd = exec.Command(binary, append([]string{"serve"}, args...)...)
	in.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+path)
	in.cmd.Stdout, in.cmd.Stderr = in.stderr, in.stderr
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in.running = true
	in.exited = make(chan error, 1)
	go func() { in.exited <- in.cmd.Wait() }()
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 4096)
		sock.SetReadDeadline(time.Now().Add(60 * time.Second))
		n, err := sock.Read(buf)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- string(buf[:n])
	}()
	select {
	case msg := <-got:
		if msg != "READY=1" {
			t.Fatalf("the server sent %q, want READY=1\n%s", msg, in.stderr.String())
		}
		// The ready line, logged before READY=1, has the bound addresses;
		// it may still be on its way through the pipe from the process.
		deadline := time.Now().Add(10 * time.Second)
		for len(in.ports) == 0 {
			for _, line := range strings.Split(in.stderr.String(), "\n") {
				if isReadyLine(line) {
					for k, addr := range readyListeners(line) {
						in.ports[k] = addr
					}
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("READY=1 but no ready line in the log:\n%s", in.stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	case err := <-in.exited:
		in.running = false
		t.Fatalf("postel serve exited before it was ready: %v\n%s", err, in.stderr.String())
	}
	return sock
}

// TestReadiness: under systemd (NOTIFY_SOCKET) serve sends READY=1 once
// every listener accepts connections and the control socket answers, and
// says so in one log line; at SIGTERM it sends STOPPING=1 and exits 0.
func TestReadiness(t *testing.T) {
	in := newInstance(t, "")
	in.setup()
	sock := in.serveNotified(t, "--config", in.config)
	// At READY=1, without waiting: every listener and the control socket.
	for _, k := range []string{"smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s"} {
		c, err := net.Dial("tcp", in.ports[k])
		if err != nil {
			t.Fatalf("%s not accepting at READY=1: %v", k, err)
		}
		c.Close()
	}
	c, err := control.Dial(filepath.Join(in.dir, "data"))
	if err != nil {
		t.Fatalf("control socket at READY=1: %v", err)
	}
	c.Close()
	log := in.stderr.String()
	var ready []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "msg=ready ") {
			ready = append(ready, l)
		}
	}
	if len(ready) != 1 || !strings.Contains(ready[0], "listen.smtp="+in.ports["smtp"]) || !strings.Contains(ready[0], "listen.pop3s="+in.ports["pop3s"]) ||
		!strings.Contains(ready[0], "control="+control.SocketPath(filepath.Join(in.dir, "data"))) {
		t.Fatalf("ready lines %q in:\n%s", ready, log)
	}
	in.cmd.Process.Signal(syscall.SIGTERM)
	buf := make([]byte, 4096)
	sock.SetReadDeadline(time.Now().Add(60 * time.Second))
	n, err := sock.Read(buf)
	if err != nil || string(buf[:n]) != "STOPPING=1" {
		t.Fatalf("after SIGTERM: %q, %v", buf[:n], err)
	}
	select {
	case err := <-in.exited:
		in.running = false
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, in.stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("postel did not exit after SIGTERM")
	}
	// The control socket went with the server: the CLI works on the
	// store again.
	if _, err := os.Stat(control.SocketPath(filepath.Join(in.dir, "data"))); !os.IsNotExist(err) {
		t.Fatalf("control socket after exit: %v", err)
	}
	if out := in.admin("", "domain", "list"); out != "example.org\n" {
		t.Fatalf("domain list after exit: %q", out)
	}
}

// TestAdminDataDir: an admin command given --data-dir finds the data of
// serve --dev --data-dir with the same directory, through its control
// socket; --json gives what scripts read; a data directory without a store
// is an error for a list, not a new empty store.
func TestAdminDataDir(t *testing.T) {
	in := newInstance(t, "")
	dev := filepath.Join(t.TempDir(), "devdata")
	in.serveNotified(t, "--dev", "--config", in.config, "--data-dir", dev)
	out, err := exec.Command(binary, "user", "list", "--data-dir", dev, "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("user list --data-dir: %v\n%s", err, out)
	}
	var accounts []struct {
		Address  string `json:"address"`
		Disabled bool   `json:"disabled"`
	}
	if err := json.Unmarshal(out, &accounts); err != nil || len(accounts) != 1 || accounts[0].Address != "demo@example.org" {
		t.Fatalf("user list --json = %s (%v)", out, err)
	}
	if strings.Contains(string(out), "hash") || strings.Contains(string(out), "scram") {
		t.Fatalf("user list --json shows credentials: %s", out)
	}
	in.wentThroughSocket(t, "user list")
	for _, args := range [][]string{{"domain", "list"}, {"alias", "list"}, {"queue", "list"}, {"mailbox", "list", "demo@example.org"}, {"junk", "list", "demo@example.org"}} {
		out, err := exec.Command(binary, append(args, "--data-dir", dev, "--json")...).CombinedOutput()
		if err != nil || !json.Valid(out) {
			t.Errorf("postel %v --json: %v\n%s", args, err, out)
		}
	}
	// The config's own data_dir was never used.
	out, err = exec.Command(binary, "user", "list", "--config", in.config).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "no Postel data in") {
		t.Fatalf("user list on the config's unused data_dir: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(in.dir, "data", "postel.db")); !os.IsNotExist(err) {
		t.Fatalf("user list made a store in the config's data_dir: %v", err)
	}
}

// TestAdminHelp: --help at every level, and mistakes named.
func TestAdminHelp(t *testing.T) {
	for _, c := range []struct {
		args     []string
		code     int
		has, not []string
	}{
		{[]string{"user", "--help"}, 0, []string{"usage: postel user SUBCOMMAND", "user add", "user del", "user unlock", "user list"}, []string{"domain add"}},
		{[]string{"help", "queue"}, 0, []string{"queue retry", "queue kick"}, []string{"user add"}},
		{[]string{"--help"}, 0, []string{"usage: postel COMMAND", "user add", "queue kick", "version"}, nil},
		{[]string{"user"}, 2, []string{"postel user: which one?", "user add"}, nil},
		{[]string{"user", "bogus"}, 2, []string{`unknown command "user bogus"`, "user add"}, []string{"domain add"}},
		{[]string{"user", "del", "--help"}, 0, []string{"usage: postel user del ADDRESS", "-data-dir", "-config", "control socket"}, nil},
		{[]string{"queue", "kick", "--help"}, 0, []string{"usage: postel queue kick"}, nil},
	} {
		out, code := runPostel(t, "", c.args...)
		if code != c.code {
			t.Errorf("postel %v: exit %d, want %d\n%s", c.args, code, c.code, out)
		}
		for _, h := range c.has {
			if !strings.Contains(string(out), h) {
				t.Errorf("postel %v lacks %q:\n%s", c.args, h, out)
			}
		}
		for _, n := range c.not {
			if strings.Contains(string(out), n) {
				t.Errorf("postel %v shows %q:\n%s", c.args, n, out)
			}
		}
	}
}

// TestVersion: postel version and --version say the same: the version,
// the commit the binary was built from (as its build information records
// it), its date and the Go version; a release's version set at link time
// shows.
func TestVersion(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "postel")
	build := exec.Command("go", "build", "-buildvcs=true", "-ldflags", "-X main.version=v0.0.0-test", "-o", bin, "../cmd/postel")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, b := range []string{binary, bin} {
		out, err := exec.Command(b, "version").CombinedOutput()
		if err != nil {
			t.Fatalf("%s version: %v\n%s", b, err, out)
		}
		again, err := exec.Command(b, "--version").CombinedOutput()
		if err != nil || string(again) != string(out) {
			t.Fatalf("--version = %q, %v; version = %q", again, err, out)
		}
		if !strings.Contains(string(out), "go      "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH+"\n") {
			t.Fatalf("%s version lacks the Go version:\n%s", b, out)
		}
		// What the go command recorded in the binary.
		info, err := exec.Command("go", "version", "-m", b).CombinedOutput()
		if err != nil {
			t.Fatalf("go version -m: %v\n%s", err, info)
		}
		want := map[string]string{"vcs.revision": "unknown", "vcs.time": "unknown"}
		modified := false
		for _, l := range strings.Split(string(info), "\n") {
			f := strings.Fields(l)
			if len(f) == 2 && f[0] == "build" {
				k, v, _ := strings.Cut(f[1], "=")
				if _, ok := want[k]; ok {
					want[k] = v
				}
				modified = modified || (k == "vcs.modified" && v == "true")
			}
		}
		commit := want["vcs.revision"]
		if modified {
			commit += " (modified)"
		}
		if !strings.Contains(string(out), "\ncommit  "+commit+"\n") || !strings.Contains(string(out), "\ndate    "+want["vcs.time"]+"\n") {
			t.Fatalf("%s version:\n%s\nwant commit %q, date %q (go version -m:\n%s)", b, out, commit, want["vcs.time"], info)
		}
		if b == bin {
			if !strings.HasPrefix(string(out), "postel v0.0.0-test\n") {
				t.Fatalf("the version set at link time does not show:\n%s", out)
			}
			head, err := exec.Command("git", "rev-parse", "HEAD").Output()
			if err != nil {
				t.Fatalf("git rev-parse HEAD: %v", err)
			}
			if want["vcs.revision"] != strings.TrimSpace(string(head)) {
				t.Fatalf("built with -buildvcs=true, the binary says commit %q; HEAD is %s", want["vcs.revision"], head)
			}
		}
	}
}
