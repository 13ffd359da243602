package imapserver

import (
	"database/sql"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"postel/internal/store"
)

// routedMessage has a From with comments inside its angle-addr and a To
// with a source route (RFC 5322 §4.4 obs-route).
const routedMessage = "From: <user (comment)@ (comment) example.org>\r\n" +
	"To: Route <@route.example,@relay.example:rcpt@host.example>\r\nSubject: routed\r\n\r\nHello\r\n"

// TestBackfillMetaOverIMAP: a message stored by a parser older than source
// routes and CFWS in angle-addrs (its ENVELOPE without the addr-adl, its
// From search column with the comments, has_nul NULL: planted with SQL)
// is read again by the store's "meta" backfill (SQLite migration 16);
// then FETCH ENVELOPE shows the route (RFC 3501 §7.4.2, RFC 9051 §7.5.2
// addr-adl) and SEARCH FROM user@example.org finds it (RFC 9051 §6.4.4).
func TestBackfillMetaOverIMAP(t *testing.T) {
	h := newHarness(t)
	h.put(h.alice, "INBOX", cleanMessage)  // 1
	h.put(h.alice, "INBOX", routedMessage) // 2
	q := url.Values{"_pragma": {"busy_timeout(10000)"}}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(h.dir, "postel.db")+"?"+q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// What the parser before the fix stored: no route, the comments kept
	// in the local part and the domain.
	const oldEnvelope = `{"subj":"routed","from":[{"m":"user(comment)","h":"(comment)example.org"}],` +
		`"sender":[{"m":"user(comment)","h":"(comment)example.org"}],"rt":[{"m":"user(comment)","h":"(comment)example.org"}],` +
		`"to":[{"n":"Route","m":"rcpt","h":"host.example"}]}`
	inbox := h.mailbox(h.alice, "INBOX")
	res, err := db.Exec(`UPDATE messages SET envelope = ?, hdr_from = 'user(comment)@(comment)example.org', has_nul = NULL
		WHERE mailbox_id = ? AND uid = 2`, []byte(oldEnvelope), inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%d rows planted", n)
	}
	if _, err := db.Exec(`INSERT INTO backfill (task, upto) SELECT 'meta', MAX(id) FROM blobs`); err != nil {
		t.Fatal(err)
	}

	fetch := `* 2 FETCH (ENVELOPE (NIL "routed" ((NIL NIL "user" "example.org")) ((NIL NIL "user" "example.org")) ` +
		`((NIL NIL "user" "example.org")) (("Route" "@route.example,@relay.example" "rcpt" "host.example")) NIL NIL NIL NIL))`
	check := func(stale bool) {
		t.Helper()
		r := h.login()
		r.cmd("SELECT INBOX")
		env := strings.Join(r.cmd("FETCH 2 ENVELOPE"), "\n")
		search := strings.Join(r.cmd("SEARCH FROM user@example.org"), "\n")
		if stale {
			if strings.Contains(env, "@route.example") || !strings.HasPrefix(search, "* SEARCH\n") {
				t.Fatalf("planted data not served: %q %q", env, search)
			}
			return
		}
		if !strings.HasPrefix(env, fetch+"\n") {
			t.Errorf("FETCH 2 ENVELOPE after the backfill:\n got %q\nwant %q", env, fetch)
		}
		if !strings.HasPrefix(search, "* SEARCH 2\n") {
			t.Errorf("SEARCH FROM user@example.org after the backfill: %q", search)
		}
	}
	check(true)
	if err := h.st.Backfill(); err != nil {
		t.Fatal(err)
	}
	check(false)
	for _, m := range h.messages(h.alice, "INBOX") {
		if m.NUL != store.NULNone {
			t.Errorf("UID %d: NUL %d after the backfill, want NULNone", m.UID, m.NUL)
		}
	}
	var pending int
	if err := db.QueryRow(`SELECT COUNT(*) FROM backfill`).Scan(&pending); err != nil || pending != 0 {
		t.Errorf("backfill tasks left: %d, %v", pending, err)
	}
}
