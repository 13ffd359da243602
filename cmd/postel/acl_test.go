package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postel/internal/config"
	"postel/internal/server"
	"postel/internal/testutil"
	"postel/internal/testutil/accounts"
)

// TestMailboxShareLive: with a server running on the data directory,
// postel mailbox share goes through its control socket, and bob's IMAP
// session (over TCP) can then SELECT alice's mailbox in the shared
// namespace; mailbox acl lists the entry; mailbox unshare takes it away,
// from bob's next command on while he has it selected (OK [CLOSED], as
// after IMAP DELETEACL), and from his LIST.
func TestMailboxShareLive(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	world := accounts.New(t, dir)
	if _, err := world.Store.CreateMailbox(context.Background(), world.Alice.ID, "Projects", ""); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Hostname = "mx.test.example"
	cfg.DataDir = dir
	cfg.Auth.AllowPlaintextLoopback = true
	cfg.Listen = config.Listen{IMAP: "127.0.0.1:0"}
	cfg.DNS.Servers = []string{"127.0.0.1:9"}
	logs := &testutil.SyncBuffer{}
	srv, err := server.New(cfg, world.Store, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	if srv.ControlPath() == "" {
		t.Fatal("the server has no control socket")
	}

	postel := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append(args, "--data-dir", dir)
		if code := run(context.Background(), args, strings.NewReader(""), &out, &errOut); code != 0 || errOut.Len() > 0 {
			t.Fatalf("postel %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
		}
		if !strings.Contains(logs.String(), fmt.Sprintf("command=%q", strings.Join(args[:2], " "))) {
			t.Fatalf("postel %s did not go through the control socket; the server's log:\n%s", strings.Join(args, " "), logs.String())
		}
		return out.String()
	}

	c, err := net.Dial("tcp", srv.Addr("imap").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	tag := 0
	imap := func(cmd string) []string {
		t.Helper()
		tag++
		tg := fmt.Sprintf("t%d ", tag)
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Write([]byte(tg + cmd + "\r\n")); err != nil {
			t.Fatal(err)
		}
		var out []string
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: %v (%q)", cmd, err, out)
			}
			l = strings.TrimSuffix(l, "\r\n")
			if strings.HasPrefix(l, tg) {
				return append(out, strings.TrimPrefix(l, tg))
			}
			out = append(out, l)
		}
	}
	tagged := func(what string, lines []string, prefix string) {
		t.Helper()
		if !strings.HasPrefix(lines[len(lines)-1], prefix) {
			t.Fatalf("%s: %q, want %q", what, lines, prefix)
		}
	}
	listed := func() bool {
		lines := imap(`LIST "" "*"`)
		tagged("LIST", lines, "OK")
		return strings.Contains(strings.Join(lines, "\n"), `"Other Users/alice@example.org/Projects"`)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "* OK") {
		t.Fatalf("greeting: %q, %v", l, err)
	}
	tagged("LOGIN", imap(`LOGIN bob@example.org "`+accounts.BobPass+`"`), "OK")
	const shared = `"Other Users/alice@example.org/Projects"`
	tagged("SELECT before share", imap(`SELECT `+shared), "NO [NONEXISTENT]")
	if listed() {
		t.Fatal("LIST shows Projects before it is shared")
	}

	out := postel("mailbox", "share", "alice@example.org", "Projects", "bob@example.org", "lrs")
	if !strings.Contains(out, "shared Projects of alice@example.org") || !strings.Contains(out, "bob@example.org    lrs") {
		t.Fatalf("mailbox share said:\n%s", out)
	}
	if !listed() {
		t.Fatal("LIST does not show Projects once shared")
	}
	tagged("SELECT after share", imap(`SELECT `+shared), "OK [READ-WRITE]")
	myRights := imap(`MYRIGHTS ` + shared)
	tagged("MYRIGHTS", myRights, "OK")
	if myRights[0] != `* MYRIGHTS `+shared+` lrs` {
		t.Fatalf("MYRIGHTS: %q", myRights)
	}
	if out := postel("mailbox", "acl", "alice@example.org", "Projects", "--json"); !strings.Contains(out, `"identifier": "bob@example.org"`) ||
		!strings.Contains(out, `"rights": "lrs"`) {
		t.Fatalf("mailbox acl --json said:\n%s", out)
	}

	out = postel("mailbox", "unshare", "alice@example.org", "Projects", "bob@example.org")
	if !strings.Contains(out, "unshared Projects of alice@example.org with bob@example.org") || strings.Contains(out, "bob@example.org    ") {
		t.Fatalf("mailbox unshare said:\n%s", out)
	}
	noop := imap(`NOOP`)
	tagged("NOOP after unshare", noop, "OK")
	if !strings.Contains(strings.Join(noop, "\n"), "* OK [CLOSED]") {
		t.Fatalf("NOOP after unshare: %q, want the mailbox closed", noop)
	}
	tagged("FETCH when closed", imap(`FETCH 1:* FLAGS`), "BAD")
	tagged("SELECT after unshare", imap(`SELECT `+shared), "NO [NONEXISTENT]")
	if listed() {
		t.Fatal("LIST shows Projects after unshare")
	}
}
