package server

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"postel/internal/config"
	"postel/internal/testutil/accounts"
)

// TestObjectIDKey: the server makes the OBJECTID secret once in data_dir
// (32 octets, mode 0600) and gives it to IMAP, which then advertises
// OBJECTID; a restart reads it again, so a mailbox keeps its MAILBOXID
// (RFC 8474 §4: it must not change).
func TestObjectIDKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	world := accounts.New(t, dir)
	cfg := config.Default()
	cfg.Hostname = "mx.test.example"
	cfg.DataDir = dir
	cfg.Auth.AllowPlaintextLoopback = true
	cfg.Listen = config.Listen{IMAP: "127.0.0.1:0"}
	cfg.DNS.Servers = []string{"127.0.0.1:9"}
	run := func(cmds ...string) []string {
		t.Helper()
		srv, err := New(cfg, world.Store, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		defer srv.Shutdown(context.Background())
		c, err := net.Dial("tcp", srv.Addr("imap").String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(c)
		var out []string
		read := func(tag string) {
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("read: %v (%q)", err, out)
				}
				out = append(out, strings.TrimRight(l, "\r\n"))
				if strings.HasPrefix(l, tag) {
					return
				}
			}
		}
		read("* OK")
		for i, cmd := range append([]string{`LOGIN alice@example.org "` + accounts.AlicePass + `"`}, cmds...) {
			tag := string(rune('a'+i)) + " "
			c.Write([]byte(tag + cmd + "\r\n"))
			read(tag)
		}
		return out
	}
	id := regexp.MustCompile(`MAILBOXID \((F[0-9a-f]{32})\)`)
	first := strings.Join(run("CREATE Kept"), "\n")
	m := id.FindStringSubmatch(first)
	if m == nil || !strings.Contains(first, " OBJECTID") {
		t.Fatalf("no OBJECTID or MAILBOXID:\n%s", first)
	}
	key, err := os.ReadFile(filepath.Join(dir, "objectid.key"))
	if fi, serr := os.Stat(filepath.Join(dir, "objectid.key")); err != nil || serr != nil || len(key) != 32 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("objectid.key: %d octets, %v, %v", len(key), err, serr)
	}
	second := strings.Join(run("STATUS Kept (MAILBOXID)"), "\n")
	if m2 := id.FindStringSubmatch(second); m2 == nil || m2[1] != m[1] {
		t.Fatalf("after a restart:\n%s\nwant MAILBOXID (%s)", second, m[1])
	}
}
