package sqlite

// Upgrades that never lose data. testdata/schema-v<N>/ is a data directory
// as a postel whose newest migration was N left it: postel.db (no -wal or
// -shm needed) and the body files under msg/. Each was made once, by
//
//	go test ./internal/store/sqlite -run TestMakeSchemaFixture -make-fixture=N
//
// and is never made again: it stands for the data directories in the field.
// TestUpgradeFromEveryVersion opens a copy of each with today's code and
// checks, through the store's API, everything fixtureData says it holds
// (storetest.CheckUpgraded: the data and the checks the PostgreSQL store's
// upgrade test shares), then what only this store keeps.
//
// Adding migration M+1: make the fixture of version M (the newest before
// yours) with the command above, before or after writing the migration, and
// commit it. If the migration brings data, teach writeFixture to write it
// when the schema has it (the fixtures of older versions do not) and the
// checks to expect it from that version on (fixtureSince).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"postel/internal/deliver"
	"postel/internal/message"
	"postel/internal/store"
	"postel/internal/store/storetest"
)

var makeFixture = flag.Int("make-fixture", 0, "make testdata/schema-v`N`: a data directory of schema version N (TestMakeSchemaFixture)")

// fixtureCommand is how to make the fixture of version v.
func fixtureCommand(v int) string {
	return fmt.Sprintf("go test ./internal/store/sqlite -run TestMakeSchemaFixture -make-fixture=%d", v)
}

func fixtureDir(v int) string { return filepath.Join("testdata", fmt.Sprintf("schema-v%d", v)) }

// fixtureSince is the schema version that brought what a fixture holds only
// from then on: the generator checks it against the schema it made, and the
// checks use it to know what a fixture of each version holds.
var fixtureSince = struct {
	fts, sentLog, threadFields, junk, authEpoch, leaseOwner, blobIntents, metadata, subscriptions, hasNUL int
}{
	fts:          2,  // messages_fts
	sentLog:      3,  // sent_log
	threadFields: 4,  // messages.hdr_inreplyto, hdr_references
	junk:         5,  // junk_rules, junk_reputation
	authEpoch:    6,  // accounts.auth_epoch
	leaseOwner:   7,  // queue.lease_owner
	blobIntents:  10, // blob_intents
	metadata:     12, // metadata
	// subscriptions, mailboxes.recent_uid (and no mailboxes.subscribed)
	subscriptions: 13,
	hasNUL:        15, // messages.has_nul
}

// knownGaps are upgrade bugs this test found and that are not fixed yet:
// data that a delivery today would have, which an upgrade from a version
// below the one given leaves missing for the messages stored before. The
// test checks that each is still there (and logs it), so that whoever
// fixes one must delete its line here, and the full check applies again.
// The keys are those of storetest.UpgradeChecks.Gaps ("search", "threads").
// The two it found ("fts": messages stored before migration 2 were not in
// the full-text index; "threads": those stored before migration 4 had no
// In-Reply-To and References) are filled by the backfill of migration 9.
var knownGaps = map[string]int{}

// fixtureTime is when the fixtures' data was made: 2026-01-15T00:00:00Z.
const fixtureTime = storetest.UpgradeFixtureTime

// The on-disk encoding of system flags in messages.sysflags, written out
// here rather than taken from package store: a fixture keeps the encoding
// of its time, and the test must notice if today's reading differs.
var fixtureFlagBits = map[string]int{`\Seen`: 1, `\Answered`: 2, `\Flagged`: 4, `\Deleted`: 8, `\Draft`: 16}

// fixtureData is everything the fixtures hold, and so what the checks
// expect: the data of both stores' fixtures (storetest.UpgradeData). The
// committed fixtures were made from it: never change what is there, or
// they no longer match.
var fixtureData = storetest.UpgradeData()

// fixtureMeta is what the delivery path (deliver.parse) stores for a
// message: internal/message's metadata and searchable text of prefix and
// body together.
func fixtureMeta(raw []byte) (store.MessageMeta, error) {
	r := bytes.NewReader(raw)
	parsed, err := message.Parse(r, int64(len(raw)), message.DefaultLimits())
	if err != nil {
		return store.MessageMeta{}, err
	}
	meta, err := parsed.Meta()
	if err != nil {
		return store.MessageMeta{}, err
	}
	meta.HeadersText, meta.BodyText, err = message.ExtractText(r, parsed.Root, deliver.MaxSearchText)
	return meta, err
}

