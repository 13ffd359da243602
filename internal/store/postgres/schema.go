package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations are numbered by their index + 1 and run in order at Open, each
// in its own transaction, under a transaction-level advisory lock: several
// nodes starting at once apply each exactly once. Never edit one that has
// shipped: add another.
//
// Times are Unix seconds in bigint columns (junk_reputation.updated: Unix
// nanoseconds), as in the SQLite store, so both keep the same values.
var migrations = []string{
	// 1: the foundation: the SQLite store's schema (its migrations 1 to 8)
	// with bodies in the database.
	`
CREATE TABLE domains (
	name    text PRIMARY KEY,
	created bigint NOT NULL
);
CREATE TABLE accounts (
	id               bigserial PRIMARY KEY,
	address          text NOT NULL UNIQUE,
	domain           text NOT NULL REFERENCES domains(name),
	password_hash    text NOT NULL DEFAULT '',
	scram_sha256     text NOT NULL DEFAULT '',
	quota_bytes      bigint NOT NULL DEFAULT 0,
	used_bytes       bigint NOT NULL DEFAULT 0,
	disabled         boolean NOT NULL DEFAULT false,
	uidvalidity_last bigint NOT NULL DEFAULT 0,
	auth_epoch       bigint NOT NULL DEFAULT 0,
	created          bigint NOT NULL
);
CREATE INDEX accounts_domain ON accounts(domain);
CREATE TABLE aliases (
	address text NOT NULL,
	target  text NOT NULL,
	PRIMARY KEY (address, target)
);
CREATE INDEX aliases_target ON aliases(target);
CREATE TABLE mailboxes (
	id             bigserial PRIMARY KEY,
	account_id     bigint NOT NULL REFERENCES accounts(id),
	name           text NOT NULL,
	uidvalidity    bigint NOT NULL,
	uidnext        bigint NOT NULL DEFAULT 1,
	highest_modseq bigint NOT NULL DEFAULT 1,
	special_use    text NOT NULL DEFAULT '',
	subscribed     boolean NOT NULL DEFAULT true,
	UNIQUE (account_id, name)
);
-- A body, shared by the messages and queue entries that use it (refs
-- counts them). A blob whose refs fell to 0 is deleted blobGrace after
-- released, so that readers that opened it can finish.
CREATE TABLE blobs (
	id         bigserial PRIMARY KEY,
	size       bigint NOT NULL,
	chunk_size integer NOT NULL,
	refs       integer NOT NULL,
	released   bigint,
	created    bigint NOT NULL
);
CREATE INDEX blobs_released ON blobs(released) WHERE refs = 0;
-- The bytes of a body, in chunks of blobs.chunk_size (the last shorter).
CREATE TABLE blob_chunks (
	blob_id bigint NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
	n       integer NOT NULL,
	data    bytea NOT NULL,
	PRIMARY KEY (blob_id, n)
);
-- Stored as they are: bodies are mostly compressed already, or text
-- that a range read would have to decompress from the start.
ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE TABLE messages (
	id             bigserial PRIMARY KEY,
	mailbox_id     bigint NOT NULL REFERENCES mailboxes(id),
	uid            bigint NOT NULL,
	modseq         bigint NOT NULL,
	sysflags       integer NOT NULL DEFAULT 0,
	keywords       text NOT NULL DEFAULT '',
	internal_date  bigint NOT NULL,
	save_date      bigint NOT NULL,
	size           bigint NOT NULL,
	blob_id        bigint NOT NULL REFERENCES blobs(id),
	prefix         bytea NOT NULL,
	envelope       bytea NOT NULL,
	structure      bytea NOT NULL,
	hdr_subject    text NOT NULL DEFAULT '',
	hdr_from       text NOT NULL DEFAULT '',
	hdr_to         text NOT NULL DEFAULT '',
	hdr_cc         text NOT NULL DEFAULT '',
	hdr_bcc        text NOT NULL DEFAULT '',
	hdr_messageid  text NOT NULL DEFAULT '',
	hdr_date       bigint NOT NULL DEFAULT 0,
	hdr_inreplyto  text NOT NULL DEFAULT '',
	hdr_references text NOT NULL DEFAULT '',
	UNIQUE (mailbox_id, uid)
);
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
CREATE INDEX messages_blob ON messages(blob_id);
-- RFC 7162 (QRESYNC): removals are remembered with their MODSEQ.
CREATE TABLE expunged (
	mailbox_id bigint NOT NULL,
	uid        bigint NOT NULL,
	modseq     bigint NOT NULL,
	PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);
CREATE TABLE queue (
	id           bigserial PRIMARY KEY,
	account_id   bigint NOT NULL DEFAULT 0,
	mail_from    text NOT NULL,
	blob_id      bigint NOT NULL REFERENCES blobs(id),
	prefix       bytea NOT NULL,
	size         bigint NOT NULL,
	dsn_ret      text NOT NULL DEFAULT '',
	dsn_envid    text NOT NULL DEFAULT '',
	requiretls   boolean NOT NULL DEFAULT false,
	smtputf8     boolean NOT NULL DEFAULT false,
	body8bit     boolean NOT NULL DEFAULT false,
	created      bigint NOT NULL,
	next_attempt bigint NOT NULL,
	attempts     integer NOT NULL DEFAULT 0,
	lease_owner  text NOT NULL DEFAULT '',
	lease_until  bigint NOT NULL DEFAULT 0
);
CREATE INDEX queue_blob ON queue(blob_id);
CREATE INDEX queue_due ON queue(next_attempt, id);
CREATE TABLE queue_rcpts (
	queue_id    bigint NOT NULL REFERENCES queue(id) ON DELETE CASCADE,
	address     text NOT NULL,
	notify      text NOT NULL DEFAULT '',
	orcpt       text NOT NULL DEFAULT '',
	status      text NOT NULL DEFAULT 'pending',
	attempts    integer NOT NULL DEFAULT 0,
	last_reply  text NOT NULL DEFAULT '',
	last_change bigint NOT NULL,
	PRIMARY KEY (queue_id, address)
);
-- What each account queued, for the per-account daily limit; kept two
-- days. The queue itself forgets delivered mail.
CREATE TABLE sent_log (
	account_id bigint NOT NULL,
	created    bigint NOT NULL,
	rcpts      integer NOT NULL
);
CREATE INDEX sent_log_account ON sent_log(account_id, created);
CREATE TABLE junk_rules (
	account_id bigint NOT NULL REFERENCES accounts(id),
	pattern    text NOT NULL,
	kind       text NOT NULL CHECK (kind IN ('allow', 'block')),
	created    bigint NOT NULL,
	PRIMARY KEY (account_id, pattern)
);
CREATE TABLE junk_reputation (
	account_id bigint NOT NULL REFERENCES accounts(id),
	sender     text NOT NULL,
	spam       integer NOT NULL DEFAULT 0,
	ham        integer NOT NULL DEFAULT 0,
	last       text NOT NULL CHECK (last IN ('spam', 'ham')),
	updated    bigint NOT NULL,
	PRIMARY KEY (account_id, sender)
);
CREATE INDEX junk_reputation_updated ON junk_reputation(account_id, updated);
-- The change feed (feed.go): every committed change, for every node to
-- follow; kept an hour. seq comes from a sequence without a cache, so
-- that it grows across sessions in the order nextval was called.
CREATE TABLE changes (
	seq        bigserial PRIMARY KEY,
	account_id bigint NOT NULL,
	mailbox_id bigint NOT NULL,
	kind       integer NOT NULL,
	modseq     bigint NOT NULL,
	uids       bytea NOT NULL,
	created    bigint NOT NULL
);
ALTER SEQUENCE changes_seq_seq CACHE 1;
CREATE INDEX changes_created ON changes(created);
`,
	// 2: the text SEARCH looks in, one row per blob (copies share it),
	// lower-cased by the store (strings.ToLower: the same whatever the
	// database's locale), with trigram indexes that answer LIKE '%term%'.
	// pg_trgm ships with PostgreSQL (contrib) and is a trusted extension:
	// the database's owner may create it.
	`
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE blob_text (
	blob_id bigint PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
	headers text NOT NULL,
	body    text NOT NULL
);
CREATE INDEX blob_text_headers ON blob_text USING gin (headers gin_trgm_ops);
CREATE INDEX blob_text_body ON blob_text USING gin (body gin_trgm_ops);
`,
	// 3: what the nodes of a cluster share beside the mail: named leases
	// (store.Leases: POP3 maildrops), timed by the database's clock, not
	// the nodes'; and failed logins per source (store.LoginFailures), at
	// in Unix nanoseconds, kept a day.
	`
CREATE TABLE leases (
	name    text PRIMARY KEY,
	owner   text NOT NULL,
	expires timestamptz NOT NULL
);
CREATE TABLE login_failures (
	source  text NOT NULL,
	account text NOT NULL,
	at      bigint NOT NULL
);
CREATE INDEX login_failures_source ON login_failures(source, at);
CREATE INDEX login_failures_account ON login_failures(account);
CREATE INDEX login_failures_at ON login_failures(at);
`,
	// 4: the secrets of the data_dir that every node holds alike
	// (store.SharedFiles: the DKIM keys, the SRS secret), by their path
	// under data_dir; a row is never updated.
	`
CREATE TABLE shared_files (
	name    text PRIMARY KEY,
	data    bytea NOT NULL,
	created timestamptz NOT NULL DEFAULT now()
);
`,
	// 5: one-time backfills (backfill.go) of what a migration brought
	// empty for the data stored before it: "text", the search text of
	// bodies stored before migration 2, recorded only when such bodies
	// exist.
	`
CREATE TABLE backfill (
	task text PRIMARY KEY
);
INSERT INTO backfill (task) SELECT 'text' WHERE EXISTS (
	SELECT 1 FROM blobs b WHERE b.refs > 0 AND NOT EXISTS (SELECT 1 FROM blob_text t WHERE t.blob_id = b.id));
`,
	// 6: METADATA annotations (RFC 5464, store.Metadata): mailbox_id 0
	// holds the account's server entries. A mailbox's rows go with it
	// (deleteMailbox), an account's with it (DeleteAccount).
	`
CREATE TABLE metadata (
	account_id bigint NOT NULL REFERENCES accounts(id),
	mailbox_id bigint NOT NULL,
	name       text NOT NULL,
	value      bytea NOT NULL,
	PRIMARY KEY (account_id, mailbox_id, name)
);
`,
	// 7: subscriptions are a set of names per account, apart from the
	// mailboxes (RFC 3501 §6.3.6: kept when the mailbox goes, and allowed
	// for a name that is none), taken over from mailboxes.subscribed; and
	// \Recent (RFC 3501 §2.3.2): recent_uid is the highest UID a session
	// of any node claimed as recent (ClaimRecent), so that each message is
	// recent in one session only. The messages stored before are not
	// recent to anyone.
	`
CREATE TABLE subscriptions (
	account_id bigint NOT NULL REFERENCES accounts(id),
	name       text NOT NULL,
	PRIMARY KEY (account_id, name)
);
INSERT INTO subscriptions (account_id, name) SELECT account_id, name FROM mailboxes WHERE subscribed;
ALTER TABLE mailboxes DROP COLUMN subscribed;
ALTER TABLE mailboxes ADD COLUMN recent_uid bigint NOT NULL DEFAULT 0;
UPDATE mailboxes SET recent_uid = uidnext - 1;
`,
	// 8: mailbox access control lists (RFC 4314, store.ACL), as the SQLite
	// store's migration 14: grantee_id 0 is anyone.
	`
CREATE TABLE acl (
	mailbox_id bigint NOT NULL REFERENCES mailboxes(id),
	grantee_id bigint NOT NULL,
	negative   boolean NOT NULL DEFAULT false,
	rights     text NOT NULL,
	PRIMARY KEY (mailbox_id, grantee_id, negative)
);
CREATE INDEX acl_grantee ON acl(grantee_id);
`,
	// 9: whether a message's octets hold a NUL (store.Message.NUL), as
	// the SQLite store's migration 15: noted at delivery and import from
	// the spool, copied with the message. The messages stored before are
	// NULL, unknown, until the "meta" backfill of migration 10 reads
	// them; the IMAP server looks at their octets as it did before.
	`
ALTER TABLE messages ADD COLUMN has_nul boolean;
`,
	// 10: the "meta" backfill (backfill.go), as the SQLite store's
	// migration 16: the messages stored before are parsed again as
	// delivery parses today, for what an older parser stored (ENVELOPE
	// without the source route, the address search columns with comments
	// inside <...>) and has_nul where NULL. A task now says how far it
	// got: done, up to the blob ID upto (0 for "text", which needs
	// neither). Recorded when messages exist.
	`
ALTER TABLE backfill ADD COLUMN done bigint NOT NULL DEFAULT 0;
ALTER TABLE backfill ADD COLUMN upto bigint NOT NULL DEFAULT 0;
INSERT INTO backfill (task, upto) SELECT 'meta', MAX(blob_id) FROM messages HAVING MAX(blob_id) IS NOT NULL;
`,
}

