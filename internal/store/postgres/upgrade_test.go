package postgres

// Upgrades that never lose data. testdata/schema-v<N>.sql is a database as
// a postel whose newest migration was N left it: plain SQL (pg_dump
// --inserts, without owners or privileges) that psql, or any client, loads
// into an empty database of PostgreSQL 13 or later. Each was made once, by
//
//	go test ./internal/store/postgres -run TestMakeSchemaFixture -make-fixture=N
//
// and is never made again: it stands for the databases in the field.
// TestUpgradeFromEveryVersion loads each into a fresh database, opens it
// with today's code (which applies migrations N+1 and on) and checks,
// through the store's API, everything fixtureData says it holds
// (storetest.CheckUpgraded: the data and the checks the SQLite store's
// upgrade test shares), then what only this store keeps.
//
// Adding migration M+1: make the fixture of version M (the newest before
// yours) with the command above, before or after writing the migration, and
// commit it. If the migration brings data, teach writeFixtureRows to write
// it when the schema has it (the fixtures of older versions do not) and the
// checks to expect it from that version on (fixtureSince).
//
// This is the SQLite store's upgrade test (internal/store/sqlite) for this
// store: the same data, kept as this store lays it out (bodies in blobs and
// blob_chunks, counted by blobs.refs; their text in blob_text; the change
// feed; sequences).

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"postel/internal/deliver"
	"postel/internal/store"
	"postel/internal/store/storetest"
)

var makeFixture = flag.Int("make-fixture", 0, "make testdata/schema-v`N`.sql: a database of schema version N (TestMakeSchemaFixture)")

// fixtureCommand is how to make the fixture of version v.
func fixtureCommand(v int) string {
	return fmt.Sprintf("go test ./internal/store/postgres -run TestMakeSchemaFixture -make-fixture=%d", v)
}

func fixturePath(v int) string { return filepath.Join("testdata", fmt.Sprintf("schema-v%d.sql", v)) }

// fixtureSince is the schema version that brought what a fixture holds only
// from then on: the generator checks it against the schema it made, and the
// checks use it to know what a fixture of each version holds.
var fixtureSince = struct {
	blobText, shared, metadata, subscriptions, hasNUL int
}{
	blobText:      2, // blob_text
	shared:        3, // leases, login_failures
	metadata:      6, // metadata
	subscriptions: 7, // subscriptions, mailboxes.recent_uid (and no mailboxes.subscribed)
	hasNUL:        9, // messages.has_nul
}

// knownGaps are upgrade bugs this test found and that are not fixed yet:
// data that a delivery today would have, which an upgrade from a version
// below the one given leaves missing for the messages stored before. The
// test checks that each is still there (and logs it), so that whoever
// fixes one must delete its line here, and the full check applies again.
// The keys are those of storetest.UpgradeChecks.Gaps ("search", "threads").
var knownGaps = map[string]int{}

// fixtureTime is when the fixtures' data was made: 2026-01-15T00:00:00Z.
const fixtureTime = storetest.UpgradeFixtureTime

// The stored encoding of system flags in messages.sysflags, written out
// here rather than taken from package store: a fixture keeps the encoding
// of its time, and the test must notice if today's reading differs.
var fixtureFlagBits = map[string]int{`\Seen`: 1, `\Answered`: 2, `\Flagged`: 4, `\Deleted`: 8, `\Draft`: 16}

// fixtureData is everything the fixtures hold, and so what the checks
// expect: the data of both stores' fixtures (storetest.UpgradeData), as
// this store's fixtures hold it, and what only this store keeps. The
// committed fixtures were made from it: never change what is here, or
// they no longer match. Data a new migration brings goes on top, written
// and expected only from its version on (fixtureSince).
var fixtureData = func() fixtureSet {
	d := fixtureSet{UpgradeFixture: storetest.UpgradeData()}
	d.Accounts[0].AuthEpoch = 1
	// The body of the last message expunged before the server stopped
	// for the upgrade: no longer used, released, and not yet deleted
	// (blobGrace had not passed).
	d.Blobs[slices.IndexFunc(d.Blobs, func(b storetest.UpgradeBlob) bool { return b.ID == 12 })] = storetest.UpgradeBlob{
		ID: 12, Word: "artichoke", Released: fixtureTime + 16*3600,
		Prefix: "Return-Path: <bob@example.org>\r\nReceived: from mail.example.org by mx.example.org with ESMTPS id f12; Thu, 15 Jan 2026 15:30:00 +0000\r\n",
		Body: storetest.CRLF(`From: Bob <bob@example.org>
To: alice@example.org
Subject: Recipe
Date: Thu, 15 Jan 2026 15:30:00 +0000
Message-ID: <recipe@example.org>

Artichoke hearts, not the leaves.
`)}
	d.Changes = []fixtureChange{
		{Seq: 40, AccountID: 1, MailboxID: 1, Kind: store.ChangeExpunged, ModSeq: 10, UIDs: []uint32{3, 6}, Created: fixtureTime + 16*3600 - 60},
		{Seq: 41, AccountID: 1, MailboxID: 1, Kind: store.ChangeExpunged, ModSeq: 11, UIDs: []uint32{4}, Created: fixtureTime + 16*3600},
		{Seq: 43, AccountID: 1, MailboxID: 1, Kind: store.ChangeFlags, ModSeq: 12, UIDs: []uint32{2}, Created: fixtureTime + 16*3600 + 30},
	}
	d.Leases = []fixtureLease{
		// A POP3 session's maildrop, held when the server stopped.
		{Name: "pop3/alice@example.org", Owner: "mx1.example.org/2", Expires: fixtureTime + 16*3600 + 600},
	}
	d.LoginFailures = []fixtureLoginFailure{
		{Source: "198.51.100.7", Account: "alice@example.org", At: fixtureTime + 15*3600},
		{Source: "198.51.100.7", Account: "", At: fixtureTime + 15*3600 + 5},
		{Source: "2001:db8:1::/64", Account: "bob@example.org", At: fixtureTime + 15*3600 + 9},
	}
	return d
}()