// migrateTo is migrate stopped at version n: the schema that a postel
// whose newest migration was n made.
func migrateTo(ctx context.Context, db *sql.DB, n int) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)`); err != nil {
		return err
	}
	for v := 1; v <= n; v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, applied) VALUES (?, ?)`, v, fixtureTime-86400*int64(n+1-v)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// fixtureWriter inserts rows with the columns the schema has: a column a
// later migration brought is left out of the fixtures made before it.
type fixtureWriter struct {
	ctx  context.Context
	tx   *sql.Tx
	cols map[string]map[string]bool
}

func (w *fixtureWriter) columns(table string) (map[string]bool, error) {
	if c, ok := w.cols[table]; ok {
		return c, nil
	}
	rows, err := w.tx.QueryContext(w.ctx, `SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	c := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		c[name] = true
	}
	w.cols[table] = c
	return c, rows.Err()
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
	var names []string
	var args []any
	for _, name := range slices.Sorted(maps.Keys(row)) {
		if have[name] {
			names = append(names, name)
			args = append(args, row[name])
		}
	}
	q := `INSERT INTO ` + table + ` (` + strings.Join(names, ", ") + `) VALUES (?` + strings.Repeat(", ?", len(names)-1) + `)`
	if _, err := w.tx.ExecContext(w.ctx, q, args...); err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	return nil
}

func (w *fixtureWriter) exec(q string, args ...any) error {
	_, err := w.tx.ExecContext(w.ctx, q, args...)
	return err
}

// writeFixture makes in dir (new or empty) a data directory of schema
// version n holding fixtureData, with raw SQL valid at that version.
func writeFixture(ctx context.Context, dir string, n int) error {
	if n < 1 || n > len(migrations) {
		return fmt.Errorf("no schema version %d: there are 1 to %d", n, len(migrations))
	}
	if err := fixtureData.Check(); err != nil {
		return err
	}
	path := filepath.Join(dir, "postel.db")
	q := url.Values{"_pragma": {"synchronous(FULL)", "foreign_keys(1)"}}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	// Small pages keep the committed files small (an SQLite file takes at
	// least a page per table and index); nothing in postel depends on the
	// page size. It must come before anything is written, WAL mode too.
	for _, p := range []string{`PRAGMA page_size = 1024`, `PRAGMA journal_mode = WAL`} {
		if _, err := db.ExecContext(ctx, p); err != nil {
			return err
		}
	}
	if err := migrateTo(ctx, db, n); err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	w := &fixtureWriter{ctx: ctx, tx: tx, cols: map[string]map[string]bool{}}
	for _, c := range []struct {
		table, column string
		since         int
	}{
		{"messages_fts", "", fixtureSince.fts},
		{"sent_log", "", fixtureSince.sentLog},
		{"messages", "hdr_inreplyto", fixtureSince.threadFields},
		{"messages", "hdr_references", fixtureSince.threadFields},
		{"junk_rules", "", fixtureSince.junk},
		{"junk_reputation", "", fixtureSince.junk},
		{"accounts", "auth_epoch", fixtureSince.authEpoch},
		{"queue", "lease_owner", fixtureSince.leaseOwner},
		{"blob_intents", "", fixtureSince.blobIntents},
		{"metadata", "", fixtureSince.metadata},
		{"subscriptions", "", fixtureSince.subscriptions},
		{"mailboxes", "recent_uid", fixtureSince.subscriptions},
		{"messages", "has_nul", fixtureSince.hasNUL},
	} {
		if w.has(c.table, c.column) != (n >= c.since) {
			return fmt.Errorf("fixtureSince is wrong: schema version %d has %s %s: %v", n, c.table, c.column, n >= c.since)
		}
	}
	if err := writeFixtureRows(w, n); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// Everything into postel.db: the fixture is that one file.
	var busy, logged, done int
	if err := db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logged, &done); err != nil {
		return err
	}
	if busy != 0 || logged != done {
		return fmt.Errorf("checkpoint incomplete: busy %d, %d of %d frames", busy, done, logged)
	}
	if err := db.Close(); err != nil {
		return err
	}
	if st, err := os.Stat(path + "-wal"); err == nil && st.Size() > 0 {
		return fmt.Errorf("%s-wal left with %d bytes", path, st.Size())
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	// The body files, where store.FileBlobs keeps them.
	blobs, err := store.NewFileBlobs(dir)
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, "tmp")); err != nil {
		return err
	}
	for _, b := range fixtureData.Blobs {
		if b.Gone {
			continue
		}
		p := blobs.Path(b.ID)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(b.Body), 0o600); err != nil {
			return err
		}
	}
	return nil
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
		if err := w.insert("blobs", map[string]any{"id": b.ID, "size": len(b.Body), "created": fixtureTime}); err != nil {
			return err
		}
		if n >= fixtureSince.fts && !b.Gone {
			meta, err := fixtureMeta(b.Raw())
			if err != nil {
				return err
			}
			// As deliver does; rowid is not a column insert knows.
			if err := w.exec(`INSERT INTO messages_fts (rowid, headers, body) VALUES (?, ?, ?)`, b.ID, meta.HeadersText, meta.BodyText); err != nil {
				return err
			}
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
			"uidvalidity_last": last, "created": created + a.ID*3600, "auth_epoch": a.AuthEpoch,
		}); err != nil {
			return err
		}
		for _, mb := range a.Mailboxes {
			if err := w.insert("mailboxes", map[string]any{
				"id": mb.ID, "account_id": a.ID, "name": mb.Name, "uidvalidity": mb.UIDValidity,
				"uidnext": mb.UIDNext, "highest_modseq": mb.HighestModSeq, "special_use": mb.Role, "subscribed": mb.Subscribed,
				"recent_uid": mb.RecentUID,
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
				if err := w.insert("expunged", map[string]any{"mailbox_id": mb.ID, "uid": e.UID, "modseq": e.ModSeq}); err != nil {
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
		if n >= fixtureSince.junk {
			for _, r := range a.JunkRules {
				if err := w.insert("junk_rules", map[string]any{"account_id": a.ID, "pattern": r.Pattern, "kind": r.Kind, "created": fixtureTime}); err != nil {
					return err
				}
			}
			for _, r := range a.Reputations {
				if err := w.insert("junk_reputation", map[string]any{"account_id": a.ID, "sender": r.Sender, "spam": r.Spam, "ham": r.Ham,
					"last": r.Last, "updated": int64(fixtureTime) * int64(time.Second)}); err != nil {
					return err
				}
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
			"size": len(q.Prefix) + len(b.Body), "dsn_ret": q.DSNRet, "dsn_envid": q.DSNEnv,
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
		if n >= fixtureSince.sentLog {
			if err := w.insert("sent_log", map[string]any{"account_id": q.AccountID, "created": q.Created, "rcpts": len(q.Recipients)}); err != nil {
				return err
			}
		}
	}
	// The expunged bodies: their rows go as releaseBlob removes them,
	// leaving their IDs behind in sqlite_sequence.
	for _, b := range d.Blobs {
		if b.Gone {
			if err := w.exec(`DELETE FROM blobs WHERE id = ?`, b.ID); err != nil {
				return err
			}
		}
	}
	// Blob IDs were reserved in ranges; a clean start leaves only the mark
	// above the last one.
	if n >= fixtureSince.blobIntents {
		next := d.Blobs[len(d.Blobs)-1].ID + 1
		if err := w.exec(`DELETE FROM blob_intents`); err != nil {
			return err
		}
		if err := w.insert("blob_intents", map[string]any{"lo": next, "hi": next}); err != nil {
			return err
		}
	}
	return nil
}

func writeFixtureMessage(w *fixtureWriter, mailboxID int64, m storetest.UpgradeMessage) error {
	b := fixtureData.Blob(m.Blob)
	meta, err := fixtureMeta(b.Raw())
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
		"id": m.ID, "mailbox_id": mailboxID, "uid": m.UID, "modseq": m.ModSeq, "sysflags": bits,
		"keywords": strings.Join(keywords, " "), "internal_date": m.Internal, "save_date": m.Internal + 60,
		"size": fixtureData.Size(m), "blob_id": m.Blob, "prefix": []byte(b.Prefix),
		"envelope": meta.Envelope, "structure": meta.Structure, "hdr_subject": meta.Subject, "hdr_from": meta.From,
		"hdr_to": meta.To, "hdr_cc": meta.Cc, "hdr_bcc": meta.Bcc, "hdr_messageid": meta.MessageID, "hdr_date": date,
		"hdr_inreplyto": meta.InReplyTo, "hdr_references": strings.Join(meta.References, " "),
		"has_nul": bytes.IndexByte(b.Raw(), 0) >= 0,
	})
}

// TestMakeSchemaFixture makes testdata/schema-vN for -make-fixture=N, and
// checks it as TestUpgradeFromEveryVersion will. It does nothing without
// the flag.
func TestMakeSchemaFixture(t *testing.T) {
	n := *makeFixture
	if n == 0 {
		t.Skip("makes a fixture only when asked: " + fixtureCommand(len(migrations)-1))
	}
	dst := fixtureDir(n)
	if _, err := os.Stat(dst); err == nil {
		t.Fatalf("%s exists: a fixture is made once and kept; remove it first to make it again", dst)
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp("testdata", fmt.Sprintf(".schema-v%d-", n))
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if err := writeFixture(context.Background(), tmp, n); err != nil {
		t.Fatal(err)
	}
	checkUpgrade(t, tmp, n)
	if t.Failed() {
		return
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, f := range fixtureFiles(t, dst) {
		st, err := os.Stat(filepath.Join(dst, f))
		if err != nil {
			t.Fatal(err)
		}
		total += st.Size()
	}
	t.Logf("made %s: %d bytes", dst, total)
}

// TestUpgradeFromEveryVersion opens the fixture of every schema version
// before the newest with today's code and checks that nothing was lost. A
// fixture of the newest version, made now, is checked too: the generator
// must keep working for the next migration.
func TestUpgradeFromEveryVersion(t *testing.T) {
	for v := 1; v < len(migrations); v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			t.Parallel()
			dir := fixtureDir(v)
			if _, err := os.Stat(filepath.Join(dir, "postel.db")); err != nil {
				t.Fatalf("no fixture of schema version %d (%v): every version before the newest needs one; make it with\n\t%s\nand commit %s",
					v, err, fixtureCommand(v), dir)
			}
			checkUpgrade(t, dir, v)
		})
	}
	t.Run(fmt.Sprintf("v%d-made-now", len(migrations)), func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if err := writeFixture(context.Background(), dir, len(migrations)); err != nil {
			t.Fatal(err)
		}
		checkUpgrade(t, dir, len(migrations))
	})
}

// fixtureFiles lists the regular files under dir, relative to it.
func fixtureFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		out = append(out, rel)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// copyFixture copies the data directory src to a new temporary one.
func copyFixture(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	for _, f := range fixtureFiles(t, src) {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dst, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// checkUpgrade opens a copy of the data directory src, of schema version v,
// and checks it holds fixtureData, then that it takes new writes.
func checkUpgrade(t *testing.T, src string, v int) {
	ctx := context.Background()
	dir := copyFixture(t, src)
	// What a crash of the old version could leave: a body linked above
	// the last blob ID, never committed.
	blobs, err := store.NewFileBlobs(dir)
	if err != nil {
		t.Fatal(err)
	}
	orphan := blobs.Path(fixtureData.Blobs[len(fixtureData.Blobs)-1].ID + 1)
	if err := os.WriteFile(orphan, []byte("From: x\r\n\r\nlinked, not committed\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := Open(ctx, dir, Options{Exclusive: true})
	if err != nil {
		t.Fatalf("open of a version %d data directory: %v", v, err)
	}
	defer st.Close()
	if _, err := os.Stat(orphan); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the uncommitted body %s is still there after an exclusive open: %v", orphan, err)
	}
	// The backfill runs beside the server; data stored before migration 9
	// is complete once it is done.
	<-st.backfillDone
	var pending int
	if err := st.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM backfill`).Scan(&pending); err != nil || pending != 0 {
		t.Errorf("backfill tasks left after the backfill: %d, %v", pending, err)
	}

	var version, count int
	if err := st.rdb.QueryRowContext(ctx, `SELECT MAX(version), COUNT(*) FROM schema_version`).Scan(&version, &count); err != nil {
		t.Fatal(err)
	}
	if version != len(migrations) || count != len(migrations) {
		t.Errorf("schema_version after upgrade: %d (%d rows), want %d", version, count, len(migrations))
	}

	storetest.CheckUpgraded(t, st, fixtureData, upgradeChecks(t, v))
	checkWritesAfterUpgrade(t, st)
}

