package imapserver

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"postel/internal/auth"
	"postel/internal/deliver"
	"postel/internal/message"
	"postel/internal/netserve"
	"postel/internal/store"
	"postel/internal/store/postgres"
	"postel/internal/testutil/accounts"
	"postel/internal/testutil/pgtest"
)

// recentOf returns the numbers of the RECENT responses among lines.
func recentOf(lines []string) []int {
	var out []int
	for _, l := range lines {
		if m := regexp.MustCompile(`^\* (\d+) RECENT$`).FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			out = append(out, n)
		}
	}
	return out
}

// recentUIDs returns the UIDs whose FETCH (UID FLAGS) shows \Recent, and
// every UID fetched.
func recentUIDs(lines []string) (recent, all []uint32) {
	for _, l := range lines {
		m := regexp.MustCompile(`UID (\d+) FLAGS \(([^)]*)\)`).FindStringSubmatch(l)
		if m == nil {
			continue
		}
		u, _ := strconv.Atoi(m[1])
		all = append(all, uint32(u))
		if slices.Contains(strings.Fields(m[2]), `\Recent`) {
			recent = append(recent, uint32(u))
		}
	}
	return recent, all
}

// TestRecent: \Recent (RFC 3501 §2.3.2) over real sessions. The first
// session to SELECT a mailbox gets its new messages as recent (RECENT,
// FETCH FLAGS, SEARCH RECENT/NEW/OLD), and so with messages that arrive
// later, announced with EXISTS at NOOP or in IDLE; a later SELECT gets
// none of them; EXAMINE sees the messages no session claimed without
// claiming them (RFC 3501 §6.3.2); STATUS RECENT counts what no session
// claimed (§6.3.10); an IMAP4rev2 session never hears of \Recent (RFC 9051
// Appendix E).
func TestRecent(t *testing.T) {
	h := newHarness(t)
	h.put(h.alice, "INBOX", testMsg)
	h.put(h.alice, "INBOX", testMsg, `\Seen`)
	status := h.login()
	wantStatus := func(n int) {
		t.Helper()
		got := status.cmd("STATUS INBOX (MESSAGES RECENT)")
		if !slices.Contains(got, fmt.Sprintf("* STATUS INBOX (MESSAGES %d RECENT %d)", len(h.messages(h.alice, "INBOX")), n)) {
			t.Fatalf("STATUS: %q, want RECENT %d", got, n)
		}
	}
	wantStatus(2)

	// EXAMINE: recent, not claimed.
	e := h.login()
	if got := recentOf(e.cmd("EXAMINE INBOX")); !slices.Equal(got, []int{2}) {
		t.Fatalf("EXAMINE: RECENT %v, want [2]", got)
	}
	if got, _ := recentUIDs(e.cmd("FETCH 1:* (UID FLAGS)")); !slices.Equal(got, []uint32{1, 2}) {
		t.Errorf("EXAMINE: \\Recent on %v, want [1 2]", got)
	}
	wantStatus(2)

	// The first SELECT claims them.
	a := h.login()
	if got := recentOf(a.cmd("SELECT INBOX")); !slices.Equal(got, []int{2}) {
		t.Fatalf("first SELECT: RECENT %v, want [2]", got)
	}
	wantStatus(0)
	if got, _ := recentUIDs(a.cmd("FETCH 1:* (UID FLAGS)")); !slices.Equal(got, []uint32{1, 2}) {
		t.Errorf("first SELECT: \\Recent on %v, want [1 2]", got)
	}
	for _, c := range []struct{ key, want string }{
		{"RECENT", "* SEARCH 1 2"}, {"NEW", "* SEARCH 1"}, {"OLD", "* SEARCH"}, {"NOT RECENT", "* SEARCH"},
	} {
		if got := a.cmd("SEARCH " + c.key); got[0] != c.want {
			t.Errorf("SEARCH %s: %q, want %q", c.key, got[0], c.want)
		}
	}
	// A client cannot clear it; a STORE answer shows it.
	if got := a.cmd(`STORE 1 -FLAGS (\Recent)`); !slices.Contains(got, `* 1 FETCH (FLAGS (\Recent))`) {
		t.Errorf("STORE -FLAGS \\Recent: %q", got)
	}
	if got := a.cmd(`STORE 1 +FLAGS (\Seen)`); !slices.Contains(got, `* 1 FETCH (FLAGS (\Seen \Recent))`) {
		t.Errorf("STORE +FLAGS \\Seen: %q", got)
	}
	if got := a.cmd("SEARCH NEW"); got[0] != "* SEARCH" {
		t.Errorf("SEARCH NEW after \\Seen: %q", got[0])
	}

	// A later SELECT: none recent.
	b := h.login()
	if got := recentOf(b.cmd("SELECT INBOX")); !slices.Equal(got, []int{0}) {
		t.Fatalf("second SELECT: RECENT %v, want [0]", got)
	}
	if got, _ := recentUIDs(b.cmd("FETCH 1:* (UID FLAGS)")); len(got) != 0 {
		t.Errorf("second SELECT: \\Recent on %v", got)
	}
	if got := b.cmd("SEARCH OLD"); got[0] != "* SEARCH 1 2" {
		t.Errorf("second SELECT: SEARCH OLD %q", got[0])
	}

	// IMAP4rev2: no RECENT, no \Recent, no claim.
	r2 := h.login()
	r2.cmd("ENABLE IMAP4rev2")
	h.put(h.alice, "INBOX", testMsg) // UID 3
	if got := r2.cmd("SELECT INBOX"); len(recentOf(got)) != 0 {
		t.Errorf("IMAP4rev2 SELECT sent RECENT: %q", got)
	}
	if got, all := recentUIDs(r2.cmd("UID FETCH 1:* (UID FLAGS)")); len(got) != 0 || len(all) != 3 {
		t.Errorf("IMAP4rev2: \\Recent on %v of %v", got, all)
	}
	wantStatus(1)

	// A new message goes to the session that is told first: B at NOOP.
	if got := b.cmd("NOOP"); !slices.Contains(got, "* 3 EXISTS") || !slices.Equal(recentOf(got), []int{1}) {
		t.Errorf("B NOOP: %q, want EXISTS 3 and RECENT 1", got)
	}
	if got := a.cmd("NOOP"); !slices.Contains(got, "* 3 EXISTS") || !slices.Equal(recentOf(got), []int{2}) {
		t.Errorf("A NOOP: %q, want EXISTS 3 and RECENT 2", got)
	}
	if got, _ := recentUIDs(b.cmd("FETCH 1:* (UID FLAGS)")); !slices.Equal(got, []uint32{3}) {
		t.Errorf("B: \\Recent on %v, want [3]", got)
	}
	if got, _ := recentUIDs(a.cmd("FETCH 1:* (UID FLAGS)")); !slices.Equal(got, []uint32{1, 2}) {
		t.Errorf("A: \\Recent on %v, want [1 2]", got)
	}
	// EXAMINE's view: UID 3 was claimed before it heard of it.
	if got := e.cmd("NOOP"); !slices.Contains(got, "* 3 EXISTS") || !slices.Equal(recentOf(got), []int{2}) {
		t.Errorf("EXAMINE NOOP: %q, want EXISTS 3 and RECENT 2", got)
	}
	if got := r2.cmd("NOOP"); len(recentOf(got)) != 0 {
		t.Errorf("IMAP4rev2 NOOP sent RECENT: %q", got)
	}
	wantStatus(0)

	// In IDLE, with EXISTS.
	a.send("I IDLE")
	if l := a.line(); l != "+ idling" {
		t.Fatalf("IDLE: %q", l)
	}
	h.put(h.alice, "INBOX", testMsg) // UID 4
	if l := a.line(); l != "* 4 EXISTS" {
		t.Fatalf("in IDLE: %q", l)
	}
	if l := a.line(); l != "* 3 RECENT" {
		t.Fatalf("in IDLE: %q, want * 3 RECENT", l)
	}
	a.send("DONE")
	a.until("I ")
	if got := b.cmd("NOOP"); !slices.Equal(recentOf(got), []int{1}) {
		t.Errorf("B NOOP after A's IDLE: %q, want RECENT 1", got)
	}
	if got := a.cmd("UID SEARCH RECENT"); got[0] != "* SEARCH 1 2 4" {
		t.Errorf("A UID SEARCH RECENT: %q", got[0])
	}
	// The lowest recent message expunged: the next count starts past it.
	a.cmd("UID STORE 1 +FLAGS.SILENT (\\Deleted)")
	a.cmd("UID EXPUNGE 1")
	h.put(h.alice, "INBOX", testMsg) // UID 5
	if got := a.cmd("NOOP"); !slices.Contains(got, "* 4 EXISTS") || !slices.Equal(recentOf(got), []int{3}) {
		t.Errorf("A NOOP after expunging UID 1: %q, want EXISTS 4 and RECENT 3", got)
	}
	// A SELECT of another mailbox ends the session's claim on this one's
	// view; selecting again, the messages are old.
	a.cmd("SELECT Sent")
	if got := recentOf(a.cmd("SELECT INBOX")); !slices.Equal(got, []int{0}) {
		t.Errorf("SELECT again: RECENT %v, want [0]", got)
	}
}