// fixtureSet is the data of both stores' fixtures and what only this
// store keeps.
type fixtureSet struct {
	*storetest.UpgradeFixture
	// Changes are the newest rows of the change feed when the server
	// stopped (seq 42 was rolled back: a gap).
	Changes []fixtureChange
	// Leases and LoginFailures: from fixtureSince.shared.
	Leases        []fixtureLease
	LoginFailures []fixtureLoginFailure
}

// fixtureChunkSizes are the sizes of the blob_chunks rows of the blobs
// not stored in chunks of the store's size (chunkSize): a blob records its
// chunk size, and a read must take it from there (a large body, in small).
var fixtureChunkSizes = map[int64]int{5: 64}

type fixtureChange struct {
	Seq, AccountID, MailboxID int64
	Kind                      store.ChangeKind
	ModSeq                    uint64
	UIDs                      []uint32
	Created                   int64
}

type fixtureLease struct {
	Name, Owner string
	Expires     int64
}

type fixtureLoginFailure struct {
	Source, Account string
	At              int64 // Unix seconds; stored in nanoseconds
}

// fixtureSequences are the last values of the ID sequences: the largest
// ID each table ever gave, in a fixed order.
func fixtureSequences() []struct {
	table, column string
	last          int64
} {
	d := fixtureData
	var accounts, mailboxes, messages, blobs, queue, changes int64
	for _, a := range d.Accounts {
		accounts = max(accounts, a.ID)
		for _, mb := range a.Mailboxes {
			mailboxes = max(mailboxes, mb.ID)
			for _, m := range mb.Messages {
				messages = max(messages, m.ID)
			}
		}
	}
	for _, b := range d.Blobs {
		blobs = max(blobs, b.ID)
	}
	for _, q := range d.Queue {
		queue = max(queue, q.ID)
	}
	for _, c := range d.Changes {
		changes = max(changes, c.Seq)
	}
	return []struct {
		table, column string
		last          int64
	}{
		{"accounts", "id", accounts},
		{"mailboxes", "id", mailboxes},
		{"blobs", "id", blobs},
		{"messages", "id", messages},
		{"queue", "id", queue},
		{"changes", "seq", changes},
	}
}

// fixtureMeta is what the delivery path stores for a message: what
// deliver.Prepare makes of prefix and body, given as a spool.
func fixtureMeta(prefix, body string) (store.MessageMeta, error) {
	dir, err := os.MkdirTemp("", "postel-fixture-")
	if err != nil {
		return store.MessageMeta{}, err
	}
	defer os.RemoveAll(dir)
	spools, err := store.NewFileBlobs(dir)
	if err != nil {
		return store.MessageMeta{}, err
	}
	sp, err := spools.NewSpool()
	if err != nil {
		return store.MessageMeta{}, err
	}
	defer sp.Discard()
	if _, err := io.WriteString(sp, body); err != nil {
		return store.MessageMeta{}, err
	}
	if err := sp.Finish(); err != nil {
		return store.MessageMeta{}, err
	}
	d, err := deliver.Prepare(sp, []byte(prefix), nil)
	if err != nil {
		return store.MessageMeta{}, err
	}
	return d.Meta, nil
}

// migrateTo is migrate stopped at version n, without the lock: the schema
// that a postel whose newest migration was n made, one transaction per
// migration, with its schema_version row.
func migrateTo(ctx context.Context, conn *pgx.Conn, n int) error {
	for v := 1; v <= n; v++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if v == 1 {
				if _, err := tx.Exec(ctx, `CREATE TABLE schema_version (version integer PRIMARY KEY, applied bigint NOT NULL)`); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
				return fmt.Errorf("migration %d: %w", v, err)
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_version (version, applied) VALUES ($1, $2)`, v, fixtureTime-86400*int64(n+1-v))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// fixtureWriter inserts rows with the columns the schema has: a column a
// later migration brought is left out of the fixtures made before it.
type fixtureWriter struct {
	ctx  context.Context
	tx   pgx.Tx
	cols map[string]map[string]bool
}

func (w *fixtureWriter) columns(table string) (map[string]bool, error) {
	if c, ok := w.cols[table]; ok {
		return c, nil
	}
	rows, err := w.tx.Query(w.ctx, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1`, table)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	c := map[string]bool{}
	for _, name := range names {
		c[name] = true
	}
	w.cols[table] = c
	return c, nil
}

