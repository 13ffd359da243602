package imapserver

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"postel/internal/auth"
	"postel/internal/store/postgres"
	"postel/internal/testutil"
	"postel/internal/testutil/accounts"
	"postel/internal/testutil/pgtest"
)

// TestNotifyAcrossNodes: two nodes on one PostgreSQL store, each its own
// imapserver over its own postgres.Store: a session on node 1 that asked
// NOTIFY for its personal mailboxes is told by STATUS of an APPEND made
// through node 2, and of a metadata change there (the change feed crosses
// nodes by LISTEN/NOTIFY, as for IDLE).
func TestNotifyAcrossNodes(t *testing.T) {
	dsn := pgtest.Start(t).NewDatabase(t)
	ctx := context.Background()
	var addrs []string
	for i := 0; i < 2; i++ {
		st, err := postgres.Open(ctx, dsn, postgres.Options{SpoolDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if i == 0 {
			creds, err := accounts.Credentials()
			if err != nil {
				t.Fatal(err)
			}
			if err := st.AddDomain(ctx, "example.org"); err != nil {
				t.Fatal(err)
			}
			if _, err := st.CreateAccount(ctx, "alice@example.org", creds["alice@example.org"]); err != nil {
				t.Fatal(err)
			}
		}
		logs := &testutil.SyncBuffer{}
		log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		th := auth.NewThrottle(auth.ThrottleConfig{Window: time.Minute, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxFailures: 1000, Lockout: time.Second})
		srv := New(Config{Hostname: "node", AllowPlaintextLoopback: true}, st, auth.NewAuthenticator(st, th, log), nil, log)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(l)
		t.Cleanup(func() {
			c, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			srv.Shutdown(c)
			if t.Failed() {
				t.Logf("node %d log:\n%s", i+1, logs.String())
			}
		})
		addrs = append(addrs, l.Addr().String())
	}
	login := func(addr string) *raw {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		r := &raw{t: t, c: c, br: bufio.NewReader(c)}
		r.line()
		r.send(`L LOGIN alice@example.org "` + alicePass + `"`)
		if got := r.until("L "); !strings.HasPrefix(got[len(got)-1], "L OK ") {
			t.Fatalf("login: %q", got)
		}
		return r
	}
	a := login(addrs[0])
	if got := a.cmd("NOTIFY SET (PERSONAL (MessageNew MessageExpunge MailboxMetadataChange))"); got[len(got)-1] != "T OK NOTIFY completed" {
		t.Fatalf("NOTIFY: %q", got)
	}
	b := login(addrs[1])
	appendTo(t, b, "Sent", notifyMsg)
	a.expectLine(`\* STATUS "Sent" \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1\)`)
	b.cmd(`SETMETADATA Sent (/private/comment "from node 2")`)
	a.expectLine(`\* METADATA "Sent" /private/comment`)
}