// upgradeChecks is what storetest's checks of an upgraded store need to
// know of a fixture of version v and of this store.
func upgradeChecks(t *testing.T, v int) storetest.UpgradeChecks {
	return storetest.UpgradeChecks{
		Version: v,
		Gaps:    storetest.OpenUpgradeGaps(t, knownGaps, v),
		Meta: func(prefix, body string) (store.MessageMeta, error) {
			return fixtureMeta([]byte(prefix + body))
		},
		Old:                "data dirs",
		AuthEpochSince:     fixtureSince.authEpoch,
		JunkSince:          fixtureSince.junk,
		SentLogSince:       fixtureSince.sentLog,
		LeaseOwnerSince:    fixtureSince.leaseOwner,
		MetadataSince:      fixtureSince.metadata,
		SubscriptionsSince: fixtureSince.subscriptions,
		JunkNilWhenNone:    true,
	}
}

// checkWritesAfterUpgrade delivers, flags and expunges in the upgraded
// store: UIDs, MODSEQs and IDs go on from where the old data left them.
func checkWritesAfterUpgrade(t *testing.T, st *Store) {
	ctx := context.Background()
	a := fixtureData.Accounts[0]
	inbox := a.Mailboxes[0]
	maxID := fixtureData.MaxMessageID()
	raw := storetest.UpgradeNewBody
	meta, err := fixtureMeta([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	d := &store.Delivery{Spool: storetest.Spool(t, st, raw), Meta: meta, Targets: []store.Target{{AccountID: a.ID}}}
	got, err := st.Deliver(ctx, d)
	if err != nil {
		t.Fatalf("delivery after upgrade: %v", err)
	}
	if got[0].UID != inbox.UIDNext || got[0].UIDValidity != inbox.UIDValidity || got[0].MessageID <= maxID {
		t.Errorf("delivery after upgrade: %+v; want UID %d, UIDVALIDITY %d, ID above %d", got[0], inbox.UIDNext, inbox.UIDValidity, maxID)
	}
	// Its blob must not take the ID of an old one, expunged or not.
	var blobID int64
	if err := st.rdb.QueryRowContext(ctx, `SELECT blob_id FROM messages WHERE id = ?`, got[0].MessageID).Scan(&blobID); err != nil {
		t.Fatal(err)
	}
	if last := fixtureData.Blobs[len(fixtureData.Blobs)-1].ID; blobID <= last {
		t.Errorf("new body got blob ID %d, not above the old %d", blobID, last)
	}
	storetest.CheckWritesAfterUpgrade(t, st, fixtureData, int64(len(raw)))
}

// TestNewerSchemaRefused: a data directory written by a newer postel
// (a schema version this binary does not know) is refused with an error
// naming both versions, and left exactly as it was.
func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := open(t, dir, true)
	a := storetest.Account(t, st, "alice@example.org")
	storetest.Deliver(t, st, "Subject: kept\r\n\r\nfrom the future\r\n", a.ID)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	newer := len(migrations) + 1
	path := filepath.Join(dir, "postel.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		fmt.Sprintf(`INSERT INTO schema_version (version, applied) VALUES (%d, %d)`, newer, time.Now().Unix()),
		// What a newer migration might have done.
		`CREATE TABLE from_the_future (x INTEGER)`,
		`PRAGMA wal_checkpoint(TRUNCATE)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	before := hashFiles(t, dir)
	if _, ok := before["postel.db-wal"]; ok {
		t.Fatalf("setup left postel.db-wal")
	}
	for _, exclusive := range []bool{true, false} {
		st, err := Open(ctx, dir, Options{Exclusive: exclusive})
		if err == nil {
			st.Close()
			t.Fatalf("Open (exclusive %v) of a schema version %d data directory succeeded", exclusive, newer)
		}
		msg := err.Error()
		if !errors.Is(err, ErrSchemaTooNew) || !mentionsNumber(msg, newer) || !mentionsNumber(msg, len(migrations)) || !strings.Contains(msg, "newer") {
			t.Errorf("Open (exclusive %v) error %q: want it to name version %d, the known %d, and say a newer postel is needed",
				exclusive, msg, newer, len(migrations))
		}
		after := hashFiles(t, dir)
		for f, h := range before {
			if after[f] != h {
				t.Errorf("Open (exclusive %v) of a too new data directory changed %s", exclusive, f)
			}
		}
		for f, h := range after {
			if _, ok := before[f]; ok {
				continue
			}
			switch f {
			case "postel.lock": // the lock of an exclusive open
			case "postel.db-wal", "postel.db-shm":
				if f == "postel.db-wal" && h != emptyHash {
					t.Errorf("Open (exclusive %v) of a too new data directory left %s with content", exclusive, f)
				}
			default:
				t.Errorf("Open (exclusive %v) of a too new data directory left a new file %s", exclusive, f)
			}
		}
	}
}

var emptyHash = sha256.Sum256(nil)

// mentionsNumber tells whether msg holds the number n as a word.
func mentionsNumber(msg string, n int) bool {
	return regexp.MustCompile(`\b` + strconv.Itoa(n) + `\b`).MatchString(msg)
}

// hashFiles hashes the regular files under dir by relative path.
func hashFiles(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	for _, f := range fixtureFiles(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		out[f] = sha256.Sum256(b)
	}
	return out
}