func (w *fixtureWriter) has(table, column string) bool {
	c, err := w.columns(table)
	if err != nil {
		return false
	}
	if column == "" {
		return len(c) > 0
	}
	return c[column]
}

func (w *fixtureWriter) insert(table string, row map[string]any) error {
	have, err := w.columns(table)
	if err != nil {
		return err
	}
	if len(have) == 0 {
		return fmt.Errorf("no table %s", table)
	}
	var names, params []string
	var args []any
	for _, name := range slices.Sorted(maps.Keys(row)) {
		if have[name] {
			names = append(names, name)
			args = append(args, row[name])
			params = append(params, "$"+strconv.Itoa(len(args)))
		}
	}
	q := `INSERT INTO ` + table + ` (` + strings.Join(names, ", ") + `) VALUES (` + strings.Join(params, ", ") + `)`
	if _, err := w.tx.Exec(w.ctx, q, args...); err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	return nil
}

func (w *fixtureWriter) exec(q string, args ...any) error {
	if _, err := w.tx.Exec(w.ctx, q, args...); err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	return nil
}

// writeFixture makes the empty database dsn one of schema version n
// holding fixtureData, with raw SQL valid at that version.
func writeFixture(ctx context.Context, dsn string, n int) error {
	if n < 1 || n > len(migrations) {
		return fmt.Errorf("no schema version %d: there are 1 to %d", n, len(migrations))
	}
	if err := fixtureData.Check(); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if err := migrateTo(ctx, conn, n); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		w := &fixtureWriter{ctx: ctx, tx: tx, cols: map[string]map[string]bool{}}
		for _, c := range []struct {
			table, column string
			since         int
		}{
			{"blob_text", "", fixtureSince.blobText},
			{"leases", "", fixtureSince.shared},
			{"login_failures", "", fixtureSince.shared},
			{"metadata", "", fixtureSince.metadata},
			{"subscriptions", "", fixtureSince.subscriptions},
			{"mailboxes", "recent_uid", fixtureSince.subscriptions},
			{"messages", "has_nul", fixtureSince.hasNUL},
		} {
			if w.has(c.table, c.column) != (n >= c.since) {
				return fmt.Errorf("fixtureSince is wrong: schema version %d has %s %s: %v", n, c.table, c.column, n >= c.since)
			}
		}
		return writeFixtureRows(w, n)
	})
}

