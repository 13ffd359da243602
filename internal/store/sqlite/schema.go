package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// migrations are numbered by their index + 1 and run in order at Open, each
// in its own transaction. Never edit one that has shipped: add another.
var migrations = []string{
	// 1: the foundation.
	`
CREATE TABLE domains (
	name    TEXT PRIMARY KEY,
	created INTEGER NOT NULL
);
CREATE TABLE accounts (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	address          TEXT NOT NULL UNIQUE,
	domain           TEXT NOT NULL REFERENCES domains(name),
	password_hash    TEXT NOT NULL DEFAULT '',
	scram_sha256     TEXT NOT NULL DEFAULT '',
	quota_bytes      INTEGER NOT NULL DEFAULT 0,
	used_bytes       INTEGER NOT NULL DEFAULT 0,
	disabled         INTEGER NOT NULL DEFAULT 0,
	uidvalidity_last INTEGER NOT NULL DEFAULT 0,
	created          INTEGER NOT NULL
);
CREATE INDEX accounts_domain ON accounts(domain);
CREATE TABLE aliases (
	address TEXT NOT NULL,
	target  TEXT NOT NULL,
	PRIMARY KEY (address, target)
);
CREATE TABLE mailboxes (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id     INTEGER NOT NULL REFERENCES accounts(id),
	name           TEXT NOT NULL,
	uidvalidity    INTEGER NOT NULL,
	uidnext        INTEGER NOT NULL DEFAULT 1,
	highest_modseq INTEGER NOT NULL DEFAULT 1,
	special_use    TEXT NOT NULL DEFAULT '',
	subscribed     INTEGER NOT NULL DEFAULT 1,
	UNIQUE (account_id, name)
);
CREATE TABLE blobs (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	size    INTEGER NOT NULL,
	created INTEGER NOT NULL
);
CREATE TABLE messages (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id),
	uid           INTEGER NOT NULL,
	modseq        INTEGER NOT NULL,
	sysflags      INTEGER NOT NULL DEFAULT 0,
	keywords      TEXT NOT NULL DEFAULT '',
	internal_date INTEGER NOT NULL,
	save_date     INTEGER NOT NULL,
	size          INTEGER NOT NULL,
	blob_id       INTEGER NOT NULL REFERENCES blobs(id),
	prefix        BLOB NOT NULL,
	envelope      BLOB NOT NULL,
	structure     BLOB NOT NULL,
	hdr_subject   TEXT NOT NULL DEFAULT '',
	hdr_from      TEXT NOT NULL DEFAULT '',
	hdr_to        TEXT NOT NULL DEFAULT '',
	hdr_cc        TEXT NOT NULL DEFAULT '',
	hdr_bcc       TEXT NOT NULL DEFAULT '',
	hdr_messageid TEXT NOT NULL DEFAULT '',
	hdr_date      INTEGER NOT NULL DEFAULT 0,
	UNIQUE (mailbox_id, uid)
);
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
CREATE INDEX messages_blob ON messages(blob_id);
-- RFC 7162 (QRESYNC): removals are remembered with their MODSEQ.
CREATE TABLE expunged (
	mailbox_id INTEGER NOT NULL,
	uid        INTEGER NOT NULL,
	modseq     INTEGER NOT NULL,
	PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);
CREATE TABLE queue (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id   INTEGER NOT NULL DEFAULT 0,
	mail_from    TEXT NOT NULL,
	blob_id      INTEGER NOT NULL REFERENCES blobs(id),
	prefix       BLOB NOT NULL,
	size         INTEGER NOT NULL,
	dsn_ret      TEXT NOT NULL DEFAULT '',
	dsn_envid    TEXT NOT NULL DEFAULT '',
	requiretls   INTEGER NOT NULL DEFAULT 0,
	smtputf8     INTEGER NOT NULL DEFAULT 0,
	body8bit     INTEGER NOT NULL DEFAULT 0,
	created      INTEGER NOT NULL,
	next_attempt INTEGER NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	lease_until  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX queue_blob ON queue(blob_id);
CREATE INDEX queue_due ON queue(next_attempt);
CREATE TABLE queue_rcpts (
	queue_id    INTEGER NOT NULL REFERENCES queue(id),
	address     TEXT NOT NULL,
	notify      TEXT NOT NULL DEFAULT '',
	orcpt       TEXT NOT NULL DEFAULT '',
	status      TEXT NOT NULL DEFAULT 'pending',
	attempts    INTEGER NOT NULL DEFAULT 0,
	last_reply  TEXT NOT NULL DEFAULT '',
	last_change INTEGER NOT NULL,
	PRIMARY KEY (queue_id, address)
);
-- Blob files whose rows are gone, to remove after the commit (and at start
-- if a crash came first).
CREATE TABLE blob_gc (
	blob_id INTEGER PRIMARY KEY
);
`,
	// 2: the full-text index for SEARCH TEXT/BODY, one row per blob (copies
	// share it), contentless: the text is not stored twice. The trigram
	// tokenizer answers case-insensitive substring queries of 3+ characters.
	`
CREATE VIRTUAL TABLE messages_fts USING fts5(headers, body, tokenize = 'trigram', content = '', contentless_delete = 1);
`,
	// 3: what each account queued, for the per-account daily limit; kept
	// two days. The queue itself forgets delivered mail.
	`
CREATE TABLE sent_log (
	account_id INTEGER NOT NULL,
	created    INTEGER NOT NULL,
	rcpts      INTEGER NOT NULL
);
CREATE INDEX sent_log_account ON sent_log(account_id, created);
CREATE INDEX queue_lease ON queue(lease_until);
`,
	// 4: In-Reply-To and References, for THREAD=REFERENCES without
	// reading message files.
	`
ALTER TABLE messages ADD COLUMN hdr_inreplyto TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN hdr_references TEXT NOT NULL DEFAULT '';
`,
	// 5: each account's junk allow/block rules and the reputation its user
	// taught each sender (internal/junk). A pattern has one rule, of one
	// kind. updated is in Unix nanoseconds: the least recently updated
	// reputations are forgotten first.
	`
CREATE TABLE junk_rules (
	account_id INTEGER NOT NULL REFERENCES accounts(id),
	pattern    TEXT NOT NULL,
	kind       TEXT NOT NULL CHECK (kind IN ('allow', 'block')),
	created    INTEGER NOT NULL,
	PRIMARY KEY (account_id, pattern)
);
CREATE TABLE junk_reputation (
	account_id INTEGER NOT NULL REFERENCES accounts(id),
	sender     TEXT NOT NULL,
	spam       INTEGER NOT NULL DEFAULT 0,
	ham        INTEGER NOT NULL DEFAULT 0,
	last       TEXT NOT NULL CHECK (last IN ('spam', 'ham')),
	updated    INTEGER NOT NULL,
	PRIMARY KEY (account_id, sender)
);
CREATE INDEX junk_reputation_updated ON junk_reputation(account_id, updated);
`,
	// 6: the epoch of an account's failed-login counts (store.Account.AuthEpoch),
	// moved by a password change or postel user unlock.
	`
ALTER TABLE accounts ADD COLUMN auth_epoch INTEGER NOT NULL DEFAULT 0;
`,
	// 7: queue leases name their owner: only the worker holding the lease
	// may record an attempt (UpdateQueue).
	`
ALTER TABLE queue ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
`,
	// 8: the durable change feed (feed.go): every committed change, in
	// commit order, for any process to follow; kept an hour.
	`
CREATE TABLE changes (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id INTEGER NOT NULL,
	mailbox_id INTEGER NOT NULL,
	kind       INTEGER NOT NULL,
	modseq     INTEGER NOT NULL,
	uids       BLOB NOT NULL,
	created    INTEGER NOT NULL
);
CREATE INDEX changes_created ON changes(created);
`,
	// 9: one-time backfills (backfill.go) of data older migrations brought
	// empty for the messages stored before them: "fts" indexes the bodies
	// messages_fts (2) never saw, "refs" fills hdr_inreplyto and
	// hdr_references (4). A task is recorded only when the database is
	// older than its migration (applied in another second than migration
	// 1) and holds blobs; it covers the blob IDs up to upto, and done is
	// how far it got. The serving process runs the tasks and deletes each
	// row when finished.
	`
CREATE TABLE backfill (
	task TEXT PRIMARY KEY,
	done INTEGER NOT NULL DEFAULT 0,
	upto INTEGER NOT NULL
);
INSERT INTO backfill (task, upto)
	SELECT t.task, (SELECT MAX(id) FROM blobs)
	FROM (SELECT 'fts' AS task, 2 AS version UNION ALL SELECT 'refs', 4) t
	WHERE (SELECT MAX(id) FROM blobs) IS NOT NULL
	AND (SELECT applied FROM schema_version WHERE version = t.version) != (SELECT applied FROM schema_version WHERE version = 1);
`,
	// 10: blob intents (intents.go): the ranges [lo, hi) of blob IDs a
	// writer reserved, each committed before a file under one of its IDs
	// is linked. No file is linked at or above MAX(hi); a row with lo = hi
	// only keeps that mark, here above every ID used so far.
	`
CREATE TABLE blob_intents (
	lo INTEGER PRIMARY KEY,
	hi INTEGER NOT NULL,
	CHECK (lo <= hi)
);
INSERT INTO blob_intents (lo, hi)
	SELECT n, n FROM (SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'blobs'), 0),
		COALESCE((SELECT MAX(id) FROM blobs), 0)) + 1 AS n);
`,
	// 11: named leases (store.Leases: POP3 maildrops) with their expiry in
	// Unix nanoseconds, and failed logins per source (store.LoginFailures),
	// kept a day: what the processes of one data dir share, as the nodes
	// of a PostgreSQL store do.
	`
CREATE TABLE leases (
	name    TEXT PRIMARY KEY,
	owner   TEXT NOT NULL,
	expires INTEGER NOT NULL
);
CREATE TABLE login_failures (
	source  TEXT NOT NULL,
	account TEXT NOT NULL,
	at      INTEGER NOT NULL
);
CREATE INDEX login_failures_source ON login_failures(source, at);
CREATE INDEX login_failures_account ON login_failures(account);
CREATE INDEX login_failures_at ON login_failures(at);
`,
	// 12: METADATA annotations (RFC 5464, store.Metadata): mailbox_id 0
	// holds the account's server entries. A mailbox's rows go with it
	// (deleteMailbox), an account's with it (DeleteAccount).
	`
CREATE TABLE metadata (
	account_id INTEGER NOT NULL REFERENCES accounts(id),
	mailbox_id INTEGER NOT NULL,
	name       TEXT NOT NULL,
	value      BLOB NOT NULL,
	PRIMARY KEY (account_id, mailbox_id, name)
);
`,
	// 13: subscriptions are a set of names per account, apart from the
	// mailboxes (RFC 3501 §6.3.6: kept when the mailbox goes, and allowed
	// for a name that is none), taken over from mailboxes.subscribed; and
	// \Recent (RFC 3501 §2.3.2): recent_uid is the highest UID a session
	// claimed as recent, so that each message is recent in one session
	// only. The messages stored before are not recent to anyone.
	`
CREATE TABLE subscriptions (
	account_id INTEGER NOT NULL REFERENCES accounts(id),
	name       TEXT NOT NULL,
	PRIMARY KEY (account_id, name)
);
INSERT INTO subscriptions (account_id, name) SELECT account_id, name FROM mailboxes WHERE subscribed != 0;
ALTER TABLE mailboxes DROP COLUMN subscribed;
ALTER TABLE mailboxes ADD COLUMN recent_uid INTEGER NOT NULL DEFAULT 0;
UPDATE mailboxes SET recent_uid = uidnext - 1;
`,
	// 14: mailbox access control lists (RFC 4314, store.ACL): the rights
	// an owner grants on a mailbox to another account (grantee_id) or to
	// anyone (grantee_id 0), positive or negative. Rows go with their
	// mailbox and with their grantee (deleteMailbox, DeleteAccount).
	`
CREATE TABLE acl (
	mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),
	grantee_id INTEGER NOT NULL,
	negative   INTEGER NOT NULL DEFAULT 0,
	rights     TEXT NOT NULL,
	PRIMARY KEY (mailbox_id, grantee_id, negative)
);
CREATE INDEX acl_grantee ON acl(grantee_id);
`,
	// 15: whether a message's octets hold a NUL (store.Message.NUL),
	// noted at delivery from the spool: 1 or 0, copied with the message.
	// The messages stored before are NULL, unknown, until the "meta"
	// backfill of migration 16 reads them; the IMAP server looks at
	// their octets as it did before.
	`
ALTER TABLE messages ADD COLUMN has_nul INTEGER;
`,
	// 16: the "meta" backfill (backfill.go): the messages stored before
	// are parsed again as delivery parses today, for what an older parser
	// stored (ENVELOPE without the source route, the address search
	// columns with comments inside <...>) and has_nul where NULL. Recorded
	// when the database holds blobs: a new one has nothing stored before.
	`
INSERT INTO backfill (task, upto)
	SELECT 'meta', (SELECT MAX(id) FROM blobs)
	WHERE (SELECT MAX(id) FROM blobs) IS NOT NULL;
`,
}

// ErrSchemaTooNew: the data dir was written by a newer postel, whose
// schema this one does not know; it is refused, never touched.
var ErrSchemaTooNew = errors.New("sqlite: schema too new")

// migrate brings the schema to the newest version.
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)`); err != nil {
		return err
	}
	var have int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&have); err != nil {
		return err
	}
	if have > len(migrations) {
		return fmt.Errorf("%w: the database is at schema version %d, this postel knows versions up to %d: "+
			"it was written by a newer postel; run that version or a later one (nothing was changed)",
			ErrSchemaTooNew, have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, applied) VALUES (?, ?)`, v, time.Now().Unix()); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}