// ErrSchemaTooNew: the database was written by a newer postel, whose
// schema this one does not know; it is refused, never touched.
var ErrSchemaTooNew = errors.New("postgres: schema too new")

// schemaLock is the key of the advisory lock migrations run under (in the
// database's own key space): "postel" in ASCII.
const schemaLock = 0x706f7374656c

// migrate brings the schema to the newest version: one transaction per
// migration, each under pg_advisory_xact_lock, which re-reads the version
// once it holds the lock. Nodes starting together wait for each other, and
// each migration runs once.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	for {
		done, err := migrateStep(ctx, pool)
		if err != nil || done {
			return err
		}
	}
}

// migrateStep applies the next migration, if any, and reports whether the
// schema is up to date.
func migrateStep(ctx context.Context, pool *pgxpool.Pool) (done bool, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(schemaLock)); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass('schema_version') IS NOT NULL`).Scan(&exists); err != nil {
			return err
		}
		have := -1
		if exists {
			if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&have); err != nil {
				return err
			}
		}
		if have > len(migrations) {
			return fmt.Errorf("%w: the database is at schema version %d, this postel knows versions up to %d: "+
				"it was written by a newer postel; run that version or a later one (nothing was changed)",
				ErrSchemaTooNew, have, len(migrations))
		}
		if have == len(migrations) {
			done = true
			return nil
		}
		if have < 0 {
			if _, err := tx.Exec(ctx, `CREATE TABLE schema_version (version integer PRIMARY KEY, applied bigint NOT NULL)`); err != nil {
				return err
			}
			have = 0
		}
		v := have + 1
		if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
			return fmt.Errorf("postgres: migration %d: %w", v, err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO schema_version (version, applied) VALUES ($1, $2)`, v, time.Now().Unix())
		return err
	})
	return done, err
}