// writeFixtureRows inserts fixtureData as the store of schema version n
// would have stored it.
func writeFixtureRows(w *fixtureWriter, n int) error {
	d := fixtureData
	created := int64(fixtureTime - 30*86400)
	for _, name := range d.Domains {
		if err := w.insert("domains", map[string]any{"name": name, "created": created}); err != nil {
			return err
		}
	}
	for _, b := range d.Blobs {
		if !b.Kept() {
			continue
		}
		if err := writeFixtureBlob(w, n, b); err != nil {
			return err
		}
	}
	for _, a := range d.Accounts {
		used, _ := fixtureData.Usage(a)
		var last uint32
		for _, mb := range a.Mailboxes {
			last = max(last, mb.UIDValidity)
		}
		if err := w.insert("accounts", map[string]any{
			"id": a.ID, "address": a.Address, "domain": store.DomainOf(a.Address),
			"password_hash": a.Cred.PasswordHash, "scram_sha256": a.Cred.SCRAMSHA256,
			"quota_bytes": a.Quota, "used_bytes": used, "disabled": a.Disabled,
			"uidvalidity_last": int64(last), "created": created + a.ID*3600, "auth_epoch": a.AuthEpoch,
		}); err != nil {
			return err
		}
		for _, mb := range a.Mailboxes {
			if err := w.insert("mailboxes", map[string]any{
				"id": mb.ID, "account_id": a.ID, "name": mb.Name, "uidvalidity": int64(mb.UIDValidity),
				"uidnext": int64(mb.UIDNext), "highest_modseq": int64(mb.HighestModSeq), "special_use": mb.Role, "subscribed": mb.Subscribed,
				"recent_uid": int64(mb.RecentUID),
			}); err != nil {
				return err
			}
			if n >= fixtureSince.subscriptions && mb.Subscribed {
				if err := w.insert("subscriptions", map[string]any{"account_id": a.ID, "name": mb.Name}); err != nil {
					return err
				}
			}
			for _, m := range mb.Messages {
				if err := writeFixtureMessage(w, mb.ID, m); err != nil {
					return err
				}
			}
			for _, e := range mb.Expunged {
				if err := w.insert("expunged", map[string]any{"mailbox_id": mb.ID, "uid": int64(e.UID), "modseq": int64(e.ModSeq)}); err != nil {
					return err
				}
			}
		}
		if n >= fixtureSince.subscriptions {
			for _, name := range a.Subscriptions {
				if err := w.insert("subscriptions", map[string]any{"account_id": a.ID, "name": name}); err != nil {
					return err
				}
			}
		}
		for _, r := range a.JunkRules {
			if err := w.insert("junk_rules", map[string]any{"account_id": a.ID, "pattern": r.Pattern, "kind": r.Kind, "created": int64(fixtureTime)}); err != nil {
				return err
			}
		}
		for _, r := range a.Reputations {
			if err := w.insert("junk_reputation", map[string]any{"account_id": a.ID, "sender": r.Sender, "spam": r.Spam, "ham": r.Ham,
				"last": r.Last, "updated": int64(fixtureTime) * int64(time.Second)}); err != nil {
				return err
			}
		}
		if n >= fixtureSince.metadata {
			for _, e := range a.Metadata {
				if err := w.insert("metadata", map[string]any{"account_id": a.ID, "mailbox_id": e.MailboxID, "name": e.Name, "value": e.Value}); err != nil {
					return err
				}
			}
		}
	}
	for _, al := range d.Aliases {
		for _, t := range al.Targets {
			if err := w.insert("aliases", map[string]any{"address": al.Address, "target": t}); err != nil {
				return err
			}
		}
	}
	for _, q := range d.Queue {
		b := fixtureData.Blob(q.Blob)
		if err := w.insert("queue", map[string]any{
			"id": q.ID, "account_id": q.AccountID, "mail_from": q.From, "blob_id": q.Blob, "prefix": []byte(q.Prefix),
			"size": int64(len(q.Prefix) + len(b.Body)), "dsn_ret": q.DSNRet, "dsn_envid": q.DSNEnv,
			"requiretls": q.RequireTLS, "smtputf8": q.UTF8, "body8bit": false,
			"created": q.Created, "next_attempt": q.NextAttempt, "attempts": q.Attempts,
			"lease_owner": q.LeaseOwner, "lease_until": q.LeaseUntil,
		}); err != nil {
			return err
		}
		for _, r := range q.Recipients {
			if err := w.insert("queue_rcpts", map[string]any{
				"queue_id": q.ID, "address": r.Address, "notify": strings.Join(r.Notify, ","), "orcpt": r.ORcpt,
				"status": r.Status, "attempts": r.Attempts, "last_reply": r.LastReply, "last_change": r.LastChange.Unix(),
			}); err != nil {
				return err
			}
		}
		if err := w.insert("sent_log", map[string]any{"account_id": q.AccountID, "created": q.Created, "rcpts": len(q.Recipients)}); err != nil {
			return err
		}
	}
	for _, c := range d.Changes {
		if err := w.insert("changes", map[string]any{
			"seq": c.Seq, "account_id": c.AccountID, "mailbox_id": c.MailboxID, "kind": int32(c.Kind),
			"modseq": int64(c.ModSeq), "uids": store.EncodeUIDs(c.UIDs), "created": c.Created,
		}); err != nil {
			return err
		}
	}
	if n >= fixtureSince.shared {
		for _, l := range d.Leases {
			if err := w.insert("leases", map[string]any{"name": l.Name, "owner": l.Owner, "expires": time.Unix(l.Expires, 0)}); err != nil {
				return err
			}
		}
		for _, f := range d.LoginFailures {
			if err := w.insert("login_failures", map[string]any{"source": f.Source, "account": f.Account, "at": f.At * int64(time.Second)}); err != nil {
				return err
			}
		}
	}
	// The rows above were given their IDs: the sequences go on from the
	// largest ID each gave, as the store's inserts leave them.
	for _, s := range fixtureSequences() {
		if err := w.exec(`SELECT setval(pg_get_serial_sequence($1, $2), $3)`, s.table, s.column, s.last); err != nil {
			return err
		}
	}
	return nil
}

// writeFixtureBlob inserts a blob as insertBlob lays it out: the blobs row
// counting its users, the body in chunks, and (from fixtureSince.blobText)
// the searchable text of prefix and body, lower-cased.
func writeFixtureBlob(w *fixtureWriter, n int, b storetest.UpgradeBlob) error {
	size := fixtureChunkSizes[b.ID]
	if size == 0 {
		size = chunkSize
	}
	var released any
	if b.Released != 0 {
		released = b.Released
	}
	if err := w.insert("blobs", map[string]any{"id": b.ID, "size": int64(len(b.Body)), "chunk_size": size,
		"refs": fixtureData.Refs(b.ID), "released": released, "created": int64(fixtureTime)}); err != nil {
		return err
	}
	body := []byte(b.Body)
	for i := 0; i == 0 || i*size < len(body); i++ {
		chunk := body[i*size : min(len(body), (i+1)*size)]
		if err := w.insert("blob_chunks", map[string]any{"blob_id": b.ID, "n": i, "data": chunk}); err != nil {
			return err
		}
	}
	if n < fixtureSince.blobText {
		return nil
	}
	meta, err := fixtureMeta(b.Prefix, b.Body)
	if err != nil {
		return err
	}
	if meta.HeadersText == "" && meta.BodyText == "" {
		return nil
	}
	// strings.ToLower written out, not searchFold: the fixture keeps the
	// folding of its time.
	return w.insert("blob_text", map[string]any{"blob_id": b.ID,
		"headers": strings.ToLower(meta.HeadersText), "body": strings.ToLower(meta.BodyText)})
}