// TestRecentNodes: two nodes on one PostgreSQL database, a session on
// each with INBOX selected, deliveries while both look: each message is
// \Recent in exactly one session, whatever the timing (the store's claim
// is atomic across nodes), and each session's RECENT counts its own.
func TestRecentNodes(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Shared(t).NewDatabase(t)
	var nodes [2]*postgres.Store
	for i := range nodes {
		st, err := postgres.Open(ctx, dsn, postgres.Options{SpoolDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		nodes[i] = st
	}
	creds, err := accounts.Credentials()
	if err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	alice, err := nodes[0].CreateAccount(ctx, "alice@example.org", creds["alice@example.org"])
	if err != nil {
		t.Fatal(err)
	}
	var sessions [2]*raw
	for i, st := range nodes {
		addr := serveNode(t, st)
		r := &raw{t: t}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		r.c, r.br = c, bufio.NewReader(c)
		r.line() // greeting
		r.send(`L LOGIN alice@example.org "` + accounts.AlicePass + `"`)
		r.until("L ")
		if got := recentOf(r.cmd("SELECT INBOX")); !slices.Equal(got, []int{0}) {
			t.Fatalf("node %d SELECT: RECENT %v", i, got)
		}
		sessions[i] = r
	}
	const rounds = 12
	for round := range rounds {
		putStore(t, nodes[round%2], alice.ID, testMsg)
		// Both look at once.
		for _, r := range sessions {
			r.send("T NOOP")
		}
		for _, r := range sessions {
			r.until("T ")
		}
	}
	owner := map[uint32]int{}
	for i, r := range sessions {
		// The other node hears of the last deliveries a little later.
		for deadline := time.Now().Add(10 * time.Second); ; {
			if slices.Contains(r.cmd("NOOP"), fmt.Sprintf("* %d EXISTS", rounds)) || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		lines := r.cmd("FETCH 1:* (UID FLAGS)")
		recent, all := recentUIDs(lines)
		if len(all) != rounds {
			t.Fatalf("node %d sees %d messages, want %d", i, len(all), rounds)
		}
		for _, u := range recent {
			if o, ok := owner[u]; ok {
				t.Errorf("UID %d is \\Recent on node %d and node %d", u, o, i)
			}
			owner[u] = i
		}
		// The session's count is its own \Recent messages.
		if got := recentOf(r.cmd("SELECT INBOX")); !slices.Equal(got, []int{0}) {
			t.Errorf("node %d SELECT again: RECENT %v, want [0]", i, got)
		}
	}
	if len(owner) != rounds {
		t.Errorf("%d of %d messages were \\Recent in a session: %v", len(owner), rounds, owner)
	}
	mb, err := nodes[1].Mailbox(ctx, alice.ID, "INBOX")
	if err != nil || mb.Recent != 0 || mb.RecentUID != rounds {
		t.Errorf("INBOX after the claims: Recent %d, RecentUID %d, %v", mb.Recent, mb.RecentUID, err)
	}
}

// serveNode runs an IMAP server on st, plaintext on 127.0.0.1, and
// returns its address.
func serveNode(t *testing.T, st *postgres.Store) string {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	th := auth.NewThrottle(auth.ThrottleConfig{Window: time.Minute, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond,
		MaxFailures: 1000, Lockout: time.Second})
	srv := New(Config{Hostname: "imap.example.org", Limits: netserve.Limits{MaxConnsPerIP: 50, MaxConns: 100},
		AllowPlaintextLoopback: true, AppendLimit: 1 << 20, MaxCommandErrors: 5}, st, auth.NewAuthenticator(st, th, log), nil, log)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return l.Addr().String()
}

// putStore delivers body to the account's INBOX through st, as APPEND
// would.
func putStore(t *testing.T, st store.Store, accountID int64, body string) {
	t.Helper()
	sp, err := st.NewSpool()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(sp, body); err != nil {
		t.Fatal(err)
	}
	if err := sp.Finish(); err != nil {
		t.Fatal(err)
	}
	b, err := sp.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p, err := message.Parse(b, sp.Size(), message.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	meta, err := p.Meta()
	if err != nil {
		t.Fatal(err)
	}
	if meta.HeadersText, meta.BodyText, err = message.ExtractText(b, p.Root, deliver.MaxSearchText); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Deliver(context.Background(), &store.Delivery{Spool: sp, Meta: meta, Targets: []store.Target{{AccountID: accountID}}}); err != nil {
		t.Fatal(err)
	}
}