func writeFixtureMessage(w *fixtureWriter, mailboxID int64, m storetest.UpgradeMessage) error {
	b := fixtureData.Blob(m.Blob)
	meta, err := fixtureMeta(b.Prefix, b.Body)
	if err != nil {
		return err
	}
	bits := 0
	var keywords []string
	for _, f := range m.Flags {
		if strings.HasPrefix(f, `\`) {
			bit, ok := fixtureFlagBits[f]
			if !ok {
				return fmt.Errorf("no system flag %s", f)
			}
			bits |= bit
		} else {
			keywords = append(keywords, f)
		}
	}
	var date int64
	if !meta.Date.IsZero() {
		date = meta.Date.Unix()
	}
	return w.insert("messages", map[string]any{
		"id": m.ID, "mailbox_id": mailboxID, "uid": int64(m.UID), "modseq": int64(m.ModSeq), "sysflags": bits,
		"keywords": strings.Join(keywords, " "), "internal_date": m.Internal, "save_date": m.Internal + 60,
		"size": fixtureData.Size(m), "blob_id": m.Blob, "prefix": []byte(b.Prefix),
		"envelope": nonNil(meta.Envelope), "structure": nonNil(meta.Structure), "hdr_subject": meta.Subject, "hdr_from": meta.From,
		"hdr_to": meta.To, "hdr_cc": meta.Cc, "hdr_bcc": meta.Bcc, "hdr_messageid": meta.MessageID, "hdr_date": date,
		"hdr_inreplyto": meta.InReplyTo, "hdr_references": strings.Join(meta.References, " "),
		"has_nul": bytes.IndexByte(b.Raw(), 0) >= 0,
	})
}

// pgDump finds pg_dump as pgtest finds the server's programs: in
// $POSTEL_PG_BIN when set, else in the newest /usr/lib/postgresql/*/bin,
// else on PATH. Without it the test is skipped, or fails when
// POSTEL_REQUIRE_POSTGRES=1.
func pgDump(t *testing.T) string {
	t.Helper()
	path, err := findPgDump()
	if err == nil {
		return path
	}
	if os.Getenv("POSTEL_REQUIRE_POSTGRES") == "1" {
		t.Fatalf("%v; POSTEL_REQUIRE_POSTGRES=1 requires it (Debian: postgresql-client)", err)
	}
	t.Skipf("%v; skipping (Debian: postgresql-client)", err)
	return ""
}

func findPgDump() (string, error) {
	if dir := os.Getenv("POSTEL_PG_BIN"); dir != "" {
		p := filepath.Join(dir, "pg_dump")
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("POSTEL_PG_BIN=%s lacks pg_dump", dir)
		}
		return p, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
	best, bestV := "", -1
	for _, p := range dirs {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
		if err != nil || v <= bestV {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			best, bestV = p, v
		}
	}
	if best != "" {
		return best, nil
	}
	p, err := exec.LookPath("pg_dump")
	if err != nil {
		return "", errors.New("pg_dump not found (looked in $POSTEL_PG_BIN, /usr/lib/postgresql/*/bin and PATH)")
	}
	return p, nil
}

// dumpOmits are the lines of pg_dump's output a fixture leaves out: psql's
// meta-commands (\restrict, whose key changes at every dump, and the
// others: a fixture is plain SQL, for any client) and the settings that
// older servers do not know (transaction_timeout: PostgreSQL 17).
var dumpOmits = regexp.MustCompile(`^(\\.*|SET transaction_timeout = .*)$`)

// dumpDatabase returns the database dsn as plain SQL that loads into an
// empty database: pg_dump's, without owners and privileges, data as
// INSERTs, and without dumpOmits.
func dumpDatabase(ctx context.Context, pgDump, dsn string) (string, error) {
	cmd := exec.CommandContext(ctx, pgDump, "--no-owner", "--no-privileges", "--no-comments", "--no-tablespaces",
		"--inserts", "--dbname="+dsn)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PGCONNECT_TIMEOUT=10")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %v: %s", pgDump, err, strings.TrimSpace(stderr.String()))
	}
	// Line by line: the text of fixtureData that spans lines (blob_text)
	// has no line that begins with "\" or "SET".
	lines := strings.SplitAfter(stdout.String(), "\n")
	var b strings.Builder
	for _, l := range lines {
		if dumpOmits.MatchString(strings.TrimRight(l, "\r\n")) {
			continue
		}
		b.WriteString(l)
	}
	return b.String(), nil
}

// loadSQL runs the SQL of a fixture in the empty database dsn: one simple
// query, so one transaction.
func loadSQL(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// makeFixtureSQL makes, in a fresh database, one of schema version n
// holding fixtureData and returns its SQL, as committed; dump is pg_dump.
func makeFixtureSQL(t *testing.T, dump string, n int) string {
	t.Helper()
	ctx := context.Background()
	dsn := newDB(t)
	if err := writeFixture(ctx, dsn, n); err != nil {
		t.Fatal(err)
	}
	sql, err := dumpDatabase(ctx, dump, dsn)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`-- A database of postel's PostgreSQL store at schema version %d, holding
-- the data of fixtureData in internal/store/postgres/upgrade_test.go, as
-- a postel whose newest migration was %d left it. Made once, by
--	%s
-- and never again: never edit it. Loads with psql -f into an empty
-- database of PostgreSQL 13 or later.
`, n, n, fixtureCommand(n)) + sql
}

// TestMakeSchemaFixture makes testdata/schema-vN.sql for -make-fixture=N,
// and checks it as TestUpgradeFromEveryVersion will. It does nothing
// without the flag.
func TestMakeSchemaFixture(t *testing.T) {
	n := *makeFixture
	if n == 0 {
		t.Skip("makes a fixture only when asked: " + fixtureCommand(len(migrations)-1))
	}
	dst := fixturePath(n)
	if _, err := os.Stat(dst); err == nil {
		t.Fatalf("%s exists: a fixture is made once and kept; remove it first to make it again", dst)
	}
	dump, err := findPgDump()
	if err != nil {
		t.Fatal(err)
	}
	sql := makeFixtureSQL(t, dump, n)
	checkUpgrade(t, sql, n)
	if t.Failed() {
		return
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, []byte(sql), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		t.Fatal(err)
	}
	t.Logf("made %s: %d bytes", dst, len(sql))
}

// TestUpgradeFromEveryVersion loads the fixture of every schema version
// before the newest, opens it with today's code and checks that nothing
// was lost. A fixture of the newest version, made now, is checked too: the
// generator must keep working for the next migration.
func TestUpgradeFromEveryVersion(t *testing.T) {
	for v := 1; v < len(migrations); v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			t.Parallel()
			path := fixturePath(v)
			sql, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("no fixture of schema version %d (%v): every version before the newest needs one; make it with\n\t%s\nand commit %s",
					v, err, fixtureCommand(v), filepath.Join("internal/store/postgres", path))
			}
			checkUpgrade(t, string(sql), v)
		})
	}
	t.Run(fmt.Sprintf("v%d-made-now", len(migrations)), func(t *testing.T) {
		t.Parallel()
		checkUpgrade(t, makeFixtureSQL(t, pgDump(t), len(migrations)), len(migrations))
	})
}

// checkUpgrade loads sql, a database of schema version v, into a fresh
// database, opens it and checks it holds fixtureData, then that it takes
// new writes.
func checkUpgrade(t *testing.T, sql string, v int) {
	ctx := context.Background()
	dsn := newDB(t)
	if err := loadSQL(ctx, dsn, sql); err != nil {
		t.Fatalf("loading the version %d fixture: %v", v, err)
	}
	st, err := Open(ctx, dsn, Options{SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatalf("open of a version %d database: %v", v, err)
	}
	t.Cleanup(func() { st.Close() })
	// The follower's first look is followed by the janitor's first round;
	// after the second look, that round is done.
	caughtUp(t, []*Store{st})
	// The backfills run beside serving: their end is the event to wait for.
	<-st.backfillDone
	var pending int
	if err := st.pool.QueryRow(ctx, `SELECT COUNT(*) FROM backfill`).Scan(&pending); err != nil || pending != 0 {
		t.Fatalf("backfill tasks left: %d, %v", pending, err)
	}

	var version, count int
	if err := st.pool.QueryRow(ctx, `SELECT MAX(version), COUNT(*) FROM schema_version`).Scan(&version, &count); err != nil {
		t.Fatal(err)
	}
	if version != len(migrations) || count != len(migrations) {
		t.Errorf("schema_version after upgrade: %d (%d rows), want %d", version, count, len(migrations))
	}

	storetest.CheckUpgraded(t, st, fixtureData.UpgradeFixture, storetest.UpgradeChecks{
		Version: v,
		Gaps:    storetest.OpenUpgradeGaps(t, knownGaps, v),
		Meta:    fixtureMeta,
		Old:     "databases",
		// METADATA came with migration 6.
		MetadataSince: fixtureSince.metadata,
		// Since migration 7; the rest was in every version.
		SubscriptionsSince: fixtureSince.subscriptions,
		// Since migration 9.
	})
	checkUpgradedJanitor(t, st, v)
	checkWritesAfterUpgrade(t, st, dsn)
}

// checkUpgradedJanitor checks the blobs' reference counts, and what the
// janitor's first round made of what the old version left: released blobs,
// old change rows, failed logins and leases, all of which it deletes once
// they are old enough.
func checkUpgradedJanitor(t *testing.T, st *Store, v int) {
	ctx := context.Background()
	now := time.Now()
	rows, err := st.pool.Query(ctx, `SELECT b.id, b.refs, b.released IS NOT NULL,
			(SELECT COUNT(*) FROM messages WHERE blob_id = b.id) + (SELECT COUNT(*) FROM queue WHERE blob_id = b.id)
		FROM blobs b ORDER BY b.id`)
	if err != nil {
		t.Fatal(err)
	}
	type blobRow struct {
		id       int64
		refs     int
		released bool
		users    int
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (blobRow, error) {
		var b blobRow
		err := r.Scan(&b.id, &b.refs, &b.released, &b.users)
		return b, err
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []blobRow
	for _, b := range fixtureData.Blobs {
		switch {
		case b.Used():
			want = append(want, blobRow{b.ID, fixtureData.Refs(b.ID), false, fixtureData.Refs(b.ID)})
		case b.Kept() && now.Add(-blobGrace).Unix() <= b.Released:
			want = append(want, blobRow{b.ID, 0, true, 0})
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("blobs (id, refs, released, users) after the janitor's first round:\n got %v\nwant %v", got, want)
	}
	var orphans int
	if err := st.pool.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM blob_chunks c WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE id = c.blob_id))
		+ (SELECT COUNT(*) FROM blob_text x WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE id = x.blob_id))`).Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("chunks or text of deleted blobs: %d, %v", orphans, err)
	}

	var seqs []int64
	for _, c := range fixtureData.Changes {
		if now.Add(-feedKeep).Unix() <= c.Created {
			seqs = append(seqs, c.Seq)
		}
	}
	rows, err = st.pool.Query(ctx, `SELECT seq FROM changes ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	if have, err := pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil || !slices.Equal(have, seqs) {
		t.Errorf("change feed rows after the janitor's first round: %v, %v; want %v", have, err, seqs)
	}

	if v < fixtureSince.shared {
		return
	}
	sources := map[string]int{} // failures kept, by source
	for _, f := range fixtureData.LoginFailures {
		kept := 0
		if now.Add(-store.LoginFailureKeep).Unix() <= f.At {
			kept = 1
		}
		sources[f.Source] += kept
	}
	for src, want := range sources {
		if n, err := st.CountLoginFailures(ctx, src, time.Unix(0, 0)); err != nil || n != want {
			t.Errorf("CountLoginFailures(%s) = %d, %v; want %d", src, n, err, want)
		}
	}
	for _, l := range fixtureData.Leases {
		err := st.AcquireLease(ctx, l.Name, "mx2.example.org/1", time.Minute)
		if running := now.Unix() < l.Expires; running != errors.Is(err, store.ErrInUse) || !running && err != nil {
			t.Errorf("AcquireLease(%s) by another owner = %v; the old lease runs: %v", l.Name, err, running)
		}
	}
}

// checkWritesAfterUpgrade delivers, flags, expunges, queues and creates in
// the upgraded store: UIDs, MODSEQs, IDs and the change feed go on from
// where the old data left them, and another node sees the new changes.
func checkWritesAfterUpgrade(t *testing.T, st *Store, dsn string) {
	ctx := context.Background()
	a := fixtureData.Accounts[0]
	inbox := a.Mailboxes[0]
	last := map[string]int64{}
	for _, s := range fixtureSequences() {
		last[s.table] = s.last
	}

	// A queue entry leased by a node that stopped for the upgrade is
	// taken over once the lease ran out.
	claimed, err := st.ClaimQueue(ctx, "mx2.example.org/1", time.Now(), time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	var claimedIDs []int64
	for _, e := range claimed {
		claimedIDs = append(claimedIDs, e.ID)
		if e.LeaseOwner != "mx2.example.org/1" {
			t.Errorf("claimed queue entry %d: lease owner %q", e.ID, e.LeaseOwner)
		}
		e.LeaseOwner, e.LeaseUntil = "", time.Time{}
		for _, w := range fixtureData.Queue {
			exp := fixtureData.QueueEntry(w)
			exp.LeaseOwner, exp.LeaseUntil = "", time.Time{}
			if w.ID == e.ID && !reflect.DeepEqual(e, exp) {
				t.Errorf("claimed queue entry %d:\n got %+v\nwant %+v", e.ID, e, exp)
			}
		}
	}
	var wantClaimed []int64
	for _, w := range fixtureData.Queue {
		wantClaimed = append(wantClaimed, w.ID)
	}
	if !slices.Equal(claimedIDs, wantClaimed) {
		t.Errorf("ClaimQueue after upgrade took %v, want %v", claimedIDs, wantClaimed)
	}

	// Another node follows the feed.
	node2, err := Open(ctx, dsn, Options{SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer node2.Close()
	sub := node2.Subscribe(a.ID)
	defer sub.Close()

	prefix := "Return-Path: <bob@example.org>\r\nReceived: from mail.example.org by mx.example.org with ESMTPS id u1; Fri, 16 Jan 2026 09:00:00 +0000\r\n"
	body := storetest.UpgradeNewBody
	d, err := deliver.Prepare(storetest.Spool(t, st, body), []byte(prefix), []store.Target{{AccountID: a.ID}})
	if err != nil {
		t.Fatal(err)
	}
	d.Queue = &store.QueueEntry{AccountID: a.ID, From: a.Address, Prefix: []byte("Received: test\r\n"),
		Recipients: []store.QueueRcpt{{Address: "dave@remote.example"}}}
	got, err := st.Deliver(ctx, d)
	if err != nil {
		t.Fatalf("delivery after upgrade: %v", err)
	}
	if got[0].UID != inbox.UIDNext || got[0].UIDValidity != inbox.UIDValidity || got[0].MessageID <= last["messages"] || got[0].QueueID <= last["queue"] {
		t.Errorf("delivery after upgrade: %+v; want UID %d, UIDVALIDITY %d, message ID above %d, queue ID above %d",
			got[0], inbox.UIDNext, inbox.UIDValidity, last["messages"], last["queue"])
	}
	// Its blob and change row must not take the ID of an old one.
	var blobID, seq int64
	if err := st.pool.QueryRow(ctx, `SELECT (SELECT blob_id FROM messages WHERE id = $1), (SELECT MAX(seq) FROM changes)`,
		got[0].MessageID).Scan(&blobID, &seq); err != nil {
		t.Fatal(err)
	}
	if blobID <= last["blobs"] || seq <= last["changes"] {
		t.Errorf("new blob ID %d, change seq %d; want them above the old %d, %d", blobID, seq, last["blobs"], last["changes"])
	}
	changes := waitChange(t, sub, store.ChangeAdded, 10*time.Second)
	if c := changes[len(changes)-1]; c.MailboxID != inbox.ID || !slices.Equal(c.UIDs, []uint32{inbox.UIDNext}) || c.ModSeq != inbox.HighestModSeq+1 {
		t.Errorf("the other node saw %+v; want UID %d, MODSEQ %d in mailbox %d", c, inbox.UIDNext, inbox.HighestModSeq+1, inbox.ID)
	}
	storetest.CheckWritesAfterUpgrade(t, st, fixtureData.UpgradeFixture, int64(len(prefix)+len(body)))
	// INBOX 1 shares its blob with Projects/2026 3, which
	// CheckWritesAfterUpgrade expunged: the blob stays, in use.
	copyOf := storetest.UpgradeCopy(fixtureData.UpgradeFixture)
	var refs int
	var released bool
	if err := st.pool.QueryRow(ctx, `SELECT refs, released IS NOT NULL FROM blobs WHERE id = $1`, copyOf.Messages[0].Blob).Scan(&refs, &released); err != nil ||
		refs != fixtureData.Refs(copyOf.Messages[0].Blob)-1 || released {
		t.Errorf("blob %d after one of its messages was expunged: refs %d, released %v, %v; want refs %d",
			copyOf.Messages[0].Blob, refs, released, err, fixtureData.Refs(copyOf.Messages[0].Blob)-1)
	}

	acct, err := st.CreateAccount(ctx, "dave@example.org", store.Credentials{PasswordHash: "hash"})
	if err != nil {
		t.Fatal(err)
	}
	if acct.ID <= last["accounts"] {
		t.Errorf("new account ID %d, not above the old %d", acct.ID, last["accounts"])
	}
	mbs, err := st.ListMailboxes(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range mbs {
		if mb.ID <= last["mailboxes"] {
			t.Errorf("new mailbox %s ID %d, not above the old %d", mb.Name, mb.ID, last["mailboxes"])
		}
	}
}

// TestSchemaTooNewKeepsData: a database holding data, which a newer
// postel migrated, is refused with an error naming both versions, and
// left exactly as it was: its pg_dump, taken before and after each
// attempt, is the same. (TestSchemaTooNew compares its shape.)
func TestSchemaTooNewKeepsData(t *testing.T) {
	ctx := context.Background()
	dump := pgDump(t)
	dsn := newDB(t)
	if err := writeFixture(ctx, dsn, len(migrations)); err != nil {
		t.Fatal(err)
	}
	newer := len(migrations) + 1
	err := loadSQL(ctx, dsn, fmt.Sprintf(`INSERT INTO schema_version (version, applied) VALUES (%d, %d);
		CREATE TABLE from_the_future (x integer);
		INSERT INTO from_the_future VALUES (1)`, newer, fixtureTime))
	if err != nil {
		t.Fatal(err)
	}
	before, err := dumpDatabase(ctx, dump, dsn)
	if err != nil {
		t.Fatal(err)
	}
	for try := 1; try <= 2; try++ {
		st, err := Open(ctx, dsn, Options{SpoolDir: t.TempDir()})
		if err == nil {
			st.Close()
			t.Fatalf("Open %d of a schema version %d database succeeded", try, newer)
		}
		msg := err.Error()
		if !errors.Is(err, ErrSchemaTooNew) || !mentionsNumber(msg, newer) || !mentionsNumber(msg, len(migrations)) || !strings.Contains(msg, "newer") {
			t.Errorf("Open %d error %q: want ErrSchemaTooNew naming version %d, the known %d, and saying a newer postel is needed",
				try, msg, newer, len(migrations))
		}
		after, err := dumpDatabase(ctx, dump, dsn)
		if err != nil {
			t.Fatal(err)
		}
		if after != before {
			t.Fatalf("Open %d of a too new database changed it:\n%s", try, firstDifference(before, after))
		}
	}
}

// mentionsNumber tells whether msg holds the number n as a word.
func mentionsNumber(msg string, n int) bool {
	return regexp.MustCompile(`\b` + strconv.Itoa(n) + `\b`).MatchString(msg)
}

// firstDifference shows the first line where a and b differ.
func firstDifference(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n-%s\n+%s", i+1, x, y)
		}
	}
	return "no line differs"
}
